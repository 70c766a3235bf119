/**
 * t-tests, t confidence intervals and the t / normal distributions against scipy 1.10.1
 * (values printed by scripts/scipy-reference.py with Debian's /usr/bin/python3).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  oneSampleTTest, pairedTTest, welchTTest, studentTTest, meanCI, pairedMeanDiffCI, welchMeanDiffCI,
  tCdf, tQuantile, normalCdf, normalSf, normalQuantile, erfc,
} from '../../src/stats/index.ts';
import { UserError } from '../../src/util/errors.ts';
import { closeRel, closeRelAll } from './close.ts';
import { A3, B3, A6, B6, X4, Y6, GEN_A, GEN_B } from './data.ts';

test('pairedTTest matches scipy.stats.ttest_rel (t, df, p, 95% CI)', () => {
  // res = stats.ttest_rel(a, b); ci = res.confidence_interval(0.95) -> [t, df, p, ci.low, ci.high]
  const cases: [number[], number[], number[]][] = [
    [A3, B3, [1.2990381056766587, 2.0, 0.32351857479745383, -0.6936550847375007, 1.2936550847375008]],
    [A6, B6, [1.4654866108946238, 5.0, 0.20268493062054882, -0.20108819691783641, 0.7344215302511699]],
    [GEN_A, GEN_B.slice(0, 25), [0.8097752281195467, 24.0, 0.42602571232562336, -0.5223648830529866, 1.1969367230529866]],
  ];
  for (const [a, b, ref] of cases) {
    const r = pairedTTest(a, b);
    closeRelAll([r.t, r.df, r.p, r.ci95[0], r.ci95[1]], ref, 1e-6, 0, `ttest_rel n=${a.length}`);
    assert.equal(r.n, a.length);
  }
});

test('welchTTest / studentTTest match scipy.stats.ttest_ind(equal_var=False / True)', () => {
  // res = stats.ttest_ind(a, b, equal_var=...); scipy 1.10 exposes neither df nor a CI for ttest_ind,
  // so the script forms df (Welch-Satterthwaite from numpy var(ddof=1)) and diff -+ t.ppf(0.975, df) * se.
  const welch: [number[], number[], number[]][] = [
    [X4, Y6, [2.1744286060715394, 5.039544900598865, 0.08125720358444417, -0.3079743806687696, 3.7413077140021023]],
    [A3, B3, [0.6599120175960874, 2.9914396887159533, 0.5565747787019044, -1.1491043012477231, 1.749104301247721]],
    [GEN_A, GEN_B, [0.7329152947321163, 51.07993606360288, 0.4669603107359044, -0.49594265545121474, 1.0662959948060533]],
  ];
  for (const [a, b, ref] of welch) {
    const r = welchTTest(a, b);
    closeRelAll([r.t, r.df, r.p, r.ci95[0], r.ci95[1]], ref, 1e-6, 0, `welch ${a.length}/${b.length}`);
    const ci = welchMeanDiffCI(a, b, 0.95);
    closeRelAll([ci.lo, ci.hi], ref.slice(3), 1e-6, 0, 'welchMeanDiffCI');
  }
  const student: [number[], number[], number[]][] = [
    [X4, Y6, [2.3405690923303766, 8.0, 0.04737358419720455, 0.025351317430005516, 3.407982015903327]],
    [A3, B3, [0.6599120175960874, 4.0, 0.5453724636095207, -0.9621887605464874, 1.5621887605464853]],
    [GEN_A, GEN_B, [0.7344868130263549, 54.0, 0.4658296968992963, -0.49325091800449317, 1.0636042573593318]],
  ];
  for (const [a, b, ref] of student) {
    const r = studentTTest(a, b);
    closeRelAll([r.t, r.df, r.p, r.ci95[0], r.ci95[1]], ref, 1e-6, 0, `student ${a.length}/${b.length}`);
  }
});

test('oneSampleTTest and meanCI match scipy.stats.ttest_1samp(...).confidence_interval', () => {
  // res = stats.ttest_1samp(x, mu) -> [t, df, p, ci95.low, ci95.high]; res.confidence_interval(0.90)
  const cases: [number[], number, number[], number[]][] = [
    [A3, 5.0, [0.9897433186107857, 2.0, 0.4266178209190048, 3.6611036017093728, 7.138896398290626],
      [4.219901877406341, 6.5800981225936575]],
    [Y6, 0.0, [5.236592634710325, 5.0, 0.00336331672317218, 1.060649462378198, 3.1060172042884693],
      [1.2816636721810544, 2.885002994485612]],
    [GEN_B, 0.1, [1.1149422815537824, 30.0, 0.27372746949576515, -0.13845703470360315, 0.9118576153487643],
      [-0.04973951397701143, 0.8231400946221723]],
  ];
  for (const [x, mu, ref, ci90] of cases) {
    const r = oneSampleTTest(x, mu);
    closeRelAll([r.t, r.df, r.p, r.ci95[0], r.ci95[1]], ref, 1e-6, 0, `ttest_1samp n=${x.length}`);
    const c = meanCI(x, 0.9);
    closeRelAll([c.lo, c.hi], ci90, 1e-6, 0, 'meanCI 0.90');
  }
  // paired CI is the one-sample CI of the differences (ttest_rel(A6, B6).confidence_interval(0.95))
  const pc = pairedMeanDiffCI(A6, B6);
  closeRelAll([pc.lo, pc.hi], [-0.20108819691783641, 0.7344215302511699], 1e-6, 0, 'pairedMeanDiffCI');
});

test('t distribution wrappers match scipy.stats.t', () => {
  // [t.cdf(-2.5, 3), t.ppf(0.975, 7.3), t.sf(8, 40)]
  closeRel(tCdf(-2.5, 3), 0.04385332350403277, 1e-9);
  closeRel(tQuantile(0.975, 7.3), 2.345066736150929, 1e-9);
  closeRel(tCdf(-8, 40), 3.952542055052272e-10, 1e-9);
  assert.equal(tCdf(-Infinity, 5), 0);
});

test('normal CDF, survival function and quantile match scipy.stats.norm to 1e-12', () => {
  const zs = [-38.0, -12.0, -5.5, -1.3, -0.2, 0.0, 0.4, 0.9, 1.7, 3.2, 8.0];
  // norm.cdf(zs), norm.sf(zs)
  const cdf = [0.0, 1.776482112077653e-33, 1.898956246588768e-08, 0.09680048458561036, 0.42074029056089696, 0.5,
    0.6554217416103242, 0.8159398746532405, 0.955434537241457, 0.9993128620620841, 0.9999999999999993];
  const sf = [1.0, 1.0, 0.9999999810104375, 0.9031995154143897, 0.579259709439103, 0.5, 0.3445782583896758,
    0.18406012534675947, 0.04456546275854304, 0.0006871379379158471, 6.22096057427174e-16];
  // scipy's ndtr(-38) underflows to 0; the true value is 2.9e-316 (subnormal), hence atol 1e-300
  zs.forEach((z, i) => {
    closeRel(normalCdf(z), cdf[i]!, 1e-12, 1e-300, `cdf(${z})`);
    closeRel(normalSf(z), sf[i]!, 1e-12, 0, `sf(${z})`);
  });
  // norm.ppf(ps)
  const ps = [1e-300, 1e-20, 1e-8, 0.001, 0.02425, 0.1, 0.5, 0.7, 0.975, 0.999999];
  const q = [-37.0470962993612, -9.262340089798409, -5.612001244174789, -3.090232306167813, -1.972961051311885,
    -1.2815515655446004, 0.0, 0.5244005127080407, 1.959963984540054, 4.753424308817087];
  ps.forEach((p, i) => closeRel(normalQuantile(p), q[i]!, 1e-12, 1e-15, `ppf(${p})`));
  assert.equal(erfc(0), 1);
  assert.equal(normalQuantile(0), -Infinity);
});

test('t-tests reject bad input with a UserError naming the problem', () => {
  assert.throws(() => pairedTTest([1, 2, 3], [1, 2]), (e: unknown) => e instanceof UserError && /same length/.test(e.message));
  assert.throws(() => pairedTTest([1], [2]), (e: unknown) => e instanceof UserError && /at least 2/.test(e.message));
  assert.throws(() => welchTTest([1, NaN, 3], [1, 2]), (e: unknown) => e instanceof UserError && /element 1 is NaN/.test(e.message));
  assert.throws(() => oneSampleTTest([1, 2, Infinity]), UserError);
  assert.throws(() => meanCI([1, 2, 3], 1.5), (e: unknown) => e instanceof UserError && /confidence/.test(e.message));
});

test('zero spread follows scipy: constant nonzero differences give t = Infinity, p = 0; all-equal gives NaN', () => {
  // scipy.stats.ttest_rel([2, 3, 4], [1, 2, 3]) -> t = inf, p = 0.0; ttest_rel([1,2],[1,2]) -> nan, nan
  const r = pairedTTest([2, 3, 4], [1, 2, 3]);
  assert.equal(r.t, Infinity);
  assert.equal(r.p, 0);
  const s = pairedTTest([1, 2], [1, 2]);
  assert.ok(Number.isNaN(s.t) && Number.isNaN(s.p));
});
