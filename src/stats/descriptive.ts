/**
 * Descriptive statistics: sum, mean, variance and standard deviation (sample versions, ddof = 1,
 * as numpy's `var(ddof=1)`), standard error, median and quantiles (numpy's default "linear"
 * method, Hyndman & Fan type 7).
 */
import { assertFiniteArray } from './validate.ts';
import { UserError } from '../util/errors.ts';

/** Sum with Neumaier compensation (error independent of n; numpy uses pairwise summation). */
export function sum(xs: readonly number[]): number {
  let s = 0;
  let c = 0;
  for (const x of xs) {
    const t = s + x;
    c += Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s;
    s = t;
  }
  return s + c;
}

/** Arithmetic mean, sum(x) / n. */
export function mean(xs: readonly number[]): number {
  assertFiniteArray('mean: values', xs, 1);
  return sum(xs) / xs.length;
}

/** Sample variance, sum((x - mean)^2) / (n - 1) (two-pass, ddof = 1). */
export function variance(xs: readonly number[]): number {
  assertFiniteArray('variance: values', xs, 2);
  const m = sum(xs) / xs.length;
  return sum(xs.map((x) => (x - m) * (x - m))) / (xs.length - 1);
}

/** Sample standard deviation, sqrt(variance) with ddof = 1. */
export function sd(xs: readonly number[]): number {
  return Math.sqrt(variance(xs));
}

/** Standard error of the mean, sd / sqrt(n). */
export function sem(xs: readonly number[]): number {
  return sd(xs) / Math.sqrt(xs.length);
}

/** Sorted copy (ascending, numeric). */
export function sorted(xs: readonly number[]): number[] {
  return Array.from(xs).sort((a, b) => a - b);
}

function sortedCopy(xs: readonly number[]): Float64Array {
  return Float64Array.from(xs).sort();
}

/**
 * Quantile q in [0, 1] with linear interpolation between order statistics (numpy default,
 * type 7): h = (n - 1) q, Q = x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h]).
 */
export function quantile(xs: readonly number[], q: number): number {
  assertFiniteArray('quantile: values', xs, 1);
  if (!(q >= 0 && q <= 1)) throw new UserError(`quantile: q must lie in [0, 1], got ${q}`);
  return quantileSorted(sortedCopy(xs), q);
}

/** Quantile of data already sorted ascending (no checks; internal and for bootstrap). */
export function quantileSorted(s: ArrayLike<number>, q: number): number {
  const n = s.length;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  if (lo >= n - 1) return s[n - 1]!;
  const frac = h - lo;
  const a = s[lo]!;
  const b = s[lo + 1]!;
  return frac === 0 ? a : a + frac * (b - a);
}

/** Median (quantile 0.5; mean of the two middle values for even n). */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}
