/**
 * Weight changes ("deltas") of a set of tensors: snapshot before a method runs, difference after,
 * apply to another copy, sizes for reports. A delta has the tensor's own layout (ggml ne order,
 * ne[0] fastest), so it goes straight into lora.ts (adapters) and saveMergedModel.
 */
import type { CausalLM } from '../model/model.ts';
import { isSparse, type ExampleGrad } from '../model/perExample.ts';
import { addRows, factoredToDense, isFactored } from '../model/factored.ts';
import { UserError } from '../util/errors.ts';

export type Deltas = Map<string, Float32Array>;

/** Copies of the named tensors' current values. */
export function snapshot(model: CausalLM, names: string[]): Deltas {
  const out: Deltas = new Map();
  for (const n of names) {
    const w = model.weights.get(n);
    if (!w) throw new UserError(`unknown tensor '${n}'`);
    out.set(n, w.data.slice());
  }
  return out;
}

/** current - before, per tensor of `before`. */
export function diffSince(model: CausalLM, before: Deltas): Deltas {
  const out: Deltas = new Map();
  for (const [n, b] of before) {
    const cur = model.weights.get(n)!.data;
    const d = new Float32Array(b.length);
    for (let i = 0; i < b.length; i++) d[i] = cur[i]! - b[i]!;
    out.set(n, d);
  }
  return out;
}

/** model += scale * delta, in place (host weights). */
export function applyDeltas(model: CausalLM, deltas: Deltas, scale = 1): void {
  for (const [n, d] of deltas) {
    const w = model.weights.get(n);
    if (!w) throw new UserError(`delta for unknown tensor '${n}'`);
    if (w.data.length !== d.length) throw new UserError(`delta for '${n}' has ${d.length} values, the tensor ${w.data.length}`);
    for (let i = 0; i < d.length; i++) w.data[i] = w.data[i]! + scale * d[i]!;
  }
}

/** acc += scale * g (g dense, sparse rows, or factored: its product on the engine, see model/factored.ts). */
export function addScaled(acc: Float32Array, g: ExampleGrad, scale: number): void {
  if (isFactored(g)) g = factoredToDense(g);
  if (isSparse(g)) {
    addRows(acc, g, scale);
  } else {
    for (let i = 0; i < g.length; i++) acc[i] = acc[i]! + scale * g[i]!;
  }
}

/** Frobenius norm of each delta and of all together; the tensors that changed. */
export function deltaNorms(deltas: Deltas): { total: number; perTensor: Record<string, number>; changed: string[] } {
  let tot = 0;
  const perTensor: Record<string, number> = {};
  const changed: string[] = [];
  for (const [n, d] of deltas) {
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[i]! * d[i]!;
    perTensor[n] = Math.sqrt(s);
    if (s > 0) changed.push(n);
    tot += s;
  }
  return { total: Math.sqrt(tot), perTensor, changed };
}

/** Sum of two delta sets (tensors of either). */
export function addDeltas(a: Deltas, b: Deltas): Deltas {
  const out: Deltas = new Map();
  for (const [n, d] of a) out.set(n, d.slice());
  for (const [n, d] of b) {
    const cur = out.get(n);
    if (!cur) out.set(n, d.slice());
    else for (let i = 0; i < d.length; i++) cur[i] = cur[i]! + d[i]!;
  }
  return out;
}
