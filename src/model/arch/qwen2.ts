/**
 * The `qwen2` family (llama.cpp LLM_ARCH_QWEN2, src/models/qwen2.cpp): Qwen2 / Qwen2.5. The LLaMA
 * decoder (../llama.ts) with biases on the Q, K and V projections and rope NEOX (each head's two
 * halves rotated against each other, HF's rotate_half, which convert_hf_to_gguf.py keeps for qwen2):
 *   q, k, v = W_q h + b_q, W_k h + b_k, W_v h + b_v
 *   q, k = rope_neox(q), rope_neox(k)
 * llama.cpp passes no rope freq factors for qwen2 (rope_freqs.weight is refused as unexpected).
 * Optional in llama.cpp and refused here: output.bias, fused attn_qkv.
 */
import * as op from '../../engine/ops.ts';
import { buildLlama, type DecoderVariant } from '../llama.ts';
import { decoderTensors, readDecoderConfig, validateDecoder } from './decoder.ts';
import { COMMON_KEYS } from './keys.ts';
import type { ArchFamily } from './types.ts';

const QWEN2: DecoderVariant = { ropeMode: op.ROPE_NEOX, qkNorm: false, attnBias: true, freqFactors: false, ownHeadSize: false };

export const qwen2: ArchFamily = {
  name: 'qwen2',
  description: 'Qwen2 / Qwen2.5: LLaMA decoder with Q/K/V biases and rope NEOX',
  keys: {
    ...COMMON_KEYS,
    'attention.layer_norm_rms_epsilon': { kind: 'read', why: 'RMSNorm epsilon' },
  },
  readConfig: (r, tensors) => readDecoderConfig(r, tensors, QWEN2),
  validate: (c, where) => validateDecoder(c, where, QWEN2),
  tensors: (c) => decoderTensors(c, QWEN2),
  build: (c, w, inp, mode) => buildLlama(c, w, inp, mode, QWEN2),
  backward: 'manual',
  nodesPerLayer: 130,
};
