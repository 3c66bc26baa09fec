// A run, live: status, progress, outputs as soon as each exists, charged
// credits, error, cancel, and the timeline of its events. Used by the
// playground (a run just started) and the run page (any run).
import { h, fill, time, badge, errorBox, announce, credits } from './dom.js';

const final = new Set(['completed', 'failed']);

/** Renders an output: media previewed, text shown. */
export function outputView(o) {
  const link = h('a', { href: o.url, target: '_blank', rel: 'noopener' }, 'Open');
  let body;
  switch (o.type) {
    case 'imageUrl':
      body = h('img', { src: o.url, alt: `Output ${o.output_id}`, loading: 'lazy' });
      break;
    case 'videoUrl':
      body = h('video', { src: o.url, controls: true, preload: 'metadata', 'aria-label': `Output ${o.output_id}` });
      break;
    case 'audioUrl':
      body = h('audio', { src: o.url, controls: true, 'aria-label': `Output ${o.output_id}` });
      break;
    case 'documentUrl':
      body = null;
      break;
    default:
      body = h('pre', { class: 'output-text' }, o.url);
      return h('li', { class: 'card output', 'data-output': o.output_id },
        h('h3', {}, o.output_id, ' ', h('span', { class: 'muted' }, o.type)), body);
  }
  return h('li', { class: 'card output', 'data-output': o.output_id },
    h('h3', {}, o.output_id, ' ', h('span', { class: 'muted' }, o.type)), body, h('p', {}, link));
}

function summary(ev) {
  const d = ev.data || {};
  switch (ev.type) {
    case 'run.progress': return `${d.progress}%`;
    case 'run.output': return d.output ? `${d.output.output_id} (${d.output.type})` : '';
    case 'run.started': return d.started_at ? time(d.started_at) : '';
    case 'run.completed': return `${credits(d.charged_credits ?? 0)} charged`;
    case 'run.failed': return `${d.error_code || ''} ${d.error_message || ''}`.trim();
    case 'run.created': return d.status || '';
    case 'error': return (d.error && d.error.message) || '';
    default: return '';
  }
}

/**
 * Mounts a live view of the run into container. Returns {close} that stops
 * its stream. technique is the slug or id the run's URLs use.
 */
export function mountRun(container, api, technique, run, { inputs } = {}) {
  const ctl = new AbortController();
  let state = { ...run };
  const outputs = new Map();
  for (const o of run.outputs || []) outputs.set(o.output_id, o);

  const status = h('span', { id: 'run-status' });
  const progress = h('progress', { id: 'run-progress', max: 100, value: 0 });
  const progressText = h('span', { class: 'muted' });
  const facts = h('dl', { class: 'facts' });
  const errorEl = h('div');
  const outputsEl = h('ul', { class: 'outputs', 'aria-label': 'Outputs' });
  const timeline = h('ol', { class: 'timeline', id: 'run-timeline', 'aria-label': 'Events' });
  const note = h('p', { class: 'muted', role: 'status' });
  const cancel = h('button', { type: 'button', class: 'danger', id: 'run-cancel', hidden: true }, 'Cancel run');
  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    try {
      const r = await api.post(`techniques/${encodeURIComponent(technique)}/runs/${encodeURIComponent(state.run_id)}/cancel`);
      update(r);
      announce('Run canceled.');
    } catch (err) {
      fill(errorEl, errorBox(err));
      cancel.disabled = false;
    }
  });

  fill(container,
    h('section', { class: 'card', 'aria-labelledby': 'run-h' },
      h('h2', { id: 'run-h' }, 'Run ', h('code', {}, run.run_id), ' ', status),
      h('div', { class: 'field' }, h('label', { for: 'run-progress' }, 'Progress ', progressText), progress),
      errorEl, facts, h('p', {}, cancel), note),
    inputs ? h('section', { 'aria-labelledby': 'in-h' }, h('h2', { id: 'in-h' }, 'Inputs'),
      inputs.length ? h('dl', { class: 'facts' }, inputs.map((i) => [h('dt', {}, i.id, ' ', h('span', { class: 'muted' }, i.type)),
        h('dd', { class: 'wrap' }, i.value)])) : h('p', { class: 'muted' }, 'None.')) : null,
    h('section', { 'aria-labelledby': 'out-h' }, h('h2', { id: 'out-h' }, 'Outputs'), outputsEl),
    h('section', { 'aria-labelledby': 'tl-h' }, h('h2', { id: 'tl-h' }, 'Timeline'), timeline));

  function renderOutputs() {
    if (!outputs.size) {
      fill(outputsEl, h('li', { class: 'muted' }, final.has(state.status) ? 'No outputs.' : 'None yet.'));
      return;
    }
    const have = new Set([...outputsEl.querySelectorAll('[data-output]')].map((e) => e.dataset.output));
    if ([...outputs.keys()].some((k) => !have.has(k)) || have.size !== outputs.size) {
      fill(outputsEl, [...outputs.values()].map(outputView));
    }
  }

  function update(r) {
    const was = state.status;
    state = { ...state, ...r };
    if (Array.isArray(r.outputs) && r.outputs.length) {
      for (const o of r.outputs) outputs.set(o.output_id, o);
      // A final run's outputs carry fresh URLs: use them.
      if (final.has(state.status)) fill(outputsEl);
    }
    fill(status, badge(state.status));
    status.dataset.status = state.status;
    progress.value = state.progress || 0;
    progressText.textContent = `${state.progress || 0}%`;
    const rows = [['Technique', state.technique_id], ['Created', time(state.created_at)],
      ['Started', time(state.started_at)], ['Completed', time(state.completed_at)]];
    if (state.charged_credits !== undefined && state.charged_credits !== null) {
      rows.push(['Charged', `${credits(state.charged_credits)} ($${state.charged_cost ?? ''})`]);
    }
    fill(facts, rows.filter((r2) => r2[1]).map(([k, v]) => [h('dt', {}, k), h('dd', { 'data-fact': k }, v)]));
    if (state.error_code) {
      fill(errorEl, h('div', { class: 'error', role: 'alert', id: 'run-error' },
        h('strong', {}, state.error_code), ': ', state.error_message || ''));
    }
    cancel.hidden = final.has(state.status);
    renderOutputs();
    if (was !== state.status && final.has(state.status)) {
      announce(`Run ${state.status}.`);
      // The balance moved: the header shows it.
      window.dispatchEvent(new CustomEvent('florad:run-ended'));
    }
  }

  function addEvent(ev) {
    timeline.append(h('li', { 'data-type': ev.type },
      h('code', {}, `#${ev.id ?? '-'}`), ' ', h('strong', {}, ev.type), ' ', h('span', {}, summary(ev))));
  }

  update(run);
  let lastId = 0;
  let ended = final.has(run.status);
  const path = `techniques/${encodeURIComponent(technique)}/runs/${encodeURIComponent(run.run_id)}/events`;

  async function follow() {
    // From event 0: the whole timeline, then live events until the end.
    for (let attempt = 0; attempt < 6 && !ctl.signal.aborted; attempt++) {
      try {
        await api.stream(path, {
          lastEventId: lastId, signal: ctl.signal, onEvent(ev) {
            if (ev.id !== null && ev.id !== undefined) lastId = ev.id;
            addEvent(ev);
            const d = ev.data || {};
            switch (ev.type) {
              case 'run.output':
                if (d.output) outputs.set(d.output.output_id, d.output);
                renderOutputs();
                break;
              case 'run.progress':
                update({ progress: d.progress });
                break;
              case 'run.created': case 'run.started':
                update(d);
                break;
              case 'run.completed': case 'run.failed':
                ended = true;
                update(d);
                break;
              case 'error':
                fill(errorEl, errorBox({ code: d.error && d.error.code, message: d.error && d.error.message }));
                break;
              default:
            }
          },
        });
        if (ended) break;
      } catch (err) {
        if (ctl.signal.aborted) return;
        if (err && err.status) { fill(errorEl, errorBox(err)); return; }
        note.textContent = 'The event stream was interrupted; reconnecting…';
        await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
      }
    }
    if (ctl.signal.aborted) return;
    note.textContent = ended ? '' : 'The event stream ended; reload the page to follow the run.';
  }
  follow();
  return { close: () => ctl.abort(), get run() { return state; } };
}
