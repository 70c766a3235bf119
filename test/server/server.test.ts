/**
 * The inference server on stories260K, in-process on an ephemeral loopback port, driven by the
 * official `openai` client (completions, streaming, chat) and by raw HTTP for the error paths.
 *
 * References: the fixture facts of stories260K (greedy text from BOS, token ids of "Once upon a
 * time"), and llama.cpp's own log-probabilities through src/model/llamacppLogprobs.ts (the engine of
 * `unlearnkit logprobs --engine llama.cpp`).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { needFixture } from '../helpers/fixtures.ts';
import { fixturePath } from '../../src/util/paths.ts';
import { startServer, type RunningServer } from '../../src/server/server.ts';
import { llamaCppLogprobs } from '../../src/model/llamacppLogprobs.ts';
import { readGguf } from '../../src/model/gguf.ts';
import { tokenizerFromGguf } from '../../src/model/tokenizer/index.ts';

const MODEL = fixturePath('models', 'stories260K.gguf');
const GREEDY = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.';
const haveModel = fs.existsSync(MODEL);

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, json, text, headers: r.headers };
}

test('fixture present', (t) => {
  needFixture(t, 'models', 'stories260K.gguf');
});

describe('inference server (stories260K)', { skip: !haveModel && 'fixture stories260K.gguf missing' }, () => {
  let srv: RunningServer;
  let client: OpenAI;
  let adaptersDir: string;

  before(async () => {
    adaptersDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-srv-adapters-'));
    srv = await startServer({ model: MODEL, port: 0, gpu: 'cpu', parallel: 2, logLevel: 'silent', adaptersDir, contextSize: 2048 });
    client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });

  after(async () => {
    await srv?.close();
    if (adaptersDir) fs.rmSync(adaptersDir, { recursive: true, force: true });
  });

  test('GET /health reports model, device, queue; /v1/models lists the base', async () => {
    const h = await (await fetch(`${srv.url}/health`)).json();
    assert.equal(h.status, 'ok');
    assert.equal(h.model.id, 'stories260K');
    assert.equal(h.model.architecture, 'llama');
    assert.equal(h.device.backend, 'cpu');
    assert.equal(h.threads, 1);
    assert.deepEqual(h.queue, { running: 0, queued: 0, slots: 2, max_queue: 64 });
    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      ['stories260K'],
    );
  });

  test('completions: greedy text from BOS is the fixture story', async () => {
    const r = await client.completions.create({ model: 'stories260K', prompt: '', max_tokens: 30, temperature: 0 });
    assert.ok(r.choices[0]!.text.startsWith(GREEDY.slice(0, 80)), r.choices[0]!.text);
    assert.equal(r.choices[0]!.finish_reason, 'length');
    assert.deepEqual(r.usage, { prompt_tokens: 1, completion_tokens: 30, total_tokens: 31 });
    assert.equal(r.model, 'stories260K');
  });

  test('completions: stop strings end the text before the stop', async () => {
    const r = await client.completions.create({ model: 'stories260K', prompt: '', max_tokens: 40, temperature: 0, stop: [' Lily'] });
    assert.equal(r.choices[0]!.text, 'Once upon a time, there was a little girl named');
    assert.equal(r.choices[0]!.finish_reason, 'stop');
  });

  test('completions: streaming gives the same text as non-streaming, plus usage', async () => {
    const prompt = 'Once upon a time';
    const full = await client.completions.create({ model: 'stories260K', prompt, max_tokens: 25, temperature: 0 });
    const stream = await client.completions.create({
      model: 'stories260K',
      prompt,
      max_tokens: 25,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let usage: unknown = null;
    let chunks = 0;
    for await (const c of stream) {
      chunks++;
      if (c.choices[0]) {
        text += c.choices[0].text;
        finish = c.choices[0].finish_reason ?? finish;
      }
      if (c.usage) usage = c.usage;
    }
    assert.ok(chunks > 5, `expected many chunks, got ${chunks}`);
    assert.equal(text, full.choices[0]!.text);
    assert.ok(text.startsWith(', there was a little girl named Lily.'), text);
    assert.equal(finish, 'length');
    assert.deepEqual(usage, full.usage);
  });

  test('chat: plain template, streaming equals non-streaming, prompt tokens as templated', async () => {
    const messages = [
      { role: 'system' as const, content: 'You tell short stories.' },
      { role: 'user' as const, content: 'Tell me a story about a cat.' },
    ];
    const r = await client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 20, temperature: 0 });
    const msg = r.choices[0]!.message;
    assert.equal(msg.role, 'assistant');
    assert.ok(msg.content && msg.content.length > 0);
    const m = srv.engine.model;
    const expectPrompt = 1 + m.tokenize('You tell short stories.\n\nUser: Tell me a story about a cat.\nAssistant:').length;
    assert.equal(r.usage!.prompt_tokens, expectPrompt);
    const s = await client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 20, temperature: 0, stream: true });
    let text = '';
    let role: string | undefined;
    for await (const c of s) {
      role ??= c.choices[0]?.delta.role;
      text += c.choices[0]?.delta.content ?? '';
    }
    assert.equal(role, 'assistant');
    assert.equal(text, msg.content);
  });

  test('/v1/score equals llama.cpp log-probabilities (logprobs --engine llama.cpp)', async () => {
    const texts = ['Once upon a time', 'The cat sat on the mat. It was happy.'];
    const r = await post(`${srv.url}/v1/score`, { input: texts, return_token_strings: true });
    assert.equal(r.status, 200, r.text);
    const d0 = r.json.data[0];
    // Fixture fact: BOS = 1, then the ids of the greedy story's first tokens.
    assert.deepEqual(d0.tokens, [1, 403, 407, 261, 378]);
    assert.equal(d0.logprobs[0], null);
    // `unlearnkit logprobs --engine llama.cpp` = our tokenizer with BOS, then llamaCppLogprobs.
    const tokenizer = tokenizerFromGguf(readGguf(MODEL));
    for (const [i, text] of texts.entries()) {
      const d = r.json.data[i];
      assert.deepEqual(d.tokens, tokenizer.encode(text, { addBos: true }));
      const ref = await llamaCppLogprobs(MODEL, d.tokens, { threads: 1 });
      assert.deepEqual(ref.tokens, d.tokens.slice(1));
      assert.equal(d.n_scored, ref.logprobs.length);
      for (let k = 0; k < ref.logprobs.length; k++) {
        assert.ok(Math.abs(d.logprobs[k + 1] - ref.logprobs[k]!) <= 1e-9, `${text} token ${k}: ${d.logprobs[k + 1]} vs ${ref.logprobs[k]}`);
      }
      const sum = [...ref.logprobs].reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(d.sum_logprob - sum) < 1e-9);
      assert.ok(Math.abs(d.perplexity - Math.exp(-sum / ref.logprobs.length)) < 1e-9);
      assert.equal(d.token_strings.length, d.tokens.length);
    }
    // The greedy continuation is likely under the model: every token of the fixture story has p > 0.05.
    const g = await post(`${srv.url}/v1/score`, { input: GREEDY });
    assert.ok(g.json.data[0].logprobs.slice(1).every((x: number) => x > Math.log(0.05)), JSON.stringify(g.json.data[0].logprobs));
  });

  test('malformed requests get the right 4xx JSON error and the server keeps serving', async () => {
    const u = srv.url;
    const cases: Array<{ what: string; path: string; body: unknown; status: number; param?: string; code?: string }> = [
      { what: 'invalid JSON', path: '/v1/completions', body: '{"prompt": ', status: 400, code: 'invalid_json' },
      { what: 'wrong type', path: '/v1/completions', body: { prompt: 'x', max_tokens: '5' }, status: 400, param: 'max_tokens' },
      { what: 'out of range', path: '/v1/completions', body: { prompt: 'x', temperature: 7 }, status: 400, param: 'temperature' },
      { what: 'max_tokens over the limit', path: '/v1/completions', body: { prompt: 'x', max_tokens: 1e6 }, status: 400, param: 'max_tokens' },
      { what: 'missing prompt', path: '/v1/completions', body: { max_tokens: 3 }, status: 400, param: 'prompt', code: 'missing_required_parameter' },
      { what: 'unknown field', path: '/v1/completions', body: { prompt: 'x', max_token: 3 }, status: 400, param: 'max_token', code: 'unknown_parameter' },
      { what: 'body not an object', path: '/v1/completions', body: '[1,2]', status: 400 },
      { what: 'prompt mixing token ids and strings', path: '/v1/completions', body: { prompt: [1, 'x'] }, status: 400, param: 'prompt[1]', code: 'invalid_token' },
      { what: 'n > 1', path: '/v1/completions', body: { prompt: 'x', n: 3 }, status: 400, param: 'n', code: 'unsupported_parameter' },
      { what: 'logprobs out of range', path: '/v1/completions', body: { prompt: 'x', logprobs: 99 }, status: 400, param: 'logprobs', code: 'invalid_logprobs' },
      { what: 'empty messages', path: '/v1/chat/completions', body: { messages: [] }, status: 400, param: 'messages' },
      { what: 'bad role', path: '/v1/chat/completions', body: { messages: [{ role: 'robot', content: 'x' }] }, status: 400, param: 'messages[0].role' },
      { what: 'content a number', path: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 5 }] }, status: 400, param: 'messages[0].content' },
      { what: 'image part', path: '/v1/chat/completions', body: { messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }, status: 400 },
      { what: 'tools', path: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 'x' }], tools: [{}] }, status: 400, param: 'tools' },
      { what: 'prompt longer than the context', path: '/v1/completions', body: { prompt: 'Once upon a time '.repeat(700) }, status: 400, code: 'context_length_exceeded' },
      { what: 'score text longer than the context', path: '/v1/score', body: { input: ['ok', 'a b '.repeat(2100)] }, status: 400, param: 'input[1]', code: 'context_length_exceeded' },
      { what: 'body over the size limit', path: '/v1/completions', body: { prompt: 'x'.repeat(1_100_000) }, status: 413, code: 'body_too_large' },
      { what: 'score input wrong type', path: '/v1/score', body: { input: 42 }, status: 400, param: 'input' },
      { what: 'unknown model', path: '/v1/completions', body: { model: 'gpt-4', prompt: 'x' }, status: 404, code: 'model_not_found' },
      { what: 'adapter not loaded (model id)', path: '/v1/completions', body: { model: 'stories260K+runX', prompt: 'x' }, status: 404, code: 'adapter_not_loaded' },
      { what: 'adapter not loaded (field)', path: '/v1/score', body: { input: 'x', adapters: [{ name: 'runX' }] }, status: 404, code: 'adapter_not_loaded' },
      { what: 'adapter scale not a number', path: '/v1/completions', body: { model: 'stories260K+runX:abc', prompt: 'x' }, status: 400, param: 'model' },
      { what: 'traversal in model id', path: '/v1/completions', body: { model: 'stories260K+../../etc/passwd', prompt: 'x' }, status: 400, code: 'invalid_adapter_name' },
      { what: 'traversal on load', path: '/v1/adapters', body: { name: '../outside' }, status: 400, code: 'invalid_adapter_name' },
      { what: 'absolute path on load', path: '/v1/adapters', body: { name: '/etc/passwd' }, status: 400, code: 'invalid_adapter_name' },
      { what: 'inner traversal on load', path: '/v1/adapters', body: { name: 'a/../../b.gguf' }, status: 400, code: 'invalid_adapter_name' },
      { what: 'unknown adapter on load', path: '/v1/adapters', body: { name: 'no-such-run' }, status: 404, code: 'adapter_not_found' },
      { what: 'adapter name wrong type', path: '/v1/adapters', body: { name: 7 }, status: 400, param: 'name' },
    ];
    for (const c of cases) {
      const r = await post(u + c.path, c.body);
      assert.equal(r.status, c.status, `${c.what}: ${r.text}`);
      assert.ok(r.json?.error?.message, `${c.what}: no error message: ${r.text}`);
      assert.equal(typeof r.json.error.type, 'string');
      if (c.param) assert.equal(r.json.error.param, c.param, `${c.what}: ${r.text}`);
      if (c.code) assert.equal(r.json.error.code, c.code, `${c.what}: ${r.text}`);
    }
    // Symlinks that leave the adapters directory, and a GGUF that is a model, not an adapter.
    fs.symlinkSync(MODEL, path.join(adaptersDir, 'escape.gguf'));
    fs.symlinkSync(path.dirname(MODEL), path.join(adaptersDir, 'escape-dir'));
    fs.copyFileSync(MODEL, path.join(adaptersDir, 'not-an-adapter.gguf'));
    for (const [name, status, code] of [
      ['escape.gguf', 400, 'invalid_adapter_name'],
      ['escape-dir', 400, 'invalid_adapter_name'],
      ['escape-dir/stories260K.gguf', 400, 'invalid_adapter_name'],
      ['not-an-adapter.gguf', 400, 'invalid_adapter'],
    ] as const) {
      const r = await post(`${u}/v1/adapters`, { name });
      assert.equal(r.status, status, `${name}: ${r.text}`);
      assert.equal(r.json.error.code, code, `${name}: ${r.text}`);
    }
    const del = await fetch(`${u}/v1/adapters/..%2F..%2Fetc`, { method: 'DELETE' });
    assert.equal(del.status, 400);
    const del2 = await fetch(`${u}/v1/adapters/never-loaded`, { method: 'DELETE' });
    assert.equal(del2.status, 404);
    const nf = await fetch(`${u}/v1/nothing-here`);
    assert.equal(nf.status, 404);
    assert.equal((await nf.json()).error.code, 'unknown_route');
    const txt = await fetch(`${u}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' });
    assert.equal(txt.status, 415);

    // Still serving, and the error responses were counted.
    const ok = await client.completions.create({ model: 'stories260K', prompt: '', max_tokens: 8, temperature: 0 });
    assert.ok(ok.choices[0]!.text.startsWith('Once upon a time'));
    const h = await (await fetch(`${u}/health`)).json();
    assert.equal(h.status, 'ok');
    assert.equal(h.queue.running, 0);
    const metrics = await (await fetch(`${u}/metrics`)).text();
    assert.match(metrics, /unlearnkit_http_requests_total\{route="\/v1\/completions",method="POST",status="400"\} \d+/);
    assert.match(metrics, /unlearnkit_http_requests_total\{route="\/v1\/completions",method="POST",status="413"\} 1/);
    assert.match(metrics, /unlearnkit_http_request_duration_seconds_bucket\{route="\/v1\/completions",le="\+Inf"\} \d+/);
    assert.match(metrics, /unlearnkit_completion_tokens_total\{endpoint="completions"\} \d+/);
  });
});

describe('server limits: auth, 429 queue, client disconnect, timeout', { skip: !haveModel && 'fixture stories260K.gguf missing' }, () => {
  let srv: RunningServer;
  const KEY = 'sekrit-key';
  const auth = { authorization: `Bearer ${KEY}` };

  before(async () => {
    srv = await startServer({
      model: MODEL,
      port: 0,
      gpu: 'cpu',
      parallel: 1,
      maxQueue: 0,
      apiKey: KEY,
      requestTimeoutMs: 1000,
      logLevel: 'silent',
      adaptersDir: os.tmpdir(),
    });
  });

  after(async () => {
    await srv?.close();
  });

  test('bearer API key: required except on /health', async () => {
    assert.equal((await fetch(`${srv.url}/health`)).status, 200);
    const none = await post(`${srv.url}/v1/completions`, { prompt: '', max_tokens: 2 });
    assert.equal(none.status, 401);
    assert.equal(none.json.error.code, 'invalid_api_key');
    const wrong = await post(`${srv.url}/v1/completions`, { prompt: '', max_tokens: 2 }, { authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
    assert.equal((await fetch(`${srv.url}/metrics`)).status, 401);
    const c = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const r = await c.completions.create({ model: 'stories260K', prompt: '', max_tokens: 4, temperature: 0 });
    assert.equal(r.choices[0]!.text, 'Once upon a time');
  });

  test('full queue gives 429 + Retry-After; a dropped stream stops generating and frees the slot', async () => {
    const ctl = new AbortController();
    const res = await fetch(`${srv.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ prompt: '', max_tokens: 2000, temperature: 0, stream: true }),
      signal: ctl.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    await reader.read(); // generation is running
    const busy = await post(`${srv.url}/v1/completions`, { prompt: '', max_tokens: 2 }, auth);
    assert.equal(busy.status, 429, busy.text);
    assert.equal(busy.json.error.code, 'queue_full');
    assert.ok(Number(busy.headers.get('retry-after')) >= 1);
    ctl.abort();
    // The slot comes back long before 2000 tokens could have been generated.
    const t0 = Date.now();
    let running = 1;
    while (running > 0 && Date.now() - t0 < 1000) {
      await new Promise((r) => setTimeout(r, 10));
      running = (await (await fetch(`${srv.url}/health`)).json()).queue.running;
    }
    assert.equal(running, 0);
    const metrics = await (await fetch(`${srv.url}/metrics`, { headers: auth })).text();
    assert.match(metrics, /unlearnkit_requests_aborted_total\{reason="client_closed"\} 1/);
    const m = /unlearnkit_completion_tokens_total\{endpoint="completions"\} (\d+)/.exec(metrics);
    assert.ok(m === null || Number(m[1]) < 2000, `generation was not stopped: ${m?.[1]} tokens`);
    const after = await post(`${srv.url}/v1/completions`, { prompt: '', max_tokens: 4, temperature: 0 }, auth);
    assert.equal(after.status, 200, after.text);
  });

  test('a request running past the timeout gets 504', async () => {
    const r = await post(`${srv.url}/v1/completions`, { prompt: '', max_tokens: 2000, temperature: 0 }, auth);
    assert.equal(r.status, 504, r.text.slice(0, 300));
    assert.equal(r.json.error.code, 'request_timeout');
    const ok = await post(`${srv.url}/v1/completions`, { prompt: '', max_tokens: 4, temperature: 0 }, auth);
    assert.equal(ok.status, 200);
  });
});
