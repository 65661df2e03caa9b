// The wasm client core when the server goes away: marks keep being taken and stay durable
// (even across a reload), sync attempts back off further and further, and when the server is
// back everything flushes by itself, with no click.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Api,
  DEMO_PASSWORD,
  call,
  fieldKey,
  isoDate,
  loadClient,
  openClientPage,
  resume,
  serveShellFromDisk,
  signIn,
  useServerAndBrowser,
  waitFor,
} from './harness/index.mjs';

/** Automatic syncing with a short debounce, as the app runs. */
const AUTO = { debounceMs: 100 };

const env = useServerAndBrowser();

test('with the server down, marks queue, retries back off, and all flush when it returns', async () => {
  const context = await env.browser.newContext();
  const page = await openClientPage(context, env.server);
  await signIn(page, 'teacher1', DEMO_PASSWORD, AUTO);
  const date = isoDate(0);
  const [first, second] = await call(page, 'registersOn', date);

  // Online, a mark goes out by itself shortly after the tap.
  await call(page, 'markAll', first.classId, date, first.period, 'present');
  // Waits on the rows themselves: right after the taps, `status` may not count them yet, and a
  // sign-in's own sync has already set lastSyncAt.
  await waitFor('the first register to sync by itself', async () => {
    const shown = await call(page, 'register', first.classId, date, first.period);
    return shown.students.every((row) => row.sync === 'synced');
  });

  const firstView = await call(page, 'register', first.classId, date, first.period);
  const view = await call(page, 'register', second.classId, date, second.period);
  await page.evaluate(() => (window.events = []));
  await env.server.stop();
  const marked = await call(page, 'markAll', second.classId, date, second.period, 'present');
  await call(page, 'mark', second.classId, date, second.period, view.students[0].studentId, 'absent');
  await call(page, 'mark', first.classId, date, first.period, firstView.students[0].studentId, 'late');
  const queued = marked + 2;

  // Attempts fail and the backoff ceiling doubles: 1 s, 2 s, 4 s...
  const backingOff = await waitFor(
    'three failed attempts',
    async () => {
      const status = await call(page, 'status');
      return status.failures >= 3 ? status : null;
    },
    { timeoutMs: 30_000 },
  );
  assert.equal(backingOff.pending, queued);
  assert.equal(backingOff.online, false);
  assert.equal(backingOff.lastError.code, 'OFFLINE');
  assert.ok(backingOff.nextRetryAt > backingOff.lastError.at, 'a retry is scheduled');
  assert.ok(backingOff.nextRetryAt - backingOff.lastError.at <= backingOff.backoffCeilingMs);
  const ceilings = await page.evaluate(() =>
    window.events.map((event) => event.status.backoffCeilingMs).filter((ceiling) => ceiling > 0),
  );
  const distinct = [...new Set(ceilings)];
  assert.deepEqual(distinct.slice(0, 3), [1000, 2000, 4000], `ceilings seen: ${distinct}`);

  // A reload while the server is down loses nothing. (The page itself comes from disk here, as
  // the PWA's service worker would serve it from its cache.)
  const stopServingShell = await serveShellFromDisk(context, env.server);
  await page.reload();
  await loadClient(page);
  await stopServingShell();
  assert.equal((await resume(page, AUTO)).username, 'teacher1');
  let status = await call(page, 'status');
  assert.equal(status.pending, queued);
  const reloaded = await call(page, 'register', second.classId, date, second.period);
  assert.equal(reloaded.students[0].status, 'absent');
  assert.equal(reloaded.students[0].sync, 'pending');
  assert.equal(reloaded.counts.unmarked, 0);

  // The server comes back: the queue drains with no click.
  await env.server.start();
  status = await waitFor(
    'the queue to flush by itself',
    async () => {
      const now = await call(page, 'status');
      return now.pending === 0 ? now : null;
    },
    { timeoutMs: 45_000 },
  );
  assert.equal(status.failures, 0, 'success resets the backoff');
  assert.equal(status.lastError, null);
  assert.equal(status.online, true);

  const api = await Api.login(env.server.url, 'teacher1', DEMO_PASSWORD);
  const state = await api.state();
  const statusOf = (register, studentId) =>
    state.get(fieldKey({ class_id: register.classId, date, period: register.period, student_id: studentId, field: 'status' }))
      ?.value;
  assert.equal(statusOf(second, view.students[0].studentId), 'absent');
  assert.equal(statusOf(first, firstView.students[0].studentId), 'late');
  for (const student of view.students.slice(1)) assert.equal(statusOf(second, student.studentId), 'present');
  const shown = await call(page, 'register', second.classId, date, second.period);
  assert.ok(shown.students.every((row) => row.sync === 'synced'));
  await context.close();
});

test('a hung server (no answer at all) counts as offline after the request timeout', async () => {
  const context = await env.browser.newContext();
  const page = await openClientPage(context, env.server);
  await signIn(page, 'teacher2', DEMO_PASSWORD, { autoSync: false });
  // A short timeout for this test (signing in itself may take longer: password hashing).
  await page.evaluate(() => window.client.close());
  await resume(page, { autoSync: false, requestTimeoutMs: 1500 });
  const date = isoDate(0);
  const [register] = await call(page, 'registersOn', date);
  const view = await call(page, 'register', register.classId, date, register.period);
  // One sync first: the session is renewed (refreshes are never cut short, see REFRESH_TIMEOUT_MS).
  assert.ok((await call(page, 'syncNow')).ok);
  await call(page, 'mark', register.classId, date, register.period, view.students[0].studentId, 'absent');

  env.server.freeze();
  try {
    const started = Date.now();
    const report = await call(page, 'syncNow');
    const waited = Date.now() - started;
    assert.equal(report.ok, false);
    assert.equal(report.error.code, 'OFFLINE');
    assert.ok(waited >= 1400 && waited < 10_000, `gave up after ${waited} ms`);
    assert.equal((await call(page, 'status')).pending, 1);
  } finally {
    env.server.thaw();
  }
  const report = await call(page, 'syncNow');
  assert.deepEqual([report.ok, report.pushed], [true, 1], JSON.stringify(report));
  await context.close();
});

/** Waits until the client backs off with the next retry at least `ms` away, and returns that status. */
/** Waits until the tablet knows it is offline and its next check is at least `ms` away. */
async function waitingOffline(page, ms) {
  return waitFor(
    `an offline check at least ${ms} ms away`,
    async () => {
      const status = await call(page, 'status');
      const offline = status.online === false && status.lastError?.code === 'OFFLINE';
      return offline && status.nextSyncAt - Date.now() > ms ? status : null;
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
}

async function backingOffFor(page, ms) {
  return waitFor(
    `a retry at least ${ms} ms away`,
    async () => {
      const status = await call(page, 'status');
      return status.failures >= 2 && status.nextRetryAt - Date.now() > ms ? status : null;
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
}

test('the network coming back, or the page becoming visible, syncs at once despite the backoff', async () => {
  const context = await env.browser.newContext();
  const page = await openClientPage(context, env.server);
  await signIn(page, 'teacher3', DEMO_PASSWORD, { debounceMs: 100 });
  const date = isoDate(0);
  const [register] = await call(page, 'registersOn', date);
  const view = await call(page, 'register', register.classId, date, register.period);
  await waitFor('the first sync', async () => (await call(page, 'status')).lastSyncAt !== null);

  // The browser loses its network: an attempt fails as offline without growing the backoff, and
  // the next check waits; when the network comes back one goes at once.
  await context.setOffline(true);
  await call(page, 'mark', register.classId, date, register.period, view.students[0].studentId, 'absent');
  let waiting = await waitingOffline(page, 2500);
  assert.equal(waiting.failures, 0, 'an offline attempt must not count as a server failure');
  await context.setOffline(false); // fires `online`
  await waitFor('the queue to flush on `online`', async () => (await call(page, 'status')).pending === 0, {
    timeoutMs: 2000,
  });
  assert.ok(Date.now() < waiting.nextSyncAt, 'it did not wait for the scheduled check');

  // The server is gone while the tablet sleeps; the teacher wakes it after the server is back.
  await env.server.stop();
  await call(page, 'mark', register.classId, date, register.period, view.students[1].studentId, 'late');
  waiting = await backingOffFor(page, 2500);
  await env.server.start();
  await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await waitFor('the queue to flush on `visibilitychange`', async () => (await call(page, 'status')).pending === 0, {
    timeoutMs: 2000,
  });
  assert.ok(Date.now() < waiting.nextRetryAt, 'it did not wait for the scheduled retry');
  await context.close();
});
