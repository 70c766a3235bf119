/**
 * Quantising a GGUF model the way llama.cpp's `llama-quantize` does (src/llama-quant.cpp of the
 * pinned build): the same choice of type for every tensor, the same bytes (each row quantised by
 * ggml_quantize_chunk, the function llama.cpp calls), the same metadata changes and tensor order.
 *
 * Which type a tensor gets (llama_tensor_get_type):
 *   - only tensors of >= 2 dimensions whose names end in "weight" are quantised, never norms,
 *     position embeddings, MoE gates and a list of small special tensors (tensor_allows_quantization);
 *   - a file type (llama_ftype) has a default type (Q4_K for Q4_K_M, ...); a mix then moves some
 *     tensors to more bits: the output matrix (and the token embedding when it is tied to the
 *     output) gets Q6_K (Q8_0 when its rows are not whole 256-blocks, Q8_0 stays Q8_0); in Q4_K_M /
 *     Q5_K_M the attn_v (or fused attn_qkv) and ffn_down matrices of the "use more bits" layers
 *     (the first and last eighth, and every third in between) get Q6_K; Q2_K / Q3_K_* / Q4_K_S have
 *     their own rules, transcribed below;
 *   - a tensor whose rows (ne[0]) are not whole blocks of its type falls back: Q4_K -> Q5_0,
 *     Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0, and F16 when even 32-blocks do not fit
 *     (tensor_type_fallback; e.g. SmolLM2's d = 576, Qwen2.5-0.5B's d = 896);
 *   - `pure` (llama-quantize --pure) skips the mix: every quantisable tensor gets the default type
 *     (with the fallback).
 * Metadata: every key is copied, then general.quantization_version (2) and general.file_type (the
 * llama_ftype) are set, in that order, at the end. Tensors are written in llama.cpp's order (those
 * outside blocks first, then block by block; by name within each).
 *
 * Checked against llama.cpp's own llama_model_quantize (test/model/quantize.test.ts: tensor types
 * and bytes equal).
 */
import { GgufMetadata, GgmlType, ggmlTypeName, readGguf, readTensorRaw, tensorNumel, writeGguf, type GgufFile, type GgufTensorSpec } from './gguf.ts';
import { decodeBf16, decodeF16, ggmlTypeTraits } from './ggufTypes.ts';
import { getEngine } from '../engine/engine.ts';
import { ggmlQuantizeRows, ggmlToFloat } from '../engine/ffi.ts';
import { UserError } from '../util/errors.ts';

/** llama_ftype values (include/llama.h): what general.file_type holds. */
export const LlamaFtype = {
  ALL_F32: 0,
  MOSTLY_F16: 1,
  MOSTLY_Q4_0: 2,
  MOSTLY_Q4_1: 3,
  MOSTLY_Q8_0: 7,
  MOSTLY_Q5_0: 8,
  MOSTLY_Q5_1: 9,
  MOSTLY_Q2_K: 10,
  MOSTLY_Q3_K_S: 11,
  MOSTLY_Q3_K_M: 12,
  MOSTLY_Q3_K_L: 13,
  MOSTLY_Q4_K_S: 14,
  MOSTLY_Q4_K_M: 15,
  MOSTLY_Q5_K_S: 16,
  MOSTLY_Q5_K_M: 17,
  MOSTLY_Q6_K: 18,
  MOSTLY_BF16: 32,
} as const;
export type LlamaFtype = (typeof LlamaFtype)[keyof typeof LlamaFtype];

/**
 * The targets of `unlearnkit quantize --type`: llama-quantize's file types by their lower-case
 * names, and q3_k / q4_k / q5_k for "every quantisable tensor in that one type" (llama-quantize
 * --pure Q3_K_S / Q4_K_S / Q5_K_S, whose file type they write).
 */
export const QUANTIZE_TARGETS = {
  f32: { ftype: LlamaFtype.ALL_F32, pure: false },
  f16: { ftype: LlamaFtype.MOSTLY_F16, pure: false },
  bf16: { ftype: LlamaFtype.MOSTLY_BF16, pure: false },
  q8_0: { ftype: LlamaFtype.MOSTLY_Q8_0, pure: false },
  q4_0: { ftype: LlamaFtype.MOSTLY_Q4_0, pure: false },
  q4_1: { ftype: LlamaFtype.MOSTLY_Q4_1, pure: false },
  q5_0: { ftype: LlamaFtype.MOSTLY_Q5_0, pure: false },
  q5_1: { ftype: LlamaFtype.MOSTLY_Q5_1, pure: false },
  q2_k: { ftype: LlamaFtype.MOSTLY_Q2_K, pure: false },
  q3_k: { ftype: LlamaFtype.MOSTLY_Q3_K_S, pure: true },
  q3_k_s: { ftype: LlamaFtype.MOSTLY_Q3_K_S, pure: false },
  q3_k_m: { ftype: LlamaFtype.MOSTLY_Q3_K_M, pure: false },
  q3_k_l: { ftype: LlamaFtype.MOSTLY_Q3_K_L, pure: false },
  q4_k: { ftype: LlamaFtype.MOSTLY_Q4_K_S, pure: true },
  q4_k_s: { ftype: LlamaFtype.MOSTLY_Q4_K_S, pure: false },
  q4_k_m: { ftype: LlamaFtype.MOSTLY_Q4_K_M, pure: false },
  q5_k: { ftype: LlamaFtype.MOSTLY_Q5_K_S, pure: true },
  q5_k_s: { ftype: LlamaFtype.MOSTLY_Q5_K_S, pure: false },
  q5_k_m: { ftype: LlamaFtype.MOSTLY_Q5_K_M, pure: false },
  q6_k: { ftype: LlamaFtype.MOSTLY_Q6_K, pure: false },
} as const satisfies Record<string, { ftype: LlamaFtype; pure: boolean }>;
export type QuantizeTarget = keyof typeof QUANTIZE_TARGETS;
export const QUANTIZE_TARGET_NAMES = Object.keys(QUANTIZE_TARGETS) as QuantizeTarget[];

const T = GgmlType;

/** llama_ftype_get_default_type for the file types above. */
function defaultType(ftype: LlamaFtype): number {
  switch (ftype) {
    case LlamaFtype.ALL_F32:
      return T.F32;
    case LlamaFtype.MOSTLY_F16:
      return T.F16;
    case LlamaFtype.MOSTLY_BF16:
      return T.BF16;
    case LlamaFtype.MOSTLY_Q4_0:
      return T.Q4_0;
    case LlamaFtype.MOSTLY_Q4_1:
      return T.Q4_1;
    case LlamaFtype.MOSTLY_Q5_0:
      return T.Q5_0;
    case LlamaFtype.MOSTLY_Q5_1:
      return T.Q5_1;
    case LlamaFtype.MOSTLY_Q8_0:
      return T.Q8_0;
    case LlamaFtype.MOSTLY_Q2_K:
      return T.Q2_K;
    case LlamaFtype.MOSTLY_Q3_K_S:
    case LlamaFtype.MOSTLY_Q3_K_M:
    case LlamaFtype.MOSTLY_Q3_K_L:
      return T.Q3_K;
    case LlamaFtype.MOSTLY_Q4_K_S:
    case LlamaFtype.MOSTLY_Q4_K_M:
      return T.Q4_K;
    case LlamaFtype.MOSTLY_Q5_K_S:
    case LlamaFtype.MOSTLY_Q5_K_M:
      return T.Q5_K;
    case LlamaFtype.MOSTLY_Q6_K:
      return T.Q6_K;
  }
}

const isQuantizedType = (t: number) => t !== T.F32 && t !== T.F16 && t !== T.BF16 && (ggmlTypeTraits(t)?.blockSize ?? 1) > 1;
const blockSize = (t: number) => ggmlTypeTraits(t)!.blockSize;

/** Broad tensor categories of llama-quant.cpp (tensor_get_category). */
type Category = 'token_embd' | 'attn_q' | 'attn_v' | 'attn_k' | 'attn_qkv' | 'attn_kv_b' | 'attn_output' | 'ffn_up' | 'ffn_gate' | 'ffn_down' | 'output' | 'other';

function categoryOf(name: string): Category {
  if (name === 'output.weight') return 'output';
  if (name === 'token_embd.weight' || name === 'per_layer_token_embd.weight') return 'token_embd';
  if (name.includes('attn_qkv.weight')) return 'attn_qkv';
  if (name.includes('attn_kv_b.weight')) return 'attn_kv_b';
  if (name.includes('attn_v.weight')) return 'attn_v';
  if (name.includes('attn_k.weight')) return 'attn_k';
  if (name.includes('attn_q.weight')) return 'attn_q';
  if (name.includes('attn_output.weight')) return 'attn_output';
  if (name.includes('ffn_up')) return 'ffn_up';
  if (name.includes('ffn_gate')) return 'ffn_gate';
  if (name.includes('ffn_down')) return 'ffn_down';
  return 'other';
}

const isAttnVLike = (c: Category) => c === 'attn_v' || c === 'attn_qkv' || c === 'attn_kv_b';

/** Substrings of tensor names llama.cpp never quantises (tensor_allows_quantization). */
const NEVER_QUANTISED = [
  '_norm.weight',
  'ffn_gate_inp.weight',
  'ffn_gate_tid2eid.weight',
  'altup',
  'laurel',
  'per_layer_model_proj',
  'ssm_conv1d',
  'shortconv.conv.weight',
  'indexer.k_proj.weight',
  'indexer.q_proj.weight',
  'time_mix_first.weight',
  'time_mix_w0.weight',
  'time_mix_w1.weight',
  'time_mix_w2.weight',
  'time_mix_v0.weight',
  'time_mix_v1.weight',
  'time_mix_v2.weight',
  'time_mix_a0.weight',
  'time_mix_a1.weight',
  'time_mix_a2.weight',
  'time_mix_g1.weight',
  'time_mix_g2.weight',
  'time_mix_decay_w1.weight',
  'time_mix_decay_w2.weight',
  'time_mix_lerp_fused.weight',
  'attn_rel_b.weight',
  '.position_embd',
  'sam.pos_embd',
  'sam.neck.',
  'sam.net_',
  '.rel_pos',
  '.patch_embd',
  '.patch_merger',
  'a.rvq.codebook',
  'mm.a.code_embd',
];

/** ggml_n_dims: dimensions up to the last one above 1 (at least 1). */
function nDims(ne: readonly number[]): number {
  let n = ne.length;
  while (n > 1 && ne[n - 1] === 1) n--;
  return Math.max(1, n);
}

/** tensor_allows_quantization (quantize_output_tensor and only_copy at llama-quantize's defaults). */
function tensorAllowsQuantization(name: string, ne: readonly number[]): boolean {
  if (nDims(ne) < 2) return false;
  if (!name.endsWith('weight')) return false;
  if (NEVER_QUANTISED.some((s) => name.includes(s))) return false;
  // LLM_TENSOR_POS_EMBD and LLM_TENSOR_TOKEN_TYPES, whose names are the same for every architecture
  return name !== 'position_embd.weight' && name !== 'token_types.weight';
}

/** The model facts the rules read (llama_hparams, llama_model::type, the architecture). */
interface QuantModelInfo {
  arch: string;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nExpert: number;
  /** LLM_TYPE_70B (LLaMA with 80 blocks and grouped-query attention): attn_v gets more bits. */
  is70B: boolean;
}

/** The rule inputs from a GGUF's metadata, as llama.cpp's load_hparams reads them. */
function quantModelInfo(file: GgufFile): QuantModelInfo {
  const arch = file.metadata.get('general.architecture');
  if (typeof arch !== 'string') throw new UserError(`${file.path}: general.architecture is missing; llama.cpp's quantiser needs it`);
  const num = (key: string, fallback?: number): number => {
    const v = file.metadata.get(`${arch}.${key}`);
    if (typeof v === 'number') return v;
    if (Array.isArray(v) && typeof v[0] === 'number') return v[0] as number; // per-layer arrays: the rules read layer 0's
    if (fallback !== undefined) return fallback;
    throw new UserError(`${file.path}: ${arch}.${key} is missing; llama.cpp's quantiser needs it`);
  };
  const nLayer = num('block_count');
  const nHead = num('attention.head_count', 0);
  const nHeadKv = num('attention.head_count_kv', nHead);
  return { arch, nLayer, nHead, nHeadKv, nExpert: num('expert_count', 0), is70B: arch === 'llama' && nLayer === 80 && nHead !== nHeadKv };
}

/** One tensor's planned conversion. */
interface TensorPlan {
  name: string;
  ne: number[];
  /** Stored type in the input. */
  from: number;
  /** Type in the output (= from when copied unchanged). */
  to: number;
  /** Set when the rows did not fit the chosen type: the type the rules chose before the fallback. */
  fellBackFrom?: number;
}

/** llama.cpp's tensor order (llama_model_loader::weight_name_comparer): by block number (-1 outside blocks), then by name. */
function llamaCppTensorOrder<T extends { name: string }>(tensors: readonly T[]): T[] {
  const layer = (n: string) => {
    const m = /^blk\.(\d+)\./.exec(n);
    return m ? Number(m[1]) : -1;
  };
  return [...tensors].sort((a, b) => layer(a.name) - layer(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The output type of every tensor (llama_tensor_get_type over the tensors in llama.cpp's order,
 * with its counters), for a file type and `pure`.
 */
function planQuantization(tensors: ReadonlyArray<{ name: string; ne: readonly number[]; type: number }>, info: QuantModelInfo, ftype: LlamaFtype, pure = false): TensorPlan[] {
  const ordered = llamaCppTensorOrder(tensors);
  const def = defaultType(ftype);
  const F = LlamaFtype;
  const nGqa = info.nHeadKv > 0 ? Math.trunc(info.nHead / info.nHeadKv) : 0;
  const falcon = info.arch === 'falcon';
  // init_quantize_state_counters
  let nAttentionWv = 0;
  let tiedEmbeddings = true;
  for (const t of ordered) {
    const c = categoryOf(t.name);
    if (isAttnVLike(c)) nAttentionWv++;
    if (c === 'output') tiedEmbeddings = false;
  }
  const nFfn = info.nLayer;
  let iAttentionWv = 0;
  let iFfnDown = 0; // (the ffn_gate / ffn_up counters only matter to the IQ3_XS rules)
  const useMoreBits = (i: number, n: number) => i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;
  // for MoE models the layer comes from the name (the experts of a layer are not consecutive)
  const layerOf = (i: number, name: string): number => {
    if (info.nExpert <= 1) return i;
    const m = /^blk\.(\d+)\./.exec(name);
    if (!m) throw new UserError(`cannot determine the layer of tensor ${name}`);
    return Number(m[1]);
  };

  /** llama_tensor_get_type_impl for the file types above (no importance matrix, no overrides). */
  const mixType = (t: { name: string; ne: readonly number[] }, cat: Category): number => {
    let nt = def;
    if (cat === 'output' || (tiedEmbeddings && cat === 'token_embd')) {
      const nx = t.ne[0]!;
      if (falcon || nx % blockSize(nt) !== 0) nt = T.Q8_0;
      else if (nt !== T.Q8_0) nt = T.Q6_K;
    } else if (cat === 'token_embd') {
      // only the IQ/TQ file types change an untied token embedding
    } else if (isAttnVLike(cat)) {
      if (ftype === F.MOSTLY_Q2_K) nt = nGqa >= 4 ? T.Q4_K : T.Q3_K;
      else if (ftype === F.MOSTLY_Q3_K_M) nt = iAttentionWv < 2 ? T.Q5_K : T.Q4_K;
      else if (ftype === F.MOSTLY_Q3_K_L) nt = T.Q5_K;
      else if ((ftype === F.MOSTLY_Q4_K_M || ftype === F.MOSTLY_Q5_K_M) && useMoreBits(iAttentionWv, nAttentionWv)) nt = T.Q6_K;
      else if (ftype === F.MOSTLY_Q4_K_S && iAttentionWv < 4) nt = T.Q5_K;
      if (info.is70B && (nt === T.Q3_K || nt === T.Q4_K)) nt = T.Q5_K;
      if (info.nExpert === 8) nt = T.Q8_0;
      iAttentionWv++;
    } else if (cat === 'attn_k') {
      if (info.nExpert === 8) nt = T.Q8_0;
    } else if (cat === 'attn_q') {
      // only the IQ3 file types
    } else if (cat === 'ffn_down') {
      const iLayer = layerOf(iFfnDown, t.name);
      const nLayer = nFfn;
      if (ftype === F.MOSTLY_Q2_K) nt = T.Q3_K;
      else if (ftype === F.MOSTLY_Q3_K_M) {
        nt = iLayer < Math.trunc(nLayer / 16) ? T.Q5_K : !falcon || useMoreBits(iLayer, nLayer) ? T.Q4_K : T.Q3_K;
      } else if (ftype === F.MOSTLY_Q3_K_L) nt = falcon ? T.Q4_K : T.Q5_K;
      else if (ftype === F.MOSTLY_Q4_K_M) {
        if (falcon) nt = iLayer < Math.trunc(nLayer / 16) ? T.Q6_K : useMoreBits(iLayer, nLayer) ? T.Q5_K : T.Q4_K;
        else if (useMoreBits(iLayer, nLayer)) nt = T.Q6_K;
      } else if (ftype === F.MOSTLY_Q5_K_M && useMoreBits(iLayer, nLayer)) nt = T.Q6_K;
      else if (ftype === F.MOSTLY_Q4_K_S && !falcon && iLayer < Math.trunc(nLayer / 8)) nt = T.Q5_K;
      iFfnDown++;
    } else if (cat === 'attn_output') {
      if (!falcon) {
        if (info.nExpert === 8) {
          if (ftype === F.MOSTLY_Q2_K || ftype === F.MOSTLY_Q3_K_S || ftype === F.MOSTLY_Q3_K_M || ftype === F.MOSTLY_Q4_K_S || ftype === F.MOSTLY_Q4_K_M) nt = T.Q5_K;
        } else if (ftype === F.MOSTLY_Q2_K) nt = T.Q3_K;
        else if (ftype === F.MOSTLY_Q3_K_M) nt = T.Q4_K;
        else if (ftype === F.MOSTLY_Q3_K_L) nt = T.Q5_K;
      } else if (ftype === F.MOSTLY_Q3_K_L) nt = T.Q4_K;
    }
    return nt;
  };

  /** tensor_type_fallback: rows that are not whole blocks of the chosen type. */
  const fallback = (ncols: number, target: number): number => {
    if (ncols % blockSize(target) === 0) return target;
    let r: number;
    switch (target) {
      case T.Q2_K:
      case T.Q3_K:
        r = T.Q4_0;
        break;
      case T.Q4_K:
        r = T.Q5_0;
        break;
      case T.Q5_K:
        r = T.Q5_1;
        break;
      case T.Q6_K:
        r = T.Q8_0;
        break;
      default:
        r = target; // already a 32-block type
    }
    return ncols % blockSize(r) === 0 ? r : T.F16;
  };

  const out: TensorPlan[] = [];
  for (const t of ordered) {
    const plan: TensorPlan = { name: t.name, ne: [...t.ne], from: t.type, to: t.type };
    if (tensorAllowsQuantization(t.name, t.ne)) {
      let nt = def;
      if (isQuantizedType(def)) {
        if (!pure) nt = mixType(t, categoryOf(t.name));
        const fb = fallback(t.ne[0]!, nt);
        if (fb !== nt) plan.fellBackFrom = nt;
        nt = fb;
      }
      plan.to = nt;
    }
    out.push(plan);
  }
  return out;
}

export interface QuantizeOptions {
  type: QuantizeTarget;
  /** Skip the mix (llama-quantize --pure): every quantisable tensor in the target's default type. */
  pure?: boolean;
  /** Allow re-quantising tensors that are already block-quantised (llama-quantize --allow-requantize). */
  allowRequantize?: boolean;
}

export interface QuantizeResult {
  input: string;
  output: string;
  type: QuantizeTarget;
  ftype: number;
  pure: boolean;
  tensors: Array<{ name: string; ne: number[]; from: string; to: string; fellBackFrom?: string }>;
  bytesIn: number;
  bytesOut: number;
  /** Tensors whose rows did not fit the chosen type (llama.cpp's "required fallback quantization"). */
  fallbacks: number;
}

/** A tensor's stored values as float32, as llama.cpp's quantiser reads them (llama_tensor_dequantize_impl). */
function toF32(file: GgufFile, name: string, type: number, n: number): Float32Array {
  const bytes = readTensorRaw(file, name);
  if (type === T.F32) {
    const out = new Float32Array(n);
    new Uint8Array(out.buffer).set(bytes.subarray(0, 4 * n));
    return out;
  }
  if (type === T.F16) return decodeF16(bytes, n);
  if (type === T.BF16) return decodeBf16(bytes, n);
  return ggmlToFloat(getEngine().g, type, bytes, n);
}

/**
 * Quantise the GGUF `input` into `output` (see the module comment). Throws a UserError for a
 * target it does not know, a tensor of a type it cannot read, an already quantised tensor without
 * `allowRequantize`, and non-finite values.
 */
export function quantizeGguf(input: string, output: string, opts: QuantizeOptions): QuantizeResult {
  const target = QUANTIZE_TARGETS[opts.type as QuantizeTarget];
  if (!target) throw new UserError(`unknown quantisation type '${opts.type}'; use one of ${QUANTIZE_TARGET_NAMES.join(', ')}`);
  const pure = target.pure || !!opts.pure;
  const file = readGguf(input);
  const info = quantModelInfo(file);
  const plans = planQuantization(file.tensors, info, target.ftype, pure);
  const g = getEngine().g;
  const tensors: GgufTensorSpec[] = [];
  let bytesIn = 0;
  let bytesOut = 0;
  for (const p of plans) {
    const stored = file.tensors.find((t) => t.name === p.name)!;
    bytesIn += stored.nbytes;
    if (p.to === p.from) {
      const raw = readTensorRaw(file, p.name);
      tensors.push({ name: p.name, type: p.to as GgmlType, ne: p.ne, data: raw });
      bytesOut += raw.byteLength;
      continue;
    }
    if (isQuantizedType(p.from) && !opts.allowRequantize) {
      throw new UserError(`${input}: tensor ${p.name} is already ${ggmlTypeName(p.from)}; re-quantising loses precision twice (pass --allow-requantize, or start from the F16/F32 original)`);
    }
    if (p.from !== T.F32 && p.from !== T.F16 && p.from !== T.BF16 && !isQuantizedType(p.from)) {
      throw new UserError(`${input}: tensor ${p.name} has type ${ggmlTypeName(p.from)}, which cannot be converted (llama.cpp: "cannot dequantize/convert tensor type")`);
    }
    const n = tensorNumel(p);
    const values = toF32(file, p.name, p.from, n);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(values[i]!)) throw new UserError(`${input}: tensor ${p.name} holds a non-finite value (${values[i]}) at index ${i}; llama.cpp would reject the quantised data too`);
    }
    const bytes = ggmlQuantizeRows(g, p.to, values, n / p.ne[0]!, p.ne[0]!);
    tensors.push({ name: p.name, type: p.to as GgmlType, ne: p.ne, data: bytes });
    bytesOut += bytes.byteLength;
  }
  const metadata = new GgufMetadata(file.metadata.typedEntries());
  // gguf_set_val_u32 removes a key and appends it: both end up last, in this order
  metadata.delete('general.quantization_version');
  metadata.delete('general.file_type');
  for (const k of ['split.no', 'split.count', 'split.tensors.count']) metadata.delete(k);
  metadata.setTyped('general.quantization_version', 2, 'uint32');
  metadata.setTyped('general.file_type', target.ftype, 'uint32');
  writeGguf(output, { metadata, tensors, alignment: file.alignment });
  return {
    input,
    output,
    type: opts.type,
    ftype: target.ftype,
    pure,
    tensors: plans.map((p) => ({
      name: p.name,
      ne: p.ne,
      from: ggmlTypeName(p.from),
      to: ggmlTypeName(p.to),
      ...(p.fellBackFrom !== undefined ? { fellBackFrom: ggmlTypeName(p.fellBackFrom) } : {}),
    })),
    bytesIn,
    bytesOut,
    fallbacks: plans.filter((p) => p.fellBackFrom !== undefined).length,
  };
}
