/**
 * Flat parameter vectors over a set of tensors (influence functions work in the space of the
 * filtered parameters): offsets of each tensor in one Float32Array, conversion of per-tensor
 * gradients (dense or sparse rows) to flat vectors, and the few BLAS-1 operations LiSSA needs
 * (accumulated in float64).
 */
import type { CausalLM } from '../model/model.ts';
import { isSparse, type ExampleGrad } from '../model/perExample.ts';
import { factoredToDense, isFactored } from '../model/factored.ts';
import { UserError } from '../util/errors.ts';

export class ParamSpace {
  readonly offsets = new Map<string, number>();
  readonly sizes = new Map<string, number>();
  readonly size: number;

  constructor(
    model: CausalLM,
    readonly tensors: string[],
  ) {
    let off = 0;
    for (const n of tensors) {
      const w = model.weights.get(n);
      if (!w) throw new UserError(`unknown tensor '${n}'`);
      this.offsets.set(n, off);
      this.sizes.set(n, w.data.length);
      off += w.data.length;
    }
    this.size = off;
  }

  /** Flatten per-tensor gradients (missing tensors are zero). */
  flatten(grads: Map<string, ExampleGrad>): Float32Array {
    const out = new Float32Array(this.size);
    for (const [n, g] of grads) {
      const off = this.offsets.get(n);
      if (off === undefined) continue;
      if (isSparse(g)) {
        for (let j = 0; j < g.rows.length; j++) out.set(g.values.subarray(j * g.rowSize, (j + 1) * g.rowSize), off + g.rows[j]! * g.rowSize);
      } else out.set(isFactored(g) ? factoredToDense(g) : g, off);
    }
    return out;
  }

  /** The model's current values of the space. */
  read(model: CausalLM): Float32Array {
    const out = new Float32Array(this.size);
    for (const n of this.tensors) out.set(model.weights.get(n)!.data, this.offsets.get(n)!);
    return out;
  }

  /** Write a flat vector into the model's host weights. */
  write(model: CausalLM, v: Float32Array): void {
    for (const n of this.tensors) {
      const off = this.offsets.get(n)!;
      model.weights.get(n)!.data.set(v.subarray(off, off + this.sizes.get(n)!));
    }
  }

  /** Per-tensor views of a flat vector. */
  split(v: Float32Array): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const n of this.tensors) {
      const off = this.offsets.get(n)!;
      out.set(n, v.subarray(off, off + this.sizes.get(n)!));
    }
    return out;
  }
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

/** out = a + s * b (new array). */
export function axpy(a: Float32Array, s: number, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + s * b[i]!;
  return out;
}

export function scaled(a: Float32Array, s: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = s * a[i]!;
  return out;
}
