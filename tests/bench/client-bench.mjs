// Benchmark of the wasm client core in headless Chromium against the real server on loopback
// (a script, not a test):
//   - mark() until durable (the promise resolves after the IndexedDB commit): p50 / p95;
//   - syncing 100 queued marks end to end: from syncNow() to the queue being empty and every op
//     acknowledged (push, then the pull that follows it);
//   - the requests one push of 30 marks causes from the pushing tablet while its event stream
//     (GET /api/v1/events) is open: its push and pull, and whatever its own change notice starts;
//   - the size of the wasm module and its JS glue as the server sends them: gzip (the target's
//     measure) and brotli (what Chromium takes), with `gzip -9` of the files for comparison.
//
// Usage: node tests/bench/client-bench.mjs   (needs a rollcall binary with www/pkg built in; the
// same ROLLCALL_BIN / ROLLCALL_CHROMIUM variables as the tests)

import { get } from 'node:http';
import { gzipSync } from 'node:zlib';
import {
  Api,
  DEMO_PASSWORD,
  call,
  isoDate,
  launchBrowser,
  op,
  openClientPage,
  recordNotices,
  signIn,
  startServer,
  waitFor,
} from '../harness/index.mjs';

const MARKS = Number(process.env.BENCH_MARKS ?? 1000);
const SYNC_RUNS = Number(process.env.BENCH_SYNC_RUNS ?? 15);

/**
 * The body the server sends for `path` to a browser that takes `acceptEncoding`, undecoded: the bytes
 * on the wire, read off the binary under test (the files in www/pkg may be newer than its copies).
 */
function served(server, path, acceptEncoding) {
  return new Promise((resolve, reject) => {
    get(`${server.url}${path}`, { headers: { 'accept-encoding': acceptEncoding } }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => {
        const sent = response.headers['content-encoding'] ?? 'identity';
        if (response.statusCode !== 200 || sent !== acceptEncoding) {
          reject(new Error(`${path} with ${acceptEncoding}: ${response.statusCode}, sent as ${sent}`));
        } else {
          resolve(Buffer.concat(chunks));
        }
      });
    }).on('error', reject);
  });
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    min: sorted[0],
    max: sorted[sorted.length - 1],
  };
}

const format = (ms) => `${ms.toFixed(2)} ms`;

const server = await startServer();
const browser = await launchBrowser();
try {
  const context = await browser.newContext();
  const page = await openClientPage(context, server);
  await signIn(page, 'teacher1', DEMO_PASSWORD, { autoSync: false });
  const date = isoDate(0);
  const registers = await call(page, 'registersOn', date);
  const views = [];
  for (const summary_ of registers) {
    views.push(await call(page, 'register', summary_.classId, date, summary_.period));
  }

  // mark() until durable, timed inside the page (no DevTools round trip in the figure).
  const markTimes = await page.evaluate(
    async ([views, marks]) => {
      const statuses = ['present', 'late', 'absent', 'excused'];
      const times = [];
      for (let i = 0; i < marks + 50; i++) {
        const view = views[i % views.length];
        const student = view.students[Math.floor(i / views.length) % view.students.length];
        const started = performance.now();
        await window.client.mark(view.classId, view.date, view.period, student.studentId, statuses[i % 4]);
        if (i >= 50) times.push(performance.now() - started); // the first 50 warm up
      }
      return times;
    },
    [views, MARKS],
  );
  const marking = summary(markTimes);

  // The floor under mark(): a bare IndexedDB transaction of the same shape (read the device and a
  // 30-student register, add an op, write both back, wait for the commit), in the same page. What
  // mark() takes above this is the engine's own work.
  const floorTimes = await page.evaluate(async (marks) => {
    const request = (r) => new Promise((resolve, reject) => {
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const opening = indexedDB.open('bench-floor', 1);
    opening.onupgradeneeded = () => {
      opening.result.createObjectStore('ops', { keyPath: 'seq', autoIncrement: true });
      opening.result.createObjectStore('registers', { keyPath: 'reg' });
      opening.result.createObjectStore('meta');
    };
    const db = await request(opening);
    const lww = { value: 'present', hlc: '0000019aa0b1c2d3-0000-0123456789abcdef' };
    const marksOf = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [crypto.randomUUID(), { status: lww, minutes_late: null, note: null }]),
    );
    const setup = db.transaction(['registers', 'meta'], 'readwrite');
    setup.objectStore('registers').put({ reg: 'r', server: { marks: marksOf }, local: { marks: marksOf } });
    setup.objectStore('meta').put({ node: 'n', last_hlc: lww.hlc }, 'device');
    await new Promise((resolve) => (setup.oncomplete = resolve));
    const times = [];
    for (let i = 0; i < marks + 50; i++) {
      const started = performance.now();
      const tx = db.transaction(['ops', 'registers', 'meta'], 'readwrite');
      const [device, register] = await Promise.all([
        request(tx.objectStore('meta').get('device')),
        request(tx.objectStore('registers').get('r')),
      ]);
      tx.objectStore('ops').add({ op_id: crypto.randomUUID(), reg: 'r', queued: 1, op: { value: 'late' } });
      tx.objectStore('registers').put(register);
      tx.objectStore('meta').put(device, 'device');
      await new Promise((resolve) => (tx.oncomplete = resolve));
      if (i >= 50) times.push(performance.now() - started);
    }
    db.close();
    return times;
  }, MARKS);
  const floor = summary(floorTimes);
  await call(page, 'syncNow');

  // Sync 100 queued marks end to end, several times.
  const syncTimes = [];
  for (let run = 0; run < SYNC_RUNS; run++) {
    const result = await page.evaluate(
      async ([views, run]) => {
        const statuses = ['present', 'late', 'absent', 'excused'];
        for (let i = 0; i < 100; i++) {
          const view = views[i % views.length];
          const student = view.students[Math.floor(i / views.length) % view.students.length];
          await window.client.mark(view.classId, view.date, view.period, student.studentId, statuses[(i + run) % 4]);
        }
        const queued = window.client.status().pending;
        const started = performance.now();
        const report = await window.client.syncNow();
        const elapsed = performance.now() - started;
        return { queued, elapsed, report, after: window.client.status().pending };
      },
      [views, run],
    );
    if (!result.report.ok || result.report.pushed !== result.queued || result.after !== 0) {
      throw new Error(`sync run ${run} did not empty the queue: ${JSON.stringify(result)}`);
    }
    syncTimes.push(result.elapsed);
  }
  const syncing = summary(syncTimes);

  // Requests caused by one push of 30 marks, from a tablet syncing on its own triggers with its
  // event stream open (debounce and idle poll ten minutes away, so only syncNow and the server's
  // notices start a sync). Counted from syncNow until the tablet has also heard of, and pulled,
  // another device's change made after its push: the stream delivers notices in order, so by
  // then it has handled the notice of its own push. That last pull is the other device's and is
  // not counted.
  const pusherContext = await browser.newContext();
  const pusher = await openClientPage(pusherContext, server);
  await recordNotices(pusher);
  await signIn(pusher, 'teacher1', DEMO_PASSWORD, { debounceMs: 600_000, idleIntervalMs: 600_000 });
  const settled = (what) =>
    waitFor(what, async () => {
      const status = await call(pusher, 'status');
      return status.lastSyncAt !== null && !status.syncing && status.nextSyncAt - Date.now() > 60_000;
    });
  await waitFor('the event stream', () => pusher.evaluate(() => window.notices.some((n) => n.type === 'ready')));
  await settled('the first sync');
  for (let i = 0; i < 30; i++) {
    const view = views[i % views.length];
    const student = view.students[Math.floor(i / views.length) % view.students.length];
    await call(pusher, 'mark', view.classId, view.date, view.period, student.studentId, 'absent');
  }
  await pusher.evaluate(() => {
    performance.clearResourceTimings();
    window.notices = [];
  });
  const pushReport = await call(pusher, 'syncNow');
  if (!pushReport.ok || pushReport.pushed !== 30) throw new Error(`the push of 30 marks: ${JSON.stringify(pushReport)}`);
  await waitFor('the notice of its own push', () => pusher.evaluate(() => window.notices.length >= 1));
  const office = 'b1c2d3e4f5061728';
  const note = `seen at the office ${Date.now()}`;
  const [{ classId, date: day, period }] = views;
  const studentId = views[0].students[0].studentId;
  const officeApi = await Api.login(server.url, 'teacher1', DEMO_PASSWORD);
  await officeApi.push(office, [op({ classId, date: day, period, studentId, field: 'note', value: note, wallMs: Date.now(), node: office })]);
  await waitFor('the other device’s change on the pushing tablet', async () => {
    const view = await call(pusher, 'register', classId, day, period);
    return view.students.find((student) => student.studentId === studentId).note === note;
  });
  await settled('the pushing tablet to settle');
  const requested = await pusher.evaluate(() =>
    performance
      .getEntriesByType('resource')
      .map((entry) => new URL(entry.name).pathname)
      .filter((path) => path.startsWith('/api/')),
  );
  const pushRequests = requested.length - 1;
  await pusherContext.close();

  const sizes = {};
  for (const encoding of ['gzip', 'br']) {
    sizes[encoding] = {
      wasm: (await served(server, '/pkg/rollcall_client_bg.wasm', encoding)).length,
      glue: (await served(server, '/pkg/rollcall_client.js', encoding)).length,
    };
  }
  const wasm = await served(server, '/pkg/rollcall_client_bg.wasm', 'identity');
  const glue = await served(server, '/pkg/rollcall_client.js', 'identity');
  const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
  const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

  console.log(`Rollcall client benchmark — headless Chromium, server ${server.binary} on loopback`);
  console.log(
    `mark() until durable (${marking.n} marks): p50 ${format(marking.p50)}, p95 ${format(marking.p95)}, ` +
      `min ${format(marking.min)}, max ${format(marking.max)}   [target p50 within 0.5 ms of the floor]`,
  );
  console.log(
    `  floor: a bare IndexedDB transaction of the same shape: p50 ${format(floor.p50)}, p95 ${format(floor.p95)}`,
  );
  console.log(
    `sync 100 queued marks end to end (${syncing.n} runs): p50 ${format(syncing.p50)}, p95 ${format(syncing.p95)}, ` +
      `min ${format(syncing.min)}, max ${format(syncing.max)}   [target <= 60 ms]`,
  );
  console.log(
    `requests one push of 30 marks causes (event stream open): ${pushRequests} ` +
      `(${requested.slice(0, -1).join(', ')})   [target: push and pull, no sync for its own notice]`,
  );
  const { gzip, br } = sizes;
  console.log(
    `size as served gzipped: wasm ${gzip.wasm} B + JS glue ${gzip.glue} B = ${gzip.wasm + gzip.glue} B ` +
      `(${kib(gzip.wasm + gzip.glue)})   [target <= 120 KB]`,
  );
  console.log(
    `  as served to Chromium (brotli): ${br.wasm} B + ${br.glue} B = ${br.wasm + br.glue} B (${kib(br.wasm + br.glue)}); ` +
      `raw ${wasm.length} B + ${glue.length} B; gzip -9 of them ${gz(wasm) + gz(glue)} B`,
  );
  await context.close();
} finally {
  await browser.close();
  await server.dispose();
}
