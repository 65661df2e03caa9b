// What a teacher (or their tablet) needs beyond the happy path: every control named for a screen
// reader, the app worked by keyboard alone, WCAG AA contrast, touch-sized targets at phone and
// tablet sizes in both orientations, an installable manifest, and a CSP with no inline script.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useServerAndBrowser, waitFor } from './harness/index.mjs';
import {
  appReady,
  assertAccessible,
  assertNoPageErrors,
  newTablet,
  openRegister,
  rows,
  saveScreen,
  signInThroughForm,
  studentRow,
  tapStatus,
} from './e2e-app.mjs';

const env = useServerAndBrowser();

test('every screen names its controls and passes WCAG AA contrast, online and offline', async () => {
  const tablet = await newTablet(env.browser, env.server);
  const { page, network } = tablet;
  await assertAccessible(page, 'the sign-in screen');
  await page.getByLabel('Username').fill('teacher1');
  await page.getByLabel('Password', { exact: true }).fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  await assertAccessible(page, 'the sign-in screen with an error');

  await signInThroughForm(page, 'teacher1');
  await assertAccessible(page, 'the Today screen');
  await openRegister(page, 0);
  const students = await rows(page);
  await network.off();
  await tapStatus(page, students[0].name, 'Present');
  await tapStatus(page, students[1].name, 'Late');
  await tapStatus(page, students[2].name, 'Absent');
  await tapStatus(page, students[3].name, 'Excused');
  await studentRow(page, students[4].name).getByRole('button', { name: 'Add note' }).click();
  await waitFor('the sync bar to say offline', async () => (await page.locator('#syncbar').innerText()).includes('Offline'));
  // Every status, an unmarked row, an open note, the offline sync bar and the pending tags at once.
  await assertAccessible(page, 'the register, offline, with every status');
  await page.getByRole('button', { name: 'Submit register' }).click();
  await page.getByRole('dialog').waitFor();
  await assertAccessible(page, 'the unmarked-students dialog');
  await page.getByRole('button', { name: 'Go back' }).click();
  assertNoPageErrors(tablet);
  await tablet.context.close();
});

test('the keyboard alone signs in, opens a register and marks a student', async () => {
  const tablet = await newTablet(env.browser, env.server);
  const { page } = tablet;
  // The username field has focus on arrival.
  await page.keyboard.type('teacher2');
  await page.keyboard.press('Tab');
  await page.keyboard.type('rollcall-demo');
  await page.keyboard.press('Enter');
  await appReady(page, 'today');
  await page.waitForSelector('.register-card');

  const focusedText = () => page.evaluate(() => document.activeElement?.textContent?.trim() ?? '');
  const tabUntil = async (what, matches) => {
    for (let presses = 0; presses < 60; presses += 1) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(matches)) return;
    }
    assert.fail(`Tab never reached ${what}; focus is on "${await focusedText()}"`);
  };
  await tabUntil('a register card', () => document.activeElement?.classList.contains('register-card'));
  await page.keyboard.press('Enter');
  await appReady(page, 'register');
  await page.waitForSelector('li.student');

  // Tab to the first student's "Present" button; Space presses it.
  await tabUntil('the first "Present" button', () => {
    const element = document.activeElement;
    return element?.matches('.choice[data-status="present"]') && element.closest('li.student') === document.querySelector('li.student');
  });
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'the focused button shows a focus ring');
  await page.keyboard.press('Space');
  await waitFor('the first student to be present', async () => (await rows(page))[0].status === 'present');
  // Shift+Tab back to the name; Enter cycles to late.
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Enter');
  await waitFor('the first student to be late', async () => (await rows(page))[0].status === 'late');
  assertNoPageErrors(tablet);
  await tablet.context.close();
});

test('phone and tablet sizes, portrait and landscape: no sideways scrolling and touch-sized targets', async () => {
  const tablet = await newTablet(env.browser, env.server);
  const { page } = tablet;
  await signInThroughForm(page, 'teacher3');
  const sizes = [
    ['phone-portrait', 390, 844],
    ['phone-landscape', 844, 390],
    ['tablet-portrait', 768, 1024],
    ['tablet-landscape', 1024, 768],
    ['large-tablet-landscape', 1366, 1024],
  ];
  for (const screen of ['today', 'register']) {
    if (screen === 'register') await openRegister(page, 0);
    for (const [name, width, height] of sizes) {
      await page.setViewportSize({ width, height });
      await page.evaluate(() => window.scrollTo(0, 0));
      const layout = await page.evaluate(() => {
        const small = [...document.querySelectorAll('main button, main a, main input, #syncbar button')]
          .filter((element) => element.getClientRects().length && !element.closest('.visually-hidden, [hidden]'))
          .map((element) => ({ element, box: element.getBoundingClientRect() }))
          .filter(({ box }) => box.height < 40 || box.width < 40)
          .map(({ element, box }) => `${element.textContent.trim() || element.outerHTML.slice(0, 60)} ${box.width}×${box.height}`);
        return { overflow: document.documentElement.scrollWidth - window.innerWidth, small };
      });
      assert.ok(layout.overflow <= 0, `${screen} at ${name}: no sideways scrolling (overflow ${layout.overflow}px)`);
      assert.deepEqual(layout.small, [], `${screen} at ${name}: every target at least 40×40 px`);
      if (screen === 'register') {
        const choice = await page.locator('.choice').first().boundingBox();
        assert.ok(choice.height >= 48 && choice.width >= 60, `${name}: status buttons are large (${choice.width}×${choice.height})`);
      }
      if (name.startsWith('phone')) await saveScreen(page, `${screen}-${name}-${width}x${height}`);
    }
  }
  assertNoPageErrors(tablet);
  await tablet.context.close();
});

test('the page has no inline script and is served with the CSP; manifest, icons and worker install', async () => {
  const page = await fetch(`${env.server.url}/`);
  const csp = page.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  const html = await page.text();
  const scripts = html.match(/<script\b[^>]*>[\s\S]*?<\/script>/g) ?? [];
  assert.ok(scripts.length > 0);
  for (const script of scripts) {
    assert.match(script, /^<script type="module" src="\/[^"]+"><\/script>$/, `an external ES module: ${script}`);
  }
  assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'no inline event handlers');
  assert.doesNotMatch(html, /\sstyle\s*=/i, 'no inline styles');
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//i, 'no resources from elsewhere');

  const worker = await fetch(`${env.server.url}/sw.js`);
  assert.equal(worker.status, 200);
  assert.match(worker.headers.get('content-type'), /javascript/);

  const manifestResponse = await fetch(`${env.server.url}/manifest.webmanifest`);
  assert.match(manifestResponse.headers.get('content-type'), /application\/manifest\+json/);
  const manifest = await manifestResponse.json();
  assert.equal(manifest.display, 'standalone');
  assert.equal(manifest.start_url, '/');
  const pngSizes = [];
  for (const icon of manifest.icons) {
    const response = await fetch(`${env.server.url}${icon.src}`);
    assert.equal(response.status, 200, icon.src);
    assert.equal(response.headers.get('content-type'), icon.type, icon.src);
    if (icon.type === 'image/png') {
      const bytes = Buffer.from(await response.arrayBuffer());
      const [width, height] = [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
      assert.equal(`${width}x${height}`, icon.sizes, `${icon.src} is as large as the manifest says`);
      pngSizes.push(width);
    }
  }
  assert.ok(pngSizes.includes(192) && pngSizes.includes(512), 'the 192 and 512 px icons an install needs');
  assert.ok(manifest.icons.some((icon) => icon.purpose === 'maskable'));
});
