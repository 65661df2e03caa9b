// Banners under the sync bar: marks the server refused (kept on the tablet, with the reason),
// a new version ready to use, storage the browser may clear, and errors of the last action.

import { h, replaceChildren } from './dom.js';
import { STATUS_LABEL, plural, refusalReason, shortDay } from './format.js';
import { registerHash } from './today.js';

function valueText(op) {
  switch (op.field) {
    case 'status':
      return STATUS_LABEL[op.value] ?? String(op.value);
    case 'minutes_late':
      return op.value === null ? 'minutes late cleared' : `${op.value} min late`;
    case 'note':
      return op.value ? `note “${op.value}”` : 'note cleared';
    case 'submitted':
      return op.value ? 'register submitted' : 'submission withdrawn';
    default:
      return `${op.field} ${JSON.stringify(op.value)}`;
  }
}

/** Set once the teacher has read the storage warning on this tablet. */
const STORAGE_WARNING_SEEN = 'rollcall.storage-warning-seen';

export function createNotices(app, element) {
  const storage = h('div', { class: 'notice notice-warning', role: 'status', hidden: true });
  const update = h('div', { class: 'notice notice-info', role: 'status', hidden: true });
  const errorBox = h('div', { class: 'notice notice-error', role: 'alert', hidden: true });
  const rejected = h('section', { class: 'notice notice-rejected', 'aria-labelledby': 'rejected-title', hidden: true });
  replaceChildren(element, rejected, errorBox, update, storage);

  let client = null;
  let shownRejected = -1;
  let loadingRejected = null;

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
    replaceChildren(
      rejected,
      h('h2', { id: 'rejected-title', text: `${plural(ops.length, 'mark was', 'marks were')} refused by the server` }),
      h('p', {
        text: 'They are kept on this tablet and not lost. Tell the office what should change, then dismiss them here.',
      }),
      h(
        'ul',
        { class: 'rejected-list' },
        ops.map((op) => {
          const who = op.studentId ? studentName(op.studentId) : 'Whole register';
          const where = `${className(op.classId)}, ${periodLabel(op.period)}, ${shortDay(op.date)}`;
          return h(
            'li',
            { dataset: { opId: op.opId, code: op.code ?? '' } },
            h(
              'span',
              { class: 'rejected-text' },
              h('strong', { text: `${who}: ${valueText(op)}` }),
              ` · ${where} — `,
              h('span', { class: 'reason', text: refusalReason(op) }),
            ),
            h('a', { class: 'button small', href: registerHash(op.classId, op.date, op.period), text: 'Open register' }),
            h('button', {
              type: 'button',
              class: 'button small',
              text: 'Dismiss',
              'aria-label': `Dismiss refused mark: ${who}, ${valueText(op)}`,
              on: { click: () => client.dismissRejected(op.opId).then(refreshRejected) },
            }),
          );
        }),
      ),
    );
  }

  function refreshRejected() {
    if (loadingRejected) return loadingRejected;
    loadingRejected = showRejected()
      .catch(() => {})
      .finally(() => (loadingRejected = null));
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
