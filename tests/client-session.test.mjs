// The session rule of the wasm client core against the real server: an expired access token gets
// one refresh (the HttpOnly cookie) and one retry, invisibly.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { DEMO_PASSWORD, call, isoDate, openClientPage, signIn, useServerAndBrowser } from './harness/index.mjs';

// The server's signing key, given to it here so that the test can hand it a token of the
// tablet's own sign-in that has expired, instead of waiting out a token's lifetime.
const SIGNING_KEY = 'client-session-test-signing-key-0123456789';
const env = useServerAndBrowser({ env: { ROLLCALL_JWT_SECRET: SIGNING_KEY } });

/** `token` (an access token the server issued) as the server would have signed it, expired a
 * minute ago: well past the server's few seconds of clock leeway. Same user, same sign-in. */
function expiredCopy(token) {
  const [header, payload] = token.split('.');
  const now = Math.floor(Date.now() / 1000);
  const claims = { ...JSON.parse(Buffer.from(payload, 'base64url')), iat: now - 120, exp: now - 60 };
  const signed = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${signed}.${createHmac('sha256', SIGNING_KEY).update(signed).digest('base64url')}`;
}

test('an expired access token is refreshed once and the request retried once', async () => {
  const context = await env.browser.newContext();
  const page = await openClientPage(context, env.server);
  await signIn(page, 'teacher1', DEMO_PASSWORD, { autoSync: false });
  const date = isoDate(0);
  const [register] = await call(page, 'registersOn', date);
  const view = await call(page, 'register', register.classId, date, register.period);
  await call(page, 'mark', register.classId, date, register.period, view.students[0].studentId, 'late');

  // The tablet's next push goes out with its token expired; what comes after goes as sent.
  let pushes = 0;
  await context.route('**/api/v1/sync/push', (route, request) => {
    pushes += 1;
    if (pushes > 1) return route.continue();
    const headers = request.headers();
    const token = headers.authorization.replace(/^Bearer /, '');
    return route.continue({ headers: { ...headers, authorization: `Bearer ${expiredCopy(token)}` } });
  });
  const pushAnswers = [];
  page.on('response', (response) => {
    if (new URL(response.url()).pathname === '/api/v1/sync/push') pushAnswers.push(response);
  });
  await page.evaluate(() => performance.clearResourceTimings());
  const report = await call(page, 'syncNow');
  assert.deepEqual([report.ok, report.pushed], [true, 1], JSON.stringify(report));
  const [refused] = pushAnswers;
  assert.equal(refused.status(), 401);
  assert.match((await refused.json()).error.message, /has expired/, 'refused as expired, not as forged');
  const requests = await page.evaluate(() =>
    performance.getEntriesByType('resource').map((entry) => new URL(entry.name).pathname),
  );
  const count = (path) => requests.filter((request) => request === path).length;
  assert.equal(count('/api/v1/sync/push'), 2, `refused, then retried: ${requests}`);
  assert.equal(count('/api/v1/auth/refresh'), 1, `one refresh: ${requests}`);
  assert.deepEqual(
    pushAnswers.map((response) => response.status()),
    [401, 200],
  );
  const status = await call(page, 'status');
  assert.deepEqual([status.pending, status.signInRequired, status.lastError], [0, false, null]);
  await context.close();
});
