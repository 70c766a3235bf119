/**
 * t-tests with two-sided p-values and 95% t-based confidence intervals, matching scipy.stats
 * `ttest_1samp`, `ttest_rel` and `ttest_ind(equal_var=False / True)`.
 *
 * - one-sample: t = (mean(x) - mu) / (sd(x) / sqrt n), df = n - 1.
 * - paired: the one-sample test on d_i = a_i - b_i against 0 (sign: a minus b, as scipy).
 * - Welch: t = (mean a - mean b) / sqrt(v_a + v_b), v = s^2 / n,
 *   df = (v_a + v_b)^2 / (v_a^2 / (n_a - 1) + v_b^2 / (n_b - 1))  (Welch-Satterthwaite).
 * - Student (pooled): s_p^2 = ((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2),
 *   t = (mean a - mean b) / (s_p sqrt(1/n_a + 1/n_b)), df = n_a + n_b - 2.
 * p = 2 F(-|t|; df); CI = estimate -/+ F^-1(0.975; df) * se.
 *
 * Degenerate data follow scipy rather than throwing: zero spread gives t = +-Infinity (p = 0) or
 * NaN (0 / 0, p = NaN), and effect sizes do the same.
 */
import { assertFiniteArray, assertSameLength } from './validate.ts';
import { sum } from './descriptive.ts';
import { tQuantile, tTwoSidedP } from './tdist.ts';
import { cohenDPooled } from './effectSize.ts';

export interface OneSampleTTestResult {
  t: number;
  df: number;
  /** Two-sided p-value. */
  p: number;
  mean: number;
  /** Standard error sd / sqrt(n). */
  se: number;
  /** 95% confidence interval of the mean. */
  ci95: [number, number];
  n: number;
}

export interface PairedTTestResult {
  t: number;
  df: number;
  p: number;
  /** mean(a - b). */
  meanDiff: number;
  /** sd(a - b), ddof = 1. */
  sdDiff: number;
  se: number;
  /** 95% confidence interval of mean(a - b). */
  ci95: [number, number];
  /** Cohen's d_z = mean(diff) / sd(diff). */
  dz: number;
  /** Cohen's d_av = mean(diff) / ((sd(a) + sd(b)) / 2). */
  dav: number;
  meanA: number;
  meanB: number;
  n: number;
}

export interface TwoSampleTTestResult {
  t: number;
  df: number;
  p: number;
  /** mean(a) - mean(b). */
  meanDiff: number;
  se: number;
  /** 95% confidence interval of mean(a) - mean(b). */
  ci95: [number, number];
  /** Cohen's d with the pooled sd (see cohenDPooled). */
  d: number;
  meanA: number;
  meanB: number;
  nA: number;
  nB: number;
}

interface Moments {
  n: number;
  mean: number;
  variance: number;
}

function moments(xs: readonly number[]): Moments {
  const n = xs.length;
  const m = sum(xs) / n;
  const v = sum(xs.map((x) => (x - m) * (x - m))) / (n - 1);
  return { n, mean: m, variance: v };
}

function ci(estimate: number, se: number, df: number, confidence: number): [number, number] {
  const q = tQuantile(0.5 + confidence / 2, df);
  return [estimate - q * se, estimate + q * se];
}

/** One-sample t-test of H0: mean = mu. */
export function oneSampleTTest(xs: readonly number[], mu = 0): OneSampleTTestResult {
  assertFiniteArray('oneSampleTTest: values', xs, 2);
  if (!Number.isFinite(mu)) assertFiniteArray('oneSampleTTest: mu', [mu]);
  const m = moments(xs);
  const se = Math.sqrt(m.variance / m.n);
  const df = m.n - 1;
  const t = (m.mean - mu) / se;
  return { t, df, p: tTwoSidedP(t, df), mean: m.mean, se, ci95: ci(m.mean, se, df, 0.95), n: m.n };
}

/** Paired t-test of H0: mean(a - b) = 0 (scipy.stats.ttest_rel(a, b)), with d_z and d_av. */
export function pairedTTest(a: readonly number[], b: readonly number[]): PairedTTestResult {
  assertFiniteArray('pairedTTest: a', a, 2);
  assertFiniteArray('pairedTTest: b', b, 2);
  assertSameLength('pairedTTest: a', a, 'b', b);
  const diff = a.map((x, i) => x - b[i]!);
  const d = moments(diff);
  const ma = moments(a);
  const mb = moments(b);
  const sdDiff = Math.sqrt(d.variance);
  const se = sdDiff / Math.sqrt(d.n);
  const df = d.n - 1;
  const t = d.mean / se;
  return {
    t,
    df,
    p: tTwoSidedP(t, df),
    meanDiff: d.mean,
    sdDiff,
    se,
    ci95: ci(d.mean, se, df, 0.95),
    dz: d.mean / sdDiff,
    dav: d.mean / ((Math.sqrt(ma.variance) + Math.sqrt(mb.variance)) / 2),
    meanA: ma.mean,
    meanB: mb.mean,
    n: d.n,
  };
}

/** Welch's unequal-variance t-test (scipy.stats.ttest_ind(a, b, equal_var=False)). */
export function welchTTest(a: readonly number[], b: readonly number[]): TwoSampleTTestResult {
  return twoSample('welchTTest', a, b, (ma, mb) => {
    const va = ma.variance / ma.n;
    const vb = mb.variance / mb.n;
    // Welch-Satterthwaite degrees of freedom
    return { se: Math.sqrt(va + vb), df: (va + vb) ** 2 / ((va * va) / (ma.n - 1) + (vb * vb) / (mb.n - 1)) };
  });
}

/** Student's pooled-variance t-test (scipy.stats.ttest_ind(a, b), equal_var=True). */
export function studentTTest(a: readonly number[], b: readonly number[]): TwoSampleTTestResult {
  return twoSample('studentTTest', a, b, (ma, mb) => {
    const df = ma.n + mb.n - 2;
    const sp2 = ((ma.n - 1) * ma.variance + (mb.n - 1) * mb.variance) / df;
    return { se: Math.sqrt(sp2 * (1 / ma.n + 1 / mb.n)), df };
  });
}

/** The two-sample t-test around a standard error and degrees of freedom (Welch's or Student's). */
function twoSample(
  name: string,
  a: readonly number[],
  b: readonly number[],
  seDf: (ma: ReturnType<typeof moments>, mb: ReturnType<typeof moments>) => { se: number; df: number },
): TwoSampleTTestResult {
  assertFiniteArray(`${name}: a`, a, 2);
  assertFiniteArray(`${name}: b`, b, 2);
  const ma = moments(a);
  const mb = moments(b);
  const { se, df } = seDf(ma, mb);
  const diff = ma.mean - mb.mean;
  const t = diff / se;
  return {
    t,
    df,
    p: tTwoSidedP(t, df),
    meanDiff: diff,
    se,
    ci95: ci(diff, se, df, 0.95),
    d: cohenDPooled(a, b),
    meanA: ma.mean,
    meanB: mb.mean,
    nA: ma.n,
    nB: mb.n,
  };
}

/** Internal: t-interval estimate -/+ F^-1((1 + confidence) / 2; df) * se. */
export function tInterval(estimate: number, se: number, df: number, confidence: number): [number, number] {
  return ci(estimate, se, df, confidence);
}

/** Internal: n, mean, sample variance. */
export { moments as sampleMoments };
