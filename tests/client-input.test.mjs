// Bad input to the client core's JS API, in real headless Chromium against the real server: every
// call is refused with a stable code and a message that names what is wrong, nothing is queued or
// changed, and the client keeps working afterwards.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEMO_PASSWORD, call, isoDate, openClientPage, signIn, useServerAndBrowser } from './harness/index.mjs';

const env = useServerAndBrowser();

/** Calls `method` and returns the code and message it was refused with. */
async function refusal(page, method, ...args) {
  try {
    await call(page, method, ...args);
  } catch (error) {
    return { code: error.code, message: error.message };
  }
  assert.fail(`${method}(${args.map((a) => JSON.stringify(a)).join(', ')}) was accepted`);
}

test('bad arguments are refused with a stable code and leave the queue and the register untouched', async () => {
  const context = await env.browser.newContext();
  const page = await openClientPage(context, env.server);
  await signIn(page, 'teacher1', DEMO_PASSWORD, { autoSync: false });
  const date = isoDate(0);
  const [summary] = await call(page, 'registersOn', date);
  const at = [summary.classId, date, summary.period];
  const before = await call(page, 'register', ...at);
  const student = before.students[0].studentId;

  const cases = [
    // Rules of `shared`: the same checks the server makes.
    [['mark', ...at, student, 'sick'], 'VALIDATION', /unknown status "sick"/],
    [['markAll', ...at, 'Present'], 'VALIDATION', /unknown status "Present"/],
    [['setMinutesLate', ...at, student, 601], 'VALIDATION', /minutes/],
    [['setMinutesLate', ...at, student, -1], 'VALIDATION', /minutes/],
    [['setMinutesLate', ...at, student, 2.5], 'VALIDATION', /minutes/],
    [['setNote', ...at, student, 'x'.repeat(501)], 'VALIDATION', /500/],
    [['mark', summary.classId, '2026-02-30', summary.period, student, 'present'], 'VALIDATION', /not a real date/],
    [['registersOn', '22/11/2026'], 'VALIDATION', /not a real date/],
    // Ids and numbers the client parses itself.
    [['mark', 'nope', date, summary.period, student, 'present'], 'BAD_ARGUMENT', /class "nope" is not a valid id/],
    [['mark', ...at, 'nobody', 'present'], 'BAD_ARGUMENT', /student "nobody" is not a valid id/],
    [['mark', summary.classId, date, 1.5, student, 'present'], 'BAD_ARGUMENT', /whole number/],
    [['dismissRejected', 'not-an-op'], 'BAD_ARGUMENT', /op "not-an-op" is not a valid id/],
    // Not strings at all: wasm-bindgen would pass these into the module unchecked.
    [['setNote', ...at, student, 5], 'BAD_ARGUMENT', /note must be a string/],
    [['mark', 42, date, summary.period, student, 'present'], 'BAD_ARGUMENT', /classId must be a string/],
    [['mark', summary.classId, undefined, summary.period, student, 'present'], 'BAD_ARGUMENT', /date must be a string/],
    [['mark', ...at, { id: student }, 'present'], 'BAD_ARGUMENT', /studentId must be a string/],
    [['mark', ...at, student, null], 'BAD_ARGUMENT', /status must be a string/],
    [['submit', null, date, summary.period], 'BAD_ARGUMENT', /classId must be a string/],
    [['registersOn', 20261122], 'BAD_ARGUMENT', /date must be a string/],
    [['dismissRejected', 7], 'BAD_ARGUMENT', /opId must be a string/],
    [['signInAgain', undefined], 'BAD_ARGUMENT', /password must be a string/],
  ];
  for (const [[method, ...args], code, message] of cases) {
    const refused = await refusal(page, method, ...args);
    assert.equal(refused.code, code, `${method}: ${refused.message}`);
    assert.match(refused.message, message, method);
  }

  // Nothing was queued or half-applied.
  assert.equal((await call(page, 'status')).pending, 0);
  assert.deepEqual(await call(page, 'pending'), []);
  assert.deepEqual(await call(page, 'register', ...at), before);

  // And the client still works.
  await call(page, 'mark', ...at, student, 'present');
  assert.equal((await call(page, 'status')).pending, 1);
  await context.close();
});

test('signIn and resume refuse arguments that are not strings with BAD_ARGUMENT', async () => {
  const context = await env.browser.newContext();
  const page = await openClientPage(context, env.server);
  const refused = await page.evaluate(async (password) => {
    const { Rollcall } = window.rollcall;
    const codes = [];
    for (const attempt of [
      () => Rollcall.signIn(8080, 'teacher1', password),
      () => Rollcall.signIn('', undefined, password),
      () => Rollcall.signIn('', 'teacher1', 1234),
      () => Rollcall.resume(null),
    ]) {
      try {
        await attempt();
        codes.push('accepted');
      } catch (error) {
        codes.push(`${error.code}: ${error.message}`);
      }
    }
    return codes;
  }, DEMO_PASSWORD);
  assert.deepEqual(refused, [
    'BAD_ARGUMENT: baseUrl must be a string',
    'BAD_ARGUMENT: username must be a string',
    'BAD_ARGUMENT: password must be a string',
    'BAD_ARGUMENT: baseUrl must be a string',
  ]);
  await context.close();
});
