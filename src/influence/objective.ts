/**
 * A twice-differentiable training objective over a flat parameter vector, the interface the
 * Hessian-vector products, LiSSA and the leave-one-out checks work on:
 *
 *   J(theta) = sum_{i active} c_i L_i(theta) + (l2 / 2) ||theta||^2,  c_i = weight of example i
 *
 * with sum_i c_i = 1 over all examples. setActive drops some, for leave-one-out retraining; the
 * weights are not renormalised, so that removing example i changes J by exactly -c_i L_i (Koh and
 * Liang's definition: theta_{-i} - theta* ~ c_i H^{-1} grad L_i). Implemented by the LLM (LmObjective, over a
 * parameter filter) and by the convex softmax-regression model (softmaxRegression.ts).
 */
export interface Objective {
  /** Number of parameters. */
  readonly dim: number;
  /** Number of training examples. */
  readonly n: number;
  getParams(): Float32Array;
  setParams(theta: Float32Array): void;
  /** grad J at the current parameters (active examples, with the L2 term). */
  gradient(): Float32Array;
  /** J at the current parameters. */
  value(): number;
  /** Use only these training examples (indices); null = all. */
  setActive(indices: number[] | null): void;
  /** c_i of example i when all are active (its share of the objective: 1/n, or its token share). */
  exampleWeight(i: number): number;
  /** Gradient of example i's own loss L_i (no L2 term). */
  exampleGradient(i: number): Float32Array;
  /** Loss of a query (index into the query set) and its gradient. */
  queryLoss(q: number): number;
  queryGradient(q: number): Float32Array;
  readonly nQueries: number;
  dispose(): void;
}
