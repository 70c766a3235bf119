/**
 * A causal language model: its config, its weights on the host (the file's bytes, decoded to F32
 * only where something reads or changes the values), an optional LoRA adapter, and sessions that
 * run it as ggml graphs.
 *
 * Two kinds of session, both built once for a fixed [T, B] and reused for every batch of that shape:
 * - evaluation: weights in the file's own types (e.g. F16 matrix products), native norms and GELU,
 *   so that log-probabilities match llama.cpp on the same file;
 * - training: the trained tensors as F32 parameters (with their AdamW moments), every frozen weight
 *   in its stored type (F16, BF16, Q8_0, K-quants: products through its transpose on the native
 *   kernel, ops.weightTMatMul), differentiable composites, AdamW or SGD; gradients optionally
 *   accumulated over micro-batches, intermediates in reused memory (Graph reuse).
 *
 * LoRA (Hu et al. 2021; attachLora): an adapted weight W [n_in, n_out] computes
 *   y = W x + s B (A x),   A = `<W>.lora_a` ne [n_in, r],  B = `<W>.lora_b` ne [r, n_out],
 *   s = adapter_scale * alpha / r (float32, as llama.cpp's llama_adapter_lora_weight::get_scale)
 * with the ops llama.cpp's build_lora_mm uses (mul_mat, mul_mat, scale, add), so an evaluation with
 * an adapter gives llama.cpp's log-probs; a LoRA training session trains A and B only.
 */
import { decodeToF32, ggmlTypeName, readGguf, readTensorRaw, tensorNumel, type GgufFile } from './gguf.ts';
import { ARCHITECTURES, configFromGguf, expectedTensors, familyOf, parameterNames, type Architecture, type ModelConfig } from './config.ts';
import type { ForwardBuilder } from './arch/types.ts';
import type { LlamaTrace } from './llama.ts';
import { buildLlamaBackward } from './llamaBackward.ts';
import { linear, sequenceInputs, setSequenceConstants, type BuildMode, type WeightTap } from './layers.ts';
import { buildPerExampleNodes, exampleFactor, perExampleOutputs, readPerExample, type PerExampleNode, type PerExampleResult } from './perExample.ts';
import { Graph, type Tensor, type OptimizerKind, type AdamWHyper, type SgdHyper } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import { dtypeOfCode, GGML_TYPE, type DType } from '../engine/types.ts';
import { nativeKernels } from '../engine/native.ts';
import { UserError } from '../util/errors.ts';
import { LogSoftmaxKernel, sharedLogSoftmaxKernel } from './logsumexp.ts';

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
function storedHostTensor(name: string, ne: number[], fileType: DType, bytes: Uint8Array, what = name): HostTensor {
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

/** Host tensors whose values live in a training session only (LMSession.releaseHostCopies). */
const released = new WeakSet<HostTensor>();

/** Whether a host tensor holds F32 values (false for a stored tensor whose `data` was never read). */
export function hostTensorDecoded(h: HostTensor): boolean {
  return !undecoded.has(h);
}

/**
 * A LoRA adapter attached to a model (CausalLM.attachLora). Its factors are F32 host tensors in the
 * model's `weights`: `<target>.lora_a` ne [n_in, r] and `<target>.lora_b` ne [r, n_out].
 */
export interface AttachedLora {
  /** adapter.lora.alpha (0: the scale is the adapter scale alone, as llama.cpp reads it). */
  alpha: number;
  /** llama.cpp's per-adapter scale (1: as trained). */
  scale: number;
  /** The adapted base tensors, in architecture order. */
  targets: string[];
}

/** The adapter tensor names of LoRA targets: A then B of each. */
export function loraTensorNames(targets: readonly string[]): string[] {
  return targets.flatMap((t) => [`${t}.lora_a`, `${t}.lora_b`]);
}

/** The effective scale of a LoRA pair of rank r: adapter_scale * alpha / r in float32 (adapter_scale alone when alpha = 0). */
function loraScale(alpha: number, adapterScale: number, rank: number): number {
  return alpha ? Math.fround(Math.fround(Math.fround(adapterScale) * Math.fround(alpha)) / rank) : Math.fround(adapterScale);
}

/** A deep copy of a host tensor; a stored tensor not yet decoded stays undecoded (sharing its immutable file bytes). */
function cloneHostTensor(v: HostTensor): HostTensor {
  if (undecoded.has(v) && v.fileBytes) return storedHostTensor(v.name, [...v.ne], v.fileType, v.fileBytes);
  return { name: v.name, ne: [...v.ne], data: v.data.slice(), fileType: v.fileType, fileBytes: v.fileBytes };
}

/** The forward builder of each architecture (also used by the KV-cache decoder, decode.ts): its family's (arch/registry.ts). */
export const ARCH_BUILDERS = Object.fromEntries(ARCHITECTURES.map((a) => [a, familyOf(a).build])) as Record<Architecture, ForwardBuilder>;

export class CausalLM {
  /** The attached LoRA adapter (attachLora), or null. */
  lora: AttachedLora | null = null;

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

  /** A deep copy (e.g. to keep the base model while training a fine-tune), the adapter included. */
  clone(): CausalLM {
    const w = new Map<string, HostTensor>();
    for (const [k, v] of this.weights) w.set(k, cloneHostTensor(v));
    const m = new CausalLM(this.config, w, this.source, this.file);
    m.lora = this.lora ? { ...this.lora, targets: [...this.lora.targets] } : null;
    return m;
  }

  /** The adapter's tensor names (A then B of each target); empty without an adapter. */
  get loraTensorNames(): string[] {
    return this.lora ? loraTensorNames(this.lora.targets) : [];
  }

  /**
   * Attach a LoRA adapter: for each target (a 2-D weight of this model used as y = W x), its factors
   * A [n_in, r] and B [r, n_out] (ggml ne) become the F32 host tensors `<target>.lora_a` / `.lora_b`,
   * and every session built afterwards computes y = W x + s B (A x). Replaces an adapter attached
   * before. Embeddings cannot be targets (llama.cpp applies an embedding adapter as a row lookup).
   */
  attachLora(o: { alpha: number; scale?: number; factors: Map<string, { a: Float32Array; b: Float32Array; rank: number }> }): void {
    if (!Number.isFinite(o.alpha) || o.alpha < 0) throw new UserError(`LoRA alpha must be a non-negative number, got ${o.alpha}`);
    const scale = o.scale ?? 1;
    if (!Number.isFinite(scale)) throw new UserError(`LoRA adapter scale must be a finite number, got ${scale}`);
    this.detachLora();
    const order = new Map(this.tensorNames.map((n, i) => [n, i]));
    const targets = [...o.factors.keys()].sort((x, y) => (order.get(x) ?? 0) - (order.get(y) ?? 0));
    for (const t of targets) {
      const f = o.factors.get(t)!;
      const w = this.weights.get(t);
      if (!w) throw new UserError(`LoRA target ${t} is not a tensor of this ${this.config.arch} model`);
      if (w.ne.length !== 2) throw new UserError(`LoRA target ${t} has shape [${w.ne.join(', ')}]; adapters apply to 2-D weights`);
      if (t === 'token_embd.weight' || t === 'position_embd.weight') throw new UserError(`LoRA on the embedding ${t} is not implemented (llama.cpp applies it as a row lookup)`);
      const [nIn, nOut] = w.ne as [number, number];
      const r = f.rank;
      if (!Number.isInteger(r) || r < 1) throw new UserError(`LoRA rank of ${t} must be a positive integer, got ${r}`);
      if (f.a.length !== nIn * r || f.b.length !== r * nOut) {
        throw new UserError(`LoRA factors of ${t}: A must have ${nIn} x ${r} and B ${r} x ${nOut} values, got ${f.a.length} and ${f.b.length}`);
      }
      this.weights.set(`${t}.lora_a`, { name: `${t}.lora_a`, ne: [nIn, r], data: f.a, fileType: 'f32' });
      this.weights.set(`${t}.lora_b`, { name: `${t}.lora_b`, ne: [r, nOut], data: f.b, fileType: 'f32' });
    }
    this.lora = { alpha: o.alpha, scale, targets };
  }

  /** Remove the attached adapter (its tensors leave `weights`). */
  detachLora(): void {
    for (const n of this.loraTensorNames) this.weights.delete(n);
    this.lora = null;
  }

  /** The LoRA factors of one target (views of the host tensors). */
  loraFactors(target: string): { a: Float32Array; b: Float32Array; rank: number } {
    const a = this.weights.get(`${target}.lora_a`);
    const b = this.weights.get(`${target}.lora_b`);
    if (!this.lora || !a || !b) throw new UserError(`${target} has no LoRA adapter`);
    return { a: a.data, b: b.data, rank: b.ne[0]! };
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
  /** Per-example gradients of matmul weights in factored form where smaller (src/train/factored.ts; the first-epoch record). */
  recordFactored?: boolean;
  /**
   * Train mode: how gradients are built. 'manual' (default for the llama-like families: llama,
   * qwen2, qwen3): the hand-written backward of llamaBackward.ts (faster on CPUs); 'auto' (default
   * for GPT-2, the only choice there): ggml's automatic backward, the reference it is tested against. The
   * environment variable UNLEARNKIT_BACKWARD=auto|manual changes the default.
   */
  backward?: 'auto' | 'manual';
  /**
   * Train mode: accumulate gradients over micro-batches. backward() / backwardRecord() add the
   * current batch's gradients into per-parameter accumulators, update() takes one optimiser step
   * from their sum and clears them; give setBatch the whole batch's token count (batchTokens) so
   * that the sum is the gradient of the whole batch's mean token loss.
   */
  accumulate?: boolean;
}

/** One adapted product of a LoRA session: y = W x + s z, z = B u, u = A x. */
export interface LoraUse {
  x: Tensor;
  u: Tensor;
  z: Tensor;
  scale: number;
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
  /** Predicted tokens of the whole batch the current micro-batch belongs to (setBatch's batchTokens). */
  private batchTokens = 0;
  /** Host tensors uploaded from their (immutable) file bytes: not uploaded again (uploadWeights). */
  private uploadedStored = new WeakSet<HostTensor>();
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
    const loraNames = new Set(model.loraTensorNames);
    const trainable = new Set(train ? (opts.trainable ?? (model.lora ? [...loraNames] : model.parameterNames)) : []);
    const parameterSet = new Set(model.parameterNames);
    for (const n of trainable) {
      if (!model.weights.has(n)) throw new UserError(`unknown tensor '${n}' in the trainable set`);
      if (!parameterSet.has(n) && !loraNames.has(n)) throw new UserError(`${n} is a constant of the ${c.arch} architecture, not a trainable parameter`);
      if (model.lora && !loraNames.has(n)) throw new UserError(`${n} cannot be trained together with the model's LoRA adapter (a LoRA session trains the adapter's tensors only)`);
    }
    let backward: 'auto' | 'manual' | null = null;
    if (train) {
      const envBackward = process.env.UNLEARNKIT_BACKWARD;
      backward = opts.backward ?? (envBackward === 'auto' || envBackward === 'manual' ? envBackward : fam.backward);
      if (backward !== 'auto' && backward !== 'manual') throw new UserError(`unknown backward '${String(backward)}' (use auto or manual)`);
      if (backward === 'manual' && fam.backward !== 'manual') {
        throw new UserError(`the manual backward exists for the llama-like families (${ARCHITECTURES.filter((a) => familyOf(a).backward === 'manual').join(', ')}) only; use backward 'auto' for ${c.arch}`);
      }
    }
    const layerNodes = fam.nodesPerLayer;
    const loraNodes = model.lora ? 6 * model.lora.targets.length * (train ? 3 : 1) : 0;
    // training: intermediates in reused memory, except under ggml's automatic backward (its gradient
    // state lives in the graph). Evaluation graphs keep one buffer per tensor: their weights sit in the
    // CPU's extra buffer types, and the AMX kernels were seen to corrupt neighbouring intermediates of
    // tiny models (K = 32) once the allocator packs them (harmless in unshared memory)
    const g = new Graph({ maxNodes: Math.max(2048, (train ? 4 : 1) * (c.nLayer * layerNodes + 200) + loraNodes), reuse: train && backward !== 'auto' });
    this.graph = g;
    const w = (name: string): Tensor => {
      let t = this.params.get(name);
      if (t) return t;
      const h = model.weights.get(name)!;
      if (trainable.has(name)) t = g.param(name, h.ne);
      else if (loraNames.has(name)) t = g.input(name, h.ne); // llama.cpp keeps adapters out of the repacking buffer types
      else {
        // evaluation: each weight in the buffer type llama.cpp would give it (Graph.input placement)
        t = g.input(name, h.ne, frozenWeightType(h, train, g), train ? {} : { placement: 'weight' });
      }
      this.params.set(name, t);
      return t;
    };
    const inp = sequenceInputs(g, T, B);
    this.tokens = inp.tokens;
    const taps: WeightTap[] = [];
    const record = new Set(opts.record ?? []);
    for (const n of record) if (!trainable.has(n)) throw new UserError(`recorded tensor ${n} must also be trainable`);
    // the hand-written backward lets the whole step run its products on the native kernel
    const fastMatmul = backward === 'manual';
    const loraUses = new Map<string, LoraUse>();
    const mode: BuildMode = {
      differentiable: train,
      tap: record.size ? (t) => taps.push(t) : undefined,
      fastMatmul,
      lora: model.lora ? loraHook(model, w, loraUses) : undefined,
    };
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
        accumulate: opts.accumulate,
        // GPT-2 has only ggml's automatic backward: run its products on the native kernel; the
        // llama-like families' automatic backward stays all-ggml, the reference the manual one is tested against
        nativeMatmul: backward === 'auto' && fam.backward === 'auto',
        extras: record.size
          ? (gradOf) => perExampleOutputs((this.perExampleNodes = buildPerExampleNodes(taps, record, gradOf, T, B, { fastMatmul, exampleScale: this.exampleScale!, factored: opts.recordFactored })))
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
                  lora: loraUses,
                })
            : undefined,
      });
    } else {
      this.loss = null;
      g.build({ outputs: [out.logits] });
    }
    g.allocate();
    setSequenceConstants(g, inp);
    this.uploadWeights();
  }

  /**
   * Copy the model's host weights into the graph (all tensors, or the given names). A tensor still
   * holding its file's bytes (never decoded or assigned) is uploaded once: those bytes cannot change.
   */
  uploadWeights(names?: string[]): void {
    for (const [name, t] of this.params) {
      if (names && !names.includes(name)) continue;
      const h = this.model.weights.get(name);
      if (!h) throw new UserError(`the model no longer has tensor ${name} (was its LoRA adapter detached?)`);
      if (released.has(h)) continue; // its master copy is the graph's parameter (releaseHostCopies)
      const stored = undecoded.has(h);
      if (stored && this.uploadedStored.has(h) && !this.graph.params.includes(t)) continue;
      uploadWeight(this.graph, t, h);
      if (stored) this.uploadedStored.add(h);
    }
  }

  /** Free the memory of the graph's intermediates until the next compute (training graphs: Graph reuse), e.g. while a checkpoint is written. */
  releaseScratch(): void {
    this.graph.releaseIntermediates();
  }

  /** The current values of a trainable tensor in the graph (e.g. to write a checkpoint without a host copy). */
  trainedValues(name: string): Float32Array {
    const t = this.params.get(name);
    if (!t || !this.graph.params.includes(t)) throw new UserError(`${name} is not trained by this session`);
    return this.graph.get(t);
  }

  /**
   * Drop the model's host copies of the tensors this session trains (their file bytes or F32
   * values): the graph's parameters are their master copies while it trains, and a full fine-tune
   * would otherwise hold every weight twice. Reading such a host tensor's values throws until
   * downloadWeights() puts the trained values back; uploadWeights() leaves them as the graph has them.
   */
  releaseHostCopies(): void {
    for (const p of this.graph.params) {
      const h = this.model.weights.get(p.name)!;
      if (released.has(h)) continue;
      const r = { name: h.name, ne: h.ne, fileType: 'f32' } as HostTensor;
      let values: Float32Array | null = null;
      Object.defineProperty(r, 'data', {
        enumerable: true,
        configurable: true,
        get: () => {
          if (values) return values;
          throw new UserError(`the values of ${h.name} are held by a training session (LMSession.downloadWeights() copies them back)`);
        },
        set: (v: Float32Array) => {
          released.delete(r);
          undecoded.delete(r);
          values = v;
        },
      });
      released.add(r);
      undecoded.add(r); // no values to read: downloadWeights assigns rather than copies
      this.model.weights.set(p.name, r);
    }
  }

  /** Copy trainable tensors back from the graph into the model's host weights. */
  downloadWeights(): void {
    for (const p of this.graph.params) {
      const h = this.model.weights.get(p.name)!;
      if (undecoded.has(h)) h.data = this.graph.get(p); // no decode of the stale file bytes first
      else h.data.set(this.graph.get(p));
      // the trained values, not the file's (now stale) bytes, are what evaluation must use
      if (h.fileType !== 'f32') {
        h.fileType = 'f32';
        h.fileBytes = undefined;
      }
    }
  }

  /**
   * Write a batch of token sequences (each 2..T long; at most B). Returns the number of predicted
   * tokens. `batchTokens` (accumulation over micro-batches): the predicted tokens of the whole batch
   * this one is part of; the loss is then this part's share of the whole batch's mean token loss
   * (sum of its token losses / batchTokens), so that the accumulated gradient is the whole batch's.
   */
  setBatch(seqs: number[][], opts: { batchTokens?: number } = {}): number {
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
    const total = opts.batchTokens ?? nPred;
    if (!Number.isInteger(total) || total < nPred) throw new UserError(`batchTokens (${total}) must be an integer >= this batch's ${nPred} predicted tokens`);
    this.batchTokens = total;
    this.batch = seqs;
    this.graph.set(this.tokens, tok);
    if (this.exampleScale) this.graph.set(this.exampleScale, Float32Array.from({ length: B }, (_, b) => exampleFactor(this.lengths[b] ?? 0, total)));
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
      // ce = (sum over predicted rows of -log p + (N - nPred) log V) / N; loss = that sum / total
      const one = this.scalarHost;
      one[0] = total > 0 ? N / total : 0;
      this.graph.set(this.lossScale, one);
      one[0] = total > 0 ? (-(N - nPred) * Math.log(V)) / total : 0;
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
    // the logits are read straight into the log-softmax kernel's memory, which this session keeps
    // for its next batches (no [V, T*B] array allocated per batch, no copy per row)
    const k = (this.logSoftmax ??= new LogSoftmaxKernel());
    const logits = this.graph.get(this.logits, k.scratch(this.logits.numel));
    const V = this.model.config.nVocab;
    return this.batch.map((s, b) => {
      const out: number[] = [];
      for (let i = 0; i + 1 < s.length; i++) out.push(k.logProb(logits, (b * this.T + i) * V, V, s[i + 1]!));
      return out;
    });
  }
  private logSoftmax: LogSoftmaxKernel | null = null;

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
    if (this.opts.accumulate) throw new Error('a session that accumulates gradients steps with backward() per micro-batch, then update()');
    this.graph.step(h, { extras: !!opts.record && this.perExampleNodes.length > 0 });
    return this.graph.lossValue();
  }

  /** Accumulating sessions: one optimiser step from the gradients accumulated since the last update, which are then cleared. */
  update(h: AdamWHyper | SgdHyper): void {
    if (!this.opts.accumulate) throw new Error('update() is for sessions built with accumulate: true (use step())');
    this.graph.step(h);
    this.graph.zeroGrads();
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
    return readPerExample(this.graph, this.perExampleNodes, this.batch, this.T, this.recordShapes, opts.reuse ? this.perExampleBuffers : undefined, this.batchTokens);
  }
  private perExampleBuffers = new Map<Tensor, Float32Array>();

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
    this.logSoftmax = null;
  }
}

/**
 * The graph type of a frozen (non-trainable) weight: matrices in the file's type (F16 / Q4_K / ...
 * products as llama.cpp computes them), vectors f32. In training graphs a frozen matrix keeps its
 * stored type where the backward can multiply by its transpose in that type: on the CPU with the
 * native kernels (ops.weightTMatMul: rows decoded in blocks by ggml's to_float), or through ggml's
 * out_prod, which has CPU kernels for F16 and the block types but not BF16; elsewhere (GPU devices,
 * BF16 without the kernels) it is an F32 copy, decoded for the upload only.
 */
export function frozenWeightType(h: HostTensor, train: boolean, g?: Graph): DType {
  if (h.ne.length < 2) return 'f32';
  if (!train) return h.fileType;
  const cpu = (g?.device.type ?? 'cpu') === 'cpu';
  return cpu && (nativeKernels().kernels !== null || h.fileType !== 'bf16') ? h.fileType : 'f32';
}

/**
 * The BuildMode.lora hook of a model with an adapter: for each adapted weight, y + s B (A x) with
 * llama.cpp's ops and order (build_lora_mm: mul_mat(B, mul_mat(A, x)), scale, add), on the native
 * kernel in training graphs that use it; A and B are reported to the tap as weights of their own
 * (per-example gradients of the adapter: A's input is x, B's the rank-r u = A x), and each use is
 * recorded in `uses` for the hand-written backward.
 */
export function loraHook(model: CausalLM, w: (name: string) => Tensor, uses?: Map<string, LoraUse>): BuildMode['lora'] {
  const lora = model.lora;
  if (!lora) return undefined;
  const targets = new Set(lora.targets);
  return (name, x, y, mode) => {
    if (!targets.has(name)) return y;
    if (uses?.has(name)) throw new Error(`LoRA target ${name} is used twice in the graph`);
    const inner: BuildMode = { ...mode, lora: undefined };
    const A = w(`${name}.lora_a`);
    const B = w(`${name}.lora_b`);
    const s = loraScale(lora.alpha, lora.scale, B.ne[0]);
    const u = linear(`${name}.lora_a`, A, x, inner);
    const z = linear(`${name}.lora_b`, B, u, inner);
    uses?.set(name, { x, u, z, scale: s });
    return op.add(y, op.scale(z, s));
  };
}

/**
 * Copy a host weight into its graph tensor: the file's bytes for its own type, or the f32 values.
 * An f32 graph tensor of a stored tensor whose values were never read (a trained tensor, or a frozen
 * F32 copy) is decoded for the upload only (not kept): the graph's parameter is the master copy of
 * a trained tensor, and the host keeps no F32 copies at all.
 */
export function uploadWeight(g: Graph, t: Tensor, h: HostTensor): void {
  if (t.dtype !== 'f32') return g.set(t, h.fileBytes!);
  const transient = undecoded.has(h) && h.fileBytes !== undefined;
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

/**
 * Tokens per evaluation graph beyond which sequences are not batched further (llama.cpp's default
 * micro-batch): a graph's logits are T * B * V floats (8 x 1024 tokens of a 152k vocabulary would be
 * 5 GB), and larger graphs were no faster (bench eval).
 */
export const EVAL_TOKENS_PER_GRAPH = 512;

/** log softmax(logits[off .. off+V))[target], in float64. */
export function logSoftmaxAt(logits: Float32Array, off: number, V: number, target: number): number {
  // x_t - max - log(sum exp(x - max)), the sum on the WebAssembly SIMD kernel (logsumexp.ts)
  return sharedLogSoftmaxKernel().logProb(logits, off, V, target);
}

/** Full log-softmax row in float64 (logsumexp.ts). */
export function logSoftmaxRow(logits: Float32Array, off: number, V: number): Float64Array {
  return sharedLogSoftmaxKernel().logSoftmaxRow(logits, off, V);
}
