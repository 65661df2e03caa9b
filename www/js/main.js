// Rollcall's teacher app: starts the engine (wasm), resumes the signed-in teacher with no
// network needed, and routes between the screens. Marks live in the engine's IndexedDB the
// moment they are tapped; the screens only show what the engine reports.

import init, { Rollcall } from '/pkg/rollcall_client.js';
import { announce, h, replaceChildren } from './dom.js';
import { confirmDialog } from './dialog.js';
import { createNotices } from './notices.js';
import { mountRegister } from './register.js';
import { mountSignIn } from './signin.js';
import { createSyncBar } from './syncbar.js';
import { mountToday } from './today.js';
import { requestPersistentStorage, startServiceWorker } from './update.js';
import { isoToday, parseIso, plural } from './format.js';

/** Engine tuning: a short pause after a tap before pushing, so a burst of taps goes as one request. */
const ENGINE_OPTIONS = { debounceMs: 600 };

const main = document.getElementById('main');

export const app = {
  /** The signed-in teacher's engine, or null on the sign-in screen. */
  client: null,
  /** The cached roster (names for notices), refreshed on data events. */
  roster: null,
  /** The mounted screen: `{ onData(keys), onStatus(status), dispose() }`. */
  screen: null,
  syncBar: null,
  notices: null,
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
};

/** Parses the hash into a screen and its parameters. */
function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'register' && parts.length === 4 && parseIso(parts[2]) && /^\d+$/.test(parts[3])) {
    return { screen: 'register', classId: parts[1], date: parts[2], period: Number(parts[3]) };
  }
  if (parts[0] === 'day' && parseIso(parts[1])) return { screen: 'today', date: parts[1] };
  return { screen: 'today', date: isoToday() };
}

function route() {
  if (!app.client) return;
  const target = parseRoute(location.hash);
  app.screen?.dispose();
  app.screen = target.screen === 'register' ? mountRegister(app, main, target) : mountToday(app, main, target);
}

function startSession(client) {
  app.client = client;
  // Another teacher may have used this tablet before: never show their class names.
  app.roster = null;
  const user = client.user;
  replaceChildren(document.getElementById('who'), h('span', { class: 'who-name' }, user.display_name || user.username));
  document.getElementById('sign-out').hidden = false;
  app.syncBar.start(client);
  app.notices.start(client);
  client.subscribe((event) => {
    app.syncBar.update(event.status);
    app.notices.onStatus(event.status);
    if (event.kind === 'data') {
      app.notices.onData();
      app.screen?.onData?.(event.registers ?? null);
    } else {
      app.screen?.onStatus?.(event.status);
    }
  });
  requestPersistentStorage(app.notices);
  route();
}

function showSignIn(message) {
  app.screen?.dispose();
  app.screen = null;
  document.getElementById('sign-out').hidden = true;
  replaceChildren(document.getElementById('who'));
  app.syncBar.stop();
  app.notices.stop();
  app.screen = mountSignIn(main, {
    message,
    signIn: async (username, password) => {
      const client = await Rollcall.signIn('', username, password, ENGINE_OPTIONS);
      app.screen?.dispose();
      app.screen = null;
      if (!location.hash.startsWith('#/register/')) history.replaceState(null, '', '#/');
      startSession(client);
      announce(`Signed in as ${client.user.display_name || client.user.username}`);
    },
  });
}

async function signOut() {
  const client = app.client;
  if (!client) return;
  const status = client.status();
  const waiting = status.pending;
  const ok = await confirmDialog({
    title: 'Sign out of Rollcall?',
    body:
      waiting > 0
        ? `${plural(waiting, 'mark')} have not reached the server yet. They stay safe on this tablet and are sent the next time you sign in here.`
        : 'Your marks have all reached the server.',
    confirm: 'Sign out',
    cancel: 'Stay signed in',
  });
  if (!ok) return;
  // Marks already queued stay in this teacher's own database; signing out only forgets who to resume.
  await client.signOut();
  client.close();
  app.client = null;
  history.replaceState(null, '', '#/');
  showSignIn('You are signed out.');
}

function fatal(error) {
  replaceChildren(
    main,
    h(
      'section',
      { class: 'card fatal', role: 'alert' },
      h('h1', { text: 'Rollcall could not start' }),
      h('p', { text: error?.message ?? String(error) }),
      h('p', {
        text: 'Reload the page. If this keeps happening, tell school IT: your marks stay saved on this tablet.',
      }),
    ),
  );
}

async function boot() {
  app.syncBar = createSyncBar(app, document.getElementById('syncbar'));
  app.notices = createNotices(app, document.getElementById('notices'));
  document.getElementById('sign-out').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', route);
  try {
    await init();
  } catch (error) {
    fatal(error);
    return;
  }
  let client = null;
  try {
    // No network needed: the last signed-in teacher's data is on the tablet.
    client = await Rollcall.resume('', ENGINE_OPTIONS);
  } catch (error) {
    showSignIn(error.message);
  }
  if (client) startSession(client);
  else if (!app.screen) showSignIn();
  // After the first screen, so the worker's downloads never slow the first paint.
  startServiceWorker(app.notices, {
    beforeUpdate: async () => {
      // Send what waits while this version is running, when the network allows; a few seconds at most.
      const sync = app.client?.syncNow();
      if (sync) await Promise.race([sync.catch(() => null), new Promise((done) => setTimeout(done, 3000))]);
    },
  });
}

boot();
