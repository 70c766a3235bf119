/**
 * Scoring a text with llama.cpp exactly as the model sees it: per-token log-probabilities and
 * perplexity. Shared by the server's `/v1/score` and by any code that holds a node-llama-cpp
 * context sequence.
 *
 * For tokens t_0..t_{n-1} (t_0 = BOS when the model adds one), the log-probability of t_i is the
 * log-softmax of the logits z^{(i-1)} computed at position i-1:
 *     log p(t_i | t_<i) = z^{(i-1)}_{t_i} - log sum_v exp(z^{(i-1)}_v)
 * (log-sum-exp taken in float64 after subtracting the max). t_0 has no log-probability.
 * The arithmetic is `logSoftmax` from src/model/llamacppLogprobs.ts (the CLI's llama.cpp engine);
 * this module adds what a server needs around it: any leased sequence, chunking, cancellation.
 * Perplexity = exp(-(1/(n-1)) sum_{i>=1} log p(t_i | t_<i)).
 */
import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { logSoftmax } from '../model/llamacppLogprobs.ts';

/**
 * Tokens of `text` as llama.cpp's own tools tokenize it (llama-perplexity, the server's prompts):
 * BOS first when the model's vocabulary asks for it, EOS last when it asks for that; special-token
 * text inside `text` stays plain text.
 */
export function tokenizeForScoring(model: LlamaModel, text: string): Token[] {
  const out: Token[] = [];
  const bos = model.tokens.bos;
  if (model.tokens.shouldPrependBosToken && bos !== null) out.push(bos);
  for (const t of model.tokenize(text)) out.push(t);
  const eos = model.tokens.eos;
  if (model.tokens.shouldAppendEosToken && eos !== null) out.push(eos);
  return out;
}

/**
 * log p(tok) from one position's logits map: the map is laid out densely by token id and passed
 * through the same `logSoftmax` that `logprobs --engine llama.cpp` uses (src/model/llamacppLogprobs.ts),
 * so both give bit-identical numbers.
 */
function logprobAt(logits: Map<Token, number>, tok: Token, nVocab: number | undefined): number {
  let size = nVocab ?? 0;
  if (nVocab === undefined) for (const k of logits.keys()) size = Math.max(size, k + 1);
  const dense = new Float64Array(size).fill(-Infinity);
  for (const [k, v] of logits) dense[k] = v;
  if (!logits.has(tok)) throw new Error(`llama.cpp returned no logit for token ${tok}`);
  return logSoftmax(dense)[tok]!;
}

/**
 * Log-probabilities of tokens[1..] given their prefixes, evaluated from an empty sequence state
 * (the sequence's history is cleared first). `chunk` bounds how many positions' full-vocabulary
 * logits are held at once. Throws (RangeError) when the tokens do not fit the sequence's context.
 */
export async function scoreTokens(
  sequence: LlamaContextSequence,
  tokens: readonly Token[],
  opts: { signal?: AbortSignal; chunk?: number } = {},
): Promise<number[]> {
  if (tokens.length > sequence.contextSize) {
    throw new RangeError(`${tokens.length} tokens do not fit the context of ${sequence.contextSize} tokens`);
  }
  const chunk = Math.max(1, opts.chunk ?? 256);
  const nVocab = sequence.model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
  await sequence.clearHistory();
  const out: number[] = [];
  for (let start = 0; start < tokens.length; start += chunk) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const end = Math.min(tokens.length, start + chunk);
    const input = [];
    for (let i = start; i < end; i++) {
      // Logits at position i predict token i+1; the last token predicts nothing we score.
      input.push(i + 1 < tokens.length ? ([tokens[i]!, { generateNext: { logits: true } }] as const) : tokens[i]!);
    }
    const res = await sequence.controlledEvaluate(input as Parameters<LlamaContextSequence['controlledEvaluate']>[0]);
    for (let i = start; i < end && i + 1 < tokens.length; i++) {
      const logits = res[i - start]?.next.logits;
      if (!logits) throw new Error(`llama.cpp returned no logits at position ${i}`);
      out.push(logprobAt(logits, tokens[i + 1]!, nVocab));
    }
  }
  return out;
}

export interface TextScore {
  /** Token ids, BOS included. */
  tokens: Token[];
  /** Per-token log-probabilities aligned with `tokens`; null for the first token. */
  logprobs: Array<number | null>;
  /** Sum of the log-probabilities (natural log). */
  sumLogprob: number;
  /** Number of scored tokens (tokens.length - 1). */
  nScored: number;
  /** exp(-sumLogprob / nScored); null when nothing was scored. */
  perplexity: number | null;
}

/** Summarise the per-token log-probabilities of `tokens` (from scoreTokens). */
export function summarize(tokens: Token[], lp: number[]): TextScore {
  const sum = lp.reduce((a, b) => a + b, 0);
  return {
    tokens,
    logprobs: tokens.length === 0 ? [] : [null, ...lp],
    sumLogprob: sum,
    nScored: lp.length,
    perplexity: lp.length > 0 ? Math.exp(-sum / lp.length) : null,
  };
}
