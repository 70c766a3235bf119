/**
 * Unlearning metrics of the RUM paper (Zhao et al. 2024, "What makes unlearning hard and what to
 * do about it"; docs/methods.md#image-metrics), computed from per-example predictions.
 *
 * - Accuracy a(theta, D) = share of D classified correctly; da(u, r, D) = |a(u, D) - a(r, D)|.
 * - Tug-of-war: ToW = (1 - da_S)(1 - da_R)(1 - da_test); 1 means the unlearned model matches the
 *   retrained oracle on forget, retain and test accuracy.
 * - MIA: a logistic-regression attack on per-example confidence features (logreg.ts), trained
 *   with the retain set as members (1) and the test set as non-members (0), class-balanced by
 *   seeded subsampling of the larger side, then applied to the forget set S:
 *   MIA = TN_S / |S|, the share of S judged non-member (P(member) < 0.5).
 *   MIA gap = |MIA(retrained) - MIA(unlearned)|; ToW-MIA = (1 - MIA gap)(1 - da_R)(1 - da_test).
 * - Summaries over seeds: mean and t-based 95% CI (src/stats meanCI).
 */
import { meanCI, type Interval } from '../stats/index.ts';
import { Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';
import { fitLogistic, predictLogistic } from './logreg.ts';
import type { Predictions } from './predict.ts';
import { accuracy } from './predict.ts';

export interface Accuracies {
  forget: number;
  retain: number;
  test: number;
}

function checkUnit(v: number, what: string): void {
  if (!(v >= 0 && v <= 1)) throw new UserError(`${what} must be in [0, 1], got ${v}`);
}

/** ToW from the unlearned and retrained models' accuracies. */
export function tugOfWar(u: Accuracies, r: Accuracies): number {
  for (const [k, v] of Object.entries({ ...prefix(u, 'unlearned'), ...prefix(r, 'retrained') })) checkUnit(v, k);
  return (1 - Math.abs(u.forget - r.forget)) * (1 - Math.abs(u.retain - r.retain)) * (1 - Math.abs(u.test - r.test));
}

/** ToW-MIA: ToW with (1 - da_S) replaced by (1 - MIA gap). */
export function tugOfWarMia(u: Accuracies, r: Accuracies, miaGap_: number): number {
  checkUnit(miaGap_, 'MIA gap');
  return (1 - miaGap_) * (1 - Math.abs(u.retain - r.retain)) * (1 - Math.abs(u.test - r.test));
}

export function miaGap(miaRetrained: number, miaUnlearned: number): number {
  checkUnit(miaRetrained, 'MIA (retrained)');
  checkUnit(miaUnlearned, 'MIA (unlearned)');
  return Math.abs(miaRetrained - miaUnlearned);
}

function prefix(a: Accuracies, p: string): Record<string, number> {
  return { [`${p} forget accuracy`]: a.forget, [`${p} retain accuracy`]: a.retain, [`${p} test accuracy`]: a.test };
}

/**
 * Confidence features of each example from its softmax output: [p_y, -log p_y, max_j p_j,
 * entropy, p_y - max_{j != y} p_j] (p clipped to >= 1e-12 inside logs).
 */
export function confidenceFeatures(p: Predictions): number[][] {
  const out: number[][] = [];
  const K = p.classes;
  for (let i = 0; i < p.n; i++) {
    const y = p.labels[i]!;
    let py = 0;
    let mx = 0;
    let other = 0;
    let ent = 0;
    for (let j = 0; j < K; j++) {
      const v = p.probs[i * K + j]!;
      if (j === y) py = v;
      else other = Math.max(other, v);
      mx = Math.max(mx, v);
      if (v > 0) ent -= v * Math.log(v);
    }
    out.push([py, -Math.log(Math.max(py, 1e-12)), mx, ent, py - other]);
  }
  return out;
}

export interface MiaResult {
  /** Share of the forget set judged non-member (TN_S / |S|). */
  mia: number;
  /** Attack accuracy on its own (balanced) training data, for reference. */
  trainAccuracy: number;
  members: number;
  nonMembers: number;
}

/** The MIA of the paper on one model's predictions on R (members), test (non-members) and S. */
export function membershipAttack(retain: Predictions, test: Predictions, forget: Predictions, seed: number): MiaResult {
  if (retain.n === 0 || test.n === 0 || forget.n === 0) throw new UserError('MIA needs non-empty retain, test and forget sets');
  const rng = new Rng(seed);
  const fr = confidenceFeatures(retain);
  const ft = confidenceFeatures(test);
  const m = Math.min(fr.length, ft.length);
  const pick = (rows: number[][]) => rng.shuffle(rows.map((_, i) => i)).slice(0, m).map((i) => rows[i]!);
  const members = fr.length > m ? pick(fr) : fr;
  const non = ft.length > m ? pick(ft) : ft;
  const x = [...members, ...non];
  const y = [...members.map(() => 1), ...non.map(() => 0)];
  const model = fitLogistic(x, y);
  const trainPred = predictLogistic(model, x);
  const trainAccuracy = trainPred.reduce((s, q, i) => s + ((q >= 0.5 ? 1 : 0) === y[i] ? 1 : 0), 0) / x.length;
  const pf = predictLogistic(model, confidenceFeatures(forget));
  const tn = pf.filter((q) => q < 0.5).length;
  return { mia: tn / forget.n, trainAccuracy, members: members.length, nonMembers: non.length };
}

/** Everything measured on one model. */
export interface ModelEval {
  acc: Accuracies;
  mia: number;
  miaAttackAccuracy: number;
}

export function evaluateModel(pred: { forget: Predictions; retain: Predictions; test: Predictions }, seed: number): ModelEval {
  const m = membershipAttack(pred.retain, pred.test, pred.forget, seed);
  return {
    acc: { forget: accuracy(pred.forget), retain: accuracy(pred.retain), test: accuracy(pred.test) },
    mia: m.mia,
    miaAttackAccuracy: m.trainAccuracy,
  };
}

/** The scores of an unlearned model against the retrained oracle. */
export interface UnlearnScores {
  tow: number;
  towMia: number;
  miaGap: number;
  acc: Accuracies;
  mia: number;
}

export function scoreAgainstOracle(u: ModelEval, r: ModelEval): UnlearnScores {
  const gap = miaGap(r.mia, u.mia);
  return { tow: tugOfWar(u.acc, r.acc), towMia: tugOfWarMia(u.acc, r.acc, gap), miaGap: gap, acc: u.acc, mia: u.mia };
}

/** Mean and 95% t-interval over seeds; with one value the interval is undefined (NaN). */
export function summarize(values: number[]): Interval & { n: number; values: number[] } {
  if (values.length === 0) return { estimate: NaN, lo: NaN, hi: NaN, confidence: 0.95, n: 0, values };
  if (values.length === 1) return { estimate: values[0]!, lo: NaN, hi: NaN, confidence: 0.95, n: 1, values };
  const ci = meanCI(values, 0.95);
  return { ...ci, n: values.length, values };
}
