/**
 * Per-architecture rules of llama.cpp's convert_hf_to_gguf.py for the model classes unlearnkit
 * converts: hyper-parameters -> `<arch>.*` metadata, Hugging Face tensor names -> GGUF names, the
 * tensor transforms, generated tensors, and the tensors llama.cpp's loader expects
 * (conversion/base.py TextModel, conversion/llama.py LlamaModel, conversion/qwen.py Qwen2Model /
 * Qwen3Model, conversion/gpt2.py, gguf-py/gguf/tensor_mapping.py, src/models/{llama,qwen2,qwen3}.cpp).
 *
 * | Hugging Face class | GGUF arch | what is special |
 * |---|---|---|
 * | `LlamaForCausalLM` (LLaMA 1-3, SmolLM/SmolLM2, TinyLlama) | llama | Q/K rows permuted (below); `rope_scaling` llama3 -> `rope_freqs.weight`, linear -> `rope.scaling.*` |
 * | `Qwen2ForCausalLM` (Qwen2, Qwen2.5) | qwen2 | q/k/v biases; NEOX RoPE, so no permutation |
 * | `Qwen3ForCausalLM` | qwen3 | per-head RMSNorm of Q and K (`attn_q_norm`, `attn_k_norm`); `head_dim` from config.json |
 * | `GPT2LMHeadModel` | gpt2 | Conv1D weights transposed |
 *
 * LLaMA: Hugging Face applies rotary embeddings to the two halves of each head (`rotate_half`, NEOX
 * style), llama.cpp's llama arch to adjacent pairs (NORMAL mode). The converter undoes Hugging
 * Face's permutation of the Q and K projections:
 *   permute(W, n) = W.reshape(n, 2, rows/n/2, cols).swapaxes(1, 2).reshape(rows, cols)
 * i.e. within each head of size hd, new row 2i + j = old row j*hd/2 + i (j in {0, 1}), with n = the
 * number of heads for Q and the number of KV heads for K. Qwen2/Qwen3 run NEOX RoPE in llama.cpp,
 * so their weights are copied as they are.
 *
 * RoPE scaling (`rope_scaling`, or transformers 5's `rope_parameters`; `type` is read as
 * `rope_type`), as TextModel.set_gguf_parameters and LlamaModel.generate_extra_tensors write it:
 * - `linear` (factor f): `<arch>.rope.scaling.type = "linear"`, `<arch>.rope.scaling.factor = f`;
 *   llama.cpp rotates by pos/f, as Hugging Face divides inv_freq by f.
 * - `llama3` (LLaMA only; factor, low_freq_factor, high_freq_factor,
 *   original_max_position_embeddings): no keys, but a tensor `rope_freqs.weight` of head_dim/2
 *   frequency divisors (llama3RopeFactors below), which llama.cpp applies as theta_i / factor_i.
 * Every other type (dynamic, yarn, longrope, ...), and llama3 on Qwen (which the converter would
 * silently drop), is refused.
 *
 * GPT-2: Hugging Face's Conv1D layers (c_attn, c_proj, c_fc) store weights as [in, out], the
 * transpose of a Linear; they are transposed to [out, in] (ggml ne = [in, out]). `attn.bias` /
 * `attn.masked_bias` (causal-mask buffers of old checkpoints) are dropped.
 *
 * Tied embeddings: with `tie_word_embeddings` (default true for GPT-2, false for the others) the
 * output projection is the token embedding, so `lm_head.weight` is not written (a stale copy in the
 * files is dropped, as Hugging Face ignores it when tying) and llama.cpp uses token_embd.weight;
 * without it, `lm_head.weight` becomes `output.weight`.
 *
 * Refused by name, rather than converted into a file that computes something else than the
 * Hugging Face model: activations other than SiLU / tanh-GELU, attention or MLP biases where the
 * class has none (LLaMA's attention_bias / mlp_bias, Qwen3's attention_bias), sliding-window
 * attention that a layer actually uses, multimodal RoPE (mrope), partial rotary embeddings,
 * non-causal attention, and quantized checkpoints.
 */
import { UserError } from '../../util/errors.ts';
import type { MetaEntry } from './specialVocab.ts';
import { gpt2BlockTensors } from '../arch/gpt2.ts';

type Json = Record<string, unknown>;

export type ArchName = 'llama' | 'gpt2' | 'qwen2' | 'qwen3';

/** RoPE scaling as converted. */
export type RopeScaling =
  | { type: 'none' }
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalContext: number };

export interface ArchHparams {
  arch: ArchName;
  nLayer: number;
  nEmbd: number;
  nHead: number;
  nHeadKv: number;
  /** Size of one attention head (config.json head_dim, else hidden_size / num_attention_heads). */
  headDim: number;
  nFf: number;
  nCtx: number;
  nVocab?: number;
  tied: boolean;
  rope: RopeScaling;
  /** The RoPE base as the converter reads it (rope_theta; 10000 when absent). */
  ropeTheta: number;
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

/** Hugging Face `architectures[0]` -> GGUF architecture (the classes convert_hf_to_gguf.py registers for them). */
export const SUPPORTED_HF_ARCHITECTURES: Record<string, ArchName> = {
  LlamaForCausalLM: 'llama',
  LLaMAForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  GPT2LMHeadModel: 'gpt2',
};

/** The RoPE scalings converted, per GGUF architecture (for messages and --help). */
const SUPPORTED_ROPE_SCALINGS: Record<ArchName, readonly string[]> = {
  llama: ['linear', 'llama3'],
  qwen2: ['linear'],
  qwen3: ['linear'],
  gpt2: [],
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

function positive(v: unknown, what: string, file: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new UserError(`${file}: ${what} must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * TextModel's `rope_parameters`: `rope_parameters` (transformers 5) or `rope_scaling`, with its
 * `full_attention` entry when it is split per layer type, and `type` read as `rope_type`.
 */
function ropeParameters(h: Json, file: string): Json {
  const raw = (h.rope_parameters ?? h.rope_scaling) as unknown;
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new UserError(`${file}: rope_scaling must be an object or null, got ${JSON.stringify(raw)}`);
  let p = raw as Json;
  if ('sliding_attention' in p) {
    throw new UserError(`${file}: rope_parameters has a 'sliding_attention' entry: sliding-window attention layers are not supported`);
  }
  if (typeof p.full_attention === 'object' && p.full_attention !== null) p = p.full_attention as Json;
  if (p.rope_type === undefined && p.type !== undefined) p = { ...p, rope_type: p.type };
  return p;
}

/** Refusals shared by the LLaMA-like families (see the module comment). */
function refuseUnconverted(arch: ArchName, h: Json, file: string, nLayer: number): void {
  const act = (h.hidden_act as string | undefined) ?? 'silu';
  if (act !== 'silu' && act !== 'swish') throw new UserError(`${file}: hidden_act '${act}' is not supported: ${arch} in llama.cpp uses SiLU (SwiGLU)`);
  // Qwen2's q/k/v biases are built in (the class ignores attention_bias); elsewhere they are refused
  if ((arch !== 'qwen2' && h.attention_bias === true) || h.mlp_bias === true) {
    throw new UserError(`${file}: attention_bias / mlp_bias are not supported for ${arch} (the converted ${arch} has no attention or MLP biases)`);
  }
  if (h.quantization_config !== undefined && h.quantization_config !== null) {
    const m = (h.quantization_config as Json).quant_method;
    throw new UserError(`${file}: quantization_config${typeof m === 'string' ? ` (${m})` : ''}: quantized checkpoints are not supported; convert the unquantized (F32/F16/BF16) weights`);
  }
  if (h.is_causal === false) throw new UserError(`${file}: is_causal = false (non-causal attention) is not supported`);
  const prf = find(h, ['partial_rotary_factor']);
  if (prf !== undefined && prf !== 1) throw new UserError(`${file}: partial_rotary_factor ${String(prf)} is not supported (rotary embedding on part of each head)`);
  if (h.use_mrope === true) throw new UserError(`${file}: use_mrope = true (multimodal RoPE) is not supported`);
  // sliding-window attention: Qwen2/Qwen3 use it on layers >= max_window_layers when use_sliding_window
  // is set (transformers 5 spells it out in layer_types); LLaMA has no sliding window
  const types = h.layer_types;
  if (Array.isArray(types)) {
    const sliding = types.map((t, i) => [t, i] as const).filter(([t]) => t !== 'full_attention');
    if (sliding.length) {
      throw new UserError(`${file}: layer_types has ${String(sliding[0]![0])} at layer ${sliding[0]![1]}: only full attention is supported (sliding-window attention is not)`);
    }
  } else if (h.use_sliding_window === true && arch !== 'llama') {
    const mwl = typeof h.max_window_layers === 'number' ? h.max_window_layers : 28; // Qwen2Config's default
    if (mwl < nLayer && h.sliding_window !== null && h.sliding_window !== undefined) {
      throw new UserError(
        `${file}: use_sliding_window = true with sliding_window ${String(h.sliding_window)} on layers ${mwl}..${nLayer - 1} (max_window_layers ${mwl}): sliding-window attention is not supported`,
      );
    }
  }
}

/**
 * LlamaModel.generate_extra_tensors for `rope_type: llama3`: per rotary frequency
 * freq_i = 1 / theta^(2i/dim) (i < dim/2), with wavelength w_i = 2 pi / freq_i,
 *   factor_i = 1                                  if w_i < L / high_freq_factor
 *            = factor                             if w_i > L / low_freq_factor
 *            = 1 / ((1 - s) / factor + s),  s = (L / w_i - low_freq_factor) / (high_freq_factor - low_freq_factor)   otherwise
 * (L = original_max_position_embeddings). llama.cpp divides each rotation angle by factor_i, which
 * is Hugging Face's `_compute_llama3_parameters` (inv_freq / factor for long wavelengths, a smooth
 * blend in between; Meta's Llama 3.1 RoPE scaling).
 *
 * Computed in float32 the way the Python code's torch operations round: `x / tensor` is
 * reciprocal-then-multiply (Tensor.__rtruediv__), Python scalars enter float32 ops as float32.
 * torch's vectorised pow (SLEEF, 1-ulp) may differ from the correctly rounded power used here in
 * the last bit of a frequency.
 */
function llama3RopeFactors(theta: number, dim: number, rope: Extract<RopeScaling, { type: 'llama3' }>): Float32Array {
  const f = Math.fround;
  const { factor, lowFreqFactor: lff, highFreqFactor: hff, originalContext: L } = rope;
  const lowWavelen = f(L / lff);
  const highWavelen = f(L / hff);
  const twoPi = f(2 * Math.PI);
  const out = new Float32Array(dim / 2);
  for (let j = 0; j < dim / 2; j++) {
    const exponent = f((2 * j) / dim);
    const freq = f(1 / f(Math.pow(f(theta), exponent)));
    const wavelen = f(f(1 / freq) * twoPi);
    if (wavelen < highWavelen) out[j] = 1;
    else if (wavelen > lowWavelen) out[j] = factor;
    else {
      const smooth = f(f(f(f(1 / wavelen) * f(L)) - f(lff)) / f(hff - lff));
      out[j] = f(1 / f(f(f(1 - smooth) / f(factor)) + smooth));
    }
  }
  return out;
}

function ropeScaling(arch: ArchName, h: Json, file: string): RopeScaling {
  const p = ropeParameters(h, file);
  if ('mrope_section' in p) throw new UserError(`${file}: rope_scaling.mrope_section (multimodal RoPE) is not supported`);
  const t = p.rope_type;
  if (t === undefined || t === null || t === 'default') return { type: 'none' };
  if (typeof t !== 'string') throw new UserError(`${file}: rope_scaling.rope_type must be a string, got ${JSON.stringify(t)}`);
  const supported = SUPPORTED_ROPE_SCALINGS[arch];
  if (t === 'linear' && supported.includes('linear')) {
    if (p.factor === undefined || p.factor === null) throw new UserError(`${file}: rope_scaling type 'linear' needs a factor`);
    return { type: 'linear', factor: positive(p.factor, 'rope_scaling.factor', file) };
  }
  if (t.toLowerCase() === 'llama3' && supported.includes('llama3')) {
    const get = (k: string, d: number) => (p[k] === undefined || p[k] === null ? d : positive(p[k], `rope_scaling.${k}`, file));
    const r = {
      type: 'llama3' as const,
      factor: get('factor', 8),
      lowFreqFactor: get('low_freq_factor', 1),
      highFreqFactor: get('high_freq_factor', 4),
      originalContext: get('original_max_position_embeddings', 8192),
    };
    if (r.lowFreqFactor === r.highFreqFactor) throw new UserError(`${file}: rope_scaling llama3 with low_freq_factor = high_freq_factor (${r.lowFreqFactor}) divides by zero`);
    return r;
  }
  throw new UserError(
    `${file}: rope scaling '${t}' is not supported for ${arch} (supported: ${supported.length ? supported.join(', ') : 'none'}; ` +
      `convert_hf_to_gguf.py writes ${t === 'yarn' ? 'YaRN keys that unlearnkit does not compute' : 'nothing llama.cpp would compute it from'})`,
  );
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
    return {
      arch,
      nLayer,
      nEmbd,
      nHead,
      nHeadKv: nHead,
      headDim: nEmbd / nHead,
      nFf,
      nCtx,
      nVocab: h.vocab_size as number | undefined,
      tied,
      rope: { type: 'none' },
      ropeTheta: 10000,
      entries,
      fileTypeAt: entries.length,
      warnings,
    };
  }

  // llama, qwen2, qwen3: TextModel.set_gguf_parameters (+ LlamaModel's vocab_size and rope dims)
  const nEmbd = posInt(h, ['hidden_size', 'n_embd', 'dim'], file);
  const nHead = posInt(h, ['num_attention_heads', 'n_head', 'n_heads'], file);
  const kvRaw = find(h, ['num_key_value_heads', 'n_kv_heads']);
  const nHeadKv = kvRaw === undefined ? nHead : posInt(h, ['num_key_value_heads', 'n_kv_heads'], file);
  const nFf = posInt(h, ['intermediate_size', 'n_inner', 'hidden_dim'], file);
  refuseUnconverted(arch, h, file, nLayer);
  const rope = ropeScaling(arch, h, file);
  if (nHead % nHeadKv !== 0) throw new UserError(`${file}: num_attention_heads ${nHead} is not a multiple of num_key_value_heads ${nHeadKv}`);
  const headDimRaw = h.head_dim;
  let headDim: number;
  if (headDimRaw === undefined || headDimRaw === null) {
    if (nEmbd % nHead !== 0) throw new UserError(`${file}: hidden_size ${nEmbd} is not a multiple of num_attention_heads ${nHead} (and there is no head_dim)`);
    headDim = nEmbd / nHead;
  } else headDim = posInt(h, ['head_dim'], file);
  if (headDim % 2 !== 0) throw new UserError(`${file}: the head size ${headDim} must be even for rotary embeddings`);
  const nCtxRaw = find(h, ['max_position_embeddings', 'n_ctx', 'n_positions', 'max_length', 'max_sequence_length', 'model_max_length']);
  if (nCtxRaw === undefined) warnings.push('max_position_embeddings is not in config.json; writing context_length 2048');
  const nCtx = posInt(h, ['max_position_embeddings', 'n_ctx', 'n_positions', 'max_length', 'max_sequence_length', 'model_max_length'], file, 2048);
  const entries: MetaEntry[] = [
    [`${arch}.block_count`, nLayer, 'uint32'],
    [`${arch}.context_length`, nCtx, 'uint32'],
    [`${arch}.embedding_length`, nEmbd, 'uint32'],
    [`${arch}.feed_forward_length`, nFf, 'uint32'],
    [`${arch}.attention.head_count`, nHead, 'uint32'],
  ];
  if (kvRaw !== undefined) entries.push([`${arch}.attention.head_count_kv`, nHeadKv, 'uint32']);
  if (rope.type === 'linear') entries.push([`${arch}.rope.scaling.type`, 'linear', 'string'], [`${arch}.rope.scaling.factor`, rope.factor, 'float32']);
  const rp = ropeParameters(h, file);
  const theta = find(h, ['global_rope_theta', 'rope_global_theta', 'rope_theta_global', 'rope_theta', 'rotary_emb_base']) ?? rp.rope_theta;
  if (theta !== undefined && (typeof theta !== 'number' || !Number.isFinite(theta) || theta <= 0)) {
    throw new UserError(`${file}: rope_theta must be a positive number, got ${JSON.stringify(theta)}`);
  }
  if (typeof theta === 'number') entries.push([`${arch}.rope.freq_base`, theta, 'float32']);
  else warnings.push('rope_theta is not in config.json; llama.cpp and Hugging Face both default to 10000 (no rope.freq_base written, as convert_hf_to_gguf.py does)');
  entries.push([`${arch}.attention.layer_norm_rms_epsilon`, num(h, ['rms_norm_eps', 'norm_eps'], file, 1e-6, warnings), 'float32']);
  if (typeof headDimRaw === 'number') entries.push([`${arch}.attention.key_length`, headDim, 'uint32'], [`${arch}.attention.value_length`, headDim, 'uint32']);
  const fileTypeAt = entries.length;
  const nVocab = typeof h.vocab_size === 'number' ? h.vocab_size : undefined;
  if (arch === 'llama') {
    if (nVocab !== undefined) entries.push(['llama.vocab_size', nVocab, 'uint32']);
    entries.push(['llama.rope.dimension_count', headDim, 'uint32']);
  }
  const tied = h.tie_word_embeddings === true;
  return { arch, nLayer, nEmbd, nHead, nHeadKv, headDim, nFf, nCtx, nVocab, tied, rope, ropeTheta: typeof theta === 'number' ? theta : 10000, entries, fileTypeAt, warnings };
}

/** Tensors the converter generates rather than reads (LlamaModel.generate_extra_tensors); written first. */
export function extraTensors(hp: ArchHparams): Array<{ name: string; data: Float32Array; why: string }> {
  if (hp.rope.type !== 'llama3') return [];
  return [{ name: 'rope_freqs.weight', data: llama3RopeFactors(hp.ropeTheta, hp.headDim, hp.rope), why: 'llama3 RoPE frequency factors' }];
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

/** tensor_mapping.py for the LLaMA-like families (q_norm/k_norm exist in Qwen3 only and are checked against the expected list). */
const LLAMA_BLOCK: Record<string, string> = {
  input_layernorm: 'attn_norm',
  'self_attn.q_proj': 'attn_q',
  'self_attn.k_proj': 'attn_k',
  'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output',
  'self_attn.q_norm': 'attn_q_norm',
  'self_attn.k_norm': 'attn_k_norm',
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
  // LlamaModel.modify_tensors permutes q_proj/k_proj weights and biases
  if (hp.arch === 'llama' && /q_proj\.(weight|bias)$/.test(hfName)) return { name, transform: 'permute_q' };
  if (hp.arch === 'llama' && /k_proj\.(weight|bias)$/.test(hfName)) return { name, transform: 'permute_k' };
  return { name };
}

/**
 * Names and ggml shapes (ne order) of the tensors llama.cpp's loader reads for a converted model
 * (src/models/<arch>.cpp load_arch_tensors), restricted to what the Hugging Face class has: the
 * file must hold exactly these. `output.weight` only when the output is not tied.
 */
export function expectedTensors(hp: ArchHparams, nVocab: number, hasOutput: boolean): Array<{ name: string; ne: number[] }> {
  const d = hp.nEmbd;
  const out: Array<{ name: string; ne: number[] }> = [];
  if (hp.rope.type === 'llama3') out.push({ name: 'rope_freqs.weight', ne: [hp.headDim / 2] });
  out.push({ name: 'token_embd.weight', ne: [d, nVocab] });
  if (hp.arch === 'gpt2') out.push({ name: 'position_embd.weight', ne: [d, hp.nCtx] });
  const q = hp.nHead * hp.headDim;
  const kv = hp.nHeadKv * hp.headDim;
  for (let l = 0; l < hp.nLayer; l++) {
    const b = `blk.${l}`;
    if (hp.arch === 'gpt2') {
      out.push(...gpt2BlockTensors(l, d, hp.nFf));
      continue;
    }
    out.push(
      { name: `${b}.attn_norm.weight`, ne: [d] },
      { name: `${b}.attn_q.weight`, ne: [d, q] },
      { name: `${b}.attn_k.weight`, ne: [d, kv] },
      { name: `${b}.attn_v.weight`, ne: [d, kv] },
    );
    if (hp.arch === 'qwen2') out.push({ name: `${b}.attn_q.bias`, ne: [q] }, { name: `${b}.attn_k.bias`, ne: [kv] }, { name: `${b}.attn_v.bias`, ne: [kv] });
    if (hp.arch === 'qwen3') out.push({ name: `${b}.attn_q_norm.weight`, ne: [hp.headDim] }, { name: `${b}.attn_k_norm.weight`, ne: [hp.headDim] });
    out.push(
      { name: `${b}.attn_output.weight`, ne: [q, d] },
      { name: `${b}.ffn_norm.weight`, ne: [d] },
      { name: `${b}.ffn_gate.weight`, ne: [d, hp.nFf] },
      { name: `${b}.ffn_up.weight`, ne: [d, hp.nFf] },
      { name: `${b}.ffn_down.weight`, ne: [hp.nFf, d] },
    );
  }
  out.push({ name: 'output_norm.weight', ne: [d] });
  if (hp.arch === 'gpt2') out.push({ name: 'output_norm.bias', ne: [d] });
  if (hasOutput) out.push({ name: 'output.weight', ne: [d, nVocab] });
  return out;
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
