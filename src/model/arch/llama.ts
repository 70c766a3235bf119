/**
 * The `llama` family (llama.cpp LLM_ARCH_LLAMA, src/models/llama.cpp): LLaMA 1/2/3.x, SmolLM /
 * SmolLM2, TinyLlama and other dense LLaMA-style GGUFs. RMSNorm, rope NORMAL (adjacent pairs, as
 * convert_hf_to_gguf.py permutes W_q / W_k for it), grouped-query attention, SwiGLU, tied or
 * untied output. RoPE variants, as llama.cpp applies them:
 *   plain:        theta_i = p * freq_base^(-2i / n_rot)
 *   rope_freqs:   theta_i / rope_freqs[i]   (Llama 3.1+ "llama3" scaling; the tensor is ggml_rope_ext's
 *                 freq_factors, computed by convert_hf_to_gguf.py from factor / low_freq_factor /
 *                 high_freq_factor / original_max_position_embeddings)
 *   linear:       theta_i * freq_scale, freq_scale = 1 / llama.rope.scaling.factor
 *   yarn, longrope and unknown types: refused by name (keys.ts ropeFreqScale).
 * Optional in llama.cpp and implemented here: Q/K/V biases. Optional in llama.cpp and refused here
 * (as unexpected tensors): fused attn_qkv, attn_output / ffn biases, mixture-of-experts tensors.
 */
import { buildLlama, LLAMA_VARIANT } from '../llama.ts';
import { decoderTensors, readDecoderConfig, validateDecoder } from './decoder.ts';
import { COMMON_KEYS } from './keys.ts';
import type { ArchFamily } from './types.ts';

/** rope NORMAL, no Q/K norms, no biases unless the file has them, rope_freqs.weight allowed. */
const LLAMA = LLAMA_VARIANT;

export const llama: ArchFamily = {
  name: 'llama',
  description: 'LLaMA-style decoder (LLaMA 1-3.x, SmolLM2, TinyLlama): RMSNorm, rope (plain, rope_freqs, linear), GQA, SwiGLU',
  keys: {
    ...COMMON_KEYS,
    'attention.layer_norm_rms_epsilon': { kind: 'read', why: 'RMSNorm epsilon' },
  },
  readConfig: (r, tensors) => readDecoderConfig(r, tensors, LLAMA),
  validate: (c, where) => validateDecoder(c, where, LLAMA),
  tensors: (c) => decoderTensors(c, LLAMA),
  build: (c, w, inp, mode) => buildLlama(c, w, inp, mode, LLAMA),
  backward: 'manual',
  nodesPerLayer: 120,
};
