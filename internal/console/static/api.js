// The console's only way to the server: the public API, with the key the
// user signed in with. Nothing here knows more than a customer would.

/** An error answer of the API, in its {"error": {...}} shape. */
export class APIError extends Error {
  constructor(status, body, requestId) {
    const e = (body && body.error) || {};
    super(e.message || `The server answered ${status}.`);
    this.status = status;
    this.code = e.code || '';
    this.fields = Array.isArray(e.fields) ? e.fields : [];
    this.requestId = requestId || '';
  }
}

/** Base of the API, on the origin that served the console. */
export const apiBase = new URL('/api/v1/', location.origin).href;

export class API {
  constructor(key) {
    this.key = key;
  }

  url(path, query) {
    const u = new URL(path.replace(/^\//, ''), apiBase);
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
    }
    return u.href;
  }

  /** Calls the API and returns the decoded JSON, or throws APIError. */
  async request(method, path, { query, body, form, headers, signal } = {}) {
    const h = { Authorization: `Bearer ${this.key}`, Accept: 'application/json', ...(headers || {}) };
    let payload;
    if (form) {
      payload = form;
    } else if (body !== undefined) {
      h['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(this.url(path, query), { method, headers: h, body: payload, signal, cache: 'no-store' });
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (!res.ok) throw new APIError(res.status, data, res.headers.get('request-id'));
    return data;
  }

  get(path, query, opts = {}) { return this.request('GET', path, { ...opts, query }); }
  post(path, body, opts = {}) { return this.request('POST', path, { ...opts, body }); }

  /**
   * Reads a run's server-sent events (with the key in a header, which
   * EventSource cannot send) and calls onEvent({id, type, data}) for each.
   * Resolves when the server ends the stream.
   */
  async stream(path, { lastEventId, signal, onEvent }) {
    const h = { Authorization: `Bearer ${this.key}`, Accept: 'text/event-stream' };
    if (lastEventId !== undefined && lastEventId !== null) h['Last-Event-ID'] = String(lastEventId);
    const res = await fetch(this.url(path), { headers: h, signal, cache: 'no-store' });
    if (res.status === 204) return;
    if (!res.ok) {
      let data = null;
      try { data = await res.json(); } catch { data = null; }
      throw new APIError(res.status, data, res.headers.get('request-id'));
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let ev = { id: null, type: '', data: [] };
    const dispatch = () => {
      if (ev.data.length) {
        let data = null;
        try { data = JSON.parse(ev.data.join('\n')); } catch { data = ev.data.join('\n'); }
        onEvent({ id: ev.id, type: ev.type || 'message', data });
      }
      ev = { id: null, type: '', data: [] };
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        if (line === '') { dispatch(); continue; }
        if (line.startsWith(':')) continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        const val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
        if (field === 'data') ev.data.push(val);
        else if (field === 'event') ev.type = val;
        else if (field === 'id') ev.id = Number(val);
      }
    }
  }
}
