/**
 * Influence-function scores for a language model (Koh and Liang 2017):
 *
 *   I(z_i, z_q) = -grad L(z_q)^T (H + lambda I)^{-1} grad L(z_i)
 *
 * (I_up,loss: the change of the query's loss when z_i is up-weighted; removing z_i changes it by
 * about -c_i I with c_i its weight in the objective), with H the Hessian of the training objective
 * over the filtered tensors at the current model, here the token-mean loss of `hessianSet`
 * (default: the training examples scored), and (H + lambda I)^{-1} grad L(z_q) by LiSSA once per
 * query (s_test, Koh and Liang's trick), then dotted with every training gradient.
 */
import type { CausalLM } from '../model/model.ts';
import type { Example } from '../model/example.ts';
import { LmObjective } from './lmObjective.ts';
import { lissa, topEigenvalue, type LissaOptions } from './hvp.ts';
import { exampleGradients } from './tracin.ts';
import { dot } from './vectors.ts';

export interface InfluenceFunctionResult {
  /** scores[q][i] = I(z_i, z_q). */
  scores: number[][];
  scale: number;
  damping: number;
  iterations: number[];
}

export function influenceFunctionScores(
  model: CausalLM,
  tensors: string[],
  queries: Example[],
  train: Example[],
  o: LissaOptions & { hessianSet?: Example[]; batch?: number } = {},
): InfluenceFunctionResult {
  const work = model.clone();
  const obj = new LmObjective(work, tensors, o.hessianSet ?? train, queries, { batch: o.batch });
  try {
    const damping = o.damping ?? 0.01;
    const scale = o.scale ?? 1.1 * (Math.max(0, topEigenvalue(obj, { h: o.h, iterations: 10 })) + damping);
    const gt = exampleGradients(work, tensors, train, o.batch);
    const iterations: number[] = [];
    const scores = queries.map((_, q) => {
      const s = lissa(obj, obj.queryGradient(q), { ...o, damping, scale });
      iterations.push(s.iterations);
      return gt.map((g) => -dot(s.x, g));
    });
    return { scores, scale, damping, iterations };
  } finally {
    obj.dispose();
  }
}
