// The wasm client core against the real server, in real headless Chromium: push and pull,
// a two-tablet conflict resolved by LWW, a rejected op on a locked register, the session rule,
// and one syncing tab at a time.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Api,
  DEMO_PASSWORD,
  call,
  fieldKey,
  isoDate,
  loadClient,
  markedLaterOn,
  op,
  openClientPage,
  resume,
  signIn,
  useServerAndBrowser,
  waitFor,
} from './harness/index.mjs';

/** Manual syncing: each test decides when a tablet talks to the server. */
const MANUAL = { autoSync: false };

const env = useServerAndBrowser();

/** A new tablet (browser context) signed in as `username`. */
async function tablet(username = 'teacher1', options = MANUAL) {
  const context = await env.browser.newContext();
  const page = await openClientPage(context, env.server);
  const user = await signIn(page, username, DEMO_PASSWORD, options);
  return { context, page, user };
}

/** The first register of `date` for the tablet's teacher, and its view. */
async function firstRegister(page, date, index = 0) {
  const registers = await call(page, 'registersOn', date);
  assert.ok(registers.length > index, `the teacher has registers on ${date}`);
  const summary = registers[index];
  const view = await call(page, 'register', summary.classId, date, summary.period);
  return { summary, view, at: [summary.classId, date, summary.period] };
}

function row(view, studentId) {
  return view.students.find((student) => student.studentId === studentId);
}

test('marks are pushed to the server and other devices’ changes are pulled back', async () => {
  const { context, page, user } = await tablet();
  const date = isoDate(0);
  const registers = await call(page, 'registersOn', date);
  const roster = await call(page, 'roster');
  const taught = roster.classes.filter((c) => c.teacher_ids.includes(user.id));
  assert.equal(registers.length, taught.length * roster.periods.length, 'each class in each period');
  assert.ok(registers.every((r) => r.state === 'not_taken'));

  const { view, at } = await firstRegister(page, date);
  const students = view.students.map((s) => s.studentId);
  assert.ok(students.length >= 20, 'a demo class has 25–32 students');
  const changed = await call(page, 'markAll', ...at, 'present');
  assert.equal(changed, students.length);
  await call(page, 'mark', ...at, students[0], 'absent');
  await call(page, 'mark', ...at, students[1], 'late');
  await call(page, 'setMinutesLate', ...at, students[1], 10);
  await call(page, 'setNote', ...at, students[2], 'Dentist at 10:00 — back for period 3');
  await call(page, 'submit', ...at);
  const queued = students.length + 5;
  assert.equal((await call(page, 'status')).pending, queued);
  assert.equal((await call(page, 'pending')).length, queued);

  const report = await call(page, 'syncNow');
  assert.deepEqual([report.ok, report.pushed, report.rejected], [true, queued, 0]);
  const status = await call(page, 'status');
  assert.equal(status.pending, 0);
  assert.ok(status.lastSyncAt > Date.now() - 60_000);
  assert.equal(status.online, true);

  // The server holds exactly what the tablet shows.
  const api = await Api.login(env.server.url, 'teacher1', DEMO_PASSWORD);
  const state = await api.state();
  const [classId, , period] = at;
  const value = (studentId, field) =>
    state.get(fieldKey({ class_id: classId, date, period, student_id: studentId, field }))?.value;
  assert.equal(value(students[0], 'status'), 'absent');
  assert.equal(value(students[1], 'status'), 'late');
  assert.equal(value(students[1], 'minutes_late'), 10);
  assert.equal(value(students[2], 'note'), 'Dentist at 10:00 — back for period 3');
  assert.equal(value(null, 'submitted'), true);
  for (const studentId of students.slice(3)) assert.equal(value(studentId, 'status'), 'present');

  let shown = await call(page, 'register', ...at);
  assert.ok(shown.students.every((s) => s.sync === 'synced'), 'every row synced');
  assert.equal(shown.submitted, true);
  assert.deepEqual(shown.counts, {
    present: students.length - 2,
    late: 1,
    absent: 1,
    excused: 0,
    unmarked: 0,
  });

  // Another device (the office PC, say) changes a student later: the tablet pulls it.
  const other = 'a0b1c2d3e4f50617';
  const pushed = await api.push(other, [
    op({ classId, date, period, studentId: students[3], value: 'excused', wallMs: Date.now() + 1000, node: other }),
  ]);
  assert.equal(pushed.results[0].outcome, 'applied');
  const pulled = await call(page, 'syncNow');
  assert.ok(pulled.ok && pulled.pulled >= 1, JSON.stringify(pulled));
  shown = await call(page, 'register', ...at);
  assert.equal(row(shown, students[3]).status, 'excused');
  assert.equal(row(shown, students[3]).sync, 'superseded', 'the tablet’s own mark lost to a later write');
  assert.equal(row(shown, students[4]).sync, 'synced');
  const summary = (await call(page, 'registersOn', date)).find((r) => r.classId === classId && r.period === period);
  assert.equal(summary.state, 'synced');
  await context.close();
});

test('two tablets offline mark the same student differently; both end with the later write', async () => {
  const a = await tablet();
  const b = await tablet();
  const date = isoDate(0);
  const { view, at } = await firstRegister(a.page, date, 1);
  const student = view.students[5].studentId;

  await a.context.setOffline(true);
  await b.context.setOffline(true);
  await call(a.page, 'mark', ...at, student, 'absent');
  await markedLaterOn(b.page, a.page);
  await call(b.page, 'mark', ...at, student, 'late');
  const offline = await call(a.page, 'syncNow');
  assert.equal(offline.ok, false);
  assert.equal(offline.error.code, 'OFFLINE');
  assert.equal((await call(a.page, 'status')).pending, 1, 'the mark waits in the queue');

  await a.context.setOffline(false);
  await b.context.setOffline(false);
  // The later write arrives first; the earlier one then loses on the server too.
  const fromB = await call(b.page, 'syncNow');
  const fromA = await call(a.page, 'syncNow');
  assert.ok(fromA.ok && fromB.ok);
  await call(b.page, 'syncNow');

  const seenByA = row(await call(a.page, 'register', ...at), student);
  const seenByB = row(await call(b.page, 'register', ...at), student);
  assert.deepEqual([seenByA.status, seenByA.sync], ['late', 'superseded']);
  assert.deepEqual([seenByB.status, seenByB.sync], ['late', 'synced']);
  const api = await Api.login(env.server.url, 'teacher1', DEMO_PASSWORD);
  const state = await api.state();
  const [classId, , period] = at;
  assert.equal(state.get(fieldKey({ class_id: classId, date, period, student_id: student, field: 'status' })).value, 'late');
  await a.context.close();
  await b.context.close();
});

test('an op on a locked register is rejected with its reason, kept, and survives a reload', async () => {
  const { context, page } = await tablet('teacher2');
  const date = isoDate(-1);
  const { view, at } = await firstRegister(page, date);
  const [classId, , period] = at;
  const admin = await Api.login(env.server.url, 'admin', DEMO_PASSWORD);
  await admin.lock({ classId, from: date, until: date, reason: 'register closed by the office' });

  const student = view.students[0].studentId;
  const opId = await call(page, 'mark', ...at, student, 'absent');
  await call(page, 'mark', ...at, view.students[1].studentId, 'present');
  const report = await call(page, 'syncNow');
  assert.ok(report.ok, 'a rejected op does not fail the sync');
  assert.equal(report.rejected, 2);

  const check = async () => {
    const status = await call(page, 'status');
    assert.deepEqual([status.pending, status.rejected], [0, 2]);
    const rejected = await call(page, 'rejected');
    assert.equal(rejected.length, 2);
    assert.equal(rejected[0].opId, opId);
    assert.equal(rejected[0].code, 'REGISTER_LOCKED');
    assert.equal(rejected[0].value, 'absent');
    const shown = await call(page, 'register', ...at);
    assert.equal(shown.locked, true);
    const rejectedRow = row(shown, student);
    assert.equal(rejectedRow.sync, 'rejected');
    assert.equal(rejectedRow.rejection.code, 'REGISTER_LOCKED');
    assert.equal(rejectedRow.rejection.value, 'absent');
    assert.ok(rejectedRow.rejection.message.length > 0);
    assert.equal(rejectedRow.status, null, 'the refused value is not shown as the mark');
    const summary = (await call(page, 'registersOn', date)).find((r) => r.classId === classId && r.period === period);
    assert.equal(summary.state, 'locked');
  };
  await check();

  // After a reload (and no network needed) the rejected marks are still there.
  await page.reload();
  await loadClient(page);
  assert.equal((await resume(page, MANUAL)).username, 'teacher2');
  await check();

  const api = await Api.login(env.server.url, 'teacher2', DEMO_PASSWORD);
  const state = await api.state();
  assert.equal(state.get(fieldKey({ class_id: classId, date, period, student_id: student, field: 'status' })), undefined);
  await context.close();
});

test('a resumed tablet renews its session with the cookie; a refused session keeps the queue', async () => {
  const { context, page } = await tablet('teacher3');
  const date = isoDate(0);
  const { view, at } = await firstRegister(page, date);

  // A reload loses the in-memory access token; the refresh cookie brings a new one.
  await page.reload();
  await loadClient(page);
  await resume(page, MANUAL);
  await call(page, 'mark', ...at, view.students[0].studentId, 'late');
  let report = await call(page, 'syncNow');
  assert.ok(report.ok, JSON.stringify(report));
  assert.equal(report.pushed, 1);

  // Without the cookie, the session cannot be renewed: "sign in again", marks kept.
  await context.clearCookies();
  await page.reload();
  await loadClient(page);
  await resume(page, MANUAL);
  await call(page, 'mark', ...at, view.students[1].studentId, 'absent');
  report = await call(page, 'syncNow');
  assert.equal(report.ok, false);
  assert.equal(report.error.code, 'AUTH_REQUIRED');
  let status = await call(page, 'status');
  assert.equal(status.signInRequired, true);
  assert.equal(status.pending, 1);
  assert.equal(status.nextSyncAt, null, 'no retries until the teacher signs in');

  await call(page, 'signInAgain', DEMO_PASSWORD);
  report = await call(page, 'syncNow');
  assert.ok(report.ok);
  assert.equal(report.pushed, 1);
  status = await call(page, 'status');
  assert.deepEqual([status.signInRequired, status.pending], [false, 0]);

  // A wrong password is refused with its code.
  await assert.rejects(call(page, 'signInAgain', 'wrong password'), /INVALID_CREDENTIALS/);
  await context.close();
});

test('one tab syncs at a time and the other tabs hear about the changes', async () => {
  const { context, page, user } = await tablet('teacher4');
  const second = await openClientPage(context, env.server);
  await resume(second, MANUAL);
  const date = isoDate(0);
  const registers = await call(page, 'registersOn', date);
  for (const summary of registers.slice(0, 8)) {
    await call(page, 'markAll', summary.classId, date, summary.period, 'present');
  }
  const queued = (await call(page, 'status')).pending;
  assert.ok(queued >= 200, `a big queue (${queued})`);
  // Each markAll announces itself to the other tabs; wait for the last one to be heard, not the first.
  await waitFor('the second tab to hear about the marks', () =>
    second.evaluate(() => window.events.some((event) => event.kind === 'data')),
  );
  await waitFor(`the second tab to see the same queue of ${queued}`, async () => (await call(second, 'status')).pending === queued);

  // While the second tab holds the sync lock (as it does while syncing), the first stands back.
  await second.evaluate((name) => {
    window.held = new Promise((granted) => {
      navigator.locks.request(name, () => {
        granted();
        return new Promise((release) => (window.release = release));
      });
    });
    return window.held;
  }, `rollcall-sync-${user.id}`);
  const deferred = await call(page, 'syncNow');
  assert.equal(deferred.skipped, true);
  assert.equal((await call(page, 'status')).pending, queued, 'nothing was pushed twice or half');
  await second.evaluate(() => window.release());

  await second.evaluate(() => (window.events = []));
  const ran = await call(page, 'syncNow');
  assert.deepEqual([ran.ok, ran.skipped, ran.pushed], [true, false, queued]);
  const heard = await waitFor('the second tab to hear which registers changed', () =>
    second.evaluate(() => window.events.find((event) => event.kind === 'data' && event.registers?.length)),
  );
  assert.ok(heard.registers.length >= 8);
  await waitFor('the second tab to see an empty queue', async () => (await call(second, 'status')).pending === 0);
  const api = await Api.login(env.server.url, 'teacher4', DEMO_PASSWORD);
  const state = await api.state();
  assert.equal(state.size, queued, 'every op reached the server exactly once');
  await context.close();
});

test('an open tablet hears of another device’s change from the server and pulls it by itself', async () => {
  // Syncing on its own triggers, but with the idle poll ten minutes away: only the server's
  // change notice (GET /api/v1/events) can bring the change in time.
  const { context, page } = await tablet('teacher3', { idleIntervalMs: 600_000 });
  const date = isoDate(-1);
  const { view, at } = await firstRegister(page, date);
  const [classId, , period] = at;
  const student = view.students[0].studentId;
  assert.equal(row(view, student).status, null);
  // Let the first automatic sync settle, so that what follows is the notice's doing.
  await waitFor('the first sync', async () => (await call(page, 'status')).lastSyncAt !== null);
  await page.evaluate(() => (window.events = []));

  const api = await Api.login(env.server.url, 'teacher3', DEMO_PASSWORD);
  const office = 'b1c2d3e4f5061728';
  const pushed = await api.push(office, [
    op({ classId, date, period, studentId: student, value: 'late', wallMs: Date.now(), node: office }),
  ]);
  assert.equal(pushed.results[0].outcome, 'applied');

  const key = (await call(page, 'registersOn', date)).find((r) => r.classId === classId && r.period === period).key;
  await waitFor('a data event for the register', () =>
    page.evaluate((key) => window.events.some((event) => event.kind === 'data' && event.registers?.includes(key)), key),
  );
  const shown = await call(page, 'register', ...at);
  assert.equal(row(shown, student).status, 'late');
  assert.equal(row(shown, student).sync, 'synced');
  assert.ok((await call(page, 'status')).nextSyncAt - Date.now() > 60_000, 'no poll was due: the notice did it');
  await context.close();
});
