/**
 * LLaMA as a ggml graph, read top-down like the model itself, computing what llama.cpp's
 * llm_build_llama computes for a LLaMA GGUF:
 *
 *   x = token_embd[tokens]
 *   for each block:
 *     h = rms_norm(x) * attn_norm
 *     q, k = rope(W_q h), rope(W_k h)      (rope mode NORMAL: adjacent pairs, as llama.cpp for LLaMA GGUFs)
 *     x = x + W_o attention(q, k, W_v h)   (causal, grouped-query)
 *     h = rms_norm(x) * ffn_norm
 *     x = x + W_down (silu(W_gate h) * W_up h)
 *   logits = W_out (rms_norm(x) * output_norm)   (W_out = token_embd when tied)
 *
 * Parameter groups (for filters): embedding, block:K:attn (attn_norm, attn_q/k/v/output),
 * block:K:mlp (ffn_norm, ffn_gate/up/down), final_norm, output.
 */
import type { Tensor } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import { headDim, type ModelConfig } from './config.ts';
import { causalAttention, rmsNorm, type BuildMode, type SequenceInputs } from './layers.ts';

export const LLAMA_GROUPS = ['embedding', 'block:K:attn', 'block:K:mlp', 'final_norm', 'output'] as const;

export function buildLlama(c: ModelConfig, w: (name: string) => Tensor, inp: SequenceInputs, _mode: BuildMode): { logits: Tensor; hidden: Tensor } {
  const { T, B } = inp;
  const hd = headDim(c);
  const rope = (t: Tensor) => op.ropeExt(t, inp.pos, { nDims: c.ropeDims, mode: op.ROPE_NORMAL, freqBase: c.ropeFreqBase, nCtxOrig: c.nCtx });
  // rope_ext rotates along ne[2] positions: lay q/k out as [hd, H, T, B]
  let x = op.getRows(w('token_embd.weight'), inp.tokens); // [d, T*B]
  for (let l = 0; l < c.nLayer; l++) {
    const p = (s: string) => w(`blk.${l}.${s}.weight`);
    const h = rmsNorm(x, p('attn_norm'), c.normEps);
    const q = rope(op.reshape(op.mulMat(p('attn_q'), h), [hd, c.nHead, T, B]));
    const k = rope(op.reshape(op.mulMat(p('attn_k'), h), [hd, c.nHeadKv, T, B]));
    const v = op.reshape(op.mulMat(p('attn_v'), h), [hd, c.nHeadKv, T, B]);
    x = op.add(x, op.mulMat(p('attn_output'), causalAttention(q, k, v, inp.mask, T, B, _mode)));
    const h2 = rmsNorm(x, p('ffn_norm'), c.normEps);
    const a = op.swigluSplit(op.mulMat(p('ffn_gate'), h2), op.mulMat(p('ffn_up'), h2));
    x = op.add(x, op.mulMat(p('ffn_down'), a));
  }
  const hidden = rmsNorm(x, w('output_norm.weight'), c.normEps);
  const logits = op.mulMat(w(c.tiedOutput ? 'token_embd.weight' : 'output.weight'), hidden); // [V, T*B]
  return { logits, hidden };
}
