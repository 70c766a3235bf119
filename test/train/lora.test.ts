/**
 * LoRA fine-tuning end to end through the CLI (`node --import tsx src/cli.ts ...`), on a tiny random
 * model of every family, with F32 and quantised bases, and a 12-fact slice of the Dave set:
 *   finetune --lora 4,8 --micro-batch 4 --record first-epoch
 *       the base stays in its stored type; adapter.gguf (llama.cpp LoRA, the base's sha256 in its
 *       metadata) and run.json's `lora`; the loss falls; the record holds A's and B's gradients
 *   unlearn --method first-epoch       on the adapter's factors: the forget perplexity rises, the
 *                                      written adapter is the fine-tune's plus the method's deltas
 *   eval --adapter                     the unlearned adapter's forget perplexity is above the
 *                                      fine-tuned adapter's
 *   llama.cpp (node-llama-cpp, lora)   the unlearned adapter on the base gives our log-probs within 1e-4
 * plus gradient methods (NPO) and the retain-only oracle on a LoRA run, and full fine-tuning's
 * checkpoint keeping the base's types (frozen tensors' bytes unchanged; trained ones F32 or
 * --save-type).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { writeRandomModel, type ModelShape } from '../../src/model/randomModel.ts';
import { quantizeGguf } from '../../src/model/quantize.ts';
import { CausalLM, sequenceLogprobs } from '../../src/model/model.ts';
import { ADAPTER_BASE_SHA256_KEY, attachLoraFile, readLoraAdapter } from '../../src/model/lora.ts';
import { getMeta, ggmlTypeName, readGguf, readTensorRaw } from '../../src/model/gguf.ts';
import { tokenizerFromGguf } from '../../src/model/tokenizer/index.ts';
import { sha256File } from '../../src/train/finetune.ts';
import { cliArgs } from '../helpers/cli.ts';
import { llamaLogprobs, maxAbsDiff } from '../helpers/llamacpp.ts';
import { tinyDave } from '../helpers/fixtures.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-lora-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A Dave-format folder with the first facts of each split (the full set takes minutes on 2 cores). */
const data = tinyDave(path.join(tmp, 'dave'), { forget: 12, retain: 12, holdout: 8, decoy: 4, general: 8 });

function cli(args: string[]): any {
  const r = spawnSync(process.execPath, cliArgs(...args, '--json', '--quiet'), {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, UNLEARNKIT_THREADS: process.env.UNLEARNKIT_THREADS ?? '1' },
  });
  assert.equal(r.status, 0, `unlearnkit ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

// 64 wide: with 32-wide Q8_0 matrices (one block per row) ggml's AMX kernels give llama.cpp itself wrong log-probs
const SMALL = { nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, nCtx: 256 };
const CASES: Array<{ label: string; shape: ModelShape; quant?: 'q8_0' | 'q4_k_m' }> = [
  { label: 'llama-f32', shape: { arch: 'llama', ...SMALL } },
  // K-quant rows are blocks of 256
  { label: 'llama-q4_k_m', shape: { arch: 'llama', nEmbd: 256, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 256, nCtx: 256 }, quant: 'q4_k_m' },
  { label: 'qwen2-q8_0', shape: { arch: 'qwen2', ...SMALL }, quant: 'q8_0' },
  { label: 'qwen3-q8_0', shape: { arch: 'qwen3', ...SMALL, headDim: 32, tiedOutput: false }, quant: 'q8_0' },
  { label: 'gpt2-q8_0', shape: { arch: 'gpt2', ...SMALL, nHeadKv: 4 }, quant: 'q8_0' },
];

function baseModel(c: (typeof CASES)[number]): string {
  const f32 = path.join(tmp, `${c.label}-f32.gguf`);
  writeRandomModel(f32, { shape: c.shape, vocab: { tiny: 384 }, seed: 3 });
  if (!c.quant) return f32;
  const q = path.join(tmp, `${c.label}.gguf`);
  quantizeGguf(f32, q, { type: c.quant });
  return q;
}

function forgetPerplexity(model: string, adapter: string, out: string): number {
  const r = cli(['eval', '--model', model, '--adapter', adapter, '--data', data, '--metrics', 'perplexity', '--splits', 'forget', '--limit', '12', '--out', path.join(tmp, out), '--no-report']);
  return r.metrics.perplexity.splits.forget.perplexity as number;
}

for (const c of CASES) {
  test(`${c.label}: finetune --lora -> first-epoch unlearn on the adapter -> eval with the adapter -> llama.cpp parity`, async (t) => {
    const t0 = performance.now();
    const model = baseModel(c);
    const base = CausalLM.load(model);
    const run = path.join(tmp, `${c.label}-run`);
    const ft = cli(['finetune', '--model', model, '--data', data, '--splits', 'forget,retain', '--epochs', '2', '--batch', '8', '--micro-batch', '4', '--lr', '3e-3', '--lora', '4,8', '--out', run, '--no-eval']);
    assert.equal(ft.adapter, path.join(run, 'adapter.gguf'));
    assert.ok(!fs.existsSync(path.join(run, 'checkpoint.gguf')), 'a LoRA run writes no full checkpoint');
    assert.ok(ft.epochs[1].meanLoss < ft.epochs[0].meanLoss, `loss ${ft.epochs.map((e: { meanLoss: number }) => e.meanLoss).join(' -> ')}`);
    const runJson = JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8'));
    const matrices = base.tensorNames.filter((n) => /^blk\./.test(n) && base.weights.get(n)!.ne.length === 2);
    assert.deepEqual(runJson.lora.targets, matrices, 'default targets: every block matrix');
    assert.deepEqual(runJson.recordedTensors, matrices.flatMap((n) => [`${n}.lora_a`, `${n}.lora_b`]));
    assert.equal(runJson.lora.rank, 4);
    assert.equal(runJson.lora.alpha, 8);
    const adapterFile = readGguf(ft.adapter);
    assert.equal(getMeta(adapterFile, ADAPTER_BASE_SHA256_KEY), sha256File(model));
    assert.equal(getMeta(adapterFile, 'adapter.lora.alpha'), 8);
    if (c.quant) assert.ok(Object.keys(base.tensorTypes).some((k) => k !== 'F32'), 'the base is quantised');

    const un = cli(['unlearn', '--from', run, '--method', 'first-epoch', '--target', 'all', '--data', data, '--eval-limit', '0', '--adapters-dir', path.join(tmp, 'adapters'), '--run-id', c.label]);
    const s = un.summary.forget;
    assert.ok(s.perplexityAfter > s.perplexityBefore, `forget perplexity ${s.perplexityBefore} -> ${s.perplexityAfter}`);
    const unlearned = un.adapter.adapterPath as string;
    const meta = JSON.parse(fs.readFileSync(path.join(path.dirname(unlearned), 'meta.json'), 'utf8'));
    assert.equal(meta.lora.kind, 'factors');
    assert.equal(meta.base.sha256, sha256File(model));
    assert.ok(un.adapter.mergedPath === null);
    // the unlearned adapter is the fine-tune's with changed factors, over the same targets
    const before = readLoraAdapter(ft.adapter);
    const after = readLoraAdapter(unlearned);
    assert.deepEqual([...after.factors.keys()], [...before.factors.keys()]);
    assert.ok([...after.factors].some(([k, f]) => f.b.some((v, i) => v !== before.factors.get(k)!.b[i])), 'the method changed no factor');

    const pFt = forgetPerplexity(model, ft.adapter, `${c.label}-eval-ft`);
    const pUn = forgetPerplexity(model, unlearned, `${c.label}-eval-un`);
    assert.ok(pUn > pFt, `eval forget perplexity: fine-tuned ${pFt}, unlearned ${pUn}`);

    // llama.cpp applies the unlearned adapter to the base exactly as our evaluation does
    const ours = CausalLM.load(model);
    attachLoraFile(ours, unlearned);
    const tokens = tokenizerFromGguf(ours.file!).encode('Dave Harrowgate keeps two cats and plays the violin at the library.', { addBos: true });
    const lp = sequenceLogprobs(ours, tokens);
    const ref = await llamaLogprobs(t, model, tokens, { lora: [{ filePath: unlearned }] });
    if (ref) {
      const d = maxAbsDiff(lp, ref.logprobs);
      // the README's claim: bit-identical (same kernels, same weight placement as llama.cpp)
      assert.equal(d, 0, `${c.label}: log-probs with the adapter differ from llama.cpp by ${d}`);
      const plain = sequenceLogprobs(CausalLM.load(model), tokens);
      assert.ok(maxAbsDiff(plain, lp) > 1e-2, 'the adapter changed nothing');
      console.log(`${c.label}: forget ppl ${s.perplexityBefore.toFixed(1)} -> ${s.perplexityAfter.toFixed(1)}; eval ${pFt.toFixed(1)} -> ${pUn.toFixed(1)}; llama.cpp max |d log p| ${d.toExponential(2)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
  });
}

test('gradient methods (NPO) and the retain-only oracle act on a LoRA run\'s adapter; layer targets pick its factors', () => {
  const c = CASES.find((x) => x.label === 'qwen2-q8_0')!;
  const model = path.join(tmp, `${c.label}.gguf`);
  const run = path.join(tmp, `${c.label}-run`);
  if (!fs.existsSync(run)) {
    baseModel(c);
    cli(['finetune', '--model', model, '--data', data, '--splits', 'forget,retain', '--epochs', '2', '--batch', '8', '--lr', '3e-3', '--lora', '4,8', '--out', run, '--no-eval']);
  }
  const ft = readLoraAdapter(path.join(run, 'adapter.gguf'));
  const npo = cli(['unlearn', '--from', run, '--method', 'npo', '--target', 'block:1:mlp', '--steps', '2', '--data', data, '--eval-limit', '0', '--adapters-dir', path.join(tmp, 'adapters'), '--run-id', 'npo-lora']);
  assert.deepEqual(npo.tensors, ['ffn_gate', 'ffn_up', 'ffn_down'].flatMap((m) => [`blk.1.${m}.weight.lora_a`, `blk.1.${m}.weight.lora_b`]));
  assert.ok(npo.summary.forget.perplexityAfter > npo.summary.forget.perplexityBefore, 'NPO did not raise the forget perplexity');
  const out = readLoraAdapter(npo.adapter.adapterPath);
  for (const [t, f] of out.factors) {
    const same = f.a.every((v, i) => v === ft.factors.get(t)!.a[i]) && f.b.every((v, i) => v === ft.factors.get(t)!.b[i]);
    assert.equal(same, !t.startsWith('blk.1.ffn_'), `${t}: ${same ? 'unchanged' : 'changed'}`);
  }
  const oracle = cli(['unlearn', '--from', run, '--method', 'retain-only', '--data', data, '--eval-limit', '0', '--adapters-dir', path.join(tmp, 'adapters'), '--run-id', 'oracle-lora']);
  assert.ok(oracle.summary.forget.perplexityAfter > oracle.summary.forget.perplexityBefore, 'the retain-only oracle did not raise the forget perplexity');
  // --report on a LoRA run: before = base + the fine-tune's adapter, after = base + the unlearned
  // adapter, both by eval's code, equal to the run's own numbers; the recorded oracle is the reference row
  const rep = cli(['unlearn', '--from', run, '--method', 'npo', '--target', 'block:1:mlp', '--steps', '2', '--data', data, '--eval-limit', '0', '--adapters-dir', path.join(tmp, 'adapters'), '--run-id', 'npo-lora-report', '--report']);
  const page = fs.readFileSync(rep.htmlReport, 'utf8');
  const row = (label: string) => new RegExp(`<tr><td>${label.replace(/[().-]/g, '\\$&')}</td><td class="num">([\\d.]+)</td>`).exec(page)?.[1];
  assert.equal(row('fine-tuned (before)'), rep.summary.forget.perplexityBefore.toFixed(3));
  assert.equal(row('unlearned (adapter.gguf)'), rep.summary.forget.perplexityAfter.toFixed(3));
  assert.ok(row('retain-only reference'), 'the recorded retain-only oracle is a reference row');
  const r = spawnSync(process.execPath, cliArgs('unlearn', '--from', run, '--method', 'first-epoch', '--target', 'norms', '--data', data, '--quiet'), { cwd: PROJECT_ROOT, encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /selects no weight matrix/);
});

test('full fine-tuning: the checkpoint keeps the base\'s types (frozen bytes unchanged), trained tensors F32 or --save-type', () => {
  const c = CASES.find((x) => x.label === 'qwen2-q8_0')!;
  const model = path.join(tmp, `${c.label}.gguf`);
  if (!fs.existsSync(model)) baseModel(c);
  const src = readGguf(model);
  for (const [saveType, trainedType] of [['f32', 'F32'], ['base', 'Q8_0']] as const) {
    const run = path.join(tmp, `full-${saveType}`);
    const ft = cli(['finetune', '--model', model, '--data', data, '--splits', 'forget', '--epochs', '1', '--filter', 'block:-1', '--record', 'none', '--save-type', saveType, '--out', run, '--no-eval']);
    const ck = readGguf(ft.checkpoint);
    const trained = new Set<string>(ft.trainedTensors);
    for (const t of src.tensors) {
      const out = ck.tensors.find((x) => x.name === t.name)!;
      if (!trained.has(t.name)) {
        assert.equal(out.type, t.type, `${t.name}: frozen tensor changed type`);
        assert.deepEqual(readTensorRaw(ck, t.name), readTensorRaw(src, t.name), `${t.name}: frozen bytes changed`);
      } else {
        const want = t.ne.length >= 2 ? trainedType : 'F32';
        assert.equal(ggmlTypeName(out.type), want, `${t.name} (--save-type ${saveType})`);
      }
    }
    // the checkpoint loads and resumes nothing more
    assert.equal(CausalLM.load(ft.checkpoint).config.arch, 'qwen2');
    const size = fs.statSync(ft.checkpoint).size;
    assert.ok(size < 2 * fs.statSync(model).size, `checkpoint ${size} bytes from a ${fs.statSync(model).size}-byte base`);
  }
  const r = spawnSync(process.execPath, cliArgs('finetune', '--model', model, '--data', data, '--lora', '4', '--filter', 'all', '--quiet'), { cwd: PROJECT_ROOT, encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--target/);
});
