/**
 * Gradient dot product influence, TracIn (Pruthi et al. 2020, "Estimating Training Data Influence
 * by Tracing Gradient Descent"): the influence of training example z_i on query z is
 *
 *   TracIn(z_i, z) = sum_k lr_k grad L(z; theta_k) . grad L(z_i; theta_k)
 *
 * over stored checkpoints theta_k with their learning rates (one checkpoint: the gradient dot
 * product at one model, docs/methods.md#influence-scores). Gradients are exact per-example gradients of each example's
 * mean token loss over the filtered tensors, from one batched backward per batch
 * (src/train/perExample.ts), flattened in the filter's order.
 */
import type { CausalLM } from '../model/model.ts';
import { SessionPool } from '../model/sessions.ts';
import { perExampleGradients } from '../model/gradients.ts';
import type { Example } from '../model/example.ts';
import { ParamSpace, dot, norm } from './vectors.ts';

/** Flattened per-example gradients of `examples` over `tensors` at the model's current weights. */
export function exampleGradients(model: CausalLM, tensors: string[], examples: Example[], B = 8): Float32Array[] {
  if (examples.length === 0) return [];
  const space = new ParamSpace(model, tensors);
  const pool = new SessionPool(model);
  const b = Math.min(B, examples.length);
  const T = Math.max(...examples.map((e) => e.tokens.length));
  try {
    const out: Float32Array[] = [];
    for (let i = 0; i < examples.length; i += b) {
      const pe = perExampleGradients(pool, examples.slice(i, i + b), tensors, b, T);
      for (const g of pe.grads) out.push(space.flatten(g));
    }
    return out;
  } finally {
    pool.dispose();
  }
}

/** scores[q][i] = sum_k lr_k g_q(theta_k) . g_i(theta_k). */
export function tracinScores(checkpoints: Array<{ model: CausalLM; lr: number }>, tensors: string[], queries: Example[], train: Example[], B = 8): number[][] {
  const scores = queries.map(() => train.map(() => 0));
  for (const { model, lr } of checkpoints) {
    const gq = exampleGradients(model, tensors, queries, B);
    const gt = exampleGradients(model, tensors, train, B);
    gq.forEach((a, q) => gt.forEach((b, i) => (scores[q]![i]! += lr * dot(a, b))));
  }
  return scores;
}

/**
 * Normalised (cosine) TracIn: the gradient dot product divided by both gradients' norms,
 *
 *   cosTracIn(z_i, z) = sum_k lr_k (g_z . g_i) / (||g_z|| ||g_i||)       (each g at theta_k)
 *
 * in [-sum lr_k, sum lr_k]. Plain TracIn grows with the gradients' norms: after gradient ascent
 * the forget examples' losses, and with them their gradients, grow, so their TracIn on forget
 * queries rises even when the directions have decorrelated. The cosine keeps only the alignment
 * of the two gradients (the "gradient cosine" renormalisation of Barshan et al. 2020, RelatIF, and
 * Hammoudeh and Lowd 2022), so a drop means the query and the example no longer pull the weights
 * the same way. A zero gradient gives 0.
 */
export function cosineTracinScores(checkpoints: Array<{ model: CausalLM; lr: number }>, tensors: string[], queries: Example[], train: Example[], B = 8): number[][] {
  const scores = queries.map(() => train.map(() => 0));
  for (const { model, lr } of checkpoints) {
    const cos = gradientSimilarity(exampleGradients(model, tensors, queries, B), exampleGradients(model, tensors, train, B), 'cosine');
    cos.forEach((row, q) => row.forEach((v, i) => (scores[q]![i]! += lr * v)));
  }
  return scores;
}

/** out[q][i] = gq[q] . gt[i] ('dot') or their cosine ('cosine'; 0 where a gradient is 0), from precomputed gradients. */
export function gradientSimilarity(gq: Float32Array[], gt: Float32Array[], kind: 'dot' | 'cosine'): number[][] {
  const nq = gq.map((g) => (kind === 'cosine' ? norm(g) : 1));
  const nt = gt.map((g) => (kind === 'cosine' ? norm(g) : 1));
  return gq.map((a, q) => gt.map((b, i) => (nq[q]! === 0 || nt[i]! === 0 ? 0 : dot(a, b) / (nq[q]! * nt[i]!))));
}
