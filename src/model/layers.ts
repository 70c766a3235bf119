/**
 * Building blocks shared by the architectures: causal self-attention with grouped-query heads,
 * and the norms / activations in their two forms: llama.cpp's native ops for evaluation (so we
 * compute exactly what llama.cpp computes) and differentiable composites for training (ggml has no
 * backward for LayerNorm or GELU).
 */
import type { Tensor } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import * as composite from '../engine/composite.ts';

export interface SequenceInputs {
  /** i32 [T * B] token ids, sequence b at [b*T, (b+1)*T). */
  tokens: Tensor;
  /** i32 [T] positions 0..T-1. */
  pos: Tensor;
  /** f32 [T, T] causal mask: 0 where key <= query, -Infinity above the diagonal. */
  mask: Tensor;
  T: number;
  B: number;
}

/** Whether the graph will be differentiated (use composites where ggml lacks a backward). */
export interface BuildMode {
  differentiable: boolean;
}

/**
 * Causal multi-head attention. q: [hd, H, T, B]; k, v: [hd, Hkv, T, B]. KV heads are shared by
 * H / Hkv consecutive query heads (llama.cpp's grouping: query head h reads KV head floor(h / g)).
 * Returns [hd * H, T * B].
 */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, T: number, B: number, mode: BuildMode): Tensor {
  const hd = q.ne[0];
  const H = q.ne[1];
  const Hkv = k.ne[1];
  if (!mode.differentiable) {
    // Evaluation computes what llama.cpp computes by default on CPU: flash attention over an f16
    // K/V cache with an f16 mask and f32 accumulation.
    const o = op.flashAttnExt(
      op.permute(q, [0, 2, 1, 3]),
      op.cast(op.permute(k, [0, 2, 1, 3]), 'f16'),
      op.cast(op.permute(v, [0, 2, 1, 3]), 'f16'),
      op.cast(mask, 'f16'),
      1 / Math.sqrt(hd),
    ); // [hd, H, T, B]
    return op.reshape(o, [hd * H, T * B]);
  }
  const Q = op.permute(q, [0, 2, 1, 3]); // [hd, T, H, B]
  let K = op.cont(op.permute(k, [0, 2, 1, 3])); // [hd, T, Hkv, B]
  let Vt = op.cont(op.permute(v, [1, 2, 0, 3])); // [T, hd, Hkv, B]
  if (Hkv !== H) {
    const g = H / Hkv;
    // insert a group axis before the KV-head axis and tile along it: head index = j + g * kvHead
    K = op.reshape(op.repeat(op.reshape(K, [hd * T, 1, Hkv, B]), k.graph.newTensor('f32', [hd * T, g, Hkv, B])), [hd, T, H, B]);
    Vt = op.reshape(op.repeat(op.reshape(Vt, [T * hd, 1, Hkv, B]), v.graph.newTensor('f32', [T * hd, g, Hkv, B])), [T, hd, H, B]);
  }
  const kq = op.mulMat(K, op.cont(Q)); // [Tk, Tq, H, B]
  const p = op.softMaxExt(kq, mask, 1 / Math.sqrt(hd), 0);
  const o = op.mulMat(Vt, p); // [hd, Tq, H, B]
  return op.reshape(op.cont(op.permute(o, [0, 2, 1, 3])), [hd * H, T * B]);
}

/** LayerNorm over ne[0] with weight and bias. */
export function layerNorm(x: Tensor, w: Tensor, b: Tensor, eps: number, mode: BuildMode): Tensor {
  const n = mode.differentiable ? composite.layerNorm(x, eps) : op.normNative(x, eps);
  return op.add(op.mul(n, w), b);
}

/** RMSNorm over ne[0] times its weight. */
export function rmsNorm(x: Tensor, w: Tensor, eps: number): Tensor {
  return op.mul(op.rmsNorm(x, eps), w);
}

/** GELU (tanh approximation, as GPT-2 and llama.cpp use). */
export function gelu(x: Tensor, mode: BuildMode): Tensor {
  return mode.differentiable ? composite.gelu(x) : op.geluNative(x);
}
