// The server is killed (SIGKILL, as a power cut would) while a tablet is flushing a large queue,
// then restarted. After the tablet's own retries the server holds every mark exactly once:
// nothing lost, nothing applied twice.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Api, DEMO_PASSWORD, fieldKey, isoDate, useServerAndBrowser, waitFor } from './harness/index.mjs';
import {
  assertNoPageErrors,
  gotoRegister,
  markAllPresent,
  newTablet,
  signInThroughForm,
  syncBar,
  waitAllSynced,
  waitForOfflineCopy,
  waitPending,
} from './e2e-app.mjs';

/** Days of registers queued: 5 × 12 registers × ~30 students ≈ 1,800 marks, four pushes of 500. */
const DAYS = 5;

const env = useServerAndBrowser();


test('server SIGKILLed mid-flush of a large queue: after restart and retries every mark is there exactly once', async () => {
  const tablet = await newTablet(env.browser, env.server);
  const { page, context, network } = tablet;
  await signInThroughForm(page, 'teacher2');
  await waitForOfflineCopy(page);
  const api = await Api.login(env.server.url, 'teacher2', DEMO_PASSWORD);
  const roster = await api.roster();
  const classes = roster.classes.filter((c) => c.teacher_ids.includes(api.user.id));

  // The queue builds up offline, as on a day without Wi-Fi (and the days before it).
  await network.off();
  const expected = new Set();
  for (let day = 0; day > -DAYS; day -= 1) {
    const date = isoDate(day);
    for (const { period } of roster.periods) {
      for (const { id: classId } of classes) {
        await gotoRegister(page, { classId, date, period });
        await markAllPresent(page);
        for (const enrolment of roster.enrolments) {
          const covers = enrolment.from <= date && (enrolment.until === null || date <= enrolment.until);
          if (enrolment.class_id === classId && covers) {
            expected.add(fieldKey({ class_id: classId, date, period, student_id: enrolment.student_id, field: 'status' }));
          }
        }
      }
    }
  }
  // One queued mark per student per register (the bar counts them a moment after the taps).
  const queued = expected.size;
  await waitPending(page, queued);
  assert.ok(queued > 1000, `a large queue (${queued} marks)`);

  // The second push of the flush is let through to the server, which is then killed under it.
  let pushes = 0;
  let killed = null;
  await context.route('**/api/v1/sync/push', async (route) => {
    pushes += 1;
    await route.continue();
    // Handed to the network: the server dies with the push on its way or in its hands.
    if (pushes === 2) killed ??= env.server.kill();
  });
  await network.on();
  await waitFor('the server to be killed during the second push', () => killed !== null, { timeoutMs: 60_000 });
  await killed;
  const during = await waitFor('the first batch to be acknowledged', async () => {
    const bar = await syncBar(page);
    return bar.pending < queued ? bar : null;
  });
  assert.ok(during.pending > 0, 'the kill came mid-flush, with marks still queued');
  await waitFor('the tablet to notice the server is gone', async () =>
    (await syncBar(page)).text.includes('Offline: server not reachable'),
  );
  await env.server.start();

  // No click: the tablet's backoff retries find the server again. The backoff grew during the
  // offline hours too, so the next try may be up to its 5-minute cap away.
  await waitAllSynced(page, { timeoutMs: 330_000 });

  // Exactly once: every expected mark applied once, and nothing else applied for these registers.
  const applied = new Map();
  for (const change of await api.pullAll()) {
    const key = fieldKey(change);
    if (!applied.has(key)) applied.set(key, []);
    applied.get(key).push(change);
  }
  const missing = [...expected].filter((key) => !applied.has(key));
  assert.deepEqual(missing, [], 'every mark reached the server');
  const twice = [...applied].filter(([, changes]) => changes.length !== 1).map(([key]) => key);
  assert.deepEqual(twice, [], 'no mark was applied twice');
  const unexpected = [...applied.keys()].filter((key) => !expected.has(key));
  assert.deepEqual(unexpected, [], 'nothing else was applied');
  for (const key of expected) assert.equal(applied.get(key)[0].value, 'present');
  assertNoPageErrors(tablet);
  await context.close();
});
