// The console's pages and its hash router. The API key lives in
// sessionStorage only: it is gone when the tab closes.
import { API } from './api.js';
import { h, fill, time, badge, table, errorBox, announce, credits } from './dom.js';
import { playground, recalledInputs } from './playground.js';
import { mountRun } from './runview.js';

const keyName = 'florad.key';
const main = document.getElementById('main');
let api = null;
let cleanup = null;

function signedIn() {
  const key = sessionStorage.getItem(keyName);
  api = key ? new API(key) : null;
  document.getElementById('nav').hidden = !api;
  return !!api;
}

function signOut(message) {
  // Requests that were in flight together all fail: the first one signs
  // out, and its message must not be wiped by the others.
  if (!api) return;
  sessionStorage.clear();
  api = null;
  document.getElementById('who').textContent = '';
  go('#/signin', message);
}

let flash = '';
function go(hash, message) {
  flash = message || '';
  if (location.hash === hash) route(); else location.hash = hash;
}

function page(title, ...children) {
  document.title = `${title} · florad console`;
  fill(main, h('h1', {}, title), flash ? h('p', { class: 'notice', role: 'status' }, flash) : null, ...children);
  flash = '';
  main.focus({ preventScroll: true });
}

function loading() { return h('p', { class: 'muted', role: 'status' }, 'Loading…'); }

/** Turns a refused key into a sign-in; other errors are shown in place. */
function failed(el, err) {
  if (err && err.status === 401) { signOut('The API refused the key: sign in again.'); return; }
  if (err && err.name === 'AbortError') return;
  fill(el, errorBox(err));
}

// ---- sign in

function signInPage() {
  const key = h('input', { type: 'password', id: 'api-key', name: 'key', autocomplete: 'off', required: true,
    spellcheck: 'false', 'aria-describedby': 'key-hint' });
  const err = h('div');
  const form = h('form', { id: 'signin', class: 'card' },
    h('div', { class: 'field' }, h('label', { for: 'api-key' }, 'API key'), key,
      h('p', { class: 'hint', id: 'key-hint' }, 'sk_live_… Kept in this tab only (session storage); every request is made with it.')),
    err, h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    fill(err);
    const k = key.value.trim();
    if (!k) { fill(err, errorBox({ message: 'Enter an API key.' })); key.focus(); return; }
    try {
      const ws = await new API(k).get('workspace');
      sessionStorage.setItem(keyName, k);
      signedIn();
      showWho(ws);
      go('#/techniques');
    } catch (e2) {
      fill(err, errorBox(e2));
      key.focus();
    }
  });
  page('Sign in', form);
  key.focus();
}

function showWho(ws) {
  document.getElementById('who').textContent = `${ws.name} · ${credits(ws.credit_balance)}`;
}

// ---- techniques

async function techniquesPage(q) {
  const list = h('ul', { class: 'grid', id: 'techniques', 'aria-live': 'polite' });
  const search = h('input', { type: 'search', id: 'tech-search', value: q.get('query') || '', 'aria-controls': 'techniques' });
  let timer;
  let ctl = null;
  async function load() {
    if (ctl) ctl.abort();
    ctl = new AbortController();
    try {
      const res = await api.get('techniques', { query: search.value.trim(), limit: 100 }, { signal: ctl.signal });
      const ts = res.techniques || [];
      fill(list, ts.length ? ts.map((t) => h('li', {}, h('article', { class: 'card' },
        h('h2', {}, h('a', { href: `#/techniques/${encodeURIComponent(t.slug)}` }, t.name)),
        h('p', { class: 'muted mono' }, t.slug),
        t.description ? h('p', {}, t.description) : null,
        h('p', {}, `${credits(t.run_credits)} ($${t.run_cost}) · `,
          t.available ? h('span', { class: 'ok' }, 'available') : h('span', { class: 'bad' }, `unavailable: ${t.unavailable_reason || ''}`)))))
        : h('li', { class: 'muted' }, 'No technique matches.'));
    } catch (err) { failed(list, err); }
  }
  search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(load, 200); });
  page('Techniques', h('div', { class: 'field', role: 'search' }, h('label', { for: 'tech-search' }, 'Search techniques'), search), list);
  cleanup = () => { clearTimeout(timer); if (ctl) ctl.abort(); };
  await load();
}

function ioTable(caption, items) {
  return table(caption, ['id', 'name', 'type', 'description'],
    (items || []).map((i) => [h('code', {}, i.id), i.name + (i.optional ? ' (optional)' : ''), i.type, i.description || '']));
}

async function techniquePage(slug) {
  page('Technique', loading());
  try {
    const t = await api.get(`techniques/${encodeURIComponent(slug)}`);
    const pg = h('div');
    page(t.name,
      h('p', { class: 'muted mono' }, `${t.slug} · ${t.technique_id}`),
      t.description ? h('p', {}, t.description) : null,
      h('dl', { class: 'facts card' },
        h('dt', {}, 'Cost'), h('dd', {}, `${credits(t.run_credits)} ($${t.run_cost}) a run`),
        h('dt', {}, 'Availability'), h('dd', {}, t.available ? h('span', { class: 'ok' }, 'available') : h('span', { class: 'bad' }, `unavailable: ${t.unavailable_reason || ''}`))),
      h('h2', {}, 'Inputs'), ioTable('Inputs', t.inputs),
      h('h2', {}, 'Outputs'), ioTable('Outputs', t.outputs),
      h('p', {}, h('a', { href: `#/runs?technique_id=${encodeURIComponent(t.technique_id)}` }, 'Runs of this technique')),
      pg);
    const p = playground(pg, api, t);
    cleanup = p.close;
  } catch (err) { failed(main, err); }
}

// ---- runs

function dateMs(s, endOfDay) {
  if (!s) return '';
  const ms = Date.parse(`${s}T00:00:00Z`);
  return Number.isNaN(ms) ? '' : ms + (endOfDay ? 86400000 : 0);
}

async function runsPage(q) {
  const status = h('select', { id: 'f-status', name: 'status' },
    ['', 'pending', 'running', 'completed', 'failed'].map((s) => h('option', { value: s, selected: q.get('status') === s }, s || 'any')));
  const tech = h('select', { id: 'f-technique', name: 'technique_id' }, h('option', { value: '' }, 'any'));
  const after = h('input', { type: 'date', id: 'f-after', name: 'after', value: q.get('after') || '' });
  const before = h('input', { type: 'date', id: 'f-before', name: 'before', value: q.get('before') || '' });
  const limit = h('select', { id: 'f-limit', name: 'limit' },
    ['10', '20', '50', '100'].map((n) => h('option', { value: n, selected: (q.get('limit') || '20') === n }, n)));
  const form = h('form', { class: 'card row', id: 'run-filters', 'aria-label': 'Filters' },
    h('div', {}, h('label', { for: 'f-status' }, 'Status'), status),
    h('div', {}, h('label', { for: 'f-technique' }, 'Technique'), tech),
    h('div', {}, h('label', { for: 'f-after' }, 'Created on or after (UTC)'), after),
    h('div', {}, h('label', { for: 'f-before' }, 'Created on or before (UTC)'), before),
    h('div', {}, h('label', { for: 'f-limit' }, 'Per page'), limit),
    h('div', {}, h('button', { type: 'submit' }, 'Apply')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, el] of [['status', status], ['technique_id', tech], ['after', after], ['before', before], ['limit', limit]]) {
      if (el.value) p.set(k, el.value);
    }
    go(`#/runs${p.toString() ? `?${p}` : ''}`);
  });
  const results = h('div', { id: 'runs', 'aria-live': 'polite' }, loading());
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  page('Runs', form, results, pager);

  api.get('techniques', { limit: 100 }).then((res) => {
    for (const t of res.techniques || []) {
      tech.append(h('option', { value: t.technique_id, selected: q.get('technique_id') === t.technique_id || q.get('technique_id') === t.slug }, t.name));
    }
  }).catch((err) => {
    // A key that may read runs but not techniques still gets its history.
    if (err && err.status === 401) { failed(results, err); return; }
    tech.disabled = true;
    tech.title = `Techniques are not listed: ${err.message}`;
  });

  const cursors = [''];
  let at = 0;
  async function load() {
    try {
      const res = await api.get('technique-runs', {
        status: q.get('status'), technique_id: q.get('technique_id'), limit: q.get('limit') || 20,
        created_after: dateMs(q.get('after'), false), created_before: dateMs(q.get('before'), true), cursor: cursors[at],
      });
      const runs = res.technique_runs || [];
      fill(results, runs.length ? table('Runs', ['Run', 'Technique', 'Status', 'Progress', 'Created', 'Credits'],
        runs.map((r) => [h('a', { href: `#/runs/${encodeURIComponent(r.technique_id)}/${encodeURIComponent(r.run_id)}`, class: 'mono' }, r.run_id),
          (r.technique && r.technique.name) || r.technique_id, badge(r.status), `${r.progress}%`, time(r.created_at),
          r.charged_credits ?? '']))
        : h('p', { class: 'muted' }, 'No runs match.'));
      const next = res.meta && res.meta.next_cursor;
      if (next) cursors[at + 1] = next;
      const prevBtn = h('button', { type: 'button', class: 'secondary', id: 'page-prev', disabled: at === 0 }, 'Previous page');
      const nextBtn = h('button', { type: 'button', class: 'secondary', id: 'page-next', disabled: !next }, 'Next page');
      prevBtn.addEventListener('click', () => { at--; load().then(() => announce(`Page ${at + 1}.`)); });
      nextBtn.addEventListener('click', () => { at++; load().then(() => announce(`Page ${at + 1}.`)); });
      fill(pager, prevBtn, h('span', { id: 'page-number' }, `Page ${at + 1}`), nextBtn);
    } catch (err) { failed(results, err); }
  }
  await load();
}

async function runPage(technique, runId) {
  page('Run', loading());
  try {
    const run = await api.get(`techniques/${encodeURIComponent(technique)}/runs/${encodeURIComponent(runId)}`);
    const inputs = recalledInputs(runId);
    const holder = h('div');
    page('Run',
      h('p', {}, h('a', { href: '#/runs' }, 'All runs'), ' · ', h('a', { href: `#/techniques/${encodeURIComponent(technique)}` }, 'Technique')),
      holder,
      inputs ? null : h('p', { class: 'muted' }, "Inputs: the API does not return a run's inputs; the console shows them for runs started in this tab."),
      h('p', {}, h('a', { href: `#/webhooks?run_id=${encodeURIComponent(runId)}` }, 'Webhook deliveries of this run')));
    const live = mountRun(holder, api, technique, run, { inputs });
    cleanup = live.close;
  } catch (err) { failed(main, err); }
}

// ---- workspace

async function workspacePage() {
  page('Workspace', loading());
  try {
    const ws = await api.get('workspace');
    showWho(ws);
    const key = ws.key;
    const lim = ws.limits || {};
    const ledger = h('div', { id: 'ledger' }, loading());
    const pager = h('nav', { class: 'pager', 'aria-label': 'Ledger pages' });
    page('Workspace',
      h('dl', { class: 'facts card', id: 'workspace-facts' },
        h('dt', {}, 'Name'), h('dd', {}, ws.name),
        h('dt', {}, 'Workspace id'), h('dd', { class: 'mono' }, ws.workspace_id),
        h('dt', {}, 'Balance'), h('dd', { id: 'balance' }, credits(ws.credit_balance)),
        h('dt', {}, 'Credit price'), h('dd', {}, `$${ws.credit_price_usd}`),
        h('dt', {}, 'Rate limit'), h('dd', { id: 'rate-limit' }, lim.requests_per_second !== undefined
          ? `${lim.requests_per_second} requests/s, bursts of ${lim.request_burst}` : 'none')),
      h('h2', {}, 'This API key'),
      key ? h('dl', { class: 'facts card', id: 'key-facts' },
        h('dt', {}, 'Key id'), h('dd', { class: 'mono' }, key.key_id),
        h('dt', {}, 'Source'), h('dd', {}, key.source || ''),
        h('dt', {}, 'Scopes'), h('dd', { id: 'scopes' }, (key.scopes || []).length ? h('ul', {}, key.scopes.map((s) => h('li', { class: 'mono' }, s))) : 'none'),
        h('dt', {}, 'Daily cap'), h('dd', {}, key.max_credits_per_day === null || key.max_credits_per_day === undefined ? 'none' : credits(key.max_credits_per_day)),
        h('dt', {}, 'Spent today'), h('dd', {}, credits(key.credits_spent_today ?? 0)))
        : h('p', { class: 'muted', id: 'key-facts' }, 'This server does not report key scopes: the key can do everything its workspace can.'),
      h('h2', {}, 'Ledger'), ledger, pager);
    const cursors = [''];
    let at = 0;
    const load = async () => {
      try {
        const res = await api.get('workspace/ledger', { limit: 20, cursor: cursors[at] });
        const es = res.ledger_entries || [];
        fill(ledger, es.length ? table('Ledger', ['Entry', 'Kind', 'Amount', 'Balance after', 'Run', 'Memo', 'Time'],
          es.map((e) => [h('span', { class: 'mono' }, e.id), e.kind, e.amount > 0 ? `+${e.amount}` : String(e.amount), String(e.balance_after),
            e.run_id ? h('span', { class: 'mono' }, e.run_id) : '', e.memo || '', time(e.created_at)]))
          : h('p', { class: 'muted' }, 'No entries.'));
        const next = res.meta && res.meta.next_cursor;
        if (next) cursors[at + 1] = next;
        const prev = h('button', { type: 'button', class: 'secondary', disabled: at === 0 }, 'Previous page');
        const nxt = h('button', { type: 'button', class: 'secondary', disabled: !next }, 'Next page');
        const last = h('button', { type: 'button', class: 'secondary', id: 'ledger-last', disabled: !next }, 'Newest entries');
        prev.addEventListener('click', () => { at--; load(); });
        nxt.addEventListener('click', () => { at++; load(); });
        last.addEventListener('click', () => toNewest());
        fill(pager, prev, h('span', { id: 'ledger-page' }, `Page ${at + 1} (oldest first)`), nxt, last);
      } catch (err) { failed(ledger, err); }
    };
    // The ledger pages oldest first: the newest entries are on the last
    // page, reached by following the cursors (without rendering each page).
    const toNewest = async () => {
      try {
        for (;;) {
          const res = await api.get('workspace/ledger', { limit: 20, cursor: cursors[at] });
          const next = res.meta && res.meta.next_cursor;
          if (!next) break;
          cursors[at + 1] = next;
          at++;
        }
        await load();
        announce(`Page ${at + 1}, the newest entries.`);
      } catch (err) { failed(ledger, err); }
    };
    await load();
  } catch (err) { failed(main, err); }
}

// ---- webhooks

function deliveryView(d, onRedeliver) {
  const msg = h('span', { role: 'status', class: 'muted' });
  const btn = h('button', { type: 'button', class: 'secondary redeliver', 'aria-label': `Redeliver ${d.id}` }, 'Redeliver');
  btn.addEventListener('click', () => onRedeliver(d, btn, msg));
  return h('article', { class: 'card delivery', 'data-delivery': d.id, 'aria-labelledby': `d-${d.id}` },
    h('h2', { id: `d-${d.id}` }, h('code', {}, d.id), ' ', badge(d.state)),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Event'), h('dd', {}, d.type),
      h('dt', {}, 'Run'), h('dd', { class: 'mono' }, d.run_id),
      h('dt', {}, 'URL'), h('dd', { class: 'mono' }, d.url),
      h('dt', {}, 'Created'), h('dd', {}, time(d.created_at)),
      d.next_attempt_at ? [h('dt', {}, 'Next attempt'), h('dd', {}, time(d.next_attempt_at))] : null,
      h('dt', {}, 'Attempts'), h('dd', { class: 'attempt-count' }, String(d.attempt_count))),
    d.attempts.length ? table(`Attempts of ${d.id}`, ['#', 'Time', 'Status', 'Latency', 'Error'],
      d.attempts.map((a, i) => [String(i + 1), time(a.attempted_at), a.status_code === null ? 'no answer' : String(a.status_code),
        `${a.latency_ms} ms`, a.error || ''])) : h('p', { class: 'muted' }, 'No attempt yet.'),
    h('details', {}, h('summary', {}, 'Payload'), h('pre', {}, JSON.stringify(d.payload, null, 2))),
    h('p', {}, btn, msg));
}

async function webhooksPage(q) {
  const state = h('select', { id: 'w-state' },
    ['', 'pending', 'succeeded', 'failed'].map((s) => h('option', { value: s, selected: q.get('state') === s }, s || 'any')));
  const runId = h('input', { type: 'text', id: 'w-run', value: q.get('run_id') || '', spellcheck: 'false' });
  const form = h('form', { class: 'card row', 'aria-label': 'Filters' },
    h('div', {}, h('label', { for: 'w-state' }, 'State'), state),
    h('div', {}, h('label', { for: 'w-run' }, 'Run id'), runId),
    h('div', {}, h('button', { type: 'submit' }, 'Apply')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    if (state.value) p.set('state', state.value);
    if (runId.value.trim()) p.set('run_id', runId.value.trim());
    go(`#/webhooks${p.toString() ? `?${p}` : ''}`);
  });
  const list = h('div', { id: 'deliveries' }, loading());
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  page('Webhook deliveries', form, list, pager);
  const timers = new Set();
  cleanup = () => { for (const t of timers) clearTimeout(t); };

  async function redeliver(d, btn, msg) {
    btn.disabled = true;
    try {
      await api.post(`webhook-deliveries/${encodeURIComponent(d.id)}/redeliver`);
      msg.textContent = ' Redelivery queued; watching for the attempt…';
      announce('Redelivery queued.');
      // Follow the delivery until its new attempt shows (or 30 s pass).
      const until = Date.now() + 30000;
      const tick = async () => {
        try {
          const res = await api.get('webhook-deliveries', { run_id: d.run_id, limit: 100 });
          const now = (res.webhook_deliveries || []).find((x) => x.id === d.id);
          if (now && now.attempt_count > d.attempt_count) {
            const el = list.querySelector(`[data-delivery="${CSS.escape(d.id)}"]`);
            if (el) el.replaceWith(deliveryView(now, redeliver));
            announce(`Delivery ${d.id} ${now.state}.`);
            return;
          }
        } catch (err) { failed(msg, err); return; }
        if (Date.now() < until) { const t = setTimeout(tick, 500); timers.add(t); } else { msg.textContent = ' No new attempt yet; reload to look again.'; btn.disabled = false; }
      };
      tick();
    } catch (err) {
      failed(msg, err);
      btn.disabled = false;
    }
  }

  const cursors = [''];
  let at = 0;
  async function load() {
    try {
      const res = await api.get('webhook-deliveries', { state: q.get('state'), run_id: q.get('run_id'), limit: 20, cursor: cursors[at] });
      const ds = res.webhook_deliveries || [];
      fill(list, ds.length ? ds.map((d) => deliveryView(d, redeliver)) : h('p', { class: 'muted' }, 'No deliveries. Runs started with a callback_url get one when they end.'));
      const next = res.meta && res.meta.next_cursor;
      if (next) cursors[at + 1] = next;
      const prev = h('button', { type: 'button', class: 'secondary', disabled: at === 0 }, 'Previous page');
      const nxt = h('button', { type: 'button', class: 'secondary', disabled: !next }, 'Next page');
      prev.addEventListener('click', () => { at--; load(); });
      nxt.addEventListener('click', () => { at++; load(); });
      fill(pager, prev, h('span', {}, `Page ${at + 1}`), nxt);
    } catch (err) { failed(list, err); }
  }
  await load();
}

// ---- router

const routes = [
  [/^#\/techniques$/, (m, q) => techniquesPage(q)],
  [/^#\/techniques\/([^/]+)$/, (m) => techniquePage(decodeURIComponent(m[1]))],
  [/^#\/runs$/, (m, q) => runsPage(q)],
  [/^#\/runs\/([^/]+)\/([^/]+)$/, (m) => runPage(decodeURIComponent(m[1]), decodeURIComponent(m[2]))],
  [/^#\/workspace$/, () => workspacePage()],
  [/^#\/webhooks$/, (m, q) => webhooksPage(q)],
];

function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const [path, query] = (location.hash || '#/techniques').split('?');
  const q = new URLSearchParams(query || '');
  for (const a of document.querySelectorAll('#nav a')) {
    if (path.startsWith(a.getAttribute('href'))) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  if (!signedIn()) { signInPage(); return; }
  if (path === '#/signin') { go('#/techniques'); return; }
  for (const [re, fn] of routes) {
    const m = path.match(re);
    if (m) { fn(m, q); return; }
  }
  page('Not found', h('p', {}, 'No such page. ', h('a', { href: '#/techniques' }, 'Techniques')));
}

document.getElementById('signout').addEventListener('click', () => signOut('Signed out.'));
// The skip link moves the focus to the page's content; its #main must not
// reach the hash router.
document.querySelector('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener('hashchange', route);
window.addEventListener('florad:run-ended', () => {
  if (api) api.get('workspace').then(showWho).catch(() => { /* the header keeps the last balance */ });
});
if (signedIn()) api.get('workspace').then(showWho).catch((err) => { if (err.status === 401) signOut('The API refused the key: sign in again.'); });
route();
