/**
 * The `qwen3` family (llama.cpp LLM_ARCH_QWEN3, src/models/qwen3.cpp): Qwen3 dense models. The
 * LLaMA decoder (../llama.ts) with a per-head RMSNorm of q and k before rope NEOX, and a head size
 * of its own (qwen3.attention.key_length, 128 in Qwen3-0.6B where n_embd / n_head = 64):
 *   q, k, v = W_q h, W_k h, W_v h                      (q: head_dim * n_head rows)
 *   q, k = rms_norm(q) * attn_q_norm, rms_norm(k) * attn_k_norm   (over each head's head_dim values)
 *   q, k = rope_neox(q), rope_neox(k)
 *   x = x + W_o attention(q, k, v)                     (W_o: [head_dim * n_head, n_embd])
 * Optional in llama.cpp and implemented here: Q/K/V biases. Refused: fused attn_qkv, the reranker
 * head cls.output (with classifier.output_labels).
 */
import * as op from '../../engine/ops.ts';
import { buildLlama, type DecoderVariant } from '../llama.ts';
import { decoderTensors, readDecoderConfig, validateDecoder } from './decoder.ts';
import { COMMON_KEYS } from './keys.ts';
import type { ArchFamily } from './types.ts';

const QWEN3: DecoderVariant = { ropeMode: op.ROPE_NEOX, qkNorm: true, attnBias: false, freqFactors: false, ownHeadSize: true };

export const qwen3: ArchFamily = {
  name: 'qwen3',
  description: 'Qwen3 (dense): LLaMA decoder with per-head Q/K RMSNorm, rope NEOX, head size from key_length',
  keys: {
    ...COMMON_KEYS,
    'attention.layer_norm_rms_epsilon': { kind: 'read', why: 'RMSNorm epsilon (also of the Q/K norms)' },
  },
  readConfig: (r, tensors) => readDecoderConfig(r, tensors, QWEN3),
  validate: (c, where) => validateDecoder(c, where, QWEN3),
  tensors: (c) => decoderTensors(c, QWEN3),
  build: (c, w, inp, mode) => buildLlama(c, w, inp, mode, QWEN3),
  backward: 'manual',
  nodesPerLayer: 140,
};
