/**
 * Correlation coefficients with two-sided p-values (scipy.stats.pearsonr / spearmanr):
 * - Pearson r = sum (x - xbar)(y - ybar) / sqrt(sum (x - xbar)^2 sum (y - ybar)^2), clipped to [-1, 1];
 *   p from t = r sqrt((n - 2) / (1 - r^2)) with n - 2 df, which equals scipy's beta(n/2 - 1, n/2 - 1)
 *   form on [-1, 1]; n = 2 gives r = +-1 and p = 1 (as scipy).
 * - Spearman rho = Pearson r of the average ranks; p from t = rho sqrt((n - 2) / ((1 + rho)(1 - rho)))
 *   with n - 2 df (scipy's t approximation, not an exact permutation p); needs n >= 3.
 * Used e.g. for the rank correlation of memorization proxies with the subsampled estimator.
 * A constant input makes the coefficient undefined: r and p are NaN (scipy warns and does the same).
 */
import { UserError } from '../util/errors.ts';
import { assertFiniteArray, assertSameLength } from './validate.ts';
import { sum } from './descriptive.ts';
import { rankdata } from './rank.ts';
import { tTwoSidedP } from './tdist.ts';

export interface CorrelationResult {
  /** Coefficient (Pearson r or Spearman rho). */
  r: number;
  /** Two-sided p-value of H0: no correlation. */
  p: number;
  n: number;
}

function check(name: string, x: readonly number[], y: readonly number[], minN: number): void {
  assertFiniteArray(`${name}: x`, x, minN);
  assertFiniteArray(`${name}: y`, y, minN);
  assertSameLength(`${name}: x`, x, 'y', y);
}

function isConstant(xs: readonly number[]): boolean {
  return xs.every((v) => v === xs[0]);
}

function pearsonR(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  const mx = sum(x) / n;
  const my = sum(y) / n;
  const xm = x.map((v) => v - mx);
  const ym = y.map((v) => v - my);
  const nx = Math.sqrt(sum(xm.map((v) => v * v)));
  const ny = Math.sqrt(sum(ym.map((v) => v * v)));
  const r = sum(xm.map((v, i) => (v / nx) * (ym[i]! / ny)));
  return Math.max(-1, Math.min(1, r));
}

function pFromR(r: number, n: number): number {
  const df = n - 2;
  const denom = (1 + r) * (1 - r);
  const t = denom <= 0 ? (r > 0 ? Infinity : -Infinity) : r * Math.sqrt(df / denom);
  return tTwoSidedP(t, df);
}

/** Pearson correlation with a two-sided p-value (scipy.stats.pearsonr). */
export function pearson(x: readonly number[], y: readonly number[]): CorrelationResult {
  check('pearson', x, y, 2);
  const n = x.length;
  if (isConstant(x) || isConstant(y)) return { r: NaN, p: NaN, n };
  if (n === 2) return { r: Math.sign(x[1]! - x[0]!) * Math.sign(y[1]! - y[0]!), p: 1, n };
  const r = pearsonR(x, y);
  return { r, p: pFromR(r, n), n };
}

/** Spearman rank correlation with scipy's t-based two-sided p-value (scipy.stats.spearmanr). */
export function spearman(x: readonly number[], y: readonly number[]): CorrelationResult {
  check('spearman', x, y, 2);
  const n = x.length;
  if (n < 3) throw new UserError(`spearman: needs at least 3 pairs for a p-value, got ${n}`);
  if (isConstant(x) || isConstant(y)) return { r: NaN, p: NaN, n };
  const r = pearsonR(rankdata(x), rankdata(y));
  return { r, p: pFromR(r, n), n };
}
