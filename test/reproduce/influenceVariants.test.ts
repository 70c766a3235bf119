/**
 * The influence pieces reproduce zagardo2024 added: cosine TracIn (gradient cosine, checked
 * against the definition on vectors and against plain TracIn divided by the gradients' norms on the
 * embedded model) and LiSSA's divergence check (on a quadratic objective with a known Hessian:
 * converges to A^-1 b when the scale is right, refuses by name when an eigenvalue of
 * (H + damping) / scale leaves (0, 2)).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lissa } from '../../src/influence/hvp.ts';
import { cosineTracinScores, exampleGradients, gradientSimilarity, tracinScores } from '../../src/influence/tracin.ts';
import type { Objective } from '../../src/influence/objective.ts';
import { CausalLM } from '../../src/model/model.ts';
import { tokenizerFromGguf } from '../../src/model/tokenizer/index.ts';
import { asF32Model, toExamples } from '../../src/unlearn/index.ts';
import { embeddedModelPath } from '../../src/util/paths.ts';
import { UserError } from '../../src/util/errors.ts';

/** J(theta) = 0.5 theta^T diag(a) theta: gradient diag(a) theta, Hessian diag(a). */
function quadratic(a: number[]): Objective {
  let theta = new Float32Array(a.length);
  return {
    dim: a.length,
    n: 1,
    nQueries: 0,
    getParams: () => theta.slice(),
    setParams: (t) => void (theta = t.slice()),
    gradient: () => Float32Array.from(theta, (v, i) => a[i]! * v),
    value: () => 0.5 * a.reduce((s, ai, i) => s + ai * theta[i]! ** 2, 0),
    setActive: () => {},
    exampleWeight: () => 1,
    exampleGradient: () => new Float32Array(a.length),
    queryLoss: () => 0,
    queryGradient: () => new Float32Array(a.length),
    dispose: () => {},
  };
}

test('LiSSA: converges to (H + lambda I)^-1 b with a valid scale, refuses by name when it diverges', () => {
  const b = Float32Array.from([1, -2, 0.5]);
  const ok = lissa(quadratic([1, 2, 5]), b, { damping: 0, scale: 6, depth: 400, tol: 1e-7 });
  assert.equal(ok.converged, true);
  [1, -1, 0.1].forEach((want, i) => assert.ok(Math.abs(ok.x[i]! - want) < 1e-4, `x[${i}] = ${ok.x[i]} vs ${want}`));
  // scale below half the largest eigenvalue: 1 - 5/2 = -1.5, the recursion oscillates and grows
  assert.throws(() => lissa(quadratic([1, 2, 5]), b, { damping: 0, scale: 2, depth: 100 }), (e: unknown) => e instanceof UserError && /LiSSA diverged at iteration \d+ of 100: the step .* grew/.test(e.message) && /raise --damping \(now 0\)/.test(e.message));
  // a negative eigenvalue below -damping (non-convex point): 1 + 0.99/6 > 1, slow growth
  assert.throws(() => lissa(quadratic([-1, 2, 5]), b, { damping: 0.01, scale: 6, depth: 40 }), /LiSSA diverged/);
  // too shallow to converge, but shrinking: a truncated series, said so by converged = false, not an error
  const shallow = lissa(quadratic([0.05, 2, 5]), b, { damping: 0, scale: 6, depth: 5 });
  assert.equal(shallow.converged, false);
});

test('cosine TracIn: the gradients\' cosine; on the embedded model TracIn / (lr ||g_q|| ||g_i||)', () => {
  const s = gradientSimilarity([Float32Array.from([1, 0]), Float32Array.from([0, 0])], [Float32Array.from([1, 1]), Float32Array.from([-3, 0])], 'cosine');
  assert.ok(Math.abs(s[0]![0]! - Math.SQRT1_2) < 1e-7);
  assert.ok(Math.abs(s[0]![1]! + 1) < 1e-7);
  assert.deepEqual(s[1], [0, 0]);
  assert.deepEqual(gradientSimilarity([Float32Array.from([1, 2])], [Float32Array.from([3, 4])], 'dot'), [[11]]);

  const model = asF32Model(CausalLM.load(embeddedModelPath()));
  const tok = tokenizerFromGguf(model.file!);
  const ex = toExamples(['Dave keeps two cats.', 'The river runs past the library.', 'Dave plays the violin.'].map((text, i) => ({ id: `e${i}`, text })), tok, 64);
  const tensors = ['token_embd.weight', 'blk.3.ffn_down.weight'];
  const lr = 0.003;
  const dot = tracinScores([{ model, lr }], tensors, ex.slice(0, 2), ex.slice(1));
  const cos = cosineTracinScores([{ model, lr }], tensors, ex.slice(0, 2), ex.slice(1));
  const g = exampleGradients(model, tensors, ex);
  const nrm = g.map((x) => Math.sqrt(x.reduce((a, v) => a + v * v, 0)));
  for (let q = 0; q < 2; q++) {
    for (let i = 0; i < 2; i++) {
      const want = dot[q]![i]! / (nrm[q]! * nrm[i + 1]!);
      assert.ok(Math.abs(cos[q]![i]! - want) <= 1e-6 * lr, `cos[${q}][${i}] ${cos[q]![i]} vs ${want}`);
      assert.ok(Math.abs(cos[q]![i]!) <= lr * (1 + 1e-6));
    }
  }
  // an example with itself: cosine 1
  assert.ok(Math.abs(cos[1]![0]! - lr) <= 1e-6 * lr);
});
