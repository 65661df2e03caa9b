// Two tablets, both offline, mark the same student differently; both reconnect. Both screens and
// the server end with the later HLC's value, and the tablet whose mark lost says so.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Api, DEMO_PASSWORD, markedLaterOn, useServerAndBrowser, waitFor } from './harness/index.mjs';
import {
  assertNoPageErrors,
  newTablet,
  openRegister,
  rows,
  saveScreen,
  serverRegister,
  signInThroughForm,
  tapStatus,
  waitAllSynced,
  waitForOfflineCopy,
} from './e2e-app.mjs';

const env = useServerAndBrowser();

async function rowOf(page, studentId) {
  return (await rows(page)).find((row) => row.id === studentId);
}

test('two tablets offline mark one student differently: the later mark wins everywhere, the loser is shown superseded', async () => {
  const tablets = [];
  for (let i = 0; i < 2; i += 1) {
    const tablet = await newTablet(env.browser, env.server);
    await signInThroughForm(tablet.page, 'teacher1');
    await waitForOfflineCopy(tablet.page);
    tablets.push(tablet);
  }
  const [first, second] = tablets;
  const register = await openRegister(first.page, 0);
  assert.deepEqual(await openRegister(second.page, 0), register, 'both tablets open the same register');
  const student = (await rows(first.page))[0];

  await first.network.off();
  await second.network.off();
  // The first tablet marks absent; a moment later the second marks late: the later HLC.
  await tapStatus(first.page, student.name, 'Absent');
  await markedLaterOn(second.page, first.page);
  await tapStatus(second.page, student.name, 'Late');
  assert.equal((await rowOf(first.page, student.id)).sync, 'pending');
  assert.equal((await rowOf(second.page, student.id)).sync, 'pending');

  // Both come back; the earlier mark reaches the server last, as a late-syncing tablet's would.
  await second.network.on();
  await waitAllSynced(second.page);
  await first.network.on();
  await waitAllSynced(first.page);

  for (const { page } of tablets) {
    await waitFor('the later mark on both screens', async () => (await rowOf(page, student.id)).status === 'late');
  }
  const loser = await rowOf(first.page, student.id);
  assert.equal(loser.sync, 'superseded');
  assert.match(loser.syncText, /Changed on another device/);
  const winner = await rowOf(second.page, student.id);
  assert.equal(winner.sync, 'synced');

  const api = await Api.login(env.server.url, 'teacher1', DEMO_PASSWORD);
  const held = await serverRegister(api, register);
  assert.equal(held.get(`${student.id}|status`), 'late');
  await saveScreen(first.page, 'register-superseded-landscape-1024x768');
  for (const tablet of tablets) {
    assertNoPageErrors(tablet);
    await tablet.context.close();
  }
});
