// The service worker from the page's side: registering it, hearing that a complete new version
// is ready, switching to it only when the teacher says so, and asking the browser to keep
// Rollcall's storage.

/** How often a long-open app asks whether a new version was deployed. */
const CHECK_EVERY_MS = 30 * 60 * 1000;

/** Sends `message` to the active worker and resolves with its answer. */
function ask(worker, message) {
  return new Promise((resolve, reject) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => reject(new Error('the offline cache did not answer')), 30_000);
    channel.port1.onmessage = (event) => {
      clearTimeout(timer);
      resolve(event.data);
    };
    worker.postMessage(message, [channel.port2]);
  });
}

/**
 * Registers /sw.js and shows the update banner when the worker reports a complete new version.
 * `beforeUpdate()` runs before switching (it tries to send queued marks; they are safe in
 * IndexedDB either way).
 */
export function startServiceWorker(notices, { beforeUpdate } = {}) {
  // Browsers give service workers (and persistent storage) only to HTTPS and localhost.
  if (!window.isSecureContext) {
    notices.notSecure();
    return;
  }
  if (!('serviceWorker' in navigator)) return;
  const container = navigator.serviceWorker;
  const apply = async () => {
    try {
      await beforeUpdate?.();
    } finally {
      const worker = container.controller;
      if (worker) await ask(worker, { type: 'apply-update' }).catch(() => null);
      location.reload();
    }
  };
  container.addEventListener('message', (event) => {
    if (event.data?.type === 'update-ready') notices.updateReady(apply);
    // Another window switched versions: this one follows, so two versions never share the data.
    if (event.data?.type === 'version-changed') location.reload();
  });
  const check = () => {
    const worker = container.controller;
    if (!worker || !navigator.onLine) return;
    ask(worker, { type: 'check-update' })
      .then((answer) => {
        if (answer?.staged) notices.updateReady(apply);
      })
      .catch(() => {});
  };
  container
    .register('/sw.js', { scope: '/', updateViaCache: 'none' })
    .then(() => {
      check();
      container.addEventListener('controllerchange', check);
      window.addEventListener('online', check);
      setInterval(check, CHECK_EVERY_MS);
    })
    .catch((error) => console.warn('Rollcall: the offline cache could not be installed:', error));
}

/** Asks the browser not to evict Rollcall's storage; warns when it says no. */
export async function requestPersistentStorage(notices) {
  // Over plain HTTP there is no storage manager; the insecure-origin notice already says what to do.
  if (!window.isSecureContext) return;
  const storage = navigator.storage;
  if (!storage?.persist) {
    notices.storageRefused();
    return;
  }
  try {
    if ((await storage.persisted()) || (await storage.persist())) return;
  } catch {
    // Treated as refused below.
  }
  notices.storageRefused();
}
