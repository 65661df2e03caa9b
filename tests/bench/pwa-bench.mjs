// How fast the teacher app opens, in headless Chromium against the real server on loopback:
//
//   1. cold load to an interactive register: the teacher signed in on this tablet before, but
//      the app is not cached (no service worker, empty HTTP cache, no Cache Storage), so every
//      file comes over the network; timed from navigation start to the register's rows being
//      on screen with the engine loaded (the app's `rollcall:register-ready` mark);
//   2. offline reload to an interactive register: the network off, the app from the service
//      worker's copy;
//   3. the app shell's size on the wire, gzipped as the server sends it (every file the
//      service worker keeps), and what the cold load actually transferred.
//
// Run (after `cargo xtask build`, or with ROLLCALL_BIN naming a server binary):
//
//   node tests/bench/pwa-bench.mjs [--runs N]
//
// Machines here are shared and noisy: medians and p95 over N runs are printed, not single times.

import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_PASSWORD, ROOT, launchBrowser, startServer } from '../harness/index.mjs';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 15;

/** The shell the service worker keeps, read from www/sw.js so the two never disagree. */
function shellFiles() {
  const source = readFileSync(join(ROOT, 'www', 'sw.js'), 'utf8');
  const list = /const SHELL = \[([\s\S]*?)\];/.exec(source)[1].replace(/\/\/.*$/gm, '');
  return [...list.matchAll(/'([^']+)'/g)].map((match) => match[1]);
}

/** Bytes on the wire for `path` with `Accept-Encoding: gzip` (node's fetch would decompress). */
function wireSize(url) {
  return new Promise((resolve, reject) => {
    request(url, { headers: { 'Accept-Encoding': 'gzip' } }, (response) => {
      let bytes = 0;
      response.on('data', (chunk) => (bytes += chunk.length));
      response.on('end', () =>
        resolve({ bytes, encoding: response.headers['content-encoding'] ?? 'identity', status: response.statusCode }),
      );
    })
      .on('error', reject)
      .end();
  });
}

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { median: at(0.5), p95: at(0.95), min: sorted[0], max: sorted[sorted.length - 1] };
}

const ms = (value) => `${value.toFixed(0)} ms`;

async function readyTime(page) {
  await page.waitForSelector('main[data-screen="register"][data-ready] li.student', { timeout: 30_000 });
  return page.evaluate(() => performance.getEntriesByName('rollcall:register-ready')[0].startTime);
}

const server = await startServer();
const browser = await launchBrowser();
try {
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();
  await page.goto(`${server.url}/`);
  await page.getByLabel('Username').fill('teacher1');
  await page.getByLabel('Password', { exact: true }).fill(DEMO_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.register-card').first().click();
  await readyTime(page);
  const registerUrl = page.url();
  await page.waitForFunction(() => navigator.serviceWorker.controller);

  // 1. Cold loads.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  let transferred = 0;
  cdp.on('Network.loadingFinished', (event) => (transferred += event.encodedDataLength));
  const cold = [];
  const coldBytes = [];
  for (let run = 0; run < runs; run += 1) {
    await page.evaluate(async () => {
      for (const registration of await navigator.serviceWorker.getRegistrations()) await registration.unregister();
      for (const name of await caches.keys()) await caches.delete(name);
    });
    await cdp.send('Network.clearBrowserCache');
    await page.goto('about:blank');
    transferred = 0;
    await page.goto(registerUrl);
    cold.push(await readyTime(page));
    coldBytes.push(transferred);
  }
  await page.waitForFunction(() => navigator.serviceWorker.controller);
  await page.waitForFunction(async () => (await caches.keys()).some((name) => name.startsWith('rollcall-shell-')));
  await page.reload();
  await readyTime(page);

  // 2. Offline reloads.
  await context.setOffline(true);
  const offline = [];
  for (let run = 0; run < runs; run += 1) {
    await page.reload();
    offline.push(await readyTime(page));
  }
  await context.setOffline(false);

  // 3. The shell on the wire.
  const files = [];
  for (const path of shellFiles()) files.push({ path, ...(await wireSize(`${server.url}${path}`)) });
  const total = files.reduce((sum, file) => sum + file.bytes, 0);

  const coldStats = stats(cold);
  const offlineStats = stats(offline);
  console.log(`Rollcall teacher app, ${runs} runs each, headless Chromium, server ${server.binary}`);
  console.log('');
  console.log(`cold load → interactive register:    median ${ms(coldStats.median)}, p95 ${ms(coldStats.p95)} (min ${ms(coldStats.min)}, max ${ms(coldStats.max)})   target ≤ 1000 ms`);
  console.log(`offline reload → interactive register: median ${ms(offlineStats.median)}, p95 ${ms(offlineStats.p95)} (min ${ms(offlineStats.min)}, max ${ms(offlineStats.max)})   target ≤ 300 ms`);
  console.log(`bytes transferred by a cold load:     median ${Math.round(stats(coldBytes).median / 1024)} KB (page, app, engine, roster and register data)`);
  console.log('');
  console.log(`app shell on the wire (gzip as served): ${(total / 1024).toFixed(1)} KB in ${files.length} files`);
  for (const file of files.sort((a, b) => b.bytes - a.bytes)) {
    console.log(`  ${String(file.bytes).padStart(8)} B  ${file.encoding.padEnd(8)} ${file.path}${file.status === 200 ? '' : `  (HTTP ${file.status})`}`);
  }
} finally {
  await browser.close();
  await server.dispose();
}
