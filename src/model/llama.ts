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
import { causalAttention, embed, linear, rmsNorm, type BuildMode, type SequenceInputs } from './layers.ts';

export const LLAMA_GROUPS = ['embedding', 'block:K:attn', 'block:K:mlp', 'final_norm', 'output'] as const;

export function buildLlama(c: ModelConfig, w: (name: string) => Tensor, inp: SequenceInputs, mode: BuildMode): { logits: Tensor; hidden: Tensor } {
  const { T, B } = inp;
  const hd = headDim(c);
  const rope = (t: Tensor) => op.ropeExt(t, inp.pos, { nDims: c.ropeDims, mode: op.ROPE_NORMAL, freqBase: c.ropeFreqBase, nCtxOrig: c.nCtx });
  // rope_ext rotates along ne[2] positions: lay q/k out as [hd, H, T, B]
  let x = embed('token_embd.weight', w('token_embd.weight'), inp.tokens, mode); // [d, T*B]
  for (let l = 0; l < c.nLayer; l++) {
    const n = (s: string) => `blk.${l}.${s}.weight`;
    const mm = (s: string, h: Tensor) => linear(n(s), w(n(s)), h, mode);
    const h = rmsNorm(n('attn_norm'), x, w(n('attn_norm')), c.normEps, mode);
    const q = rope(op.reshape(mm('attn_q', h), [hd, c.nHead, T, B]));
    const k = rope(op.reshape(mm('attn_k', h), [hd, c.nHeadKv, T, B]));
    const v = op.reshape(mm('attn_v', h), [hd, c.nHeadKv, T, B]);
    x = op.add(x, mm('attn_output', causalAttention(q, k, v, inp.mask, T, B, mode)));
    const h2 = rmsNorm(n('ffn_norm'), x, w(n('ffn_norm')), c.normEps, mode);
    const a = op.swigluSplit(mm('ffn_gate', h2), mm('ffn_up', h2));
    x = op.add(x, mm('ffn_down', a));
  }
  const hidden = rmsNorm('output_norm.weight', x, w('output_norm.weight'), c.normEps, mode);
  const outName = c.tiedOutput ? 'token_embd.weight' : 'output.weight';
  const logits = linear(outName, w(outName), hidden, mode); // [V, T*B]
  return { logits, hidden };
}
