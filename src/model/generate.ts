/**
 * Text generation with our engine: greedy (argmax) or sampled (temperature, top-k), for short
 * answers, decoded with a KV cache (decode.ts: one token per sequence per compute). `kvCache:
 * false` uses one evaluation graph of length prompt + maxTokens for every new token instead (the
 * causal mask makes the padding after the current position irrelevant): O(T) full forwards, the
 * reference the cache is tested against.
 */
import { CausalLM, LMSession, logSoftmaxRow } from './model.ts';
import { Rng } from '../util/rng.ts';
import { KvDecoder } from './decode.ts';
import { UserError } from '../util/errors.ts';
import { checkOption } from '../options/validate.ts';
import { SAMPLING } from '../options/declarations.ts';

export interface GenerateOptions {
  maxTokens: number;
  greedy?: boolean;
  temperature?: number;
  topK?: number;
  seed?: number;
  /** Stop when one of these ids is produced (default: none; callers pass EOS). */
  stopIds?: number[];
  /** Decode with the KV cache (default true); false recomputes the whole sequence per token (the reference the cache is tested against). */
  kvCache?: boolean;
}

/** Generate continuations of several prompts (token ids); returns only the new ids per prompt. */
export function generateTokens(model: CausalLM, prompts: number[][], o: GenerateOptions): number[][] {
  checkSampling(o);
  if (prompts.length === 0) return [];
  const longest = Math.max(...prompts.map((p) => p.length));
  if (longest === 0) throw new UserError('generation needs a non-empty prompt (at least BOS)');
  if (o.maxTokens > 0 && longest >= model.config.nCtx) {
    throw new UserError(`the prompt has ${longest} tokens and the model's context is ${model.config.nCtx}: no room for a new token; shorten the prompt to at most ${model.config.nCtx - 1} tokens`);
  }
  const T = Math.min(model.config.nCtx, longest + o.maxTokens);
  if (T < 2) throw new UserError('the model context is too short to generate');
  const B = prompts.length;
  const rng = new Rng(o.seed ?? 0);
  const V = model.config.nVocab;
  const seqs = prompts.map((p) => [...p]);
  const done = prompts.map(() => false);
  const stop = new Set(o.stopIds ?? []);
  const pick = (logits: Float32Array, off: number) => (o.greedy !== false && !o.temperature ? argmaxAt(logits, off, V) : sample(logits, off, V, o, rng));
  if (o.maxTokens <= 0) return prompts.map(() => []);
  if (o.kvCache !== false) {
    const dec = new KvDecoder(model, T, B);
    try {
      // lock-step: every sequence advances one position per compute (see decode.ts)
      const fed = prompts.map(() => 0);
      while (!done.every(Boolean)) {
        const tokens = seqs.map((s, b) => s[Math.min(fed[b]!, s.length - 1)]!);
        const logits = dec.step(tokens, fed.map((p) => Math.min(p, T - 1)));
        seqs.forEach((s, b) => {
          if (done[b]) return;
          fed[b]!++;
          if (fed[b]! < s.length) return; // still reading the prompt
          if (s.length >= T || s.length - prompts[b]!.length >= o.maxTokens) {
            done[b] = true;
            return;
          }
          const next = pick(logits, b * V);
          s.push(next);
          if (stop.has(next) || s.length - prompts[b]!.length >= o.maxTokens) done[b] = true;
        });
      }
    } finally {
      dec.dispose();
    }
    return seqs.map((s, b) => s.slice(prompts[b]!.length));
  }
  const session = new LMSession(model, { T, B, mode: 'eval' });
  try {
    for (let step = 0; step < o.maxTokens; step++) {
      if (done.every(Boolean)) break;
      // Sequences of length 1 need a second slot for setBatch's length check; pad with 0 (masked out causally).
      session.setBatch(seqs.map((s) => (s.length >= 2 ? s : [...s, 0])));
      session.forward();
      const logits = session.readLogits();
      seqs.forEach((s, b) => {
        if (done[b] || s.length >= T) {
          done[b] = true;
          return;
        }
        const off = (b * T + s.length - 1) * V;
        const next = pick(logits, off);
        s.push(next);
        if (stop.has(next)) done[b] = true;
      });
    }
  } finally {
    session.dispose();
  }
  return seqs.map((s, b) => s.slice(prompts[b]!.length));
}

/**
 * Check the sampling parameters against their declarations (src/options/declarations.ts SAMPLING):
 * a NaN or negative temperature, a negative or fractional top-k, a non-integer seed would sample
 * something other than what was asked, so they are refused by name. `maxTokens` 0 is allowed here
 * (nothing to generate); the CLI and the server ask for at least 1.
 */
function checkSampling(o: GenerateOptions): void {
  if (!Number.isInteger(o.maxTokens) || o.maxTokens < 0) throw new UserError(`--max-tokens: got ${o.maxTokens}; allowed: an integer >= 0`);
  if (o.temperature !== undefined) checkOption(SAMPLING.temperature, o.temperature);
  if (o.topK !== undefined) checkOption(SAMPLING.topK, o.topK);
  if (o.seed !== undefined) checkOption(SAMPLING.seed, o.seed);
}

function argmaxAt(a: Float32Array, off: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (a[off + i]! > a[off + best]!) best = i;
  return best;
}

function sample(logits: Float32Array, off: number, V: number, o: GenerateOptions, rng: Rng): number {
  const temp = o.temperature ?? 1;
  const scaled = new Float32Array(V);
  for (let i = 0; i < V; i++) scaled[i] = logits[off + i]! / Math.max(temp, 1e-6);
  const lp = logSoftmaxRow(scaled, 0, V);
  let idx = Array.from({ length: V }, (_, i) => i);
  if (o.topK && o.topK < V) idx = idx.sort((a, b) => lp[b]! - lp[a]!).slice(0, o.topK);
  const p = idx.map((i) => Math.exp(lp[i]!));
  const total = p.reduce((a, b) => a + b, 0);
  let r = rng.next() * total;
  for (let j = 0; j < idx.length; j++) {
    r -= p[j]!;
    if (r <= 0) return idx[j]!;
  }
  return idx[idx.length - 1]!;
}

/**
 * The text a continuation adds to its prompt. Tokenizers decode a token differently at the start of
 * a text than after other tokens (SentencePiece drops the leading space of the first piece, so
 * decoding the continuation alone turned "The" + "▁horse" into "Thehorse"): decode prompt +
 * continuation together and take what follows the decoded prompt. Falls back to decoding the
 * continuation alone when the joint text does not start with the prompt's (a byte sequence split
 * between them).
 */
export function decodeContinuation(tokenizer: { decode(ids: readonly number[]): string }, prompt: readonly number[], continuation: readonly number[]): string {
  const head = tokenizer.decode(prompt);
  const all = tokenizer.decode([...prompt, ...continuation]);
  return all.startsWith(head) ? all.slice(head.length) : tokenizer.decode(continuation);
}
