/**
 * Holm's step-down correction for m simultaneous tests (Holm 1979), as statsmodels
 * `multipletests(p, method='holm')`: sort p ascending, p_(1) <= ... <= p_(m);
 *   adj_(i) = min(1, max_{j <= i} (m - j + 1) p_(j)),
 * which is monotone in i; results go back to the input order. Reject H_i when adj_i <= alpha.
 * Controls the family-wise error rate without independence assumptions.
 */
import { UserError } from '../util/errors.ts';
import { assertFiniteArray } from './validate.ts';

export interface HolmResult {
  /** Adjusted p-values, in input order. */
  adjusted: number[];
  /** adjusted <= alpha. */
  reject: boolean[];
  alpha: number;
}

/** Holm-adjusted p-values and rejections at level alpha (default 0.05). */
export function holm(pValues: readonly number[], alpha = 0.05): HolmResult {
  assertFiniteArray('holm: p-values', pValues, 1);
  pValues.forEach((p, i) => {
    if (p < 0 || p > 1) throw new UserError(`holm: p-value ${i} is ${p}; p-values must lie in [0, 1]`);
  });
  if (!(alpha > 0 && alpha < 1)) throw new UserError(`holm: alpha must lie in (0, 1), got ${alpha}`);
  const m = pValues.length;
  const order = pValues.map((_, i) => i).sort((i, j) => pValues[i]! - pValues[j]! || i - j);
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach((idx, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * pValues[idx]!));
    adjusted[idx] = running;
  });
  return { adjusted, reject: adjusted.map((p) => p <= alpha), alpha };
}
