/**
 * Cohen's d effect sizes (Lakens 2013, "Calculating and reporting effect sizes", Front. Psychol.):
 * - paired d_z = mean(d) / sd(d), d_i = a_i - b_i  (what the first-epoch unlearning paper reports,
 *   1.94 .. 4.23 for its methods);
 * - paired d_av = mean(d) / ((sd(a) + sd(b)) / 2)  (comparable with between-subject d);
 * - independent samples d = (mean a - mean b) / s_p,
 *   s_p = sqrt(((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2)).
 * All sds use ddof = 1. Zero spread gives +-Infinity or NaN (0 / 0), not an error.
 */
import { assertFiniteArray, assertSameLength } from './validate.ts';
import { sum } from './descriptive.ts';

function meanVar(xs: readonly number[]): [number, number] {
  const m = sum(xs) / xs.length;
  return [m, sum(xs.map((x) => (x - m) * (x - m))) / (xs.length - 1)];
}

/** Paired Cohen's d_z = mean(a - b) / sd(a - b). */
export function cohenDz(a: readonly number[], b: readonly number[]): number {
  assertFiniteArray('cohenDz: a', a, 2);
  assertFiniteArray('cohenDz: b', b, 2);
  assertSameLength('cohenDz: a', a, 'b', b);
  const [m, v] = meanVar(a.map((x, i) => x - b[i]!));
  return m / Math.sqrt(v);
}

/** Paired Cohen's d_av = mean(a - b) / ((sd(a) + sd(b)) / 2). */
export function cohenDav(a: readonly number[], b: readonly number[]): number {
  assertFiniteArray('cohenDav: a', a, 2);
  assertFiniteArray('cohenDav: b', b, 2);
  assertSameLength('cohenDav: a', a, 'b', b);
  const [md] = meanVar(a.map((x, i) => x - b[i]!));
  const [, va] = meanVar(a);
  const [, vb] = meanVar(b);
  return md / ((Math.sqrt(va) + Math.sqrt(vb)) / 2);
}

/** Independent-samples Cohen's d with the pooled standard deviation. */
export function cohenDPooled(a: readonly number[], b: readonly number[]): number {
  assertFiniteArray('cohenDPooled: a', a, 2);
  assertFiniteArray('cohenDPooled: b', b, 2);
  const [ma, va] = meanVar(a);
  const [mb, vb] = meanVar(b);
  const sp = Math.sqrt(((a.length - 1) * va + (b.length - 1) * vb) / (a.length + b.length - 2));
  return (ma - mb) / sp;
}
