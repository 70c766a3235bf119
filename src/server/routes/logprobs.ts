/**
 * Log-probabilities for `/v1/completions` with `logprobs` (and `echo`), in OpenAI's legacy
 * completions format, which lm-evaluation-harness's `local-completions` reads:
 *
 *   "logprobs": { "tokens": [" Once", ...], "token_logprobs": [null, -0.24, ...],
 *                 "top_logprobs": [null, {" upon": -0.01, ...}, ...], "text_offset": [0, 5, ...] }
 *
 * The numbers are the ones `/v1/score` gives (src/server/score.ts): for tokens t_0..t_{n-1},
 * log p(t_i | t_<i) = log-softmax of llama.cpp's logits at position i-1 (float64, natural log,
 * the same `logSoftmax` over the same dense vocabulary-sized array), evaluated from an empty
 * sequence in chunks of 256 positions; the first token of an echoed prompt has none (null). They are
 * the model's distribution itself: temperature 1, before any sampling filter. `top_logprobs[i]`
 * holds the k most likely tokens at that position (ties: lower id first) and the actual token when
 * it is not among them, so up to k + 1 entries (OpenAI's rule), keyed by token piece; two tokens
 * with the same piece share one key (the more likely one is kept).
 *
 * Generated tokens come from greedy decoding on the same evaluation (argmax of the logits, lower id
 * on ties: what llama.cpp's greedy sampler, i.e. `temperature: 0` on the plain generation path,
 * picks), so the tokens and their log-probabilities are those of one forward pass. They stop at
 * `max_tokens`, at the end of the context, at an end-of-generation token, or once the text holds a
 * stop string; the text leaves the stop string (and the end-of-generation token) out, the token
 * lists keep every generated token.
 */
import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { logSoftmax } from '../../model/llamacppLogprobs.ts';
import type { TokenPieces } from './tokenize.ts';

/** One position: the token there, its log-probability, and the most likely tokens. */
export interface TokenLogprob {
  token: Token;
  logprob: number;
  top: Array<{ token: Token; logprob: number }>;
}

export interface EvaluatedCompletion {
  /** Entries for prompt tokens 1..n-1 (empty unless `scorePrompt`). */
  prompt: TokenLogprob[];
  /** Greedily generated tokens with their entries. */
  generated: TokenLogprob[];
  /** Generated text (without end-of-generation tokens), cut before the first stop string. */
  text: string;
  finishReason: 'stop' | 'length';
}

/** Positions evaluated per llama.cpp call (as score.ts, so the numbers match /v1/score's). */
const CHUNK = 256;

/** Dense log-softmax of one position's logits map, laid out as score.ts does (vocabulary-sized). */
function logprobsOf(logits: Map<Token, number>, nVocab: number): Float64Array {
  const dense = new Float64Array(nVocab).fill(-Infinity);
  for (const [k, v] of logits) dense[k] = v;
  return logSoftmax(dense);
}

/** Ids of the k largest entries, largest first, lower id first among equals. */
export function topK(lp: Float64Array, k: number): Token[] {
  if (k <= 0) return [];
  const ids: number[] = [];
  for (let i = 0; i < lp.length; i++) {
    const v = lp[i]!;
    if (ids.length === k) {
      if (!(v > lp[ids[k - 1]!]!)) continue; // an equal value keeps the lower id already listed
      ids.pop();
    }
    let j = ids.length;
    ids.push(i);
    while (j > 0 && lp[ids[j - 1]!]! < v) {
      ids[j] = ids[j - 1]!;
      j--;
    }
    ids[j] = i;
  }
  return ids as Token[];
}

function entry(lp: Float64Array, token: Token, k: number): TokenLogprob {
  const logprob = lp[token];
  if (logprob === undefined) throw new Error(`llama.cpp returned no logit for token ${token}`);
  return { token, logprob, top: topK(lp, k).map((t) => ({ token: t, logprob: lp[t]! })) };
}

function argmax(lp: Float64Array): Token {
  let best = 0;
  for (let i = 1; i < lp.length; i++) if (lp[i]! > lp[best]!) best = i;
  return best as Token;
}

type EvalInput = Parameters<LlamaContextSequence['controlledEvaluate']>[0];

/**
 * Evaluate `prompt` from an empty sequence state, optionally scoring its tokens 1..n-1, then
 * decode up to `maxTokens` tokens greedily (see module doc). `k`: most likely tokens per position.
 */
export async function evaluateCompletion(
  sequence: LlamaContextSequence,
  prompt: readonly Token[],
  o: { k: number; scorePrompt: boolean; maxTokens: number; stop: readonly string[]; nVocab: number; signal?: AbortSignal },
): Promise<EvaluatedCompletion> {
  const model: LlamaModel = sequence.model;
  const n = prompt.length;
  if (n === 0) throw new Error('internal: empty prompt');
  const maxNew = Math.max(0, Math.min(o.maxTokens, sequence.contextSize - n));
  if (n > sequence.contextSize) throw new RangeError(`${n} tokens do not fit the context of ${sequence.contextSize} tokens`);
  await sequence.clearHistory();
  const out: EvaluatedCompletion = { prompt: [], generated: [], text: '', finishReason: 'length' };
  let next: Float64Array | undefined;
  for (let start = 0; start < n; start += CHUNK) {
    if (o.signal?.aborted) throw o.signal.reason;
    const end = Math.min(n, start + CHUNK);
    const want = (i: number) => (o.scorePrompt && i + 1 < n) || (i === n - 1 && maxNew > 0);
    const input = [];
    for (let i = start; i < end; i++) input.push(want(i) ? ([prompt[i]!, { generateNext: { logits: true } }] as const) : prompt[i]!);
    const res = await sequence.controlledEvaluate(input as EvalInput);
    for (let i = start; i < end; i++) {
      if (!want(i)) continue;
      const logits = res[i - start]?.next.logits;
      if (!logits) throw new Error(`llama.cpp returned no logits at position ${i}`);
      const lp = logprobsOf(logits, o.nVocab);
      if (o.scorePrompt && i + 1 < n) out.prompt.push(entry(lp, prompt[i + 1]!, o.k));
      if (i === n - 1) next = lp;
    }
  }
  const textTokens: Token[] = [];
  while (out.generated.length < maxNew && next) {
    if (o.signal?.aborted) throw o.signal.reason;
    const t = argmax(next);
    out.generated.push(entry(next, t, o.k));
    if (model.isEogToken(t)) {
      out.finishReason = 'stop';
      break;
    }
    textTokens.push(t);
    const text = model.detokenize(textTokens, false);
    let cut = -1;
    for (const s of o.stop) {
      const i = text.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      out.text = text.slice(0, cut);
      out.finishReason = 'stop';
      return out;
    }
    out.text = text;
    if (out.generated.length === maxNew) break;
    const res = await sequence.controlledEvaluate([[t, { generateNext: { logits: true } }]] as EvalInput);
    const logits = res[0]?.next.logits;
    if (!logits) throw new Error('llama.cpp returned no logits for a generated token');
    next = logprobsOf(logits, o.nVocab);
  }
  return out;
}

/** OpenAI's legacy `logprobs` object for one choice. */
export interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: Array<number | null>;
  top_logprobs: Array<Record<string, number> | null>;
  text_offset: number[];
}

/**
 * The legacy object from the prompt's first token (null entry, when echoed), the scored prompt
 * tokens and the generated tokens. `tokens` are the token pieces (llama.cpp's `token_to_piece`,
 * special tokens as their text; bytes that are not valid UTF-8 as U+FFFD). `text_offset` counts
 * characters (code points, as Python does): prompt tokens from 0 along the pieces, generated tokens
 * from `generatedOffset` (the length of the echoed prompt text), so the generated ones point into
 * the returned text.
 */
export function legacyLogprobs(
  pieces: TokenPieces,
  echoed: { first: Token; rest: readonly TokenLogprob[] } | null,
  generated: readonly TokenLogprob[],
  generatedOffset: number,
): LegacyLogprobs {
  const out: LegacyLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let offset = 0;
  const push = (token: Token, e: TokenLogprob | null) => {
    const piece = pieces.text(token);
    out.tokens.push(piece);
    out.token_logprobs.push(e ? e.logprob : null);
    if (e) {
      const top: Record<string, number> = {};
      for (const c of e.top) {
        const key = pieces.text(c.token);
        if (!(key in top)) top[key] = c.logprob;
      }
      if (!(piece in top)) top[piece] = e.logprob;
      out.top_logprobs.push(top);
    } else out.top_logprobs.push(null);
    out.text_offset.push(offset);
    offset += [...piece].length;
  };
  if (echoed) {
    push(echoed.first, null);
    for (const e of echoed.rest) push(e.token, e);
  }
  offset = generatedOffset;
  for (const e of generated) push(e.token, e);
  return out;
}
