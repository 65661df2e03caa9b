// Rollcall's service worker: keeps a complete copy of the app (the shell and the wasm engine) so
// the app opens and works with no network, even after a full reload.
//
// Versions are whole: a copy is a cache named after the ETags of every shell file, written in
// full before it is used, so a download cut off half-way (Wi-Fi lost during an update) never
// leaves the tablet with a broken mix it cannot open, and queued marks are never stranded
// behind an app that will not start. A new deploy is downloaded in the background ("staged")
// and becomes the one served only (a) when the app starts with no window open, or (b) when the
// teacher taps "Update now". Marks live in IndexedDB, which no version switch touches.
//
// API calls (/api/...) never go through a cache: the engine handles being offline itself.

const SHELL = [
  '/',
  '/app.css',
  '/manifest.webmanifest',
  '/js/main.js',
  '/js/dom.js',
  '/js/format.js',
  '/js/dialog.js',
  '/js/notices.js',
  '/js/register.js',
  '/js/rules.js',
  '/js/signin.js',
  '/js/syncbar.js',
  '/js/today.js',
  '/js/update.js',
  '/pkg/rollcall_client.js',
  '/pkg/rollcall_client_bg.wasm',
  // The page's own icon. The PNGs are left out: only an install fetches them, and it is online.
  '/icons/icon.svg',
];
const SHELL_PATHS = new Set(SHELL);
/** The app's own page: every navigation to it is answered with the cached '/'. */
const APP_PAGES = new Set(['/', '/index.html']);
const VERSION_PREFIX = 'rollcall-shell-';
const STATE_CACHE = 'rollcall-sw-state';
const STATE_KEY = '/__rollcall-sw-state';

// ---- state: which version is served (active) and which waits (staged) ----

let stateMemo = null;
/** Serializes every read-modify-write of the state. */
let stateChain = Promise.resolve();

async function readState() {
  if (stateMemo) return stateMemo;
  const stored = await (await caches.open(STATE_CACHE)).match(STATE_KEY);
  stateMemo = stored ? await stored.json() : { active: null, staged: null };
  return stateMemo;
}

/** Runs `change(state)` alone and stores what it returns. */
function updateState(change) {
  const run = stateChain.then(async () => {
    const next = await change({ ...(await readState()) });
    await (await caches.open(STATE_CACHE)).put(
      STATE_KEY,
      new Response(JSON.stringify(next), { headers: { 'Content-Type': 'application/json' } }),
    );
    stateMemo = next;
    return next;
  });
  stateChain = run.catch(() => {});
  return run;
}

// ---- downloading a version ----

async function sha256Hex(text) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

/**
 * Fetches every shell file, revalidated (an unchanged file costs a 304), and names the set by
 * its ETags: the server's ETag is the file's SHA-256, so the name changes iff a file changed.
 */
async function fetchShell() {
  const responses = await Promise.all(
    SHELL.map(async (path) => {
      const response = await fetch(path, { cache: 'no-cache', credentials: 'same-origin' });
      if (!response.ok) throw new Error(`${path} answered HTTP ${response.status}`);
      return response;
    }),
  );
  const tags = await Promise.all(
    responses.map(async (response) => response.headers.get('ETag') ?? sha256Hex(await response.clone().text())),
  );
  const id = (await sha256Hex(SHELL.map((path, i) => `${path} ${tags[i]}`).join('\n'))).slice(0, 16);
  return { id, responses };
}

async function tellWindows(message) {
  for (const client of await self.clients.matchAll({ type: 'window', includeUncontrolled: true })) {
    client.postMessage(message);
  }
}

/** The version whose files are being stored and that the state does not name yet. */
let writing = null;

async function deleteOtherVersions() {
  const { active, staged } = await readState();
  const keep = new Set([active, staged, writing].filter(Boolean).map((id) => VERSION_PREFIX + id));
  for (const name of await caches.keys()) {
    if (name.startsWith(VERSION_PREFIX) && !keep.has(name)) await caches.delete(name);
  }
}

/** The download under way, if any. */
let checking = null;
/** The download that starts when `checking` ends, shared by every check asked for meanwhile. */
let nextCheck = null;

/**
 * Downloads the deployed version if it is new. The first one becomes active at once; later
 * ones are staged and announced. Resolves with `{active, staged}`.
 *
 * A check asked for while one is under way waits for it and then downloads again: the running
 * one may have fetched its files before the deploy the caller is asking about, so its answer
 * (including a failed download) would not be about what is deployed now.
 */
function checkForUpdate() {
  if (checking) {
    nextCheck ??= checking
      .catch(() => {})
      .then(() => {
        nextCheck = null;
        return checkForUpdate();
      });
    return nextCheck;
  }
  checking = (async () => {
    const { id, responses } = await fetchShell();
    const state = await readState();
    if (id === state.active) {
      // The deploy went back to what runs: a staged in-between version is moot.
      const next = state.staged ? await updateState((s) => ({ ...s, staged: null })) : state;
      await deleteOtherVersions();
      return next;
    }
    let next;
    try {
      // A switch ("Update now") meanwhile clears out unnamed versions: this one is kept.
      writing = id;
      if (id !== state.staged) {
        const cache = await caches.open(VERSION_PREFIX + id);
        await Promise.all(SHELL.map((path, i) => cache.put(path, responses[i])));
      }
      // Only now, with every file stored, is the version named in the state.
      // (An "Update now" meanwhile may already have made it the active one.)
      next = await updateState((s) => {
        if (!s.active) return { active: id, staged: null };
        return s.active === id ? s : { ...s, staged: id };
      });
    } finally {
      writing = null;
    }
    await deleteOtherVersions();
    if (next.staged) await tellWindows({ type: 'update-ready', version: next.staged });
    return next;
  })().finally(() => {
    checking = null;
  });
  return checking;
}

/** Makes the staged version the one served. */
async function promote() {
  const next = await updateState((s) => (s.staged ? { active: s.staged, staged: null } : s));
  await deleteOtherVersions();
  return next;
}

// ---- lifecycle ----

self.addEventListener('install', (event) => {
  // A failed download fails the install, and the previous worker and copy stay in charge.
  event.waitUntil(checkForUpdate().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('message', (event) => {
  const reply = (data) => event.ports[0]?.postMessage(data);
  const type = event.data?.type;
  if (type === 'check-update') {
    event.waitUntil(checkForUpdate().then(reply, (error) => reply({ error: error.message })));
  } else if (type === 'apply-update') {
    event.waitUntil(
      promote().then(async (state) => {
        reply(state);
        // Every other open window reloads into the same version, so two never share the data.
        for (const client of await self.clients.matchAll({ type: 'window' })) {
          if (client.id !== event.source?.id) client.postMessage({ type: 'version-changed' });
        }
      }),
    );
  } else if (type === 'state') {
    event.waitUntil(readState().then(reply));
  }
});

// ---- serving ----

async function fromVersion(path) {
  const { active } = await readState();
  if (!active) return undefined;
  return caches.match(path, { cacheName: VERSION_PREFIX + active });
}

async function appPage(request) {
  const state = await readState();
  if (state.staged && (await self.clients.matchAll({ type: 'window' })).length === 0) {
    // The app is starting with no window open: the moment to switch to a staged version.
    await promote();
  }
  return (await fromVersion('/')) ?? fetch(request);
}

async function asset(path, request) {
  return (await fromVersion(path)) ?? fetch(request);
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === 'navigate' && APP_PAGES.has(url.pathname)) {
    event.respondWith(appPage(request));
  } else if (SHELL_PATHS.has(url.pathname)) {
    event.respondWith(asset(url.pathname, request));
  }
});
