/**
 * First-epoch gradient ascent (Zagardo 2024; docs/methods.md#first-epoch-gradient-ascent): reverse the update each forget
 * example caused in epoch 1 of fine-tuning, theta <- theta + eta * sum_{i in F} s_i g_i, from the
 * first-epoch gradient record. eta = 1 reverses the recorded steps (exactly for SGD, approximately
 * for AdamW: see storedAscent.ts). Costs one read of the record per forget example: no forward or
 * backward pass at all.
 */
import { storedGradientAscent } from './storedAscent.ts';
import type { UnlearnMethod } from './types.ts';

export const firstEpoch: UnlearnMethod = {
  name: 'first-epoch',
  summary: 'reverse each forget example\'s recorded epoch-1 update: theta += eta * sum_i s_i g_i (no forward/backward)',
  reference: 'Zagardo 2024, arXiv 2406.09391 (first-epoch gradient ascent)',
  needs: { record: 'first-epoch' },
  uses: ['eta'],
  run: (ctx) => storedGradientAscent(ctx, 'first-epoch', 'first-epoch'),
};
