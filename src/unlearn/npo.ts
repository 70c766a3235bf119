/**
 * Negative preference optimisation (Zhang, Lin, Bai and Mei 2024, "Negative Preference
 * Optimization: From Catastrophic Collapse to Effective Unlearning", arXiv 2404.05868):
 *
 *   L_NPO(theta) = -(2 / beta) E_{(x,y) in F} log sigmoid(-beta log(pi_theta(y|x) / pi_ref(y|x)))
 *
 * with pi_ref the model before unlearning and log pi(y|x) the sequence log-likelihood (the sum of
 * the token log-probabilities, as the authors' code computes it). Its gradient is a weighted
 * gradient ascent:
 *
 *   grad L_NPO = E_i [ w_i grad log pi_theta(y_i|x_i) ],
 *   w_i = 2 sigmoid(beta r_i) = 2 pi_theta^beta / (pi_theta^beta + pi_ref^beta),  r_i = log pi_theta(y_i) - log pi_ref(y_i),
 *
 * (dL_i/dr_i = 2 (1 - sigmoid(-beta r_i)) = w_i), so a descent step on L_NPO lowers the forget
 * likelihoods, each pushed with weight w_i; examples already forgotten (pi_theta << pi_ref) get weight -> 0, which keeps it from
 * collapsing the model as plain ascent does; at theta = theta_ref every w_i = 1. It is computed
 * here exactly from per-example gradients: grad log pi_theta(y_i) = -n_i g_i with g_i the gradient
 * of example i's mean token loss (one batched backward gives all g_i, src/train/perExample.ts).
 * Because the sequence log-likelihood is a sum over n_i tokens, SGD step sizes must be about
 * 1/n_i of gradient ascent's; AdamW (the default when the fine-tune used it) is scale-free.
 */
import { HostOptimizer } from './optim.ts';
import { perExampleGradients, batchSchedule } from '../model/gradients.ts';
import { addScaled, snapshot, diffSince } from './deltas.ts';
import { scoreSequences } from '../eval/perplexity.ts';
import type { UnlearnMethod, UnlearnOutcome } from './types.ts';

/** log sigmoid(x), stable for large |x|. */
function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export const npo: UnlearnMethod = {
  name: 'npo',
  summary: 'negative preference optimisation: ascent weighted by 2 sigmoid(beta log(pi/pi_ref)) per example',
  reference: 'Zhang et al. 2024, arXiv 2404.05868',
  needs: {},
  uses: ['lr', 'steps', 'batch', 'optimizer', 'beta'],
  run(ctx) {
    const t0 = performance.now();
    const { lr, steps, batch, optimizer, beta } = ctx.hyper;
    const before = snapshot(ctx.work, ctx.tensors);
    const missing = ctx.forget.filter((e) => !ctx.refLogLik?.has(e.id));
    const ref = new Map(ctx.refLogLik ?? []);
    if (missing.length) for (const s of scoreSequences(ctx.pool.model, missing, 8, ctx.pool).items) ref.set(s.id, s.sumLogprob);
    const opt = new HostOptimizer(optimizer, lr);
    const T = Math.max(...ctx.forget.map((e) => e.tokens.length));
    const log: UnlearnOutcome['log'] = [];
    batchSchedule(ctx.forget, batch, steps, ctx.seed).forEach((b, k) => {
      const pe = perExampleGradients(ctx.pool, b, ctx.tensors, batch, T);
      const grads = new Map<string, Float32Array>(ctx.tensors.map((n) => [n, new Float32Array(ctx.work.weights.get(n)!.data.length)]));
      let loss = 0;
      let wSum = 0;
      b.forEach((ex, i) => {
        const r = pe.logLik[i]! - ref.get(ex.id)!;
        const w = 2 * sigmoid(beta * r);
        loss += (-2 / beta) * logSigmoid(-beta * r);
        wSum += w;
        // grad log pi_i = -n_i g_i, so grad L = (1/|b|) sum_i w_i grad log pi_i = -(1/|b|) sum_i w_i n_i g_i
        for (const [n, g] of pe.grads[i]!) addScaled(grads.get(n)!, g, -(w * pe.tokens[i]!) / b.length);
      });
      opt.step(ctx.work, grads);
      log.push({ step: k + 1, npoLoss: loss / b.length, meanWeight: wSum / b.length, forgetLoss: pe.loss });
      ctx.onProgress?.({ method: 'npo', step: k + 1, total: steps, loss: loss / b.length });
    });
    return { method: 'npo', tensors: ctx.tensors, deltas: diffSince(ctx.work, before), settings: { lr, steps, batch, optimizer, beta }, log, seconds: (performance.now() - t0) / 1000 };
  },
};
