/**
 * Entanglement score (Zhao et al. 2024, section 3.1; docs/methods.md#entanglement-score) of a retain set R and a
 * forget set S in a model's embedding space (phi = penultimate-layer embedding):
 *
 *   ES = [ (1/|R|) sum_{i in R} ||phi_i - mu_R||^2 + (1/|S|) sum_{j in S} ||phi_j - mu_S||^2 ]
 *        / [ (||mu_R - mu||^2 + ||mu_S - mu||^2) / 2 ]
 *
 * with mu_R, mu_S the set means and mu the mean over R and S together. The numerator is the
 * within-set spread, the denominator how far the set means sit from the overall mean: higher ES =
 * the sets overlap more = harder to unlearn.
 */
import { UserError } from '../util/errors.ts';

export interface EntanglementResult {
  es: number;
  /** Mean squared distance to the own mean, per set. */
  varianceRetain: number;
  varianceForget: number;
  /** ||mu_R - mu||^2 and ||mu_S - mu||^2. */
  separationRetain: number;
  separationForget: number;
}

/** Rows of `emb` (n x dim, row-major) at the given indices. */
function meanOf(emb: Float32Array | Float64Array, dim: number, idx: ArrayLike<number>): Float64Array {
  const m = new Float64Array(dim);
  for (let k = 0; k < idx.length; k++) {
    const o = idx[k]! * dim;
    for (let d = 0; d < dim; d++) m[d] = m[d]! + emb[o + d]!;
  }
  for (let d = 0; d < dim; d++) m[d] = m[d]! / idx.length;
  return m;
}

function spread(emb: Float32Array | Float64Array, dim: number, idx: ArrayLike<number>, mu: Float64Array): number {
  let s = 0;
  for (let k = 0; k < idx.length; k++) {
    const o = idx[k]! * dim;
    for (let d = 0; d < dim; d++) s += (emb[o + d]! - mu[d]!) ** 2;
  }
  return s / idx.length;
}

const sqDist = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0);

/**
 * ES of the rows `retain` and `forget` of an embedding matrix emb (n x dim). The overall mean mu
 * is over the union (|R| + |S| rows, duplicates counted as given).
 */
export function entanglementScore(emb: Float32Array | Float64Array, dim: number, retain: ArrayLike<number>, forget: ArrayLike<number>): EntanglementResult {
  if (!Number.isInteger(dim) || dim < 1 || emb.length % dim !== 0) throw new UserError(`entanglement: ${emb.length} values are not rows of ${dim}`);
  if (retain.length === 0 || forget.length === 0) throw new UserError('entanglement: retain and forget sets must be non-empty');
  const rows = emb.length / dim;
  for (const set of [retain, forget]) {
    for (let k = 0; k < set.length; k++) {
      if (!Number.isInteger(set[k]) || set[k]! < 0 || set[k]! >= rows) throw new UserError(`entanglement: row ${set[k]} outside 0..${rows - 1}`);
    }
  }
  const muR = meanOf(emb, dim, retain);
  const muS = meanOf(emb, dim, forget);
  const nR = retain.length;
  const nS = forget.length;
  const mu = muR.map((v, d) => (nR * v + nS * muS[d]!) / (nR + nS));
  const varianceRetain = spread(emb, dim, retain, muR);
  const varianceForget = spread(emb, dim, forget, muS);
  const separationRetain = sqDist(muR, mu);
  const separationForget = sqDist(muS, mu);
  const denom = (separationRetain + separationForget) / 2;
  const es = denom > 0 ? (varianceRetain + varianceForget) / denom : Infinity;
  return { es, varianceRetain, varianceForget, separationRetain, separationForget };
}
