/**
 * TOFU answer probability, truth ratio and forget quality (Maini et al. 2024, "TOFU: A Task of
 * Fictitious Unlearning for LLMs"), computed from log-probabilities the model assigned to whole
 * answers. An answer a to question q is given as its summed log-probability log P(a | q) (natural
 * log, over the answer tokens only) and its token count |a|; its length-normalised probability is
 *   P~(a) = P(a | q)^(1/|a|) = exp(log P(a | q) / |a|).
 *
 * - Truth ratio of one question, with paraphrased answer a~ and perturbed (wrong) answers a^_j:
 *     R = [ (1/m) sum_j P~(a^_j) ] / P~(a~)            (paper, and `perturbedMean: 'arithmetic'`)
 *   TOFU's first code release averaged the perturbed *losses* instead, i.e. a geometric mean:
 *     R_geo = exp((1/m) sum_j log P~(a^_j)) / P~(a~)   (`perturbedMean: 'geometric'`).
 *   Computed in log space (log-sum-exp), so very unlikely answers do not underflow.
 * - Forget-set summary: mean_i min(R_i, 1/R_i) (1 = cannot tell the true from the false answer).
 * - Retain-set summary: mean_i max(0, 1 - R_i) (high = prefers the correct paraphrase).
 * - Answer probability: P~(a) for the forget / retain sets; for multiple-choice style sets TOFU
 *   normalises over the options: P~(a) / (P~(a) + sum_j P~(a^_j)).
 * - Forget quality: the two-sided two-sample KS-test p-value (scipy ks_2samp, see stats/ks.ts)
 *   between the truth ratios on the forget set of the unlearned model and of the retain-only
 *   model; high = indistinguishable from never having trained on the forget set. KS is invariant
 *   to applying R -> 1/R to both samples, so the orientation of R does not matter here.
 */
import { UserError } from '../util/errors.ts';
import { ks2samp } from '../stats/ks.ts';
import { mean } from '../stats/descriptive.ts';

/** Summed log-probability of an answer and its token count. */
export interface AnswerLogProb {
  logProb: number;
  tokens: number;
}

/** One question: the paraphrased correct answer and the perturbed (incorrect) answers. */
export interface TruthRatioItem {
  paraphrased: AnswerLogProb;
  perturbed: AnswerLogProb[];
}

export type PerturbedMean = 'arithmetic' | 'geometric';

function perToken(a: AnswerLogProb, what: string): number {
  if (a === null || typeof a !== 'object') throw new UserError(`${what}: expected { logProb, tokens }, got ${String(a)}`);
  if (!Number.isInteger(a.tokens) || a.tokens < 1) {
    throw new UserError(`${what}: token count must be a positive integer, got ${String(a.tokens)}`);
  }
  if (typeof a.logProb !== 'number' || !Number.isFinite(a.logProb) || a.logProb > 1e-9) {
    throw new UserError(`${what}: logProb must be a finite summed natural-log probability <= 0, got ${String(a.logProb)}`);
  }
  return a.logProb / a.tokens;
}

/** Length-normalised answer probability P(a | q)^(1/|a|). */
export function answerProbability(a: AnswerLogProb): number {
  return Math.exp(perToken(a, 'answerProbability'));
}

/** P~(correct) / (P~(correct) + sum_j P~(alternative_j)), TOFU's normalised probability. */
export function normalisedAnswerProbability(correct: AnswerLogProb, alternatives: readonly AnswerLogProb[]): number {
  const c = perToken(correct, 'normalisedAnswerProbability: correct answer');
  if (!Array.isArray(alternatives) || alternatives.length === 0) {
    throw new UserError('normalisedAnswerProbability: needs at least one alternative answer');
  }
  const us = alternatives.map((a, j) => perToken(a, `normalisedAnswerProbability: alternative ${j}`));
  // c / (c + sum alt) computed relative to the largest term
  const mx = Math.max(c, ...us);
  let denom = Math.exp(c - mx);
  for (const u of us) denom += Math.exp(u - mx);
  return Math.exp(c - mx) / denom;
}

/** log R of one question (see module doc). */
export function logTruthRatio(item: TruthRatioItem, perturbedMean: PerturbedMean = 'arithmetic'): number {
  if (item === null || typeof item !== 'object') throw new UserError('truthRatio: expected { paraphrased, perturbed }');
  const para = perToken(item.paraphrased, 'truthRatio: paraphrased answer');
  if (!Array.isArray(item.perturbed) || item.perturbed.length === 0) {
    throw new UserError('truthRatio: needs at least one perturbed answer');
  }
  const us = item.perturbed.map((a, j) => perToken(a, `truthRatio: perturbed answer ${j}`));
  let logNum: number;
  if (perturbedMean === 'arithmetic') {
    const mx = Math.max(...us);
    let s = 0;
    for (const u of us) s += Math.exp(u - mx);
    logNum = mx + Math.log(s / us.length);
  } else if (perturbedMean === 'geometric') {
    logNum = us.reduce((s, u) => s + u, 0) / us.length;
  } else {
    throw new UserError(`truthRatio: perturbedMean must be 'arithmetic' or 'geometric', got ${String(perturbedMean)}`);
  }
  return logNum - para;
}

/** Truth ratio R of one question. */
export function truthRatio(item: TruthRatioItem, opts: { perturbedMean?: PerturbedMean } = {}): number {
  return Math.exp(logTruthRatio(item, opts.perturbedMean ?? 'arithmetic'));
}

/** Truth ratios of many questions. */
export function truthRatios(items: readonly TruthRatioItem[], opts: { perturbedMean?: PerturbedMean } = {}): number[] {
  if (!Array.isArray(items) || items.length === 0) throw new UserError('truthRatios: needs at least one question');
  return items.map((it) => truthRatio(it, opts));
}

function checkRatios(name: string, ratios: readonly number[]): void {
  if (!Array.isArray(ratios) || ratios.length === 0) throw new UserError(`${name}: needs at least one truth ratio`);
  ratios.forEach((r, i) => {
    if (typeof r !== 'number' || !(r > 0) || !Number.isFinite(r)) {
      throw new UserError(`${name}: truth ratio ${i} is ${String(r)}; ratios must be finite and > 0`);
    }
  });
}

/** Forget-set truth-ratio score: mean min(R, 1/R). */
export function forgetTruthScore(ratios: readonly number[]): number {
  checkRatios('forgetTruthScore', ratios);
  return mean(ratios.map((r) => Math.min(r, 1 / r)));
}

/** Retain-set truth-ratio score: mean max(0, 1 - R). */
export function retainTruthScore(ratios: readonly number[]): number {
  checkRatios('retainTruthScore', ratios);
  return mean(ratios.map((r) => Math.max(0, 1 - r)));
}

export interface ForgetQuality {
  /** KS-test p-value (the forget-quality number TOFU reports). */
  pValue: number;
  /** KS statistic D. */
  statistic: number;
  method: 'exact' | 'asymp';
}

/** TOFU forget quality: KS p-value between the forget-set truth ratios of two models. */
export function forgetQuality(unlearnedRatios: readonly number[], retainOnlyRatios: readonly number[]): ForgetQuality {
  checkRatios('forgetQuality: unlearned model', unlearnedRatios);
  checkRatios('forgetQuality: retain-only model', retainOnlyRatios);
  const r = ks2samp(unlearnedRatios, retainOnlyRatios);
  return { pValue: r.p, statistic: r.statistic, method: r.method };
}
