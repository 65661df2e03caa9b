// One modal dialog (the native <dialog>: focus is trapped and Escape closes it).

import { h, replaceChildren } from './dom.js';

/**
 * Asks a question. Resolves true for `confirm`, false for `cancel` or Escape. `body` is text or
 * nodes; `extra` buttons ({label, value}) resolve with their value.
 */
export function confirmDialog({ title, body, confirm, cancel = 'Cancel', extra = [], danger = false }) {
  const dialog = document.getElementById('dialog');
  return new Promise((resolve) => {
    let result = false;
    const close = (value) => {
      result = value;
      dialog.close();
    };
    const confirmButton = h('button', {
      type: 'button',
      class: danger ? 'button danger' : 'button primary',
      text: confirm,
      on: { click: () => close(true) },
    });
    replaceChildren(
      dialog,
      h('h2', { id: 'dialog-title', text: title }),
      h('div', { class: 'dialog-body' }, typeof body === 'string' ? h('p', { text: body }) : body),
      h(
        'div',
        { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'button', text: cancel, on: { click: () => close(false) } }),
        extra.map(({ label, value }) =>
          h('button', { type: 'button', class: 'button', text: label, on: { click: () => close(value) } }),
        ),
        confirmButton,
      ),
    );
    dialog.addEventListener('close', () => resolve(result), { once: true });
    dialog.showModal();
    confirmButton.focus();
  });
}
