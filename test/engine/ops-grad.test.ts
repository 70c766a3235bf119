/**
 * ggml's automatic backward for every op unlearnkit differentiates, against central finite
 * differences (src/engine/gradcheck.ts), on small random shapes. Non-scalar outputs are reduced by
 * a seeded random projection, so a wrong, scaled or permuted gradient fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as op from '../../src/engine/ops.ts';
import { gradCheck } from '../../src/engine/gradcheck.ts';
import type { Rng } from '../../src/util/rng.ts';
import { checkGrad } from './util.ts';

/** Values whose magnitude is at least `min` (keeps |x| and max-pooling away from their kinks). */
const awayFromZero = (min: number) => (rng: Rng, n: number) =>
  Float32Array.from({ length: n }, () => (rng.next() < 0.5 ? -1 : 1) * (min + rng.next()));

/** Distinct values spaced 0.1 apart, shuffled: no two within a finite-difference step of each other. */
const distinct = (rng: Rng, n: number) => Float32Array.from(rng.shuffle(Array.from({ length: n }, (_, i) => (i - n / 2) * 0.1)));

test('gradcheck itself: a gradient scaled by 2% or with two entries swapped fails', () => {
  const base = {
    params: { a: { shape: [5, 4] }, b: { shape: [5, 3] } },
    build: (t: Record<string, import('../../src/engine/graph.ts').Tensor>) => op.mulMat(t.a!, t.b!),
  };
  const ok = gradCheck(base);
  assert.ok(ok.pass, 'the uncorrupted gradient passes');
  const scaled = gradCheck({ ...base, corruptAnalytic: (n, g) => (n === 'a' ? g.map((v) => v * 1.02) : g) });
  assert.equal(scaled.pass, false, 'a 2% scaled gradient must fail');
  const swapped = gradCheck({
    ...base,
    corruptAnalytic: (n, g) => {
      if (n !== 'b') return g;
      const c = g.slice();
      [c[0], c[7]] = [c[7]!, c[0]!];
      return c;
    },
  });
  assert.equal(swapped.pass, false, 'swapped gradient entries must fail');
  const zero = gradCheck({ ...base, corruptAnalytic: (n, g) => (n === 'a' ? g.map(() => 0) : g) });
  assert.equal(zero.pass, false, 'a zero gradient must fail');
});

test('mulMat: plain, batched, and broadcast over batch dims', (t) => {
  checkGrad(t, 'mulMat [5,4]x[5,3]', { params: { a: { shape: [5, 4] }, b: { shape: [5, 3] } }, build: (x) => op.mulMat(x.a!, x.b!) });
  checkGrad(t, 'mulMat batched [6,3,2]x[6,4,2]', { params: { a: { shape: [6, 3, 2] }, b: { shape: [6, 4, 2] } }, build: (x) => op.mulMat(x.a!, x.b!) });
  checkGrad(t, 'mulMat broadcast [4,3]x[4,2,3]', { params: { a: { shape: [4, 3] }, b: { shape: [4, 2, 3] } }, build: (x) => op.mulMat(x.a!, x.b!) });
});

test('add and mul: same shape and broadcast', (t) => {
  checkGrad(t, 'add', { params: { a: { shape: [4, 3, 2] }, b: { shape: [4, 3, 2] } }, build: (x) => op.add(x.a!, x.b!) });
  checkGrad(t, 'add broadcast', { params: { a: { shape: [4, 3, 2] }, b: { shape: [4, 1, 2] } }, build: (x) => op.add(x.a!, x.b!) });
  checkGrad(t, 'mul', { params: { a: { shape: [5, 3] }, b: { shape: [5, 3] } }, build: (x) => op.mul(x.a!, x.b!) });
  checkGrad(t, 'mul broadcast', { params: { a: { shape: [5, 3, 2] }, b: { shape: [5, 1, 1] } }, build: (x) => op.mul(x.a!, x.b!) });
});

test('scale, sqr, abs', (t) => {
  checkGrad(t, 'scale', { params: { a: { shape: [6, 3] } }, build: (x) => op.scale(x.a!, -0.7) });
  checkGrad(t, 'sqr', { params: { a: { shape: [6, 3] } }, build: (x) => op.sqr(x.a!) });
  checkGrad(t, 'abs', { params: { a: { shape: [6, 3], init: awayFromZero(0.1) } }, build: (x) => op.abs(x.a!) });
});

test('sum, sumRows and mean', (t) => {
  checkGrad(t, 'sum', { params: { a: { shape: [5, 3, 2] } }, build: (x) => op.sum(x.a!) });
  checkGrad(t, 'sumRows', { params: { a: { shape: [5, 3, 2] } }, build: (x) => op.sumRows(x.a!) });
  checkGrad(t, 'mean', { params: { a: { shape: [5, 3, 2] } }, build: (x) => op.mean(x.a!) });
});

test('rmsNorm', (t) => {
  checkGrad(t, 'rmsNorm', { params: { a: { shape: [8, 3, 2] } }, build: (x) => op.rmsNorm(x.a!, 1e-5) });
});

test('ropeExt: NORMAL (mode 0, LLaMA GGUFs) and NEOX (mode 2), full and partial rotation', (t) => {
  const pos = { shape: [4], dtype: 'i32' as const, data: Int32Array.from([0, 3, 7, 12]) };
  for (const [mode, label] of [
    [op.ROPE_NORMAL, 'NORMAL'],
    [op.ROPE_NEOX, 'NEOX'],
  ] as const) {
    for (const nDims of [8, 4]) {
      checkGrad(t, `ropeExt ${label} nDims ${nDims}`, {
        params: { a: { shape: [8, 2, 4, 2] } },
        inputs: { pos },
        build: (x) => op.ropeExt(x.a!, x.pos!, { nDims, mode, freqBase: 10000 }),
      });
    }
  }
});

test('softMaxExt with a causal -Infinity mask and scale', (t) => {
  const T = 5;
  const mask = new Float32Array(T * T);
  for (let q = 0; q < T; q++) for (let k = 0; k < T; k++) mask[q * T + k] = k > q ? -Infinity : 0;
  checkGrad(t, 'softMaxExt causal', {
    params: { s: { shape: [T, T, 2] } },
    inputs: { mask: { shape: [T, T], data: mask, allowNegInfinity: true } },
    build: (x) => op.softMaxExt(x.s!, x.mask!, 0.5),
  });
  checkGrad(t, 'softMaxExt no mask', { params: { s: { shape: [6, 3] } }, build: (x) => op.softMaxExt(x.s!, null, 1.3) });
});

test('getRows with repeated indices', (t) => {
  checkGrad(t, 'getRows', {
    params: { a: { shape: [4, 6] } },
    inputs: { idx: { shape: [5], dtype: 'i32', data: Int32Array.from([1, 3, 3, 0, 5]) } },
    build: (x) => op.getRows(x.a!, x.idx!),
  });
});

test('silu and swigluSplit', (t) => {
  checkGrad(t, 'silu', { params: { a: { shape: [6, 4], std: 2 } }, build: (x) => op.silu(x.a!) });
  checkGrad(t, 'swigluSplit', { params: { gate: { shape: [6, 3], std: 2 }, up: { shape: [6, 3] } }, build: (x) => op.swigluSplit(x.gate!, x.up!) });
});

test('crossEntropyLoss with one-hot and soft labels', (t) => {
  const V = 5;
  const N = 4;
  const onehot = new Float32Array(V * N);
  for (let n = 0; n < N; n++) onehot[n * V + ((n * 3) % V)] = 1;
  checkGrad(t, 'crossEntropyLoss one-hot', {
    params: { logits: { shape: [V, N], std: 2 } },
    inputs: { labels: { shape: [V, N], data: onehot } },
    build: (x) => op.crossEntropyLoss(x.logits!, x.labels!),
  });
  const soft = new Float32Array(V * N);
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let v = 0; v < V; v++) s += soft[n * V + v] = 1 + ((v * 7 + n * 3) % 5);
    for (let v = 0; v < V; v++) soft[n * V + v]! /= s;
  }
  checkGrad(t, 'crossEntropyLoss soft', {
    params: { logits: { shape: [V, N], std: 2 } },
    inputs: { labels: { shape: [V, N], data: soft } },
    build: (x) => op.crossEntropyLoss(x.logits!, x.labels!),
  });
});

test('im2col: gradient wrt the data (and the kernel) of a convolution built with mulMat', (t) => {
  for (const [stride, pad] of [
    [1, 1],
    [2, 0],
  ] as const) {
    checkGrad(t, `im2col conv stride ${stride} pad ${pad}`, {
      params: { data: { shape: [6, 5, 2, 2] }, kernel: { shape: [3, 3, 2, 3], std: 0.5 } },
      build: (x) => {
        const cols = op.im2col(x.kernel!, x.data!, { stride, pad }); // [18, OW, OH, N]
        const [k, ow, oh, n] = cols.ne;
        return op.mulMat(op.reshape(cols, [k, ow * oh * n]), op.reshape(x.kernel!, [k, 3]));
      },
      maxElements: 48,
    });
  }
});

test('pool2d: average and max, non-overlapping and overlapping windows', (t) => {
  checkGrad(t, 'pool2d avg k2 s2', { params: { a: { shape: [6, 4, 2, 2] } }, build: (x) => op.pool2d(x.a!, 'avg', 2, 2) });
  checkGrad(t, 'pool2d max k2 s2', { params: { a: { shape: [6, 4, 2, 2], init: distinct } }, build: (x) => op.pool2d(x.a!, 'max', 2, 2) });
  checkGrad(t, 'pool2d avg k3 s1', { params: { a: { shape: [5, 5, 2] } }, build: (x) => op.pool2d(x.a!, 'avg', 3, 1) });
  checkGrad(t, 'pool2d max k3 s1', { params: { a: { shape: [5, 5, 2], init: distinct } }, build: (x) => op.pool2d(x.a!, 'max', 3, 1) });
});

test('permute and transpose: on a parameter directly and on a CONT output (contiguous gradients)', (t) => {
  checkGrad(t, 'permute param', { params: { a: { shape: [3, 4, 2] } }, build: (x) => op.cont(op.permute(x.a!, [2, 0, 1, 3])) });
  checkGrad(t, 'transpose param in mulMat', {
    params: { w: { shape: [3, 4] }, b: { shape: [2, 4] } },
    build: (x) => op.mulMat(op.cont(op.transpose(x.w!)), op.cont(op.transpose(x.b!))),
  });
  checkGrad(t, 'permute of a cont', { params: { a: { shape: [3, 4, 2] } }, build: (x) => op.cont(op.permute(op.cont(op.sqr(x.a!)), [1, 0, 2, 3])) });
});
