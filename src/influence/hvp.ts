/**
 * Hessian-vector products and inverse-Hessian-vector products for influence functions
 * (Koh and Liang 2017, "Understanding Black-box Predictions via Influence Functions").
 *
 * HVP by central differences of gradients (Pearlmutter 1994 notes the identity; docs/methods.md#influence-scores):
 *   H v ~ (grad J(theta + eps v) - grad J(theta - eps v)) / (2 eps),   eps = h / ||v||
 * so the perturbation has norm h (default 1e-2, tuned on the engine's float32 gradients: the
 * truncation error is O(h^2), the rounding error O(1e-7 ||grad|| / h)). Two gradient evaluations
 * per product; the parameters are restored afterwards.
 *
 * LiSSA (Agarwal, Bullins and Hazan 2017; as Koh and Liang use it): with damping lambda and scale
 * s > the largest eigenvalue of H + lambda I, the recursion
 *   x_0 = b,   x_j = b + (I - (H + lambda I) / s) x_{j-1}
 * converges to s (H + lambda I)^{-1} b (a Neumann series), so (H + lambda I)^{-1} b ~ x_J / s. The
 * scale defaults to 1.1 x (lambda_max(H) + lambda) with lambda_max from power iteration on HVPs.
 * The damping makes the system positive definite where H is not (non-convex models) and, with a
 * finite depth J, acts as a regulariser; `repeats` averages independent runs when the HVP is
 * stochastic (here it is a full-batch HVP, so one run is exact to the recursion).
 */
import { UserError } from '../util/errors.ts';
import type { Objective } from './objective.ts';
import { axpy, dot, norm, scaled } from './vectors.ts';

export interface HvpOptions {
  /** Norm of the parameter perturbation (default 1e-2). */
  h?: number;
}

/** H v by central differences of the objective's gradient at its current parameters. */
export function hvp(obj: Objective, v: Float32Array, o: HvpOptions = {}): Float32Array {
  const h = o.h ?? 1e-2;
  const nv = norm(v);
  if (nv === 0) return new Float32Array(v.length);
  const eps = h / nv;
  const theta = obj.getParams();
  try {
    obj.setParams(axpy(theta, eps, v));
    const gp = obj.gradient();
    obj.setParams(axpy(theta, -eps, v));
    const gm = obj.gradient();
    const out = new Float32Array(v.length);
    const inv = 1 / (2 * eps);
    for (let i = 0; i < out.length; i++) out[i] = (gp[i]! - gm[i]!) * inv;
    return out;
  } finally {
    obj.setParams(theta);
  }
}

/** Largest eigenvalue of H (power iteration on HVPs, seeded start). */
export function topEigenvalue(obj: Objective, o: HvpOptions & { iterations?: number; seed?: number } = {}): number {
  let v: Float32Array = new Float32Array(obj.dim);
  let s = (o.seed ?? 1) >>> 0 || 1;
  for (let i = 0; i < v.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 4294967296 - 0.5;
  }
  v = scaled(v, 1 / norm(v));
  let lambda = 0;
  for (let k = 0; k < (o.iterations ?? 12); k++) {
    const hv = hvp(obj, v, o);
    lambda = dot(v, hv);
    const n = norm(hv);
    if (n === 0) return 0;
    v = scaled(hv, 1 / n);
  }
  return lambda;
}

export interface LissaOptions extends HvpOptions {
  /** lambda (default 0.01). */
  damping?: number;
  /** s (default 1.1 x (lambda_max + lambda), estimated). */
  scale?: number;
  /** Recursion depth J (default 100). */
  depth?: number;
  /** Stop early when ||x_j - x_{j-1}|| <= tol ||x_j|| (default 1e-6). */
  tol?: number;
}

export interface LissaResult {
  /** (H + lambda I)^{-1} b. */
  x: Float32Array;
  scale: number;
  damping: number;
  iterations: number;
  /** ||x_J - x_{J-1}|| / ||x_J|| at the end. */
  lastChange: number;
  /** The relative change reached `tol` within the depth (false: x / scale is a truncated series, not the solution). */
  converged: boolean;
}

/**
 * Growth of a LiSSA step ||x_j - x_{j-1}|| over the smallest earlier step beyond which the
 * recursion is declared divergent. The steps are (I - (H + lambda I) / s)^j b: with every
 * eigenvalue of (H + lambda I) / s in (0, 2) they shrink (never grow, for symmetric H), so a step 10x
 * larger than an earlier one means an eigenvalue outside that range: H has eigenvalues below
 * -lambda (non-convex), or the scale is below half the largest eigenvalue of H + lambda I. The
 * iterates then grow geometrically; truncated at the depth they are large finite numbers (the
 * +-7e4 "influences" of a diverged run), not an inverse-Hessian product.
 */
const LISSA_DIVERGENCE_GROWTH = 10;

/** (H + lambda I)^{-1} b by the LiSSA recursion (see the module comment). */
export function lissa(obj: Objective, b: Float32Array, o: LissaOptions = {}): LissaResult {
  const damping = o.damping ?? 0.01;
  if (!(damping >= 0)) throw new UserError(`LiSSA damping must be >= 0, got ${damping}`);
  const scale = o.scale ?? 1.1 * (Math.max(0, topEigenvalue(obj, o)) + damping);
  if (!(scale > 0)) throw new UserError(`LiSSA scale must be positive, got ${scale}`);
  const depth = o.depth ?? 100;
  const tol = o.tol ?? 1e-6;
  let x = b.slice();
  let change = Infinity;
  let minStep = Infinity;
  let j = 0;
  const diverged = (why: string) =>
    new UserError(
      `LiSSA diverged at iteration ${j} of ${depth}: ${why}. H + damping has an eigenvalue outside (0, 2 x scale): H has eigenvalues below -damping (a non-convex point), or the scale ${scale.toPrecision(3)} is too small; raise --damping (now ${damping}) or the scale. Its output would be a truncated divergent series, not an influence`,
    );
  for (j = 1; j <= depth; j++) {
    const hx = hvp(obj, x, o);
    const next = new Float32Array(x.length);
    const keep = 1 - damping / scale;
    for (let i = 0; i < x.length; i++) next[i] = b[i]! + keep * x[i]! - hx[i]! / scale;
    let d = 0;
    for (let i = 0; i < x.length; i++) d += (next[i]! - x[i]!) ** 2;
    x = next;
    const step = Math.sqrt(d);
    change = step / Math.max(1e-30, norm(x));
    if (!Number.isFinite(change)) throw diverged('the iterates are no longer finite');
    // growth near the float32 noise floor (relative change ~tol) is rounding, not divergence
    const grew = (factor: number) => step > factor * minStep && change > 100 * tol;
    if (grew(LISSA_DIVERGENCE_GROWTH)) throw diverged(`the step ||x_j - x_(j-1)|| grew from ${minStep.toExponential(2)} to ${step.toExponential(2)} (a convergent recursion's steps shrink)`);
    if (j === depth && grew(2)) throw diverged(`the depth ended with the step at ${step.toExponential(2)}, above the smallest earlier step ${minStep.toExponential(2)}: the steps grow`);
    minStep = Math.min(minStep, step);
    if (change <= tol) break;
  }
  return { x: scaled(x, 1 / scale), scale, damping, iterations: Math.min(j, depth), lastChange: change, converged: change <= tol };
}
