/**
 * The native matmul (native/matmul.c through op.fastMatMul) against a float64 product of the same
 * operands and against ggml's mul_mat: plain, transposed and permuted views, batches with the
 * first operand broadcast (grouped-query attention), edges of every tile dimension, K spanning
 * several packed blocks, and bitwise-equal results on 1 and 2 threads. Then the fallbacks, in child
 * processes (the kernel status is fixed per process): UNLEARNKIT_MATMUL=ggml, and no C compiler.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Graph, type Tensor } from '../../src/engine/graph.ts';
import * as op from '../../src/engine/ops.ts';
import { nativeKernels } from '../../src/engine/native.ts';
import { Rng } from '../../src/util/rng.ts';
import { skipLoudly } from '../helpers/fixtures.ts';
import { relL2 } from './util.ts';
import { getEngine } from '../../src/engine/engine.ts';

// The 2-thread checks below need two engine threads even where `npm test` runs files side by side
// with UNLEARNKIT_THREADS=1 (scripts/run-tests.mjs): set before the first backend is created.
getEngine({ threads: 2 });

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

interface Case {
  name: string;
  /** Shapes of the two contiguous inputs. */
  shapes: [number[], number[]];
  /** The operands built from the inputs (views allowed). */
  operands: (x: Tensor, y: Tensor) => [Tensor, Tensor];
}

const CASES: Case[] = [
  { name: 'plain, odd sizes', shapes: [[70, 45], [70, 33]], operands: (x, y) => [x, y] },
  { name: 'one row and one column', shapes: [[9, 1], [9, 50]], operands: (x, y) => [x, y] },
  { name: 'K over several packed blocks, N over several row blocks', shapes: [[600, 37], [600, 211]], operands: (x, y) => [x, y] },
  { name: 'transposed first operand (dx = W^T dy)', shapes: [[45, 70], [70, 33]], operands: (x, y) => [op.transpose(x), y] },
  { name: 'both transposed (dW = x dy^T)', shapes: [[45, 130], [29, 130]], operands: (x, y) => [op.transpose(x), op.transpose(y)] },
  {
    name: 'permuted 4-D views, KV heads broadcast over query heads',
    shapes: [[16, 2, 20, 3], [16, 4, 20, 3]],
    operands: (k, q) => [op.permute(k, [0, 2, 1, 3]), op.permute(q, [0, 2, 1, 3])], // [16, 20, 2, 3] x [16, 20, 4, 3]
  },
  {
    name: 'per-example products of token-major views',
    shapes: [[24, 12 * 3], [40, 12 * 3]],
    operands: (x, dy) => [op.permute(op.reshape(x, [24, 12, 3]), [1, 0, 2, 3]), op.permute(op.reshape(dy, [40, 12, 3]), [1, 0, 2, 3])],
  },
];

function randomData(n: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** float64 ggml mul_mat of contiguous a [K, M, a2, a3] and b [K, N, b2, b3]. */
function reference(a: Float32Array, an: number[], b: Float32Array, bn: number[]): Float64Array {
  const [K, M, a2 = 1, a3 = 1] = an;
  const [, N, b2 = 1, b3 = 1] = bn;
  const out = new Float64Array(M! * N! * b2 * b3);
  for (let i3 = 0; i3 < b3; i3++)
    for (let i2 = 0; i2 < b2; i2++) {
      const ao = ((Math.floor(i3 / (b3 / a3)) * a2 + Math.floor(i2 / (b2 / a2))) * M! * K!);
      const bo = (i3 * b2 + i2) * N! * K!;
      const oo = (i3 * b2 + i2) * N! * M!;
      for (let n = 0; n < N!; n++)
        for (let m = 0; m < M!; m++) {
          let s = 0;
          for (let k = 0; k < K!; k++) s += a[ao + m * K! + k]! * b[bo + n * K! + k]!;
          out[oo + n * M! + m] = s;
        }
    }
  return out;
}

/** Relative L2 difference of x from ref. */
const relErr = (ref: ArrayLike<number>, x: ArrayLike<number>): number => relL2(x, ref);

test('native matmul equals a float64 product and ggml mul_mat on plain, transposed, permuted and broadcast operands', (t) => {
  const st = nativeKernels();
  if (!st.kernels) return skipLoudly(t, `native kernels unavailable: ${st.reason}`);
  const rng = new Rng(5);
  for (const c of CASES) {
    const g = new Graph({ maxNodes: 64 });
    try {
      const x = g.input('x', c.shapes[0]);
      const y = g.input('y', c.shapes[1]);
      const [a, b] = c.operands(x, y);
      const ac = op.cont(a);
      const bc = op.cont(b);
      const fast = op.fastMatMul(a, b);
      const ggml = op.mulMat(ac, bc);
      g.build({ outputs: [fast, ggml, ac, bc] });
      g.allocate();
      g.set(x, randomData(x.numel, rng));
      g.set(y, randomData(y.numel, rng));
      g.compute('forward', { threads: 1 });
      const one = g.get(fast);
      const ref = reference(g.get(ac), ac.ne, g.get(bc), bc.ne);
      assert.deepEqual(fast.ne, ggml.ne, c.name);
      const eRef = relErr(ref, one);
      const eGgml = relErr(g.get(ggml), one);
      assert.ok(eRef < 1e-6, `${c.name}: ${eRef.toExponential(2)} from the float64 product`);
      assert.ok(eGgml < 1e-6, `${c.name}: ${eGgml.toExponential(2)} from ggml mul_mat`);
      // threads split the output, never the sum: the same bits on 2 threads
      g.compute('forward', { threads: 2 });
      assert.deepEqual(g.get(fast), one, `${c.name}: 2 threads changed the result`);
      t.diagnostic(`${c.name}: ${shapeOf(a)} x ${shapeOf(b)} rel err ${eRef.toExponential(2)} (float64), ${eGgml.toExponential(2)} (ggml)`);
    } finally {
      g.dispose();
    }
  }
});

function shapeOf(t: Tensor): string {
  return `[${t.shape.join(', ')}]`;
}

test('fastMatMul rejects operands whose shapes do not fit, naming them', () => {
  const g = new Graph({ maxNodes: 16 });
  try {
    const a = g.input('a', [8, 4]);
    const b = g.input('b', [9, 4]);
    assert.throws(() => op.fastMatMul(a, b), /fastMatMul: inner dimensions differ: \[8, 4\] x \[9, 4\]/);
    const c = g.input('c', [8, 4, 3]);
    const d = g.input('d', [8, 4, 2]);
    assert.throws(() => op.fastMatMul(c, d), /batch dims .* do not broadcast/);
  } finally {
    g.dispose();
  }
});

/** Run test/engine/native-child.ts with extra environment; returns its JSON line. */
function child(env: Record<string, string>): { reason: string; native: boolean; relErr: number } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'native-child.ts')], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('{'));
  assert.ok(line, `child printed no result (status ${r.status}): ${r.stderr}`);
  return JSON.parse(line!);
}

test('UNLEARNKIT_MATMUL=ggml: fastMatMul falls back to ggml mul_mat with the same result', () => {
  const r = child({ UNLEARNKIT_MATMUL: 'ggml' });
  assert.equal(r.native, false);
  assert.match(r.reason, /UNLEARNKIT_MATMUL=ggml/);
  assert.ok(r.relErr < 1e-6, `fallback result differs by ${r.relErr}`);
});

test('without a C compiler the kernels are not built, the reason says so, and products still run on ggml', () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-native-'));
  try {
    const r = child({ CC: path.join(cache, 'no-such-compiler'), UNLEARNKIT_NATIVE_CACHE: cache, UNLEARNKIT_MATMUL: 'native' });
    assert.equal(r.native, false);
    assert.match(r.reason, /no C compiler/);
    assert.ok(r.relErr < 1e-6);
    assert.deepEqual(fs.readdirSync(cache), [], 'nothing half-built is left in the cache');
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

test('a fresh cache folder gets the library built once, then reused', (t) => {
  if (!nativeKernels().kernels) return skipLoudly(t, `native kernels unavailable: ${nativeKernels().reason}`);
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-native-'));
  try {
    const first = child({ UNLEARNKIT_NATIVE_CACHE: cache, UNLEARNKIT_MATMUL: 'native' });
    assert.equal(first.native, true);
    assert.match(first.reason, /built/);
    const files = fs.readdirSync(cache);
    assert.equal(files.length, 1, `cache holds ${files.join(', ')}`);
    assert.match(files[0]!, /^unlearnkit-kernels-[0-9a-f]{16}\.so$/);
    const second = child({ UNLEARNKIT_NATIVE_CACHE: cache, UNLEARNKIT_MATMUL: 'native' });
    assert.match(second.reason, /cached/);
    assert.ok(second.relErr < 1e-6);
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

test("nativeMatmul rewrites an automatic backward's MUL_MAT and OUT_PROD nodes without changing its gradients", (t) => {
  if (!nativeKernels().kernels) return skipLoudly(t, `native kernels unavailable: ${nativeKernels().reason}`);
  // a 2-layer MLP with a cross-entropy loss: autodiff makes OUT_PROD for every weight gradient
  const rng = new Rng(8);
  const dims = [37, 50, 11];
  const batch = 19;
  const w0 = rng.normalArray(dims[0]! * dims[1]!, 0.2);
  const w1 = rng.normalArray(dims[1]! * dims[2]!, 0.2);
  const x = rng.normalArray(dims[0]! * batch);
  const y = new Float32Array(dims[2]! * batch);
  for (let i = 0; i < batch; i++) y[i * dims[2]! + rng.int(dims[2]!)] = 1;
  const run = (nativeMatmul: boolean) => {
    const g = new Graph({ maxNodes: 256 });
    try {
      const W0 = g.param('w0', [dims[0]!, dims[1]!]);
      const W1 = g.param('w1', [dims[1]!, dims[2]!]);
      const X = g.input('x', [dims[0]!, batch]);
      const Y = g.input('y', [dims[2]!, batch]);
      const loss = op.crossEntropyLoss(op.mulMat(W1, op.relu(op.mulMat(W0, X))), Y);
      g.build({ loss, backward: true, nativeMatmul });
      g.allocate();
      g.set(W0, w0);
      g.set(W1, w1);
      g.set(X, x);
      g.set(Y, y);
      g.compute('backward', { threads: 2 });
      return { loss: g.get(loss)[0]!, g0: g.get(g.gradTensor(W0)), g1: g.get(g.gradTensor(W1)), rewritten: g.nativeMatmulNodes };
    } finally {
      g.dispose();
    }
  };
  const ref = run(false);
  const fast = run(true);
  assert.equal(ref.rewritten, 0);
  // forward: 2 MUL_MAT; backward: OUT_PROD for each weight, MUL_MAT for the hidden layer's input gradient
  assert.ok(fast.rewritten >= 4, `only ${fast.rewritten} nodes rewritten`);
  assert.ok(Math.abs(ref.loss - fast.loss) <= 1e-6 * Math.abs(ref.loss));
  for (const [a, b, name] of [[ref.g0, fast.g0, 'w0'], [ref.g1, fast.g1, 'w1']] as const) {
    const e = relErr(a, b);
    assert.ok(e < 1e-5, `${name}: gradients differ by ${e.toExponential(2)}`);
    t.diagnostic(`${name}: native vs ggml gradient ${e.toExponential(2)}`);
  }
});
