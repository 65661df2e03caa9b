// The session rule of the wasm client core against the real server with short-lived access
// tokens: an expired token gets one refresh (the HttpOnly cookie) and one retry, invisibly.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEMO_PASSWORD, call, isoDate, openClientPage, signIn, useServerAndBrowser } from './harness/index.mjs';

// One-second access tokens (the server allows 5 s of clock leeway on top).
const env = useServerAndBrowser({ env: { ROLLCALL_ACCESS_TOKEN_TTL_SECS: '1' } });

test('an expired access token is refreshed once and the request retried once', async () => {
  const context = await env.browser.newContext();
  const page = await openClientPage(context, env.server);
  await signIn(page, 'teacher1', DEMO_PASSWORD, { autoSync: false });
  const date = isoDate(0);
  const [register] = await call(page, 'registersOn', date);
  const view = await call(page, 'register', register.classId, date, register.period);
  await call(page, 'mark', register.classId, date, register.period, view.students[0].studentId, 'late');

  await new Promise((done) => setTimeout(done, 7_500));
  await page.evaluate(() => performance.clearResourceTimings());
  const report = await call(page, 'syncNow');
  assert.deepEqual([report.ok, report.pushed], [true, 1], JSON.stringify(report));
  const requests = await page.evaluate(() =>
    performance.getEntriesByType('resource').map((entry) => new URL(entry.name).pathname),
  );
  const count = (path) => requests.filter((request) => request === path).length;
  assert.equal(count('/api/v1/sync/push'), 2, `refused, then retried: ${requests}`);
  assert.equal(count('/api/v1/auth/refresh'), 1, `one refresh: ${requests}`);
  const status = await call(page, 'status');
  assert.deepEqual([status.pending, status.signInRequired, status.lastError], [0, false, null]);
  await context.close();
});
