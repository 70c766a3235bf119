/**
 * What the llama-like families (llama, qwen2, qwen3: RMSNorm, rotary embedding, grouped-query
 * attention, SwiGLU) share: the config reader, the tensor list and the structural checks, each
 * parameterised by the family's DecoderVariant (../llama.ts). The families differ in their
 * variant, their key table and their tensors; the forward graph is ../llama.ts buildLlama and the
 * backward ../llamaBackward.ts for all three.
 */
import { UserError } from '../../util/errors.ts';
import { hasAttnBias, type DecoderVariant } from '../llama.ts';
import { ropeFreqScale } from './keys.ts';
import { checkSizes, headDim, type Architecture, type KeyReader, type ModelConfig, type TensorSpec } from './types.ts';

/**
 * The config of a llama-like file, as llama.cpp's load_hparams derives it: head size from
 * attention.key_length (default n_embd / n_head), n_rot from rope.dimension_count (default the head
 * size, and llama.cpp requires them equal), rope freq_scale from the scaling keys (keys.ts
 * ropeFreqScale), Q/K/V biases and rope_freqs.weight from the tensors present.
 */
export function readDecoderConfig(r: KeyReader, tensors: ReadonlyMap<string, readonly number[]>, v: DecoderVariant): ModelConfig {
  const emb = tensors.get('token_embd.weight');
  if (!emb) throw new UserError(`${r.file.path}: no token_embd.weight tensor`);
  const nEmbd = r.num('embedding_length');
  const nHead = r.num('attention.head_count');
  const hasKeyLength = r.has('attention.key_length');
  if (!hasKeyLength && nEmbd % nHead !== 0) r.refuse('attention.head_count', `embedding length ${nEmbd} is not a multiple of ${nHead} heads and there is no ${r.arch}.attention.key_length`);
  const hd = r.opt('attention.key_length', nEmbd / nHead);
  if (hasKeyLength && !v.ownHeadSize && hd !== nEmbd / nHead) {
    r.refuse('attention.key_length', `head size ${hd} differs from n_embd / n_head = ${nEmbd / nHead}, which llama.cpp's ${r.arch} tensors and graph assume`);
  }
  const hdV = r.opt('attention.value_length', nEmbd / nHead);
  if (hdV !== hd) r.refuse('attention.value_length', `value head size ${hdV} differs from the key head size ${hd} (llama.cpp's ${r.arch} graph asserts they are equal)`);
  const ropeDims = r.opt('rope.dimension_count', hd);
  if (ropeDims !== hd) r.refuse('rope.dimension_count', `${ropeDims} rotary dimensions for heads of ${hd} (llama.cpp requires n_rot = head size for ${r.arch})`);
  const nVocab = emb[1] ?? 1;
  if (r.has('vocab_size') && r.num('vocab_size') !== nVocab) r.refuse('vocab_size', `${r.num('vocab_size')} tokens, but token_embd.weight has ${nVocab} rows`);
  const biases = [...tensors.keys()].some((n) => /^blk\.\d+\.attn_[qkv]\.bias$/.test(n));
  const c: ModelConfig = {
    arch: r.arch as Architecture,
    nEmbd,
    nLayer: r.num('block_count'),
    nHead,
    nHeadKv: r.opt('attention.head_count_kv', nHead),
    nFf: r.num('feed_forward_length'),
    nVocab,
    nCtx: r.num('context_length'),
    normEps: r.num('attention.layer_norm_rms_epsilon'),
    ropeDims,
    ropeFreqBase: r.opt('rope.freq_base', 10000),
    tiedOutput: !tensors.has('output.weight'),
  };
  if (hasKeyLength || r.has('attention.value_length')) c.headDim = hd;
  const scale = ropeFreqScale(r);
  if (scale !== 1) c.ropeFreqScale = scale;
  if (v.freqFactors && tensors.has('rope_freqs.weight')) c.ropeFreqFactors = true;
  if (biases !== v.attnBias) c.attnBias = biases;
  return c;
}

/** Structural checks of a llama-like config of a variant (throws UserError naming `where`). */
export function validateDecoder(c: ModelConfig, where: string, v: DecoderVariant): void {
  const bad = checkSizes(c, where);
  if (c.headDim === undefined && c.nEmbd % c.nHead !== 0) bad(`embedding length ${c.nEmbd} is not a multiple of ${c.nHead} heads`);
  const hd = headDim(c);
  if (!Number.isInteger(hd) || hd < 1) bad(`head size must be a positive integer, got ${hd}`);
  if (c.nHead % c.nHeadKv !== 0) bad(`${c.nHead} heads are not a multiple of ${c.nHeadKv} KV heads`);
  if (!v.ownHeadSize && hd !== c.nEmbd / c.nHead) bad(`${c.arch} heads are n_embd / n_head = ${c.nEmbd / c.nHead} wide, not ${hd}`);
  if (c.ropeFreqFactors && !v.freqFactors) bad(`${c.arch} has no rope frequency factors (rope_freqs.weight)`);
  if (c.ropeDims > hd || c.ropeDims % 2 !== 0 || c.ropeDims < 2) bad(`rope dimension ${c.ropeDims} must be even, >= 2 and <= the head size ${hd}`);
  if (!(c.normEps > 0)) bad(`norm epsilon must be positive, got ${c.normEps}`);
  if (c.ropeFreqScale !== undefined && !(c.ropeFreqScale > 0)) bad(`rope freq scale must be positive, got ${c.ropeFreqScale}`);
}

/** Tensors of a llama-like model, in llama.cpp's order (load_arch_tensors of llama.cpp / qwen2.cpp / qwen3.cpp). */
export function decoderTensors(c: ModelConfig, v: DecoderVariant): TensorSpec[] {
  const d = c.nEmbd;
  const hd = headDim(c);
  const dq = hd * c.nHead;
  const dkv = hd * c.nHeadKv;
  const bias = hasAttnBias(c, v);
  const out: TensorSpec[] = [{ name: 'token_embd.weight', ne: [d, c.nVocab] }];
  if (c.ropeFreqFactors) out.push({ name: 'rope_freqs.weight', ne: [c.ropeDims / 2], constant: true });
  for (let l = 0; l < c.nLayer; l++) {
    const b = `blk.${l}`;
    out.push({ name: `${b}.attn_norm.weight`, ne: [d] });
    for (const [s, n] of [['q', dq], ['k', dkv], ['v', dkv]] as const) {
      out.push({ name: `${b}.attn_${s}.weight`, ne: [d, n] });
      if (bias) out.push({ name: `${b}.attn_${s}.bias`, ne: [n] });
    }
    if (v.qkNorm) out.push({ name: `${b}.attn_q_norm.weight`, ne: [hd] }, { name: `${b}.attn_k_norm.weight`, ne: [hd] });
    out.push(
      { name: `${b}.attn_output.weight`, ne: [dq, d] },
      { name: `${b}.ffn_norm.weight`, ne: [d] },
      { name: `${b}.ffn_gate.weight`, ne: [d, c.nFf] },
      { name: `${b}.ffn_up.weight`, ne: [d, c.nFf] },
      { name: `${b}.ffn_down.weight`, ne: [c.nFf, d] },
    );
  }
  out.push({ name: 'output_norm.weight', ne: [d] });
  if (!c.tiedOutput) out.push({ name: 'output.weight', ne: [d, c.nVocab] });
  return out;
}
