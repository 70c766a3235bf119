/**
 * Log-likelihood and perplexity of texts under a model, with our engine (exactly llama.cpp's
 * numbers on the same file, see test/model/parity.test.ts). Texts are scored in batches of one
 * evaluation graph; each text's tokens start with BOS and are clipped to the model's context.
 *
 * perplexity(set) = exp(- sum_i sum_t log p(x_it) / sum_i n_i)   (token-weighted over the set)
 * Per-item results (sum log-prob, tokens, mean NLL, per-token log-probs) feed the paired
 * statistics and membership-inference scores.
 */
import { CausalLM, EVAL_TOKENS_PER_GRAPH, LMSession } from '../model/model.ts';

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

/** Score token sequences (each with BOS first) in batches of up to `batch` (fewer for long sequences: EVAL_TOKENS_PER_GRAPH). */
export function scoreSequences(model: CausalLM, seqs: Array<{ id: string; tokens: number[] }>, batch = 8): SetScore {
  const valid = seqs.filter((s) => s.tokens.length >= 2);
  if (valid.length === 0) return { perplexity: NaN, meanNll: NaN, tokens: 0, items: [] };
  const T = Math.min(model.config.nCtx, Math.max(...valid.map((s) => s.tokens.length)));
  const B = Math.max(1, Math.min(batch, valid.length, Math.floor(EVAL_TOKENS_PER_GRAPH / T)));
  const session = new LMSession(model, { T, B, mode: 'eval' });
  const items: ItemScore[] = [];
  try {
    for (let i = 0; i < valid.length; i += B) {
      const chunk = valid.slice(i, i + B);
      session.setBatch(chunk.map((s) => s.tokens.slice(0, T)));
      const lps = session.tokenLogprobs();
      chunk.forEach((s, b) => {
        const lp = lps[b]!;
        const sum = lp.reduce((a, v) => a + v, 0);
        items.push({ id: s.id, sumLogprob: sum, tokens: lp.length, meanNll: -sum / lp.length, logprobs: lp });
      });
    }
  } finally {
    session.dispose();
  }
  const tot = items.reduce((a, it) => a + it.sumLogprob, 0);
  const n = items.reduce((a, it) => a + it.tokens, 0);
  return { perplexity: Math.exp(-tot / n), meanNll: -tot / n, tokens: n, items };
}
