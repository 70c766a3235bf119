/**
 * Weight changes as llama.cpp LoRA adapters (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large
 * Language Models"), and merged models for changes that cannot be adapters.
 *
 * llama.cpp (src/llama-adapter.cpp, src/llama-graph.cpp `build_lora_mm` / `build_inp_embd`)
 * applies an adapter to a weight W with ggml shape ne = [n_in, n_out] as
 *     y = W x + scale * B (A x),     scale = adapter_scale * alpha / r   (alpha = 0: adapter_scale)
 * where `<name>.lora_a` has ne [n_in, r] (A, r x n_in) and `<name>.lora_b` has ne [r, n_out]
 * (B, n_out x r), r = B's ne[0]. For `token_embd.weight` (ne = [n_embd, n_vocab]) the roles are
 * flipped: A has ne [r, n_vocab] and is looked up per token, B has ne [r, n_embd], and the
 * embedding of token t changes by scale * B a_t.
 *
 * Given a change Delta (same layout as W: n_out rows of n_in, row-major) we take the truncated SVD
 * Delta ~ U_k S_k V_k^T (exact when rank(Delta) <= maxRank: singular values below 1e-6 * s_1 are
 * zero) and store B = U_k sqrt(S_k) c, A = sqrt(S_k) V_k^T c with c = sqrt(r / alpha), so that
 * scale * B A = U_k S_k V_k^T at adapter scale 1. The reported relative Frobenius error
 * ||Delta - scale B A||_F / ||Delta||_F is computed from the float32 factors actually written.
 */
import { type GgufFile, type GgufTensorSpec, GgmlType, getMeta, getTensorInfo, readGguf, readTensorF32, readTensorRaw, requireMeta, writeGguf } from './gguf.ts';
import { truncatedSvd } from './linalg.ts';
import { parameterNames, type ModelConfig } from './config.ts';
import { resolveFilter } from './paramGroups.ts';
import type { CausalLM } from './model.ts';
import { Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';

export interface TensorDelta {
  /** Base model tensor name, e.g. "blk.0.attn_q.weight". */
  tensor: string;
  /** ggml shape [n_in, n_out] of the tensor (ne[0] fastest). */
  ne: [number, number] | number[];
  /** The change, same layout as the tensor (ne[1] rows of ne[0] values). */
  delta: Float32Array;
}

export interface LoraTensorReport {
  name: string;
  /** Rank of the stored factors (0: the delta is zero and no pair was written). */
  rank: number;
  /** Numerical rank of the delta (singular values > relTol * largest); a lower bound when truncated. */
  deltaRank: number;
  /** True when rank(delta) <= maxRank: the adapter reproduces the delta up to float32 rounding. */
  exact: boolean;
  /** ||delta - scale * B A||_F / ||delta||_F with the float32 factors written. */
  relError: number;
  /**
   * With SaveLoraOptions.maxRelError: whether the stored factors meet it (relError <= maxRelError,
   * or the delta's exact rank is stored). False means LoRA cannot hold this change within maxRank.
   */
  withinBudget?: boolean;
}

export interface SaveLoraOptions {
  /** The base model the adapter applies to (its architecture and tensor shapes are checked). */
  baseGgufPath: string;
  deltas: TensorDelta[];
  /** Largest rank per tensor (default 64): higher-rank deltas are truncated, and the error reported. */
  maxRank?: number;
  /** adapter.lora.alpha (default: maxRank). Any value gives the same effective change at scale 1. */
  alpha?: number;
  /** Relative singular value tolerance for the numerical rank (default 1e-6). */
  relTol?: number;
  /**
   * Error budget: per tensor the smallest rank k <= maxRank whose truncation error
   * sqrt(sum_{i>k} s_i^2) / ||delta||_F (Eckart-Young) is <= maxRelError; 0 = the exact rank. A
   * tensor no rank <= maxRank brings within the budget keeps rank maxRank and `withinBudget: false`.
   * Unset: every tensor keeps min(rank, maxRank) (the old behaviour).
   */
  maxRelError?: number;
  /** sha256 of the model file the adapter applies to, written as ADAPTER_BASE_SHA256_KEY. */
  baseSha256?: string;
}

function isTokenEmbd(name: string): boolean {
  return name.endsWith('token_embd.weight'); // the test llama.cpp uses
}

function checkDelta(base: GgufFile, d: TensorDelta, purpose: 'lora' | 'merge'): { nIn: number; nOut: number } {
  const info = (() => {
    try {
      return getTensorInfo(base, d.tensor);
    } catch {
      throw new UserError(`tensor '${d.tensor}' is not in the base model ${base.path}`);
    }
  })();
  const baseNe = [...info.ne];
  while (baseNe.length > 1 && baseNe[baseNe.length - 1] === 1) baseNe.pop();
  const given = [...d.ne];
  while (given.length > 1 && given[given.length - 1] === 1) given.pop();
  if (given.length !== baseNe.length || given.some((v, i) => v !== baseNe[i])) {
    throw new UserError(`delta for '${d.tensor}' has shape ${JSON.stringify(d.ne)} but the base tensor is ${JSON.stringify(info.ne)}`);
  }
  const n = baseNe.reduce((a, b) => a * b, 1);
  if (!(d.delta instanceof Float32Array) || d.delta.length !== n) {
    throw new UserError(`delta for '${d.tensor}' must be a Float32Array of ${n} values, got ${d.delta?.length}`);
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(d.delta[i]!)) throw new UserError(`delta for '${d.tensor}' has a non-finite value at index ${i}`);
  }
  if (purpose === 'lora') {
    if (baseNe.length === 1) {
      throw new UserError(
        `'${d.tensor}' is a 1-D tensor (${JSON.stringify(info.ne)}); llama.cpp LoRA adapters only change matrices. Save a merged model instead (saveMergedModel)`,
      );
    }
    if (baseNe.length > 2) throw new UserError(`'${d.tensor}' has ${baseNe.length} dimensions; LoRA adapters need 2-D weights. Save a merged model instead`);
  }
  return { nIn: baseNe[0]!, nOut: baseNe[1] ?? 1 };
}

/**
 * Factor each delta into LoRA matrices and write a llama.cpp adapter GGUF (atomically).
 * Zero deltas are skipped (no pair written, rank 0).
 */
export function saveLoraAdapter(path: string, opts: SaveLoraOptions): { tensors: LoraTensorReport[]; alpha: number } {
  const base = readGguf(opts.baseGgufPath);
  const arch = requireMeta<string>(base, 'general.architecture');
  const maxRank = opts.maxRank ?? 64;
  if (!Number.isInteger(maxRank) || maxRank < 1) throw new UserError(`maxRank must be a positive integer, got ${maxRank}`);
  const alpha = opts.alpha ?? maxRank;
  if (!Number.isFinite(alpha) || alpha < 0) throw new UserError(`alpha must be a non-negative number, got ${alpha}`);
  if (opts.deltas.length === 0) throw new UserError('no deltas given: nothing to put in the adapter');
  const seen = new Set<string>();
  for (const d of opts.deltas) {
    if (seen.has(d.tensor)) throw new UserError(`delta for '${d.tensor}' given twice`);
    seen.add(d.tensor);
    checkDelta(base, d, 'lora');
  }

  const tensors: GgufTensorSpec[] = [];
  const reports: LoraTensorReport[] = [];
  for (const d of opts.deltas) {
    const { nIn, nOut } = checkDelta(base, d, 'lora');
    // Delta as a matrix: rows = n_out (ne[1]), cols = n_in (ne[0]), row-major = ggml layout
    const svd = truncatedSvd(d.delta, nOut, nIn, { maxRank, relTol: opts.relTol ?? 1e-6 });
    const r = opts.maxRelError === undefined ? svd.k : budgetRank(d.delta, svd.S, svd.k, opts.maxRelError);
    const sk = svd.k; // row stride of svd.U / svd.V
    if (r === 0) {
      reports.push({ name: d.tensor, rank: 0, deltaRank: 0, exact: true, relError: 0, ...(opts.maxRelError === undefined ? {} : { withinBudget: true }) });
      continue;
    }
    const scale = alpha === 0 ? 1 : alpha / r;
    const c = Math.sqrt(1 / scale);
    // P = U sqrt(S) c (n_out x r), Q = V sqrt(S) c (n_in x r); delta ~ scale * P Q^T
    const P = new Float32Array(nOut * r);
    const Q = new Float32Array(nIn * r);
    for (let k = 0; k < r; k++) {
      const f = Math.sqrt(svd.S[k]!) * c;
      for (let o = 0; o < nOut; o++) P[o * r + k] = svd.U[o * sk + k]! * f;
      for (let i = 0; i < nIn; i++) Q[i * r + k] = svd.V[i * sk + k]! * f;
    }
    let a: Float32Array;
    let b: Float32Array;
    let aNe: number[];
    let bNe: number[];
    if (isTokenEmbd(d.tensor)) {
      // rows = n_vocab (token), cols = n_embd: A[t*r+k] = P[t][k] (ne [r, n_vocab]); B[e*r+k] = Q[e][k] (ne [r, n_embd])
      a = P;
      aNe = [r, nOut];
      b = Q;
      bNe = [r, nIn];
    } else {
      // A (r x n_in): A[k*n_in+i] = Q[i][k] (ne [n_in, r]); B (n_out x r) = P (ne [r, n_out])
      a = new Float32Array(r * nIn);
      for (let k = 0; k < r; k++) for (let i = 0; i < nIn; i++) a[k * nIn + i] = Q[i * r + k]!;
      aNe = [nIn, r];
      b = P;
      bNe = [r, nOut];
    }
    tensors.push({ name: `${d.tensor}.lora_a`, type: 'F32', ne: aNe, data: a });
    tensors.push({ name: `${d.tensor}.lora_b`, type: 'F32', ne: bNe, data: b });
    const relError = loraRelError(d.delta, nIn, nOut, P, Q, r, scale);
    const exact = svd.exact && r === svd.k;
    const rep: LoraTensorReport = { name: d.tensor, rank: r, deltaRank: svd.rank, exact, relError };
    if (opts.maxRelError !== undefined) rep.withinBudget = exact || relError <= opts.maxRelError;
    reports.push(rep);
  }

  writeGguf(path, {
    metadata: [
      ['general.architecture', arch, 'string'],
      ['general.type', 'adapter', 'string'],
      ['general.name', 'unlearnkit LoRA', 'string'],
      ['adapter.type', 'lora', 'string'],
      ['adapter.lora.alpha', alpha, 'float32'],
      ...(opts.baseSha256 ? [[ADAPTER_BASE_SHA256_KEY, opts.baseSha256, 'string'] as [string, string, 'string']] : []),
    ],
    tensors,
  });
  return { tensors: reports, alpha };
}

/**
 * The smallest rank k <= kMax whose truncation meets the relative error budget: by Eckart-Young the
 * best rank-k approximation leaves ||delta||_F^2 - sum_{i<k} s_i^2, so k is the first with
 * sqrt(that / ||delta||_F^2) <= maxRelError. kMax (all computed values) when none does; budget 0
 * gives kMax, which is the exact rank when the delta's rank <= maxRank.
 */
function budgetRank(delta: Float32Array, S: Float64Array, kMax: number, maxRelError: number): number {
  if (!(maxRelError >= 0) || !Number.isFinite(maxRelError)) throw new UserError(`maxRelError must be a finite number >= 0, got ${maxRelError}`);
  if (maxRelError === 0) return kMax;
  let total = 0;
  for (let i = 0; i < delta.length; i++) total += delta[i]! * delta[i]!;
  if (total === 0) return 0;
  let kept = 0;
  for (let k = 0; k < kMax; k++) {
    if (Math.sqrt(Math.max(0, total - kept) / total) <= maxRelError) return k;
    kept += S[k]! * S[k]!;
  }
  return kMax;
}

/** ||delta - scale P Q^T||_F / ||delta||_F with delta (n_out x n_in), P (n_out x r), Q (n_in x r). */
function loraRelError(delta: Float32Array, nIn: number, nOut: number, P: Float32Array, Q: Float32Array, r: number, scale: number): number {
  let num = 0;
  let den = 0;
  for (let o = 0; o < nOut; o++) {
    for (let i = 0; i < nIn; i++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += P[o * r + k]! * Q[i * r + k]!;
      const v = delta[o * nIn + i]!;
      const e = v - scale * s;
      num += e * e;
      den += v * v;
    }
  }
  return den === 0 ? 0 : Math.sqrt(num / den);
}

/**
 * The effective weight change an adapter file applies to one tensor at adapter scale `scale`:
 * scale * alpha / r * B A in the tensor's own layout (ne[1] rows of ne[0]). Useful to check an
 * adapter and to merge it.
 */
export function loraDeltaFromAdapter(adapter: GgufFile, tensor: string, scale = 1): Float32Array {
  const alpha = requireMeta<number>(adapter, 'adapter.lora.alpha');
  const aInfo = getTensorInfo(adapter, `${tensor}.lora_a`);
  const bInfo = getTensorInfo(adapter, `${tensor}.lora_b`);
  const a = readTensorF32(adapter, aInfo.name);
  const b = readTensorF32(adapter, bInfo.name);
  const r = bInfo.ne[0]!;
  const s = alpha ? (scale * alpha) / r : scale;
  if (isTokenEmbd(tensor)) {
    // delta[t][e] = s * sum_k b[e*r+k] a[t*r+k]
    const nVocab = aInfo.ne[1]!;
    const nEmbd = bInfo.ne[1]!;
    const out = new Float32Array(nVocab * nEmbd);
    for (let t = 0; t < nVocab; t++) {
      for (let e = 0; e < nEmbd; e++) {
        let acc = 0;
        for (let k = 0; k < r; k++) acc += b[e * r + k]! * a[t * r + k]!;
        out[t * nEmbd + e] = s * acc;
      }
    }
    return out;
  }
  // delta[o][i] = s * sum_k b[o*r+k] a[k*n_in+i]
  const nIn = aInfo.ne[0]!;
  const nOut = bInfo.ne[1]!;
  const out = new Float32Array(nOut * nIn);
  for (let o = 0; o < nOut; o++) {
    for (let k = 0; k < r; k++) {
      const bk = s * b[o * r + k]!;
      if (bk === 0) continue;
      for (let i = 0; i < nIn; i++) out[o * nIn + i] = out[o * nIn + i]! + bk * a[k * nIn + i]!;
    }
  }
  return out;
}

/**
 * Write a copy of the base model with `W + delta` for each given tensor (any shape, 1-D included),
 * keeping every other tensor's bytes and all metadata (with types). Changed tensors keep their type
 * when it is F32, F16, BF16 or Q8_0 (re-encoded; F32 is exact).
 */
export function saveMergedModel(path: string, opts: { baseGgufPath: string; deltas: TensorDelta[] }): void {
  const base = readGguf(opts.baseGgufPath);
  const byName = new Map<string, TensorDelta>();
  for (const d of opts.deltas) {
    if (byName.has(d.tensor)) throw new UserError(`delta for '${d.tensor}' given twice`);
    checkDelta(base, d, 'merge');
    byName.set(d.tensor, d);
  }
  const encodable = new Set<number>([GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0]);
  const tensors: GgufTensorSpec[] = base.tensors.map((t) => {
    const d = byName.get(t.name);
    if (!d) return { name: t.name, type: t.type, ne: [...t.ne], data: readTensorRaw(base, t.name) };
    if (!encodable.has(t.type)) {
      throw new UserError(`cannot merge into '${t.name}': its type is not F32, F16, BF16 or Q8_0`);
    }
    const w = readTensorF32(base, t.name);
    for (let i = 0; i < w.length; i++) w[i] = w[i]! + d.delta[i]!;
    return { name: t.name, type: t.type, ne: [...t.ne], data: w };
  });
  writeGguf(path, { metadata: base.metadata, tensors, alignment: base.alignment });
}

// ---------------------------------------------------------------------------------------------
// LoRA training (finetune --lora): targets, initial factors, and the adapter file of trained factors

/** Metadata key of the sha256 of the base model file an adapter was trained on (llama.cpp ignores it). */
export const ADAPTER_BASE_SHA256_KEY = 'unlearnkit.base_model.sha256';

/** The factors of one adapted weight: A ne [n_in, r], B ne [r, n_out] (row-major in ggml order). */
export interface LoraFactors {
  a: Float32Array;
  b: Float32Array;
  rank: number;
}

/** Whether a tensor of a model can carry a LoRA pair: a 2-D weight used as y = W x (block matrices, an untied output). */
function loraCapable(name: string, c: ModelConfig): boolean {
  if (name === 'token_embd.weight' || name === 'position_embd.weight') return false;
  if (name === 'output.weight') return !c.tiedOutput;
  return /^blk\.\d+\./.test(name) && name.endsWith('.weight') && !/norm\.weight$/.test(name);
}

export const LORA_TARGET_HELP =
  'layer targets whose weight matrices get adapters (default: every block\'s attention and MLP matrices); ' +
  'norms and biases in a target are left out, the token embedding cannot be adapted';

/**
 * The weights a LoRA run adapts: the 2-D weight matrices of the layer targets (paramGroups.ts
 * filters) — the attention and MLP projections of the blocks they select, and output.weight of an
 * untied model. Without a filter, every block's. 1-D tensors in a target (norms, biases) are left
 * out; a term that selects no matrix at all (e.g. 'norms', 'embedding', the tied 'output') is
 * refused by name, since nothing would be trained for it.
 */
export function resolveLoraTargets(filter: string | undefined, c: ModelConfig): string[] {
  const names = parameterNames(c);
  const terms = (filter ?? 'all').split(',').map((t) => t.trim()).filter(Boolean);
  if (terms.length === 0) throw new UserError('empty --target');
  const chosen = new Set<string>();
  for (const term of terms) {
    // the default: the blocks' matrices ('all' given explicitly also adapts an untied output)
    const sel = resolveFilter(term, c).filter((n) => loraCapable(n, c) && (filter !== undefined || n !== 'output.weight'));
    if (sel.length === 0) {
      throw new UserError(
        `LoRA target '${term}' selects no weight matrix of this ${c.arch} model (adapters apply to the blocks' attention and MLP matrices` +
          `${c.tiedOutput ? '' : ' and output.weight'}; the token embedding${c.tiedOutput ? ', the output it is tied to,' : ''} norms and biases cannot be adapted)`,
      );
    }
    for (const n of sel) chosen.add(n);
  }
  return names.filter((n) => chosen.has(n));
}

/**
 * Initial factors as PEFT initialises them (init_lora_weights=True): A uniform in
 * +-1/sqrt(n_in) (kaiming_uniform with a = sqrt(5) on a Linear(n_in, r)), B zero, so the adapted
 * model starts equal to the base. Seeded: the same seed gives the same A.
 */
export function initLoraFactors(model: CausalLM, targets: string[], rank: number, seed: number): Map<string, LoraFactors> {
  if (!Number.isInteger(rank) || rank < 1) throw new UserError(`LoRA rank must be a positive integer, got ${rank}`);
  const rng = new Rng(seed * 7919 + 17);
  const out = new Map<string, LoraFactors>();
  for (const t of targets) {
    const w = model.weights.get(t);
    if (!w || w.ne.length !== 2) throw new UserError(`LoRA target ${t} is not a 2-D weight of the model`);
    const [nIn, nOut] = w.ne as [number, number];
    if (rank > Math.min(nIn, nOut)) throw new UserError(`LoRA rank ${rank} exceeds ${t}'s smaller dimension ${Math.min(nIn, nOut)}`);
    const bound = 1 / Math.sqrt(nIn);
    const a = new Float32Array(nIn * rank);
    for (let i = 0; i < a.length; i++) a[i] = (2 * rng.next() - 1) * bound;
    out.set(t, { a, b: new Float32Array(rank * nOut), rank });
  }
  return out;
}

/**
 * Write trained LoRA factors as a llama.cpp adapter (atomically): `<target>.lora_a` F32 ne
 * [n_in, r], `<target>.lora_b` F32 ne [r, n_out], general.type adapter, adapter.type lora,
 * adapter.lora.alpha, and the base model's sha256 (ADAPTER_BASE_SHA256_KEY) so that a consumer can
 * check it is applied to the model it was trained on.
 */
export function writeLoraFactors(path: string, o: { arch: string; alpha: number; factors: Map<string, LoraFactors>; baseSha256?: string; name?: string }): void {
  if (o.factors.size === 0) throw new UserError('no LoRA factors to write');
  const tensors: GgufTensorSpec[] = [];
  for (const [t, f] of o.factors) {
    const nIn = f.a.length / f.rank;
    const nOut = f.b.length / f.rank;
    if (!Number.isInteger(nIn) || !Number.isInteger(nOut)) throw new UserError(`LoRA factors of ${t} do not fit rank ${f.rank}`);
    tensors.push({ name: `${t}.lora_a`, type: 'F32', ne: [nIn, f.rank], data: f.a });
    tensors.push({ name: `${t}.lora_b`, type: 'F32', ne: [f.rank, nOut], data: f.b });
  }
  const metadata: Array<[string, string | number, 'string' | 'float32']> = [
    ['general.architecture', o.arch, 'string'],
    ['general.type', 'adapter', 'string'],
    ['general.name', o.name ?? 'unlearnkit LoRA', 'string'],
    ['adapter.type', 'lora', 'string'],
    ['adapter.lora.alpha', o.alpha, 'float32'],
  ];
  if (o.baseSha256) metadata.push([ADAPTER_BASE_SHA256_KEY, o.baseSha256, 'string']);
  writeGguf(path, { metadata, tensors });
}

/** A llama.cpp LoRA adapter file read back: its architecture, alpha, base sha256 (when written by unlearnkit) and factors. */
export interface LoraAdapterFile {
  arch: string;
  alpha: number;
  baseSha256: string | null;
  factors: Map<string, LoraFactors>;
  /** Embedding tensors the adapter changes, left out of `factors` (readLoraAdapter's `embeddings: 'skip'`). */
  skipped: string[];
}

/**
 * Read a llama.cpp LoRA adapter GGUF: its matrix adapters. An embedding adapter (llama.cpp applies
 * it to the looked-up rows) is refused by name, or with `embeddings: 'skip'` left to the caller
 * (`skipped`; e.g. to merge it: loraDeltaFromAdapter).
 */
export function readLoraAdapter(path: string, opts: { embeddings?: 'refuse' | 'skip' } = {}): LoraAdapterFile {
  const f = readGguf(path);
  const type = getMeta<string>(f, 'general.type');
  const atype = getMeta<string>(f, 'adapter.type');
  if (type !== undefined && type !== 'adapter') throw new UserError(`${path} is not an adapter (general.type ${type})`);
  if (atype !== undefined && atype !== 'lora') throw new UserError(`${path} is a ${atype} adapter, not LoRA`);
  const alpha = Number(getMeta<number>(f, 'adapter.lora.alpha') ?? 0);
  const names = f.tensors.filter((t) => t.name.endsWith('.lora_a')).map((t) => t.name.slice(0, -'.lora_a'.length));
  if (names.length === 0) throw new UserError(`${path} holds no .lora_a tensors`);
  const factors = new Map<string, LoraFactors>();
  const skipped: string[] = [];
  for (const n of names) {
    if (n === 'token_embd.weight' || n === 'position_embd.weight') {
      if (opts.embeddings === 'skip') {
        skipped.push(n);
        continue;
      }
      throw new UserError(`${path} adapts the embedding ${n}, which unlearnkit does not apply as an adapter (evaluation merges it: eval --adapter)`);
    }
    const ai = getTensorInfo(f, `${n}.lora_a`);
    const bi = getTensorInfo(f, `${n}.lora_b`);
    const rank = bi.ne[0]!;
    if (ai.ne[1] !== rank) throw new UserError(`${path}: ${n}.lora_a has shape [${ai.ne.join(', ')}] but lora_b has rank ${rank}`);
    factors.set(n, { a: readTensorF32(f, ai.name), b: readTensorF32(f, bi.name), rank });
  }
  for (const t of f.tensors) {
    if (!t.name.endsWith('.lora_a') && !t.name.endsWith('.lora_b')) throw new UserError(`${path}: tensor ${t.name} is not a LoRA factor`);
    const owner = t.name.slice(0, -'.lora_b'.length);
    if (t.name.endsWith('.lora_b') && !factors.has(owner) && !skipped.includes(owner)) throw new UserError(`${path}: ${t.name} has no lora_a`);
  }
  return { arch: String(getMeta<string>(f, 'general.architecture') ?? ''), alpha, baseSha256: (getMeta<string>(f, ADAPTER_BASE_SHA256_KEY) as string | undefined) ?? null, factors, skipped };
}

/**
 * Attach the adapter file at `path` to `model` (CausalLM.attachLora), checking its architecture and
 * tensor shapes. With `embeddings: 'skip'` an embedding adapter is left out (`skipped`) for the caller.
 */
export function attachLoraFile(model: CausalLM, path: string, opts: { scale?: number; embeddings?: 'refuse' | 'skip' } = {}): LoraAdapterFile {
  const file = readLoraAdapter(path, { embeddings: opts.embeddings });
  if (file.arch && file.arch !== model.config.arch) throw new UserError(`LoRA adapter ${path} is for ${file.arch}, but ${model.source} is ${model.config.arch}`);
  for (const n of file.factors.keys()) {
    if (!model.weights.has(n)) throw new UserError(`LoRA adapter ${path} adapts ${n}, which ${model.source} does not have`);
  }
  if (file.factors.size) model.attachLora({ alpha: file.alpha, scale: opts.scale, factors: file.factors });
  return file;
}
