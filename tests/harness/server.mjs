// The real `rollcall` binary for end-to-end tests: a temp data directory seeded with the demo
// school, a free loopback port, and stop / kill / restart on that same port and data, so a
// browser can lose its server and find it again at the same address.
//
// Contract with `cargo xtask test`: ROLLCALL_BIN names the binary to run. Without it, the
// workspace's release build is used, then the debug build.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The demo school's logins (see the README). */
export const DEMO_PASSWORD = 'rollcall-demo';
export const DEMO_TEACHERS = ['teacher1', 'teacher2', 'teacher3', 'teacher4'];

/** Finds the server binary, or says how to build it. */
export function serverBinary() {
  const candidates = [
    process.env.ROLLCALL_BIN,
    join(ROOT, 'target', 'release', 'rollcall'),
    join(ROOT, 'target', 'debug', 'rollcall'),
  ].filter(Boolean);
  const found = candidates.find((path) => existsSync(path));
  if (!found) {
    throw new Error(
      `no rollcall binary (looked at ${candidates.join(', ')}): run \`cargo xtask test\`, ` +
        'or build it with `cargo build -p rollcall-server` and set ROLLCALL_BIN',
    );
  }
  return found;
}

/** A loopback port nobody listens on right now. */
export async function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/**
 * Starts `rollcall serve` on a free port with a fresh data directory holding the demo school.
 * Returns a handle: `url`, `port`, `dataDir`, `log()`, `stop()`, `kill()`, `freeze()`, `thaw()`,
 * `start()`, `restart()`, `dispose()`.
 */
export async function startServer({ demo = true, env = {}, args = [], https = false } = {}) {
  const binary = serverBinary();
  const dataDir = mkdtempSync(join(tmpdir(), 'rollcall-e2e-'));
  const port = await freePort();
  // `https`: the test passes TLS flags in `args` (e.g. `--tls auto`) and the server says https.
  const url = `${https ? 'https' : 'http'}://127.0.0.1:${port}`;
  const childEnv = { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn', ...env };
  if (demo) {
    const seeded = spawnSync(binary, ['demo', '--data-dir', dataDir], { env: childEnv, encoding: 'utf8' });
    if (seeded.status !== 0) {
      throw new Error(`\`rollcall demo\` failed (${seeded.status}): ${seeded.stderr || seeded.stdout}`);
    }
  }
  let child = null;
  let output = '';

  const handle = {
    url,
    port,
    dataDir,
    binary,
    /** Everything the server printed so far (for failure messages). */
    log: () => output,
    get running() {
      return child !== null;
    },
    /** Starts the server (again) on the same port and data; resolves once it says it listens. */
    async start() {
      if (child) return handle;
      const process_ = spawn(binary, ['serve', '--bind', `127.0.0.1:${port}`, '--data-dir', dataDir, ...args], {
        env: childEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = process_;
      process_.stderr.on('data', (chunk) => (output += chunk));
      // `rollcall serve` prints this line once its port is bound and the server has started.
      const listening = `Rollcall is running at ${url}/\n`;
      await new Promise((started, failed) => {
        let printed = '';
        const deadline = setTimeout(
          () => failed(new Error(`rollcall serve did not say it was listening within 30 s:\n${output}`)),
          30_000,
        );
        process_.stdout.on('data', (chunk) => {
          output += chunk;
          printed += chunk;
          if (printed.includes(listening)) {
            clearTimeout(deadline);
            started();
          }
        });
        process_.on('exit', (code, signal) => {
          if (child === process_) child = null;
          clearTimeout(deadline);
          failed(new Error(`rollcall serve exited (${JSON.stringify({ code, signal })}) before listening:\n${output}`));
        });
      });
      return handle;
    },
    /** Stops the server gracefully (SIGTERM) and waits for it to exit. */
    async stop() {
      await stopWith('SIGTERM');
    },
    /** Kills the server outright (SIGKILL), as a power cut would. */
    async kill() {
      await stopWith('SIGKILL');
    },
    /** Freezes the server process (SIGSTOP): connections open, nothing answers — a hung server. */
    freeze() {
      // Said loudly: a freeze that stopped nothing would pass for a server that answers anyway.
      if (!child?.kill('SIGSTOP')) throw new Error(`freeze: no running server to stop:\n${output}`);
    },
    /** Lets a frozen server run again (SIGCONT). */
    thaw() {
      child?.kill('SIGCONT');
    },
    async restart() {
      await handle.stop();
      return handle.start();
    },
    /** Stops the server and deletes its data directory. */
    async dispose() {
      await handle.kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };

  async function stopWith(signal) {
    const running = child;
    if (!running) return;
    running.kill('SIGCONT'); // a frozen server must run to handle SIGTERM
    const exited = new Promise((done) => running.once('exit', done));
    running.kill(signal);
    const timeout = sleep(15_000).then(() => 'timeout');
    if ((await Promise.race([exited, timeout])) === 'timeout') {
      running.kill('SIGKILL');
      await exited;
    }
    child = null;
  }

  await handle.start();
  return handle;
}
