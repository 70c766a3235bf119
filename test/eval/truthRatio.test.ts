/** TOFU truth ratio, answer probability and forget quality: hand-worked values and scipy's KS p. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  answerProbability, normalisedAnswerProbability, truthRatio, truthRatios, forgetTruthScore, retainTruthScore,
  forgetQuality,
} from '../../src/eval/truthRatio.ts';
import { UserError } from '../../src/util/errors.ts';

function near(actual: number, expected: number, label = ''): void {
  assert.ok(Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)), `${label}: expected ${expected}, got ${actual}`);
}

// Question 1: paraphrased answer log P = -6 over 3 tokens -> P~ = e^-2;
// perturbed: -4 over 2 tokens -> e^-2, and -12 over 4 tokens -> e^-3.
const Q1 = { paraphrased: { logProb: -6, tokens: 3 }, perturbed: [{ logProb: -4, tokens: 2 }, { logProb: -12, tokens: 4 }] };
// Question 2: paraphrased -8 over 2 tokens -> e^-4; one perturbed -3 over 1 token -> e^-3.
const Q2 = { paraphrased: { logProb: -8, tokens: 2 }, perturbed: [{ logProb: -3, tokens: 1 }] };

test('truth ratio by hand, arithmetic (paper) and geometric (first TOFU code) means', () => {
  // Q1 arithmetic: R = ((e^-2 + e^-3) / 2) / e^-2 = (1 + e^-1) / 2
  near(truthRatio(Q1), (1 + Math.exp(-1)) / 2, 'Q1 arithmetic');
  // Q1 geometric: exp((-2 - 3) / 2) / e^-2 = e^-0.5
  near(truthRatio(Q1, { perturbedMean: 'geometric' }), Math.exp(-0.5), 'Q1 geometric');
  // Q2: R = e^-3 / e^-4 = e (one perturbed answer: both means agree)
  near(truthRatio(Q2), Math.E, 'Q2');
  near(truthRatio(Q2, { perturbedMean: 'geometric' }), Math.E, 'Q2 geometric');
  // no underflow for very unlikely answers: per-token -800 vs -801 -> R = e^-1
  near(truthRatio({ paraphrased: { logProb: -800, tokens: 1 }, perturbed: [{ logProb: -1602, tokens: 2 }] }), Math.exp(-1), 'log space');
});

test('forget and retain summaries by hand', () => {
  const rs = truthRatios([Q1, Q2]);
  // forget: mean(min(R, 1/R)) = ((1 + e^-1) / 2 + e^-1) / 2
  near(forgetTruthScore(rs), ((1 + Math.exp(-1)) / 2 + Math.exp(-1)) / 2, 'forget');
  // retain: mean(max(0, 1 - R)) = ((1 - (1 + e^-1) / 2) + 0) / 2 = (1 - e^-1) / 4
  near(retainTruthScore(rs), (1 - Math.exp(-1)) / 4, 'retain');
});

test('answer probability and its normalised form by hand', () => {
  // -6 over 3 tokens -> e^-2
  near(answerProbability({ logProb: -6, tokens: 3 }), Math.exp(-2), 'P~');
  // correct -2 / 2 -> e^-1; alternatives -3 / 1 -> e^-3 and -4 / 2 -> e^-2: e^-1 / (e^-1 + e^-3 + e^-2)
  near(
    normalisedAnswerProbability({ logProb: -2, tokens: 2 }, [{ logProb: -3, tokens: 1 }, { logProb: -4, tokens: 2 }]),
    Math.exp(-1) / (Math.exp(-1) + Math.exp(-3) + Math.exp(-2)),
    'normalised',
  );
});

test('forget quality is scipy ks_2samp p-value, invariant to R -> 1/R', () => {
  // stats.ks_2samp([0.5, 0.7, 0.9, 1.1, 0.2, 0.3], [0.6, 0.65, 0.8, 1.3, 1.5, 1.7, 2.0])
  //   -> statistic 0.5714285714285714, pvalue 0.14685314685314685
  const u = [0.5, 0.7, 0.9, 1.1, 0.2, 0.3];
  const r = [0.6, 0.65, 0.8, 1.3, 1.5, 1.7, 2.0];
  const fq = forgetQuality(u, r);
  near(fq.statistic, 0.5714285714285714, 'D');
  near(fq.pValue, 0.14685314685314685, 'p');
  assert.equal(fq.method, 'exact');
  near(forgetQuality(u.map((x) => 1 / x), r.map((x) => 1 / x)).pValue, 0.14685314685314685, 'inverted');
  // identical distributions -> D = 0, p = 1
  assert.equal(forgetQuality([0.5, 1, 2], [0.5, 1, 2]).pValue, 1);
});

test('bad inputs are UserErrors', () => {
  assert.throws(() => truthRatio({ paraphrased: { logProb: -1, tokens: 0 }, perturbed: [{ logProb: -1, tokens: 1 }] }),
    (e: unknown) => e instanceof UserError && /token count/.test(e.message));
  assert.throws(() => truthRatio({ paraphrased: { logProb: -1, tokens: 1 }, perturbed: [] }), (e: unknown) => e instanceof UserError && /perturbed/.test(e.message));
  assert.throws(() => truthRatio({ paraphrased: { logProb: 2, tokens: 1 }, perturbed: [{ logProb: -1, tokens: 1 }] }), UserError);
  assert.throws(() => forgetTruthScore([1, 0]), (e: unknown) => e instanceof UserError && /ratio 1 is 0/.test(e.message));
  assert.throws(() => forgetQuality([], [1]), UserError);
});
