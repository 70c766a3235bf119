/**
 * The differentiable building blocks of src/engine/composite.ts: each forward against a plain
 * TypeScript reference (float64), against ggml's native op where one exists (ggml_norm,
 * ggml_gelu), and each gradient against central finite differences.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as op from '../../src/engine/ops.ts';
import * as nn from '../../src/engine/composite.ts';
import { Graph } from '../../src/engine/graph.ts';
import { Rng } from '../../src/util/rng.ts';
import { checkGrad, maxAbsDiff, runForward } from './util.ts';

const GELU_C = Math.sqrt(2 / Math.PI);
const geluRef = (x: number) => 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x ** 3)));
const sigmoidRef = (x: number) => 1 / (1 + Math.exp(-x));

/** y = (x - mean) / sqrt(var + eps) over consecutive blocks of `n` values (float64). */
function normalizeBlocks(x: Float32Array, n: number, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let s = 0; s < x.length; s += n) {
    let m = 0;
    for (let i = 0; i < n; i++) m += x[s + i]!;
    m /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (x[s + i]! - m) ** 2;
    v /= n;
    for (let i = 0; i < n; i++) y[s + i] = (x[s + i]! - m) / Math.sqrt(v + eps);
  }
  return y;
}

const idx4 = (ne: number[], a: number, b: number, c: number, d: number) => a + ne[0]! * (b + ne[1]! * (c + ne[2]! * d));

test('layerNorm: forward vs TypeScript and ggml_norm; gradient vs finite differences', (t) => {
  const rng = new Rng(7);
  const shape = [10, 3, 2];
  const x = rng.normalArray(60, 2).map((v, i) => v + (i % 3)); // non-zero means
  const eps = 1e-5;
  const ours = runForward({ x: { shape, data: x } }, (i) => nn.layerNorm(i.x!, eps)).data;
  const native = runForward({ x: { shape, data: x } }, (i) => op.normNative(i.x!, eps)).data;
  const ref = normalizeBlocks(x, 10, eps);
  const dRef = maxAbsDiff(ours, ref);
  const dNative = maxAbsDiff(ours, native);
  t.diagnostic(`layerNorm forward: max |ours - TS| ${dRef.toExponential(2)}, max |ours - ggml_norm| ${dNative.toExponential(2)}`);
  assert.ok(dRef < 1e-5, `layerNorm vs TypeScript: ${dRef}`);
  assert.ok(dNative < 1e-5, `layerNorm vs ggml_norm: ${dNative}`);
  checkGrad(t, 'layerNorm', { params: { x: { shape, init: () => x } }, build: (i) => nn.layerNorm(i.x!, eps) });
  // With eps = 0.5 the eps term really matters (var ~ 4): a misplaced eps would show here.
  const ref2 = normalizeBlocks(x, 10, 0.5);
  const ours2 = runForward({ x: { shape, data: x } }, (i) => nn.layerNorm(i.x!, 0.5)).data;
  assert.ok(maxAbsDiff(ours2, ref2) < 1e-5, 'layerNorm eps placement');
});

test('sigmoid: forward vs TypeScript and ggml_sigmoid, finite everywhere, gradient vs finite differences', (t) => {
  const extreme = Float32Array.from([-100, -40, -20, -5, -1e-3, 0, 1e-3, 5, 20, 40, 100, 3.5]);
  const ours = runForward({ x: { shape: [12], data: extreme } }, (i) => nn.sigmoid(i.x!)).data;
  const native = runForward({ x: { shape: [12], data: extreme } }, (i) => op.sigmoid(i.x!)).data;
  const ref = Array.from(extreme, sigmoidRef);
  // relative to the value, since sigmoid(-100) ~ 4e-44 must not become 0/NaN
  for (let i = 0; i < 12; i++) {
    assert.ok(Number.isFinite(ours[i]!), `sigmoid(${extreme[i]}) = ${ours[i]}`);
    assert.ok(Math.abs(ours[i]! - ref[i]!) <= 1e-6 + 1e-5 * ref[i]!, `sigmoid(${extreme[i]}) = ${ours[i]}, expected ${ref[i]}`);
  }
  const dNative = maxAbsDiff(ours, native);
  t.diagnostic(`sigmoid forward: max |ours - TS| ${maxAbsDiff(ours, ref).toExponential(2)}, max |ours - ggml_sigmoid| ${dNative.toExponential(2)}`);
  assert.ok(dNative < 1e-6);
  checkGrad(t, 'sigmoid', { params: { x: { shape: [7, 4], std: 3 } }, build: (i) => nn.sigmoid(i.x!) });
  // analytic gradient at extreme inputs: finite and equal to s(1 - s)
  const g = new Graph();
  try {
    const p = g.param('x', [12]);
    g.build({ loss: op.sum(nn.sigmoid(p)), backward: true });
    g.allocate();
    g.set(p, extreme);
    g.compute('backward');
    const grad = g.grad(p);
    for (let i = 0; i < 12; i++) {
      const s = sigmoidRef(extreme[i]!);
      assert.ok(Number.isFinite(grad[i]!), `d sigmoid at ${extreme[i]} is ${grad[i]}`);
      assert.ok(Math.abs(grad[i]! - s * (1 - s)) <= 1e-6 + 1e-4 * s * (1 - s), `d sigmoid at ${extreme[i]}: ${grad[i]} vs ${s * (1 - s)}`);
    }
  } finally {
    g.dispose();
  }
});

test('gelu: forward vs TypeScript and ggml_gelu (within 1e-3), finite gradients at extremes, gradient vs finite differences', (t) => {
  const rng = new Rng(3);
  const grid = Array.from({ length: 241 }, (_, i) => -12 + i * 0.1);
  const x = Float32Array.from([...rng.normalArray(60, 3), ...grid, -100, -30, -10, -1e-4, 0, 1e-4, 10, 30, 100]);
  const n = x.length;
  const ours = runForward({ x: { shape: [n], data: x } }, (i) => nn.gelu(i.x!)).data;
  const native = runForward({ x: { shape: [n], data: x } }, (i) => op.geluNative(i.x!)).data;
  const ref = Array.from(x, geluRef);
  const dRef = maxAbsDiff(ours, ref);
  const dNative = maxAbsDiff(ours, native);
  // ggml's CPU gelu rounds x to fp16 and reads an fp16 table for -10 < x < 10 (GGML_GELU_FP16), so
  // it is only accurate to ~1e-3 relative: 3.4e-4 absolute for |x| <= 1, 3.7e-3 near x = 8.
  let dNativeRel = 0;
  for (let i = 0; i < n; i++) dNativeRel = Math.max(dNativeRel, Math.abs(ours[i]! - native[i]!) / Math.max(1, Math.abs(x[i]!)));
  t.diagnostic(
    `gelu forward: max |ours - TS| ${dRef.toExponential(2)}, max |ours - ggml_gelu| ${dNative.toExponential(2)}, ` +
      `max |ours - ggml_gelu| / max(1, |x|) ${dNativeRel.toExponential(2)}`,
  );
  for (let i = 0; i < n; i++) assert.ok(Math.abs(ours[i]! - ref[i]!) <= 1e-6 + 2e-6 * Math.abs(ref[i]!), `gelu(${x[i]}) = ${ours[i]} vs ${ref[i]}`);
  assert.ok(dNativeRel < 1e-3, `gelu vs ggml_gelu: ${dNativeRel} relative to max(1, |x|)`);
  checkGrad(t, 'gelu', { params: { x: { shape: [9, 5], std: 2 } }, build: (i) => nn.gelu(i.x!) });
  const g = new Graph();
  try {
    const p = g.param('x', [n]);
    g.build({ loss: op.sum(nn.gelu(p)), backward: true });
    g.allocate();
    g.set(p, x);
    g.compute('backward');
    const grad = g.grad(p);
    for (let i = 0; i < n; i++) {
      const h = 1e-4 * Math.max(1, Math.abs(x[i]!));
      const d = (geluRef(x[i]! + h) - geluRef(x[i]! - h)) / (2 * h); // float64 reference derivative
      assert.ok(Number.isFinite(grad[i]!), `d gelu at ${x[i]} is ${grad[i]}`);
      assert.ok(Math.abs(grad[i]! - d) < 1e-4, `d gelu at ${x[i]}: ${grad[i]} vs ${d}`);
    }
  } finally {
    g.dispose();
  }
});

/** Direct 2-D cross-correlation in float64: kernel [KW,KH,IC,OC], data [W,H,IC,N] -> [OW,OH,OC,N]. */
function conv2dRef(k: Float32Array, kne: number[], d: Float32Array, dne: number[], stride: number, pad: number, bias?: Float32Array) {
  const [KW, KH, IC, OC] = kne as [number, number, number, number];
  const [W, H, , N] = dne as [number, number, number, number];
  const OW = Math.floor((W + 2 * pad - KW) / stride) + 1;
  const OH = Math.floor((H + 2 * pad - KH) / stride) + 1;
  const one = [OW, OH, OC, N];
  const out = new Float64Array(OW * OH * OC * N);
  for (let n = 0; n < N; n++)
    for (let oc = 0; oc < OC; oc++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          let s = bias ? bias[oc]! : 0;
          for (let ic = 0; ic < IC; ic++)
            for (let ky = 0; ky < KH; ky++)
              for (let kx = 0; kx < KW; kx++) {
                const ix = ox * stride - pad + kx;
                const iy = oy * stride - pad + ky;
                if (ix < 0 || iy < 0 || ix >= W || iy >= H) continue;
                s += k[idx4(kne, kx, ky, ic, oc)]! * d[idx4(dne, ix, iy, ic, n)]!;
              }
          out[idx4(one, ox, oy, oc, n)] = s;
        }
  return { out, shape: [OW, OH, OC, N] };
}

test('conv2d: forward vs a direct convolution; gradients of data, kernel and bias vs finite differences', (t) => {
  const rng = new Rng(11);
  const kne = [3, 3, 2, 4];
  const dne = [7, 6, 2, 2];
  const k = rng.normalArray(72, 0.5);
  const d = rng.normalArray(168);
  const b = rng.normalArray(4);
  for (const [stride, pad] of [
    [1, 0],
    [1, 1],
    [2, 1],
  ] as const) {
    const ours = runForward(
      { k: { shape: kne, data: k }, d: { shape: dne, data: d }, b: { shape: [4], data: b } },
      (i) => nn.conv2d(i.k!, i.d!, { stride, pad, bias: i.b! }),
    );
    const ref = conv2dRef(k, kne, d, dne, stride, pad, b);
    assert.deepEqual(ours.shape, ref.shape, `conv2d stride ${stride} pad ${pad} shape`);
    const diff = maxAbsDiff(ours.data, ref.out);
    t.diagnostic(`conv2d stride ${stride} pad ${pad} forward: max |ours - direct| ${diff.toExponential(2)}`);
    assert.ok(diff < 1e-4, `conv2d forward differs by ${diff}`);
  }
  checkGrad(t, 'conv2d', {
    params: { k: { shape: [3, 3, 2, 3], std: 0.5 }, d: { shape: [5, 5, 2, 2] }, b: { shape: [3] } },
    build: (i) => nn.conv2d(i.k!, i.d!, { stride: 2, pad: 1, bias: i.b! }),
    maxElements: 40,
  });
});

test('batchNorm (training mode) and channelStats: forward vs TypeScript; gradient vs finite differences', (t) => {
  const rng = new Rng(5);
  const ne = [4, 3, 3, 2];
  const x = rng.normalArray(72, 2).map((v, i) => v + Math.floor(i / 12) % 3); // per-channel offsets
  const eps = 1e-3;
  const ours = runForward({ x: { shape: ne, data: x } }, (i) => nn.batchNorm(i.x!, eps)).data;
  // reference: per channel over W, H, N
  const ref = new Float64Array(72);
  const [W, H, C, N] = ne as [number, number, number, number];
  const mean: number[] = [];
  const vars: number[] = [];
  for (let c = 0; c < C; c++) {
    const at: number[] = [];
    for (let n = 0; n < N; n++) for (let y = 0; y < H; y++) for (let w = 0; w < W; w++) at.push(idx4(ne, w, y, c, n));
    const m = at.reduce((s, j) => s + x[j]!, 0) / at.length;
    const v = at.reduce((s, j) => s + (x[j]! - m) ** 2, 0) / at.length;
    mean.push(m);
    vars.push(v);
    for (const j of at) ref[j] = (x[j]! - m) / Math.sqrt(v + eps);
  }
  const diff = maxAbsDiff(ours, ref);
  t.diagnostic(`batchNorm forward: max |ours - TS| ${diff.toExponential(2)}`);
  assert.ok(diff < 1e-5, `batchNorm forward differs by ${diff}`);
  const stats = runForward({ x: { shape: ne, data: x } }, (i) => {
    const s = nn.channelStats(i.x!);
    return op.concat(s.mean, s.variance, 0);
  }).data;
  assert.ok(maxAbsDiff(stats, [...mean, ...vars]) < 1e-5, 'channelStats');
  checkGrad(t, 'batchNorm', { params: { x: { shape: ne, init: () => x } }, build: (i) => nn.batchNorm(i.x!, eps) });
  checkGrad(t, 'batchNorm affine', {
    params: { x: { shape: [3, 2, 2, 3] }, w: { shape: [2] }, b: { shape: [2] } },
    build: (i) => nn.batchNorm(i.x!, eps, { weight: i.w!, bias: i.b! }),
  });
});

test('groupNorm: forward vs TypeScript (incl. groups = 1 and = C); gradient vs finite differences', (t) => {
  const rng = new Rng(9);
  const ne = [3, 2, 4, 2];
  const x = rng.normalArray(48, 1.5).map((v, i) => v + (i % 5));
  const eps = 1e-4;
  for (const groups of [1, 2, 4]) {
    const ours = runForward({ x: { shape: ne, data: x } }, (i) => nn.groupNorm(i.x!, groups, eps)).data;
    // each (sample, group) is a contiguous block of W*H*C/groups values in [W,H,C,N] layout
    const ref = normalizeBlocks(x, (3 * 2 * 4) / groups, eps);
    const diff = maxAbsDiff(ours, ref);
    t.diagnostic(`groupNorm groups ${groups} forward: max |ours - TS| ${diff.toExponential(2)}`);
    assert.ok(diff < 1e-5, `groupNorm groups ${groups} differs by ${diff}`);
  }
  checkGrad(t, 'groupNorm', { params: { x: { shape: ne, init: () => x } }, build: (i) => nn.groupNorm(i.x!, 2, eps) });
  checkGrad(t, 'groupNorm affine', {
    params: { x: { shape: [2, 2, 4, 2] }, w: { shape: [4] }, b: { shape: [4] } },
    build: (i) => nn.groupNorm(i.x!, 2, eps, { weight: i.w!, bias: i.b! }),
  });
  assert.throws(() => runForward({ x: { shape: ne, data: x } }, (i) => nn.groupNorm(i.x!, 3)), /4 channels cannot be split into 3 groups/);
});

test('a CNN block conv2d -> batchNorm -> gelu -> pool2d -> groupNorm: gradients vs finite differences', (t) => {
  // batchNorm permutes the output of conv2d's CONT node: this chain aborted the process before
  // ops.permute gave permuted sources a contiguous gradient.
  checkGrad(t, 'conv-bn-gelu-pool-gn', {
    params: {
      k: { shape: [3, 3, 2, 4], std: 0.5 },
      d: { shape: [6, 6, 2, 2] },
      gamma: { shape: [4] },
      beta: { shape: [4] },
    },
    build: (i) => {
      const y = nn.gelu(nn.batchNorm(nn.conv2d(i.k!, i.d!, { pad: 1 }), 1e-5, { weight: i.gamma!, bias: i.beta! }));
      return nn.groupNorm(op.pool2d(y, 'avg', 2, 2), 2, 1e-5);
    },
    maxElements: 40,
  });
});
