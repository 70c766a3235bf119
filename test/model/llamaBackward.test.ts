/**
 * The hand-written LLaMA backward (src/model/llamaBackward.ts) against ggml's automatic backward on
 * the same forward graph: every parameter's gradient, the per-example gradients, a partial
 * trainable set and an AdamW step must agree to 1e-5 relative (L2 over each tensor); and a few
 * gradient entries against central finite differences of the loss.
 * Models: the real stories260K (GQA, 8 query / 4 KV heads, untied output) and a random tied-output
 * config with partial rope, each with a batch of several sequences of different lengths (padding);
 * and the other llama-like families and variants (test/model/archCases.ts): rope_freqs factors,
 * linear rope scaling, Q/K/V biases (llama, qwen2), qwen3's per-head Q/K norms with a head size
 * other than n_embd / n_head, NEOX rope, in every parameter, per example, and by finite differences.
 * Last, the manual backward on ggml's Vulkan build (Mesa's software device; a child process, since
 * one ggml build is loaded per process) against the CPU within 1e-2 (fp16-ish Vulkan matmuls).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { needFixture, skipLoudly } from '../helpers/fixtures.ts';
import { getEngine } from '../../src/engine/engine.ts';
import { fixturePath } from '../../src/util/paths.ts';
import { CausalLM, LMSession, type SessionOptions } from '../../src/model/model.ts';
import { randomModel } from '../../src/model/randomModel.ts';
import { isSparse, toDense, type PerExampleResult } from '../../src/model/perExample.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { Rng } from '../../src/util/rng.ts';
import { relL2 } from '../engine/util.ts';
import { FAMILY_CASES, tempDir, writeCase } from './archCases.ts';
import { checkFiniteDifference } from '../helpers/finiteDifference.ts';

const TOL = 1e-5;

/** Relative L2 difference of x from ref. */
const relErr = (ref: Float32Array, x: Float32Array): number => relL2(x, ref);

function batchOf(V: number, lengths: number[], seed: number): number[][] {
  const rng = new Rng(seed);
  return lengths.map((n) => Array.from({ length: n }, () => rng.int(V)));
}

interface Run {
  loss: number;
  grads: Map<string, Float32Array>;
  perExample?: PerExampleResult;
  nodes: number;
  kind: string | null;
}

function gradients(model: CausalLM, o: Omit<SessionOptions, 'mode'>, seqs: number[][]): Run {
  const s = new LMSession(model, { ...o, mode: 'train' });
  try {
    s.setBatch(seqs);
    const loss = o.record ? s.backwardRecord() : s.backward();
    const grads = new Map((o.trainable ?? model.parameterNames).map((n) => [n, s.gradOf(n)] as const));
    return { loss, grads, perExample: o.record ? s.perExample() : undefined, nodes: s.graph.nodeCount('backward'), kind: s.backwardKind };
  } finally {
    s.dispose();
  }
}

/** Worst relative error over all parameters, asserting each is within TOL. */
function compareGrads(auto: Run, manual: Run, label: string): number {
  assert.equal(auto.kind, 'auto');
  assert.equal(manual.kind, 'manual');
  assert.ok(Math.abs(auto.loss - manual.loss) <= 1e-6 * Math.abs(auto.loss), `${label}: loss ${auto.loss} vs ${manual.loss}`);
  let worst = 0;
  for (const [name, a] of auto.grads) {
    const e = relErr(a, manual.grads.get(name)!);
    assert.ok(e <= TOL, `${label}: ${name} differs by ${e.toExponential(2)} (relative L2)`);
    worst = Math.max(worst, e);
  }
  return worst;
}

function comparePerExample(a: PerExampleResult, m: PerExampleResult, shapes: Map<string, number[]>, label: string): number {
  assert.deepEqual(a.weights, m.weights);
  assert.equal(a.grads.length, m.grads.length);
  let worst = 0;
  a.grads.forEach((ga, b) => {
    const gm = m.grads[b]!;
    assert.deepEqual([...ga.keys()].sort(), [...gm.keys()].sort());
    for (const [name, x] of ga) {
      const y = gm.get(name)!;
      assert.equal(isSparse(x), isSparse(y), `${label}: ${name} sparse in one path only`);
      if (isSparse(x) && isSparse(y)) assert.deepEqual(x.rows, y.rows);
      const e = relErr(toDense(x, shapes.get(name)!), toDense(y, shapes.get(name)!));
      assert.ok(e <= TOL, `${label}: example ${b} ${name} differs by ${e.toExponential(2)}`);
      worst = Math.max(worst, e);
    }
  });
  return worst;
}

const TIED: ModelConfig = {
  arch: 'llama',
  nEmbd: 64,
  nLayer: 2,
  nHead: 4,
  nHeadKv: 2,
  nFf: 96,
  nVocab: 300,
  nCtx: 64,
  normEps: 1e-5,
  ropeDims: 8,
  ropeFreqBase: 10000,
  tiedOutput: true,
};

const CHILD_ENV = 'UK_LLAMA_BACKWARD_VULKAN_CHILD';
const VK_LENGTHS = [16, 9];

/** Child mode: gradients of stories260K from the manual backward on the Vulkan device, as one JSON line. */
function vulkanChild(): void {
  let engine;
  try {
    engine = getEngine({ device: 'vulkan', threads: 1 });
  } catch (e) {
    console.log(JSON.stringify({ skip: `no Vulkan device: ${(e as Error).message}` }));
    return;
  }
  if (engine.device.registry !== 'Vulkan') {
    console.log(JSON.stringify({ skip: `the Vulkan build gave device ${engine.device.name}` }));
    return;
  }
  const model = CausalLM.load(fixturePath('models', 'stories260K.gguf'));
  const unsupported: Record<string, string[]> = {};
  let result: { loss: number; grads: Record<string, number[]> } | null = null;
  for (const backward of ['auto', 'manual'] as const) {
    const s = new LMSession(model, { T: 16, B: 2, mode: 'train', backward });
    try {
      const be = engine.backend(s.graph.device);
      const bad = new Set<string>();
      for (const n of s.graph.nodes('backward')) if (!s.graph.g.ggml_backend_supports_op!(be, n)) bad.add(String(s.graph.g.ggml_op_desc!(n)));
      unsupported[backward] = [...bad];
      if (backward === 'manual' && bad.size === 0) {
        s.setBatch(batchOf(model.config.nVocab, VK_LENGTHS, 21));
        const loss = s.backward();
        result = { loss, grads: Object.fromEntries(model.tensorNames.map((n) => [n, Array.from(s.gradOf(n))])) };
      }
    } finally {
      s.dispose();
    }
  }
  console.log(JSON.stringify({ device: `${engine.device.name} (${engine.device.description})`, unsupported, result }));
}

if (process.env[CHILD_ENV] === '1') vulkanChild();
else registerTests();

function registerTests(): void {
  test('stories260K (GQA 8/4): manual gradients equal the automatic ones on every parameter', (t) => {
    const file = needFixture(t, 'models', 'stories260K.gguf');
    if (!file) return;
    const model = CausalLM.load(file);
    assert.equal(model.config.nHeadKv * 2, model.config.nHead);
    const seqs = batchOf(model.config.nVocab, [32, 20, 9], 1);
    const auto = gradients(model, { T: 32, B: 3, backward: 'auto' }, seqs);
    const manual = gradients(model, { T: 32, B: 3, backward: 'manual' }, seqs);
    assert.equal(auto.grads.size, model.tensorNames.length);
    const worst = compareGrads(auto, manual, 'stories260K');
    console.log(`stories260K: ${auto.grads.size} tensors, worst relative gradient difference ${worst.toExponential(2)}, loss ${manual.loss}`);
  });

  test('random tied-output config, batch 4 with padding and batch 1: manual gradients equal the automatic ones', () => {
    const model = randomModel(TIED, 11);
    const seqs = batchOf(TIED.nVocab, [16, 5, 11, 2], 2);
    const auto = gradients(model, { T: 16, B: 4, backward: 'auto' }, seqs);
    const manual = gradients(model, { T: 16, B: 4, backward: 'manual' }, seqs);
    assert.ok(!model.tensorNames.includes('output.weight'));
    let worst = compareGrads(auto, manual, 'tied');
    // one sequence: other copy kernels (slabs along the sequence axis)
    const one = batchOf(TIED.nVocab, [13], 3);
    worst = Math.max(worst, compareGrads(gradients(model, { T: 16, B: 1, backward: 'auto' }, one), gradients(model, { T: 16, B: 1, backward: 'manual' }, one), 'tied, B = 1'));
    console.log(`tied config: worst relative gradient difference ${worst.toExponential(2)}`);
  });

  test('per-example gradients from the manual backward equal those from the automatic one', (t) => {
    const file = needFixture(t, 'models', 'stories260K.gguf');
    if (!file) return;
    const model = CausalLM.load(file);
    const record = ['token_embd.weight', 'blk.0.attn_norm.weight', 'blk.0.attn_q.weight', 'blk.2.attn_v.weight', 'blk.4.ffn_gate.weight', 'blk.4.ffn_down.weight', 'output_norm.weight', 'output.weight'];
    const shapes = new Map(record.map((n) => [n, model.weights.get(n)!.ne]));
    const seqs = batchOf(model.config.nVocab, [24, 13, 7], 3);
    const o = { T: 24, B: 3, record, trainable: record };
    const auto = gradients(model, { ...o, backward: 'auto' }, seqs);
    const manual = gradients(model, { ...o, backward: 'manual' }, seqs);
    compareGrads(auto, manual, 'recorded');
    const worst = comparePerExample(auto.perExample!, manual.perExample!, shapes, 'stories260K');
    // a tied embedding sums its lookup (sparse) and output (dense) uses
    const tied = randomModel(TIED, 12);
    const tRecord = ['token_embd.weight', 'blk.1.attn_k.weight', 'blk.0.ffn_norm.weight'];
    const tSeqs = batchOf(TIED.nVocab, [12, 6], 4);
    const ta = gradients(tied, { T: 12, B: 2, record: tRecord, backward: 'auto' }, tSeqs);
    const tm = gradients(tied, { T: 12, B: 2, record: tRecord, backward: 'manual' }, tSeqs);
    const worstTied = comparePerExample(ta.perExample!, tm.perExample!, new Map(tRecord.map((n) => [n, tied.weights.get(n)!.ne])), 'tied');
    console.log(`per-example: worst relative difference ${worst.toExponential(2)} (stories260K), ${worstTied.toExponential(2)} (tied)`);
  });

  test('a partial trainable set gets the same gradients from a smaller manual graph', (t) => {
    const file = needFixture(t, 'models', 'stories260K.gguf');
    if (!file) return;
    const model = CausalLM.load(file);
    const seqs = batchOf(model.config.nVocab, [20, 12], 5);
    const trainable = ['blk.2.attn_k.weight', 'blk.3.ffn_norm.weight', 'output_norm.weight'];
    const auto = gradients(model, { T: 20, B: 2, trainable, backward: 'auto' }, seqs);
    const manual = gradients(model, { T: 20, B: 2, trainable, backward: 'manual' }, seqs);
    compareGrads(auto, manual, 'partial');
    const full = gradients(model, { T: 20, B: 2, backward: 'manual' }, seqs);
    // nothing below block 2's attention is differentiated
    assert.ok(manual.nodes < full.nodes * 0.8, `partial graph has ${manual.nodes} nodes, full ${full.nodes}`);
    // only the output head trainable: no block is differentiated at all
    const head = gradients(model, { T: 20, B: 2, trainable: ['output.weight'], backward: 'manual' }, seqs);
    const headAuto = gradients(model, { T: 20, B: 2, trainable: ['output.weight'], backward: 'auto' }, seqs);
    compareGrads(headAuto, head, 'output only');
    assert.ok(head.nodes < full.nodes / 2, `output-only graph has ${head.nodes} nodes`);
  });

  test('an AdamW step with the manual backward updates the weights as the automatic one does', () => {
    const model = randomModel(TIED, 13);
    const seqs = batchOf(TIED.nVocab, [16, 9], 6);
    const after: Array<Map<string, Float32Array>> = [];
    for (const backward of ['auto', 'manual'] as const) {
      const m = model.clone();
      const s = new LMSession(m, { T: 16, B: 2, mode: 'train', optimizer: 'adamw', backward });
      try {
        // a large AdamW epsilon keeps the update a smooth function of the gradient (with 1e-8 the
        // first step is lr * sign(g), which flips on rounding-level differences where g is ~0)
        const hyper = { lr: 1e-3, weightDecay: 0.1, eps: 1e-2 };
        s.setBatch(seqs);
        s.step(hyper);
        s.setBatch(seqs.map((x) => x.slice(0, 7)));
        s.step(hyper);
        s.downloadWeights();
      } finally {
        s.dispose();
      }
      after.push(new Map([...m.weights].map(([k, v]) => [k, v.data])));
    }
    let moved = 0;
    for (const [name, a] of after[0]!) {
      const delta = relErr(model.weights.get(name)!.data, a);
      moved = Math.max(moved, delta);
      // compare the updates, not the weights (which are mostly unchanged); w + dw is rounded to
      // float32, so for norm weights near 1 an update of 1e-3 is only known to ~1e-4 of itself
      const base = model.weights.get(name)!.data;
      const ua = a.map((x, i) => x - base[i]!);
      const um = after[1]!.get(name)!.map((x, i) => x - base[i]!);
      assert.ok(relErr(ua, um) <= 1e-4, `${name}: updates differ by ${relErr(ua, um).toExponential(2)}`);
    }
    assert.ok(moved > 1e-4, 'the steps changed nothing');
  });

  test('manual gradients agree with central finite differences of the loss', () => {
    const model = randomModel(TIED, 14);
    const seqs = batchOf(TIED.nVocab, [10, 6], 7);
    const names = ['token_embd.weight', 'blk.0.attn_q.weight', 'blk.1.attn_v.weight', 'blk.1.ffn_gate.weight', 'blk.0.attn_norm.weight'];
    const s = new LMSession(model, { T: 10, B: 2, mode: 'train', backward: 'manual' });
    try {
      s.setBatch(seqs);
      s.backward();
      for (const name of names) checkFiniteDifference(s, model, name, s.gradOf(name), 'manual');
    } finally {
      s.dispose();
    }
  });

  test('the manual backward is refused for GPT-2 with a clear error', () => {
    const c: ModelConfig = { ...TIED, arch: 'gpt2', nHeadKv: TIED.nHead };
    const model = randomModel(c, 15);
    assert.throws(() => new LMSession(model, { T: 8, B: 1, mode: 'train', backward: 'manual' }), /llama-like families \(llama, qwen2, qwen3\) only/);
    const s = new LMSession(model, { T: 8, B: 1, mode: 'train' });
    assert.equal(s.backwardKind, 'auto');
    s.dispose();
  });

  const variants = FAMILY_CASES.filter((c) => c.shape.arch !== 'gpt2' && c.label !== 'llama');
  const variantDir = tempDir('llama-backward');

  test('every llama-like variant (rope_freqs, linear x4, biases, qwen2, qwen3 Q/K norms + head 32): manual gradients equal the automatic ones', () => {
    for (const c of variants) {
      const model = CausalLM.load(writeCase(variantDir, c, { seed: 21 }));
      const seqs = batchOf(model.config.nVocab, [16, 7, 12], 8);
      const auto = gradients(model, { T: 16, B: 3, backward: 'auto' }, seqs);
      const manual = gradients(model, { T: 16, B: 3, backward: 'manual' }, seqs);
      assert.equal(auto.grads.size, model.parameterNames.length);
      assert.ok(!auto.grads.has('rope_freqs.weight'), 'rope_freqs.weight is a constant, not a parameter');
      const worst = compareGrads(auto, manual, c.label);
      console.log(`${c.label}: ${auto.grads.size} tensors, worst relative gradient difference ${worst.toExponential(2)}`);
    }
  });

  test('per-example gradients of biases and per-head Q/K norms: manual equal automatic; partial trainable sets', () => {
    for (const c of variants.filter((x) => x.shape.arch !== 'llama' || x.shape.attnBias)) {
      const model = CausalLM.load(writeCase(variantDir, c, { seed: 22 }));
      const record = model.parameterNames.filter((n) => /^blk\.1\.(attn_q\.bias|attn_v\.bias|attn_q_norm|attn_k_norm|attn_k\.weight)|^blk\.0\.attn_k\.bias/.test(n));
      assert.ok(record.length >= 2, `${c.label}: ${record.join(', ')}`);
      const shapes = new Map(record.map((n) => [n, model.weights.get(n)!.ne]));
      const seqs = batchOf(model.config.nVocab, [12, 5], 9);
      const o = { T: 12, B: 2, record, trainable: record };
      const auto = gradients(model, { ...o, backward: 'auto' }, seqs);
      const manual = gradients(model, { ...o, backward: 'manual' }, seqs);
      compareGrads(auto, manual, `${c.label} recorded`);
      const worst = comparePerExample(auto.perExample!, manual.perExample!, shapes, c.label);
      console.log(`${c.label}: per-example ${record.join(', ')}: worst relative difference ${worst.toExponential(2)}`);
    }
  });

  test('bias, Q/K norm and rope-scaled gradients agree with central finite differences of the loss', () => {
    for (const c of variants) {
      const model = CausalLM.load(writeCase(variantDir, c, { seed: 23 }));
      const names = model.parameterNames.filter((n) => /^blk\.0\.(attn_q\.bias|attn_k\.bias|attn_q_norm|attn_k_norm|attn_q\.weight|attn_k\.weight)/.test(n));
      const seqs = batchOf(model.config.nVocab, [10, 6], 10);
      const s = new LMSession(model, { T: 10, B: 2, mode: 'train', backward: 'manual' });
      try {
        s.setBatch(seqs);
        s.backward();
        for (const name of names) checkFiniteDifference(s, model, name, s.gradOf(name), c.label);
      } finally {
        s.dispose();
      }
    }
  });

  test('rope_freqs.weight is never trainable', () => {
    const c = variants.find((x) => x.shape.ropeScaling?.type === 'llama3')!;
    const model = CausalLM.load(writeCase(variantDir, c, { seed: 24 }));
    assert.ok(model.tensorNames.includes('rope_freqs.weight'));
    assert.ok(!model.parameterNames.includes('rope_freqs.weight'));
    assert.throws(() => new LMSession(model, { T: 8, B: 1, mode: 'train', trainable: ['rope_freqs.weight'] }), /constant of the llama architecture/);
  });

  test('the manual backward runs on the Vulkan device and matches the CPU within 1e-2', (t) => {
    const file = needFixture(t, 'models', 'stories260K.gguf');
    if (!file) return;
    const env: NodeJS.ProcessEnv = { ...process.env, [CHILD_ENV]: '1', GGML_VK_VISIBLE_DEVICES: process.env.GGML_VK_VISIBLE_DEVICES ?? '0' };
    delete env.UNLEARNKIT_DEVICE;
    const self = fileURLToPath(import.meta.url);
    const r = spawnSync(process.execPath, ['--import', 'tsx', self], { env, cwd: path.resolve(path.dirname(self), '..', '..'), encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 26 });
    const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
    assert.ok(line, `the Vulkan child printed no result (exit ${r.status}): ${(r.stderr ?? '').slice(-500)}`);
    const out = JSON.parse(line) as { skip?: string; device: string; unsupported: Record<string, string[]>; result: { loss: number; grads: Record<string, number[]> } | null };
    if (out.skip) return skipLoudly(t, out.skip);
    assert.deepEqual(out.unsupported.manual, [], `ops of the manual backward unsupported on ${out.device}`);
    const cpu = gradients(CausalLM.load(file), { T: 16, B: 2, backward: 'manual' }, batchOf(512, VK_LENGTHS, 21));
    const vk = out.result!;
    assert.ok(Math.abs(vk.loss - cpu.loss) <= 1e-2 * Math.abs(cpu.loss), `loss ${vk.loss} on Vulkan vs ${cpu.loss} on CPU`);
    let worst = 0;
    for (const [name, g] of cpu.grads) {
      const e = relErr(g, Float32Array.from(vk.grads[name]!));
      assert.ok(e <= 1e-2, `${name}: Vulkan vs CPU differ by ${e.toExponential(2)}`);
      worst = Math.max(worst, e);
    }
    console.log(`Vulkan (${out.device}): manual backward worst relative difference to the CPU ${worst.toExponential(2)}; ops the automatic backward lacks there: ${out.unsupported.auto!.join(', ') || 'none'}`);
  });
}
