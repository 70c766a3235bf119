/**
 * The `gpt2` family (llama.cpp LLM_ARCH_GPT2, src/models/gpt2.cpp): GPT-2. Learned positions,
 * LayerNorm with biases, a fused QKV projection with bias, GELU MLP, tied or untied output
 * (graph: ../gpt2.ts). No rotary embedding: llama.cpp reads the rope keys for every model, but
 * they change nothing here (keys.ts withoutRope).
 * llama.cpp's loader also accepts grouped-query heads and key_length != n_embd / n_head for gpt2
 * (only in the QKV shape; its graph asserts equal head sizes): both are refused by name.
 * Training uses ggml's automatic backward (LayerNorm and GELU as differentiable composites).
 */
import { UserError } from '../../util/errors.ts';
import { buildGpt2 } from '../gpt2.ts';
import { COMMON_KEYS, withoutRope } from './keys.ts';
import { checkSizes, type ArchFamily, type Architecture, type KeyReader, type ModelConfig, type TensorSpec } from './types.ts';

function readConfig(r: KeyReader, tensors: ReadonlyMap<string, readonly number[]>): ModelConfig {
  const emb = tensors.get('token_embd.weight');
  if (!emb) throw new UserError(`${r.file.path}: no token_embd.weight tensor`);
  const nEmbd = r.num('embedding_length');
  const nHead = r.num('attention.head_count');
  if (nEmbd % nHead !== 0) r.refuse('attention.head_count', `embedding length ${nEmbd} is not a multiple of ${nHead} heads`);
  const nHeadKv = r.opt('attention.head_count_kv', nHead);
  if (nHeadKv !== nHead) r.refuse('attention.head_count_kv', `grouped-query attention (${nHeadKv} KV heads for ${nHead}) is not implemented for gpt2`);
  for (const k of ['attention.key_length', 'attention.value_length']) {
    if (r.has(k) && r.num(k) !== nEmbd / nHead) r.refuse(k, `head size ${r.num(k)} differs from n_embd / n_head = ${nEmbd / nHead} (llama.cpp's gpt2 graph asserts they are equal)`);
  }
  const nVocab = emb[1] ?? 1;
  if (r.has('vocab_size') && r.num('vocab_size') !== nVocab) r.refuse('vocab_size', `${r.num('vocab_size')} tokens, but token_embd.weight has ${nVocab} rows`);
  return {
    arch: r.arch as Architecture,
    nEmbd,
    nLayer: r.num('block_count'),
    nHead,
    nHeadKv,
    nFf: r.num('feed_forward_length'),
    nVocab,
    nCtx: r.num('context_length'),
    normEps: r.num('attention.layer_norm_epsilon'),
    ropeDims: 0,
    ropeFreqBase: 10000,
    tiedOutput: !tensors.has('output.weight'),
  };
}

function validate(c: ModelConfig, where: string): void {
  const bad = checkSizes(c, where);
  if (c.nEmbd % c.nHead !== 0) bad(`embedding length ${c.nEmbd} is not a multiple of ${c.nHead} heads`);
  if (c.nHeadKv !== c.nHead) bad(`gpt2 has no grouped-query attention (${c.nHeadKv} KV heads for ${c.nHead})`);
  if (c.headDim !== undefined && c.headDim !== c.nEmbd / c.nHead) bad(`gpt2 heads are n_embd / n_head = ${c.nEmbd / c.nHead} wide, not ${c.headDim}`);
  if (!(c.normEps > 0)) bad(`norm epsilon must be positive, got ${c.normEps}`);
}

/**
 * The tensors of GPT-2 block `l` (llama.cpp's LLM_ARCH_GPT2 load_arch_tensors): pre-norm with bias,
 * fused QKV, attention output, feed-forward up / down, all with biases; `d` = n_embd, `nFf` = n_ff.
 * The converter checks a converted file against this same list.
 */
export function gpt2BlockTensors(l: number, d: number, nFf: number): TensorSpec[] {
  const b = `blk.${l}`;
  return [
    { name: `${b}.attn_norm.weight`, ne: [d] },
    { name: `${b}.attn_norm.bias`, ne: [d] },
    { name: `${b}.attn_qkv.weight`, ne: [d, 3 * d] },
    { name: `${b}.attn_qkv.bias`, ne: [3 * d] },
    { name: `${b}.attn_output.weight`, ne: [d, d] },
    { name: `${b}.attn_output.bias`, ne: [d] },
    { name: `${b}.ffn_norm.weight`, ne: [d] },
    { name: `${b}.ffn_norm.bias`, ne: [d] },
    { name: `${b}.ffn_up.weight`, ne: [d, nFf] },
    { name: `${b}.ffn_up.bias`, ne: [nFf] },
    { name: `${b}.ffn_down.weight`, ne: [nFf, d] },
    { name: `${b}.ffn_down.bias`, ne: [d] },
  ];
}

function tensors(c: ModelConfig): TensorSpec[] {
  const d = c.nEmbd;
  const out: TensorSpec[] = [
    { name: 'token_embd.weight', ne: [d, c.nVocab] },
    { name: 'position_embd.weight', ne: [d, c.nCtx] },
  ];
  for (let l = 0; l < c.nLayer; l++) out.push(...gpt2BlockTensors(l, d, c.nFf));
  out.push({ name: 'output_norm.weight', ne: [d] }, { name: 'output_norm.bias', ne: [d] });
  if (!c.tiedOutput) out.push({ name: 'output.weight', ne: [d, c.nVocab] });
  return out;
}

export const gpt2: ArchFamily = {
  name: 'gpt2',
  description: 'GPT-2: learned positions, LayerNorm, fused QKV with bias, GELU',
  keys: {
    ...withoutRope(COMMON_KEYS, 'gpt2'),
    'attention.layer_norm_epsilon': { kind: 'read', why: 'LayerNorm epsilon' },
  },
  readConfig,
  validate,
  tensors,
  build: buildGpt2,
  backward: 'auto',
  nodesPerLayer: 160,
};
