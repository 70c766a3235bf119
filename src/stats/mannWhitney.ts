/**
 * Mann-Whitney U test, two-sided, matching scipy.stats.mannwhitneyu(x, y) defaults
 * (use_continuity=True, alternative='two-sided', method='auto') in scipy 1.10:
 *
 * - U1 = R1 - n1 (n1 + 1) / 2 from average ranks of the pooled sample (R1 = rank sum of x);
 *   U2 = n1 n2 - U1; the statistic returned is U1 (scipy's), the p-value uses U = max(U1, U2).
 * - method 'auto' (scipy's `_mwu_choose_method`): 'asymptotic' if both n1 > 8 and n2 > 8, else
 *   'asymptotic' if there are ties, else 'exact'. (So n1 = 3, n2 = 500 without ties is exact.)
 * - exact: p = 2 P(U >= u) under H0, clipped to 1. The null counts f(k) of U = k are the
 *   coefficients of the Gaussian binomial [n1 + n2 choose m]_q = prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i)
 *   (m = min, n = max of n1, n2), which is the same distribution scipy builds by the recursion
 *   f(m, n, k) = f(m - 1, n, k - n) + f(m, n - 1, k); P(U >= u) = sum_{k <= mn - u} f(k) / C(n1 + n2, n1).
 * - asymptotic: z = (U - n1 n2 / 2 - 1/2) / s,
 *   s = sqrt(n1 n2 / 12 * ((n + 1) - sum(t^3 - t) / (n (n - 1)))), n = n1 + n2, t = tie-group sizes;
 *   p = 2 Q(z) (continuity correction always subtracts 1/2 because U >= n1 n2 / 2), clipped to 1.
 */
import { UserError } from '../util/errors.ts';
import { assertFiniteArray } from './validate.ts';
import { rankWithTies } from './rank.ts';
import { normalSf } from './normal.ts';

export type MannWhitneyMethod = 'auto' | 'exact' | 'asymptotic';

export interface MannWhitneyResult {
  /** U statistic of x (scipy's `statistic`): number of pairs x > y, ties counting 1/2. */
  u: number;
  /** Two-sided p-value. */
  p: number;
  method: 'exact' | 'asymptotic';
  n1: number;
  n2: number;
}

/** Largest n1 * n2 accepted for the exact distribution (memory for the polynomial). */
const MAX_EXACT_CELLS = 20_000_000;

/** Null counts f(k), k = 0..m n, of the U statistic for sample sizes m and n (no ties). */
export function mannWhitneyNullCounts(m: number, n: number): Float64Array {
  if (m > n) [m, n] = [n, m];
  const deg = m * n;
  const c = new Float64Array(deg + 1);
  c[0] = 1;
  let cur = 0; // current degree
  for (let i = 1; i <= m; i++) {
    // multiply by (1 - q^(n+i)): degree cur + n + i
    const shift = n + i;
    const top = Math.min(cur + shift, deg);
    for (let k = top; k >= shift; k--) c[k] = c[k]! - c[k - shift]!;
    // divide by (1 - q^i): c[k] += c[k - i], ascending; result has degree i n
    cur = i * n;
    for (let k = i; k <= cur; k++) c[k] = c[k]! + c[k - i]!;
    // the division leaves zeros above cur (exact), clear any rounding residue
    for (let k = cur + 1; k <= top && k <= deg; k++) c[k] = 0;
  }
  return c;
}

/** Two-sided Mann-Whitney U test (scipy.stats.mannwhitneyu defaults). */
export function mannWhitneyU(
  x: readonly number[],
  y: readonly number[],
  opts: { method?: MannWhitneyMethod; continuity?: boolean } = {},
): MannWhitneyResult {
  assertFiniteArray('mannWhitneyU: x', x, 1);
  assertFiniteArray('mannWhitneyU: y', y, 1);
  const n1 = x.length;
  const n2 = y.length;
  const { ranks, tieSizes } = rankWithTies([...x, ...y]);
  let r1 = 0;
  for (let i = 0; i < n1; i++) r1 += ranks[i]!;
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u2 = n1 * n2 - u1;
  const u = Math.max(u1, u2);

  let method: 'exact' | 'asymptotic';
  const requested = opts.method ?? 'auto';
  if (requested === 'auto') {
    method = n1 > 8 && n2 > 8 ? 'asymptotic' : tieSizes.length > 0 ? 'asymptotic' : 'exact';
  } else if (requested === 'exact' || requested === 'asymptotic') {
    method = requested;
  } else {
    throw new UserError(`mannWhitneyU: method must be 'auto', 'exact' or 'asymptotic', got ${String(requested)}`);
  }

  let p: number;
  if (method === 'exact') {
    if (n1 * n2 > MAX_EXACT_CELLS) {
      throw new UserError(`mannWhitneyU: exact method needs n1 * n2 <= ${MAX_EXACT_CELLS}, got ${n1 * n2}; use 'asymptotic'`);
    }
    // scipy uses U.astype(int): with ties the exact method is not valid anyway
    const counts = mannWhitneyNullCounts(n1, n2);
    const upto = n1 * n2 - Math.trunc(u);
    let below = 0;
    let total = 0;
    for (let k = 0; k < counts.length; k++) {
      total += counts[k]!;
      if (k <= upto) below += counts[k]!;
    }
    p = (2 * below) / total;
  } else {
    const n = n1 + n2;
    let tie = 0;
    for (const t of tieSizes) tie += t * t * t - t;
    const s = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tie / (n * (n - 1))));
    const num = u - (n1 * n2) / 2 - (opts.continuity === false ? 0 : 0.5);
    p = 2 * normalSf(num / s);
  }
  return { u: u1, p: Math.min(1, Math.max(0, p)), method, n1, n2 };
}
