import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readGguf, readTensorF32, requireMeta } from '../../src/model/gguf.ts';
import { reconstructionError, symmetricEigen, truncatedSvd } from '../../src/model/linalg.ts';
import { loraDeltaFromAdapter, saveLoraAdapter, saveMergedModel } from '../../src/model/lora.ts';
import { UserError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { needFixture } from '../helpers/fixtures.ts';
import { LlamaCppScorer, maxAbsDiff, needLlamaCpp } from '../helpers/llamacpp.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unlearnkit-lora-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

/** rows x cols matrix sum_k scale * a_k b_k^T with Gaussian a_k, b_k (rank `rank`), row-major float32. */
function randomLowRank(rng: Rng, rows: number, cols: number, rank: number, scale: number): Float32Array {
  const m = new Float64Array(rows * cols);
  for (let k = 0; k < rank; k++) {
    const a = Array.from({ length: rows }, () => rng.normal());
    const b = Array.from({ length: cols }, () => rng.normal());
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) m[i * cols + j] = m[i * cols + j]! + scale * a[i]! * b[j]!;
  }
  return Float32Array.from(m);
}

/** n x k matrix with orthonormal columns (Gram-Schmidt, twice, on Gaussian columns), row-major. */
function orthonormal(rng: Rng, n: number, k: number): Float64Array {
  const cols = Array.from({ length: k }, () => Float64Array.from({ length: n }, () => rng.normal()));
  for (let j = 0; j < k; j++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < j; i++) {
        let d = 0;
        for (let t = 0; t < n; t++) d += cols[i]![t]! * cols[j]![t]!;
        for (let t = 0; t < n; t++) cols[j]![t] = cols[j]![t]! - d * cols[i]![t]!;
      }
    }
    const nrm = Math.hypot(...cols[j]!);
    for (let t = 0; t < n; t++) cols[j]![t] = cols[j]![t]! / nrm;
  }
  const out = new Float64Array(n * k);
  for (let t = 0; t < n; t++) for (let j = 0; j < k; j++) out[t * k + j] = cols[j]![t]!;
  return out;
}

/** M = U diag(s) V^T with random orthonormal U (rows x r), V (cols x r) and the given singular values. */
function withSpectrum(rng: Rng, rows: number, cols: number, s: number[]): Float64Array {
  const r = s.length;
  const U = orthonormal(rng, rows, r);
  const V = orthonormal(rng, cols, r);
  const m = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let acc = 0;
      for (let k = 0; k < r; k++) acc += U[i * r + k]! * s[k]! * V[j * r + k]!;
      m[i * cols + j] = acc;
    }
  }
  return m;
}

/** Eckart-Young: the best rank-k error is sqrt(sum_{i>k} s_i^2 / sum s_i^2). */
const optimalError = (s: number[], k: number) => Math.sqrt(s.slice(k).reduce((a, v) => a + v * v, 0) / s.reduce((a, v) => a + v * v, 0));

test('symmetric eigensolver: A v = lambda v, orthonormal vectors, known spectrum', () => {
  const rng = new Rng(1);
  const n = 40;
  const lambdas = Array.from({ length: n }, (_, i) => (i % 2 ? -1 : 1) * (n - i) * 0.5);
  // A = Q diag(lambda) Q^T
  const Q = orthonormal(rng, n, n);
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) A[i * n + j] = A[i * n + j]! + Q[i * n + k]! * lambdas[k]! * Q[j * n + k]!;
  const { values, vectors } = symmetricEigen(A, n);
  const sorted = [...lambdas].sort((a, b) => b - a);
  for (let k = 0; k < n; k++) assert.ok(Math.abs(values[k]! - sorted[k]!) < 1e-11, `eigenvalue ${k}: ${values[k]} vs ${sorted[k]}`);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < n; i++) {
      let av = 0;
      for (let j = 0; j < n; j++) av += A[i * n + j]! * vectors[k * n + j]!;
      assert.ok(Math.abs(av - values[k]! * vectors[k * n + i]!) < 1e-10);
    }
    let dot = 0;
    for (let i = 0; i < n; i++) dot += vectors[k * n + i]! * vectors[((k + 1) % n) * n + i]!;
    assert.ok(Math.abs(dot) < 1e-12);
  }
});

test('truncated SVD: exact rank detection, and Eckart-Young error on a known spectrum (both methods)', () => {
  const rng = new Rng(2);
  // exactly rank 3 (float32 rounding only): detected, reconstructed to float32 precision
  const m3 = randomLowRank(rng, 90, 40, 3, 0.1);
  const s3 = truncatedSvd(m3, 90, 40, { maxRank: 16 });
  assert.equal(s3.rank, 3);
  assert.equal(s3.k, 3);
  assert.equal(s3.exact, true);
  assert.ok(s3.relError < 1e-6, `rank-3 error ${s3.relError}`);
  // known spectrum, truncated: the error is the Eckart-Young optimum
  const s = Array.from({ length: 30 }, (_, i) => 3 * 0.8 ** i);
  const m = withSpectrum(rng, 70, 50, s);
  const t = truncatedSvd(m, 70, 50, { maxRank: 4 });
  assert.equal(t.exact, false);
  assert.equal(t.rank, 30);
  for (let k = 0; k < 4; k++) assert.ok(Math.abs(t.S[k]! - s[k]!) < 1e-12 * s[0]!, `s_${k}`);
  assert.ok(Math.abs(t.relError - optimalError(s, 4)) < 1e-12);
  // a wider matrix, rows < cols, with the subspace-iteration method
  const big = withSpectrum(rng, 300, 600, Array.from({ length: 60 }, (_, i) => 0.7 ** i));
  const bs = Array.from({ length: 60 }, (_, i) => 0.7 ** i);
  for (const method of ['subspace', 'eig'] as const) {
    const r = truncatedSvd(big, 300, 600, { maxRank: 8, method });
    assert.equal(r.method, method);
    assert.equal(r.k, 8);
    assert.ok(Math.abs(r.relError - optimalError(bs, 8)) < 1e-9, `${method}: ${r.relError} vs ${optimalError(bs, 8)}`);
    assert.ok(Math.abs(reconstructionError(big, 300, 600, r.U, r.S, r.V, r.k) - r.relError) < 1e-15);
  }
  // numpy.linalg.svd reference (numpy 2.4.6) for a fixed 3 x 4 matrix
  const small = [1, 2, 3, 4, 2, 0, -1, 5, 7, 1, 1, 1];
  const r = truncatedSvd(small, 3, 4);
  const numpyS = [8.637423521256236, 5.145108579499019, 3.3049618181781035]; // np.linalg.svd(..., compute_uv=False)
  for (let k = 0; k < 3; k++) assert.ok(Math.abs(r.S[k]! - numpyS[k]!) < 1e-12, `s_${k} ${r.S[k]}`);
  assert.equal(truncatedSvd(new Float32Array(12), 3, 4).k, 0);
});

test('LoRA adapter for rank-2 attn_q and rank-3 token_embd deltas equals the merged model in llama.cpp', async (t) => {
  const base = needFixture(t, 'models', 'stories260K.gguf');
  if (!base) return;
  const rng = new Rng(42);
  const f = readGguf(base);
  // delta layout = the tensor's: ne[1] rows of ne[0]
  const dq = randomLowRank(rng, 64, 64, 2, 0.08); // blk.0.attn_q.weight ne [64, 64]
  const de = randomLowRank(rng, 512, 64, 3, 0.05); // token_embd.weight ne [64, 512]
  const deltas = [
    { tensor: 'blk.0.attn_q.weight', ne: [64, 64], delta: dq },
    { tensor: 'token_embd.weight', ne: [64, 512], delta: de },
  ];
  const adapter = path.join(tmp, 'adapter.gguf');
  const merged = path.join(tmp, 'merged.gguf');
  const rep = saveLoraAdapter(adapter, { baseGgufPath: base, deltas, maxRank: 8 });
  assert.deepEqual(rep.tensors.map((x) => [x.name, x.rank, x.exact]), [
    ['blk.0.attn_q.weight', 2, true],
    ['token_embd.weight', 3, true],
  ]);
  for (const x of rep.tensors) assert.ok(x.relError < 1e-6, `${x.name} relError ${x.relError}`);
  t.diagnostic(`exact factorisation errors: ${rep.tensors.map((x) => `${x.name} r=${x.rank} ${x.relError.toExponential(2)}`).join(', ')}`);
  saveMergedModel(merged, { baseGgufPath: base, deltas });

  // the adapter file as llama.cpp expects it
  const a = readGguf(adapter);
  assert.equal(requireMeta(a, 'general.type'), 'adapter');
  assert.equal(requireMeta(a, 'adapter.type'), 'lora');
  assert.equal(requireMeta(a, 'general.architecture'), 'llama');
  assert.equal(a.metadata.typeOf('adapter.lora.alpha'), 'float32');
  assert.equal(requireMeta(a, 'adapter.lora.alpha'), 8);
  const ne = (n: string) => a.tensors.find((x) => x.name === n)?.ne;
  assert.deepEqual(ne('blk.0.attn_q.weight.lora_a'), [64, 2]);
  assert.deepEqual(ne('blk.0.attn_q.weight.lora_b'), [2, 64]);
  assert.deepEqual(ne('token_embd.weight.lora_a'), [3, 512]);
  assert.deepEqual(ne('token_embd.weight.lora_b'), [3, 64]);
  // scale * alpha / r * B A reproduces each delta
  for (const d of deltas) {
    const back = loraDeltaFromAdapter(a, d.tensor);
    assert.ok(maxAbsDiff(back, d.delta) < 1e-6, d.tensor);
  }
  // the merged model holds W + delta exactly where changed, the base elsewhere
  const mf = readGguf(merged);
  const w0 = readTensorF32(f, 'token_embd.weight');
  assert.deepEqual(readTensorF32(mf, 'token_embd.weight'), Float32Array.from(w0, (v, i) => v + de[i]!));
  assert.deepEqual(readTensorF32(mf, 'blk.1.attn_q.weight'), readTensorF32(f, 'blk.1.attn_q.weight'));

  if (!(await needLlamaCpp(t))) return;
  const tokens = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 13, 40, 259];
  const score = async (file: string, lora?: string) => {
    const s = await LlamaCppScorer.open(file, { threads: 1, contextSize: 64, ...(lora ? { lora: [{ filePath: lora, scale: 1 }] } : {}) });
    try {
      return await s.logprobs(tokens, { full: true });
    } finally {
      await s.dispose();
    }
  };
  const lpBase = await score(base);
  const lpAdapter = await score(base, adapter);
  const lpMerged = await score(merged);
  const dAdapterMerged = Math.max(...lpAdapter.rows!.map((r, i) => maxAbsDiff(r, lpMerged.rows![i]!)));
  const dBase = maxAbsDiff(lpAdapter.logprobs, lpBase.logprobs);
  t.diagnostic(`llama.cpp log-probs: |base+adapter - merged| max ${dAdapterMerged.toExponential(2)} (all ${lpAdapter.rows!.length}x512 entries); |base+adapter - base| max ${dBase.toExponential(2)}`);
  assert.ok(dAdapterMerged < 1e-4, `adapter vs merged ${dAdapterMerged}`);
  assert.ok(dBase > 1e-2, `the adapter must change the model (${dBase})`);
  // the base is untouched after the adapter context is gone
  const again = await score(base);
  assert.equal(maxAbsDiff(again.logprobs, lpBase.logprobs), 0);
  // alpha only rescales the factors: another alpha gives the same model in llama.cpp
  const adapter1 = path.join(tmp, 'adapter-alpha1.gguf');
  saveLoraAdapter(adapter1, { baseGgufPath: base, deltas, maxRank: 8, alpha: 1 });
  const lpAlpha1 = await score(base, adapter1);
  assert.ok(maxAbsDiff(lpAlpha1.logprobs, lpAdapter.logprobs) < 1e-4);
});

test('a full-rank delta truncated to rank 4 reports its reconstruction error (Eckart-Young, and direct)', (t) => {
  const base = needFixture(t, 'models', 'stories260K.gguf');
  if (!base) return;
  const rng = new Rng(7);
  // blk.0.ffn_gate.weight has ne [64, 172]: 172 rows of 64; a full-rank (64) delta with known spectrum
  const s = Array.from({ length: 64 }, (_, i) => 0.05 * 0.9 ** i);
  const delta = Float32Array.from(withSpectrum(rng, 172, 64, s));
  const out = path.join(tmp, 'rank4.gguf');
  const rep = saveLoraAdapter(out, { baseGgufPath: base, deltas: [{ tensor: 'blk.0.ffn_gate.weight', ne: [64, 172], delta }], maxRank: 4 });
  const r = rep.tensors[0]!;
  assert.equal(r.rank, 4);
  assert.equal(r.deltaRank, 64);
  assert.equal(r.exact, false);
  // direct computation from the file: || delta - alpha/r * B A ||_F / || delta ||_F
  const back = loraDeltaFromAdapter(readGguf(out), 'blk.0.ffn_gate.weight');
  let num = 0;
  let den = 0;
  for (let i = 0; i < delta.length; i++) {
    num += (delta[i]! - back[i]!) ** 2;
    den += delta[i]! ** 2;
  }
  const direct = Math.sqrt(num / den);
  const optimal = optimalError(s, 4);
  t.diagnostic(`rank-4 truncation: reported ${r.relError.toFixed(6)}, direct ${direct.toFixed(6)}, Eckart-Young optimum ${optimal.toFixed(6)}`);
  assert.ok(Math.abs(r.relError - direct) < 1e-9, `${r.relError} vs ${direct}`);
  assert.ok(Math.abs(r.relError - optimal) < 1e-5, `${r.relError} vs ${optimal}`);
  assert.deepEqual(readGguf(out).tensors.map((x) => x.ne), [[64, 4], [4, 172]]);
});

test('bad LoRA requests are UserErrors (1-D tensors, shapes, unknown tensors)', (t) => {
  const base = needFixture(t, 'models', 'stories260K.gguf');
  if (!base) return;
  const out = path.join(tmp, 'bad.gguf');
  const save = (deltas: Parameters<typeof saveLoraAdapter>[1]['deltas']) => () => saveLoraAdapter(out, { baseGgufPath: base, deltas });
  const isUser = (re: RegExp) => (e: Error) => e instanceof UserError && re.test(e.message);
  assert.throws(save([{ tensor: 'output_norm.weight', ne: [64], delta: new Float32Array(64) }]), isUser(/1-D tensor.*merged model/));
  assert.throws(save([{ tensor: 'blk.0.attn_q.weight', ne: [64, 32], delta: new Float32Array(2048) }]), isUser(/shape \[64,32\].*\[64,64\]/));
  assert.throws(save([{ tensor: 'blk.0.attn_q.weight', ne: [64, 64], delta: new Float32Array(10) }]), isUser(/4096 values/));
  assert.throws(save([{ tensor: 'blk.9.attn_q.weight', ne: [64, 64], delta: new Float32Array(4096) }]), isUser(/not in the base model/));
  assert.throws(save([]), isUser(/no deltas/));
  assert.equal(fs.existsSync(out), false);
  // a 1-D change is fine as a merged model
  const merged = path.join(tmp, 'norm-merged.gguf');
  saveMergedModel(merged, { baseGgufPath: base, deltas: [{ tensor: 'output_norm.weight', ne: [64], delta: new Float32Array(64).fill(0.5) }] });
  const w = readTensorF32(readGguf(base), 'output_norm.weight');
  assert.deepEqual(readTensorF32(readGguf(merged), 'output_norm.weight'), Float32Array.from(w, (v) => v + 0.5));
});
