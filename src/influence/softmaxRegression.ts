/**
 * Multinomial logistic (softmax) regression on fixed features, built on the engine: the convex
 * model on which influence functions are exact to first order, used to validate the influence
 * machinery against actual leave-one-out retraining (Koh and Liang 2017, section 3).
 *
 *   J(W) = sum_{i active} c_i CE(softmax(W x_i), y_i) + (l2 / 2) ||W||^2,   c_i = 1 / n
 *
 * W has ggml shape [d, C] (d features including a bias column of ones), logits = W^T x. Example
 * weights are data (an input tensor), so leave-one-out just zeroes one weight: no graph rebuild;
 * an example's own gradient is the engine's gradient with only that row weighted (and l2 = 0).
 * `fit` minimises J by Newton's method with the Hessian formed column by column from central
 * differences of the engine's gradients (H e_k, k = 1..dim; fine for the few parameters this model
 * has) and a backtracking line search, until ||grad J|| <= tol: retraining to convergence.
 */
import { Graph, type Tensor } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import { Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';
import type { Objective } from './objective.ts';
import { hvp } from './hvp.ts';
import { norm } from './vectors.ts';

export interface SoftmaxData {
  /** n x d features, row-major (include a constant 1 column for a bias). */
  x: Float32Array;
  y: Int32Array;
  n: number;
  d: number;
  classes: number;
}

/** Seeded synthetic data: class means on a sphere plus Gaussian noise, with a bias column. */
export function syntheticSoftmaxData(seed: number, n: number, features: number, classes: number, spread = 1.5): SoftmaxData {
  const rng = new Rng(seed);
  const d = features + 1;
  const means = Array.from({ length: classes }, () => rng.normalArray(features, spread));
  const x = new Float32Array(n * d);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = rng.int(classes);
    y[i] = c;
    for (let j = 0; j < features; j++) x[i * d + j] = means[c]![j]! + rng.normal();
    x[i * d + features] = 1;
  }
  return { x, y, n, d, classes };
}

export class SoftmaxRegression implements Objective {
  readonly dim: number;
  readonly n: number;
  readonly nQueries: number;
  private graph: Graph;
  private W: Tensor;
  private X: Tensor;
  private labels: Tensor;
  private logp: Tensor;
  private loss: Tensor;
  private l2t: Tensor;
  private theta: Float32Array;
  private active: number[] | null = null;
  /** Train rows 0..n-1, then query rows n..n+q-1 in one input (queries get weight 0 in J). */
  private readonly rows: number;

  constructor(
    readonly train: SoftmaxData,
    readonly queries: SoftmaxData,
    readonly l2 = 0.01,
  ) {
    if (train.d !== queries.d || train.classes !== queries.classes) throw new UserError('train and query data must have the same features and classes');
    const { d, classes } = train;
    this.n = train.n;
    this.nQueries = queries.n;
    this.rows = train.n + queries.n;
    this.dim = d * classes;
    const g = new Graph({ maxNodes: 256 });
    this.graph = g;
    this.W = g.param('W', [d, classes]);
    this.X = g.input('X', [d, this.rows]);
    this.labels = g.input('labels', [classes, this.rows]);
    const l2t = (this.l2t = g.input('l2', [1]));
    this.logp = op.log(op.softMax(op.mulMat(this.W, this.X)));
    const ce = op.neg(op.sum(op.mul(this.logp, this.labels)));
    this.loss = op.add(ce, op.mul(op.sum(op.sqr(this.W)), l2t));
    g.build({ outputs: [this.logp], loss: this.loss, backward: true });
    g.allocate();
    const X = new Float32Array(d * this.rows);
    X.set(train.x, 0);
    X.set(queries.x, train.n * d);
    g.set(this.X, X);
    g.set(l2t, new Float32Array([l2 / 2]));
    this.theta = new Float32Array(this.dim);
    g.set(this.W, this.theta);
    this.setActive(null);
  }

  /** Label rows weighted by c_i for the active training examples (queries and dropped rows: 0). */
  private setLabelWeights(weights: Float64Array): void {
    const { classes } = this.train;
    const lab = new Float32Array(classes * this.rows);
    for (let i = 0; i < this.n; i++) if (weights[i]! > 0) lab[i * classes + this.train.y[i]!] = weights[i]!;
    this.graph.set(this.labels, lab);
  }

  setActive(indices: number[] | null): void {
    this.active = indices;
    const w = new Float64Array(this.n);
    const act = indices ?? Array.from({ length: this.n }, (_, i) => i);
    for (const i of act) w[i] = 1 / this.n;
    this.setLabelWeights(w);
  }

  exampleWeight(): number {
    return 1 / this.n;
  }

  getParams(): Float32Array {
    return this.theta.slice();
  }

  setParams(theta: Float32Array): void {
    this.theta = theta.slice();
    this.graph.set(this.W, this.theta);
  }

  gradient(): Float32Array {
    this.graph.compute('backward');
    return this.graph.grad(this.W);
  }

  value(): number {
    this.graph.compute('forward');
    return this.graph.get(this.loss)[0]!;
  }

  /** log-softmax rows [classes x rows] at the current parameters. */
  private logProbs(): Float32Array {
    this.graph.compute('forward');
    return this.graph.get(this.logp);
  }

  /** Per-example losses of training rows (no L2), from the forward pass. */
  trainLosses(): number[] {
    const lp = this.logProbs();
    const C = this.train.classes;
    return Array.from({ length: this.n }, (_, i) => -lp[i * C + this.train.y[i]!]!);
  }

  /** Gradient of one row's CE (no L2 term), by the engine: that row alone weighted 1, l2 set to 0. */
  private rowGradient(row: number, label: number): Float32Array {
    const { classes } = this.train;
    const lab = new Float32Array(classes * this.rows);
    lab[row * classes + label] = 1;
    this.graph.set(this.labels, lab);
    this.graph.set(this.l2t, new Float32Array([0]));
    try {
      return this.gradient();
    } finally {
      this.graph.set(this.l2t, new Float32Array([this.l2 / 2]));
      this.setActive(this.active);
    }
  }

  exampleGradient(i: number): Float32Array {
    return this.rowGradient(i, this.train.y[i]!);
  }

  queryLoss(q: number): number {
    const lp = this.logProbs();
    return -lp[(this.n + q) * this.train.classes + this.queries.y[q]!]!;
  }

  queryGradient(q: number): Float32Array {
    return this.rowGradient(this.n + q, this.queries.y[q]!);
  }

  /** Minimise J over the active examples from the current parameters (Newton, see the module comment). */
  fit(o: { tol?: number; maxIterations?: number; h?: number } = {}): { iterations: number; gradNorm: number } {
    const tol = o.tol ?? 1e-6;
    let g = this.gradient();
    let it = 0;
    for (; it < (o.maxIterations ?? 30) && norm(g) > tol; it++) {
      const H = this.hessian(o.h);
      const step = solveSymmetric(H, g, this.dim);
      const theta = this.getParams();
      const f0 = this.value();
      let t = 1;
      for (let k = 0; k < 30; k++) {
        const next = new Float32Array(this.dim);
        for (let i = 0; i < this.dim; i++) next[i] = theta[i]! - t * step[i]!;
        this.setParams(next);
        if (this.value() <= f0 + 1e-7 * Math.abs(f0)) break;
        t /= 2;
      }
      g = this.gradient();
    }
    return { iterations: it, gradNorm: norm(g) };
  }

  /** The dim x dim Hessian of J, column k = H e_k by central differences (symmetrised). */
  hessian(h = 1e-3): Float64Array {
    const n = this.dim;
    const H = new Float64Array(n * n);
    for (let k = 0; k < n; k++) {
      const e = new Float32Array(n);
      e[k] = 1;
      const col = hvp(this, e, { h });
      for (let i = 0; i < n; i++) H[i * n + k] = col[i]!;
    }
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) H[i * n + j] = H[j * n + i] = (H[i * n + j]! + H[j * n + i]!) / 2;
    return H;
  }

  /** The exact Hessian of J in float64 on the host: sum_i c_i (diag(p) - p p^T) (x) x x^T + l2 I. */
  analyticHessian(): Float64Array {
    const lp = this.logProbs();
    const { d, classes: C } = this.train;
    const n = this.dim;
    const H = new Float64Array(n * n);
    const act = this.active ?? Array.from({ length: this.n }, (_, i) => i);
    const c = 1 / this.n;
    for (const i of act) {
      const p = Array.from({ length: C }, (_, k) => Math.exp(lp[i * C + k]!));
      const x = this.train.x.subarray(i * d, (i + 1) * d);
      for (let a = 0; a < C; a++) {
        for (let b = 0; b < C; b++) {
          const s = c * ((a === b ? p[a]! : 0) - p[a]! * p[b]!);
          if (s === 0) continue;
          for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) H[(a * d + j) * n + b * d + k] += s * x[j]! * x[k]!;
        }
      }
    }
    for (let i = 0; i < n; i++) H[i * n + i] += this.l2;
    return H;
  }

  dispose(): void {
    this.graph.dispose();
  }
}

/** Solve H x = b for a symmetric positive definite H (Cholesky, float64). */
export function solveSymmetric(H: Float64Array, b: ArrayLike<number>, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = H[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      if (i === j) {
        if (!(s > 0)) throw new UserError('the Hessian is not positive definite (raise the L2 term)');
        L[i * n + i] = Math.sqrt(s);
      } else L[i * n + j] = s / L[j * n + j]!;
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * n + k]! * y[k]!;
    y[i] = s / L[i * n + i]!;
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * x[k]!;
    x[i] = s / L[i * n + i]!;
  }
  return x;
}
