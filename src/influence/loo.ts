/**
 * Influence-function estimates of leave-one-out (LOO) loss changes against actual LOO retraining
 * (Koh and Liang 2017, Fig. 2): for a query z_q and each training example z_i,
 *
 *   predicted_i = c_i grad L_q(theta*)^T (H + lambda I)^{-1} grad L_i(theta*)     (= -c_i I_up,loss)
 *   actual_i    = L_q(theta_{-i}) - L_q(theta_ref)
 *
 * where theta* is the trained model, c_i example i's weight in the objective (1/n, or its token
 * share), (H + lambda I)^{-1} by LiSSA (hvp.ts), theta_{-i} the model retrained without z_i from
 * theta* (warm start, as Koh and Liang do for non-convex models), and theta_ref = theta* for a model
 * trained to convergence ('optimum'), or theta* retrained by the same procedure on all examples
 * ('retrained', which cancels the drift of a not fully converged optimisation). Reported: the
 * Spearman and Pearson correlations of predicted vs actual, with their p-values.
 */
import { pearson, spearman, type CorrelationResult } from '../stats/index.ts';
import type { Objective } from './objective.ts';
import { lissa, type LissaOptions } from './hvp.ts';
import { dot } from './vectors.ts';

export interface LooOptions {
  /** Query index (default 0). */
  query?: number;
  /** Training examples to leave out (default all). */
  examples?: number[];
  /** Minimise the objective over its active examples from the current parameters. */
  retrain: (obj: Objective) => void;
  reference?: 'optimum' | 'retrained';
  lissa?: LissaOptions;
  onExample?: (i: number, k: number, n: number) => void;
}

export interface LooResult {
  examples: number[];
  predicted: number[];
  actual: number[];
  spearman: CorrelationResult;
  pearson: CorrelationResult;
  queryLoss: number;
  lissa: { scale: number; damping: number; iterations: number; lastChange: number };
  seconds: { influence: number; retraining: number };
}

export function looValidation(obj: Objective, o: LooOptions): LooResult {
  const q = o.query ?? 0;
  const examples = o.examples ?? Array.from({ length: obj.n }, (_, i) => i);
  const theta = obj.getParams();
  obj.setActive(null);
  const t0 = performance.now();
  const gq = obj.queryGradient(q);
  const s = lissa(obj, gq, o.lissa);
  const predicted = examples.map((i) => obj.exampleWeight(i) * dot(s.x, obj.exampleGradient(i)));
  const t1 = performance.now();
  const all = Array.from({ length: obj.n }, (_, i) => i);
  let ref: number;
  if ((o.reference ?? 'optimum') === 'retrained') {
    o.retrain(obj);
    ref = obj.queryLoss(q);
    obj.setParams(theta);
  } else ref = obj.queryLoss(q);
  const actual: number[] = [];
  examples.forEach((i, k) => {
    o.onExample?.(i, k, examples.length);
    obj.setParams(theta);
    obj.setActive(all.filter((j) => j !== i));
    o.retrain(obj);
    actual.push(obj.queryLoss(q) - ref);
  });
  obj.setActive(null);
  obj.setParams(theta);
  const t2 = performance.now();
  return {
    examples,
    predicted,
    actual,
    spearman: spearman(predicted, actual),
    pearson: pearson(predicted, actual),
    queryLoss: ref,
    lissa: { scale: s.scale, damping: s.damping, iterations: s.iterations, lastChange: s.lastChange },
    seconds: { influence: (t1 - t0) / 1000, retraining: (t2 - t1) / 1000 },
  };
}

/** Retraining by `steps` of gradient descent with step `lr` and heavy-ball momentum (default 0.9). */
export function gradientDescent(steps: number, lr: number, momentum = 0.9): (obj: Objective) => void {
  return (obj) => {
    const th = obj.getParams();
    const vel = new Float32Array(th.length);
    for (let k = 0; k < steps; k++) {
      const g = obj.gradient();
      for (let i = 0; i < th.length; i++) {
        vel[i] = momentum * vel[i]! - lr * g[i]!;
        th[i] = th[i]! + vel[i]!;
      }
      obj.setParams(th);
    }
  };
}
