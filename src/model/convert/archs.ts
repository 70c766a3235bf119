/**
 * Per-architecture rules of llama.cpp's convert_hf_to_gguf.py for the two model classes unlearnkit
 * runs: hyper-parameters -> `<arch>.*` metadata, Hugging Face tensor names -> GGUF names, and the
 * tensor transforms (conversion/llama.py, conversion/gpt2.py, conversion/base.py TextModel,
 * gguf-py/gguf/tensor_mapping.py).
 *
 * LLaMA (`LlamaForCausalLM`): Hugging Face applies rotary embeddings to the two halves of each head
 * (`rotate_half`, NEOX style), llama.cpp to adjacent pairs (NORMAL mode). The converter undoes
 * Hugging Face's permutation of the Q and K projections:
 *   permute(W, n) = W.reshape(n, 2, rows/n/2, cols).swapaxes(1, 2).reshape(rows, cols)
 * i.e. within each head of size hd, new row 2i + j = old row j*hd/2 + i (j in {0, 1}), with n = the
 * number of heads for Q and the number of KV heads for K.
 *
 * GPT-2 (`GPT2LMHeadModel`): Hugging Face's Conv1D layers (c_attn, c_proj, c_fc) store weights as
 * [in, out], the transpose of a Linear; they are transposed to [out, in] (ggml ne = [in, out]).
 * `attn.bias` / `attn.masked_bias` (causal-mask buffers of old checkpoints) are dropped.
 *
 * Tied embeddings: with `tie_word_embeddings` (default true for GPT-2, false for LLaMA) the output
 * projection is the token embedding, so `lm_head.weight` is not written and llama.cpp (like our
 * engine) uses token_embd.weight; without it, `lm_head.weight` becomes `output.weight`.
 *
 * Features unlearnkit's graphs do not implement (rope scaling, attention/MLP biases in LLaMA, a head
 * size other than hidden/heads, activations other than SiLU / tanh-GELU) are refused with a
 * UserError rather than converted into a file our engine would evaluate differently.
 */
import { UserError } from '../../util/errors.ts';
import type { MetaEntry } from './specialVocab.ts';

type Json = Record<string, unknown>;

export type ArchName = 'llama' | 'gpt2';

export interface ArchHparams {
  arch: ArchName;
  nLayer: number;
  nEmbd: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  nCtx: number;
  nVocab?: number;
  tied: boolean;
  /** `<arch>.*` metadata in convert_hf_to_gguf.py's order (general.file_type is added by the caller at its place). */
  entries: MetaEntry[];
  /** Index in `entries` where general.file_type goes. */
  fileTypeAt: number;
  warnings: string[];
}

export interface TensorPlan {
  /** GGUF name, or null to drop the tensor. */
  name: string | null;
  transform?: 'transpose' | 'permute_q' | 'permute_k';
  why?: string;
}

export const SUPPORTED_HF_ARCHITECTURES: Record<string, ArchName> = {
  LlamaForCausalLM: 'llama',
  LLaMAForCausalLM: 'llama',
  GPT2LMHeadModel: 'gpt2',
};

/** `find_hparam`: the first key present, else undefined. */
function find(h: Json, keys: string[]): unknown {
  for (const k of keys) if (k in h && h[k] !== null && h[k] !== undefined) return h[k];
  return undefined;
}

function posInt(h: Json, keys: string[], file: string, dflt?: number): number {
  const v = find(h, keys) ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new UserError(`${file}: ${keys[0]} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function num(h: Json, keys: string[], file: string, dflt: number, warnings: string[]): number {
  const v = find(h, keys);
  if (v === undefined) {
    warnings.push(`${keys[0]} is not in config.json; using the Hugging Face default ${dflt}`);
    return dflt;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(`${file}: ${keys[0]} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

export function archHparams(arch: ArchName, h: Json, file: string): ArchHparams {
  const warnings: string[] = [];
  const nLayer = posInt(h, ['n_layers', 'num_hidden_layers', 'n_layer', 'num_layers'], file);
  if (arch === 'gpt2') {
    const nEmbd = posInt(h, ['n_embd'], file);
    const nHead = posInt(h, ['n_head'], file);
    const nCtx = posInt(h, ['n_ctx', 'n_positions'], file, 1024);
    const nInner = h.n_inner;
    let nFf = 4 * nEmbd;
    if (typeof nInner === 'number') {
      if (nInner !== nFf) warnings.push(`n_inner ${nInner} differs from 4 * n_embd; writing feed_forward_length ${nInner} (convert_hf_to_gguf.py always writes 4 * n_embd)`);
      nFf = nInner;
    }
    const act = (h.activation_function as string | undefined) ?? 'gelu_new';
    if (!['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'].includes(act)) {
      throw new UserError(`${file}: activation_function '${act}' is not supported: llama.cpp's GPT-2 (and unlearnkit's) uses the tanh GELU (gelu_new)`);
    }
    if (h.scale_attn_by_inverse_layer_idx === true) throw new UserError(`${file}: scale_attn_by_inverse_layer_idx is not supported by llama.cpp's GPT-2`);
    if (h.scale_attn_weights === false) throw new UserError(`${file}: scale_attn_weights = false is not supported by llama.cpp's GPT-2`);
    if (nEmbd % nHead !== 0) throw new UserError(`${file}: n_embd ${nEmbd} is not a multiple of n_head ${nHead}`);
    const eps = num(h, ['layer_norm_epsilon'], file, 1e-5, warnings);
    const entries: MetaEntry[] = [
      ['gpt2.block_count', nLayer, 'uint32'],
      ['gpt2.context_length', nCtx, 'uint32'],
      ['gpt2.embedding_length', nEmbd, 'uint32'],
      ['gpt2.feed_forward_length', nFf, 'uint32'],
      ['gpt2.attention.head_count', nHead, 'uint32'],
      ['gpt2.attention.layer_norm_epsilon', eps, 'float32'],
    ];
    const tied = h.tie_word_embeddings === undefined ? true : h.tie_word_embeddings === true;
    return { arch, nLayer, nEmbd, nHead, nHeadKv: nHead, nFf, nCtx, nVocab: h.vocab_size as number | undefined, tied, entries, fileTypeAt: entries.length, warnings };
  }

  // llama
  const nEmbd = posInt(h, ['hidden_size', 'n_embd', 'dim'], file);
  const nHead = posInt(h, ['num_attention_heads', 'n_head', 'n_heads'], file);
  const kvRaw = find(h, ['num_key_value_heads', 'n_kv_heads']);
  const nHeadKv = kvRaw === undefined ? nHead : posInt(h, ['num_key_value_heads', 'n_kv_heads'], file);
  const nFf = posInt(h, ['intermediate_size', 'n_inner', 'hidden_dim'], file);
  const act = (h.hidden_act as string | undefined) ?? 'silu';
  if (act !== 'silu' && act !== 'swish') throw new UserError(`${file}: hidden_act '${act}' is not supported: LLaMA in llama.cpp uses SiLU (SwiGLU)`);
  const rope = (h.rope_parameters ?? h.rope_scaling) as Json | null | undefined;
  const ropeType = rope ? (rope.rope_type ?? rope.type) : undefined;
  if (rope && ropeType !== undefined && ropeType !== 'default') {
    throw new UserError(`${file}: rope scaling '${String(ropeType)}' is not supported by unlearnkit's LLaMA graph (plain RoPE only)`);
  }
  if (h.attention_bias === true || h.mlp_bias === true) {
    throw new UserError(`${file}: attention_bias / mlp_bias are not supported by unlearnkit's LLaMA graph (it has no bias terms)`);
  }
  if (nEmbd % nHead !== 0) throw new UserError(`${file}: hidden_size ${nEmbd} is not a multiple of num_attention_heads ${nHead}`);
  if (nHead % nHeadKv !== 0) throw new UserError(`${file}: num_attention_heads ${nHead} is not a multiple of num_key_value_heads ${nHeadKv}`);
  const headDim = h.head_dim;
  if (headDim !== undefined && headDim !== null && headDim !== nEmbd / nHead) {
    throw new UserError(`${file}: head_dim ${String(headDim)} differs from hidden_size / num_attention_heads (${nEmbd / nHead}); unlearnkit's LLaMA graph needs them equal`);
  }
  if ((nEmbd / nHead) % 2 !== 0) throw new UserError(`${file}: the head size ${nEmbd / nHead} must be even for rotary embeddings`);
  const nCtx = posInt(h, ['max_position_embeddings', 'n_ctx', 'n_positions', 'max_length', 'max_sequence_length', 'model_max_length'], file, 2048);
  const entries: MetaEntry[] = [
    ['llama.block_count', nLayer, 'uint32'],
    ['llama.context_length', nCtx, 'uint32'],
    ['llama.embedding_length', nEmbd, 'uint32'],
    ['llama.feed_forward_length', nFf, 'uint32'],
    ['llama.attention.head_count', nHead, 'uint32'],
  ];
  if (kvRaw !== undefined) entries.push(['llama.attention.head_count_kv', nHeadKv, 'uint32']);
  const theta = find(h, ['rope_theta', 'rotary_emb_base']) ?? (rope?.rope_theta as number | undefined);
  entries.push(['llama.rope.freq_base', typeof theta === 'number' ? theta : 10000, 'float32']);
  if (typeof theta !== 'number') warnings.push('rope_theta is not in config.json; using the Hugging Face default 10000');
  entries.push(['llama.attention.layer_norm_rms_epsilon', num(h, ['rms_norm_eps', 'norm_eps'], file, 1e-6, warnings), 'float32']);
  if (typeof headDim === 'number') entries.push(['llama.attention.key_length', headDim, 'uint32'], ['llama.attention.value_length', headDim, 'uint32']);
  const fileTypeAt = entries.length;
  const nVocab = typeof h.vocab_size === 'number' ? h.vocab_size : undefined;
  if (nVocab !== undefined) entries.push(['llama.vocab_size', nVocab, 'uint32']);
  entries.push(['llama.rope.dimension_count', typeof headDim === 'number' ? headDim : nEmbd / nHead, 'uint32']);
  const tied = h.tie_word_embeddings === true;
  return { arch, nLayer, nEmbd, nHead, nHeadKv, nFf, nCtx, nVocab, tied, entries, fileTypeAt, warnings };
}

const GPT2_BLOCK: Record<string, string> = {
  ln_1: 'attn_norm',
  'attn.c_attn': 'attn_qkv',
  'attn.c_proj': 'attn_output',
  ln_2: 'ffn_norm',
  'mlp.c_fc': 'ffn_up',
  'mlp.c_proj': 'ffn_down',
};
const GPT2_GLOBAL: Record<string, string> = { wte: 'token_embd', wpe: 'position_embd', ln_f: 'output_norm', lm_head: 'output' };

const LLAMA_BLOCK: Record<string, string> = {
  input_layernorm: 'attn_norm',
  'self_attn.q_proj': 'attn_q',
  'self_attn.k_proj': 'attn_k',
  'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output',
  post_attention_layernorm: 'ffn_norm',
  'mlp.gate_proj': 'ffn_gate',
  'mlp.up_proj': 'ffn_up',
  'mlp.down_proj': 'ffn_down',
};
const LLAMA_GLOBAL: Record<string, string> = { 'model.embed_tokens': 'token_embd', 'model.norm': 'output_norm', lm_head: 'output' };

/** Buffers convert_hf_to_gguf.py never writes. */
const DROPPED = ['.attention.masked_bias', '.attention.bias', '.rotary_emb.inv_freq', '.attn.bias', '.attn.masked_bias'];

/** How one Hugging Face tensor is converted (name, transform), or a UserError when it cannot be mapped. */
export function planTensor(hp: ArchHparams, hfName: string): TensorPlan {
  if (DROPPED.some((s) => hfName.endsWith(s))) return { name: null, why: 'causal-mask / rotary buffer, not a weight' };
  let name = hfName.replace('language_model.', '');
  const m = /^(.*)\.(weight|bias)$/.exec(name);
  if (!m) throw new UserError(`cannot map tensor '${hfName}' of a ${hp.arch} model`);
  let base = m[1]!;
  const suffix = m[2]!;
  let out: string | undefined;
  if (hp.arch === 'gpt2') {
    base = base.replace(/^transformer\./, '');
    const b = /^h\.(\d+)\.(.+)$/.exec(base);
    if (b && Number(b[1]) < hp.nLayer && GPT2_BLOCK[b[2]!]) out = `blk.${b[1]}.${GPT2_BLOCK[b[2]!]}`;
    else if (GPT2_GLOBAL[base]) out = GPT2_GLOBAL[base];
  } else {
    const b = /^model\.layers\.(\d+)\.(.+)$/.exec(base);
    if (b && Number(b[1]) < hp.nLayer && LLAMA_BLOCK[b[2]!]) out = `blk.${b[1]}.${LLAMA_BLOCK[b[2]!]}`;
    else if (LLAMA_GLOBAL[base]) out = LLAMA_GLOBAL[base];
  }
  if (!out) throw new UserError(`cannot map tensor '${hfName}' of a ${hp.arch} model (convert_hf_to_gguf.py would stop here too)`);
  name = `${out}.${suffix}`;
  if (name === 'output.weight' && hp.tied) return { name: null, why: 'tied to the token embedding (tie_word_embeddings)' };
  if (hp.arch === 'gpt2' && suffix === 'weight' && /\.(c_attn|c_proj|c_fc)$/.test(base)) return { name, transform: 'transpose' };
  if (hp.arch === 'llama' && hfName.endsWith('q_proj.weight')) return { name, transform: 'permute_q' };
  if (hp.arch === 'llama' && hfName.endsWith('k_proj.weight')) return { name, transform: 'permute_k' };
  return { name };
}

/** Transpose a row-major [rows, cols] matrix. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/**
 * llama.cpp's `LlamaModel.permute(weights, n_head, n_head_kv)` on a row-major [rows, cols] matrix
 * (cols = 1 for a bias): within each of the `nHead` heads, row 2i + j takes old row j*(hd/2) + i.
 */
export function permuteRope(data: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  if (rows % nHead !== 0 || (rows / nHead) % 2 !== 0) throw new UserError(`cannot permute ${rows} rows for ${nHead} rotary heads`);
  const hd = rows / nHead;
  const half = hd / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * hd + j * half + i) * cols;
        const dst = (h * hd + 2 * i + j) * cols;
        out.set(data.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}
