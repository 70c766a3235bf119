/**
 * All-epochs stored-gradient ascent: the first-epoch method with the gradients of every epoch of the
 * fine-tune (the paper's comparison point; it needs a run recorded with --record all-epochs):
 * theta <- theta + eta * sum_{i in F} sum_e s_{i,e} g_{i,e}. With SGD and eta = 1 it reverses every
 * recorded update of the forget examples, each taken at the parameters of its own step.
 */
import { storedGradientAscent } from './storedAscent.ts';
import type { UnlearnMethod } from './types.ts';

export const allEpochs: UnlearnMethod = {
  name: 'all-epochs',
  summary: 'reverse the recorded updates of the forget examples from every epoch (needs --record all-epochs)',
  reference: 'Zagardo 2024, arXiv 2406.09391 (comparison to first-epoch ascent)',
  needs: { record: 'all-epochs' },
  uses: ['eta'],
  run: (ctx) => storedGradientAscent(ctx, 'all-epochs', 'all-epochs'),
};
