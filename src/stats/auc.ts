/**
 * ROC analysis for a score where higher means "positive" (e.g. more likely a training member).
 *
 * AUC = P(S_pos > S_neg) + P(S_pos = S_neg) / 2 = U / (n_pos n_neg), with the Mann-Whitney
 * U = R_pos - n_pos (n_pos + 1) / 2 from average ranks over both samples (ties count one half).
 * 0.5 = chance; 1 = every positive scores above every negative.
 * The ROC curve lists (fpr, tpr) as the threshold falls through the distinct scores; `tprAtFpr`
 * is the largest tpr with fpr <= the target (the low-FPR view of Carlini et al. 2022).
 */
import { assertFiniteArray } from './validate.ts';
import { rankdata } from './rank.ts';
import { UserError } from '../util/errors.ts';

/** ROC-AUC of scores for positives vs negatives (ties = 1/2). */
export function rocAuc(positives: readonly number[], negatives: readonly number[]): number {
  assertFiniteArray('rocAuc: positive scores', positives, 1);
  assertFiniteArray('rocAuc: negative scores', negatives, 1);
  const n1 = positives.length;
  const n2 = negatives.length;
  const ranks = rankdata([...positives, ...negatives]);
  let r1 = 0;
  for (let i = 0; i < n1; i++) r1 += ranks[i]!;
  return (r1 - (n1 * (n1 + 1)) / 2) / (n1 * n2);
}

export interface RocPoint {
  /** Predict positive when score >= threshold. */
  threshold: number;
  fpr: number;
  tpr: number;
}

/** ROC curve from (threshold +Infinity, 0, 0) to (lowest score, 1, 1), one point per distinct score. */
export function rocCurve(positives: readonly number[], negatives: readonly number[]): RocPoint[] {
  assertFiniteArray('rocCurve: positive scores', positives, 1);
  assertFiniteArray('rocCurve: negative scores', negatives, 1);
  const all = [
    ...positives.map((s) => ({ s, pos: true })),
    ...negatives.map((s) => ({ s, pos: false })),
  ].sort((x, y) => y.s - x.s);
  const points: RocPoint[] = [{ threshold: Infinity, fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  let i = 0;
  while (i < all.length) {
    const s = all[i]!.s;
    while (i < all.length && all[i]!.s === s) {
      if (all[i]!.pos) tp++;
      else fp++;
      i++;
    }
    points.push({ threshold: s, fpr: fp / negatives.length, tpr: tp / positives.length });
  }
  return points;
}

/** Largest true-positive rate over thresholds whose false-positive rate is <= maxFpr. */
export function tprAtFpr(positives: readonly number[], negatives: readonly number[], maxFpr: number): number {
  if (!(maxFpr >= 0 && maxFpr <= 1)) throw new UserError(`tprAtFpr: maxFpr must lie in [0, 1], got ${maxFpr}`);
  let best = 0;
  for (const p of rocCurve(positives, negatives)) if (p.fpr <= maxFpr && p.tpr > best) best = p.tpr;
  return best;
}
