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
 */
import fs from 'node:fs';
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel } from 'node-llama-cpp';
import { UserError } from '../util/errors.ts';

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

/** log-softmax of a logits vector, in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - lse;
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
      const logits = new Float64Array(size).fill(-Infinity);
      for (const [tok, v] of m) logits[tok] = v;
      const row = logSoftmax(logits);
      if (i < n - 1) logprobs[i] = row[tokens[i + 1]!]!;
      if (opts.full) rows.push(row);
    }
    await this.sequence.clearHistory();
    return { tokens: tokens.slice(1), logprobs, ...(opts.full ? { rows } : {}) };
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
