// The teacher app online, in real headless Chromium against the real server: signing in (and
// the two ways it fails), taking a full register and submitting it, and the server holding
// exactly what the screen shows.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Api, DEMO_PASSWORD, isoDate, useServerAndBrowser, waitFor } from './harness/index.mjs';
import {
  appReady,
  assertNoPageErrors,
  newTablet,
  openRegister,
  registerCard,
  rows,
  saveScreen,
  saveTabletScreens,
  serverRegister,
  signInThroughForm,
  studentRow,
  tapStatus,
  waitAllSynced,
} from './e2e-app.mjs';
import { MAX_NOTE_CHARS } from '../www/js/rules.js';

const env = useServerAndBrowser();

test('a wrong password is refused with a clear message, then the right one signs in', async () => {
  const tablet = await newTablet(env.browser, env.server);
  const { page } = tablet;
  await page.getByLabel('Username').fill('teacher1');
  await page.getByLabel('Password', { exact: true }).fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const error = page.getByRole('alert');
  await error.waitFor();
  assert.match(await error.innerText(), /Wrong username or password/);
  assert.equal(await page.locator('main').getAttribute('data-screen'), 'sign-in');

  await signInThroughForm(page, 'teacher1');
  assert.match(await page.locator('#who').innerText(), /\S/, 'the teacher’s name is shown');
  assertNoPageErrors(tablet);
  await tablet.context.close();
});

test('the first sign-in with the server unreachable says the server cannot be reached', async () => {
  const tablet = await newTablet(env.browser, env.server);
  const { page } = tablet;
  await env.server.stop();
  try {
    await page.getByLabel('Username').fill('teacher2');
    await page.getByLabel('Password', { exact: true }).fill(DEMO_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const error = page.getByRole('alert');
    await error.waitFor();
    assert.match(await error.innerText(), /Cannot reach the Rollcall server/);
    assert.equal(await page.locator('main').getAttribute('data-screen'), 'sign-in');
  } finally {
    await env.server.start();
  }
  // And once the server is back, the same form signs in.
  await page.getByRole('button', { name: 'Sign in' }).click();
  await appReady(page, 'today');
  await tablet.context.close();
});

test('online: take a full register and submit it; the server holds every mark', async () => {
  const tablet = await newTablet(env.browser, env.server);
  const { page } = tablet;
  await signInThroughForm(page, 'teacher3');

  // Today lists each of the teacher's classes in each period, none taken yet.
  const api = await Api.login(env.server.url, 'teacher3', DEMO_PASSWORD);
  const roster = await api.roster();
  const taught = roster.classes.filter((c) => c.teacher_ids.includes(api.user.id));
  const cards = page.locator('.register-card');
  assert.equal(await cards.count(), taught.length * roster.periods.length);
  for (const text of await cards.allInnerTexts()) assert.match(text, /Not taken/);

  const register = await openRegister(page, 0);
  const before = await rows(page);
  assert.ok(before.length >= 20, 'a demo class has 25–32 students');
  assert.ok(before.every((row) => row.status === null), 'nobody is marked yet');
  assert.match(await page.locator('.counts').innerText(), new RegExp(`Unmarked\\s*${before.length}`));

  await page.getByRole('button', { name: 'Mark all present' }).click();
  await waitFor('everyone to show present', async () => (await rows(page)).every((row) => row.status === 'present'));
  const [absent, late, excused, noted] = before;
  await tapStatus(page, absent.name, 'Absent');
  await tapStatus(page, late.name, 'Late');
  const minutes = studentRow(page, late.name).getByLabel('Minutes late');
  await minutes.fill('7');
  await minutes.press('Tab');
  await tapStatus(page, excused.name, 'Excused');
  await studentRow(page, noted.name).getByRole('button', { name: 'Add note' }).click();
  const note = 'Left at 10:15 for the orthodontist';
  await page.getByLabel(`Note for ${noted.name}`).fill(note);
  await page.getByLabel(`Note for ${noted.name}`).press('Tab');

  // Live counts.
  const countsText = async () => (await page.locator('.counts').innerText()).replace(/\s+/g, ' ');
  await waitFor('the live counts', async () => {
    const text = await countsText();
    return (
      text.includes(`Present ${before.length - 3}`) &&
      text.includes('Late 1') &&
      text.includes('Absent 1') &&
      text.includes('Excused 1') &&
      text.includes('Unmarked 0')
    );
  });

  await page.getByRole('button', { name: 'Submit register' }).click();
  await page.getByRole('button', { name: 'Submitted ✓' }).waitFor();
  await waitAllSynced(page);
  await waitFor('the submission to show synced', async () =>
    /Submitted and synced/.test(await page.locator('#submit-state').innerText()),
  );
  await saveTabletScreens(page, 'register-online');

  // The server holds exactly these fields for this register, nothing more.
  const expected = new Map(before.map((row) => [`${row.id}|status`, 'present']));
  expected.set(`${absent.id}|status`, 'absent');
  expected.set(`${late.id}|status`, 'late');
  expected.set(`${late.id}|minutes_late`, 7);
  expected.set(`${excused.id}|status`, 'excused');
  expected.set(`${noted.id}|note`, note);
  expected.set('|submitted', true);
  assert.deepEqual(Object.fromEntries(await serverRegister(api, register)), Object.fromEntries(expected));

  // Every row says synced, and Today says the register is taken and synced.
  // The rows follow the engine's data event, which may land after the sync bar's.
  await waitFor('every row to say synced', async () => (await rows(page)).every((row) => row.sync === 'synced'));
  await page.getByRole('link', { name: /All registers/ }).click();
  await appReady(page, 'today');
  const card = registerCard(page, register);
  await waitFor('Today to show the register synced', async () => /Taken and synced/.test(await card.innerText()));
  assertNoPageErrors(tablet);
  await tablet.context.close();
});

test('unmarked students stand out, and submitting with some unmarked asks first', async () => {
  const tablet = await newTablet(env.browser, env.server);
  const { page } = tablet;
  await signInThroughForm(page, 'teacher4');
  await openRegister(page, 1);
  const [first, second] = await rows(page);

  // A tap on the name cycles present → late → absent → excused → present.
  const name = studentRow(page, first.name).getByRole('button', { name: new RegExp(`^${first.name}`) });
  for (const expected of ['present', 'late', 'absent', 'excused', 'present']) {
    await name.click();
    await waitFor(`the tap to give ${expected}`, async () => (await rows(page))[0].status === expected);
  }
  assert.match(await name.getAttribute('aria-label'), /Present/);
  assert.match(await studentRow(page, second.name).innerText(), /Not marked/);

  await page.getByRole('button', { name: 'Submit register' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const unmarked = (await rows(page)).length - 1;
  assert.match(await dialog.innerText(), new RegExp(`${unmarked} students not marked`));
  assert.match(await dialog.innerText(), new RegExp(second.name));
  await dialog.getByRole('button', { name: 'Go to first unmarked' }).click();
  await waitFor('focus to move to the first unmarked student', async () =>
    (await page.evaluate(() => document.activeElement.closest('li.student')?.dataset.studentId)) === second.id,
  );
  assert.equal(await page.getByRole('button', { name: 'Submit register' }).isEnabled(), true, 'not submitted');

  // The date picker goes back to past days, never forward past today.
  await page.getByRole('link', { name: /All registers/ }).click();
  await appReady(page, 'today');
  assert.equal(await page.getByRole('button', { name: 'Next day ▶' }).isDisabled(), true);
  assert.equal(await page.getByLabel('Day').getAttribute('max'), isoDate(0));
  await page.getByLabel('Day').fill(isoDate(-7));
  await page.waitForSelector(`main[data-screen="today"][data-ready] a.register-card[href*="/${isoDate(-7)}/"]`);
  assert.match(await page.locator('h1').innerText(), /Registers/);
  await page.getByRole('button', { name: '◀ Previous day' }).click();
  await page.waitForSelector(`main[data-screen="today"][data-ready] a.register-card[href*="/${isoDate(-8)}/"]`);
  await page.getByRole('button', { name: 'Today' }).click();
  await page.waitForSelector(`main[data-screen="today"][data-ready] a.register-card[href*="/${isoDate(0)}/"]`);
  assertNoPageErrors(tablet);
  await tablet.context.close();
});

test('a note counts characters as the server does: 500 emoji are saved and synced, 501 are held back with a word why', async () => {
  const tablet = await newTablet(env.browser, env.server);
  const { page } = tablet;
  await signInThroughForm(page, 'teacher2');
  const api = await Api.login(env.server.url, 'teacher2', DEMO_PASSWORD);
  const register = await openRegister(page, 0);
  const [student] = await rows(page);
  // Each emoji is one character to the server but two UTF-16 units to a textarea's `maxlength`.
  const longest = '🙂'.repeat(MAX_NOTE_CHARS);
  await studentRow(page, student.name).getByRole('button', { name: 'Add note' }).click();
  const input = page.getByLabel(`Note for ${student.name}`);
  const count = studentRow(page, student.name).locator('.note-count');

  await input.fill(`${longest}🙂`);
  await input.press('Tab');
  assert.equal(await input.inputValue(), `${longest}🙂`, 'the textarea keeps what was typed');
  assert.match(await count.innerText(), new RegExp(`${MAX_NOTE_CHARS + 1} of ${MAX_NOTE_CHARS} characters: shorten`));
  assert.equal((await rows(page))[0].sync, 'none', 'a note over the limit is not queued');
  await saveScreen(page, 'register-note-over-limit');

  await input.fill(longest);
  assert.equal(await count.innerText(), `${MAX_NOTE_CHARS} of ${MAX_NOTE_CHARS} characters`);
  await input.press('Tab');
  await waitAllSynced(page);
  await waitFor('the note to show synced', async () => (await rows(page))[0].sync === 'synced');
  assert.equal((await serverRegister(api, register)).get(`${student.id}|note`), longest);
  assertNoPageErrors(tablet);
  await tablet.context.close();
});
