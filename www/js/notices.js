// Banners under the sync bar: marks the server refused (kept on the tablet, with the reason),
// a new version ready to use, storage the browser may clear, and errors of the last action.

import { h, replaceChildren } from './dom.js';
import { plural, refusalReason, shortDay, valueText } from './format.js';
import { registerHash } from './today.js';


/** Set once the teacher has read the storage warning on this tablet. */
const STORAGE_WARNING_SEEN = 'rollcall.storage-warning-seen';

export function createNotices(app, element) {
  const insecure = h('div', { class: 'notice notice-warning', role: 'status', id: 'insecure-origin', hidden: true });
  const storage = h('div', { class: 'notice notice-warning', role: 'status', hidden: true });
  const update = h('div', { class: 'notice notice-info', role: 'status', hidden: true });
  const errorBox = h('div', { class: 'notice notice-error', role: 'alert', hidden: true });
  const rejected = h('section', { class: 'notice notice-rejected', 'aria-labelledby': 'rejected-title', hidden: true });
  replaceChildren(element, insecure, rejected, errorBox, update, storage);

  let client = null;
  let shownRejected = -1;
  let loadingRejected = null;
  let refreshAgain = false;

  async function showRejected() {
    if (!client) return;
    const ops = await client.rejected();
    if (!client) return;
    shownRejected = ops.length;
    rejected.hidden = ops.length === 0;
    if (ops.length === 0) {
      replaceChildren(rejected);
      return;
    }
    const roster = app.roster ?? (await client.roster().catch(() => null));
    app.roster = roster;
    const studentName = (id) => {
      const student = roster?.students.find((s) => s.id === id);
      return student ? `${student.given_name} ${student.family_name}` : 'A student';
    };
    const className = (id) => roster?.classes.find((c) => c.id === id)?.name ?? 'a class';
    const periodLabel = (n) => roster?.periods.find((p) => p.period === n)?.label ?? `Period ${n}`;
    // One entry per register and reason: a locked day refuses a whole class at once.
    const groups = new Map();
    for (const op of ops) {
      const reason = refusalReason(op);
      const key = `${op.classId}|${op.date}|${op.period}|${reason}`;
      if (!groups.has(key)) groups.set(key, { first: op, reason, ops: [] });
      groups.get(key).ops.push(op);
    }
    replaceChildren(
      rejected,
      h('h2', { id: 'rejected-title', text: `${plural(ops.length, 'mark was', 'marks were')} refused by the server` }),
      h('p', {
        text: 'They are kept on this tablet and not lost. Tell the office what should change, then dismiss them here.',
      }),
      h(
        'ul',
        { class: 'rejected-groups' },
        [...groups.values()].map(({ first, reason, ops: refused }) => {
          const where = `${className(first.classId)}, ${periodLabel(first.period)}, ${shortDay(first.date)}`;
          return h(
            'li',
            { class: 'rejected-group', dataset: { code: first.code ?? '' } },
            h(
              'div',
              { class: 'rejected-head' },
              h(
                'span',
                { class: 'rejected-text' },
                h('strong', { text: where }),
                ` — ${plural(refused.length, 'mark')}: `,
                h('span', { class: 'reason', text: reason }),
              ),
              h('a', {
                class: 'button small',
                href: registerHash(first.classId, first.date, first.period),
                text: 'Open register',
              }),
              h('button', {
                type: 'button',
                class: 'button small',
                text: refused.length === 1 ? 'Dismiss' : `Dismiss ${refused.length}`,
                'aria-label': `Dismiss ${plural(refused.length, 'refused mark')} of ${where}`,
                on: {
                  click: async () => {
                    for (const op of refused) await client.dismissRejected(op.opId);
                    refreshRejected();
                  },
                },
              }),
            ),
            h(
              'details',
              {},
              h('summary', { text: `Show the ${plural(refused.length, 'mark')}` }),
              h(
                'ul',
                { class: 'rejected-list' },
                // By student, so two refused marks of one student sit together (oldest first).
                [...refused]
                  .sort((a, b) => studentName(a.studentId).localeCompare(studentName(b.studentId)))
                  .map((op) =>
                  h('li', { dataset: { opId: op.opId } }, `${op.studentId ? studentName(op.studentId) : 'Whole register'}: ${valueText(op)}`),
                ),
              ),
            ),
          );
        }),
      ),
    );
  }

  /**
   * Shows the refused marks as the engine holds them now. A refresh asked for while one is
   * loading runs again once it ends: the one loading may have read the list before the latest
   * refusals arrived, and nothing else would bring the banner up to date.
   */
  function refreshRejected() {
    if (loadingRejected) {
      refreshAgain = true;
      return loadingRejected;
    }
    loadingRejected = (async () => {
      do {
        refreshAgain = false;
        await showRejected().catch(() => {});
      } while (refreshAgain);
    })().finally(() => (loadingRejected = null));
    return loadingRejected;
  }

  return {
    start(next) {
      client = next;
      shownRejected = -1;
      refreshRejected();
    },
    stop() {
      client = null;
      rejected.hidden = true;
      errorBox.hidden = true;
    },
    onStatus(status) {
      if (status.rejected !== shownRejected) refreshRejected();
    },
    onData() {
      refreshRejected();
    },
    /** The last action failed: says so until the next one. */
    error(text) {
      errorBox.textContent = text;
      errorBox.hidden = false;
      clearTimeout(errorBox.timer);
      errorBox.timer = setTimeout(() => (errorBox.hidden = true), 15_000);
    },
    storageRefused() {
      if (localStorage.getItem(STORAGE_WARNING_SEEN) === 'yes') return;
      replaceChildren(
        storage,
        h(
          'p',
          {},
          h('strong', { text: 'This browser may clear marks not yet synced if the tablet runs low on space. ' }),
          'Install Rollcall to the home screen so they are kept.',
        ),
        h('button', {
          type: 'button',
          class: 'button small',
          text: 'Got it',
          on: {
            click: () => {
              storage.hidden = true;
              localStorage.setItem(STORAGE_WARNING_SEEN, 'yes');
            },
          },
        }),
      );
      storage.hidden = false;
    },
    /**
     * The page is not a secure context (plain HTTP on a LAN address): the browser gives it no
     * service worker, so the app cannot open without the network. Stays up: only IT can fix it.
     */
    notSecure() {
      replaceChildren(
        insecure,
        h(
          'p',
          {},
          h('strong', { text: 'Rollcall will not open on this tablet without the network. ' }),
          'The school’s server is reached over plain HTTP, so the browser does not keep the app for offline use. ' +
            'Marks you take are still saved on this tablet and sent when the network is back. ' +
            'Ask IT to set up HTTPS: ',
          h('a', { href: '/trust', text: 'how to set up HTTPS' }),
          '.',
        ),
      );
      insecure.hidden = false;
    },
    /** A new version is downloaded and complete; `apply()` switches to it. */
    updateReady(apply) {
      replaceChildren(
        update,
        h('p', {}, h('strong', { text: 'A new version of Rollcall is ready. ' }), 'Your marks are kept when you update.'),
        h('button', {
          type: 'button',
          class: 'button small primary',
          text: 'Update now',
          on: {
            click: async (event) => {
              event.target.disabled = true;
              event.target.textContent = 'Updating…';
              await apply();
            },
          },
        }),
      );
      update.hidden = false;
    },
  };
}
