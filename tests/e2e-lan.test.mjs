// Rollcall reached the way a school reaches it: by the LAN box's name, not as localhost. Over
// plain HTTP the browser gives the page no service worker, so the app cannot open offline; the
// teacher is told so, and marking and syncing still work. Over HTTPS with the box's own
// certificate authority trusted (`--tls auto`), the app installs and opens with no network.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { Api, DEMO_PASSWORD, LAN_HOST, launchBrowser, startServer, useServerAndBrowser } from './harness/index.mjs';
import {
  assertNoPageErrors,
  syncBar,
  waitForOfflineCopy,
  newTablet,
  openRegister,
  rows,
  saveTabletScreens,
  serverRegister,
  signInThroughForm,
  tapStatus,
  waitAllSynced,
  waitPending,
  waitRowsShow,
} from './e2e-app.mjs';

const env = useServerAndBrowser();

test('over plain HTTP on a LAN name: the teacher is told the app needs HTTPS to open offline; marks are still kept and synced', async () => {
  const origin = `http://${LAN_HOST}:${env.server.port}`;
  const tablet = await newTablet(env.browser, env.server, { origin });
  const { page } = tablet;
  assert.equal(await page.evaluate(() => window.isSecureContext), false, 'a LAN name over HTTP is not a secure context');

  const notice = page.locator('#insecure-origin');
  await notice.waitFor();
  assert.match(await notice.innerText(), /will not open on this tablet without the network/);
  assert.match(await notice.innerText(), /still saved on this tablet/);
  assert.equal(await notice.getByRole('link', { name: 'how to set up HTTPS' }).getAttribute('href'), '/trust');

  await signInThroughForm(page, 'teacher2');
  const register = await openRegister(page, 0);
  const [first, second] = await rows(page);
  // Offline: the marks are durable on the tablet without any service worker...
  await tablet.network.off();
  await tapStatus(page, first.name, 'Late');
  await tapStatus(page, second.name, 'Absent');
  await waitPending(page, 2);
  assert.equal(await page.evaluate(() => navigator.serviceWorker?.controller ?? null), null, 'no service worker here');
  await saveTabletScreens(page, 'lan-plain-http-register');
  // ...but, as the notice says, the app itself cannot be opened again until the network is back.
  await assert.rejects(page.reload(), /ERR_INTERNET_DISCONNECTED/);

  // Back on the network the app opens again, with the marks the failed reload did not lose, and sends them.
  await tablet.network.on();
  await page.goto(`${origin}/#/register/${encodeURIComponent(register.classId)}/${register.date}/${register.period}`);
  await page.waitForSelector('li.student');
  await notice.waitFor();
  await waitAllSynced(page);
  const api = await Api.login(env.server.url, 'teacher2', DEMO_PASSWORD);
  const held = await serverRegister(api, register);
  assert.equal(held.get(`${first.id}|status`), 'late');
  assert.equal(held.get(`${second.id}|status`), 'absent');
  assertNoPageErrors(tablet);
  await tablet.context.close();
});

test('over HTTPS on a LAN name with the school’s CA trusted: the app installs, and a reload with no network opens the register with its marks', async () => {
  const server = await startServer({ https: true, args: ['--tls', 'auto', '--tls-hosts', `${LAN_HOST},localhost,127.0.0.1`] });
  // The tablet trusts the CA the box made (DATA_DIR/tls/ca.crt, also served at /trust), nothing else.
  const browser = await launchBrowser({ trustedCa: join(server.dataDir, 'tls', 'ca.crt') });
  try {
    const origin = `https://${LAN_HOST}:${server.port}`;
    const tablet = await newTablet(browser, server, { origin });
    const { page } = tablet;
    assert.equal(await page.evaluate(() => window.isSecureContext), true);
    await signInThroughForm(page, 'teacher3');
    await waitForOfflineCopy(page);
    assert.ok(await page.locator('#insecure-origin').isHidden(), 'no insecure-origin notice over HTTPS');
    const register = await openRegister(page, 0);
    const [first, second] = await rows(page);

    await tablet.network.off();
    await tapStatus(page, first.name, 'Late');
    await tapStatus(page, second.name, 'Excused');
    await waitPending(page, 2);
    await page.reload();
    await page.waitForSelector('li.student');
    const shown = new Map((await rows(page)).map((row) => [row.id, row.status]));
    assert.deepEqual([shown.get(first.id), shown.get(second.id)], ['late', 'excused'], 'the marks, offline, after a reload');
    assert.equal((await syncBar(page)).pending, 2);
    await saveTabletScreens(page, 'lan-https-offline-reload');

    await tablet.network.on();
    await waitAllSynced(page);
    // Another tablet of the same teacher sees the marks from the server.
    const other = await newTablet(browser, server, { origin });
    await signInThroughForm(other.page, 'teacher3');
    await other.page.goto(`${origin}/#/register/${encodeURIComponent(register.classId)}/${register.date}/${register.period}`);
    await other.page.waitForSelector('li.student');
    await waitRowsShow(other.page, new Map([[first.id, 'late'], [second.id, 'excused']]), 'the other tablet to show the synced marks');
    assertNoPageErrors(tablet);
    assertNoPageErrors(other);
  } finally {
    await browser.close();
    await server.dispose();
  }
});
