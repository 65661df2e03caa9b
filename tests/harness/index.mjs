// The end-to-end harness: the real server binary, real headless Chromium, and the API from Node.
// Reused by every tests/*.test.mjs (the client core's and the PWA's).

export * from './server.mjs';
export * from './browser.mjs';
export * from './api.mjs';

/** A date as YYYY-MM-DD, `offsetDays` from today (local time, as a teacher reads the calendar). */
export function isoDate(offsetDays = 0) {
  const date = new Date();
  date.setDate(date.getDate() + offsetDays);
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}
