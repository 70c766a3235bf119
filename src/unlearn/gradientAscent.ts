/**
 * Classic gradient ascent (Jang et al. 2023, "Knowledge Unlearning for Mitigating Privacy Risks in
 * Language Models"; NegGrad): k optimiser steps that raise the forget loss at the current
 * parameters, i.e. minimise L(theta) = -L_F(theta), L_F the mean next-token loss of a forget batch.
 * Batches are passes over a seeded shuffle of F. Defaults (resolveHyper): the fine-tune's optimiser,
 * learning rate and batch size, and one pass over F, so that eta-free it mirrors one epoch of
 * training on F run backwards at the current parameters.
 */
import { HostOptimizer } from './optim.ts';
import { batchGradient, batchSchedule } from '../model/gradients.ts';
import { snapshot, diffSince } from './deltas.ts';
import type { UnlearnMethod, UnlearnOutcome } from './types.ts';

export const gradientAscent: UnlearnMethod = {
  name: 'gradient-ascent',
  summary: 'k optimiser steps of ascent on the forget loss at the current parameters',
  reference: 'Jang et al. 2023, arXiv 2210.01504',
  needs: {},
  uses: ['lr', 'steps', 'batch', 'optimizer'],
  run(ctx) {
    const t0 = performance.now();
    const { lr, steps, batch, optimizer } = ctx.hyper;
    const before = snapshot(ctx.work, ctx.tensors);
    const opt = new HostOptimizer(optimizer, lr);
    const T = Math.max(...ctx.forget.map((e) => e.tokens.length));
    const log: UnlearnOutcome['log'] = [];
    batchSchedule(ctx.forget, batch, steps, ctx.seed).forEach((b, k) => {
      const g = batchGradient(ctx.pool, b, ctx.tensors, batch, T);
      for (const v of g.grads.values()) for (let i = 0; i < v.length; i++) v[i] = -v[i]!;
      opt.step(ctx.work, g.grads);
      log.push({ step: k + 1, forgetLoss: g.loss });
      ctx.onProgress?.({ method: 'gradient-ascent', step: k + 1, total: steps, loss: g.loss });
    });
    return { method: 'gradient-ascent', tensors: ctx.tensors, deltas: diffSince(ctx.work, before), settings: { lr, steps, batch, optimizer }, log, seconds: (performance.now() - t0) / 1000 };
  },
};
