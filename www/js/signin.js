// The sign-in screen. The first sign-in on a tablet needs the server; after that the app opens
// straight into the teacher's data, network or not.

import { h, replaceChildren } from './dom.js';

/** What to tell a teacher for each way signing in can fail. */
function explain(error) {
  switch (error?.code) {
    case 'INVALID_CREDENTIALS':
      return 'Wrong username or password. Check both and try again (passwords are case-sensitive).';
    case 'OFFLINE':
      return (
        'Cannot reach the Rollcall server. Connect this tablet to the school Wi-Fi and try again. ' +
        'You need the network only for the first sign-in: after that Rollcall works without it.'
      );
    case 'RATE_LIMITED':
      return `${error.message} Wait a moment before trying again.`;
    default:
      return error?.message
        ? `Signing in failed: ${error.message}`
        : 'Signing in failed. Try again; if it keeps failing, tell school IT.';
  }
}

/** Mounts the form into `main`. `signIn(username, password)` resolves once the teacher is in. */
export function mountSignIn(main, { message, signIn }) {
  const error = h('p', { class: 'form-error', id: 'sign-in-error', role: 'alert', hidden: true });
  const username = h('input', {
    id: 'username',
    name: 'username',
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
  });
  const password = h('input', {
    id: 'password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const submit = h('button', { type: 'submit', class: 'button primary wide', text: 'Sign in' });
  const form = h(
    'form',
    { class: 'card sign-in', 'aria-labelledby': 'sign-in-title', novalidate: true },
    h('h1', { id: 'sign-in-title', text: 'Sign in to take the register' }),
    message ? h('p', { class: 'form-note', text: message }) : null,
    h('div', { class: 'field' }, h('label', { for: 'username', text: 'Username' }), username),
    h('div', { class: 'field' }, h('label', { for: 'password', text: 'Password' }), password),
    error,
    submit,
  );
  let busy = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (busy) return;
    if (!username.value.trim() || !password.value) {
      showError({ message: 'Enter your username and password.' }, 'Enter your username and password.');
      (username.value.trim() ? password : username).focus();
      return;
    }
    busy = true;
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    error.hidden = true;
    try {
      await signIn(username.value.trim(), password.value);
    } catch (failure) {
      showError(failure, explain(failure));
      password.select();
      password.focus();
    } finally {
      busy = false;
      submit.disabled = false;
      submit.textContent = 'Sign in';
    }
  });

  function showError(failure, text) {
    error.textContent = text;
    error.dataset.code = failure?.code ?? '';
    error.hidden = false;
    username.setAttribute('aria-describedby', 'sign-in-error');
    password.setAttribute('aria-describedby', 'sign-in-error');
  }

  main.dataset.screen = 'sign-in';
  delete main.dataset.ready;
  replaceChildren(main, form);
  main.dataset.ready = 'true';
  username.focus();
  return { dispose() {} };
}
