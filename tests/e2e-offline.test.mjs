// The teacher app with the network gone: the browser offline (Chromium's offline emulation) in
// one test, the server process stopped in the other. The register is taken, the page reloaded
// with no network — the app opens from the service worker with every mark still there — and
// when the network is back everything syncs with no click, the server holding exactly those
// marks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Api, DEMO_PASSWORD, useServerAndBrowser, waitFor } from './harness/index.mjs';
import {
  appReady,
  assertNoPageErrors,
  newTablet,
  openRegister,
  registerCard,
  rows,
  saveTabletScreens,
  serverRegister,
  signInThroughForm,
  studentRow,
  syncBar,
  tapStatus,
  waitAllSynced,
  waitForOfflineCopy,
} from './e2e-app.mjs';

const env = useServerAndBrowser();

/**
 * Takes the open register with a mix of marks, submits it, and returns what the server should
 * end up holding (Map `student|field` → value) and how many ops that queued.
 */
async function takeRegister(page) {
  const students = await rows(page);
  await page.getByRole('button', { name: 'Mark all present' }).click();
  await waitFor('everyone to show present', async () => (await rows(page)).every((row) => row.status === 'present'));
  const [absent, late, noted] = students;
  await tapStatus(page, absent.name, 'Absent');
  await tapStatus(page, late.name, 'Late');
  const minutes = studentRow(page, late.name).getByLabel('Minutes late');
  await minutes.fill('12');
  await minutes.press('Tab');
  await studentRow(page, noted.name).getByRole('button', { name: 'Add note' }).click();
  await page.getByLabel(`Note for ${noted.name}`).fill('Brought a note from home');
  await page.getByLabel(`Note for ${noted.name}`).press('Tab');
  await page.getByRole('button', { name: 'Submit register' }).click();
  await page.getByRole('button', { name: 'Submitted ✓' }).waitFor();

  const expected = new Map(students.map((row) => [`${row.id}|status`, 'present']));
  expected.set(`${absent.id}|status`, 'absent');
  expected.set(`${late.id}|status`, 'late');
  expected.set(`${late.id}|minutes_late`, 12);
  expected.set(`${noted.id}|note`, 'Brought a note from home');
  expected.set('|submitted', true);
  // One op per tap: everyone present, then absent, late, the minutes, the note and the submission.
  const queued = students.length + 5;
  return { expected, queued };
}

/** What the rows show: Map student id → status. */
async function shownStatuses(page) {
  return new Map((await rows(page)).map((row) => [row.id, row.status]));
}

function statusesOf(expected) {
  return new Map(
    [...expected].filter(([key]) => key.endsWith('|status')).map(([key, value]) => [key.split('|')[0], value]),
  );
}

/** Reloads with no network and checks the app opens on the register with the marks. */
async function reloadAndCheck(page, expected, pendingBefore, offlineText) {
  await page.reload();
  await appReady(page, 'register');
  await page.waitForSelector('li.student');
  assert.deepEqual(await shownStatuses(page), statusesOf(expected), 'every mark is still on screen after the reload');
  const lateRow = [...expected].find(([key]) => key.endsWith('|minutes_late'))[0].split('|')[0];
  assert.equal((await rows(page)).find((row) => row.id === lateRow).minutes, '12');
  assert.match(await page.locator('#submit-state').innerText(), /waiting to sync/);
  // Right after the reload the app may still be trying the server ("Sending 31 marks…"): wait
  // for that attempt to give up before reading the count.
  const bar = await waitFor('the sync bar to say offline after the reload', async () => {
    const state = await syncBar(page);
    return !state.online && state.text.includes(offlineText) && /marks? waiting to sync/.test(state.text) ? state : null;
  });
  assert.equal(bar.pending, pendingBefore, 'the same marks wait after the reload');
  assert.match(bar.text, /marks? waiting to sync/);
}

test('offline (browser offline): marks survive a reload and sync by themselves when the network returns', async () => {
  const tablet = await newTablet(env.browser, env.server);
  const { page, network } = tablet;
  await signInThroughForm(page, 'teacher1');
  await waitForOfflineCopy(page);
  const api = await Api.login(env.server.url, 'teacher1', DEMO_PASSWORD);

  await network.off();
  await waitFor('the sync bar to say offline', async () => (await syncBar(page)).text.includes('Offline: no network'));
  const register = await openRegister(page, 0);
  const { expected, queued } = await takeRegister(page);
  // The bar counts the queue from the engine's events, a moment after the rows show the taps.
  const bar = await waitFor(`the sync bar to count the ${queued} marks waiting`, async () => {
    const state = await syncBar(page);
    return state.pending >= queued ? state : null;
  });
  await saveTabletScreens(page, 'register-offline');

  await reloadAndCheck(page, expected, bar.pending, 'Offline: no network');
  assert.equal((await serverRegister(api, register)).size, 0, 'nothing reached the server while offline');

  // Today says what waits.
  await page.getByRole('link', { name: /All registers/ }).click();
  await appReady(page, 'today');
  assert.match(await registerCard(page, register).innerText(), /Taken, waiting to sync \(\d+ marks\)/);
  await saveTabletScreens(page, 'today-offline');

  await network.on();
  await waitAllSynced(page);
  assert.deepEqual(Object.fromEntries(await serverRegister(api, register)), Object.fromEntries(expected));
  await waitFor('Today to show the register synced', async () =>
    /Taken and synced/.test(await registerCard(page, register).innerText()),
  );
  assertNoPageErrors(tablet);
  await tablet.context.close();
});

test('offline (server stopped): the app reloads without its server and catches up when it is back', async () => {
  const tablet = await newTablet(env.browser, env.server);
  const { page } = tablet;
  await signInThroughForm(page, 'teacher2');
  await waitForOfflineCopy(page);
  const api = await Api.login(env.server.url, 'teacher2', DEMO_PASSWORD);

  await env.server.stop();
  let expected;
  let register;
  try {
    register = await openRegister(page, 1);
    let queued;
    ({ expected, queued } = await takeRegister(page));
    const bar = await waitFor('the sync bar to say the server is not reachable', async () => {
      const state = await syncBar(page);
      return state.text.includes('Offline: server not reachable') && state.pending >= queued ? state : null;
    });
    await waitFor('the sync bar to say when it tries again', async () =>
      /Next try (in \d+ (s|min)|now)/.test((await syncBar(page)).text),
    );
    await reloadAndCheck(page, expected, bar.pending, 'Offline: server not reachable');
  } finally {
    await env.server.start();
  }
  // No click: the engine's next retry finds the server.
  await waitAllSynced(page, { timeoutMs: 90_000 });
  assert.deepEqual(Object.fromEntries(await serverRegister(api, register)), Object.fromEntries(expected));
  assertNoPageErrors(tablet);
  await tablet.context.close();
});
