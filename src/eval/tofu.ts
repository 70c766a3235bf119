/**
 * TOFU's benchmark numbers as open-unlearning computes them (locuslab/open-unlearning,
 * src/evals/metrics/{memorization,privacy,utility}.py and configs/eval/tofu_metrics/*.yaml; TOFU:
 * Maini et al. 2024, arXiv 2401.06121), from our per-answer log-probabilities. An answer's
 * length-normalised probability is P~(a) = exp(-avg_loss(a)), avg_loss = -log P(a | q) / |a|.
 *
 * - Truth ratio per question (open-unlearning `truth_ratio`): TR = P~wrong / (P~correct + 1e-10),
 *   with P~wrong = exp(-mean_j avg_loss(perturbed_j)) (the perturbed losses averaged first: a
 *   geometric mean of their probabilities, as TOFU's code and open-unlearning do, where the paper
 *   writes an arithmetic mean) and "correct" the paraphrased answer (forget, retain) or the answer
 *   itself (real_authors, world_facts).
 *   Aggregates: forget `closer_to_1_better` = mean min(TR, 1 / (TR + 1e-10)); retain-like sets
 *   `true_better` = mean max(0, 1 - TR).
 * - Forget quality (`ks_test`): the two-sample KS p-value (scipy ks_2samp; stats/ks.ts) between the
 *   forget-set TRs of the model and of a retain-only model.
 * - Answer probability: mean P~(answer) (`probability`); on real_authors / world_facts normalised
 *   over the options (`probability_w_options`): P~(a) / (P~(a) + sum_j P~(perturbed_j) + 1e-10).
 * - Model utility (`hm_aggregate`): the harmonic mean (scipy.stats.hmean: 0 if any value is 0) of
 *   retain_Q_A_Prob, retain_Q_A_ROUGE, retain_Truth_Ratio, ra_Q_A_Prob_normalised, ra_Q_A_ROUGE,
 *   ra_Truth_Ratio, wf_Q_A_Prob_normalised, wf_Q_A_ROUGE, wf_Truth_Ratio (ROUGE = ROUGE-L recall).
 * - MIA (`mia_min_k`, k = 0.4): per item the Min-K% score of its answer tokens; AUC = P(a forget
 *   item's mean of its 40% lowest token log-probs > a holdout item's), ties 1/2 (open-unlearning's
 *   roc_auc_score with holdout labelled 1 on -mean: "1 when the forget data is much more likely").
 * - privleak (`privleak`, MUSE's PrivLeak): open-unlearning turns both AUCs to MUSE's orientation
 *   (1 - AUC) and reports ((1 - AUC) - (1 - AUC_retain)) / ((1 - AUC_retain) + 1e-10) x 100, i.e.
 *   (AUC_retain - AUC) / (1 - AUC_retain) x 100 in the AUC above: 0 = as private as the retain-only
 *   model, negative = the forget set still stands out (under-unlearning), positive = it stands out
 *   the other way (over-unlearning).
 * - Extraction strength (`extraction_strength`; Carlini et al. 2021 style, as Wang et al. 2025 use
 *   it): with teacher forcing, the argmax predictions p_t of the answer tokens y_t, k = the first t
 *   from which every later prediction equals its token (p_t.. = y_t..), ES = 1 - k / |y|. As in
 *   open-unlearning's loop, when no suffix matches k stays at |y| - 1, so ES = 1 / |y| (not 0).
 *
 * Differences from open-unlearning, all from the model interface rather than the formulas: prompts
 * are `Question: q\nAnswer:` (the layout fine-tuning used, answers.ts) instead of a chat template,
 * and answers carry no EOS token (open-unlearning's loss includes the EOS; its MIA and ES drop it).
 */
import type { CausalLM } from '../model/model.ts';
import { LMSession } from '../model/model.ts';
import type { Tokenizer } from '../model/tokenizer/index.ts';
import { encodeQa } from './answers.ts';
import { mean } from '../stats/descriptive.ts';
import { UserError } from '../util/errors.ts';

/** The epsilon open-unlearning adds to denominators. */
const OU_EPS = 1e-10;
/** Min-K% fraction of open-unlearning's TOFU MIA (configs/eval/tofu_metrics/mia_min_k.yaml). */
export const TOFU_MIN_K = 0.4;

/** Mean loss per answer token, -log P(a | q) / |a|. */
export function avgLoss(a: { logProb: number; tokens: number }): number {
  if (!Number.isInteger(a.tokens) || a.tokens < 1) throw new UserError(`an answer needs at least one token, got ${a.tokens}`);
  return -a.logProb / a.tokens;
}

/** open-unlearning's truth ratio of one question: exp(-mean_j wrong_j) / (exp(-correct) + 1e-10), from average losses. */
export function ouTruthRatio(correctAvgLoss: number, wrongAvgLosses: readonly number[]): number {
  if (wrongAvgLosses.length === 0) throw new UserError('a truth ratio needs at least one perturbed answer');
  return Math.exp(-mean(wrongAvgLosses)) / (Math.exp(-correctAvgLoss) + OU_EPS);
}

/** Forget aggregate: mean min(TR, 1 / (TR + 1e-10)). */
export function closerTo1Better(trs: readonly number[]): number {
  return mean(trs.map((r) => Math.min(r, 1 / (r + OU_EPS))));
}

/** Retain-like aggregate: mean max(0, 1 - TR). */
export function trueBetter(trs: readonly number[]): number {
  return mean(trs.map((r) => Math.max(0, 1 - r)));
}

/** P~(correct) / (P~(correct) + sum_j P~(wrong_j) + 1e-10). */
export function probWithOptions(correct: number, wrong: readonly number[]): number {
  return correct / (correct + wrong.reduce((a, b) => a + b, 0) + OU_EPS);
}

/** Harmonic mean as scipy.stats.hmean: 0 when any value is 0; values must be >= 0. */
export function harmonicMean(xs: readonly number[]): number {
  if (xs.length === 0) throw new UserError('a harmonic mean needs at least one value');
  let s = 0;
  for (const x of xs) {
    if (!(x >= 0)) throw new UserError(`harmonic mean of a negative or non-numeric value (${x})`);
    if (x === 0) return 0;
    s += 1 / x;
  }
  return xs.length / s;
}

/** Extraction strength of one answer from its teacher-forced argmax predictions (see the module doc). */
export function extractionStrength(preds: readonly number[], labels: readonly number[]): number {
  const n = labels.length;
  if (preds.length !== n) throw new UserError(`extraction strength: ${preds.length} predictions for ${n} tokens`);
  if (n === 0) return 0;
  let k = 0;
  for (k = 0; k < n; k++) {
    let same = true;
    for (let t = k; t < n && same; t++) same = preds[t] === labels[t];
    if (same) break;
  }
  if (k === n) k = n - 1; // open-unlearning's loop variable ends at n - 1 when nothing matched
  return 1 - k / n;
}

/** privleak from the model's and the retain-only model's MIA AUC (see the module doc). */
export function privleak(auc: number, aucRetain: number): number {
  const score = 1 - auc;
  const ref = 1 - aucRetain;
  return ((score - ref) / (ref + OU_EPS)) * 100;
}

/** Per-token view of one answer under a model. */
export interface AnswerTokens {
  /** log p(y_t | prompt, y_<t) per answer token (natural log). */
  logprobs: number[];
  /** The teacher-forced argmax token at each answer position. */
  preds: number[];
  /** The answer's tokens. */
  labels: number[];
}

/**
 * Log-probabilities and argmax predictions of every answer token of (question, answer) pairs,
 * teacher-forced (answers.ts encodeQa: BOS + tokens(prompt + " " + answer)), in batches of `batch`.
 */
export function answerTokens(model: CausalLM, tok: Tokenizer, pairs: ReadonlyArray<{ question: string; answer: string }>, batch = 8): AnswerTokens[] {
  if (pairs.length === 0) return [];
  const seqs = pairs.map((p) => encodeQa(tok, p.question, p.answer));
  const nCtx = model.config.nCtx;
  seqs.forEach((s, i) => {
    if (s.tokens.length > nCtx) throw new UserError(`question/answer ${i} has ${s.tokens.length} tokens, more than the model's context (${nCtx})`);
  });
  const order = seqs.map((_, i) => i).sort((a, b) => seqs[a]!.tokens.length - seqs[b]!.tokens.length);
  const out = new Array<AnswerTokens>(pairs.length);
  const V = model.config.nVocab;
  let scratch: Float32Array | null = null;
  for (let i = 0; i < order.length; i += batch * 4) {
    const chunk = order.slice(i, i + batch * 4);
    const T = Math.max(2, ...chunk.map((j) => seqs[j]!.tokens.length));
    const B = Math.min(batch, chunk.length);
    const session = new LMSession(model, { T, B, mode: 'eval' });
    try {
      for (let c = 0; c < chunk.length; c += B) {
        const part = chunk.slice(c, c + B);
        session.setBatch(part.map((j) => seqs[j]!.tokens));
        const lps = session.tokenLogprobs();
        const n = V * T * B;
        if (!scratch || scratch.length < n) scratch = new Float32Array(n);
        const logits = session.graph.get(session.logits, scratch.subarray(0, n));
        part.forEach((j, b) => {
          const s = seqs[j]!;
          const r: AnswerTokens = { logprobs: [], preds: [], labels: [] };
          for (let t = s.answerStart; t < s.tokens.length; t++) {
            // position t - 1 predicts token t
            r.logprobs.push(lps[b]![t - 1]!);
            const off = (b * T + t - 1) * V;
            let best = 0;
            for (let v = 1; v < V; v++) if (logits[off + v]! > logits[off + best]!) best = v;
            r.preds.push(best);
            r.labels.push(s.tokens[t]!);
          }
          out[j] = r;
        });
      }
    } finally {
      session.dispose();
    }
  }
  return out;
}
