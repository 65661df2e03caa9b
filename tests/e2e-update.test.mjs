// A new version of the app reaches a tablet that has marks waiting: it is downloaded whole in the
// background, switched to only when the teacher says so, and the queued marks come through the
// switch and reach the server. A deploy that cannot be downloaded whole is never used.
//
// The "deploy" is the server's own files with app.css changed on the way (Playwright routes the
// service worker's requests too), as a new release with a changed stylesheet would arrive.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Api, DEMO_PASSWORD, useServerAndBrowser, waitFor } from './harness/index.mjs';
import {
  appReady,
  askWorker,
  assertNoPageErrors,
  newTablet,
  offlineCopy,
  openRegister,
  rows,
  serverRegister,
  signInThroughForm,
  syncBar,
  tapStatus,
  waitAllSynced,
  waitForOfflineCopy,
  waitPending,
} from './e2e-app.mjs';

const MARKER = '/* deploy 2 */';

const env = useServerAndBrowser();

/** Serves a changed app.css with a new ETag, as the next release would. */
async function deployNewStylesheet(context) {
  const original = await (await fetch(`${env.server.url}/app.css`)).text();
  await context.route('**/app.css', (route) =>
    route.fulfill({
      status: 200,
      headers: { 'content-type': 'text/css', etag: '"deploy-2"', 'cache-control': 'no-cache' },
      body: `${original}\n${MARKER}\n`,
    }),
  );
}

/** The stylesheet the page runs on, as the service worker serves it. */
function runningStylesheet(page) {
  return page.evaluate(async () => (await fetch('/app.css')).text());
}

/** Refuses pushes as a busy server would, so marks stay queued. */
async function refusePushes(context) {
  const handler = (route) =>
    route.fulfill({
      status: 503,
      headers: { 'content-type': 'application/json', 'retry-after': '1' },
      body: JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'busy for the test' } }),
    });
  await context.route('**/api/v1/sync/push', handler);
  return () => context.unroute('**/api/v1/sync/push', handler);
}

test('a new version with marks queued: staged whole, switched on "Update now", and the marks still sync', async () => {
  const tablet = await newTablet(env.browser, env.server);
  const { page, context, network } = tablet;
  await signInThroughForm(page, 'teacher4');
  await waitForOfflineCopy(page);
  const first = await offlineCopy(page);
  const api = await Api.login(env.server.url, 'teacher4', DEMO_PASSWORD);

  await network.off();
  const register = await openRegister(page, 0);
  const students = (await rows(page)).slice(0, 3);
  for (const [student, status] of students.map((s, i) => [s, ['Absent', 'Late', 'Excused'][i]])) {
    await tapStatus(page, student.name, status);
  }
  const queued = 3;
  await waitPending(page, queued);

  // The network returns with a new release deployed; the server is too busy to take marks.
  const allowPushes = await refusePushes(context);
  await deployNewStylesheet(context);
  await network.on();
  const banner = page.getByText('A new version of Rollcall is ready');
  await banner.waitFor({ timeout: 60_000 });
  const staged = await offlineCopy(page);
  assert.equal(staged.active, first.active, 'the running version is still the one served');
  assert.ok(staged.staged && staged.staged !== first.active, 'the new version is downloaded whole and waits');

  // A reload of the only window keeps the running version (the teacher decides when).
  await page.reload();
  await appReady(page, 'register');
  assert.ok(!(await runningStylesheet(page)).includes(MARKER));
  await banner.waitFor({ timeout: 60_000 });

  // The switch ends in a reload: everything below is about the page that loads after it, not
  // the old one still on screen while the worker switches.
  const reloaded = page.waitForEvent('load', { timeout: 60_000 });
  await page.getByRole('button', { name: 'Update now' }).click();
  await reloaded;
  await appReady(page, 'register');
  assert.equal((await offlineCopy(page)).active, staged.staged, 'the new version is served');
  assert.ok((await runningStylesheet(page)).includes(MARKER));

  // The queued marks came through the switch and go out once the server takes them.
  const shown = new Map((await rows(page)).map((row) => [row.id, row.status]));
  assert.deepEqual(
    students.map((s) => shown.get(s.id)),
    ['absent', 'late', 'excused'],
  );
  await waitPending(page, queued);
  await allowPushes();
  await waitAllSynced(page, { timeoutMs: 120_000 });
  const held = await serverRegister(api, register);
  assert.deepEqual(
    students.map((s) => held.get(`${s.id}|status`)),
    ['absent', 'late', 'excused'],
  );
  assertNoPageErrors(tablet);
  await context.close();
});

test('a release that cannot be downloaded whole is never used: the app still opens offline', async () => {
  const tablet = await newTablet(env.browser, env.server);
  const { page, context, network } = tablet;
  await signInThroughForm(page, 'teacher1');
  await waitForOfflineCopy(page);
  const first = await offlineCopy(page);
  // The check the app started when the worker took control may still be fetching; were it to
  // fetch some files before the deploy below and some after, it could stage a whole version the
  // test never meant to exist. This check starts after it, so both have ended on its answer.
  assert.deepEqual(await askWorker(page, { type: 'check-update' }), first, 'nothing new is deployed yet');

  // The new release's stylesheet arrives, but its engine fails to download (Wi-Fi drops half-way).
  await deployNewStylesheet(context);
  await context.route('**/pkg/rollcall_client_bg.wasm', (route) => route.abort('connectionreset'));
  const answer = await askWorker(page, { type: 'check-update' });
  assert.ok(answer.error, 'the check reports the failed download');
  assert.deepEqual(await offlineCopy(page), first, 'nothing half-downloaded is staged or served');

  await network.off();
  await page.reload();
  await appReady(page, 'today');
  await page.waitForSelector('.register-card');
  assert.ok(!(await runningStylesheet(page)).includes(MARKER));
  await waitFor('the sync bar', async () => (await syncBar(page)).text.includes('Offline'));
  assertNoPageErrors(tablet);
  await context.close();
});
