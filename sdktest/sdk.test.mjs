// Drives a running florad with FLORA's official TypeScript SDK, called
// exactly as a FLORA user would call it. sdk_test.go starts the server and
// sets the environment; run alone, it needs:
//   FLORA_BASE_URL        http://127.0.0.1:PORT/api/v1 (the SDK appends /techniques...)
//   FLORA_API_KEY         a key of a workspace with credits
//   FLORA_POOR_API_KEY    a key of a workspace with 0 credits
//   FLORA_BURST_API_KEY   a key of a workspace used only to exceed the rate limit (20/s, bursts of 40)
//   FLORA_TEST_IMAGE_URL  an http(s) URL of an image the server can fetch
//   FLORA_CAPPED_API_KEY  a key with a daily cap of 1 credit
//   FLORA_READER_API_KEY  a key with only runs:read and techniques:read
//   FLORA_CLERK_*_API_KEY Clerk keys (valid, read-only, revoked, and one whose
//                         verification fails with 502) the server's Clerk knows
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import FLORA, {
  APIError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  UnprocessableEntityError,
} from '@flora-ai/flora';

function env(name) {
  const v = process.env[name];
  assert.ok(v, `${name} must be set (see sdk_test.go)`);
  return v;
}

const baseURL = env('FLORA_BASE_URL');
const imageURL = env('FLORA_TEST_IMAGE_URL');

// The SDK reads FLORA_BASE_URL and FLORA_API_KEY itself, as it would for a
// user; they are passed explicitly too so the test says what it depends on.
const client = new FLORA({ baseURL, apiKey: env('FLORA_API_KEY'), timeout: 10_000 });
// Error cases must surface the first answer: with retries the SDK would
// resend 5xx/429 answers and hide them behind a slower failure.
const noRetry = { maxRetries: 0 };

// Polls with the SDK until the run ends, as FLORA's docs tell users to.
// The interval stays well under a per-workspace rate limit of 20 requests/s.
async function waitForEnd(slug, runID) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const run = await client.techniques.runs.retrieve(runID, { techniqueId: slug });
    assert.equal(run.run_id, runID);
    if (run.status === 'completed' || run.status === 'failed') return run;
    assert.ok(['pending', 'running'].includes(run.status), `unexpected status ${run.status}`);
    assert.ok(Date.now() < deadline, `run ${runID} still ${run.status} after 20 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// assertAPIError checks the SDK's class and status, and our error body:
// the SDK keeps the whole parsed JSON body in err.error.
async function assertAPIError(promise, cls, status, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof cls, `want ${cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
    assert.ok(err instanceof APIError);
    assert.equal(err.status, status);
    assert.equal(err.error?.error?.code, code, `body: ${JSON.stringify(err.error)}`);
    assert.equal(typeof err.error.error.message, 'string');
    assert.ok(err.headers.get('request-id')?.startsWith('req_'), 'request-id header');
    return true;
  });
}

test('techniques.list auto-paginates the catalog', async () => {
  // limit 1 makes every technique its own page, so the cursor round trip
  // (meta.next_cursor → ?cursor=) is exercised, not only the first page.
  const slugs = [];
  let pages = 0;
  for await (const t of client.techniques.list({ limit: 1 })) {
    assert.match(t.technique_id, /^tech_/);
    slugs.push(t.slug);
  }
  assert.ok(slugs.includes('portrait-enhancer'), `slugs: ${slugs}`);
  assert.ok(slugs.includes('prompt-expander'), `slugs: ${slugs}`);
  assert.equal(new Set(slugs).size, slugs.length, `a technique came twice: ${slugs}`);

  for (let page = await client.techniques.list({ limit: 1 }); ; page = await page.getNextPage()) {
    pages++;
    assert.equal(page.techniques.length, 1);
    if (!page.hasNextPage()) break;
  }
  assert.equal(pages, slugs.length);

  const page = await client.techniques.list();
  assert.ok(page.techniques.length >= 2);
});

test('techniques.retrieve returns the definition', async () => {
  const t = await client.techniques.retrieve('portrait-enhancer');
  assert.match(t.technique_id, /^tech_/);
  assert.equal(t.slug, 'portrait-enhancer');
  assert.equal(t.name, 'Portrait Enhancer');
  assert.equal(typeof t.description, 'string');
  assert.equal(typeof t.run_cost, 'number');
  assert.ok(t.run_cost > 0);
  assert.deepEqual(
    t.inputs.map(({ id, type }) => ({ id, type })),
    [{ id: 'input_image', type: 'imageUrl' }],
  );
  assert.deepEqual(
    t.outputs.map(({ id, type }) => ({ id, type })),
    [{ id: 'output_image', type: 'imageUrl' }],
  );

  // The technique id works wherever the slug does.
  const byID = await client.techniques.retrieve(t.technique_id);
  assert.equal(byID.slug, 'portrait-enhancer');
});

test('a text run completes with the text in outputs', async () => {
  const created = await client.techniques.runs.create('prompt-expander', {
    mode: 'async',
    inputs: [
      { id: 'prompt', type: 'text', value: 'a lighthouse at dusk' },
      { id: 'style', type: 'text', value: 'watercolor' },
    ],
  });
  assert.match(created.run_id, /^run_/);
  assert.equal(created.status, 'pending');
  assert.equal(typeof created.created_at, 'number');
  assert.equal(created.poll_url, `${baseURL}/techniques/prompt-expander/runs/${created.run_id}`);

  const run = await waitForEnd('prompt-expander', created.run_id);
  assert.equal(run.status, 'completed', `run failed: ${run.error_code} ${run.error_message}`);
  assert.equal(run.progress, 100);
  assert.equal(typeof run.completed_at, 'number');
  assert.equal(typeof run.charged_cost, 'number');
  assert.equal(run.outputs.length, 1);
  const [out] = run.outputs;
  assert.equal(out.type, 'text');
  assert.equal(typeof out.output_id, 'string');
  assert.ok(out.url.startsWith('a lighthouse at dusk, watercolor style'), `text: ${out.url}`);
});

test('an image run completes with a fetchable JPEG', async () => {
  const created = await client.techniques.runs.create('portrait-enhancer', {
    mode: 'async',
    inputs: [{ id: 'input_image', type: 'imageUrl', value: imageURL }],
  });
  assert.equal(created.status, 'pending');

  const run = await waitForEnd('portrait-enhancer', created.run_id);
  assert.equal(run.status, 'completed', `run failed: ${run.error_code} ${run.error_message}`);
  assert.equal(run.progress, 100);
  assert.equal(run.outputs.length, 1);
  const [out] = run.outputs;
  assert.equal(out.type, 'imageUrl');
  assert.match(out.url, /^https?:\/\//);

  // Output URLs are signed and need no API key, as with FLORA's CDN URLs.
  const res = await fetch(out.url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/jpeg');
  const body = new Uint8Array(await res.arrayBuffer());
  assert.deepEqual([...body.subarray(0, 3)], [0xff, 0xd8, 0xff], 'JPEG magic');
});

test('idempotency_key in the body returns the same run', async () => {
  const params = {
    mode: 'async',
    idempotency_key: `sdk-${randomUUID()}`,
    inputs: [{ id: 'prompt', type: 'text', value: 'a red kite over hills' }],
  };
  const first = await client.techniques.runs.create('prompt-expander', params).withResponse();
  const again = await client.techniques.runs.create('prompt-expander', params).withResponse();
  assert.equal(again.data.run_id, first.data.run_id);
  assert.equal(first.response.headers.get('idempotent-replayed'), null);
  assert.equal(again.response.headers.get('idempotent-replayed'), 'true');

  // The same key with another request is a conflict, which the SDK maps
  // to its 422 class.
  await assertAPIError(
    client.techniques.runs.create(
      'prompt-expander',
      { ...params, inputs: [{ id: 'prompt', type: 'text', value: 'something else' }] },
      noRetry,
    ),
    UnprocessableEntityError,
    422,
    'idempotency_conflict',
  );
});

test('the Idempotency-Key header, sent as a request option, returns the same run', async () => {
  // FLORA's client sets no idempotency header of its own; users pass one.
  const opts = { headers: { 'Idempotency-Key': `sdk-${randomUUID()}` } };
  const params = { mode: 'async', inputs: [{ id: 'prompt', type: 'text', value: 'a quiet harbor' }] };
  const first = await client.techniques.runs.create('prompt-expander', params, opts);
  const again = await client.techniques.runs.create('prompt-expander', params, opts);
  assert.equal(again.run_id, first.run_id);
});

test('400: bad input is a BadRequestError with input_validation_error', async () => {
  const p = client.techniques.runs.create(
    'prompt-expander',
    { mode: 'async', inputs: [{ id: 'nope', type: 'text', value: 'x' }] },
    noRetry,
  );
  await assertAPIError(p, BadRequestError, 400, 'input_validation_error');
  const err = await p.catch((e) => e);
  assert.ok(Array.isArray(err.error.error.fields) && err.error.error.fields.length > 0, 'fields');

  await assertAPIError(
    client.techniques.runs.create('prompt-expander', { mode: 'later', inputs: [] }, noRetry),
    BadRequestError,
    400,
    'input_validation_error',
  );
});

test('401: a bad key is an AuthenticationError with invalid_api_key', async () => {
  const bad = new FLORA({ baseURL, apiKey: 'sk_live_thisisnotakey', ...noRetry });
  await assertAPIError(bad.techniques.list(), AuthenticationError, 401, 'invalid_api_key');
  await assertAPIError(bad.techniques.retrieve('portrait-enhancer'), AuthenticationError, 401, 'invalid_api_key');
});

test('402: a workspace without credits gets insufficient_credits', async () => {
  const poor = new FLORA({ baseURL, apiKey: env('FLORA_POOR_API_KEY'), ...noRetry });
  const p = poor.techniques.runs.create('prompt-expander', {
    mode: 'async',
    inputs: [{ id: 'prompt', type: 'text', value: 'a castle' }],
  });
  // The SDK has no class of its own for 402: APIError.generate falls
  // through to the base APIError.
  await assertAPIError(p, APIError, 402, 'insufficient_credits');
  const err = await p.catch((e) => e);
  assert.equal(err.constructor, APIError);
  assert.equal(err.error.error.available, 0);
  assert.ok(err.error.error.required > 0);
});

test('404: unknown techniques and runs are NotFoundError', async () => {
  await assertAPIError(client.techniques.retrieve('no-such-technique', noRetry), NotFoundError, 404, 'not_found');
  await assertAPIError(
    client.techniques.runs.create(
      'no-such-technique',
      { mode: 'async', inputs: [{ id: 'prompt', type: 'text', value: 'x' }] },
      noRetry,
    ),
    NotFoundError,
    404,
    'not_found',
  );
  await assertAPIError(
    client.techniques.runs.retrieve('run_doesnotexist', { techniqueId: 'prompt-expander' }, noRetry),
    NotFoundError,
    404,
    'not_found',
  );
});

test('techniques.runs.list auto-paginates the run history', async () => {
  const mine = [];
  for (let i = 0; i < 5; i++) {
    const r = await client.techniques.runs.create('prompt-expander', {
      mode: 'async',
      inputs: [{ id: 'prompt', type: 'text', value: `history ${i}` }],
    });
    mine.push(r.run_id);
  }
  // limit 2 spreads even these five over three pages, so the SDK follows
  // meta.next_cursor as ?cursor= several times.
  const ids = [];
  let previous = Infinity;
  for await (const run of client.techniques.runs.list({ limit: 2 })) {
    assert.match(run.run_id, /^run_/);
    assert.equal(run.technique_run_id, run.run_id);
    assert.match(run.technique.technique_id, /^tech_/);
    assert.equal(typeof run.technique.name, 'string');
    assert.equal(typeof run.workspace_id, 'string');
    assert.ok(run.created_at <= previous, 'newest first');
    previous = run.created_at;
    ids.push(run.run_id);
  }
  assert.equal(new Set(ids).size, ids.length, `a run came twice: ${ids}`);
  for (const id of mine) assert.ok(ids.includes(id), `run ${id} missing from the history`);

  // Filters ride along on every page.
  const filtered = [];
  for await (const run of client.techniques.runs.list({ limit: 2, technique_id: 'prompt-expander' })) {
    assert.equal(run.technique.name, 'Prompt Expander');
    filtered.push(run.run_id);
  }
  assert.equal(new Set(filtered).size, filtered.length);
  for (const id of mine) assert.ok(filtered.includes(id));

  let pages = 0;
  for (let page = await client.techniques.runs.list({ limit: 2 }); ; page = await page.getNextPage()) {
    pages++;
    assert.ok(page.technique_runs.length <= 2);
    if (!page.hasNextPage()) break;
  }
  assert.equal(pages, Math.ceil(ids.length / 2));
});

// Our webhook deliveries must pass the SDK's own verifier unchanged: a real
// delivery, received by a real HTTP server, handed to client.webhooks.unwrap
// with the workspace's whsec_ secret.
test('webhooks.unwrap accepts our signed deliveries', async () => {
  const { createServer } = await import('node:http');
  const secret = env('FLORA_WEBHOOK_SECRET');
  const received = [];
  let resolveDelivery;
  const delivered = new Promise((r) => { resolveDelivery = r; });
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      res.writeHead(204).end();
      resolveDelivery();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address();
    const run = await client.techniques.runs.create('prompt-expander', {
      inputs: [{ id: 'prompt', type: 'text', value: 'a webhook at noon' }],
      mode: 'async',
      callback_url: `http://127.0.0.1:${port}/flora-webhook`,
    });
    await Promise.race([
      delivered,
      new Promise((_, reject) => setTimeout(() => reject(new Error('no delivery within 20 s')), 20_000)),
    ]);
    assert.equal(received.length, 1);
    const { body, headers } = received[0];
    const event = await client.webhooks.unwrap(body, headers, secret);
    assert.equal(event.type, 'run.completed');
    assert.equal(event.data.run_id, run.run_id);
    assert.equal(event.data.status, 'completed');
    assert.match(event.id, /^whd_/);
    assert.equal(headers['flora-webhook-id'], event.id);
    assert.equal(headers['flora-event'], 'run.completed');
    // A tampered body or a wrong secret must fail the SDK's check.
    await assert.rejects(client.webhooks.unwrap(body.replace('completed', 'failed'), headers, secret));
    await assert.rejects(client.webhooks.unwrap(body, headers, 'whsec_not_the_secret'));
  } finally {
    server.close();
  }
});

// The burst workspace's 40 tokens go to a volley of 120 lists at once: even
// on a slow machine that spreads it over seconds, some are refused.
test('429: over the rate limit is a RateLimitError with rate_limited', async () => {
  const burst = new FLORA({ baseURL, apiKey: env('FLORA_BURST_API_KEY'), timeout: 10_000 });
  const results = await Promise.allSettled(
    Array.from({ length: 120 }, () => burst.techniques.list({ limit: 1 }, noRetry)),
  );
  const refused = results.filter((r) => r.status === 'rejected');
  assert.ok(refused.length >= 1, `none of 120 refused; the burst is 40 and the rate 20/s`);
  for (const { reason: err } of refused) {
    assert.ok(err instanceof RateLimitError, `want RateLimitError, got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, 429);
    assert.equal(err.error?.error?.code, 'rate_limited');
    assert.ok(Number(err.headers.get('retry-after')) >= 1, 'retry-after in whole seconds');
  }

  // With its default retries the SDK waits as told and gets through.
  const again = await Promise.all(Array.from({ length: 30 }, () => burst.techniques.list({ limit: 1 })));
  assert.equal(again.length, 30);
  for (const page of again) assert.equal(page.techniques.length, 1);
});

// Keys with scopes and a daily cap, local and Clerk (sdk_test.go starts a
// fake Clerk on loopback and points florad at it).

test('a Clerk API key runs a technique like a local key', async () => {
  const clerk = new FLORA({ baseURL, apiKey: env('FLORA_CLERK_API_KEY'), timeout: 10_000 });
  const page = await clerk.techniques.list();
  assert.ok(page.techniques.length > 0);
  const run = await clerk.techniques.runs.create('prompt-expander', {
    mode: 'async',
    inputs: [{ id: 'prompt', type: 'text', value: 'a lighthouse' }],
  });
  for (const deadline = Date.now() + 20_000; ; ) {
    const r = await clerk.techniques.runs.retrieve(run.run_id, { techniqueId: 'prompt-expander' });
    if (r.status === 'completed') break;
    assert.ok(['pending', 'running'].includes(r.status), `unexpected status ${r.status}`);
    assert.ok(Date.now() < deadline, 'the Clerk key\'s run did not finish');
    await new Promise((res) => setTimeout(res, 100));
  }
});

test('401: a revoked Clerk key is an AuthenticationError with invalid_api_key', async () => {
  const revoked = new FLORA({ baseURL, apiKey: env('FLORA_CLERK_REVOKED_API_KEY'), ...noRetry });
  await assertAPIError(revoked.techniques.list(), AuthenticationError, 401, 'invalid_api_key');
});

test('403: read-only keys (local and Clerk) cannot create runs', async () => {
  for (const name of ['FLORA_READER_API_KEY', 'FLORA_CLERK_READER_API_KEY']) {
    const reader = new FLORA({ baseURL, apiKey: env(name), ...noRetry });
    await reader.techniques.list();
    const p = reader.techniques.runs.create('prompt-expander', {
      mode: 'async',
      inputs: [{ id: 'prompt', type: 'text', value: 'x' }],
    });
    await assertAPIError(p, PermissionDeniedError, 403, 'forbidden');
    const err = await p.catch((e) => e);
    assert.equal(err.error.error.message, 'This API key lacks the runs:write scope.');
  }
});

test('503: when Clerk fails, a Clerk key gets InternalServerError with retry-after, not 401', async () => {
  const down = new FLORA({ baseURL, apiKey: env('FLORA_CLERK_DOWN_API_KEY'), ...noRetry });
  const p = down.techniques.list();
  await assertAPIError(p, InternalServerError, 503, 'service_unavailable');
  const err = await p.catch((e) => e);
  assert.ok(Number(err.headers.get('retry-after')) > 0, 'retry-after');
});

test('402: past its daily cap a key gets insufficient_credits with its own figures', async () => {
  const capped = new FLORA({ baseURL, apiKey: env('FLORA_CAPPED_API_KEY'), ...noRetry });
  const body = { mode: 'async', inputs: [{ id: 'prompt', type: 'text', value: 'capped' }] };
  await capped.techniques.runs.create('prompt-expander', body);
  const p = capped.techniques.runs.create('prompt-expander', { ...body, inputs: [{ id: 'prompt', type: 'text', value: 'capped 2' }] });
  await assertAPIError(p, APIError, 402, 'insufficient_credits');
  const err = await p.catch((e) => e);
  assert.equal(err.error.error.required, 1);
  assert.equal(err.error.error.available, 0);
});
