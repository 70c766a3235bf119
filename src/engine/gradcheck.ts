/**
 * Finite-difference gradient checker for graphs built on the engine.
 *
 * Given parameter shapes (with seeded random or explicit values), optional fixed inputs, and a
 * function that builds a loss from them on a Graph, it computes
 *   - ggml's analytic gradient: one compute of the backward graph (ggml_build_backward_expand), and
 *   - central differences  g_i ~ (L(x + h e_i) - L(x - h e_i)) / (x_i^+ - x_i^-),
 *     where x_i^+/- are the perturbed values after rounding to f32 (so the step is the one the graph
 *     really saw) and the difference is taken in float64 around the f32 forward losses,
 * for every element of each parameter, or a seeded sample of `maxElements` elements of a larger one.
 *
 * When `build` returns a non-scalar tensor y, the loss is the random projection L = sum(y * R) with
 * R ~ N(0, 1) fixed by the seed: every output element then carries a different weight, so errors
 * that a plain sum would hide (softmax rows summing to 1, permuted gradient entries) still show.
 *
 * Errors reported per parameter (over the checked elements a = analytic, n = numeric):
 *   relError    = ||a - n||_2 / max(||a||_2, ||n||_2)        (vector relative error)
 *   maxAbsError = max_i |a_i - n_i|
 *   maxRelError = max_i |a_i - n_i| / max(|n_i|, floor), floor = 1e-2 * max_i |n_i| + 1e-6
 * The check passes when relError <= tol (default 1e-2) and every element satisfies
 * |a_i - n_i| <= atol + rtol * |n_i| with atol = atolScale * max_i |n_i| + 1e-5 (defaults
 * rtol 5e-2, atolScale 1e-2). With f32 forward values and h = 1e-2, rounding noise in the
 * differences is about 1e-7 |L| / h and the truncation error about h^2 |f'''| / 6; on the engine's
 * ops the observed vector errors are 1e-6..1e-3, well below the bound, while a gradient scaled by
 * 2% or with two entries swapped fails (test/engine/ops-grad.test.ts checks both).
 */
import { Graph, type GraphOptions, type Tensor } from './graph.ts';
import * as op from './ops.ts';
import { numel, shapeStr, type Shape } from './types.ts';
import { Rng } from '../util/rng.ts';

export interface GradParamSpec {
  shape: Shape;
  /** Explicit values, or a generator; default: seeded normals times `std`. */
  init?: Float32Array | ((rng: Rng, n: number) => Float32Array);
  /** Standard deviation of the default initialisation (default 1). */
  std?: number;
}

export interface GradInputSpec {
  shape: Shape;
  dtype?: 'f32' | 'i32';
  data: Float32Array | Int32Array;
  /** Admit -Infinity (attention masks). */
  allowNegInfinity?: boolean;
}

export interface GradCheckOptions {
  /** Trainable tensors by name. */
  params: Record<string, GradParamSpec>;
  /** Fixed data tensors by name (indices, labels, masks). */
  inputs?: Record<string, GradInputSpec>;
  /**
   * Builds the loss from the named tensors (params and inputs together). A non-scalar result is
   * reduced by a seeded random projection sum(y * R).
   */
  build: (t: Record<string, Tensor>, g: Graph) => Tensor;
  seed?: number;
  /** Finite-difference step h (default 1e-2). */
  eps?: number;
  /** Elements checked per parameter; larger parameters are sampled (default 64). */
  maxElements?: number;
  /** Bound on the vector relative error (default 1e-2). */
  tol?: number;
  rtol?: number;
  atolScale?: number;
  graph?: GraphOptions;
  /**
   * Transforms ggml's gradient before the comparison. Only for the checker's own tests, which show
   * that a wrong gradient (scaled by 2%, two entries swapped) fails.
   */
  corruptAnalytic?: (name: string, grad: Float32Array) => Float32Array;
}

export interface ParamGradReport {
  name: string;
  shape: number[];
  checked: number;
  relError: number;
  maxAbsError: number;
  maxRelError: number;
  /** Largest |numeric| gradient among the checked elements (the scale of the errors above). */
  gradScale: number;
  /** The element with the largest error relative to the per-element bound. */
  worst: { index: number; analytic: number; numeric: number };
  pass: boolean;
}

export interface GradCheckResult {
  loss: number;
  params: ParamGradReport[];
  /** Maxima over parameters. */
  relError: number;
  maxAbsError: number;
  maxRelError: number;
  pass: boolean;
}

/** Run the check. The graph is built, used and disposed inside. */
export function gradCheck(o: GradCheckOptions): GradCheckResult {
  const seed = o.seed ?? 1234;
  const rng = new Rng(seed);
  const eps = o.eps ?? 1e-2;
  const maxElements = o.maxElements ?? 64;
  const tol = o.tol ?? 1e-2;
  const rtol = o.rtol ?? 5e-2;
  const atolScale = o.atolScale ?? 1e-2;
  if (!(eps > 0)) throw new RangeError(`gradCheck: eps must be positive, got ${eps}`);
  if (Object.keys(o.params).length === 0) throw new TypeError('gradCheck: at least one parameter is needed');

  const g = new Graph(o.graph);
  try {
    const tensors: Record<string, Tensor> = {};
    const values = new Map<string, Float32Array>();
    for (const [name, spec] of Object.entries(o.params)) {
      const t = g.param(name, spec.shape);
      tensors[name] = t;
      const n = numel(spec.shape);
      const v = spec.init === undefined ? rng.normalArray(n, spec.std ?? 1) : typeof spec.init === 'function' ? spec.init(rng, n) : spec.init;
      if (v.length !== n) throw new TypeError(`gradCheck: parameter ${name} ${shapeStr(spec.shape)} needs ${n} values, got ${v.length}`);
      values.set(name, Float32Array.from(v));
    }
    for (const [name, spec] of Object.entries(o.inputs ?? {})) {
      if (name in tensors) throw new TypeError(`gradCheck: '${name}' is both a parameter and an input`);
      tensors[name] = g.input(name, spec.shape, spec.dtype ?? 'f32');
    }
    let out = o.build(tensors, g);
    let proj: { t: Tensor; data: Float32Array } | null = null;
    if (out.numel !== 1) {
      if (!Number(g.g.ggml_is_contiguous!(out.ptr))) out = op.cont(out);
      const r = g.input('gradcheck.projection', out.ne);
      proj = { t: r, data: rng.normalArray(out.numel) };
      out = op.sum(op.mul(out, r));
    }
    g.build({ loss: out, backward: true });
    g.allocate();
    for (const [name, spec] of Object.entries(o.inputs ?? {})) {
      g.set(tensors[name]!, spec.data, { allowNegInfinity: spec.allowNegInfinity });
    }
    if (proj) g.set(proj.t, proj.data);
    for (const [name, v] of values) g.set(tensors[name]!, v);

    g.compute('backward');
    const loss = g.lossValue();
    const analytic = new Map<string, Float32Array>();
    for (const name of values.keys()) {
      let a = g.grad(tensors[name]!);
      if (o.corruptAnalytic) a = o.corruptAnalytic(name, a);
      analytic.set(name, a);
    }

    const forward = (): number => {
      g.compute('forward');
      return g.lossValue();
    };
    const reports: ParamGradReport[] = [];
    for (const [name, v] of values) {
      const t = tensors[name]!;
      const idx = sampleIndices(v.length, maxElements, rng);
      const a = analytic.get(name)!;
      const num = new Float64Array(idx.length);
      const work = Float32Array.from(v);
      for (let k = 0; k < idx.length; k++) {
        const i = idx[k]!;
        const x = v[i]!;
        const xp = Math.fround(x + eps);
        const xm = Math.fround(x - eps);
        work[i] = xp;
        g.set(t, work);
        const lp = forward();
        work[i] = xm;
        g.set(t, work);
        const lm = forward();
        work[i] = x;
        num[k] = (lp - lm) / (xp - xm);
      }
      g.set(t, v);
      reports.push(compare(name, t.shape, idx, a, num, tol, rtol, atolScale));
    }
    return {
      loss,
      params: reports,
      relError: Math.max(...reports.map((r) => r.relError)),
      maxAbsError: Math.max(...reports.map((r) => r.maxAbsError)),
      maxRelError: Math.max(...reports.map((r) => r.maxRelError)),
      pass: reports.every((r) => r.pass),
    };
  } finally {
    g.dispose();
  }
}

function sampleIndices(n: number, max: number, rng: Rng): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (n <= max) return all;
  return rng.shuffle(all).slice(0, max).sort((a, b) => a - b);
}

function compare(
  name: string,
  shape: number[],
  idx: number[],
  a: Float32Array,
  num: Float64Array,
  tol: number,
  rtol: number,
  atolScale: number,
): ParamGradReport {
  let diff2 = 0;
  let a2 = 0;
  let n2 = 0;
  let scale = 0;
  for (let k = 0; k < idx.length; k++) scale = Math.max(scale, Math.abs(num[k]!));
  const atol = atolScale * scale + 1e-5;
  const floor = 1e-2 * scale + 1e-6;
  let maxAbs = 0;
  let maxRel = 0;
  let worstRatio = -1;
  let worst = { index: idx[0]!, analytic: a[idx[0]!]!, numeric: num[0]! };
  let elementsOk = true;
  for (let k = 0; k < idx.length; k++) {
    const ai = a[idx[k]!]!;
    const ni = num[k]!;
    const d = Math.abs(ai - ni);
    diff2 += d * d;
    a2 += ai * ai;
    n2 += ni * ni;
    maxAbs = Math.max(maxAbs, d);
    maxRel = Math.max(maxRel, d / Math.max(Math.abs(ni), floor));
    const bound = atol + rtol * Math.abs(ni);
    if (!(d <= bound)) elementsOk = false;
    const ratio = Number.isFinite(d) ? d / bound : Infinity;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = { index: idx[k]!, analytic: ai, numeric: ni };
    }
  }
  const denom = Math.max(Math.sqrt(a2), Math.sqrt(n2));
  const relError = denom > 0 ? Math.sqrt(diff2) / denom : 0;
  // A parameter whose true and computed gradients are both zero says nothing: count it as a failure.
  const pass = denom > 0 && relError <= tol && elementsOk;
  return { name, shape, checked: idx.length, relError, maxAbsError: maxAbs, maxRelError: maxRel, gradScale: scale, worst, pass };
}

/** One line per parameter, for test output and failure messages. */
export function formatGradCheck(r: GradCheckResult): string {
  return r.params
    .map(
      (p) =>
        `${p.pass ? 'ok  ' : 'FAIL'} ${p.name} ${shapeStr(p.shape)} n=${p.checked} rel=${p.relError.toExponential(2)} ` +
        `maxAbs=${p.maxAbsError.toExponential(2)} maxRel=${p.maxRelError.toExponential(2)} scale=${p.gradScale.toExponential(2)}` +
        (p.pass ? '' : ` worst[${p.worst.index}]: ggml ${p.worst.analytic} vs numeric ${p.worst.numeric}`),
    )
    .join('\n');
}

/** Throws an Error describing every parameter when the check failed. */
export function assertGradOk(r: GradCheckResult, what: string): void {
  if (!r.pass) throw new Error(`gradient check failed for ${what} (loss ${r.loss}):\n${formatGradCheck(r)}`);
}
