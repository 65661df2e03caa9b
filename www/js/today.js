// The day's registers, by period, each with a state a teacher understands; a date picker for
// past days.

import { h, replaceChildren } from './dom.js';
import { addDays, hhmm, isoToday, longDay, plural } from './format.js';

/** The words for a register's state, from a summary or a register view (the engine decides the state; this only names it). */
export function phaseText(summary) {
  switch (summary.state) {
    case 'not_taken':
      return 'Not taken';
    case 'in_progress':
      return 'In progress';
    case 'waiting':
      return `${summary.submitted ? 'Taken' : 'In progress'}, waiting to sync (${plural(summary.pending, 'mark')})`;
    case 'synced':
      return 'Taken and synced';
    case 'locked':
      return 'Locked by the office';
    default:
      return summary.state;
  }
}

export function registerHash(classId, date, period) {
  return `#/register/${encodeURIComponent(classId)}/${date}/${period}`;
}

function countsLine(summary) {
  const { counts, enrolled } = summary;
  const marked = enrolled - counts.unmarked;
  const parts = [marked === 0 ? plural(enrolled, 'student') : `${marked} of ${enrolled} marked`];
  if (counts.absent) parts.push(`${counts.absent} absent`);
  if (counts.late) parts.push(`${counts.late} late`);
  if (counts.excused) parts.push(`${counts.excused} excused`);
  if (summary.rejected) parts.push(`${plural(summary.rejected, 'mark')} refused`);
  return parts.join(' · ');
}

export function mountToday(app, main, { date }) {
  const today = isoToday();
  let disposed = false;
  let loading = null;
  let again = false;
  /** The keys of the registers on screen: a change event names registers by key. */
  let shownKeys = new Set();
  let waitingForRoster = false;

  const dayInput = h('input', {
    type: 'date',
    id: 'day',
    value: date,
    max: today,
    on: {
      change: () => {
        if (dayInput.value && dayInput.value <= today) app.go(`#/day/${dayInput.value}`);
      },
    },
  });
  const controls = h(
    'div',
    { class: 'day-picker' },
    h('button', {
      type: 'button',
      class: 'button',
      text: '◀ Previous day',
      on: { click: () => app.go(`#/day/${addDays(date, -1)}`) },
    }),
    h('label', { for: 'day', class: 'day-label', text: 'Day' }),
    dayInput,
    h('button', {
      type: 'button',
      class: 'button',
      text: 'Next day ▶',
      disabled: date >= today,
      on: { click: () => app.go(`#/day/${addDays(date, 1)}`) },
    }),
    date === today ? null : h('button', { type: 'button', class: 'button', text: 'Today', on: { click: () => app.go('#/') } }),
  );
  const list = h('div', { class: 'periods' }, h('p', { class: 'muted', text: 'Loading registers…' }));
  main.dataset.screen = 'today';
  main.dataset.register = '';
  delete main.dataset.ready;
  replaceChildren(
    main,
    h(
      'div',
      { class: 'screen-head' },
      h('h1', {}, date === today ? 'Today' : 'Registers', h('span', { class: 'subtitle', text: longDay(date) })),
      controls,
    ),
    list,
  );
  document.title = `Registers, ${longDay(date)} — Rollcall`;

  function render(registers) {
    shownKeys = new Set(registers.map((summary) => summary.key));
    const focusedKey = document.activeElement?.dataset?.key;
    const periods = new Map();
    for (const summary of registers) {
      if (!periods.has(summary.period)) periods.set(summary.period, []);
      periods.get(summary.period).push(summary);
    }
    if (registers.length === 0) {
      replaceChildren(list, h('p', { class: 'card', text: 'You have no classes on this day.' }));
      return;
    }
    replaceChildren(
      list,
      [...periods.values()].map((group) => {
        const first = group[0];
        const headingId = `period-${first.period}`;
        return h(
          'section',
          { class: 'period', 'aria-labelledby': headingId },
          h(
            'h2',
            { id: headingId },
            first.periodLabel,
            h('span', { class: 'period-time', text: ` ${hhmm(first.starts)}–${hhmm(first.ends)}` }),
          ),
          h(
            'ul',
            { class: 'register-cards' },
            group.map((summary) =>
              h(
                'li',
                {},
                h(
                  'a',
                  {
                    class: `register-card state-${summary.state}`,
                    href: registerHash(summary.classId, summary.date, summary.period),
                    dataset: { key: summary.key, state: summary.state },
                  },
                  h('span', { class: 'class-name', text: summary.className }),
                  h('span', { class: 'phase' }, h('span', { class: 'phase-dot', 'aria-hidden': 'true' }), phaseText(summary)),
                  h('span', { class: 'counts-line', text: countsLine(summary) }),
                ),
              ),
            ),
          ),
        );
      }),
    );
    if (focusedKey) list.querySelector(`[data-key="${CSS.escape(focusedKey)}"]`)?.focus();
  }

  async function load() {
    // One load at a time; events during a load ask for one more afterwards.
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      do {
        again = false;
        try {
          const registers = await app.client.registersOn(date);
          if (disposed) return;
          // Names for the refused-marks banner and period times for the register stay current.
          app.client.roster().then((roster) => (app.roster = roster), () => {});
          waitingForRoster = false;
          render(registers);
        } catch (error) {
          if (disposed) return;
          waitingForRoster = error.code === 'NO_ROSTER';
          replaceChildren(list, h('p', { class: 'card notice-warning', role: 'alert', text: error.message }));
        }
        main.dataset.ready = 'true';
      } while (again && !disposed);
    })();
    await loading;
    loading = null;
  }

  load();
  return {
    onData(keys) {
      if (!keys || keys.length === 0 || keys.some((key) => shownKeys.has(key))) load();
    },
    onStatus(status) {
      // The class list arrives with the first sync after an offline sign-in.
      if (waitingForRoster && status.lastSyncAt) load();
    },
    dispose() {
      disposed = true;
    },
  };
}
