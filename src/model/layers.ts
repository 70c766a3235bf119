/**
 * Building blocks shared by the architectures: causal self-attention with grouped-query heads,
 * and the norms / activations in their two forms: llama.cpp's native ops for evaluation (so we
 * compute exactly what llama.cpp computes) and differentiable composites for training (ggml has no
 * backward for LayerNorm or GELU).
 */
import type { Graph, Tensor } from '../engine/graph.ts';
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

/** Declare the inputs of a batch of B sequences of T tokens: `tokens`, `pos` and the causal `mask`. */
export function sequenceInputs(g: Graph, T: number, B: number): SequenceInputs {
  return { tokens: g.input('tokens', [T * B], 'i32'), pos: g.input('pos', [T], 'i32'), mask: g.input('mask', [T, T]), T, B };
}

/** After g.allocate(): positions 0..T-1 and the causal mask (0 where key <= query, -Infinity above). */
export function setSequenceConstants(g: Graph, inp: SequenceInputs): void {
  const T = inp.T;
  g.set(inp.pos, Int32Array.from({ length: T }, (_, i) => i));
  const m = new Float32Array(T * T);
  for (let q = 0; q < T; q++) for (let k = 0; k < T; k++) m[q * T + k] = k <= q ? 0 : -Infinity;
  g.set(inp.mask, m, { allowNegInfinity: true });
}

/**
 * How a weight is used, for per-example gradients (src/train/perExample.ts):
 *   matmul: output = W input      -> grad_b = sum_t input_t (dOutput_t)^T
 *   scale:  output = input * w    -> grad_b = sum_t input_t * dOutput_t   (norm weights)
 *   bias:   output = input + b    -> grad_b = sum_t dOutput_t
 *   rows:   output = W[tokens]    -> grad_b = scatter of dOutput_t into the rows of its tokens
 */
export interface WeightTap {
  name: string;
  kind: 'matmul' | 'scale' | 'bias' | 'rows';
  input: Tensor;
  output: Tensor;
}

/** Whether the graph will be differentiated (use composites where ggml lacks a backward). */
export interface BuildMode {
  differentiable: boolean;
  /** Called for every use of a weight (training graphs that record per-example gradients). */
  tap?: (t: WeightTap) => void;
  /**
   * Matrix products through op.fastMatMul (unlearnkit's native GEMM on the CPU) instead of
   * ggml_mul_mat: for training graphs with the hand-written backward, which ggml's autodiff never
   * walks. Evaluation graphs leave it off to keep bit-parity with llama.cpp.
   */
  fastMatmul?: boolean;
  /**
   * Replaces the causal attention of every block (forward-only graphs): called with block `layer`'s
   * q [hd, H, T, B] and k, v [hd, Hkv, T, B], returns [hd * H, T * B]. The KV-cache decoder
   * (decode.ts) uses it to attend over its caches with the architectures' own builders.
   */
  attention?: (q: Tensor, k: Tensor, v: Tensor, layer: number) => Tensor;
  /**
   * LoRA adapters (model.ts loraHook): called by `linear` after every weight product y = W x with
   * the weight's name, x and y; returns what the graph uses instead of y (y + s B (A x) for an
   * adapted weight, as llama.cpp's build_lora_mm computes it; y itself otherwise).
   */
  lora?: (name: string, x: Tensor, y: Tensor, mode: BuildMode) => Tensor;
}

/**
 * The attention scale 1 / sqrt(head_dim) exactly as llama.cpp computes it, in float32
 * (`1.0f/sqrtf(float(n_embd_head))`): a double 1 / sqrt(d) rounded once to float differs from it by
 * one ulp for some sizes (24), which moves log-probs by ~1e-4.
 */
export function attnScale(hd: number): number {
  return Math.fround(1 / Math.fround(Math.sqrt(hd)));
}

/** W x, reporting the use of W to the tap. */
export function linear(name: string, W: Tensor, x: Tensor, mode: BuildMode): Tensor {
  const y = mode.fastMatmul ? op.fastMatMul(W, x) : op.mulMat(W, x);
  mode.tap?.({ name, kind: 'matmul', input: x, output: y });
  return mode.lora ? mode.lora(name, x, y, mode) : y;
}

/** x * w (w broadcast over rows), reporting the use of w. */
export function scaleBy(name: string, x: Tensor, w: Tensor, mode: BuildMode): Tensor {
  const y = op.mul(x, w);
  mode.tap?.({ name, kind: 'scale', input: x, output: y });
  return y;
}

/** x + b (b broadcast over rows), reporting the use of b. */
export function biasAdd(name: string, x: Tensor, b: Tensor, mode: BuildMode): Tensor {
  const y = op.add(x, b);
  mode.tap?.({ name, kind: 'bias', input: x, output: y });
  return y;
}

/** Rows of an embedding table, reporting the lookup. */
export function embed(name: string, E: Tensor, ids: Tensor, mode: BuildMode): Tensor {
  const y = op.getRows(E, ids);
  mode.tap?.({ name, kind: 'rows', input: ids, output: y });
  return y;
}

/**
 * Causal multi-head attention. q: [hd, H, T, B]; k, v: [hd, Hkv, T, B]. KV heads are shared by
 * H / Hkv consecutive query heads (llama.cpp's grouping: query head h reads KV head floor(h / g)).
 * Returns [hd * H, T * B].
 */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, T: number, B: number, mode: BuildMode, layer = 0): Tensor {
  if (mode.attention && !mode.differentiable) return mode.attention(q, k, v, layer);
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
      attnScale(hd),
    ); // [hd, H, T, B]
    return op.reshape(o, [hd * H, T * B]);
  }
  const Q = op.permute(q, [0, 2, 1, 3]); // [hd, T, H, B]
  const { K, Vt } = repeatKvHeads(op.cont(op.permute(k, [0, 2, 1, 3])), op.cont(op.permute(v, [1, 2, 0, 3])), H); // [hd, T, Hkv, B], [T, hd, Hkv, B]
  const kq = op.mulMat(K, op.cont(Q)); // [Tk, Tq, H, B]
  const p = op.softMaxExt(kq, mask, attnScale(hd), 0);
  const o = op.mulMat(Vt, p); // [hd, Tq, H, B]
  return op.reshape(op.cont(op.permute(o, [0, 2, 1, 3])), [hd * H, T * B]);
}

/**
 * Grouped-query attention: K [hd, T, Hkv, B] and V^T [T, hd, Hkv, B] tiled to H heads (a group axis
 * inserted before the KV-head axis: query head j + g * kvHead reads KV head kvHead); unchanged when
 * Hkv = H.
 */
export function repeatKvHeads(K: Tensor, Vt: Tensor, H: number): { K: Tensor; Vt: Tensor } {
  const [hd, T, Hkv, B] = K.ne as [number, number, number, number];
  if (Hkv === H) return { K, Vt };
  const g = H / Hkv;
  return {
    K: op.reshape(op.repeat(op.reshape(K, [hd * T, 1, Hkv, B]), K.graph.newTensor('f32', [hd * T, g, Hkv, B])), [hd, T, H, B]),
    Vt: op.reshape(op.repeat(op.reshape(Vt, [T * hd, 1, Hkv, B]), Vt.graph.newTensor('f32', [T * hd, g, Hkv, B])), [T, hd, H, B]),
  };
}

/** LayerNorm over ne[0] with weight and bias (named `<prefix>.weight` / `<prefix>.bias`). */
export function layerNorm(prefix: string, x: Tensor, w: Tensor, b: Tensor, eps: number, mode: BuildMode): Tensor {
  const n = mode.differentiable ? composite.layerNorm(x, eps) : op.normNative(x, eps);
  return biasAdd(`${prefix}.bias`, scaleBy(`${prefix}.weight`, n, w, mode), b, mode);
}

/** GELU (tanh approximation, as GPT-2 and llama.cpp use). */
export function gelu(x: Tensor, mode: BuildMode): Tensor {
  return mode.differentiable ? composite.gelu(x) : op.geluNative(x);
}
