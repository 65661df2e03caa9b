// Headless Chromium (Debian's, through playwright-core) with the flags this machine needs, and
// pages that load the wasm client from the real server.
//
// Contract with `cargo xtask test`: ROLLCALL_CHROMIUM names the browser (default /usr/bin/chromium).

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT } from './server.mjs';

/** A school LAN's name for the Rollcall box, which every test browser resolves to this machine. */
export const LAN_HOST = 'rollcall.school.lan';

/** Without the background-networking flags Chromium floods a closed network with refused connections. */
export const CHROMIUM_ARGS = [
  `--host-resolver-rules=MAP ${LAN_HOST} 127.0.0.1`,
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where tests leave screenshots and logs. */
export const ARTIFACTS = join(ROOT, 'tests', 'artifacts');

/**
 * Launches headless Chromium with a fresh profile. `trustedCa`: a PEM file of a certificate
 * authority this browser trusts, put into a throwaway NSS store (Chromium's certificate store on
 * Linux, in $HOME/.pki/nssdb) with `certutil`, as IT trusts the school's CA on a device.
 */
export async function launchBrowser({ trustedCa = null } = {}) {
  const env = { ...process.env };
  if (trustedCa) {
    const home = mkdtempSync(join(tmpdir(), 'rollcall-browser-home-'));
    const store = `sql:${join(home, '.pki', 'nssdb')}`;
    mkdirSync(join(home, '.pki', 'nssdb'), { recursive: true });
    execFileSync('certutil', ['-N', '-d', store, '--empty-password']);
    execFileSync('certutil', ['-A', '-d', store, '-t', 'C,,', '-n', 'Rollcall school CA', '-i', trustedCa]);
    env.HOME = home;
  }
  return chromium.launch({
    executablePath: process.env.ROLLCALL_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    env,
  });
}

/**
 * Opens a page on the server's origin that runs nothing of the app (`/healthz`), loads the wasm
 * client from `/pkg/`, and leaves it in `window.rollcall`. One browser context is one tablet: its
 * own IndexedDB, cookies and Web Locks.
 */
export async function openClientPage(context, server, { path = '/healthz' } = {}) {
  const page = await context.newPage();
  page.consoleLines = [];
  page.on('console', (message) => page.consoleLines.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => page.consoleLines.push(`pageerror: ${error.message}`));
  await page.goto(`${server.url}${path}`);
  await loadClient(page);
  return page;
}

/** (Re)loads the client module into the page, e.g. after `page.reload()`. */
export async function loadClient(page) {
  await page.evaluate(async () => {
    const module = await import('/pkg/rollcall_client.js');
    await module.default();
    window.rollcall = module;
  });
}

/**
 * Serves the test page and the wasm client from www/ on disk while the server is down, as the
 * PWA's service worker would from its cache; API calls still go to the (absent) server. Returns
 * a function that removes the route.
 */
export async function serveShellFromDisk(context, server) {
  const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.ts': 'text/plain' };
  const handler = async (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === '/healthz') {
      return route.fulfill({ status: 200, contentType: 'application/json', body: '{"status":"offline shell"}' });
    }
    const file = join(ROOT, 'www', path);
    const type = types[path.slice(path.lastIndexOf('.'))] ?? 'application/octet-stream';
    return route.fulfill({ status: 200, contentType: type, body: readFileSync(file) });
  };
  const pattern = (url) => url.origin === server.url && (url.pathname === '/healthz' || url.pathname.startsWith('/pkg/'));
  await context.route(pattern, handler);
  return () => context.unroute(pattern, handler);
}

/**
 * Records in `window.notices` each event of the server's stream (GET /api/v1/events) that the
 * client in the page hears: `{type: 'ready'}` when a stream is ready, and `{type: 'changes',
 * data}` once the client's own listener for that notice has run. Call it before signing in.
 */
export async function recordNotices(page) {
  await page.evaluate(() => {
    window.notices = [];
    const Browser = window.EventSource;
    window.EventSource = class extends Browser {
      constructor(...args) {
        super(...args);
        super.addEventListener('ready', () => window.notices.push({ type: 'ready' }));
      }

      addEventListener(type, listener, options) {
        const heard =
          type === 'changes' && typeof listener === 'function'
            ? (event) => {
                try {
                  listener(event);
                } finally {
                  window.notices.push({ type, data: event.data });
                }
              }
            : listener;
        super.addEventListener(type, heard, options);
      }
    };
  });
}

/** Signs in inside the page; the client stays in `window.client`. */
export async function signIn(page, username, password, options = {}) {
  return page.evaluate(
    async ([username, password, options]) => {
      window.client = await window.rollcall.Rollcall.signIn('', username, password, options);
      window.events = [];
      window.client.subscribe((event) => window.events.push(event));
      return window.client.user;
    },
    [username, password, options],
  );
}

/** Resumes the last signed-in user inside the page (no network needed). */
export async function resume(page, options = {}) {
  return page.evaluate(async (options) => {
    window.client = await window.rollcall.Rollcall.resume('', options);
    window.events = [];
    window.client?.subscribe((event) => window.events.push(event));
    return window.client ? window.client.user : null;
  }, options);
}

/** Calls `window.client[method](...args)` in the page and returns its (awaited) result. */
export async function call(page, method, ...args) {
  return page.evaluate(
    async ([method, args]) => {
      try {
        return { value: await window.client[method](...args) };
      } catch (error) {
        return { error: { message: error.message, code: error.code } };
      }
    },
    [method, args],
  ).then((result) => {
    if (result.error) {
      const error = new Error(`${method}: ${result.error.code}: ${result.error.message}`);
      error.code = result.error.code;
      throw error;
    }
    return result.value;
  });
}

/** Polls `check()` until it returns a truthy value, or fails with `what` after `timeoutMs`. */
export async function waitFor(what, check, { timeoutMs = 20_000, intervalMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((done) => setTimeout(done, intervalMs));
  }
}

/**
 * Returns once `later`'s clock reads past what `earlier`'s read now, so that a mark made next on
 * `later` carries the later HLC. An HLC's wall time is the device's clock (or an earlier server
 * stamp, which is older still), so this orders two tablets' marks by an event, not by a pause.
 */
export async function markedLaterOn(later, earlier) {
  const earlierNow = await earlier.evaluate(() => Date.now());
  await later.waitForFunction((then) => Date.now() > then, earlierNow, { polling: 1 });
}

/** Saves a screenshot of `page` under tests/artifacts. */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
