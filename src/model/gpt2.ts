/**
 * GPT-2 as a ggml graph, top-down, computing what llama.cpp's llm_build_gpt2 computes:
 *
 *   x = token_embd[tokens] + position_embd[positions]
 *   for each block:
 *     h = layer_norm(x) * attn_norm.weight + attn_norm.bias
 *     q, k, v = split(W_qkv h + b_qkv)         (no rotary embedding; learned positions)
 *     x = x + W_o attention(q, k, v) + b_o     (causal)
 *     h = layer_norm(x) * ffn_norm.weight + ffn_norm.bias
 *     x = x + W_down gelu(W_up h + b_up) + b_down
 *   logits = W_out (layer_norm(x) * output_norm.weight + output_norm.bias)   (W_out = token_embd when tied)
 *
 * LayerNorm and GELU have no backward in ggml: in training graphs they are the differentiable
 * composites of src/engine/composite.ts; in evaluation graphs the native ops llama.cpp uses.
 */
import type { Tensor } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import { headDim, type ModelConfig } from './config.ts';
import { causalAttention, gelu, layerNorm, type BuildMode, type SequenceInputs } from './layers.ts';

export const GPT2_GROUPS = ['embedding', 'block:K:attn', 'block:K:mlp', 'final_norm', 'output'] as const;

export function buildGpt2(c: ModelConfig, w: (name: string) => Tensor, inp: SequenceInputs, mode: BuildMode): { logits: Tensor; hidden: Tensor } {
  const { T, B } = inp;
  const d = c.nEmbd;
  const hd = headDim(c);
  const posEmb = op.getRows(w('position_embd.weight'), inp.pos); // [d, T]
  let x = op.add(op.reshape(op.getRows(w('token_embd.weight'), inp.tokens), [d, T, B]), posEmb);
  x = op.reshape(x, [d, T * B]);
  for (let l = 0; l < c.nLayer; l++) {
    const p = (s: string) => w(`blk.${l}.${s}`);
    const h = layerNorm(x, p('attn_norm.weight'), p('attn_norm.bias'), c.normEps, mode);
    const qkv = op.add(op.mulMat(p('attn_qkv.weight'), h), p('attn_qkv.bias')); // [3d, T*B]
    const part = (i: number) => op.reshape(op.cont(op.view(qkv, [d, T * B], i * d * 4, [3 * d * 4])), [hd, c.nHead, T, B]);
    const attn = causalAttention(part(0), part(1), part(2), inp.mask, T, B, mode);
    x = op.add(x, op.add(op.mulMat(p('attn_output.weight'), attn), p('attn_output.bias')));
    const h2 = layerNorm(x, p('ffn_norm.weight'), p('ffn_norm.bias'), c.normEps, mode);
    const up = gelu(op.add(op.mulMat(p('ffn_up.weight'), h2), p('ffn_up.bias')), mode);
    x = op.add(x, op.add(op.mulMat(p('ffn_down.weight'), up), p('ffn_down.bias')));
  }
  const hidden = layerNorm(x, w('output_norm.weight'), w('output_norm.bias'), c.normEps, mode);
  const logits = op.mulMat(w(c.tiedOutput ? 'token_embd.weight' : 'output.weight'), hidden);
  return { logits, hidden };
}
