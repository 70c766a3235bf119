/**
 * Helpers shared by the engine tests: run a small forward graph on given data, compare arrays, and
 * keep a per-op table of gradient-check errors for the test log.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { Graph, type Tensor } from '../../src/engine/graph.ts';
import { assertGradOk, formatGradCheck, gradCheck, type GradCheckOptions, type GradCheckResult } from '../../src/engine/gradcheck.ts';
import type { Shape } from '../../src/engine/types.ts';

export interface FwdInput {
  shape: Shape;
  data: Float32Array | Int32Array;
  dtype?: 'f32' | 'i32';
  allowNegInfinity?: boolean;
}

/** Build `build(tensors)` on a fresh Graph, set the inputs, compute forward, return the output's values and shape. */
export function runForward(inputs: Record<string, FwdInput>, build: (t: Record<string, Tensor>) => Tensor): { data: Float32Array; shape: number[] } {
  const g = new Graph({ maxNodes: 512 });
  try {
    const t: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(inputs)) t[k] = g.input(k, v.shape, v.dtype ?? 'f32');
    const out = build(t);
    g.build({ outputs: [out] });
    g.allocate();
    for (const [k, v] of Object.entries(inputs)) g.set(t[k]!, v.data, { allowNegInfinity: v.allowNegInfinity });
    g.compute('forward');
    return { data: g.get(out), shape: out.shape };
  } finally {
    g.dispose();
  }
}

/** max |a - b| */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, `length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Run gradCheck, log its table through t.diagnostic, and fail the test when it fails. */
export function checkGrad(t: TestContext, what: string, o: GradCheckOptions): GradCheckResult {
  const r = gradCheck({ graph: { maxNodes: 1024 }, ...o });
  t.diagnostic(`${what}: rel ${r.relError.toExponential(2)}, maxAbs ${r.maxAbsError.toExponential(2)}, maxRel ${r.maxRelError.toExponential(2)}`);
  if (process.env.GRADCHECK_VERBOSE) process.stderr.write(`${what}\n${formatGradCheck(r)}\n`);
  assertGradOk(r, what);
  return r;
}

/** Relative L2 difference ||x - ref|| / ||ref|| (||x - ref|| when ref is all zeros). */
export function relL2(x: ArrayLike<number>, ref: ArrayLike<number>): number {
  assert.equal(x.length, ref.length, `length ${x.length} vs ${ref.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (x[i]! - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}
