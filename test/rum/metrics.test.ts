/**
 * RUM metrics against hand-worked values: ToW, ToW-MIA, MIA gap, the entanglement score on tiny
 * embeddings, the memorization estimator's arithmetic, symmetric KL, the membership attack on
 * separable confidences, and the logistic regression against scipy.optimize (BFGS, gtol 1e-12).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tugOfWar, tugOfWarMia, miaGap, membershipAttack, summarize, confidenceFeatures } from '../../src/rum/metrics.ts';
import { entanglementScore } from '../../src/rum/entanglement.ts';
import { memFromRecords, symmetricKl } from '../../src/rum/memorization.ts';
import { fitLogistic, predictLogistic } from '../../src/rum/logreg.ts';
import type { Predictions } from '../../src/rum/predict.ts';
import { UserError } from '../../src/util/errors.ts';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('ToW and ToW-MIA: hand-worked values', () => {
  const u = { forget: 0.9, retain: 0.95, test: 0.8 };
  const r = { forget: 0.6, retain: 0.97, test: 0.78 };
  // (1 - 0.3)(1 - 0.02)(1 - 0.02)
  close(tugOfWar(u, r), 0.7 * 0.98 * 0.98, 1e-12, 'ToW');
  close(tugOfWar(r, r), 1, 0, 'ToW of the oracle with itself');
  // MIA gap |0.55 - 0.70| = 0.15; ToW-MIA = 0.85 * 0.98 * 0.98
  close(miaGap(0.55, 0.7), 0.15, 1e-12, 'MIA gap');
  close(tugOfWarMia(u, r, miaGap(0.55, 0.7)), 0.85 * 0.98 * 0.98, 1e-12, 'ToW-MIA');
  assert.throws(() => tugOfWar({ ...u, forget: 1.2 }, r), UserError);
  assert.throws(() => miaGap(-0.1, 0.5), UserError);
});

test('entanglement score: two hand-worked embeddings', () => {
  // R = {(0,0), (2,0)}, S = {(0,4), (0,6)}: spreads 1 and 1, mu = (0.5, 2.5), separations 6.5 and 6.5
  const e1 = Float32Array.from([0, 0, 2, 0, 0, 4, 0, 6]);
  const a = entanglementScore(e1, 2, [0, 1], [2, 3]);
  close(a.varianceRetain, 1, 1e-12, 'var R');
  close(a.varianceForget, 1, 1e-12, 'var S');
  close(a.separationRetain, 6.5, 1e-12, '|mu_R - mu|^2');
  close(a.es, 2 / 6.5, 1e-12, 'ES');
  // unequal sizes: R = {(0,0), (2,0), (1,3)} (spread 8/3), S = {(4,1)}; mu = (1.75, 1):
  // separations 0.5625 and 5.0625, ES = (8/3) / 2.8125
  const e2 = Float32Array.from([0, 0, 2, 0, 1, 3, 4, 1]);
  close(entanglementScore(e2, 2, [0, 1, 2], [3]).es, 8 / 3 / 2.8125, 1e-12, 'ES (unequal)');
  // tighter, farther-apart sets are less entangled
  const e3 = Float32Array.from([0, 0, 0.2, 0, 0, 40, 0, 40.2]);
  assert.ok(entanglementScore(e3, 2, [0, 1], [2, 3]).es < a.es);
  assert.throws(() => entanglementScore(e1, 2, [], [2]), UserError);
  assert.throws(() => entanglementScore(e1, 2, [0], [9]), UserError);
});

test('memorization estimator arithmetic: hand-worked, including an example no model held out', () => {
  const r = memFromRecords(3, [
    { subset: [0, 1], correct: [1, 1, 0] },
    { subset: [0, 2], correct: [1, 0, 1] },
    { subset: [1], correct: [0, 1, 1] },
  ]);
  // i=0: in m1, m2 -> 1; out m3 -> 0. i=1: in m1, m3 -> 1; out m2 -> 0. i=2: in m2 -> 1; out m1, m3 -> 0.5
  assert.deepEqual(Array.from(r.scores), [1, 1, 0.5]);
  assert.deepEqual(Array.from(r.inCount), [2, 2, 1]);
  assert.equal(r.missingOut, 0);
  const m = memFromRecords(2, [
    { subset: [0, 1], correct: [1, 0] },
    { subset: [0], correct: [1, 1] },
  ]);
  // example 0 is in both subsets: its held-out term is the mean held-out accuracy (1, from m2 on example 1)
  assert.deepEqual(Array.from(m.scores), [0, -1]);
  assert.equal(m.missingOut, 1);
  close(m.meanAccIn, 2 / 3, 1e-12, 'mean in-subset accuracy');
});

test('symmetric KL: hand-worked value', () => {
  const p: Predictions = { n: 1, classes: 2, probs: Float32Array.from([0.5, 0.5]), labels: Int32Array.from([0]), dim: 0 };
  const q: Predictions = { ...p, probs: Float32Array.from([0.9, 0.1]) };
  // (0.5 - 0.9) ln(0.5/0.9) + (0.5 - 0.1) ln(0.5/0.1)
  close(symmetricKl(p, q)[0]!, -0.4 * Math.log(0.5 / 0.9) + 0.4 * Math.log(5), 1e-6, 'sym KL');
  close(symmetricKl(p, p)[0]!, 0, 0, 'sym KL of identical outputs');
});

test('logistic regression equals scipy.optimize on the same penalised likelihood', () => {
  const x = [
    [0.2, 1.0], [0.5, 0.3], [1.5, -0.2], [2.0, 0.8], [-0.3, 0.1], [0.9, 1.7],
    [1.2, 0.4], [-1.0, -0.5], [0.1, -1.2], [2.5, 1.1], [0.7, 0.0], [1.8, -0.9],
  ];
  const y = [0, 0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1];
  const m = fitLogistic(x, y, 0.5);
  // scipy: minimize(J, zeros(3), jac=G, method='BFGS', gtol=1e-12) on standardised features
  close(m.intercept, -0.06945712, 1e-6, 'intercept');
  close(m.weights[0]!, 2.14616291, 1e-6, 'w1');
  close(m.weights[1]!, 0.46029466, 1e-6, 'w2');
  const p = predictLogistic(m, [[1.0, 0.5], [-0.5, 0.2]]);
  close(p[0]!, 0.60816679, 1e-6, 'P(1 | x1)');
  close(p[1]!, 0.04577733, 1e-6, 'P(1 | x2)');
  assert.throws(() => fitLogistic(x, y.slice(1)), UserError);
});

function preds(pTrue: number[]): Predictions {
  const K = 4;
  const probs = new Float32Array(pTrue.length * K);
  pTrue.forEach((p, i) => {
    for (let j = 0; j < K; j++) probs[i * K + j] = j === 0 ? p : (1 - p) / (K - 1);
  });
  return { n: pTrue.length, classes: K, probs, labels: new Int32Array(pTrue.length), dim: 0 };
}

test('MIA: confident members vs unconfident non-members; the forget set is scored as TN / |S|', () => {
  const retain = preds([0.99, 0.97, 0.98, 0.995, 0.96, 0.985, 0.99, 0.97]);
  const testSet = preds([0.3, 0.4, 0.25, 0.5, 0.35, 0.45, 0.2, 0.3, 0.38, 0.42]);
  // three forget examples look like members, one like a non-member
  const forget = preds([0.99, 0.98, 0.97, 0.3]);
  const m = membershipAttack(retain, testSet, forget, 1);
  assert.equal(m.mia, 0.25);
  assert.equal(m.trainAccuracy, 1);
  assert.equal(m.members, 8);
  assert.equal(m.nonMembers, 8, 'non-members are subsampled to the members count');
  // features: p_y, -log p_y, max p, entropy, margin
  const f = confidenceFeatures(preds([0.7]))[0]!;
  close(f[0]!, 0.7, 1e-7, 'p_y');
  close(f[1]!, -Math.log(0.7), 1e-6, 'loss');
  close(f[4]!, 0.7 - 0.1, 1e-6, 'margin');
});

test('summaries over seeds use the t interval of src/stats', () => {
  const s = summarize([0.8, 0.9, 1.0]);
  close(s.estimate, 0.9, 1e-12, 'mean');
  // t_{0.975, 2} = 4.302652729911275; sd = 0.1; half-width = 4.3027 * 0.1 / sqrt(3)
  close(s.hi - s.estimate, (4.302652729911275 * 0.1) / Math.sqrt(3), 1e-9, 'half-width');
  const one = summarize([0.5]);
  assert.equal(one.estimate, 0.5);
  assert.ok(Number.isNaN(one.lo));
});
