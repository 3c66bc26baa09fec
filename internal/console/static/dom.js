// Small DOM helpers. Text from the API always goes in as text nodes, never
// as HTML.

/** h('a', {href: '#/x', class: 'c'}, 'text', child) builds an element. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces el's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A unix-millisecond time as UTC, to the second. */
export function time(ms) {
  if (ms === undefined || ms === null) return '';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

/** n credits, in words. */
export function credits(n) {
  return `${n} ${n === 1 || n === -1 ? 'credit' : 'credits'}`;
}

/** A status word as a badge. */
export function badge(status) {
  return h('span', { class: `badge s-${status}` }, status);
}

/** A table whose cells carry their column name, so that on a phone's width
 * each row becomes a labelled card. rows: arrays of cells. */
export function table(caption, headers, rows) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'stack' },
      caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) => h('td', { 'data-label': headers[i] }, c)))))));
}

/** An API error as an alert, with the fields it names. */
export function errorBox(err) {
  const fields = (err && err.fields) || [];
  return h('div', { class: 'error', role: 'alert' },
    h('strong', {}, err && err.code ? `${err.code}: ` : 'Error: '), (err && err.message) || String(err),
    fields.length ? h('ul', {}, fields.map((f) => h('li', {}, h('code', {}, f.field), ' ', f.message))) : null,
    err && err.requestId ? h('div', { class: 'muted' }, `request id ${err.requestId}`) : null);
}

/** Says msg to screen readers. */
export function announce(msg) {
  const el = document.getElementById('announce');
  if (el) { el.textContent = ''; setTimeout(() => { el.textContent = msg; }, 30); }
}
