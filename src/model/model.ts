/**
 * A causal language model: its config, its weights on the host (the master copy that training
 * updates and checkpoints are written from), and sessions that run it as ggml graphs.
 *
 * Two kinds of session, both built once for a fixed [T, B] and reused for every batch of that shape:
 * - evaluation: weights in the file's own types (e.g. F16 matrix products), native norms and GELU,
 *   so that log-probabilities match llama.cpp on the same file;
 * - training: F32 weights (quantised files are dequantised, and the user is told), differentiable
 *   composites, a chosen subset of tensors trainable (the parameter filter), AdamW or SGD.
 */
import { decodeToF32, ggmlTypeName, readGguf, readTensorRaw, tensorNumel, type GgufFile } from './gguf.ts';
import { ARCHITECTURES, configFromGguf, expectedTensors, familyOf, parameterNames, type Architecture, type ModelConfig } from './config.ts';
import type { ForwardBuilder } from './arch/types.ts';
import type { LlamaTrace } from './llama.ts';
import { buildLlamaBackward } from './llamaBackward.ts';
import type { SequenceInputs, BuildMode, WeightTap } from './layers.ts';
import { buildPerExampleNodes, exampleFactor, readPerExample, type PerExampleNode, type PerExampleResult } from '../train/perExample.ts';
import { Graph, type Tensor, type OptimizerKind, type AdamWHyper, type SgdHyper } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import { dtypeOfCode, GGML_TYPE, type DType } from '../engine/types.ts';
import { UserError } from '../util/errors.ts';

export interface HostTensor {
  name: string;
  /** ggml ne order. */
  ne: number[];
  /**
   * F32 values (dequantised when the file stores another type). For tensors loaded from a file in
   * another type this is decoded on first read (storedHostTensor), so evaluating a quantised model
   * never dequantises its matrices; training reads it for the tensors its graph holds in F32.
   */
  data: Float32Array;
  /** The file's type and bytes, kept for evaluation in the file's own precision. */
  fileType: DType;
  fileBytes?: Uint8Array;
}

/**
 * A HostTensor over a file's stored bytes whose `data` is decoded (gguf.ts decodeToF32: ggml's
 * to_float for block types) on first read and kept; assigning `data` replaces it. `data` is an own
 * enumerable accessor, so `{ ...h }` copies the decoded values like a plain HostTensor's.
 */
export function storedHostTensor(name: string, ne: number[], fileType: DType, bytes: Uint8Array, what = name): HostTensor {
  if (fileType === 'f32') return { name, ne, fileType, data: decodeToF32(GGML_TYPE.f32, bytes, tensorNumel({ ne }), what) };
  const h = { name, ne, fileType, fileBytes: bytes } as HostTensor;
  let values: Float32Array | null = null;
  Object.defineProperty(h, 'data', {
    enumerable: true,
    configurable: true,
    get: () => {
      undecoded.delete(h);
      return (values ??= decodeToF32(GGML_TYPE[fileType], bytes, tensorNumel({ ne }), what));
    },
    set: (v: Float32Array) => {
      undecoded.delete(h);
      values = v;
    },
  });
  undecoded.add(h);
  return h;
}

/** Stored host tensors whose `data` was never read or assigned. */
const undecoded = new WeakSet<HostTensor>();

/** Whether a host tensor holds F32 values (false for a stored tensor whose `data` was never read). */
export function hostTensorDecoded(h: HostTensor): boolean {
  return !undecoded.has(h);
}

/** A deep copy of a host tensor; a stored tensor not yet decoded stays undecoded (sharing its immutable file bytes). */
export function cloneHostTensor(v: HostTensor): HostTensor {
  if (undecoded.has(v) && v.fileBytes) return storedHostTensor(v.name, [...v.ne], v.fileType, v.fileBytes);
  return { name: v.name, ne: [...v.ne], data: v.data.slice(), fileType: v.fileType, fileBytes: v.fileBytes };
}

/** The forward builder of each architecture (also used by the KV-cache decoder, decode.ts): its family's (arch/registry.ts). */
export const ARCH_BUILDERS = Object.fromEntries(ARCHITECTURES.map((a) => [a, familyOf(a).build])) as Record<Architecture, ForwardBuilder>;

export class CausalLM {
  constructor(
    readonly config: ModelConfig,
    readonly weights: Map<string, HostTensor>,
    readonly source: string,
    readonly file?: GgufFile,
  ) {
    for (const t of expectedTensors(config)) {
      const w = weights.get(t.name);
      if (!w) throw new UserError(`${source}: missing tensor ${t.name} for a ${config.arch} model`);
      if (w.ne.length < t.ne.length || t.ne.some((n, i) => w.ne[i] !== n)) {
        throw new UserError(`${source}: tensor ${t.name} has shape [${w.ne.join(', ')}], expected [${t.ne.join(', ')}]`);
      }
    }
  }

  /**
   * Load a GGUF model: F32, F16, BF16 and the block types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K
   * (evaluated in their stored type; dequantised to F32 only where a training graph needs the
   * values, and the caller told via `quantizedTensors`). Other types are refused by name.
   */
  static load(path: string): CausalLM {
    const f = readGguf(path);
    const config = configFromGguf(f);
    const weights = new Map<string, HostTensor>();
    for (const t of expectedTensors(config)) {
      const info = f.tensors.find((x) => x.name === t.name);
      if (!info) throw new UserError(`${path}: missing tensor ${t.name} for a ${config.arch} model`);
      const fileType = dtypeOfCode(info.type);
      if (fileType === undefined || fileType === 'i32') {
        throw new UserError(
          `${path}: tensor ${t.name} is stored as ${ggmlTypeName(info.type)}, which unlearnkit cannot evaluate ` +
            `(supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K); ` +
            `requantise the F16/F32 original with 'unlearnkit quantize' (e.g. --type q4_k_m)`,
        );
      }
      weights.set(t.name, storedHostTensor(t.name, [...info.ne], fileType, readTensorRaw(f, t.name), `${path}: tensor '${t.name}'`));
    }
    return new CausalLM(config, weights, path, f);
  }

  /** How many tensors the source file stores in each type, by ggml's upper-case name ("Q4_K": 25, "F32": 9). */
  get tensorTypes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const w of this.weights.values()) out[w.fileType.toUpperCase()] = (out[w.fileType.toUpperCase()] ?? 0) + 1;
    return out;
  }

  /** Tensors stored in a quantised or reduced-precision type in the source file. */
  get quantizedTensors(): string[] {
    return [...this.weights.values()].filter((w) => w.fileType !== 'f32').map((w) => w.name);
  }

  get parameterCount(): number {
    let n = 0;
    // from the shapes: counting must not dequantise the stored tensors
    for (const w of this.weights.values()) n += tensorNumel(w);
    return n;
  }

  /** Tensor names in architecture order (constants such as rope_freqs.weight included: what a saved model holds). */
  get tensorNames(): string[] {
    return expectedTensors(this.config).map((t) => t.name);
  }

  /** The trainable tensors: every tensor but the architecture's constants (rope_freqs.weight). */
  get parameterNames(): string[] {
    return parameterNames(this.config);
  }

  /** A deep copy (e.g. to keep the base model while training a fine-tune). */
  clone(): CausalLM {
    const w = new Map<string, HostTensor>();
    for (const [k, v] of this.weights) w.set(k, cloneHostTensor(v));
    return new CausalLM(this.config, w, this.source, this.file);
  }
}

export interface SessionOptions {
  /** Sequence length of the graph (longer sequences are rejected, shorter padded). */
  T: number;
  /** Sequences per batch. */
  B: number;
  mode: 'eval' | 'train';
  /** Names of trainable tensors (train mode); default all. */
  trainable?: string[];
  optimizer?: OptimizerKind;
  /** Trainable tensors whose per-example gradients are computed by backward/step with `record`. */
  record?: string[];
  /**
   * Train mode: how gradients are built. 'manual' (default for the llama-like families: llama,
   * qwen2, qwen3): the hand-written backward of llamaBackward.ts (faster on CPUs); 'auto' (default
   * for GPT-2, the only choice there): ggml's automatic backward, the reference it is tested against. The
   * environment variable UNLEARNKIT_BACKWARD=auto|manual changes the default.
   */
  backward?: 'auto' | 'manual';
}

/**
 * One model graph of fixed shape. setBatch() writes tokens (padded), then forward() / step() run.
 * Padding goes at the end of each sequence, so the causal mask keeps it from affecting real
 * positions; the loss averages over real next-token predictions only.
 */
export class LMSession {
  readonly graph: Graph;
  readonly T: number;
  readonly B: number;
  readonly logits: Tensor;
  readonly loss: Tensor | null;
  readonly params = new Map<string, Tensor>();
  private tokens: Tensor;
  private labels: Tensor | null = null;
  private lossScale: Tensor | null = null;
  private lossOffset: Tensor | null = null;
  private rowMask: Tensor | null = null;
  private perExampleNodes: PerExampleNode[] = [];
  /** Per example b: n / n_b, the factor from the batch loss's gradient to its own (see perExample.ts). */
  private exampleScale: Tensor | null = null;
  private lengths: number[] = [];
  private recordShapes = new Map<string, number[]>();
  private batch: number[][] = [];
  /** Train mode: which backward built the gradients. */
  backwardKind: 'auto' | 'manual' | null = null;
  /** Host copies of the batch inputs, reused by every setBatch. */
  private tokHost: Int32Array | null = null;
  private labHost: Float32Array | null = null;
  /** Per row of labHost: its one-hot target, or -1 for a uniform (padding) row. */
  private labTarget: Int32Array | null = null;
  private maskHost: Float32Array | null = null;
  private scalarHost = new Float32Array(1);

  constructor(
    readonly model: CausalLM,
    readonly opts: SessionOptions,
  ) {
    const c = model.config;
    const { T, B } = opts;
    if (!Number.isInteger(T) || T < 2) throw new UserError(`sequence length must be an integer >= 2, got ${T}`);
    if (T > c.nCtx) throw new UserError(`sequence length ${T} exceeds the model's context length ${c.nCtx}`);
    if (!Number.isInteger(B) || B < 1) throw new UserError(`batch size must be a positive integer, got ${B}`);
    this.T = T;
    this.B = B;
    const train = opts.mode === 'train';
    const fam = familyOf(c.arch);
    const trainable = new Set(train ? (opts.trainable ?? model.parameterNames) : []);
    const parameterSet = new Set(model.parameterNames);
    for (const n of trainable) {
      if (!model.weights.has(n)) throw new UserError(`unknown tensor '${n}' in the trainable set`);
      if (!parameterSet.has(n)) throw new UserError(`${n} is a constant of the ${c.arch} architecture, not a trainable parameter`);
    }
    const layerNodes = fam.nodesPerLayer;
    const g = new Graph({ maxNodes: Math.max(2048, (train ? 4 : 1) * (c.nLayer * layerNodes + 200)) });
    this.graph = g;
    const w = (name: string): Tensor => {
      let t = this.params.get(name);
      if (t) return t;
      const h = model.weights.get(name)!;
      if (trainable.has(name)) t = g.param(name, h.ne);
      else {
        // evaluation: each weight in the buffer type llama.cpp would give it (Graph.input placement)
        t = g.input(name, h.ne, frozenWeightType(h, train), train ? {} : { placement: 'weight' });
      }
      this.params.set(name, t);
      return t;
    };
    this.tokens = g.input('tokens', [T * B], 'i32');
    const pos = g.input('pos', [T], 'i32');
    const mask = g.input('mask', [T, T]);
    const inp: SequenceInputs = { tokens: this.tokens, pos, mask, T, B };
    const taps: WeightTap[] = [];
    const record = new Set(opts.record ?? []);
    for (const n of record) if (!trainable.has(n)) throw new UserError(`recorded tensor ${n} must also be trainable`);
    let backward: 'auto' | 'manual' | null = null;
    if (train) {
      const envBackward = process.env.UNLEARNKIT_BACKWARD;
      backward = opts.backward ?? (envBackward === 'auto' || envBackward === 'manual' ? envBackward : fam.backward);
      if (backward !== 'auto' && backward !== 'manual') throw new UserError(`unknown backward '${String(backward)}' (use auto or manual)`);
      if (backward === 'manual' && fam.backward !== 'manual') {
        throw new UserError(`the manual backward exists for the llama-like families (${ARCHITECTURES.filter((a) => familyOf(a).backward === 'manual').join(', ')}) only; use backward 'auto' for ${c.arch}`);
      }
    }
    // the hand-written backward lets the whole step run its products on the native kernel
    const fastMatmul = backward === 'manual';
    const mode: BuildMode = { differentiable: train, tap: record.size ? (t) => taps.push(t) : undefined, fastMatmul };
    const out = ARCH_BUILDERS[c.arch](c, w, inp, mode);
    this.logits = out.logits;
    if (train) {
      // Loss = mean over the batch's predicted tokens of -log p(next token). ggml's
      // cross_entropy_loss averages over all T*B rows and its backward assumes every label row is a
      // distribution, so padding rows get zeroed logits (mask) and uniform labels: their gradient is
      // then exactly 0, and their constant log(V) contribution is removed by the offset.
      const labels = (this.labels = g.input('labels', [c.nVocab, T * B]));
      const rowMask = (this.rowMask = g.input('row_mask', [1, T * B]));
      const lossScale = (this.lossScale = g.input('loss_scale', [1]));
      this.lossOffset = g.input('loss_offset', [1]);
      const masked = op.mul(out.logits, rowMask);
      const ce = op.crossEntropyLoss(masked, labels);
      this.loss = op.add(op.mul(ce, lossScale), this.lossOffset);
      if (record.size) this.exampleScale = g.input('example_scale', [B]);
      const shapes = new Map([...record].map((n) => [n, model.weights.get(n)!.ne]));
      this.recordShapes = shapes;
      this.backwardKind = backward;
      const trace = (out as { trace?: LlamaTrace }).trace;
      g.build({
        outputs: [out.logits],
        loss: this.loss,
        backward: true,
        optimizer: opts.optimizer,
        // GPT-2 has only ggml's automatic backward: run its products on the native kernel; the
        // llama-like families' automatic backward stays all-ggml, the reference the manual one is tested against
        nativeMatmul: backward === 'auto' && fam.backward === 'auto',
        extras: record.size
          ? (gradOf) => (this.perExampleNodes = buildPerExampleNodes(taps, record, gradOf, T, B, { fastMatmul, exampleScale: this.exampleScale! })).map((x) => x.tensor)
          : undefined,
        manualBackward:
          backward === 'manual'
            ? () =>
                buildLlamaBackward({
                  config: c,
                  trace: trace!,
                  logits: out.logits,
                  weights: this.params,
                  trainable,
                  inp,
                  loss: { maskedLogits: masked, labels, rowMask, lossScale },
                  fastMatmul,
                })
            : undefined,
      });
    } else {
      this.loss = null;
      g.build({ outputs: [out.logits] });
    }
    g.allocate();
    g.set(pos, Int32Array.from({ length: T }, (_, i) => i));
    const m = new Float32Array(T * T);
    for (let q = 0; q < T; q++) for (let k = 0; k < T; k++) m[q * T + k] = k <= q ? 0 : -Infinity;
    g.set(mask, m, { allowNegInfinity: true });
    this.uploadWeights();
  }

  /** Copy the model's host weights into the graph (all tensors, or the given names). */
  uploadWeights(names?: string[]): void {
    for (const [name, t] of this.params) {
      if (names && !names.includes(name)) continue;
      uploadWeight(this.graph, t, this.model.weights.get(name)!);
    }
  }

  /** Copy trainable tensors back from the graph into the model's host weights. */
  downloadWeights(): void {
    for (const p of this.graph.params) {
      const h = this.model.weights.get(p.name)!;
      h.data.set(this.graph.get(p));
      // the trained values, not the file's (now stale) bytes, are what evaluation must use
      if (h.fileType !== 'f32') {
        h.fileType = 'f32';
        h.fileBytes = undefined;
      }
    }
  }

  /** Write a batch of token sequences (each 2..T long; at most B). Returns the number of predicted tokens. */
  setBatch(seqs: number[][]): number {
    const { T, B } = this;
    if (seqs.length === 0 || seqs.length > B) throw new UserError(`a batch holds 1..${B} sequences, got ${seqs.length}`);
    const V = this.model.config.nVocab;
    seqs.forEach((s, b) => {
      if (s.length > T) throw new UserError(`sequence ${b} has ${s.length} tokens, more than the session's ${T}`);
      for (const id of s) {
        if (!Number.isInteger(id) || id < 0 || id >= V) throw new UserError(`token id ${id} is outside the vocabulary (0..${V - 1})`);
      }
    });
    // host buffers are kept between batches: a training step allocates nothing here
    const tok = (this.tokHost ??= new Int32Array(T * B));
    tok.fill(0);
    let nPred = 0;
    this.lengths = [];
    seqs.forEach((s, b) => {
      for (let i = 0; i < s.length; i++) tok[b * T + i] = s[i]!;
      this.lengths.push(s.length);
      nPred += Math.max(0, s.length - 1);
    });
    this.batch = seqs;
    this.graph.set(this.tokens, tok);
    if (this.exampleScale) this.graph.set(this.exampleScale, Float32Array.from({ length: B }, (_, b) => exampleFactor(this.lengths[b] ?? 0, nPred)));
    if (this.labels && this.lossScale && this.lossOffset && this.rowMask) {
      // labels: one-hot rows for predicted positions, uniform rows (1/V) for padding; only rows
      // whose target changed since the last batch are rewritten
      const lab = (this.labHost ??= new Float32Array(V * T * B).fill(1 / V));
      const target = (this.labTarget ??= new Int32Array(T * B).fill(-1));
      const mask = (this.maskHost ??= new Float32Array(T * B));
      for (let b = 0; b < B; b++) {
        const s = seqs[b];
        for (let i = 0; i < T; i++) {
          const row = b * T + i;
          const want = s && i + 1 < s.length ? s[i + 1]! : -1;
          mask[row] = want >= 0 ? 1 : 0;
          const had = target[row]!;
          if (had === want) continue;
          const off = row * V;
          if (want < 0) lab.fill(1 / V, off, off + V);
          else {
            if (had < 0) lab.fill(0, off, off + V);
            else lab[off + had] = 0;
            lab[off + want] = 1;
          }
          target[row] = want;
        }
      }
      this.graph.set(this.labels, lab);
      this.graph.set(this.rowMask, mask);
      const N = T * B;
      // ce = (sum over predicted rows of -log p + (N - nPred) log V) / N
      const one = this.scalarHost;
      one[0] = nPred > 0 ? N / nPred : 0;
      this.graph.set(this.lossScale, one);
      one[0] = nPred > 0 ? (-(N - nPred) * Math.log(V)) / nPred : 0;
      this.graph.set(this.lossOffset, one);
    }
    return nPred;
  }

  forward(): void {
    this.graph.compute('forward');
  }

  /** Raw logits [V, T*B] after forward(). */
  readLogits(): Float32Array {
    return this.graph.get(this.logits);
  }

  /**
   * Per-token log-probabilities of the current batch: for sequence b, entry i-1 is
   * log p(token_i | tokens_<i), computed from the logits by a float64 log-softmax.
   */
  tokenLogprobs(): number[][] {
    this.forward();
    const logits = this.readLogits();
    const V = this.model.config.nVocab;
    return this.batch.map((s, b) => {
      const out: number[] = [];
      for (let i = 0; i + 1 < s.length; i++) out.push(logSoftmaxAt(logits, (b * this.T + i) * V, V, s[i + 1]!));
      return out;
    });
  }

  /** Forward + backward; returns the mean next-token loss of the batch. Gradients via gradOf(). */
  backward(): number {
    if (!this.loss) throw new Error('an evaluation session has no loss');
    this.graph.compute('backward');
    return this.graph.lossValue();
  }

  gradOf(name: string): Float32Array {
    const t = this.params.get(name);
    if (!t) throw new UserError(`unknown tensor ${name}`);
    return this.graph.grad(t);
  }

  /** One optimiser step on the current batch; returns the loss before the update. With `record`, per-example gradients are computed too (read them with perExample()). */
  step(h: AdamWHyper | SgdHyper, opts: { record?: boolean } = {}): number {
    this.graph.step(h, { extras: !!opts.record && this.perExampleNodes.length > 0 });
    return this.graph.lossValue();
  }

  /** Forward + backward with per-example gradients (no update). Returns the batch loss. */
  backwardRecord(): number {
    if (this.perExampleNodes.length === 0) throw new Error('this session records no tensors (SessionOptions.record)');
    this.graph.compute('backwardExtras');
    return this.graph.lossValue();
  }

  /**
   * Per-example gradients of the last recording compute, for the current batch. With `reuse`, the
   * dense gradients are views of buffers this session reuses on the next call (no allocation per
   * step): for callers that consume them at once, like the fine-tuning record writer.
   */
  perExample(opts: { reuse?: boolean } = {}): PerExampleResult {
    return readPerExample(this.graph, this.perExampleNodes, this.batch, this.T, this.recordShapes, opts.reuse ? this.perExampleBuffers : undefined);
  }
  private perExampleBuffers = new Map<PerExampleNode, Float32Array>();

  /** AdamW per-parameter step scale lr / (sqrt(v_hat) + eps) of a tensor after the last step. */
  adamStepScale(name: string, lr: number, beta2 = 0.999, eps = 1e-8): Float32Array {
    const t = this.params.get(name);
    if (!t) throw new UserError(`unknown tensor ${name}`);
    const { v, iteration } = this.graph.adamMoments(t);
    const corr = 1 - beta2 ** iteration;
    const out = new Float32Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = lr / (Math.sqrt(v[i]! / corr) + eps);
    return out;
  }

  dispose(): void {
    this.graph.dispose();
  }
}

/**
 * The graph type of a frozen (non-trainable) weight: for evaluation, matrices in the file's type
 * (F16 / Q4_K / ... products as llama.cpp computes them); f32 for vectors and in training graphs
 * (ggml's automatic backward could pass gradients through a quantised frozen matrix, as OUT_PROD
 * with a quantised src0 on the CPU, but the hand-written LLaMA backward multiplies by the
 * transposed weight with mul_mat, which ggml cannot do for block types).
 */
export function frozenWeightType(h: HostTensor, train: boolean): DType {
  return !train && h.ne.length >= 2 ? h.fileType : 'f32';
}

/**
 * Copy a host weight into its graph tensor: the file's bytes for its own type, or the f32 values.
 * A frozen f32 copy of a stored tensor whose values were never read is decoded for the upload only
 * (not kept), so a training session holds F32 master copies of the tensors it trains and no others.
 */
export function uploadWeight(g: Graph, t: Tensor, h: HostTensor): void {
  if (t.dtype !== 'f32') return g.set(t, h.fileBytes!);
  const transient = undecoded.has(h) && h.fileBytes !== undefined && !g.params.includes(t);
  g.set(t, transient ? decodeToF32(GGML_TYPE[h.fileType], h.fileBytes!, tensorNumel(h), h.name) : h.data);
}

/** Per-token log-probabilities of one token sequence (BOS first) with our engine: entry i-1 is log p(tokens[i] | tokens[<i]). */
export function sequenceLogprobs(model: CausalLM, tokens: number[]): number[] {
  const s = new LMSession(model, { T: tokens.length, B: 1, mode: 'eval' });
  try {
    s.setBatch([tokens]);
    return s.tokenLogprobs()[0]!;
  } finally {
    s.dispose();
  }
}

/** log softmax(logits[off .. off+V))[target], in float64. */
export function logSoftmaxAt(logits: Float32Array, off: number, V: number, target: number): number {
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[off + v]! > max) max = logits[off + v]!;
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(logits[off + v]! - max);
  return logits[off + target]! - max - Math.log(s);
}

/** Full log-softmax row in float64. */
export function logSoftmaxRow(logits: Float32Array, off: number, V: number): Float64Array {
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[off + v]! > max) max = logits[off + v]!;
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(logits[off + v]! - max);
  const ls = Math.log(s);
  const out = new Float64Array(V);
  for (let v = 0; v < V; v++) out[v] = logits[off + v]! - max - ls;
  return out;
}
