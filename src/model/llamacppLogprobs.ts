/**
 * Per-token log-probabilities from llama.cpp itself (node-llama-cpp 3.22.1), the reference our own
 * forward pass is checked against and the engine behind `logprobs --engine llama.cpp` and the
 * server.
 *
 * For tokens t_0..t_{n-1} the model is evaluated once over the whole sequence with
 * `sequence.controlledEvaluate`, asking for the raw next-token logits at every position; the
 * log-probability of t_i is `logits_{i-1}[t_i] - logsumexp(logits_{i-1})` (log-softmax in float64).
 *
 * LoRA adapters (llama.cpp adapter GGUFs) are applied with `createContext({ lora: { adapters } })`.
 * Contexts are created with `threads: 1` by default: node-llama-cpp's default of 4 threads is
 * hundreds of times slower on a shared 2-core machine.
 *
 * The log-softmax is logsumexp.ts's, the one our engine uses, so the two engines' log-probs differ
 * only where their logits do.
 */
import fs from 'node:fs';
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel } from 'node-llama-cpp';
import { UserError } from '../util/errors.ts';
import { sharedLogSoftmaxKernel } from './logsumexp.ts';

export interface LlamaCppOptions {
  /** CPU threads for evaluation (default 1). */
  threads?: number;
  /** Context size in tokens (default: min(the model's training context, 2048)). */
  contextSize?: number;
  /** LoRA adapters to apply, each `{ filePath, scale }` (scale defaults to 1). */
  lora?: Array<{ filePath: string; scale?: number }>;
  /** Use a GPU when node-llama-cpp finds one ('auto'), or CPU only (false, the default). */
  gpu?: false | 'auto';
}

export interface TokenLogprobs {
  /** Tokens scored: `tokens[i]` for i = 1..n-1 (the first token is context only). */
  tokens: number[];
  /** `logprobs[i-1] = log p(tokens[i] | tokens[0..i-1])`, natural log. */
  logprobs: Float64Array;
  /** With `full: true`: the whole log-softmax row at every position 0..n-1 (row i predicts token i+1). */
  rows?: Float64Array[];
}

/** The internals of node-llama-cpp 3.22.1's LlamaContextSequence that computeLogits uses. */
interface InternalSequence {
  _decodeTokens(
    tokens: number[],
    logits: boolean[],
    evaluationPriority: number,
    tokenMeter: unknown,
    contextShift: { size: unknown; strategy: unknown },
    logitDataMapper: (batchLogitIndex: number, tokenIndex: number) => undefined,
    afterBatchAction: undefined,
  ): Promise<unknown>;
  _tokenMeter: unknown;
  _contextShift?: { size: unknown; strategy: unknown };
}

const llamaCache = new Map<string, Promise<Llama>>();

/** The process-wide node-llama-cpp instance (CPU-only unless gpu = 'auto'), created once. */
export async function getLlamaCpp(gpu: false | 'auto' = false): Promise<Llama> {
  const key = String(gpu);
  let p = llamaCache.get(key);
  if (!p) {
    p = (async () => {
      const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
      try {
        return await getLlama({ gpu, logLevel: LlamaLogLevel.error, build: 'never' });
      } catch (e) {
        throw new UserError(`node-llama-cpp could not start llama.cpp (${(e as Error).message})`);
      }
    })();
    llamaCache.set(key, p);
    p.catch(() => llamaCache.delete(key));
  }
  return p;
}

/**
 * log-softmax of a logits vector, in float64: x_i - max - log(sum exp(x - max)), the same
 * arithmetic (logsumexp.ts, its WebAssembly SIMD kernel) as our engine's log-probs, so that the two
 * engines' numbers differ only where their logits do. llama.cpp's logits are float32; a vector
 * holding other values (not float32-exact) takes the Math.exp path.
 */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  const n = logits.length;
  const k = sharedLogSoftmaxKernel();
  if (logits instanceof Float32Array) return k.logSoftmaxRow(logits, 0, n);
  const f = k.scratch(n);
  let exact = true;
  for (let i = 0; i < n; i++) {
    const v = logits[i]!;
    f[i] = v;
    if (f[i] !== v && !Number.isNaN(v)) exact = false;
  }
  if (exact) return k.logSoftmaxRow(f, 0, n);
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[i]! - max);
  const ls = Math.log(sum);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = logits[i]! - max - ls;
  return out;
}

/**
 * A loaded GGUF model with one evaluation context (optionally with LoRA adapters), for scoring
 * token sequences. Call `dispose()` when done (it frees the context, the model and its adapters).
 */
export class LlamaCppScorer {
  private constructor(
    readonly model: LlamaModel,
    readonly context: LlamaContext,
    private readonly sequence: LlamaContextSequence,
    readonly modelPath: string,
  ) {}

  static async open(modelPath: string, opts: LlamaCppOptions = {}): Promise<LlamaCppScorer> {
    if (!fs.existsSync(modelPath)) throw new UserError(`model file not found: ${modelPath}`);
    for (const a of opts.lora ?? []) if (!fs.existsSync(a.filePath)) throw new UserError(`LoRA adapter file not found: ${a.filePath}`);
    const llama = await getLlamaCpp(opts.gpu ?? false);
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath, gpuLayers: opts.gpu ? 'auto' : 0 });
    } catch (e) {
      throw new UserError(`llama.cpp could not load ${modelPath}: ${(e as Error).message}`);
    }
    try {
      const contextSize = opts.contextSize ?? Math.min(model.trainContextSize || 2048, 2048);
      const context = await model.createContext({
        contextSize,
        threads: opts.threads ?? 1,
        sequences: 1,
        ...(opts.lora?.length ? { lora: { adapters: opts.lora.map((a) => ({ filePath: a.filePath, scale: a.scale ?? 1 })) } } : {}),
      });
      return new LlamaCppScorer(model, context, context.getSequence(), modelPath);
    } catch (e) {
      await model.dispose();
      const what = opts.lora?.length ? ` with LoRA ${opts.lora.map((a) => a.filePath).join(', ')}` : '';
      throw new UserError(`llama.cpp could not create a context for ${modelPath}${what}: ${(e as Error).message}`);
    }
  }

  /** llama.cpp's tokenizer (no BOS added; `parseSpecial` turns "<s>" etc. into tokens). */
  tokenize(text: string, parseSpecial = false): number[] {
    return this.model.tokenize(text, parseSpecial) as number[];
  }

  /**
   * Log-probabilities of tokens[1..] given their prefixes. With `full`, also every position's
   * whole log-softmax row (including the one after the last token).
   */
  async logprobs(tokens: readonly number[], opts: { full?: boolean } = {}): Promise<TokenLogprobs> {
    if (tokens.length < 1) throw new UserError('need at least one token to score');
    if (tokens.length > this.context.contextSize) {
      throw new UserError(`sequence of ${tokens.length} tokens is longer than the context (${this.context.contextSize}); pass a larger contextSize`);
    }
    const nVocab = this.model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || (nVocab !== undefined && t >= nVocab)) throw new UserError(`token id ${t} is not in the vocabulary (size ${nVocab})`);
    }
    await this.sequence.clearHistory();
    const n = tokens.length;
    const wantRow = (i: number): boolean => opts.full === true || i < n - 1;
    const input = tokens.map((t, i) => (wantRow(i) ? ([t, { generateNext: { logits: true } }] as [number, { generateNext: { logits: true } }]) : t));
    const out = await this.sequence.controlledEvaluate(input as Parameters<LlamaContextSequence['controlledEvaluate']>[0]);
    const rows: Float64Array[] = [];
    const logprobs = new Float64Array(n - 1);
    for (let i = 0; i < n; i++) {
      if (!wantRow(i)) continue;
      const m = out[i]?.next.logits;
      if (!m) throw new Error(`llama.cpp returned no logits for position ${i}`);
      const size = nVocab ?? Math.max(...m.keys()) + 1;
      // float32, as llama.cpp computed them (exactly representable), for the log-softmax kernel
      const logits = new Float32Array(size).fill(-Infinity);
      for (const [tok, v] of m) logits[tok] = v;
      const row = logSoftmax(logits);
      if (i < n - 1) logprobs[i] = row[tokens[i + 1]!]!;
      if (opts.full) rows.push(row);
    }
    await this.sequence.clearHistory();
    return { tokens: tokens.slice(1), logprobs, ...(opts.full ? { rows } : {}) };
  }

  /**
   * llama.cpp's evaluation of the sequence with the logits of every position but the last computed
   * (as logprobs() asks for them), none of them read back: its forward pass and output projection
   * without node-llama-cpp's per-position work (one sampler call per position, the V logits turned
   * into a JavaScript Map), the reference for the compute part of `bench eval`. With `lastOnly`,
   * only the second-to-last position's logits: llama.cpp then skips the output projection of the
   * others, less work than any per-token scoring (a bound).
   *
   * node-llama-cpp has no public call for this: it uses LlamaContextSequence._decodeTokens, the
   * internal method controlledEvaluate runs (node-llama-cpp 3.22.1, the pinned version), with a
   * mapper that reads nothing.
   */
  async computeLogits(tokens: readonly number[], opts: { lastOnly?: boolean } = {}): Promise<void> {
    if (tokens.length < 2) throw new UserError('need at least two tokens');
    if (tokens.length > this.context.contextSize) throw new UserError(`sequence of ${tokens.length} tokens is longer than the context (${this.context.contextSize})`);
    const seq = this.sequence as unknown as InternalSequence;
    if (typeof seq._decodeTokens !== 'function' || !seq._contextShift) {
      throw new Error('this node-llama-cpp has no LlamaContextSequence._decodeTokens (written for node-llama-cpp 3.22.1)');
    }
    await this.sequence.clearHistory();
    const n = tokens.length;
    const logits = tokens.map((_, i) => (opts.lastOnly ? i === n - 2 : i < n - 1));
    await seq._decodeTokens([...tokens], logits, 5, seq._tokenMeter, { size: seq._contextShift.size, strategy: seq._contextShift.strategy }, () => undefined, undefined);
    await this.sequence.clearHistory();
  }

  async dispose(): Promise<void> {
    if (!this.context.disposed) await this.context.dispose();
    if (!this.model.disposed) await this.model.dispose();
  }
}

/** One-shot: open `modelPath` (with optional LoRA), score `tokens`, dispose. */
export async function llamaCppLogprobs(modelPath: string, tokens: readonly number[], opts: LlamaCppOptions & { full?: boolean } = {}): Promise<TokenLogprobs> {
  const s = await LlamaCppScorer.open(modelPath, opts);
  try {
    return await s.logprobs(tokens, { full: opts.full });
  } finally {
    await s.dispose();
  }
}
