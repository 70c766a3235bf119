/**
 * The LLaMA decoder as a ggml graph, read top-down like the model itself, computing what
 * llama.cpp's graphs compute for the llama-like families (src/models/llama.cpp llm_build_llama,
 * qwen2.cpp, qwen3.cpp):
 *
 *   x = token_embd[tokens]
 *   for each block:
 *     h = rms_norm(x) * attn_norm
 *     q, k, v = W_q h + b_q, W_k h + b_k, W_v h + b_v     (biases: qwen2, optional for llama)
 *     q, k = rms_norm(q) * attn_q_norm, rms_norm(k) * attn_k_norm   (per head; qwen3 only)
 *     q, k = rope(q), rope(k)             (variant.ropeMode: NORMAL rotates adjacent pairs (llama),
 *                                          NEOX the two halves of each head (qwen2, qwen3); angle
 *                                          p * base^(-2i/d) * freq_scale / rope_freqs[i])
 *     x = x + W_o attention(q, k, v)      (causal, grouped-query, scale 1 / sqrt(head_dim))
 *     h = rms_norm(x) * ffn_norm
 *     x = x + W_down (silu(W_gate h) * W_up h)
 *   logits = W_out (rms_norm(x) * output_norm)   (W_out = token_embd when tied)
 *
 * The head size is config.headDim (`<arch>.attention.key_length`), which need not be
 * n_embd / n_head (Qwen3-0.6B: 128 vs 64): W_q is [n_embd, head_dim * n_head], W_o its transpose.
 * rope: freq_scale = 1 / `<arch>.rope.scaling.factor` under linear scaling (1 otherwise), and
 * rope_freqs.weight (Llama 3.1+) is ggml_rope_ext's freq_factors, as llama.cpp passes them.
 *
 * Training graphs (mode.differentiable) also return a `trace`: every forward intermediate the
 * hand-written backward of llamaBackward.ts reads (the same tensor objects the taps report), so that
 * backward is built on exactly this forward.
 *
 * Parameter groups (for filters): embedding, block:K:attn (attn_norm, attn_q/k/v(+bias, q/k norms),
 * attn_output), block:K:mlp (ffn_norm, ffn_gate/up/down), final_norm, output.
 */
import type { Tensor } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import { headDim, type ModelConfig } from './arch/types.ts';
import { attnScale, biasAdd, causalAttention, embed, linear, repeatKvHeads, scaleBy, type BuildMode, type SequenceInputs } from './layers.ts';

/** What a llama-like family computes differently from LLaMA (each family file declares its own). */
export interface DecoderVariant {
  /** ggml rope mode: op.ROPE_NORMAL (LLaMA GGUFs) or op.ROPE_NEOX (Qwen2, Qwen3). */
  ropeMode: number;
  /** Per-head RMSNorm of q and k before rope, with weights attn_q_norm / attn_k_norm [head_dim] (Qwen3). */
  qkNorm: boolean;
  /** Whether Q/K/V biases are there when the config does not say (ModelConfig.attnBias). */
  attnBias: boolean;
  /** Whether rope_freqs.weight may be given (llama.cpp passes it to rope for llama only). */
  freqFactors: boolean;
  /**
   * Whether the head size may differ from n_embd / n_head (attention.key_length): llama.cpp sizes
   * W_q by head_size * n_head for llama and qwen3, but by n_embd for qwen2.
   */
  ownHeadSize: boolean;
}

export const LLAMA_VARIANT: DecoderVariant = { ropeMode: op.ROPE_NORMAL, qkNorm: false, attnBias: false, freqFactors: true, ownHeadSize: true };

/** Whether a config of this variant has Q/K/V biases. */
export function hasAttnBias(c: ModelConfig, v: DecoderVariant): boolean {
  return c.attnBias ?? v.attnBias;
}

/** Forward intermediates of one training block (shapes in ggml ne order; N = T * B, dq = hd * H, dkv = hd * Hkv). */
export interface LlamaLayerTrace {
  /** Block input (residual stream) [d, N]. */
  xin: Tensor;
  /** rms_norm(xin) [d, N] and h = r1 * attn_norm. */
  r1: Tensor;
  h: Tensor;
  /** W_q h [dq, N], W_k h and W_v h [dkv, N]. */
  ql: Tensor;
  kl: Tensor;
  vl: Tensor;
  /** The projections with their biases added (the same tensors as ql, kl, vl without biases). */
  qp: Tensor;
  kp: Tensor;
  vp: Tensor;
  /** qp, kp as heads [hd, H(kv), T, B]; with qkNorm their rms_norm (qr, kr) and what rope reads (qn, kn = qr * w). */
  qh: Tensor;
  kh: Tensor;
  qr: Tensor | null;
  kr: Tensor | null;
  qn: Tensor;
  kn: Tensor;
  /** Roped q [hd, H, T, B] and k [hd, Hkv, T, B]; v = vp as [hd, Hkv, T, B]. */
  q: Tensor;
  k: Tensor;
  v: Tensor;
  /** Contiguous q in attention layout [hd, T, H, B]; v transposed per head [T, hd, Hkv, B]. */
  Q: Tensor;
  Vt: Tensor;
  /** softmax(K^T Q / sqrt(hd) + mask) [T_k, T_q, H, B]. */
  p: Tensor;
  /** Attention output before W_o [dq, N], and W_o o2 [d, N]. */
  o2: Tensor;
  ao: Tensor;
  /** xin + ao [d, N]. */
  xmid: Tensor;
  /** rms_norm(xmid) and h2 = r2 * ffn_norm [d, N]. */
  r2: Tensor;
  h2: Tensor;
  /** W_gate h2, W_up h2 and silu(gate) * up [ff, N]; fo = W_down a [d, N]. */
  gp: Tensor;
  up: Tensor;
  a: Tensor;
  fo: Tensor;
}

export interface LlamaTrace {
  variant: DecoderVariant;
  /** The rope the forward applied (the backward applies its adjoint with the same options). */
  rope: op.RopeOptions;
  /** token_embd[tokens] [d, N]. */
  x0: Tensor;
  layers: LlamaLayerTrace[];
  /** Residual stream after the last block, rms_norm of it, and hF = rF * output_norm. */
  xFinal: Tensor;
  rF: Tensor;
  hF: Tensor;
}

/** The rope options of a config: llama.cpp's n_rot, rope type, freq_base, freq_scale and (with rope_freqs) freq_factors. */
function ropeOptions(c: ModelConfig, v: DecoderVariant, w: (name: string) => Tensor): op.RopeOptions {
  return {
    nDims: c.ropeDims,
    mode: v.ropeMode,
    freqBase: c.ropeFreqBase,
    freqScale: c.ropeFreqScale ?? 1,
    nCtxOrig: c.nCtx,
    freqFactors: c.ropeFreqFactors ? w('rope_freqs.weight') : undefined,
  };
}

export function buildLlama(
  c: ModelConfig,
  w: (name: string) => Tensor,
  inp: SequenceInputs,
  mode: BuildMode,
  variant: DecoderVariant = LLAMA_VARIANT,
): { logits: Tensor; hidden: Tensor; trace?: LlamaTrace } {
  const { T, B } = inp;
  const hd = headDim(c);
  const ropeOpts = ropeOptions(c, variant, w);
  const bias = hasAttnBias(c, variant);
  const rope = (t: Tensor) => op.ropeExt(t, inp.pos, ropeOpts);
  const norm = (name: string, x: Tensor) => {
    const r = op.rmsNorm(x, c.normEps);
    return { r, h: scaleBy(name, r, w(name), mode) };
  };
  // rope_ext rotates along ne[2] positions: lay q/k out as [hd, H, T, B]
  const x0 = embed('token_embd.weight', w('token_embd.weight'), inp.tokens, mode); // [d, T*B]
  let x = x0;
  const layers: LlamaLayerTrace[] = [];
  for (let l = 0; l < c.nLayer; l++) {
    const n = (s: string) => `blk.${l}.${s}.weight`;
    const mm = (s: string, h: Tensor) => linear(n(s), w(n(s)), h, mode);
    const withBias = (s: string, y: Tensor) => (bias ? biasAdd(`blk.${l}.${s}.bias`, y, w(`blk.${l}.${s}.bias`), mode) : y);
    const xin = x;
    const { r: r1, h } = norm(n('attn_norm'), x);
    const ql = mm('attn_q', h);
    const kl = mm('attn_k', h);
    const vl = mm('attn_v', h);
    const qp = withBias('attn_q', ql);
    const kp = withBias('attn_k', kl);
    const vp = withBias('attn_v', vl);
    const qh = op.reshape(qp, [hd, c.nHead, T, B]);
    const kh = op.reshape(kp, [hd, c.nHeadKv, T, B]);
    let qr: Tensor | null = null;
    let kr: Tensor | null = null;
    let qn = qh;
    let kn = kh;
    if (variant.qkNorm) {
      ({ r: qr, h: qn } = norm(n('attn_q_norm'), qh));
      ({ r: kr, h: kn } = norm(n('attn_k_norm'), kh));
    }
    const q = rope(qn);
    const k = rope(kn);
    const v = op.reshape(vp, [hd, c.nHeadKv, T, B]);
    let o2: Tensor;
    let Q: Tensor | null = null;
    let Vt: Tensor | null = null;
    let p: Tensor | null = null;
    if (mode.differentiable) ({ o2, Q, Vt, p } = trainAttention(q, k, v, inp.mask, T, B, mode.fastMatmul === true && op.nativeMatMulFor(q)));
    else o2 = causalAttention(q, k, v, inp.mask, T, B, mode, l);
    const ao = mm('attn_output', o2);
    x = op.add(x, ao);
    const xmid = x;
    const { r: r2, h: h2 } = norm(n('ffn_norm'), x);
    const gp = mm('ffn_gate', h2);
    const up = mm('ffn_up', h2);
    const a = op.swigluSplit(gp, up);
    const fo = mm('ffn_down', a);
    x = op.add(x, fo);
    if (mode.differentiable) {
      layers.push({ xin, r1, h, ql, kl, vl, qp, kp, vp, qh, kh, qr, kr, qn, kn, q, k, v, Q: Q!, Vt: Vt!, p: p!, o2, ao, xmid, r2, h2, gp, up, a, fo });
    }
  }
  const { r: rF, h: hidden } = norm('output_norm.weight', x);
  const outName = c.tiedOutput ? 'token_embd.weight' : 'output.weight';
  const logits = linear(outName, w(outName), hidden, mode); // [V, T*B]
  const trace = mode.differentiable ? { variant, rope: ropeOpts, x0, layers, xFinal: x, rF, hF: hidden } : undefined;
  return { logits, hidden, trace };
}

/**
 * Causal grouped-query attention for training graphs: the same ops, in the same order, as the
 * training branch of layers.ts causalAttention (so the values are identical), also returning the
 * contiguous q, the per-head transposed v (before the GQA tiling) and the attention probabilities
 * the manual backward needs.
 * q: [hd, H, T, B]; k, v: [hd, Hkv, T, B]. Returns o2 [hd * H, T * B].
 *
 * With `native` (op.fastMatMul's kernel on a CPU graph) the products read q, k and v through
 * permuted views and broadcast the KV heads over their query-head groups (head h reads KV head
 * h / (H / Hkv), as the tiling below does), so no copies are made; Q and Vt are then views.
 */
function trainAttention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, T: number, B: number, native: boolean): { o2: Tensor; Q: Tensor; Vt: Tensor; p: Tensor } {
  const hd = q.ne[0];
  const H = q.ne[1];
  const Hkv = k.ne[1];
  if (native) {
    const Q = op.permute(q, [0, 2, 1, 3]); // [hd, T, H, B]
    const K = op.permute(k, [0, 2, 1, 3]); // [hd, T, Hkv, B]
    const Vt = op.permute(v, [1, 2, 0, 3]); // [T, hd, Hkv, B]
    const p = op.softMaxExt(op.fastMatMul(K, Q), mask, attnScale(hd), 0); // [Tk, Tq, H, B]
    const o = op.fastMatMul(Vt, p); // [hd, Tq, H, B]
    return { o2: op.reshape(op.cont(op.permute(o, [0, 2, 1, 3])), [hd * H, T * B]), Q, Vt, p };
  }
  const Q = op.cont(op.permute(q, [0, 2, 1, 3])); // [hd, T, H, B]
  const VtKv = op.cont(op.permute(v, [1, 2, 0, 3])); // [T, hd, Hkv, B]
  const { K, Vt } = repeatKvHeads(op.cont(op.permute(k, [0, 2, 1, 3])), VtKv, H); // K [hd, T, Hkv, B]
  const kq = op.mulMat(K, Q); // [Tk, Tq, H, B]
  const p = op.softMaxExt(kq, mask, attnScale(hd), 0);
  const o = op.mulMat(Vt, p); // [hd, Tq, H, B]
  return { o2: op.reshape(op.cont(op.permute(o, [0, 2, 1, 3])), [hd * H, T * B]), Q, Vt: VtKv, p };
}
