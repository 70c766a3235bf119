/**
 * Student's t distribution: CDF and quantile from @stdlib (regularised incomplete beta based,
 * accurate to ~1e-15), plus the two-sided p-value p = 2 * F(-|t|; df) computed on the lower tail
 * so that tiny p-values keep their relative accuracy (as scipy's `stdtr(df, -|t|) * 2`).
 */
import tCdfImpl from '@stdlib/stats-base-dists-t-cdf';
import tQuantileImpl from '@stdlib/stats-base-dists-t-quantile';

/** F(x; df) = P(T <= x) for T ~ t(df), df > 0 (real-valued df allowed, e.g. Welch). */
export function tCdf(x: number, df: number): number {
  if (Number.isNaN(x) || Number.isNaN(df)) return NaN;
  if (x === -Infinity) return 0;
  if (x === Infinity) return 1;
  return tCdfImpl(x, df);
}

/** Quantile F^-1(p; df). */
export function tQuantile(p: number, df: number): number {
  return tQuantileImpl(p, df);
}

/** Two-sided p-value of a t statistic: 2 F(-|t|; df). NaN t gives NaN; infinite t gives 0. */
export function tTwoSidedP(t: number, df: number): number {
  if (Number.isNaN(t)) return NaN;
  return Math.min(1, 2 * tCdf(-Math.abs(t), df));
}
