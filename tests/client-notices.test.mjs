// The server's change notices (GET /api/v1/events) on an open tablet, in real headless Chromium:
// a notice names the device whose push caused it; the tablet skips the notice of its own push
// (it sent those changes and has the push's answer) and pulls at once at another device's.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Api,
  DEMO_PASSWORD,
  call,
  isoDate,
  op,
  openClientPage,
  recordNotices,
  signIn,
  useServerAndBrowser,
  waitFor,
} from './harness/index.mjs';

const env = useServerAndBrowser();

/** How many requests the page made to `path` since its resource timings were last cleared. */
function requestsTo(page, path) {
  return page.evaluate(
    (path) => performance.getEntriesByType('resource').filter((entry) => new URL(entry.name).pathname === path).length,
    path,
  );
}

/** How many syncs the tablet started since `window.events` was last emptied (each says `syncing` once). */
function syncsStarted(page) {
  return page.evaluate(() => window.events.filter((event) => event.kind === 'status' && event.status.syncing).length);
}

/** Waits until the tablet is not syncing and has no sync due for a minute. */
async function settled(page, what) {
  return waitFor(what, async () => {
    const status = await call(page, 'status');
    return !status.syncing && status.nextSyncAt - Date.now() > 60_000 ? status : null;
  });
}

test('a tablet skips the change notice of its own push and pulls at another device’s', async () => {
  const context = await env.browser.newContext();
  const page = await openClientPage(context, env.server);
  await recordNotices(page);
  // Syncing on its own triggers, with the debounce and the idle poll ten minutes away: after the
  // first sync, only syncNow and the server's notices start one.
  await signIn(page, 'teacher2', DEMO_PASSWORD, { debounceMs: 600_000, idleIntervalMs: 600_000 });
  await waitFor('the event stream to be ready', () =>
    page.evaluate(() => window.notices.some((notice) => notice.type === 'ready')),
  );
  await waitFor('the first sync', async () => (await call(page, 'status')).lastSyncAt !== null);
  await settled(page, 'the first sync to end');

  const date = isoDate(-3);
  const [{ classId, period }] = await call(page, 'registersOn', date);
  const at = [classId, date, period];
  const { students } = await call(page, 'register', ...at);
  for (const student of students) await call(page, 'mark', ...at, student.studentId, 'present');
  const [{ hlc }] = await call(page, 'pending');
  const device = hlc.split('-').at(-1);
  await page.evaluate(() => {
    performance.clearResourceTimings();
    window.events = [];
    window.notices = [];
  });

  const report = await call(page, 'syncNow');
  assert.deepEqual([report.ok, report.pushed], [true, students.length]);
  const own = await waitFor('the notice of its own push', () =>
    page.evaluate(() => window.notices.find((notice) => notice.type === 'changes')),
  );
  assert.deepEqual(JSON.parse(own.data), { class_ids: [classId], device_id: device }, 'the notice names the device');
  const after = await call(page, 'status');
  assert.equal(after.syncing, false);
  assert.ok(after.nextSyncAt - Date.now() > 60_000, 'its own notice made no sync due');

  // Another device's change in the same register: its notice comes after the first on the same
  // stream, so once the tablet shows the change it has handled both notices.
  const office = 'b1c2d3e4f5061728';
  const api = await Api.login(env.server.url, 'teacher2', DEMO_PASSWORD);
  const note = 'seen at the office';
  const studentId = students[0].studentId;
  const pushed = await api.push(office, [
    op({ classId, date, period, studentId, field: 'note', value: note, wallMs: Date.now(), node: office }),
  ]);
  assert.equal(pushed.results[0].outcome, 'applied');
  await waitFor('the other device’s note on the tablet', async () => {
    const view = await call(page, 'register', ...at);
    return view.students.find((student) => student.studentId === studentId).note === note;
  });
  await settled(page, 'the tablet to settle');
  const heard = await page.evaluate(() => window.notices.filter((notice) => notice.type === 'changes'));
  assert.deepEqual(
    heard.map((notice) => JSON.parse(notice.data).device_id),
    [device, office],
    'both notices reached the tablet, in order',
  );

  assert.equal(await requestsTo(page, '/api/v1/sync/push'), 1, 'one push: syncNow’s');
  assert.equal(await requestsTo(page, '/api/v1/sync/pull'), 2, 'two pulls: syncNow’s and the other device’s notice’s');
  assert.equal(await syncsStarted(page), 2, 'no sync for its own notice');
  await context.close();
});
