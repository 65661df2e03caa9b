// The end-to-end harness: the real server binary, real headless Chromium, and the API from Node.
// Reused by every tests/*.test.mjs (the client core's and the PWA's).

import { after, before } from 'node:test';
import { launchBrowser } from './browser.mjs';
import { startServer } from './server.mjs';

export * from './server.mjs';
export * from './browser.mjs';
export * from './api.mjs';

/**
 * For a test file: starts one real server (`startServer(serverOptions)`) and one headless
 * Chromium before its tests and disposes of both after. Returns `{ server, browser }`, filled in
 * once the tests run.
 */
export function useServerAndBrowser(serverOptions = {}) {
  const env = { server: null, browser: null };
  before(async () => {
    env.server = await startServer(serverOptions);
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.dispose();
  });
  return env;
}

/** A date as YYYY-MM-DD, `offsetDays` from today (local time, as a teacher reads the calendar). */
export function isoDate(offsetDays = 0) {
  const date = new Date();
  date.setDate(date.getDate() + offsetDays);
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}
