/**
 * The `<arch>.*` metadata keys llama.cpp reads for every family (src/llama-model.cpp
 * llama_model_base::load_hparams), each with how unlearnkit handles it (types.ts KeyRule), and the
 * readers shared by the families' config readers.
 *
 * A family's key table is this one plus the keys its own load_arch_hparams reads
 * (src/models/<arch>.cpp); any other `<arch>.*` key is refused (registry.ts).
 */
import type { KeyReader, KeyRule } from './types.ts';

const read = (why: string): KeyRule => ({ kind: 'read', why });
const inert = (why: string): KeyRule => ({ kind: 'inert', why });
const fixed = (value: number | boolean | undefined, why: string): KeyRule => ({ kind: 'fixed', value, why });

const MOE = 'mixture-of-experts layers are not implemented';

/** Keys of llama_model_base::load_hparams (every family with attention heads). */
export const COMMON_KEYS: Readonly<Record<string, KeyRule>> = {
  context_length: read('longest sequence (n_ctx_train)'),
  embedding_length: read('n_embd'),
  embedding_length_out: fixed(undefined, 'a separate output embedding width (embedding models) is not implemented'),
  'attention.causal': fixed(true, 'non-causal attention is not implemented'),
  pooling_type: fixed(0, 'pooled embedding outputs are not implemented'),
  block_count: read('n_layer'),
  nextn_predict_layers: fixed(0, 'multi-token-prediction layers are not implemented'),
  expert_count: fixed(0, MOE),
  expert_used_count: fixed(0, MOE),
  expert_group_count: fixed(0, MOE),
  expert_group_used_count: fixed(0, MOE),
  feed_forward_length: read('n_ff (per-layer arrays must be uniform)'),
  'attention.head_count': read('n_head (per-layer arrays must be uniform)'),
  'attention.head_count_kv': read('n_head_kv, grouped-query attention (per-layer arrays must be uniform)'),
  'rope.scaling.finetuned': inert('informational: llama.cpp stores it (rope_finetuned) and never reads it back'),
  'rope.scaling.original_context_length': inert('n_ctx_orig_yarn: only YaRN (ext_factor != 0) and LongRoPE read it, and both are refused'),
  'rope.freq_base': read('rope theta base'),
  'rope.scaling.type': read('none or linear (freq_scale = 1 / factor); yarn, longrope and unknown types are refused'),
  'rope.scaling.factor': read('linear scaling: ggml freq_scale = 1 / factor'),
  'rope.scale_linear': read('old name of rope.scaling.factor (used when that is absent)'),
  'rope.scaling.attn_factor': fixed(1, 'a rope attention factor (scales the rotated q and k) is not implemented'),
  'rope.scaling.alpha': inert("XDRoPE's NTK alpha: read for every model, used by hunyuan graphs only"),
  'attention.key_length': read('head size of queries and keys (must equal value_length)'),
  'attention.value_length': read('head size of values (must equal key_length)'),
  'rope.dimension_count': read('n_rot: must equal the head size (llama.cpp refuses or asserts otherwise)'),
  'attention.key_length_swa': inert('sliding-window layers only; these families have none'),
  'attention.value_length_swa': inert('sliding-window layers only; these families have none'),
  'rope.dimension_count_swa': inert('sliding-window layers only; these families have none'),
  'classifier.output_labels': fixed(undefined, 'classifier heads (cls.output) are not implemented'),
  vocab_size: read('must equal the rows of token_embd.weight (read by llama.cpp for llama, and for tokenizer-less files)'),
};

/** COMMON_KEYS for a family without rotary embeddings: the rope keys are read by llama.cpp but never used. */
export function withoutRope(keys: Readonly<Record<string, KeyRule>>, family: string): Record<string, KeyRule> {
  const out: Record<string, KeyRule> = { ...keys };
  for (const k of Object.keys(out)) if (k.startsWith('rope.')) out[k] = inert(`${family} has no rotary embedding: llama.cpp reads the key for every model but its ${family} graph never uses it`);
  return out;
}

/**
 * ggml_rope_ext's freq_scale from the rope scaling keys, as llama.cpp derives it (load_hparams +
 * llama_context): type (default "linear"); factor = rope.scaling.factor, else rope.scale_linear;
 * freq_scale = 1 / factor for linear (1 when the factor is 0 or absent), 1 for "none".
 * YaRN and LongRoPE change the rotation beyond freq_scale (ext_factor ramps, attention factors,
 * long / short factor tensors) and are refused by name, as is any other type (llama.cpp asserts).
 */
export function ropeFreqScale(r: KeyReader): number {
  const type = r.str('rope.scaling.type', 'linear');
  const factor = r.has('rope.scaling.factor') ? r.opt('rope.scaling.factor', 0) : r.opt('rope.scale_linear', 0);
  if (type === 'none') return 1;
  if (type === 'linear') {
    if (!Number.isFinite(factor) || factor < 0) r.refuse(r.has('rope.scaling.factor') ? 'rope.scaling.factor' : 'rope.scale_linear', `linear rope scaling factor ${factor} is not a non-negative number`);
    return factor === 0 ? 1 : Math.fround(1 / Math.fround(factor));
  }
  if (type === 'yarn' || type === 'longrope') {
    r.refuse('rope.scaling.type', `'${type}' rope scaling is not implemented (only none and linear; rope_freqs.weight factors are supported for llama)`);
  }
  return r.refuse('rope.scaling.type', `unknown rope scaling type '${type}' (llama.cpp knows none, linear, yarn, longrope; unlearnkit implements none and linear)`);
}
