/**
 * t-based confidence intervals at any level (the t-tests report 95%):
 * - mean: mean -/+ F^-1((1 + c) / 2; n - 1) * sd / sqrt(n)  (e.g. a metric over >= 3 seeds);
 * - paired mean difference: the same on d_i = a_i - b_i;
 * - Welch mean difference: (mean a - mean b) -/+ F^-1((1 + c) / 2; df_W) * sqrt(s_a^2/n_a + s_b^2/n_b).
 * These equal scipy's `ttest_1samp(x).confidence_interval(c)` / `ttest_rel(a, b).confidence_interval(c)`.
 */
import { assertConfidence, assertFiniteArray, assertSameLength } from './validate.ts';
import { sampleMoments, tInterval } from './ttest.ts';

export interface Interval {
  estimate: number;
  lo: number;
  hi: number;
  confidence: number;
}

/** t confidence interval of a mean. */
export function meanCI(xs: readonly number[], confidence = 0.95): Interval {
  assertFiniteArray('meanCI: values', xs, 2);
  assertConfidence(confidence);
  const m = sampleMoments(xs);
  const [lo, hi] = tInterval(m.mean, Math.sqrt(m.variance / m.n), m.n - 1, confidence);
  return { estimate: m.mean, lo, hi, confidence };
}

/** t confidence interval of mean(a - b) for paired data. */
export function pairedMeanDiffCI(a: readonly number[], b: readonly number[], confidence = 0.95): Interval {
  assertFiniteArray('pairedMeanDiffCI: a', a, 2);
  assertFiniteArray('pairedMeanDiffCI: b', b, 2);
  assertSameLength('pairedMeanDiffCI: a', a, 'b', b);
  return meanCI(a.map((x, i) => x - b[i]!), confidence);
}

/** Welch t confidence interval of mean(a) - mean(b) for independent samples. */
export function welchMeanDiffCI(a: readonly number[], b: readonly number[], confidence = 0.95): Interval {
  assertFiniteArray('welchMeanDiffCI: a', a, 2);
  assertFiniteArray('welchMeanDiffCI: b', b, 2);
  assertConfidence(confidence);
  const ma = sampleMoments(a);
  const mb = sampleMoments(b);
  const va = ma.variance / ma.n;
  const vb = mb.variance / mb.n;
  const df = (va + vb) ** 2 / ((va * va) / (ma.n - 1) + (vb * vb) / (mb.n - 1));
  const diff = ma.mean - mb.mean;
  const [lo, hi] = tInterval(diff, Math.sqrt(va + vb), df, confidence);
  return { estimate: diff, lo, hi, confidence };
}
