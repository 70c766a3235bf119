/**
 * Adapters hot-swapped on a running server (stories260K): a real llama.cpp LoRA adapter is written
 * with src/model/lora.ts (a rank-1 change of output.weight), loaded by run id and by file name,
 * and checked against two references: llama.cpp scoring the same tokens with the adapter in its own
 * context (src/model/llamacppLogprobs.ts), and llama.cpp scoring a merged model W + Delta. Unloading
 * must restore the base scores exactly; in-flight requests finish on the context they started on.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { needFixture } from '../helpers/fixtures.ts';
import { fixturePath } from '../../src/util/paths.ts';
import { Rng } from '../../src/util/rng.ts';
import { saveLoraAdapter, saveMergedModel } from '../../src/model/lora.ts';
import { llamaCppLogprobs } from '../../src/model/llamacppLogprobs.ts';
import { startServer, type RunningServer } from '../../src/server/server.ts';

const MODEL = fixturePath('models', 'stories260K.gguf');
const haveModel = fs.existsSync(MODEL);
const TEXTS = ['Once upon a time, there was a little girl named Lily.', 'The dog ran to the park and saw a big red ball.'];

/** A rank-1 change u v^T of output.weight (ne [64, 512]): moves the logits enough to see. */
function rank1Delta(seed: number, std: number): { tensor: string; ne: [number, number]; delta: Float32Array } {
  const rng = new Rng(seed);
  const nIn = 64;
  const nOut = 512;
  const u = rng.normalArray(nOut, std);
  const v = rng.normalArray(nIn, std);
  const delta = new Float32Array(nIn * nOut);
  for (let o = 0; o < nOut; o++) for (let i = 0; i < nIn; i++) delta[o * nIn + i] = u[o]! * v[i]!;
  return { tensor: 'output.weight', ne: [nIn, nOut], delta };
}

async function post(url: string, body: unknown) {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: JSON.parse(text), text };
}

function maxAbsDiff(a: Array<number | null>, b: ArrayLike<number>, offset = 1): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs((a[i + offset] as number) - b[i]!));
  return m;
}

test('fixture present', (t) => {
  needFixture(t, 'models', 'stories260K.gguf');
});

describe('adapters on a running server', { skip: !haveModel && 'fixture stories260K.gguf missing' }, () => {
  let dir: string;
  let srv: RunningServer;
  let client: OpenAI;
  let runAFile: string;
  let base: any;
  const score = async (extra: Record<string, unknown>) => {
    const r = await post(`${srv.url}/v1/score`, { input: TEXTS, ...extra });
    assert.equal(r.status, 200, r.text);
    return r.json;
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-adapters-'));
    fs.mkdirSync(path.join(dir, 'runA'));
    runAFile = path.join(dir, 'runA', 'adapter.gguf');
    saveLoraAdapter(runAFile, { baseGgufPath: MODEL, deltas: [rank1Delta(1, 0.3)], maxRank: 4 });
    fs.writeFileSync(path.join(dir, 'runA', 'meta.json'), JSON.stringify({ run_id: 'runA', method: 'test-rank1' }));
    fs.mkdirSync(path.join(dir, 'sweeps'));
    saveLoraAdapter(path.join(dir, 'sweeps', 'b.gguf'), { baseGgufPath: MODEL, deltas: [rank1Delta(2, 0.3)], maxRank: 4 });
    srv = await startServer({ model: MODEL, port: 0, gpu: 'cpu', parallel: 2, maxContexts: 2, logLevel: 'silent', adaptersDir: dir });
    client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    base = await score({});
  });

  after(async () => {
    await srv?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('load by run id: listed with its meta.json, scores change and match llama.cpp with the adapter', async () => {
    const load = await post(`${srv.url}/v1/adapters`, { name: 'runA' });
    assert.equal(load.status, 200, load.text);
    assert.equal(load.json.kind, 'run');
    assert.deepEqual(load.json.meta, { run_id: 'runA', method: 'test-rank1' });
    assert.equal(load.json.alpha, 4);
    const list = await (await fetch(`${srv.url}/v1/adapters`)).json();
    assert.deepEqual(
      list.data.map((a: any) => [a.name, a.scale]),
      [['runA', 1]],
    );
    const models = await client.models.list();
    assert.ok(models.data.some((m) => m.id === 'stories260K+runA'));

    const withA = await score({ model: 'stories260K+runA' });
    assert.equal(withA.model, 'stories260K+runA:1');
    for (let i = 0; i < TEXTS.length; i++) {
      const d = withA.data[i];
      assert.deepEqual(d.tokens, base.data[i].tokens);
      // The adapter moves the scores ...
      assert.ok(maxAbsDiff(d.logprobs, base.data[i].logprobs.slice(1)) > 1e-2, 'adapter did not change the scores');
      // ... exactly as llama.cpp applies it in a context of its own,
      const ref = await llamaCppLogprobs(MODEL, d.tokens, { lora: [{ filePath: runAFile, scale: 1 }] });
      assert.ok(maxAbsDiff(d.logprobs, ref.logprobs) < 1e-9, `text ${i}: ${maxAbsDiff(d.logprobs, ref.logprobs)}`);
    }
    // lm-evaluation-harness-style requests (token ids, echo, logprobs) see the adapter too.
    const lm = await post(`${srv.url}/v1/completions`, { model: 'stories260K+runA', prompt: withA.data.map((d: any) => d.tokens), echo: true, logprobs: 1, max_tokens: 0 });
    assert.equal(lm.status, 200, lm.text);
    assert.equal(lm.json.model, 'stories260K+runA:1');
    for (let i = 0; i < TEXTS.length; i++) {
      assert.ok(maxAbsDiff(lm.json.choices[i].logprobs.token_logprobs, withA.data[i].logprobs.slice(1)) <= 1e-6, `lm-eval style, text ${i}`);
    }
    // ... and as the merged model W + Delta scores (float32 rounding of the factors only).
    const merged = path.join(dir, 'merged.gguf');
    saveMergedModel(merged, { baseGgufPath: MODEL, deltas: [rank1Delta(1, 0.3)] });
    const refMerged = await llamaCppLogprobs(merged, withA.data[0].tokens);
    assert.ok(maxAbsDiff(withA.data[0].logprobs, refMerged.logprobs) < 1e-4, `merged: ${maxAbsDiff(withA.data[0].logprobs, refMerged.logprobs)}`);
    fs.rmSync(merged);
  });

  test('scale: "model" id and "adapters" field agree; scale 0 is the base exactly', async () => {
    const viaModel = await score({ model: 'stories260K+runA:0.5' });
    const viaField = await score({ adapters: [{ name: 'runA', scale: 0.5 }] });
    assert.deepEqual(viaModel.data, viaField.data);
    const ref = await llamaCppLogprobs(MODEL, viaModel.data[1].tokens, { lora: [{ filePath: runAFile, scale: 0.5 }] });
    assert.ok(maxAbsDiff(viaModel.data[1].logprobs, ref.logprobs) < 1e-9);
    const zero = await score({ model: 'stories260K+runA:0' });
    assert.deepEqual(zero.data, base.data);
    const both = await post(`${srv.url}/v1/score`, { input: 'x', model: 'stories260K+runA', adapters: [{ name: 'runA' }] });
    assert.equal(both.status, 400);
  });

  test('load by file name in a subfolder; two adapters at once; contexts stay LRU-bounded', async () => {
    const load = await post(`${srv.url}/v1/adapters`, { name: 'sweeps/b.gguf', scale: 0.7 });
    assert.equal(load.status, 200, load.text);
    assert.equal(load.json.kind, 'file');
    const b = await score({ model: 'stories260K+sweeps/b.gguf' });
    assert.equal(b.model, 'stories260K+sweeps/b.gguf:0.7');
    const ref = await llamaCppLogprobs(MODEL, b.data[0].tokens, { lora: [{ filePath: path.join(dir, 'sweeps', 'b.gguf'), scale: 0.7 }] });
    assert.ok(maxAbsDiff(b.data[0].logprobs, ref.logprobs) < 1e-9);
    const ab = await score({ model: 'stories260K+runA+sweeps/b.gguf' });
    const refAb = await llamaCppLogprobs(MODEL, ab.data[0].tokens, {
      lora: [
        { filePath: runAFile, scale: 1 },
        { filePath: path.join(dir, 'sweeps', 'b.gguf'), scale: 0.7 },
      ],
    });
    assert.ok(maxAbsDiff(ab.data[0].logprobs, refAb.logprobs) < 1e-6, `${maxAbsDiff(ab.data[0].logprobs, refAb.logprobs)}`);
    const h = await (await fetch(`${srv.url}/health`)).json();
    assert.ok(h.contexts.length <= 2, JSON.stringify(h.contexts));
  });

  test('unload restores the base scores exactly; in-flight requests finish on their context', async () => {
    // The greedy continuation under runA, for comparison with the one that runs across the unload.
    const prompt = 'Once upon a time';
    const expected = await client.completions.create({ model: 'stories260K+runA', prompt, max_tokens: 300, temperature: 0 });
    const baseText = await client.completions.create({ model: 'stories260K', prompt, max_tokens: 300, temperature: 0 });
    assert.notEqual(expected.choices[0]!.text, baseText.choices[0]!.text);

    const stream = await client.completions.create({ model: 'stories260K+runA', prompt, max_tokens: 300, temperature: 0, stream: true });
    let text = '';
    let finish: string | null = null;
    let unloaded = false;
    for await (const c of stream) {
      text += c.choices[0]?.text ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
      if (!unloaded && text.length > 0) {
        unloaded = true;
        const del = await fetch(`${srv.url}/v1/adapters/runA`, { method: 'DELETE' });
        assert.equal(del.status, 200);
        // New requests can no longer name it.
        const gone = await post(`${srv.url}/v1/score`, { input: 'x', model: 'stories260K+runA' });
        assert.equal(gone.status, 404);
        assert.equal(gone.json.error.code, 'adapter_not_loaded');
      }
    }
    assert.ok(unloaded);
    assert.equal(finish, 'length');
    assert.equal(text, expected.choices[0]!.text);

    const again = await score({});
    assert.deepEqual(again.data, base.data);
    const h = await (await fetch(`${srv.url}/health`)).json();
    assert.ok(!h.contexts.some((c: any) => c.adapters.some((a: any) => a.name === 'runA')), JSON.stringify(h.contexts));
    assert.deepEqual(
      h.adapters.map((a: any) => a.name),
      ['sweeps/b.gguf'],
    );
  });

  test('reloading a rewritten adapter file serves the new weights, not a stale cache', async () => {
    const first = await post(`${srv.url}/v1/adapters`, { name: 'runA' });
    assert.equal(first.status, 200);
    saveLoraAdapter(runAFile, { baseGgufPath: MODEL, deltas: [rank1Delta(3, 0.3)], maxRank: 4 });
    const second = await post(`${srv.url}/v1/adapters`, { name: 'runA' });
    assert.equal(second.status, 200);
    assert.notEqual(second.json.sha256, first.json.sha256);
    const s = await score({ model: 'stories260K+runA' });
    const ref = await llamaCppLogprobs(MODEL, s.data[0].tokens, { lora: [{ filePath: runAFile, scale: 1 }] });
    assert.ok(maxAbsDiff(s.data[0].logprobs, ref.logprobs) < 1e-9);
  });
});
