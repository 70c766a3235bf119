/**
 * Adapters of unlearning runs: adapters/<run-id>/ holds adapter.gguf (LoRA of the 2-D deltas),
 * meta.json (method, filter, step size, sha256 of the base checkpoint and of the forget set,
 * summary metrics) and, when a 1-D tensor changed, merged.gguf. References: llama.cpp scoring the
 * fine-tuned checkpoint with the adapter (node-llama-cpp), the inference server's /v1/score with the
 * adapter loaded by run id, and our engine on the unlearned weights must give the same per-token
 * log-probabilities (within the LoRA factorisation error, which is exact here: rank <= 64).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { prepare, makeContext, type Prepared } from '../../src/unlearn/prepare.ts';
import { writeUnlearnAdapter, loadUnlearnedModel, forgetSetSha256, readAdapterMeta } from '../../src/unlearn/adapter.ts';
import { runUnlearn } from '../../src/unlearn/run.ts';
import { SessionPool } from '../../src/model/sessions.ts';
import { sha256File } from '../../src/train/finetune.ts';
import { LlamaCppScorer } from '../../src/model/llamacppLogprobs.ts';
import { startServer } from '../../src/server/server.ts';
import type { CausalLM } from '../../src/model/model.ts';
import { needFixture } from '../helpers/fixtures.ts';
import { needLlamaCpp } from '../helpers/llamacpp.ts';
import { haveModel, tempDir, tinyRun, maxAbsDiff } from './helpers.ts';

test('fixture present', (t) => {
  needFixture(t, 'models', 'stories260K.gguf');
});

/** Per-token log-probs of token sequences under a model with our engine (evaluation graph). */
function engineLogprobs(model: CausalLM, seqs: number[][]): number[][] {
  const pool = new SessionPool(model);
  try {
    const s = pool.eval(Math.max(...seqs.map((x) => x.length)), seqs.length);
    s.setBatch(seqs);
    return s.tokenLogprobs();
  } finally {
    pool.dispose();
  }
}

describe('unlearning adapters', { skip: !haveModel && 'stories260K.gguf missing' }, () => {
  let dir: string;
  let p: Prepared;
  let adaptersDir: string;
  let texts: string[];
  let seqs: number[][];
  before(() => {
    dir = tempDir('adapter');
    adaptersDir = path.join(dir, 'adapters');
    const run = tinyRun(dir, { forget: 12, retain: 12, epochs: 1 });
    p = prepare({ from: run.out, evalLimit: 6 });
    texts = [p.forget[0]!.text, p.forget[5]!.text, p.retain[0]!.text, 'Once upon a time, there was a little dog.'];
    seqs = texts.map((x) => p.tokenizer.encode(x, { addBos: true }));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a run writes adapter.gguf + meta.json; llama.cpp and the server score it as our engine does', async (t) => {
    const { method, ctx } = makeContext(p, { method: 'first-epoch', filter: 'embedding,output', hyper: { eta: 1 } });
    let ours: number[][];
    try {
      const out = method.run(ctx);
      ours = engineLogprobs(ctx.work, seqs);
      const w = await writeUnlearnAdapter({
        adaptersDir,
        runId: 'fe-emb-out',
        maxRelError: 0, // the exact rank: the checks below compare with the unlearned weights at 1e-5
        baseCheckpoint: p.source.checkpoint,
        baseSha256: p.source.checkpointSha256,
        model: p.model,
        deltas: out.deltas,
        forget: ctx.forget,
        meta: { method: 'first-epoch', filter: ctx.filter, settings: out.settings, stepSize: 1 },
      });
      assert.equal(w.adapterPath, path.join(adaptersDir, 'fe-emb-out', 'adapter.gguf'));
      assert.equal(w.mergedPath, null);
      assert.deepEqual(w.oneDimensional, []);
      for (const r of w.lora) assert.ok(r.exact && r.relError < 1e-5, `${r.name}: rank ${r.rank}, rel error ${r.relError}`);
      t.diagnostic(`LoRA: ${w.lora.map((r) => `${r.name} rank ${r.rank} rel.err ${r.relError.toExponential(2)}`).join('; ')}`);
      const meta = readAdapterMeta(w.dir);
      assert.equal(meta.method, 'first-epoch');
      assert.equal(meta.filter, 'embedding,output');
      assert.equal(meta.stepSize, 1);
      assert.equal(meta.base.sha256, sha256File(p.source.checkpoint));
      assert.equal((meta.forgetSet as { sha256: string }).sha256, forgetSetSha256(p.forget));
      assert.equal((meta.forgetSet as { count: number }).count, 12);
      // no temporary folders left behind
      assert.deepEqual(fs.readdirSync(adaptersDir), ['fe-emb-out']);
      // the adapter's effective deltas rebuild the unlearned weights
      const rebuilt = loadUnlearnedModel(w.dir);
      for (const n of ctx.tensors) assert.ok(maxAbsDiff(rebuilt.weights.get(n)!.data, ctx.work.weights.get(n)!.data) < 1e-5, n);
    } finally {
      ctx.pool.dispose();
    }
    const baseLp = engineLogprobs(p.model, seqs);
    if (!(await needLlamaCpp(t))) return;
    const adapterFile = path.join(adaptersDir, 'fe-emb-out', 'adapter.gguf');
    const scorer = await LlamaCppScorer.open(p.source.checkpoint, { threads: 1, lora: [{ filePath: adapterFile }] });
    let worst = 0;
    let moved = 0;
    try {
      for (const [i, s] of seqs.entries()) {
        const lp = await scorer.logprobs(s);
        worst = Math.max(worst, maxAbsDiff(lp.logprobs, ours[i]!));
        moved = Math.max(moved, maxAbsDiff(ours[i]!, baseLp[i]!));
      }
    } finally {
      await scorer.dispose();
    }
    t.diagnostic(`llama.cpp + adapter vs our engine on the unlearned weights: max |dlogprob| ${worst.toExponential(2)} (the unlearning moved log-probs by up to ${moved.toFixed(3)})`);
    assert.ok(moved > 0.05, 'the unlearning should move the log-probs');
    assert.ok(worst < 2e-3, `llama.cpp with the adapter differs from our engine by ${worst}`);

    const srv = await startServer({ model: p.source.checkpoint, port: 0, gpu: 'cpu', threads: 1, parallel: 1, maxContexts: 2, logLevel: 'silent', adaptersDir });
    try {
      const load = await fetch(`${srv.url}/v1/adapters`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'fe-emb-out' }) });
      assert.equal(load.status, 200, await load.clone().text());
      const loaded = (await load.json()) as { meta: { method: string } };
      assert.equal(loaded.meta.method, 'first-epoch');
      const res = await fetch(`${srv.url}/v1/score`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'base+fe-emb-out', input: texts, return_tokens: true }) });
      const body = (await res.json()) as { data: Array<{ tokens: number[]; logprobs: Array<number | null> }> };
      assert.equal(res.status, 200, JSON.stringify(body));
      let worstSrv = 0;
      body.data.forEach((d, i) => {
        assert.deepEqual(d.tokens.slice(0, seqs[i]!.length), seqs[i]);
        worstSrv = Math.max(worstSrv, maxAbsDiff(d.logprobs.slice(1, seqs[i]!.length) as number[], ours[i]!));
      });
      t.diagnostic(`server /v1/score with the adapter vs our engine: max |dlogprob| ${worstSrv.toExponential(2)}`);
      assert.ok(worstSrv < 2e-3, `server differs by ${worstSrv}`);
    } finally {
      await srv.close();
    }
  });

  test('1-D changes go into merged.gguf (and the run says so); merged weights are exact', async () => {
    const r = await runUnlearn({ from: p.source.dir!, prepared: p, method: 'first-epoch', target: 'block:0,final_norm', hyper: { eta: 1 }, adaptersDir, runId: 'fe-block0-norm', quiet: true });
    const a = r.adapter!;
    assert.ok(a.mergedPath && fs.existsSync(a.mergedPath));
    assert.ok(a.adapterPath && fs.existsSync(a.adapterPath));
    assert.deepEqual(a.oneDimensional.sort(), ['blk.0.attn_norm.weight', 'blk.0.ffn_norm.weight', 'output_norm.weight']);
    assert.ok(a.notes.some((n) => /1-D tensor/.test(n) && /merged\.gguf/.test(n)));
    const meta = readAdapterMeta(a.dir);
    assert.equal((meta.files as { merged: string }).merged, 'merged.gguf');
    assert.ok((meta.metrics as Record<string, unknown>).forget);
    for (const f of ['adapter.gguf', 'merged.gguf', 'meta.json', 'result.json', 'report.md']) assert.ok(fs.existsSync(path.join(a.dir, f)), f);
    // report.md says so too, with the writer's notes
    const md = fs.readFileSync(path.join(a.dir, 'report.md'), 'utf8');
    for (const n of a.notes) assert.ok(md.includes(`- note: ${n}`), `report.md lacks the note: ${n}`);
    // merged = checkpoint + deltas, exactly (F32)
    const { method, ctx } = makeContext(p, { method: 'first-epoch', filter: 'block:0,final_norm', hyper: { eta: 1 } });
    try {
      method.run(ctx);
      const merged = loadUnlearnedModel(a.dir);
      for (const n of p.model.tensorNames) assert.equal(maxAbsDiff(merged.weights.get(n)!.data, ctx.work.weights.get(n)!.data), 0, n);
    } finally {
      ctx.pool.dispose();
    }
  });
});
