/**
 * LoRA training on a frozen base in its stored type (src/model/model.ts loraHook, the LoRA part of
 * src/model/llamaBackward.ts, ops.weightTMatMul / native/matmul.c uk_wtmatmul_op):
 *   - the W^T b product through a weight stored as F16, BF16, Q4_0, Q8_0, Q4_K or Q6_K equals the
 *     float64 product with ggml's own dequantisation (to_float) to 1e-6 relative, as ggml's
 *     out_prod does; ggml's automatic backward's quantised OUT_PROD nodes are rewritten into it;
 *   - a training graph's product with a frozen weight in its stored type (ops.weightMatMul) is the
 *     product with the decoded weights in f32 (x not rounded to q8_0 / q8_K as ggml's mul_mat does):
 *     the adapter's gradients (A and B of every block matrix) from the hand-written backward on an
 *     F32, a Q8_0 and a Q4_K base equal ggml's automatic backward on the same function (the base's
 *     decoded weights as F32) to 1e-5 relative, and central finite differences of the loss to 2%;
 *     per-example gradients of A and B agree too and sum to the batch gradient; GPT-2's automatic
 *     backward on a Q8_0 base runs the same kernels (its MUL_MAT / OUT_PROD nodes rewritten);
 *   - gradient accumulation over micro-batches gives the full batch's gradient (1e-5) and, after
 *     SGD updates, its weights (the updates to 1e-4: w + dw rounds to float32), under both backwards.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Graph } from '../../src/engine/graph.ts';
import * as op from '../../src/engine/ops.ts';
import { getEngine } from '../../src/engine/engine.ts';
import { ggmlQuantizeRows, ggmlToFloat } from '../../src/engine/ffi.ts';
import { nativeKernels } from '../../src/engine/native.ts';
import { GGML_TYPE, type DType } from '../../src/engine/types.ts';
import { encodeBf16, encodeF16 } from '../../src/model/ggufTypes.ts';
import { CausalLM, LMSession, type SessionOptions } from '../../src/model/model.ts';
import { initLoraFactors, resolveLoraTargets } from '../../src/model/lora.ts';
import { quantizeGguf } from '../../src/model/quantize.ts';
import { writeRandomModel, type ModelShape } from '../../src/model/randomModel.ts';
import { isSparse, toDense, type PerExampleResult } from '../../src/model/perExample.ts';
import { Rng } from '../../src/util/rng.ts';
import { relL2 } from '../engine/util.ts';
import { tempDir } from '../model/archCases.ts';
import { checkFiniteDifference } from '../helpers/finiteDifference.ts';

// two engine threads for the 2-thread check, even under `npm test`'s UNLEARNKIT_THREADS=1 (scripts/run-tests.mjs)
getEngine({ threads: 2 });

const dir = tempDir('lora-grad');
const TOL = 1e-5;

/** A 256-wide llama (K-quant rows are blocks of 256) and a GPT-2, tiny otherwise. */
const LLAMA: ModelShape = { arch: 'llama', nEmbd: 256, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 256, nCtx: 64 };
const GPT2: ModelShape = { arch: 'gpt2', nEmbd: 64, nLayer: 2, nHead: 4, nFf: 128, nCtx: 64 };

function modelFile(label: string, shape: ModelShape, type?: 'q8_0' | 'q4_k'): string {
  const f32 = path.join(dir, `${label}.gguf`);
  writeRandomModel(f32, { shape, vocab: { tiny: 300 }, seed: 4 });
  if (!type) return f32;
  const out = path.join(dir, `${label}-${type}.gguf`);
  quantizeGguf(f32, out, { type, pure: true });
  return out;
}

/** The model with adapters on every block matrix: A as initialised, B random (so that A gets a gradient); `decoded`: every weight as F32 values. */
function withAdapters(file: string, rank = 4, decoded = false): CausalLM {
  const m = CausalLM.load(file);
  if (decoded) {
    for (const h of m.weights.values()) {
      h.data = h.data; // ggml's to_float of the stored bytes, kept as the tensor's F32 values
      h.fileType = 'f32';
      h.fileBytes = undefined;
    }
  }
  const factors = initLoraFactors(m, resolveLoraTargets(undefined, m.config), rank, 3);
  const rng = new Rng(9);
  for (const f of factors.values()) f.b.set(rng.normalArray(f.b.length, 0.05));
  m.attachLora({ alpha: 2 * rank, factors });
  return m;
}

function batchOf(V: number, lengths: number[], seed: number): number[][] {
  const rng = new Rng(seed);
  return lengths.map((n) => Array.from({ length: n }, () => 1 + rng.int(V - 1)));
}

interface Run {
  loss: number;
  grads: Map<string, Float32Array>;
  perExample?: PerExampleResult;
}

function gradients(model: CausalLM, o: Omit<SessionOptions, 'mode'>, seqs: number[][]): Run {
  const s = new LMSession(model, { ...o, mode: 'train' });
  try {
    s.setBatch(seqs);
    const loss = o.record ? s.backwardRecord() : s.backward();
    const names = o.trainable ?? model.loraTensorNames;
    return { loss, grads: new Map(names.map((n) => [n, s.gradOf(n)])), perExample: o.record ? s.perExample() : undefined };
  } finally {
    s.dispose();
  }
}

test('W^T b through a weight in F16, BF16, Q4_0, Q8_0, Q4_K or Q6_K: the native kernel equals the dequantised product and ggml out_prod', (t) => {
  if (!nativeKernels().kernels) return t.skip(`native kernels unavailable: ${nativeKernels().reason}`);
  const fn = getEngine().g;
  const M = 512;
  const K = 96;
  const N = 37;
  const rng = new Rng(1);
  const w = rng.normalArray(M * K, 0.05);
  const b = rng.normalArray(K * N * 2, 1);
  for (const dt of ['f16', 'bf16', 'q4_0', 'q8_0', 'q4_k', 'q6_k'] as DType[]) {
    const bytes = dt === 'f16' ? encodeF16(w) : dt === 'bf16' ? encodeBf16(w) : ggmlQuantizeRows(fn, GGML_TYPE[dt], w, K, M);
    const deq = ggmlToFloat(fn, GGML_TYPE[dt], bytes, M * K);
    const g = new Graph();
    try {
      const W = g.input('W', [M, K], dt);
      const B = g.input('b', [K, N, 2]); // batched b: W broadcast
      const B0 = g.input('b0', [K, N]);
      const native = op.weightTMatMul(W, B);
      const ggml = dt === 'bf16' ? null : op.outProd(W, op.transpose(B0)); // ggml's out_prod has no BF16 kernel
      g.build({ outputs: ggml ? [native, ggml] : [native] });
      g.allocate();
      g.set(W, bytes);
      g.set(B, b);
      g.set(B0, b.subarray(0, K * N));
      g.compute('forward', { threads: 2 });
      assert.equal(String(g.g.ggml_op_desc!(native.ptr)), 'CUSTOM', `${dt}: the product did not run on the native kernel`);
      const ref = new Float32Array(M * N * 2);
      for (let z = 0; z < 2; z++) {
        for (let n = 0; n < N; n++) {
          for (let m = 0; m < M; m++) {
            let s = 0;
            for (let k = 0; k < K; k++) s += deq[k * M + m]! * b[z * K * N + n * K + k]!;
            ref[z * M * N + n * M + m] = s;
          }
        }
      }
      const e = relL2(g.get(native), ref);
      assert.ok(e <= 1e-6, `${dt}: native W^T b differs from the dequantised product by ${e.toExponential(2)}`);
      if (ggml) {
        const eg = relL2(g.get(ggml), ref.subarray(0, M * N));
        assert.ok(eg <= 1e-6, `${dt}: ggml out_prod differs by ${eg.toExponential(2)}`);
      }
    } finally {
      g.dispose();
    }
  }
});

test('LoRA adapter gradients: manual backward = ggml autodiff = finite differences, on F32, Q8_0 and Q4_K bases; per example too', () => {
  for (const type of [undefined, 'q8_0', 'q4_k'] as const) {
    const label = type ?? 'f32';
    const file = modelFile('llama', LLAMA, type);
    const model = withAdapters(file);
    if (type) assert.ok(model.weights.get('blk.0.attn_q.weight')!.fileType === type);
    const V = model.config.nVocab;
    const seqs = batchOf(V, [14, 6, 11], 2);
    const names = model.loraTensorNames;
    const o = { T: 14, B: 3, record: names };
    // the reference: ggml's automatic backward of the same function, the decoded base as F32 weights
    const auto = gradients(withAdapters(file, 4, true), { ...o, backward: 'auto' }, seqs);
    const manual = gradients(model, { ...o, backward: 'manual' }, seqs);
    assert.ok(Math.abs(auto.loss - manual.loss) <= 1e-6 * Math.abs(auto.loss), `${label}: loss ${auto.loss} vs ${manual.loss}`);
    let worst = 0;
    for (const n of names) {
      const e = relL2(manual.grads.get(n)!, auto.grads.get(n)!);
      assert.ok(e <= TOL, `${label}: ${n} manual vs automatic ${e.toExponential(2)}`);
      assert.ok(manual.grads.get(n)!.some((x) => x !== 0), `${label}: ${n} has a zero gradient`);
      worst = Math.max(worst, e);
    }
    // per-example gradients: manual = automatic, and sum_b w_b g_b = the batch gradient
    let worstPe = 0;
    for (const n of names) {
      const ne = model.weights.get(n)!.ne;
      const sum = new Float32Array(manual.grads.get(n)!.length);
      manual.perExample!.grads.forEach((g, b) => {
        const x = g.get(n)!;
        assert.ok(!isSparse(x));
        const dm = toDense(x, ne);
        const da = toDense(auto.perExample!.grads[b]!.get(n)!, ne);
        worstPe = Math.max(worstPe, relL2(dm, da));
        for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + manual.perExample!.weights[b]! * dm[i]!;
      });
      const e = relL2(sum, manual.grads.get(n)!);
      assert.ok(e <= TOL, `${label}: ${n} per-example gradients do not sum to the batch gradient (${e.toExponential(2)})`);
    }
    assert.ok(worstPe <= TOL, `${label}: per-example manual vs automatic ${worstPe.toExponential(2)}`);
    // central finite differences at the largest entries of a few factors
    const s = new LMSession(model, { T: 14, B: 3, mode: 'train', backward: 'manual' });
    try {
      s.setBatch(seqs);
      for (const n of ['blk.0.attn_q.weight.lora_a', 'blk.0.ffn_down.weight.lora_b', 'blk.1.attn_v.weight.lora_b', 'blk.1.ffn_gate.weight.lora_a']) {
        checkFiniteDifference(s, model, n, manual.grads.get(n)!, label);
      }
    } finally {
      s.dispose();
    }
    console.log(`${label} base: ${names.length} adapter tensors, worst manual vs automatic ${worst.toExponential(2)}, per example ${worstPe.toExponential(2)}`);
  }
});

test('GPT-2 (automatic backward) on a Q8_0 base: its quantised OUT_PROD nodes run on the native kernel, gradients match finite differences', (t) => {
  if (!nativeKernels().kernels) return t.skip(`native kernels unavailable: ${nativeKernels().reason}`);
  const model = withAdapters(modelFile('gpt2', GPT2, 'q8_0'));
  const seqs = batchOf(model.config.nVocab, [12, 7], 3);
  const s = new LMSession(model, { T: 12, B: 2, mode: 'train' });
  try {
    assert.equal(s.backwardKind, 'auto');
    const ops = s.graph.opCounts('backward');
    assert.ok(!ops.OUT_PROD && !ops.MUL_MAT, `ggml products left in the GPT-2 LoRA graph: ${JSON.stringify(ops)}`);
    s.setBatch(seqs);
    s.backward();
    for (const n of ['blk.0.attn_qkv.weight.lora_a', 'blk.1.ffn_down.weight.lora_b']) checkFiniteDifference(s, model, n, s.gradOf(n), 'gpt2');
  } finally {
    s.dispose();
  }
});

test('gradient accumulation over micro-batches equals the full batch: gradients and SGD updates, manual and automatic backward, LoRA and full', () => {
  const cases: Array<{ label: string; model: () => CausalLM; trainable?: (m: CausalLM) => string[] }> = [
    { label: 'llama LoRA on Q8_0', model: () => withAdapters(modelFile('llama', LLAMA, 'q8_0')) },
    { label: 'llama full', model: () => CausalLM.load(modelFile('llama', LLAMA)), trainable: (m) => m.parameterNames },
    { label: 'gpt2 LoRA on Q8_0', model: () => withAdapters(modelFile('gpt2', GPT2, 'q8_0')) },
    { label: 'gpt2 full', model: () => CausalLM.load(modelFile('gpt2', GPT2)), trainable: (m) => m.parameterNames },
  ];
  for (const c of cases) {
    const base = c.model();
    const names = c.trainable?.(base) ?? base.loraTensorNames;
    const seqs = batchOf(base.config.nVocab, [12, 7, 10, 5, 9, 11], 5);
    const tokens = seqs.reduce((a, s) => a + s.length - 1, 0);
    const full = base.clone();
    const parts = base.clone();
    const sf = new LMSession(full, { T: 12, B: 6, mode: 'train', trainable: names, optimizer: 'sgd' });
    const sp = new LMSession(parts, { T: 12, B: 4, mode: 'train', trainable: names, optimizer: 'sgd', accumulate: true });
    try {
      for (let step = 0; step < 2; step++) {
        sf.setBatch(seqs);
        const lossFull = sf.backward();
        const gFull = new Map(names.map((n) => [n, sf.gradOf(n)]));
        let lossParts = 0;
        // micro-batches of 4 and 2: a short last one, padded
        for (const part of [seqs.slice(0, 4), seqs.slice(4)]) {
          sp.setBatch(part, { batchTokens: tokens });
          lossParts += sp.backward();
        }
        assert.ok(Math.abs(lossFull - lossParts) <= 1e-6 * lossFull, `${c.label}: loss ${lossFull} vs ${lossParts}`);
        for (const n of names) {
          const e = relL2(sp.gradOf(n), gFull.get(n)!);
          assert.ok(e <= 1e-5, `${c.label} step ${step}: ${n} accumulated gradient differs by ${e.toExponential(2)}`);
        }
        sf.step({ lr: 0.05 });
        sp.update({ lr: 0.05 });
        assert.ok(sp.gradOf(names[0]!).every((x) => x === 0), 'update() did not clear the accumulators');
      }
      sf.downloadWeights();
      sp.downloadWeights();
      for (const n of names) {
        const b = base.weights.get(n)!.data;
        const uf = full.weights.get(n)!.data.map((x, i) => x - b[i]!);
        const up = parts.weights.get(n)!.data.map((x, i) => x - b[i]!);
        // w + dw is rounded to float32: for norm weights near 1 an update is known to ~1e-4 of itself
        const e = relL2(up, uf);
        assert.ok(e <= 1e-4, `${c.label}: ${n} updates differ by ${e.toExponential(2)}`);
      }
    } finally {
      sf.dispose();
      sp.dispose();
    }
  }
});
