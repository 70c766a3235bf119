/**
 * Membership-inference scores from per-token log-probabilities (natural log) of a text under the
 * model, and their ROC-AUC for members (e.g. the forget set F) vs non-members (holdout H).
 *
 * Convention: every *score* here is oriented so that HIGHER = MORE LIKELY A TRAINING MEMBER, so
 * AUC > 0.5 means the attack tells members apart, 0.5 is chance, and after successful
 * unlearning the forget set should look like the holdout (AUC near 0.5).
 *
 * - LOSS (Yeom et al. 2018): NLL = -mean_t log p_t; score = -NLL (members have lower loss).
 * - zlib (Carlini et al. 2021, "Extracting Training Data from Large Language Models", USENIX
 *   Security): ratio = log-perplexity / zlib entropy, where log-perplexity is the mean NLL and the
 *   zlib entropy is the byte length of zlib.compress(text.encode('utf-8')) (default level 6);
 *   score = -ratio. This follows the paper's code (`np.log(perplexity) / zlib_entropy`, with
 *   perplexity = exp(mean loss)); `nll: 'sum'` uses the summed NLL instead, as some re-implementations do.
 *   Byte counts come from Node's bundled zlib (a Chromium fork); on repetitive text it can differ
 *   from CPython's system zlib by a byte (e.g. 55 vs 54 bytes for a 220-character text).
 * - Min-K% probability (Shi et al. 2024, "Detecting Pretraining Data from Large Language Models",
 *   ICLR): mean of the k fraction of lowest token log-probabilities, count = max(1, floor(k n)),
 *   k = 0.2 by default; score = that mean (members have fewer very unlikely tokens). The paper's
 *   code reports -mean; the sign here keeps "higher = member".
 */
import { deflateSync } from 'node:zlib';
import { UserError } from '../util/errors.ts';
import { rocAuc } from '../stats/auc.ts';

function checkLogProbs(logProbs: readonly number[]): void {
  if (!Array.isArray(logProbs) || logProbs.length === 0) {
    throw new UserError('membership inference: needs at least one token log-probability');
  }
  for (let i = 0; i < logProbs.length; i++) {
    const v = logProbs[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new UserError(`membership inference: token log-probability ${i} is ${String(v)}; expected a finite number <= 0`);
    }
    if (v > 1e-9) {
      throw new UserError(`membership inference: token log-probability ${i} is ${v} > 0; pass natural-log probabilities, not logits or losses`);
    }
  }
}

/** Mean negative log-likelihood per token (the LOSS statistic; lower = more likely member). */
export function meanNll(logProbs: readonly number[]): number {
  checkLogProbs(logProbs);
  let s = 0;
  for (const v of logProbs) s -= v;
  return s / logProbs.length;
}

/** Byte length of the zlib-compressed UTF-8 text (Python `len(zlib.compress(text.encode()))`). */
export function zlibEntropy(text: string): number {
  if (typeof text !== 'string') throw new UserError(`zlib entropy: text must be a string, got ${typeof text}`);
  return deflateSync(Buffer.from(text, 'utf8')).length;
}

/** Carlini et al.'s zlib ratio: NLL (mean by default, or sum) / zlib bytes (lower = more likely member). */
export function zlibRatio(logProbs: readonly number[], text: string, opts: { nll?: 'mean' | 'sum' } = {}): number {
  const mode = opts.nll ?? 'mean';
  if (mode !== 'mean' && mode !== 'sum') throw new UserError(`zlibRatio: nll must be 'mean' or 'sum', got ${String(mode)}`);
  const nll = meanNll(logProbs) * (mode === 'sum' ? logProbs.length : 1);
  return nll / zlibEntropy(text);
}

/** Min-K% probability: mean of the max(1, floor(k n)) lowest token log-probabilities (higher = more likely member). */
export function minKPercent(logProbs: readonly number[], k = 0.2): number {
  checkLogProbs(logProbs);
  if (!(k > 0 && k <= 1)) throw new UserError(`Min-K%: k must lie in (0, 1], got ${k}`);
  const count = Math.max(1, Math.floor(logProbs.length * k));
  const sortedLp = Float64Array.from(logProbs).sort();
  let s = 0;
  for (let i = 0; i < count; i++) s += sortedLp[i]!;
  return s / count;
}

export interface MiaScores {
  /** -mean NLL. */
  loss: number;
  /** -(NLL / zlib bytes). */
  zlib: number;
  /** Min-K% mean log-probability. */
  minK: number;
}

export interface MiaOptions {
  /** Min-K% fraction (default 0.2). */
  k?: number;
  /** NLL aggregate in the zlib ratio (default 'mean', as Carlini et al.). */
  zlibNll?: 'mean' | 'sum';
}

/** All three membership scores of one text, each oriented higher = more likely member. */
export function miaScores(logProbs: readonly number[], text: string, opts: MiaOptions = {}): MiaScores {
  return {
    loss: -meanNll(logProbs),
    zlib: -zlibRatio(logProbs, text, { nll: opts.zlibNll ?? 'mean' }),
    minK: minKPercent(logProbs, opts.k ?? 0.2),
  };
}

/**
 * ROC-AUC of a membership score (higher = member): P(score_member > score_nonmember) with ties
 * counting 1/2, i.e. Mann-Whitney U / (n_members n_nonmembers).
 */
export function miaAuc(memberScores: readonly number[], nonMemberScores: readonly number[]): number {
  return rocAuc(memberScores, nonMemberScores);
}
