// Helpers for the teacher app's end-to-end tests (tests/e2e-*.test.mjs): a tablet is a browser
// context on the real server's origin, driven only through what a teacher sees and taps —
// labels, button names and the sync bar — never through the engine's JS API.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS, DEMO_PASSWORD, waitFor } from './harness/index.mjs';

export const LANDSCAPE = { width: 1024, height: 768 };
export const PORTRAIT = { width: 768, height: 1024 };

/**
 * A new tablet: its own browser context (IndexedDB, service worker, cookies), a page on the
 * app (at `origin`, the server's loopback URL unless a test reaches it by a LAN name), and a
 * switch for its network. `errors` collects page errors and CSP violations.
 */
export async function newTablet(browser, server, { viewport = LANDSCAPE, origin = server.url } = {}) {
  const context = await browser.newContext({ viewport, locale: 'en-GB' });
  const page = await context.newPage();
  const tablet = { context, page, errors: [], log: [] };
  page.on('pageerror', (error) => tablet.errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    tablet.log.push(`${message.type()}: ${message.text()}`);
    if (/Content Security Policy|Refused to/i.test(message.text())) tablet.errors.push(`csp: ${message.text()}`);
  });
  let offline = false;
  tablet.network = {
    /** Takes the whole tablet off the network: the page, its engine and its service worker. */
    async off() {
      offline = true;
      await context.setOffline(true);
    },
    async on() {
      // The route opens first: the browser's "online" event makes the app and its worker reach
      // out at once, and those requests must not meet the route still closed.
      offline = false;
      await context.setOffline(false);
    },
    get offline() {
      return offline;
    },
  };
  // Belt and braces for the offline emulation: nothing from this context reaches the server while
  // it is off, whichever part of Chromium sends it.
  await context.route('**', (route) => (offline ? route.abort('internetdisconnected') : route.continue()));
  await page.goto(`${origin}/`);
  await appReady(page);
  return tablet;
}

/** Waits until the app has rendered a screen (optionally a given one) with its data. */
export async function appReady(page, screen = null, { timeout = 60_000 } = {}) {
  const selector = screen ? `main[data-screen="${screen}"][data-ready]` : 'main[data-ready]';
  await page.waitForSelector(selector, { timeout });
}

/** Signs in through the form and waits for today's registers. */
export async function signInThroughForm(page, username, password = DEMO_PASSWORD) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await appReady(page, 'today');
  await page.waitForSelector('.register-card');
}

/** Sends `message` to the service worker controlling the page and resolves with its answer (null: none). */
export async function askWorker(page, message) {
  return page.evaluate(async (message) => {
    const worker = navigator.serviceWorker.controller;
    if (!worker) return null;
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = (event) => resolve(event.data);
      worker.postMessage(message, [channel.port2]);
    });
  }, message);
}

/** Asks the app's service worker what it holds: `{active, staged}` version ids. */
export async function offlineCopy(page) {
  return askWorker(page, { type: 'state' });
}

/** Waits until the service worker controls the page and holds a complete copy of the app. */
export async function waitForOfflineCopy(page) {
  await waitFor('the service worker to hold a complete copy of the app', async () => (await offlineCopy(page))?.active);
}

/** The sync bar as a teacher reads it. */
export async function syncBar(page) {
  const bar = page.locator('#syncbar');
  return {
    text: (await bar.innerText()).replace(/\s+/g, ' ').trim(),
    online: (await bar.getAttribute('data-online')) === 'true',
    pending: Number(await bar.getAttribute('data-pending')),
  };
}

/**
 * Waits until the sync bar counts `count` marks waiting. The bar follows the engine's events, a
 * moment after the row a tap changed, so reading it at once would race that event.
 */
export async function waitPending(page, count) {
  return waitFor(`the sync bar to count ${count} marks waiting`, async () => (await syncBar(page)).pending === count);
}

/** Waits for the sync bar to say every mark is synced (no click: the engine does it alone). */
export async function waitAllSynced(page, { timeoutMs = 60_000 } = {}) {
  return waitFor(
    'the sync bar to say "All marks synced"',
    async () => {
      const bar = await syncBar(page);
      return bar.pending === 0 && bar.text.includes('All marks synced') ? bar : null;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** Opens the register behind the `index`-th card of the Today screen; returns its key parts. */
export async function openRegister(page, index = 0) {
  await page.locator('.register-card').nth(index).click();
  await appReady(page, 'register');
  await page.waitForSelector('li.student');
  return registerOnScreen(page);
}

/** The register on screen, from the address bar: `{classId, date, period}`. */
export function registerOnScreen(page) {
  const match = /#\/register\/([^/]+)\/(\d{4}-\d{2}-\d{2})\/(\d+)$/.exec(page.url());
  assert.ok(match, `a register is open (url ${page.url()})`);
  return { classId: decodeURIComponent(match[1]), date: match[2], period: Number(match[3]) };
}

/** Every student row on screen: `{id, name, status, sync, syncText}`. */
export async function rows(page) {
  return page.locator('li.student').evaluateAll((items) =>
    items.map((item) => ({
      id: item.dataset.studentId,
      name: item.querySelector('.student-name').textContent,
      status: item.dataset.status === 'none' ? null : item.dataset.status,
      sync: item.dataset.sync,
      syncText: item.querySelector('.sync-tag').textContent,
      minutes: item.querySelector('.minutes-input').value,
    })),
  );
}

/** The row (ARIA group) of the student named `name`. */
export function studentRow(page, name) {
  return page.getByRole('group', { name, exact: true });
}

/** Taps a status button ("Present", "Late", …) in a student's row and waits for it to show pressed. */
export async function tapStatus(page, name, label) {
  const button = studentRow(page, name).getByRole('button', { name: label, exact: true });
  await button.click();
  await waitFor(`${name} to show ${label}`, async () => (await button.getAttribute('aria-pressed')) === 'true');
}

/** Waits until every row shows `status` for the students in `expected` (id → status). */
export async function waitRowsShow(page, expected, what = 'the rows to show the marks') {
  return waitFor(what, async () => {
    const shown = new Map((await rows(page)).map((row) => [row.id, row.status]));
    return [...expected].every(([id, status]) => shown.get(id) === status);
  });
}

/** Every field the server holds for one register, from the API: Map `student|field` → value. */
export async function serverRegister(api, { classId, date, period }) {
  const prefix = `${classId}|${date}|${period}|`;
  const held = new Map();
  for (const [key, { value }] of await api.state()) {
    if (key.startsWith(prefix)) held.set(key.slice(prefix.length), value);
  }
  return held;
}

/** Saves what the tablet's screen shows (the viewport, as a teacher sees it) under tests/artifacts. */
export async function saveScreen(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** Screenshots the page in landscape and portrait tablet sizes, then restores the viewport. */
export async function saveTabletScreens(page, name) {
  const before = page.viewportSize();
  for (const [label, size] of [
    ['landscape-1024x768', LANDSCAPE],
    ['portrait-768x1024', PORTRAIT],
  ]) {
    await page.setViewportSize(size);
    // The top of the screen, as the teacher first sees it after opening the register, once the
    // fonts are in and a frame has been drawn at the new size (the app has no animations).
    await page.evaluate(async () => {
      window.scrollTo(0, 0);
      await document.fonts.ready;
      await new Promise((drawn) => requestAnimationFrame(() => requestAnimationFrame(drawn)));
    });
    await saveScreen(page, `${name}-${label}`);
  }
  await page.setViewportSize(before);
}

/** Fails with the tablet's log when it saw page errors or CSP violations. */
export function assertNoPageErrors(tablet) {
  assert.deepEqual(tablet.errors, [], `page errors:\n${tablet.log.join('\n')}`);
}

/** The Today screen's card of one register. */
export function registerCard(page, { classId, date, period }) {
  return page.locator(`a.register-card[href="#/register/${encodeURIComponent(classId)}/${date}/${period}"]`);
}

/** Opens a register by its address (as a bookmark would) and waits for its rows. */
export async function gotoRegister(page, { classId, date, period }) {
  await page.evaluate((hash) => (location.hash = hash), `#/register/${encodeURIComponent(classId)}/${date}/${period}`);
  await page.waitForSelector(`main[data-screen="register"][data-register="${classId}/${date}/${period}"][data-ready] li.student`);
}

/** "Mark all present" on the open register, waiting until nobody is left unmarked. */
export async function markAllPresent(page) {
  const button = page.getByRole('button', { name: 'Mark all present' });
  await button.click();
  await waitFor('everyone to be marked', async () => (await rows(page)).every((row) => row.status !== null));
}

/** Roles a person operates; each must have an accessible name. */
const OPERABLE_ROLES = new Set([
  'button',
  'link',
  'textbox',
  'spinbutton',
  'checkbox',
  'combobox',
  'searchbox',
  'slider',
  'switch',
  'radio',
  'tab',
  'menuitem',
  'date',
  'DisclosureTriangle',
]);

/** Every operable element in Chromium's accessibility tree that has no name: `[{role, html}]`. */
export async function unnamedControls(page) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = await cdp.send('Accessibility.getFullAXTree');
    const unnamed = [];
    for (const node of nodes) {
      if (node.ignored || !OPERABLE_ROLES.has(node.role?.value)) continue;
      if (String(node.name?.value ?? '').trim()) continue;
      let html = '';
      if (node.backendDOMNodeId) {
        const { object } = await cdp.send('DOM.resolveNode', { backendNodeId: node.backendDOMNodeId });
        const { result } = await cdp.send('Runtime.callFunctionOn', {
          objectId: object.objectId,
          functionDeclaration: 'function () { return this.outerHTML.slice(0, 160); }',
          returnByValue: true,
        });
        html = result.value;
      }
      unnamed.push({ role: node.role.value, html });
    }
    return unnamed;
  } finally {
    await cdp.detach();
  }
}

/**
 * Text whose contrast with what is behind it is below WCAG AA (4.5:1, or 3:1 for large text),
 * for every visible, enabled element with its own text: `[{text, ratio, colour, background}]`.
 */
export async function lowContrastText(page) {
  return page.evaluate(() => {
    const parse = (value) => {
      const numbers = value.match(/[\d.]+/g)?.map(Number) ?? [0, 0, 0, 0];
      return { r: numbers[0], g: numbers[1], b: numbers[2], a: numbers.length > 3 ? numbers[3] : 1 };
    };
    const over = (top, bottom) => ({
      r: top.r * top.a + bottom.r * (1 - top.a),
      g: top.g * top.a + bottom.g * (1 - top.a),
      b: top.b * top.a + bottom.b * (1 - top.a),
      a: 1,
    });
    const background = (element) => {
      const layers = [];
      for (let node = element; node; node = node.parentElement) {
        const colour = parse(getComputedStyle(node).backgroundColor);
        if (colour.a > 0) layers.push(colour);
        if (colour.a === 1) break;
      }
      return layers.reduceRight((below, layer) => over(layer, below), { r: 255, g: 255, b: 255, a: 1 });
    };
    const luminance = ({ r, g, b }) => {
      const channel = (c) => {
        const s = c / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    const failures = [];
    for (const element of document.querySelectorAll('body *')) {
      const ownText = [...element.childNodes].some((node) => node.nodeType === 3 && node.textContent.trim());
      if (!ownText || !element.getClientRects().length) continue;
      if (element.closest(':disabled, [aria-hidden="true"], .visually-hidden, [hidden]')) continue;
      const style = getComputedStyle(element);
      if (style.visibility === 'hidden') continue;
      const back = background(element);
      const fore = over(parse(style.color), back);
      const [light, dark] = [luminance(fore), luminance(back)].sort((x, y) => y - x);
      const ratio = (light + 0.05) / (dark + 0.05);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) {
        failures.push({
          text: element.textContent.trim().slice(0, 60),
          ratio: Math.round(ratio * 100) / 100,
          colour: style.color,
          background: `rgb(${back.r}, ${back.g}, ${back.b})`,
        });
      }
    }
    return failures;
  });
}

/** Fails when a control has no accessible name or text fails WCAG AA contrast on this screen. */
export async function assertAccessible(page, what) {
  assert.deepEqual(await unnamedControls(page), [], `every control on ${what} has an accessible name`);
  assert.deepEqual(await lowContrastText(page), [], `text on ${what} meets WCAG AA contrast`);
}
