// The playground: a form generated from a technique's inputs, a Run
// button, the live run, and curl / TypeScript snippets for the same
// request.
import { h, fill, errorBox, announce, credits } from './dom.js';
import { apiBase } from './api.js';
import { mountRun } from './runview.js';

const mediaTypes = { imageUrl: 'image/*', videoUrl: 'video/*', audioUrl: 'audio/*', documentUrl: '' };

/** Remembers what a run was started with: the API's run reads leave the
 * inputs out, so the run page can show them only for runs started here. */
export function rememberInputs(runId, inputs) {
  try { sessionStorage.setItem(`florad.inputs.${runId}`, JSON.stringify(inputs)); } catch { /* full: not kept */ }
}

export function recalledInputs(runId) {
  try { return JSON.parse(sessionStorage.getItem(`florad.inputs.${runId}`) || 'null'); } catch { return null; }
}

function shellQuote(s) { return `'${s.replace(/'/g, `'\\''`)}'`; }

export function curlSnippet(slug, body) {
  return `curl -s ${apiBase}techniques/${slug}/runs \\\n` +
    '  -H "Authorization: Bearer $FLORA_API_KEY" -H "Content-Type: application/json" \\\n' +
    `  -d ${shellQuote(JSON.stringify(body))}`;
}

export function tsSnippet(slug, body) {
  return "import FLORA from '@flora-ai/flora';\n\n" +
    `const client = new FLORA({ baseURL: '${apiBase.replace(/\/$/, '')}', apiKey: process.env.FLORA_API_KEY });\n` +
    `const run = await client.techniques.runs.create('${slug}', ${JSON.stringify(body, null, 2)});\n` +
    'console.log(run.run_id, run.status);';
}

function snippet(id, title) {
  const pre = h('pre', { id, tabindex: 0, 'aria-label': title });
  const msg = h('span', { class: 'muted', role: 'status' });
  const copy = h('button', { type: 'button', class: 'secondary copy' }, `Copy ${title}`);
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(pre.textContent);
      msg.textContent = ' Copied.';
    } catch {
      // No clipboard permission: select the text for a manual copy.
      const sel = getSelection();
      const range = document.createRange();
      range.selectNodeContents(pre);
      sel.removeAllRanges();
      sel.addRange(range);
      msg.textContent = ' Selected: press Ctrl+C (⌘C) to copy.';
    }
  });
  return { el: h('div', { class: 'snippet' }, h('h3', {}, title), h('p', {}, copy, msg), pre), pre };
}

/** Builds the playground for technique t into container. Returns {close}. */
export function playground(container, api, t) {
  let live = null;
  const fields = [];
  const form = h('form', { id: 'playground', novalidate: true });
  for (const inp of t.inputs || []) {
    const fid = `in-${inp.id}`;
    const hint = inp.description ? h('p', { class: 'hint', id: `${fid}-hint` }, inp.description) : null;
    const req = !inp.optional;
    const label = `${inp.name || inp.id}${req ? '' : ' (optional)'}`;
    if (inp.type in mediaTypes) {
      const url = h('input', { type: 'url', id: fid, name: inp.id, inputmode: 'url', placeholder: 'https://…',
        'aria-describedby': hint ? `${fid}-hint` : null });
      const file = h('input', { type: 'file', id: `${fid}-file`, name: `${inp.id}-file`, accept: mediaTypes[inp.type] || null });
      const status = h('p', { class: 'hint', role: 'status' });
      file.addEventListener('change', () => { status.textContent = file.files.length ? `${file.files[0].name} will be uploaded when the run starts.` : ''; render(); });
      url.addEventListener('input', render);
      fields.push({ inp, url, file, status, req });
      form.append(h('fieldset', { class: 'field' },
        h('legend', {}, label, ' ', h('span', { class: 'muted' }, inp.type)), hint,
        h('div', { class: 'field' }, h('label', { for: fid }, 'URL'), url),
        h('div', { class: 'field' }, h('label', { for: `${fid}-file` }, 'or upload a file'), file, status)));
    } else {
      const area = h('textarea', { id: fid, name: inp.id, rows: 3, required: req, 'aria-describedby': hint ? `${fid}-hint` : null });
      area.addEventListener('input', render);
      fields.push({ inp, text: area, req });
      form.append(h('div', { class: 'field' }, h('label', { for: fid }, label), area, hint));
    }
  }
  const runBtn = h('button', { type: 'submit', id: 'run-button', disabled: !t.available },
    `Run (${credits(t.run_credits)})`);
  const errorEl = h('div');
  form.append(errorEl, h('p', {}, runBtn));
  const curl = snippet('snippet-curl', 'curl');
  const ts = snippet('snippet-ts', 'TypeScript SDK');
  const runEl = h('div', { id: 'run-live' });
  fill(container,
    h('div', { class: 'split' },
      h('section', { 'aria-labelledby': 'pg-h' }, h('h2', { id: 'pg-h' }, 'Playground'),
        t.available ? null : h('p', { class: 'notice' }, `Unavailable: ${t.unavailable_reason || 'runs cannot start now'}.`),
        form),
      h('section', { 'aria-labelledby': 'sn-h' }, h('h2', { id: 'sn-h' }, 'The same request'), curl.el, ts.el)),
    runEl);

  function body(values) {
    const inputs = [];
    for (const f of fields) {
      const v = values ? values.get(f.inp.id) : (f.text ? f.text.value : (f.file.files.length ? '<URL of the uploaded file>' : f.url.value.trim()));
      if (v === undefined || v === '') continue;
      inputs.push({ id: f.inp.id, type: f.inp.type, value: v });
    }
    return { inputs, mode: 'async' };
  }
  function render(values) {
    const b = body(values instanceof Map ? values : undefined);
    curl.pre.textContent = curlSnippet(t.slug, b);
    ts.pre.textContent = tsSnippet(t.slug, b);
  }
  render();

  async function upload(f) {
    const fd = new FormData();
    fd.append('file', f.file.files[0]);
    f.status.textContent = `Uploading ${f.file.files[0].name}…`;
    try {
      const asset = await api.request('POST', 'assets', { form: fd, headers: { 'Idempotency-Key': crypto.randomUUID() } });
      f.status.textContent = `Uploaded as ${asset.asset_id}.`;
      return asset.url || asset.asset_id;
    } catch (err) {
      if (err.status === 404 && err.code === 'not_found') {
        err.message = 'This server does not take uploads (no assets API): give the file as a URL instead.';
      }
      throw err;
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    fill(errorEl);
    const missing = fields.filter((f) => f.req && (f.text ? !f.text.value : (!f.url.value.trim() && !f.file.files.length)));
    if (missing.length) {
      fill(errorEl, errorBox({ code: 'input_validation_error', message: 'Some required inputs are empty.',
        fields: missing.map((f) => ({ field: f.inp.id, message: 'is required' })) }));
      (missing[0].text || missing[0].url).focus();
      return;
    }
    runBtn.disabled = true;
    try {
      const values = new Map();
      for (const f of fields) {
        if (f.text) values.set(f.inp.id, f.text.value);
        else if (f.file.files.length) values.set(f.inp.id, await upload(f));
        else if (f.url.value.trim()) values.set(f.inp.id, f.url.value.trim());
      }
      render(values);
      const b = body(values);
      const run = await api.post(`techniques/${encodeURIComponent(t.slug)}/runs`, b,
        { headers: { 'Idempotency-Key': crypto.randomUUID() } });
      rememberInputs(run.run_id, b.inputs);
      announce(`Run ${run.run_id} started.`);
      if (live) live.close();
      live = mountRun(runEl, api, t.slug, run, { inputs: b.inputs });
      runEl.prepend(h('p', {}, h('a', { href: `#/runs/${encodeURIComponent(t.slug)}/${encodeURIComponent(run.run_id)}` }, 'Open the run page')));
    } catch (err) {
      fill(errorEl, errorBox(err));
    } finally {
      runBtn.disabled = !t.available;
    }
  });
  return { close: () => { if (live) live.close(); } };
}
