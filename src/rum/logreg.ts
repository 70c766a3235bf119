/**
 * L2-regularised logistic regression by Newton's method (iteratively reweighted least squares),
 * for the membership-inference attack on confidence features.
 *
 * Model: P(y = 1 | x) = sigmoid(b + w . z), z = (x - mean) / sd standardised with the training
 * features' mean and (population) sd. Objective (minimised):
 *   J(b, w) = -sum_i [ y_i log p_i + (1 - y_i) log(1 - p_i) ] + (lambda / 2) ||w||^2
 * (the intercept is not penalised). Newton step: (X^T W X + lambda I') d = X^T (y - p) with
 * W = diag(p (1 - p)); converged when max |d| < 1e-10 or after 100 iterations. The problem is
 * strictly convex for lambda > 0, so the solution is unique (scipy.optimize gives the same
 * coefficients; test/rum/metrics.test.ts pins them).
 */
import { UserError } from '../util/errors.ts';

export interface LogisticModel {
  /** Intercept and weights on standardised features. */
  intercept: number;
  weights: number[];
  mean: number[];
  sd: number[];
  iterations: number;
}

/** Solve A x = b for a small symmetric positive definite A (Gaussian elimination, partial pivoting). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[piv]![c]!)) piv = r;
    [m[c], m[piv]] = [m[piv]!, m[c]!];
    const d = m[c]![c]!;
    if (Math.abs(d) < 1e-300) throw new Error('logistic regression: singular Newton system');
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]! / d;
      if (f === 0) continue;
      for (let k = c; k <= n; k++) m[r]![k] = m[r]![k]! - f * m[c]![k]!;
    }
  }
  return m.map((row, i) => row[n]! / row[i]!);
}

const sigmoid = (t: number) => (t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t)));

/** Fit on rows x (features) with labels y in {0, 1}. */
export function fitLogistic(x: number[][], y: number[], lambda = 1e-2): LogisticModel {
  const n = x.length;
  if (n === 0) throw new UserError('logistic regression: no training rows');
  if (y.length !== n) throw new UserError(`logistic regression: ${n} rows but ${y.length} labels`);
  if (!(lambda > 0)) throw new UserError(`logistic regression: lambda must be > 0, got ${lambda}`);
  const d = x[0]!.length;
  for (const row of x) {
    if (row.length !== d) throw new UserError('logistic regression: rows have different lengths');
    if (row.some((v) => !Number.isFinite(v))) throw new UserError('logistic regression: non-finite feature');
  }
  if (y.some((v) => v !== 0 && v !== 1)) throw new UserError('logistic regression: labels must be 0 or 1');
  const mean = Array.from({ length: d }, (_, j) => x.reduce((s, r) => s + r[j]!, 0) / n);
  const sd = Array.from({ length: d }, (_, j) => {
    const v = x.reduce((s, r) => s + (r[j]! - mean[j]!) ** 2, 0) / n;
    return v > 1e-24 ? Math.sqrt(v) : 1;
  });
  const z = x.map((r) => [1, ...r.map((v, j) => (v - mean[j]!) / sd[j]!)]);
  const beta = new Array<number>(d + 1).fill(0);
  let it = 0;
  for (; it < 100; it++) {
    const h = Array.from({ length: d + 1 }, () => new Array<number>(d + 1).fill(0));
    const g = new Array<number>(d + 1).fill(0);
    for (let i = 0; i < n; i++) {
      const zi = z[i]!;
      let t = 0;
      for (let j = 0; j <= d; j++) t += beta[j]! * zi[j]!;
      const p = sigmoid(t);
      const w = Math.max(p * (1 - p), 1e-12);
      const r = y[i]! - p;
      for (let j = 0; j <= d; j++) {
        g[j] = g[j]! + zi[j]! * r;
        for (let k = 0; k <= j; k++) h[j]![k] = h[j]![k]! + w * zi[j]! * zi[k]!;
      }
    }
    for (let j = 0; j <= d; j++) for (let k = 0; k < j; k++) h[k]![j] = h[j]![k]!;
    for (let j = 1; j <= d; j++) {
      h[j]![j] = h[j]![j]! + lambda;
      g[j] = g[j]! - lambda * beta[j]!;
    }
    const step = solve(h, g);
    for (let j = 0; j <= d; j++) beta[j] = beta[j]! + step[j]!;
    if (Math.max(...step.map(Math.abs)) < 1e-10) {
      it++;
      break;
    }
  }
  return { intercept: beta[0]!, weights: beta.slice(1), mean, sd, iterations: it };
}

/** P(y = 1) for each row. */
export function predictLogistic(m: LogisticModel, x: number[][]): number[] {
  return x.map((r) => {
    let t = m.intercept;
    for (let j = 0; j < r.length; j++) t += m.weights[j]! * ((r[j]! - m.mean[j]!) / m.sd[j]!);
    return sigmoid(t);
  });
}
