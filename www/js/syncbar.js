// The sync bar, always on screen: online or not, how many marks wait, when the last sync
// succeeded, when the next try comes while backing off, and "sign in again" when the session ended.

import { h, replaceChildren, setText } from './dom.js';
import { ago, inTime, plural } from './format.js';

export function createSyncBar(app, element) {
  const dot = h('span', { class: 'dot', 'aria-hidden': 'true' });
  const net = h('span', { class: 'net-label' });
  const queue = h('span', { class: 'queue' });
  const last = h('span', { class: 'last-sync' });
  const retry = h('span', { class: 'retry', hidden: true });
  const syncNow = h('button', {
    type: 'button',
    class: 'button small',
    text: 'Sync now',
    hidden: true,
    on: {
      click: async () => {
        syncNow.disabled = true;
        try {
          await app.client?.syncNow();
        } finally {
          syncNow.disabled = false;
        }
      },
    },
  });
  const password = h('input', {
    type: 'password',
    id: 'again-password',
    autocomplete: 'current-password',
    class: 'again-password',
  });
  const againUser = h('input', { type: 'text', autocomplete: 'username', class: 'visually-hidden', tabindex: '-1', 'aria-hidden': 'true', readonly: true });
  const againError = h('span', { class: 'field-error', role: 'alert', hidden: true });
  const again = h(
    'form',
    {
      class: 'sign-in-again',
      hidden: true,
      on: {
        submit: async (event) => {
          event.preventDefault();
          againError.hidden = true;
          try {
            await app.client.signInAgain(password.value);
            password.value = '';
          } catch (error) {
            againError.textContent =
              error.code === 'INVALID_CREDENTIALS' ? 'Wrong password, try again.' : error.message;
            againError.hidden = false;
          }
        },
      },
    },
    h('p', { class: 'again-text', text: 'Your session has ended. Sign in again to send your marks.' }),
    // For password managers: which account this password belongs to.
    againUser,
    h('label', { for: 'again-password', text: 'Your password' }),
    password,
    h('button', { type: 'submit', class: 'button small primary', text: 'Sign in again' }),
    againError,
  );
  // Only the connection and the queue are announced; the ticking times would be noise.
  const live = h('span', { class: 'sync-live', 'aria-live': 'polite' }, dot, net, h('span', { class: 'sep', 'aria-hidden': 'true', text: '·' }), queue);
  replaceChildren(element, live, last, retry, syncNow, again);

  let status = null;
  let ticker = null;

  function update(next) {
    if (next) status = next;
    if (!status) return;
    const browserOnline = navigator.onLine;
    const online = status.online && browserOnline;
    element.dataset.online = String(online);
    element.dataset.pending = String(status.pending);
    element.dataset.syncing = String(status.syncing);
    setText(net, online ? 'Online' : browserOnline ? 'Offline: server not reachable' : 'Offline: no network');
    let queueText;
    if (status.signInRequired) queueText = `${plural(status.pending, 'mark')} waiting: sign in again to send`;
    else if (status.syncing && status.pending > 0) queueText = `Sending ${plural(status.pending, 'mark')}…`;
    else if (status.pending > 0) queueText = `${plural(status.pending, 'mark')} waiting to sync`;
    else queueText = 'All marks synced';
    setText(queue, queueText);
    setText(last, status.lastSyncAt ? `Last synced ${ago(status.lastSyncAt)}` : 'Not synced yet');
    const backingOff = status.failures > 0 && status.nextRetryAt && !status.syncing && !status.signInRequired;
    retry.hidden = !backingOff && browserOnline;
    if (!browserOnline) setText(retry, 'Sends when the network is back');
    else if (backingOff) setText(retry, `Next try ${inTime(status.nextRetryAt)}`);
    // With no network at all a click could only fail; the bar already says when it will send.
    syncNow.hidden = !browserOnline || status.signInRequired || (status.pending === 0 && status.failures === 0);
    again.hidden = !status.signInRequired;
  }

  return {
    start(client) {
      element.hidden = false;
      againUser.value = client.user.username;
      update(client.status());
      // Keeps "2 min ago" and "next try in 20 s" true without waiting for an event.
      ticker = setInterval(() => update(), 1000);
      window.addEventListener('online', onNetwork);
      window.addEventListener('offline', onNetwork);
    },
    stop() {
      element.hidden = true;
      status = null;
      clearInterval(ticker);
      window.removeEventListener('online', onNetwork);
      window.removeEventListener('offline', onNetwork);
    },
    update,
  };

  function onNetwork() {
    update();
  }
}
