// The office locks the day while a tablet is offline with marks for it. When the tablet
// reconnects the server refuses those marks: the app shows them as refused, with the reason,
// and keeps them (on screen, after a reload, in the refused list) rather than dropping them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Api, DEMO_PASSWORD, isoDate, useServerAndBrowser, waitFor } from './harness/index.mjs';
import {
  appReady,
  assertNoPageErrors,
  markAllPresent,
  newTablet,
  openRegister,
  registerCard,
  rows,
  saveTabletScreens,
  serverRegister,
  signInThroughForm,
  syncBar,
  tapStatus,
  waitForOfflineCopy,
  waitPending,
} from './e2e-app.mjs';

const env = useServerAndBrowser();

test('marks taken offline on a day the office locked are shown refused with the reason, and kept', async () => {
  const tablet = await newTablet(env.browser, env.server);
  const { page, network } = tablet;
  await signInThroughForm(page, 'teacher3');
  await waitForOfflineCopy(page);

  await network.off();
  const register = await openRegister(page, 0);
  await markAllPresent(page);
  const students = await rows(page);
  await tapStatus(page, students[0].name, 'Absent');
  const queued = students.length + 1;
  await waitPending(page, queued);

  // Meanwhile the office locks today for the whole school.
  const admin = await Api.login(env.server.url, 'admin', DEMO_PASSWORD);
  await admin.lock({ from: isoDate(0), until: isoDate(0), reason: 'day closed for the census' });

  await network.on();
  const banner = page.getByRole('region', { name: /refused by the server/ });
  await banner.waitFor({ timeout: 60_000 });
  await waitFor('every queued mark to be answered', async () => (await syncBar(page)).pending === 0, {
    timeoutMs: 60_000,
  });
  // The banner reads the refused marks from the engine after the event that counted them.
  const bannerText = await waitFor('the banner to count every refused mark', async () => {
    const text = await banner.innerText();
    return text.includes(`${queued} marks were refused by the server`) ? text : null;
  });
  assert.match(bannerText, /register locked by the office/);
  await banner.getByText(`Show the ${queued} marks`).click();
  assert.match(await banner.innerText(), new RegExp(`${students[0].name}: Absent`), 'the refused marks are listed');
  assert.equal(await banner.locator('.rejected-list li').count(), queued);

  // The register says so, row by row, and still shows what the teacher marked.
  await waitFor('the rows to show the refusal', async () =>
    (await rows(page)).every((row) => row.sync === 'rejected' && /register locked by the office/.test(row.syncText)),
  );
  // Each row shows what the server holds (nothing) and, beside it, the refused mark.
  const shown = await rows(page);
  assert.ok(shown.every((row) => row.status === null));
  assert.match(shown[0].syncText, /^Absent refused: register locked by the office$/);
  assert.ok(shown.slice(1).every((row) => /^Present refused/.test(row.syncText)));
  assert.match(await page.getByRole('alert').filter({ hasText: 'locked this register' }).innerText(), /office/);
  // A submission would be refused too, so the register does not offer one; nor marking everyone
  // again, though every row is unmarked on the server.
  assert.ok(await page.getByRole('button', { name: 'Submit register' }).isDisabled());
  assert.ok(await page.getByRole('button', { name: 'Mark all present' }).isDisabled());
  await banner.getByText(`Show the ${queued} marks`).click();
  await saveTabletScreens(page, 'register-locked');

  // Nothing of it reached the server, and nothing is lost on the tablet, even after a reload.
  const teacher = await Api.login(env.server.url, 'teacher3', DEMO_PASSWORD);
  assert.equal((await serverRegister(teacher, register)).size, 0);
  await page.reload();
  await appReady(page, 'register');
  await page.getByRole('region', { name: /refused by the server/ }).waitFor();
  assert.equal(await page.getByRole('region', { name: /refused by the server/ }).locator('.rejected-list li').count(), queued);
  await page.getByRole('link', { name: /All registers/ }).click();
  await appReady(page, 'today');
  await waitFor('the card to say the office locked the register', async () =>
    /Locked by the office/.test(await registerCard(page, register).innerText()),
  );
  await saveTabletScreens(page, 'today-locked');
  assertNoPageErrors(tablet);
  await tablet.context.close();
});
