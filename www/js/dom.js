// A tiny DOM builder. No framework: the app is small, and everything must run under a CSP
// without inline script, so elements are made here and listeners attached in code.

/**
 * Creates an element. `props`: `class`, `text`, `on` ({event: handler}), `dataset`, `hidden`,
 * `disabled`, `value`, `checked`; anything else becomes an attribute (skipped when null/false).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') element.className = value;
    else if (key === 'text') element.textContent = value;
    else if (key === 'on') for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key === 'hidden' || key === 'disabled' || key === 'checked') element[key] = Boolean(value);
    else if (key === 'value') element.value = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `parent`. */
export function replaceChildren(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
}

/** Sets text only when it changed, so screen readers and layout are not disturbed for nothing. */
export function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

/** Reads `text` to screen-reader users once (a polite live region). */
export function announce(text) {
  const announcer = document.getElementById('announcer');
  announcer.textContent = '';
  // A change of content is what a live region announces: clear first so a repeat is read again.
  requestAnimationFrame(() => (announcer.textContent = text));
}

let idCounter = 0;
/** A unique element id with a readable prefix. */
export function uniqueId(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}
