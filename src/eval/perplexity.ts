/**
 * Log-likelihood and perplexity of texts under a model, with our engine (exactly llama.cpp's
 * numbers on the same file, see test/model/parity.test.ts). This is the one place a model's
 * per-item log-likelihoods are computed: the perplexity metric, unlearning's before/after
 * measurements, fine-tuning's before/after perplexities, the demo, and the in-method scoring of
 * unlearning strategies (iterative removal, NPO's reference) all call scoreSequences.
 *
 * Texts are scored in batches of one evaluation graph; each text's tokens start with BOS and are
 * clipped to the model's context (evalTokens; no EOS is appended).
 *
 * perplexity(set) = exp(- sum_i sum_t log p(x_it) / sum_i n_i)   (token-weighted over the set)
 * Per-item results (sum log-prob, tokens, mean NLL, per-token log-probs) feed the paired
 * statistics and membership-inference scores.
 */
import { CausalLM, EVAL_TOKENS_PER_GRAPH, LMSession } from '../model/model.ts';
import type { Tokenizer } from '../model/tokenizer/index.ts';

export interface ItemScore {
  id: string;
  /** Sum of log p over predicted tokens (natural log). */
  sumLogprob: number;
  tokens: number;
  /** Mean negative log-likelihood per predicted token. */
  meanNll: number;
  logprobs: number[];
}

export interface SetScore {
  perplexity: number;
  meanNll: number;
  tokens: number;
  items: ItemScore[];
}

/** Sequences per scoring graph in evaluation (the metrics' `batch` option default). */
export const SCORE_BATCH = 16;

/** Where scoreSequences takes its evaluation graphs from: a cache of sessions (model/sessions.ts SessionPool), kept alive by the caller. */
export interface EvalSessionSource {
  readonly model: CausalLM;
  eval(T: number, B: number): LMSession;
}

/** Tokens an evaluation scores for a text: BOS + the text's tokens, clipped to the model's context. */
export function evalTokens(tok: Tokenizer, text: string, nCtx: number): number[] {
  return tok.encode(text, { addBos: true }).slice(0, nCtx);
}

/**
 * Score token sequences (each with BOS first) in batches of up to `batch` (fewer for long
 * sequences: EVAL_TOKENS_PER_GRAPH). With `sessions` (a pool on the same model), the graph comes
 * from the pool and stays there; otherwise one graph is built for the call and freed.
 */
export function scoreSequences(model: CausalLM, seqs: ReadonlyArray<{ id: string; tokens: number[] }>, batch = 8, sessions?: EvalSessionSource): SetScore {
  if (sessions && sessions.model !== model) throw new Error('internal: scoreSequences was given a session pool of another model');
  const valid = seqs.filter((s) => s.tokens.length >= 2);
  if (valid.length === 0) return { perplexity: NaN, meanNll: NaN, tokens: 0, items: [] };
  const T = Math.min(model.config.nCtx, Math.max(...valid.map((s) => s.tokens.length)));
  const B = Math.max(1, Math.min(batch, valid.length, Math.floor(EVAL_TOKENS_PER_GRAPH / T)));
  const session = sessions ? sessions.eval(T, B) : new LMSession(model, { T, B, mode: 'eval' });
  const items: ItemScore[] = [];
  try {
    for (let i = 0; i < valid.length; i += B) {
      const chunk = valid.slice(i, i + B);
      session.setBatch(chunk.map((s) => s.tokens.slice(0, session.T)));
      const lps = session.tokenLogprobs();
      chunk.forEach((s, b) => {
        const lp = lps[b]!;
        const sum = lp.reduce((a, v) => a + v, 0);
        items.push({ id: s.id, sumLogprob: sum, tokens: lp.length, meanNll: -sum / lp.length, logprobs: lp });
      });
    }
  } finally {
    if (!sessions) session.dispose();
  }
  const tot = items.reduce((a, it) => a + it.sumLogprob, 0);
  const n = items.reduce((a, it) => a + it.tokens, 0);
  return { perplexity: Math.exp(-tot / n), meanNll: -tot / n, tokens: n, items };
}

/** Score texts (evalTokens of each) as the perplexity metric does. */
export function scoreTexts(model: CausalLM, tok: Tokenizer, items: ReadonlyArray<{ id: string; text: string }>, batch = 8): SetScore {
  return scoreSequences(model, items.map((it) => ({ id: it.id, tokens: evalTokens(tok, it.text, model.config.nCtx) })), batch);
}
