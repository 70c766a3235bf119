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
import { biasAdd, causalAttention, embed, gelu, layerNorm, linear, type BuildMode, type SequenceInputs } from './layers.ts';

export function buildGpt2(c: ModelConfig, w: (name: string) => Tensor, inp: SequenceInputs, mode: BuildMode): { logits: Tensor; hidden: Tensor } {
  const { T, B } = inp;
  const d = c.nEmbd;
  const hd = headDim(c);
  const posEmb = op.getRows(w('position_embd.weight'), inp.pos); // [d, T], shared by the batch
  let x = op.add(op.reshape(embed('token_embd.weight', w('token_embd.weight'), inp.tokens, mode), [d, T, B]), posEmb);
  x = op.reshape(x, [d, T * B]);
  // per example, position t's row receives the gradient at x[:, t, b]
  mode.tap?.({ name: 'position_embd.weight', kind: 'rows', input: inp.pos, output: x });
  for (let l = 0; l < c.nLayer; l++) {
    const n = (s: string) => `blk.${l}.${s}`;
    const dense = (s: string, h: Tensor) => biasAdd(n(`${s}.bias`), linear(n(`${s}.weight`), w(n(`${s}.weight`)), h, mode), w(n(`${s}.bias`)), mode);
    const norm = (s: string, h: Tensor) => layerNorm(n(s), h, w(n(`${s}.weight`)), w(n(`${s}.bias`)), c.normEps, mode);
    const h = norm('attn_norm', x);
    const qkv = dense('attn_qkv', h); // [3d, T*B]
    const part = (i: number) => op.reshape(op.cont(op.view(qkv, [d, T * B], i * d * 4, [3 * d * 4])), [hd, c.nHead, T, B]);
    x = op.add(x, dense('attn_output', causalAttention(part(0), part(1), part(2), inp.mask, T, B, mode, l)));
    const h2 = norm('ffn_norm', x);
    x = op.add(x, dense('ffn_down', gelu(dense('ffn_up', h2), mode)));
  }
  const hidden = layerNorm('output_norm', x, w('output_norm.weight'), w('output_norm.bias'), c.normEps, mode);
  const outName = c.tiedOutput ? 'token_embd.weight' : 'output.weight';
  const logits = linear(outName, w(outName), hidden, mode);
  return { logits, hidden };
}
