/**
 * The float64 log-softmax kernel (src/model/logsumexp.ts) against references computed here: the
 * sum of exp(x - max) within 3e-15 relative of a compensated (Neumaier) sum of Math.exp terms
 * (fdlibm, < 1 ulp each) at vocabulary sizes up to Qwen's 151936, and the row maximum exact; every
 * row length (the n mod 4 tail), rows anywhere in memory, the engines' entry points, -Infinity and
 * NaN logits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogSoftmaxKernel, simdLogSumExp } from '../../src/model/logsumexp.ts';
import { logSoftmax } from '../../src/model/llamacppLogprobs.ts';
import { logSoftmaxAt, logSoftmaxRow } from '../../src/model/model.ts';
import { Rng } from '../../src/util/rng.ts';

/** max and Neumaier-compensated sum of Math.exp(x - max), in float64. */
function reference(x: Float32Array, off: number, n: number): [number, number] {
  let m = -Infinity;
  for (let v = 0; v < n; v++) if (x[off + v]! > m) m = x[off + v]!;
  let s = 0;
  let c = 0;
  for (let v = 0; v < n; v++) {
    const t = Math.exp(x[off + v]! - m);
    const u = s + t;
    c += Math.abs(s) >= t ? s - u + t : t - u + s;
    s = u;
  }
  return [m, s + c];
}

test('the WebAssembly SIMD kernel is available (Node >= 16.4 has WebAssembly SIMD)', () => {
  assert.equal(simdLogSumExp(), true);
});

test('sum of exp(x - max): within 3e-15 of a compensated sum, the max exact, at every length and offset', () => {
  const k = new LogSoftmaxKernel();
  const rng = new Rng(7);
  let worst = 0;
  for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 1023, 1024, 1025, 50257, 151936]) {
    for (const sd of [1, 6]) {
      const x = new Float32Array(n + 3);
      for (let i = 0; i < x.length; i++) x[i] = rng.normal() * sd;
      for (const off of [0, 1, 3]) {
        const [m, s] = k.maxSumExp(x, off, n);
        const [rm, rs] = reference(x, off, n);
        assert.equal(m, rm, `max, n ${n}`);
        worst = Math.max(worst, Math.abs(s! - rs) / rs);
      }
      // the same row inside the kernel's memory (no copy)
      const inside = k.scratch(n);
      inside.set(x.subarray(0, n));
      const [, s] = k.maxSumExp(inside, 0, n);
      worst = Math.max(worst, Math.abs(s! - reference(x, 0, n)[1]) / reference(x, 0, n)[1]);
    }
  }
  assert.ok(worst < 3e-15, `worst relative error ${worst}`);
});

test('log p = x_t - max - log(sum): the engines\' entry points agree, -Infinity logits get -Infinity, NaN propagates', () => {
  const rng = new Rng(11);
  const V = 50257;
  const x = new Float32Array(V);
  for (let i = 0; i < V; i++) x[i] = rng.normal() * 3;
  const [m, s] = reference(x, 0, V);
  const row = logSoftmaxRow(x, 0, V);
  const lc = logSoftmax(x);
  const lc64 = logSoftmax(Float64Array.from(x)); // float32-exact values in a float64 array: the same kernel
  for (const t of [0, 1, 17, 4096, V - 1]) {
    const want = x[t]! - m - Math.log(s);
    assert.ok(Math.abs(logSoftmaxAt(x, 0, V, t) - want) < 1e-14);
    assert.equal(row[t], logSoftmaxAt(x, 0, V, t));
    assert.equal(lc[t], row[t]);
    assert.equal(lc64[t], row[t]);
  }
  const y = x.slice(0, 10);
  y[3] = -Infinity;
  assert.equal(logSoftmaxRow(y, 0, 10)[3], -Infinity);
  y[5] = NaN;
  assert.ok(Number.isNaN(logSoftmaxAt(y, 0, 10, 0)));
  // a float64 vector that is not float32-exact takes the Math.exp path
  const z = [0.1, 0.2, 0.30000000000000004];
  const lz = logSoftmax(z);
  const lse = Math.log(Math.exp(0.1 - 0.30000000000000004) + Math.exp(0.2 - 0.30000000000000004) + 1);
  assert.ok(Math.abs(lz[0]! - (0.1 - 0.30000000000000004 - lse)) < 1e-15);
});
