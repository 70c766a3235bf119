/**
 * Holm correction, Cohen's d variants, bootstrap intervals and descriptive helpers: hand-worked
 * examples (the arithmetic is in the comments) plus numpy reference values for the quantiles.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  holm, cohenDz, cohenDav, cohenDPooled, pairedTTest, welchTTest, bootstrapCI, bootstrapTwoSampleCI, meanCI,
  mean, sd, median, quantile, variance, rocAuc,
} from '../../src/stats/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { UserError } from '../../src/util/errors.ts';
import { closeRel, closeRelAll } from './close.ts';
import { GEN_A } from './data.ts';

const avg = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;

test('holm: hand-worked adjusted p-values, monotone, capped at 1', () => {
  // p = [0.01, 0.04, 0.03, 0.005], m = 4. Sorted: 0.005 (#3), 0.01 (#0), 0.03 (#2), 0.04 (#1)
  // times (m - j + 1) = 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04; running max: 0.02, 0.03, 0.06, 0.06
  // back in input order: [0.03, 0.06, 0.06, 0.02]; reject at 0.05: [yes, no, no, yes]
  const r = holm([0.01, 0.04, 0.03, 0.005]);
  closeRelAll(r.adjusted, [0.03, 0.06, 0.06, 0.02], 1e-12);
  assert.deepEqual(r.reject, [true, false, false, true]);
  // [0.5, 0.6]: 2 * 0.5 = 1.0, then max(1.0, 0.6) = 1.0
  assert.deepEqual(holm([0.5, 0.6]).adjusted, [1, 1]);
  // ties: [0.02, 0.02, 0.5] -> 0.06, max(0.06, 0.04) = 0.06, 0.5
  closeRelAll(holm([0.02, 0.02, 0.5]).adjusted, [0.06, 0.06, 0.5], 1e-12);
  // a single test is unchanged
  assert.deepEqual(holm([0.2]).adjusted, [0.2]);
  assert.throws(() => holm([0.1, 1.2]), (e: unknown) => e instanceof UserError && /\[0, 1\]/.test(e.message));
  assert.throws(() => holm([]), UserError);
});

test("Cohen's d_z, d_av and pooled d: hand-worked", () => {
  // a = [3, 5, 7], b = [1, 2, 6]; diff = [2, 3, 1]: mean 2, deviations (0, 1, -1), var = 2 / 2 = 1 -> d_z = 2
  // sd(a): mean 5, deviations (-2, 0, 2), var 8 / 2 = 4 -> 2; sd(b): mean 3, deviations (-2, -1, 3), var 14 / 2 = 7
  // d_av = 2 / ((2 + sqrt 7) / 2) = 4 / (2 + sqrt 7)
  // pooled: s_p = sqrt((2 * 4 + 2 * 7) / (3 + 3 - 2)) = sqrt(5.5); d = (5 - 3) / sqrt(5.5)
  const a = [3, 5, 7];
  const b = [1, 2, 6];
  closeRel(cohenDz(a, b), 2, 1e-12);
  closeRel(cohenDav(a, b), 4 / (2 + Math.sqrt(7)), 1e-12);
  closeRel(cohenDPooled(a, b), 2 / Math.sqrt(5.5), 1e-12);
  const t = pairedTTest(a, b);
  closeRel(t.dz, 2, 1e-12);
  closeRel(t.dav, 4 / (2 + Math.sqrt(7)), 1e-12);
  // t = d_z * sqrt(n) for the paired test
  closeRel(t.t, 2 * Math.sqrt(3), 1e-12);
  closeRel(welchTTest(a, b).d, 2 / Math.sqrt(5.5), 1e-12);
  assert.throws(() => cohenDz([1, 2], [1, 2, 3]), UserError);
});

test('bootstrapCI: hand-worked replicates for a fixed seed', () => {
  // Rng(7).int(3) drawn 12 times (printed once): 2,1,2 | 0,0,0 | 2,0,0 | 1,2,1
  // data [1, 2, 4] -> resamples (4,2,4) (1,1,1) (4,1,1) (2,4,2), means 10/3, 1, 2, 8/3
  // sorted 1, 2, 8/3, 10/3; confidence 0.5 -> quantiles 0.25 and 0.75 (type 7):
  //   h = 3 * 0.25 = 0.75 -> 1 + 0.75 (2 - 1) = 1.75;  h = 2.25 -> 8/3 + 0.25 (10/3 - 8/3) = 17/6
  // se: replicate mean 9/4, squared deviations (225 + 9 + 25 + 169) / 144 = 107/36, / 3 -> sqrt(107/108)
  const r = bootstrapCI([1, 2, 4], avg, { resamples: 4, confidence: 0.5, seed: 7 });
  closeRel(r.estimate, 7 / 3, 1e-12);
  closeRel(r.lo, 1.75, 1e-12);
  closeRel(r.hi, 17 / 6, 1e-12);
  closeRel(r.se, Math.sqrt(107 / 108), 1e-12);
  // same seed through an Rng instance gives the same interval
  const r2 = bootstrapCI([1, 2, 4], avg, { resamples: 4, confidence: 0.5, rng: new Rng(7) });
  assert.deepEqual([r2.lo, r2.hi], [r.lo, r.hi]);
});

test('bootstrapTwoSampleCI: hand-worked stratified replicates', () => {
  // Rng(11): per replicate 2 draws of int(2) for a, then 3 of int(3) for b:
  //   (0,1 | 2,0,1), (1,1 | 0,0,0), (1,1 | 0,0,1)
  // a = [0, 10], b = [1, 2, 3], statistic mean(a) - mean(b):
  //   5 - 2 = 3; 10 - 1 = 9; 10 - 4/3 = 26/3. Sorted 3, 26/3, 9; confidence 0.5:
  //   q(0.25): h = 0.5 -> 3 + 0.5 (26/3 - 3) = 35/6;  q(0.75): h = 1.5 -> 26/3 + 0.5 (9 - 26/3) = 53/6
  const r = bootstrapTwoSampleCI([0, 10], [1, 2, 3], (x, y) => avg(x) - avg(y), { resamples: 3, confidence: 0.5, seed: 11 });
  closeRel(r.estimate, 3, 1e-12);
  closeRel(r.lo, 35 / 6, 1e-12);
  closeRel(r.hi, 53 / 6, 1e-12);
});

test('bootstrap percentile interval of a mean is close to the t interval for n = 25', () => {
  // Not a reference value but a property: for a roughly symmetric sample the two 95% intervals agree
  // to within a few percent of their width (the bootstrap one is slightly narrower, factor ~sqrt((n-1)/n)).
  const t = meanCI(GEN_A);
  const b = bootstrapCI(GEN_A, avg, { resamples: 4000, seed: 3 });
  const width = t.hi - t.lo;
  assert.ok(Math.abs(b.lo - t.lo) < 0.1 * width, `lo ${b.lo} vs ${t.lo}`);
  assert.ok(Math.abs(b.hi - t.hi) < 0.1 * width, `hi ${b.hi} vs ${t.hi}`);
  // AUC of a sample against itself shifted by a lot is 1 on every resample
  const auc = bootstrapTwoSampleCI([5, 6, 7], [1, 2, 3], rocAuc, { resamples: 50, seed: 1 });
  assert.deepEqual([auc.lo, auc.hi, auc.estimate], [1, 1, 1]);
});

test('bootstrap refuses a statistic that is not finite on some resample', () => {
  // sd of a resample of [1, 2] is 0 when both draws are equal -> d = mean / sd is not finite
  assert.throws(
    () => bootstrapCI([1, 2], (s) => avg(s) / sd(s), { resamples: 50, seed: 1 }),
    (e: unknown) => e instanceof UserError && /not finite on \d+ of 50/.test(e.message),
  );
  assert.throws(() => bootstrapCI([1, 2], avg, { resamples: 1 }), UserError);
});

test('descriptive helpers match numpy', () => {
  // [np.median(GEN_A), np.quantile(GEN_A, 0.1), np.quantile(GEN_A, 0.975), np.std(GEN_A, ddof=1), np.mean(GEN_A)]
  closeRelAll(
    [median(GEN_A), quantile(GEN_A, 0.1), quantile(GEN_A, 0.975), sd(GEN_A), mean(GEN_A)],
    [0.510657, -1.1860578, 2.8082319999999994, 1.4600963801058786, 0.6718769599999999],
    1e-12,
  );
  // by hand: [1, 2, 3, 4]: median 2.5, variance ((1.5^2 + 0.5^2) * 2) / 3 = 5/3
  assert.equal(median([4, 1, 3, 2]), 2.5);
  closeRel(variance([1, 2, 3, 4]), 5 / 3, 1e-15);
  assert.throws(() => variance([1]), UserError);
  assert.throws(() => quantile([1, 2], 1.5), UserError);
});
