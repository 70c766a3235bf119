/**
 * Hessian-vector products by central differences of the engine's gradients, against Hessians built
 * independently by finite differences of the *loss values* (no gradients involved):
 *   H_jk ~ (J(+j+k) - J(+j-k) - J(-j+k) + J(-j-k)) / (4 h^2)
 * on the convex softmax-regression model (every entry; also against its exact float64 Hessian) and
 * on the tiny LLM (stories260K) restricted to a few coordinates of a norm weight. LiSSA's inverse-HVP
 * is checked against a Cholesky solve of the exact Hessian.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SoftmaxRegression, syntheticSoftmaxData, solveSymmetric } from '../../src/influence/softmaxRegression.ts';
import { hvp, lissa } from '../../src/influence/hvp.ts';
import { LmObjective } from '../../src/influence/lmObjective.ts';
import type { Objective } from '../../src/influence/objective.ts';
import { CausalLM } from '../../src/model/model.ts';
import { tokenizerFromGguf } from '../../src/model/tokenizer/index.ts';
import { getDataset } from '../../src/data/dataset.ts';
import { factExamples } from '../../src/train/examples.ts';
import { asF32Model } from '../../src/model/sessions.ts';
import { toExamples } from '../../src/unlearn/source.ts';
import { Rng } from '../../src/util/rng.ts';
import { needFixture } from '../helpers/fixtures.ts';
import { MODEL } from '../unlearn/helpers.ts';
import { relL2 } from '../engine/util.ts';

/** Finite-difference Hessian block H[S, S] from loss values only (float64 differences of J). */
function lossHessian(obj: Objective, coords: number[], h: number): Float64Array {
  const theta = obj.getParams();
  const k = coords.length;
  const H = new Float64Array(k * k);
  const at = (a: number, sa: number, b: number, sb: number): number => {
    const x = theta.slice();
    x[coords[a]!] += sa * h;
    x[coords[b]!] += sb * h;
    obj.setParams(x);
    return obj.value();
  };
  for (let a = 0; a < k; a++) {
    for (let b = a; b < k; b++) {
      const v = (at(a, 1, b, 1) - at(a, 1, b, -1) - at(a, -1, b, 1) + at(a, -1, b, -1)) / (4 * h * h);
      H[a * k + b] = H[b * k + a] = v;
    }
  }
  obj.setParams(theta);
  return H;
}

const relErr = relL2;

function matVec(H: Float64Array, v: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i] += H[i * n + j]! * v[j]!;
  return out;
}

test('softmax regression: HVP = finite-difference Hessian (loss values) x v = exact Hessian x v', (t) => {
  const m = new SoftmaxRegression(syntheticSoftmaxData(1, 40, 4, 3, 1.0), syntheticSoftmaxData(2, 4, 4, 3, 1.0), 0.05);
  try {
    m.setParams(new Rng(5).normalArray(m.dim, 0.3));
    const n = m.dim;
    const all = Array.from({ length: n }, (_, i) => i);
    const Hfd = lossHessian(m, all, 3e-2);
    const Hex = m.analyticHessian();
    assert.ok(relErr(Hfd, Hex) < 2e-2, `finite-difference Hessian vs exact: ${relErr(Hfd, Hex)}`);
    for (const seed of [11, 12, 13]) {
      const v = new Rng(seed).normalArray(n);
      const hv = hvp(m, v);
      const eFd = relErr(hv, matVec(Hfd, v, n));
      const eEx = relErr(hv, matVec(Hex, v, n));
      t.diagnostic(`v seed ${seed}: |Hv - H_fd v| / |H_fd v| = ${eFd.toExponential(2)}, vs exact ${eEx.toExponential(2)}`);
      assert.ok(eFd < 2e-2, `HVP vs finite-difference Hessian: ${eFd}`);
      assert.ok(eEx < 1e-3, `HVP vs exact Hessian: ${eEx}`);
    }
    // LiSSA = (H + lambda I)^-1 b from a Cholesky solve
    const b = m.queryGradient(0);
    const damping = 0.01;
    const Hd = Hex.slice();
    for (let i = 0; i < n; i++) Hd[i * n + i] += damping;
    const exact = solveSymmetric(Hd, b, n);
    const r = lissa(m, b, { damping, depth: 2000, tol: 1e-7 });
    t.diagnostic(`LiSSA: ${r.iterations} iterations, scale ${r.scale.toFixed(3)}, rel. error ${relErr(r.x, exact).toExponential(2)}`);
    assert.ok(relErr(r.x, exact) < 1e-3, `LiSSA vs Cholesky: ${relErr(r.x, exact)}`);
  } finally {
    m.dispose();
  }
});

test('tiny LLM (stories260K): HVP on a few coordinates = finite-difference Hessian of the loss', (t) => {
  if (!needFixture(t, 'models', 'stories260K.gguf')) return;
  const base = CausalLM.load(MODEL);
  const tok = tokenizerFromGguf(base.file!);
  const model = asF32Model(base);
  const ds = getDataset('dave');
  const train = toExamples(factExamples(ds.facts('forget').slice(0, 4)), tok, 24);
  const obj = new LmObjective(model, ['output_norm.weight', 'blk.4.ffn_norm.weight'], train, [], { batch: 4 });
  try {
    const coords = [0, 7, 21, 40, 64 + 3, 64 + 50];
    const k = coords.length;
    const H = lossHessian(obj, coords, 2e-2);
    for (const seed of [1, 2]) {
      const vs = new Rng(seed).normalArray(k);
      const v = new Float32Array(obj.dim);
      coords.forEach((c, i) => (v[c] = vs[i]!));
      const hv = hvp(obj, v);
      const got = coords.map((c) => hv[c]!);
      const want = matVec(H, vs, k);
      const e = relErr(got, want);
      t.diagnostic(`seed ${seed}: (Hv)_S ${got.map((x) => x.toFixed(4)).join(' ')} vs H_SS v_S ${[...want].map((x) => x.toFixed(4)).join(' ')}: rel. error ${e.toExponential(2)}`);
      assert.ok(e < 3e-2, `LLM HVP vs finite-difference Hessian: ${e}`);
    }
  } finally {
    obj.dispose();
  }
});
