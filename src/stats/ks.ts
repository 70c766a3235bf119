/**
 * Two-sample Kolmogorov-Smirnov test, two-sided, ported from scipy 1.10
 * `scipy.stats.ks_2samp(a, b)` (alternative='two-sided', method='auto').
 *
 * Statistic: D = max_x |F_a(x) - F_b(x)| over the pooled values (empirical CDFs, `side='right'`);
 * `location` is the pooled value where the larger of max(F_a - F_b) and max(F_b - F_a) is
 * attained (first such value in the order sorted(a) ++ sorted(b)) and `sign` is +1 when
 * F_a > F_b there, -1 otherwise (scipy's statistic_location / statistic_sign).
 *
 * method 'auto': 'exact' when max(n1, n2) <= 10000, else 'asymp' (scipy's MAX_AUTO_N).
 * - exact (Hodges 1958 lattice-path counting): with g = gcd(n1, n2), L = n1 n2 / g,
 *   h = round(D L) (D is replaced by h / L), p = P(D >= h / L) is the share of monotone lattice
 *   paths from (0, 0) to (n1, n2) that leave the band |x / n1 - y / n2| < h / L. For n1 = n2 = n,
 *   p = 2 sum_k (-1)^(k-1) C(2n, n - k h) / C(2n, n), evaluated in scipy's Horner-like form; else
 *   the "inside" recursion for 1 - p of Viehmann (2021, arXiv:2102.08037), both as in scipy.
 *   If the exact value is not in [0, 1] it falls back to 'asymp', as scipy does.
 * - asymp: p = P(D_m >= D) of the one-sample two-sided KS distribution with
 *   m = round(n1 n2 / (n1 + n2)) (scipy's kstwo.sf, see kolmogorov.ts).
 * Only the two-sided alternative is implemented (the one used for TOFU forget quality).
 */
import { UserError } from '../util/errors.ts';
import { assertFiniteArray } from './validate.ts';
import { kolmogorovN } from './kolmogorov.ts';

export type KsMethod = 'auto' | 'exact' | 'asymp';

export interface KsResult {
  /** D = sup |F_a - F_b| (for 'exact', rounded to h / lcm(n1, n2) as scipy). */
  statistic: number;
  /** Two-sided p-value. */
  p: number;
  method: 'exact' | 'asymp';
  location: number;
  sign: 1 | -1;
  n1: number;
  n2: number;
}

const MAX_AUTO_N = 10000;
const INT32_MAX = 2147483647;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** numpy.round: half to even. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Number of elements of sorted `s` that are <= v (numpy searchsorted side='right'). */
function countLE(s: Float64Array, v: number): number {
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (s[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** P(D_{n,n} >= h / n) for two samples of equal size n (scipy _compute_prob_outside_square). */
function probOutsideSquare(n: number, h: number): number {
  let P = 0;
  let k = Math.floor(n / h);
  while (k >= 0) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    P = p1 * (1 - P);
    k -= 1;
  }
  return 2 * P;
}

/** Share of lattice paths leaving the band |n x / g - m y / g| < h (scipy _compute_outer_prob_inside_method). */
function outerProbInside(m: number, n: number, g: number, h: number): number {
  if (m < n) [m, n] = [n, m];
  const mg = Math.floor(m / g);
  const ng = Math.floor(n / g);
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(lenA).fill(1);
  A.fill(0, minj, Math.min(maxj, lenA));
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.max(Math.floor((ng * i - h) / mg) + 1, 0);
    minj = Math.min(minj, n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (A[jj + minj - lastminj]! * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) {
      const start = maxj - minj;
      A.fill(1, start, Math.min(start + (lastlen - curlen), lenA));
    }
  }
  const out = A[maxj - minj - 1];
  return out === undefined ? NaN : out;
}

/** Two-sided two-sample KS test (scipy.stats.ks_2samp defaults). */
export function ks2samp(a: readonly number[], b: readonly number[], opts: { method?: KsMethod } = {}): KsResult {
  assertFiniteArray('ks2samp: a', a, 1);
  assertFiniteArray('ks2samp: b', b, 1);
  const requested = opts.method ?? 'auto';
  if (requested !== 'auto' && requested !== 'exact' && requested !== 'asymp') {
    throw new UserError(`ks2samp: method must be 'auto', 'exact' or 'asymp', got ${String(requested)}`);
  }
  const d1 = Float64Array.from(a).sort();
  const d2 = Float64Array.from(b).sort();
  const n1 = d1.length;
  const n2 = d2.length;
  let maxS = -Infinity;
  let minDiff = Infinity;
  let locMax = NaN;
  let locMin = NaN;
  const visit = (v: number) => {
    const diff = countLE(d1, v) / n1 - countLE(d2, v) / n2;
    if (diff > maxS) {
      maxS = diff;
      locMax = v;
    }
    if (diff < minDiff) {
      minDiff = diff;
      locMin = v;
    }
  };
  d1.forEach(visit);
  d2.forEach(visit);
  const minS = Math.min(1, Math.max(0, -minDiff));
  let d: number;
  let location: number;
  let sign: 1 | -1;
  if (minS > maxS) {
    d = minS;
    location = locMin;
    sign = -1;
  } else {
    d = maxS;
    location = locMax;
    sign = 1;
  }
  const g = gcd(n1, n2);
  const n1g = n1 / g;
  const n2g = n2 / g;
  let mode: 'exact' | 'asymp';
  if (requested === 'auto') mode = Math.max(n1, n2) <= MAX_AUTO_N ? 'exact' : 'asymp';
  else if (requested === 'exact') mode = n1g >= INT32_MAX / n2g ? 'asymp' : 'exact';
  else mode = 'asymp';

  let p = NaN;
  if (mode === 'exact') {
    const lcm = n1g * n2;
    const h = roundHalfEven(d * lcm);
    d = h / lcm;
    if (h === 0) p = 1;
    else p = n1 === n2 ? probOutsideSquare(n1, h) : outerProbInside(n1, n2, g, h);
    if (!(p >= 0 && p <= 1)) mode = 'asymp';
  }
  if (mode === 'asymp') {
    const [m, n] = n1 >= n2 ? [n1, n2] : [n2, n1];
    const en = (m * n) / (m + n);
    p = kolmogorovN(roundHalfEven(en), d, false);
  }
  return { statistic: d, p: Math.min(1, Math.max(0, p)), method: mode, location, sign, n1, n2 };
}
