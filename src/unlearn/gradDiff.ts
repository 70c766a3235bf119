/**
 * Gradient difference (Liu et al. 2022, "Continual Learning and Private Unlearning"; TOFU's
 * grad_diff baseline, Maini et al. 2024): ascent on the forget loss and descent on the retain loss
 * together, minimising L = -L_F(forget batch) + w * L_R(retain batch), with w = --retain-weight
 * (default 1). Retain batches are passes over a seeded shuffle of the kept training examples.
 */
import { UserError } from '../util/errors.ts';
import { HostOptimizer } from './optim.ts';
import { batchGradient, batchSchedule } from '../model/gradients.ts';
import { snapshot, diffSince } from './deltas.ts';
import type { UnlearnMethod, UnlearnOutcome } from './types.ts';

export const gradDiff: UnlearnMethod = {
  name: 'grad-diff',
  summary: 'ascent on the forget loss plus descent on the retain loss: L = -L_F + w L_R',
  reference: 'Liu et al. 2022 (CLPU); TOFU baseline, Maini et al. 2024, arXiv 2401.06121',
  needs: { retain: true },
  uses: ['lr', 'steps', 'batch', 'optimizer', 'retainWeight'],
  run(ctx) {
    const t0 = performance.now();
    if (ctx.retain.length === 0) throw new UserError('grad-diff needs retained training examples (the training set minus the forget set is empty)');
    const { lr, steps, batch, optimizer, retainWeight } = ctx.hyper;
    const before = snapshot(ctx.work, ctx.tensors);
    const opt = new HostOptimizer(optimizer, lr);
    const T = Math.max(...ctx.forget.map((e) => e.tokens.length), ...ctx.retain.map((e) => e.tokens.length));
    const fb = batchSchedule(ctx.forget, batch, steps, ctx.seed);
    const rb = batchSchedule(ctx.retain, batch, steps, ctx.seed + 1);
    const log: UnlearnOutcome['log'] = [];
    for (let k = 0; k < steps; k++) {
      const gf = batchGradient(ctx.pool, fb[k]!, ctx.tensors, batch, T);
      const gr = batchGradient(ctx.pool, rb[k]!, ctx.tensors, batch, T);
      const grads = new Map<string, Float32Array>();
      for (const n of ctx.tensors) {
        const a = gf.grads.get(n)!;
        const r = gr.grads.get(n)!;
        const g = new Float32Array(a.length);
        for (let i = 0; i < a.length; i++) g[i] = -a[i]! + retainWeight * r[i]!;
        grads.set(n, g);
      }
      opt.step(ctx.work, grads);
      log.push({ step: k + 1, forgetLoss: gf.loss, retainLoss: gr.loss, objective: -gf.loss + retainWeight * gr.loss });
      ctx.onProgress?.({ method: 'grad-diff', step: k + 1, total: steps, loss: -gf.loss + retainWeight * gr.loss });
    }
    return { method: 'grad-diff', tensors: ctx.tensors, deltas: diffSince(ctx.work, before), settings: { lr, steps, batch, optimizer, retainWeight }, log, seconds: (performance.now() - t0) / 1000 };
  },
};
