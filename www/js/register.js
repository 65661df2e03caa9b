// The register: one row per student, a tap per status, minutes late, a note, live counts and
// "Submit register". Every tap is durable on the tablet when the engine's promise resolves; the
// rows then show what the engine holds (merged with the server), never a guess.

import { confirmDialog } from './dialog.js';
import { announce, h, replaceChildren, setText } from './dom.js';
import {
  STATUS_LABEL,
  STATUSES,
  fullName,
  hhmm,
  initials,
  isoToday,
  longDay,
  nextStatus,
  plural,
  refusalReason,
  shortDay,
  valueText,
} from './format.js';
import { MAX_MINUTES_LATE, MAX_NOTE_CHARS } from './rules.js';
import { phaseText } from './today.js';

/** A note's length as the server counts it: characters (code points), so an emoji is one. */
const noteLength = (text) => [...text].length;

/** What each per-student sync state means to a teacher. */
const SYNC_TEXT = {
  none: '',
  pending: 'Not sent yet',
  synced: 'Synced',
  superseded: 'Changed on another device',
  rejected: 'Refused',
};

/** Which of the 8 placeholder photo colours (app.css `.avatar.tone-N`) a student gets, stable per id. */
function avatarTone(id) {
  let hash = 0;
  for (const char of id) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash % 8;
}

export function mountRegister(app, main, { classId, date, period }) {
  const client = app.client;
  const at = [classId, date, period];
  const rows = new Map();
  let view = null;
  let disposed = false;
  let loading = null;
  let again = false;

  const backHref = date === isoToday() ? '#/' : `#/day/${date}`;
  const title = h('h1', { text: 'Register' });
  const subtitle = h('p', { class: 'subtitle' });
  const phase = h('p', { class: 'phase register-phase', dataset: { state: 'loading' } });
  const lockBanner = h('div', { class: 'notice notice-locked', role: 'alert', hidden: true });
  const markAll = h('button', {
    type: 'button',
    class: 'button primary',
    text: 'Mark all present',
    on: { click: () => markAllPresent() },
  });
  const markAllHint = h('span', { class: 'muted', id: 'mark-all-hint', text: 'Only students not yet marked' });
  markAll.setAttribute('aria-describedby', 'mark-all-hint');
  const list = h('ul', { class: 'roster', 'aria-label': 'Students' });
  const cycleHint = h('span', {
    id: 'cycle-hint',
    class: 'visually-hidden',
    text: `Changes to the next status: ${STATUSES.map((status) => STATUS_LABEL[status].toLowerCase()).join(', ')}.`,
  });

  const countItems = Object.fromEntries(
    [...STATUSES, 'unmarked'].map((status) => [
      status,
      h('span', { class: `count-value` }, '0'),
    ]),
  );
  const unmarkedButton = h(
    'button',
    {
      type: 'button',
      class: 'count count-unmarked',
      dataset: { status: 'none' },
      on: { click: () => focusFirstUnmarked() },
    },
    h('span', { class: 'count-label', text: 'Unmarked' }),
    countItems.unmarked,
  );
  const counts = h(
    'div',
    { class: 'counts', role: 'status', 'aria-label': 'Counts' },
    STATUSES.map((status) =>
      h(
        'span',
        { class: 'count', dataset: { status } },
        h('span', { class: 'count-label', text: STATUS_LABEL[status] }),
        countItems[status],
      ),
    ),
    unmarkedButton,
  );
  const submitButton = h('button', {
    type: 'button',
    class: 'button submit',
    text: 'Submit register',
    on: { click: () => submitRegister() },
  });
  const submitState = h('p', { class: 'submit-state', id: 'submit-state' });
  submitButton.setAttribute('aria-describedby', 'submit-state');

  main.dataset.screen = 'register';
  // Which register, so a test (or a stylesheet) can tell one register screen from the next.
  main.dataset.register = `${classId}/${date}/${period}`;
  delete main.dataset.ready;
  replaceChildren(
    main,
    h(
      'div',
      { class: 'screen-head register-head' },
      h('a', { class: 'back', href: backHref, text: `◀ All registers, ${shortDay(date)}` }),
      title,
      subtitle,
    ),
    lockBanner,
    h('div', { class: 'toolbar' }, phase, h('div', { class: 'toolbar-actions' }, markAllHint, markAll)),
    cycleHint,
    list,
    h('div', { class: 'register-foot' }, counts, h('div', { class: 'submit-area' }, submitState, submitButton)),
  );

  function buildRow(student) {
    const id = student.studentId;
    const nameId = `name-${id}`;
    const choices = {};
    for (const status of STATUSES) {
      choices[status] = h(
        'button',
        {
          type: 'button',
          class: 'choice',
          dataset: { status },
          'aria-pressed': 'false',
          on: { click: () => setStatus(id, status) },
        },
        // The tick is decoration: the button's name stays "Present", its state is aria-pressed.
        h('span', { class: 'tick', 'aria-hidden': 'true', text: '✓ ' }),
        STATUS_LABEL[status],
      );
    }
    const stateWord = h('span', { class: 'state-word' });
    const syncTag = h('span', { class: 'sync-tag' });
    const who = h(
      'button',
      {
        type: 'button',
        class: 'who',
        'aria-describedby': 'cycle-hint',
        on: { click: () => setStatus(id, nextStatus(row.student.status)) },
      },
      h('span', { class: `avatar tone-${avatarTone(id)}`, 'aria-hidden': 'true', text: initials(student) }),
      h(
        'span',
        { class: 'who-text' },
        h('span', { class: 'student-name', id: nameId, text: fullName(student) }),
        h('span', { class: 'state-line' }, stateWord, syncTag),
      ),
    );
    const minutesId = `minutes-${id}`;
    const minutesInput = h('input', {
      id: minutesId,
      type: 'number',
      inputmode: 'numeric',
      min: 0,
      max: MAX_MINUTES_LATE,
      step: 1,
      class: 'minutes-input',
      on: { change: () => saveMinutes(id) },
    });
    const minutesError = h('span', { class: 'field-error', role: 'alert', hidden: true });
    const minutes = h(
      'div',
      { class: 'minutes', hidden: true },
      h('label', { for: minutesId, text: 'Minutes late' }),
      minutesInput,
      minutesError,
    );
    const noteId = `note-${id}`;
    // No `maxlength`: it counts UTF-16 units, which would stop a note of emoji at half the limit.
    const noteCount = h('span', { class: 'muted note-count', id: `${noteId}-count`, 'aria-live': 'polite' });
    const noteInput = h('textarea', {
      id: noteId,
      rows: 2,
      class: 'note-input',
      'aria-describedby': `${noteId}-count`,
      on: { change: () => saveNote(id), input: () => countNote(row) },
    });
    const noteEditor = h(
      'div',
      { class: 'note-editor', hidden: true },
      h('label', { for: noteId, text: `Note for ${fullName(student)}` }),
      noteInput,
      noteCount,
    );
    const noteButton = h('button', {
      type: 'button',
      class: 'button small note-toggle',
      'aria-expanded': 'false',
      'aria-controls': noteId,
      'aria-label': 'Add note',
      text: 'Note',
      on: { click: () => toggleNote(id) },
    });
    const notePreview = h('p', { class: 'note-preview', hidden: true });
    const extras = h('div', { class: 'extras', hidden: true }, minutes, notePreview);
    const li = h(
      'li',
      { class: 'student', dataset: { studentId: id } },
      h(
        'div',
        { class: 'student-inner', role: 'group', 'aria-labelledby': nameId },
        who,
        h('div', { class: 'choices' }, STATUSES.map((status) => choices[status])),
        noteButton,
        extras,
        noteEditor,
      ),
    );
    const row = {
      li,
      extras,
      who,
      stateWord,
      choices,
      minutes,
      minutesInput,
      minutesError,
      noteButton,
      noteEditor,
      noteInput,
      noteCount,
      notePreview,
      syncTag,
      student,
    };
    return row;
  }

  function updateRow(row, student) {
    row.student = student;
    const name = fullName(student);
    const status = student.status;
    row.li.dataset.status = status ?? 'none';
    row.li.dataset.sync = student.sync;
    row.li.classList.toggle('not-enrolled', !student.enrolled);
    const word = status ? STATUS_LABEL[status] : 'Not marked';
    setText(row.stateWord, student.enrolled ? word : `${word} · no longer in this class`);
    let sync = SYNC_TEXT[student.sync] ?? '';
    if (student.sync === 'rejected' && student.rejection) {
      // The refused value stays visible: the row itself shows what the server holds.
      sync = `${valueText(student.rejection)} refused: ${refusalReason(student.rejection, { short: true })}`;
    }
    setText(row.syncTag, sync);
    row.syncTag.dataset.sync = student.sync;
    // The button's name carries the sync state too: it is shown inside the button.
    const spoken = [name, status ? STATUS_LABEL[status] : 'not marked', sync].filter(Boolean).join(', ');
    row.who.setAttribute('aria-label', spoken);
    for (const choice of STATUSES) row.choices[choice].setAttribute('aria-pressed', String(status === choice));
    row.minutes.hidden = status !== 'late' && student.minutesLate === null;
    if (document.activeElement !== row.minutesInput) {
      row.minutesInput.value = student.minutesLate ?? '';
      row.minutesError.hidden = true;
    }
    const note = student.note ?? '';
    row.notePreview.hidden = note === '' || !row.noteEditor.hidden;
    setText(row.notePreview, note ? `Note: ${note}` : '');
    if (document.activeElement !== row.noteInput) {
      row.noteInput.value = note;
      countNote(row);
    }
    // Short visible text for narrow rows; the name says what a tap does (and contains the visible word).
    setText(row.noteButton, row.noteEditor.hidden ? 'Note' : 'Close');
    row.noteButton.setAttribute('aria-label', row.noteEditor.hidden ? (note ? 'Edit note' : 'Add note') : 'Close note');
    row.extras.hidden = row.minutes.hidden && row.notePreview.hidden;
  }

  function render(next) {
    view = next;
    setText(title, view.className || 'Register');
    const times = app.roster?.periods?.find((p) => p.period === view.period);
    setText(
      subtitle,
      [view.periodLabel, times ? `${hhmm(times.starts)}–${hhmm(times.ends)}` : null, longDay(view.date)]
        .filter(Boolean)
        .join(' · '),
    );
    document.title = `${view.className}, ${view.periodLabel} — Rollcall`;
    phase.dataset.state = view.state;
    setText(phase, phaseText(view));

    lockBanner.hidden = !view.locked;
    if (view.locked) {
      setText(
        lockBanner,
        'The office has locked this register, so the server refused marks from this tablet. They are kept here ' +
          '(marked "Refused") so nothing is lost: tell the office what should change.',
      );
    }

    // Rows are kept and updated in place, so focus and typing survive every refresh.
    const seen = new Set();
    let previous = null;
    for (const student of view.students) {
      seen.add(student.studentId);
      let row = rows.get(student.studentId);
      if (!row) {
        row = buildRow(student);
        rows.set(student.studentId, row);
      }
      updateRow(row, student);
      const expected = previous ? previous.li.nextSibling : list.firstChild;
      if (expected !== row.li) list.insertBefore(row.li, expected);
      previous = row;
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.li.remove();
        rows.delete(id);
      }
    }
    if (view.students.length === 0) {
      replaceChildren(list, h('li', { class: 'card', text: 'No students are enrolled in this class on this day.' }));
    }

    for (const status of [...STATUSES, 'unmarked']) setText(countItems[status], String(view.counts[status]));
    unmarkedButton.setAttribute('aria-label', `Unmarked ${view.counts.unmarked}: go to the first unmarked student`);
    unmarkedButton.disabled = view.counts.unmarked === 0;
    // A locked register refuses every change: marking everyone would only fill the refused list.
    markAll.disabled = view.locked || view.counts.unmarked === 0;

    let submitText;
    if (view.locked) {
      submitText = 'Locked by the office: changes are refused';
    } else if (view.submitted) {
      submitText =
        view.submissionSync === 'pending'
          ? 'Submitted on this tablet, waiting to sync'
          : view.submissionSync === 'rejected'
            ? 'Submission refused by the server'
            : 'Submitted and synced';
    } else if (view.counts.unmarked > 0) {
      submitText = `${view.counts.unmarked} not marked`;
    } else {
      submitText = 'Everyone is marked';
    }
    setText(submitState, submitText);
    submitState.dataset.warn = String(view.locked || (!view.submitted && view.counts.unmarked > 0));
    setText(submitButton, view.submitted ? 'Submitted ✓' : 'Submit register');
    // A locked register refuses every change, a submission included: nothing to offer.
    submitButton.disabled = view.submitted || view.locked;
    if (!main.dataset.ready) {
      // For measuring load time (tests/bench/pwa-bench.mjs) and field monitoring: the register is usable.
      performance.mark('rollcall:register-ready');
    }
    main.dataset.ready = 'true';
  }

  async function load() {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      do {
        again = false;
        try {
          // One register: a tap re-reads only its own register, never the day's.
          const [next, roster] = await Promise.all([
            client.register(...at),
            app.roster ? Promise.resolve(app.roster) : client.roster().catch(() => null),
          ]);
          if (disposed) return;
          app.roster = roster;
          render(next);
        } catch (error) {
          if (disposed) return;
          replaceChildren(
            main,
            h('a', { class: 'back', href: backHref, text: '◀ All registers' }),
            h('p', { class: 'card notice-warning', role: 'alert', text: error.message }),
          );
          main.dataset.ready = 'true';
        }
      } while (again && !disposed);
    })();
    await loading;
    loading = null;
  }

  function report(error) {
    const message = error?.message ?? String(error);
    app.notices.error(`That change was not saved: ${message}`);
    announce(`Not saved: ${message}`);
    load();
  }

  async function setStatus(studentId, status) {
    const row = rows.get(studentId);
    // Shown at once; the engine's answer (a few ms later) confirms it when the data event arrives.
    if (row) updateRow(row, { ...row.student, status, sync: 'pending' });
    try {
      await client.mark(...at, studentId, status);
      if (row) announce(`${fullName(row.student)}: ${STATUS_LABEL[status]}`);
    } catch (error) {
      report(error);
    }
  }

  async function saveMinutes(studentId) {
    const row = rows.get(studentId);
    const text = row.minutesInput.value.trim();
    const minutes = text === '' ? null : Number(text);
    if (minutes !== null && (!Number.isInteger(minutes) || minutes < 0 || minutes > MAX_MINUTES_LATE)) {
      row.minutesError.textContent = `Enter whole minutes from 0 to ${MAX_MINUTES_LATE}.`;
      row.minutesError.hidden = false;
      row.minutesInput.setAttribute('aria-invalid', 'true');
      return;
    }
    row.minutesError.hidden = true;
    row.minutesInput.removeAttribute('aria-invalid');
    try {
      await client.setMinutesLate(...at, studentId, minutes);
    } catch (error) {
      report(error);
    }
  }

  /** Shows how much of the note's limit is used, and says so when it is over. */
  function countNote(row) {
    const used = noteLength(row.noteInput.value);
    const over = used > MAX_NOTE_CHARS;
    setText(row.noteCount, over ? `${used} of ${MAX_NOTE_CHARS} characters: shorten the note to save it` : `${used} of ${MAX_NOTE_CHARS} characters`);
    row.noteCount.classList.toggle('field-error', over);
    return !over;
  }

  async function saveNote(studentId) {
    const row = rows.get(studentId);
    if (!countNote(row)) return;
    try {
      await client.setNote(...at, studentId, row.noteInput.value);
    } catch (error) {
      report(error);
    }
  }

  function toggleNote(studentId) {
    const row = rows.get(studentId);
    const opening = row.noteEditor.hidden;
    row.noteEditor.hidden = !opening;
    row.noteButton.setAttribute('aria-expanded', String(opening));
    updateRow(row, row.student);
    if (opening) row.noteInput.focus();
  }

  async function markAllPresent() {
    try {
      const changed = await client.markAll(...at, 'present', true);
      announce(`${plural(changed, 'student')} marked present`);
    } catch (error) {
      report(error);
    }
  }

  function unmarkedRows() {
    return view ? view.students.filter((s) => s.enrolled && !s.status).map((s) => rows.get(s.studentId)) : [];
  }

  function focusFirstUnmarked() {
    const [first] = unmarkedRows();
    if (!first) return;
    first.li.scrollIntoView({ block: 'center' });
    first.who.focus();
  }

  async function submitRegister() {
    if (!view) return;
    const unmarked = unmarkedRows();
    if (unmarked.length > 0) {
      const names = unmarked.map((row) => fullName(row.student));
      const choice = await confirmDialog({
        title: `${plural(unmarked.length, 'student')} not marked`,
        body: h(
          'div',
          {},
          h('p', { text: 'These students have no mark yet:' }),
          h('ul', { class: 'name-list' }, names.map((name) => h('li', { text: name }))),
        ),
        confirm: 'Submit anyway',
        cancel: 'Go back',
        extra: [{ label: 'Go to first unmarked', value: 'show' }],
      });
      if (choice === 'show') {
        focusFirstUnmarked();
        return;
      }
      if (choice !== true) return;
    }
    try {
      await client.submit(...at, true);
      announce('Register submitted. It is sent to the office as soon as the network allows.');
    } catch (error) {
      report(error);
    }
  }

  load();
  return {
    onData(keys) {
      if (!keys || keys.length === 0 || (view && keys.includes(view.key)) || !view) load();
    },
    onStatus() {},
    dispose() {
      disposed = true;
    },
  };
}
