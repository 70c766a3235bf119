/**
 * Rank-based tests, the two-sample KS test and its distributions, correlations and ROC-AUC
 * against scipy 1.10.1 (values printed by scripts/scipy-reference.py with /usr/bin/python3).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  mannWhitneyU, mannWhitneyNullCounts, ks2samp, kolmogorovN, pearson, spearman, rankdata, rocAuc, rocCurve,
  tprAtFpr,
} from '../../src/stats/index.ts';
import { UserError } from '../../src/util/errors.ts';
import { closeRel, closeRelAll } from './close.ts';
import { GEN_A, GEN_B } from './data.ts';

test('rankdata averages ties like scipy.stats.rankdata', () => {
  // stats.rankdata([3,1,4,1,5,9,2,6,5,3])
  assert.deepEqual(rankdata([3, 1, 4, 1, 5, 9, 2, 6, 5, 3]), [4.5, 1.5, 6.0, 1.5, 7.5, 10.0, 3.0, 9.0, 7.5, 4.5]);
});

test('mannWhitneyU matches scipy.stats.mannwhitneyu defaults (auto method, continuity)', () => {
  // res = stats.mannwhitneyu(x, y) -> [res.statistic, res.pvalue]
  const y8x20 = Array.from({ length: 20 }, (_, i) => Math.round((0.37 * i + 0.011 * i * i) * 1e4) / 1e4);
  const cases: [string, number[], number[], number, number, 'exact' | 'asymptotic'][] = [
    ['exact3x5', [1.1, 2.3, 3.9], [4.0, 4.4, 5.1, 5.5, 0.5], 3.0, 0.25, 'exact'],
    ['exact8x20', [3.1, 4.5, 0.2, 7.7, 5.5, 6.1, 2.8, 9.4], y8x20, 82.0, 0.9404817404817405, 'exact'],
    ['ties5x6', [1, 2, 2, 3, 5], [2, 3, 3, 4, 6, 7], 7.0, 0.16304505585423734, 'asymptotic'],
    ['asym12x15', GEN_A.slice(0, 12), GEN_B.slice(0, 15), 84.0, 0.7884125897107042, 'asymptotic'],
    ['allLess4x4', [1, 2, 3, 4], [5, 6, 7, 8], 0.0, 0.02857142857142857, 'exact'],
  ];
  for (const [name, x, y, u, p, method] of cases) {
    const r = mannWhitneyU(x, y);
    assert.equal(r.method, method, name);
    closeRel(r.u, u, 1e-12, 0, `${name} U`);
    closeRel(r.p, p, 1e-9, 0, `${name} p`);
  }
  // stats.mannwhitneyu([1.1, 2.3, 3.9], [4.0, 4.4, 5.1, 5.5, 0.5], method='asymptotic')
  closeRel(mannWhitneyU([1.1, 2.3, 3.9], [4.0, 4.4, 5.1, 5.5, 0.5], { method: 'asymptotic' }).p, 0.23303798227390538, 1e-9);
});

test('Mann-Whitney null counts: 3 vs 2 by hand', () => {
  // The 10 arrangements of 3 x's and 2 y's; U = #(x > y) pairs. Count by U:
  // U=0: xxxyy; U=1: xxyxy; U=2: xxyyx, xyxxy; U=3: xyxyx, yxxxy; U=4: xyyxx, yxxyx; U=5: yxyxx; U=6: yyxxx
  assert.deepEqual(Array.from(mannWhitneyNullCounts(3, 2)), [1, 1, 2, 2, 2, 1, 1]);
  assert.deepEqual(Array.from(mannWhitneyNullCounts(2, 3)), [1, 1, 2, 2, 2, 1, 1]);
});

test('ks2samp matches scipy.stats.ks_2samp (statistic, p, location, sign) in the exact branch', () => {
  // res = stats.ks_2samp(x, y) -> [statistic, pvalue, statistic_location, statistic_sign]
  const cases: [string, number[], number[], number[]][] = [
    ['eq5 (n1 = n2: square formula)', [1, 2, 3, 4, 5], [3, 4, 5, 6, 7], [0.4, 0.873015873015873, 2.0, 1]],
    ['ties6x9', [0.1, 0.5, 0.5, 1.2, 2.0, 3.3], [0.4, 0.5, 0.9, 1.0, 1.1, 2.5, 2.5, 4.0, 5.0],
      [0.2777777777777778, 0.8977022977022977, 0.5, 1]],
    ['gen25x31', GEN_A, GEN_B, [0.21806451612903227, 0.44924862491706335, -1.446609, -1]],
    ['identical', [1, 2, 3], [1, 2, 3], [0.0, 1.0, 1.0, 1]],
    ['disjoint7x3', [1, 2, 3, 4, 5, 6, 7], [10, 11, 12], [1.0, 0.01666666666666667, 7.0, 1]],
  ];
  for (const [name, x, y, [d, p, loc, sign]] of cases) {
    const r = ks2samp(x, y);
    assert.equal(r.method, 'exact', name);
    closeRel(r.statistic, d!, 1e-12, 0, `${name} D`);
    closeRel(r.p, p!, 1e-9, 0, `${name} p`);
    assert.equal(r.location, loc, `${name} location`);
    assert.equal(r.sign, sign, `${name} sign`);
  }
});

test('ks2samp asymptotic branch (max n > 10000) matches scipy', () => {
  // BIG = [((i * 0.6180339887498949) % 1.0) for i in range(10001)]
  // SMALL30 = [((i * 0.7548776662466927) % 1.0) * 1.1 for i in range(30)]
  // SMALL500 = [((i * 0.7548776662466927) % 1.0) ** 1.15 for i in range(500)]
  // stats.ks_2samp(BIG, SMALL30), stats.ks_2samp(BIG, SMALL500) -> [statistic, pvalue]
  const big = Array.from({ length: 10001 }, (_, i) => (i * 0.6180339887498949) % 1.0);
  const small30 = Array.from({ length: 30 }, (_, i) => ((i * 0.7548776662466927) % 1.0) * 1.1);
  const small500 = Array.from({ length: 500 }, (_, i) => ((i * 0.7548776662466927) % 1.0) ** 1.15);
  const r30 = ks2samp(big, small30);
  assert.equal(r30.method, 'asymp');
  closeRel(r30.statistic, 0.11638169516381694, 1e-12);
  closeRel(r30.p, 0.7685269018456928, 1e-6); // kstwo.sf(D, 30): Pomeranz region
  const r500 = ks2samp(big, small500);
  closeRel(r500.statistic, 0.05723707629237074, 1e-12);
  closeRel(r500.p, 0.08502904945485112, 1e-6); // kstwo.sf(D, 476): Pelz-Good region
});

test('kolmogorovN matches scipy.stats.kstwo.sf / .cdf in every region of _kolmogn', () => {
  // [[n, x, kstwo.sf(x, n)], ...] with region used by scipy noted
  const sf: [number, number, number][] = [
    [5, 0.85, 0.0001518750000000001], // t >= n - 1
    [20, 0.6, 2.0483011649719853e-07], // x >= 0.5: 2 smirnov
    [20, 0.15, 0.7044671549442872], // n <= 140, n x^2 <= 0.754693: Durbin matrix
    [20, 0.3, 0.04306706665851623], // n <= 140, n x^2 <= 4: Pomeranz
    [20, 0.48, 9.252575770947909e-05], // n <= 140: 2 smirnov
    [100, 0.05, 0.9532159710635725], // Durbin
    [100, 0.18, 0.002630049845461421], // Pomeranz
    [1000, 0.02, 0.8108971656895577], // n > 140: Pelz-Good
    [1000, 0.01, 0.9999496745370611], // n > 140: Durbin (n x^1.5 <= 1.4)
    [1000, 0.05, 0.013012074781090332], // n > 140, n x^2 >= 2.2: 2 smirnov
    [200000, 0.001, 0.9881500208855729], // n > 100000: Pelz-Good
    [300, 0.2, 5.4021531300969695e-11], // 2 smirnov, far tail
    [2000000, 0.002, 2.247704493692889e-07], // smirnov's n > 1e6 approximation
    [476, 0.03, 0.7732429014486679], // Pelz-Good
    [30, 0.2, 0.15796916101547398], // Pomeranz
  ];
  for (const [n, x, ref] of sf) closeRel(kolmogorovN(n, x, false), ref, 1e-10, 0, `kstwo.sf(${x}, ${n})`);
  // kstwo.cdf(x, n): Ruben-Gambino regions (n x <= 1) and two cdf-side branches
  const cdf: [number, number, number][] = [
    [5, 0.15, 0.0012000000000000005],
    [150, 0.004, 3.1456029408015203e-169],
    [150, 0.006, 6.407706357676561e-79],
    [1000, 0.01, 5.032546293896392e-05],
    [200000, 0.001, 0.01184997911442707],
    [20, 0.15, 0.29553284505571276],
  ];
  for (const [n, x, ref] of cdf) closeRel(kolmogorovN(n, x, true), ref, 1e-10, 0, `kstwo.cdf(${x}, ${n})`);
});

test('ks2samp and mannWhitneyU reject empty or non-finite samples', () => {
  assert.throws(() => ks2samp([], [1, 2]), (e: unknown) => e instanceof UserError && /at least 1/.test(e.message));
  assert.throws(() => mannWhitneyU([1, NaN], [1, 2]), UserError);
  assert.throws(() => ks2samp([1], [2], { method: 'bogus' as never }), UserError);
});

test('pearson and spearman match scipy.stats.pearsonr / spearmanr', () => {
  // [spearmanr(x, y).correlation, .pvalue, pearsonr(x, y).statistic, .pvalue]
  const cases: [number[], number[], number[]][] = [
    [[1, 2, 3, 4, 5], [2, 1, 4, 3, 5], [0.7999999999999999, 0.10408803866182788, 0.8, 0.10408803866182785]],
    [[3, 1, 4, 1, 5, 9, 2], [2, 7, 1, 8, 2, 8, 1], [-0.08334762598987158, 0.8589956347099457, 0.09611417370832982, 0.8375841353599919]],
    [GEN_A.slice(0, 20), GEN_B.slice(0, 20), [0.10526315789473684, 0.6587277693915812, 0.06543764608526727, 0.7840106465542203]],
  ];
  for (const [x, y, ref] of cases) {
    const s = spearman(x, y);
    const p = pearson(x, y);
    closeRelAll([s.r, s.p, p.r, p.p], ref, 1e-9, 0, `n=${x.length}`);
  }
  // scipy: constant input -> nan, nan (ConstantInputWarning)
  assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3]).r));
  assert.throws(() => spearman([1, 2], [2, 1]), UserError);
});

test('rocAuc equals Mann-Whitney U / (n1 n2) with ties counted 1/2', () => {
  const pos = [0.9, 0.8, 0.8, 0.55, 0.3];
  const neg = [0.8, 0.4, 0.3, 0.3, 0.1, 0.05];
  // stats.mannwhitneyu(pos, neg).statistic / 30 = 0.8333333333333334
  closeRel(rocAuc(pos, neg), 0.8333333333333334, 1e-12);
  // by hand: pairs pos > neg: 0.9 -> 6, 0.8 -> 5 + tie(0.8) 1/2 each (x2 = 11), 0.55 -> 5, 0.3 -> 2 + ties 2 x 1/2
  // = 6 + 11 + 5 + 3 = 25 of 30
  assert.equal(rocAuc(pos, neg) * 30, 25);
  assert.equal(rocAuc([2, 3], [0, 1]), 1);
  assert.equal(rocAuc([0, 1], [2, 3]), 0);
});

test('rocCurve and tprAtFpr by hand', () => {
  const pts = rocCurve([3, 2], [2, 1]);
  // thresholds: inf -> (0,0); 3 -> (0, 1/2); 2 -> (1/2, 1); 1 -> (1, 1)
  assert.deepEqual(pts.map((p) => [p.threshold, p.fpr, p.tpr]), [[Infinity, 0, 0], [3, 0, 0.5], [2, 0.5, 1], [1, 1, 1]]);
  assert.equal(tprAtFpr([3, 2], [2, 1], 0), 0.5);
  assert.equal(tprAtFpr([3, 2], [2, 1], 0.5), 1);
});
