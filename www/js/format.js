// Words and numbers as a teacher reads them: statuses, names, dates and "2 min ago".

import { STATUS_CYCLE, STATUS_LABEL } from './rules.js';

// The statuses, their cycle and their words come from the Rust definitions (rules.js is generated).
// (Imported, then exported: a bare re-export would leave no STATUS_LABEL for this module's own use.)
export { STATUS_LABEL };

/** Every status, in the order a tap cycles through them. */
export const STATUSES = STATUS_CYCLE;

/** The status one tap on a student's name gives: unmarked starts at the first, the last wraps round. */
export function nextStatus(current) {
  const index = STATUS_CYCLE.indexOf(current);
  return STATUS_CYCLE[(index + 1) % STATUS_CYCLE.length];
}

/** "3 marks", "1 mark". */
export function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}

export function fullName(student) {
  return [student.givenName, student.familyName].filter(Boolean).join(' ') || student.externalId || 'Unknown student';
}

/** Two letters for the photo placeholder. */
export function initials(student) {
  const first = (student.givenName || '').trim()[0] ?? '';
  const last = (student.familyName || '').trim()[0] ?? '';
  return (first + last).toUpperCase() || '?';
}

const pad = (n) => String(n).padStart(2, '0');

/** A local calendar date as YYYY-MM-DD, `offsetDays` from today (the tablet's day, not UTC's). */
export function isoToday(offsetDays = 0) {
  const date = new Date();
  date.setDate(date.getDate() + offsetDays);
  return isoOf(date);
}

export function isoOf(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** Parses YYYY-MM-DD as a local date (Date's own parser would take it as UTC midnight). */
export function parseIso(iso) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso ?? '');
  if (!match) return null;
  const date = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  return isoOf(date) === iso ? date : null;
}

export function addDays(iso, days) {
  const date = parseIso(iso);
  date.setDate(date.getDate() + days);
  return isoOf(date);
}

const longDate = new Intl.DateTimeFormat('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const shortDate = new Intl.DateTimeFormat('en-GB', { weekday: 'short', day: 'numeric', month: 'short' });
const clock = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });

/** "Friday 21 November 2026". */
export function longDay(iso) {
  return longDate.format(parseIso(iso)).replace(',', '');
}

/** "Fri 21 Nov". */
export function shortDay(iso) {
  return shortDate.format(parseIso(iso)).replace(',', '');
}

/** "08:45" from "08:45:00". */
export function hhmm(time) {
  return (time ?? '').slice(0, 5);
}

/** "just now", "2 min ago", "3 h ago", "yesterday at 14:05", "Fri 14 Nov at 09:12". */
export function ago(ms, now = Date.now()) {
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 45) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 12) return `${hours} h ago`;
  const then = new Date(ms);
  if (isoOf(then) === isoToday()) return `today at ${clock.format(then)}`;
  if (isoOf(then) === isoToday(-1)) return `yesterday at ${clock.format(then)}`;
  return `${shortDate.format(then).replace(',', '')} at ${clock.format(then)}`;
}

/** "in 25 s", "in 3 min", "now". */
export function inTime(ms, now = Date.now()) {
  const seconds = Math.ceil((ms - now) / 1000);
  if (seconds <= 0) return 'now';
  if (seconds < 90) return `in ${seconds} s`;
  return `in ${Math.round(seconds / 60)} min`;
}

/**
 * Why the server refused a mark, in the teacher's words first and the server's detail after
 * (`short`: the teacher's words only, for a row).
 */
export function refusalReason({ code, message }, { short = false } = {}) {
  if (code === 'REGISTER_LOCKED') {
    return !short && message && !/locked by the office/i.test(message)
      ? `register locked by the office (${message})`
      : 'register locked by the office';
  }
  return message || 'refused by the server';
}

/** What an op set, in words: "Absent", "12 min late", "note “…”". */
export function valueText(op) {
  switch (op.field) {
    case 'status':
      return STATUS_LABEL[op.value] ?? String(op.value);
    case 'minutes_late':
      return op.value === null ? 'minutes late cleared' : `${op.value} min late`;
    case 'note':
      return op.value ? `note “${op.value}”` : 'note cleared';
    case 'submitted':
      return op.value ? 'register submitted' : 'submission withdrawn';
    default:
      return `${op.field} ${JSON.stringify(op.value)}`;
  }
}
