/**
 * The registry of unlearning methods (`unlearnkit methods` lists it) and the resolution of their
 * hyper-parameters. Defaults follow the fine-tuning run being unlearned, so that a method's step
 * has the size of a training step:
 *   eta 1 (DEFAULT_ETA) for both stored-gradient methods: all-epochs reverses the recorded steps,
 *   first-epoch reverses epoch 1's (issue #20: the former first-epoch default, the fine-tune's epoch
 *   count, multiplied retain perplexity by 3,213 on an 8-epoch TOFU fine-tune; `--eta auto` searches
 *   the largest step within a utility budget instead, stepSearch.ts), lr / batch / optimiser of the
 *   fine-tune (1e-3 / 8 / adamw for a bare checkpoint), steps = one pass over the forget set,
 *   NPO beta 0.1 (Zhang et al. 2024), grad-diff retain weight 1, oracle epochs = the fine-tune's.
 */
import { UserError } from '../util/errors.ts';
import { DEFAULT_ETA } from './defaults.ts';
import { firstEpoch } from './firstEpoch.ts';
import { allEpochs } from './allEpochs.ts';
import { gradientAscent } from './gradientAscent.ts';
import { gradDiff } from './gradDiff.ts';
import { npo } from './npo.ts';
import { retainOnly } from './retainOnly.ts';
import type { RunSource, UnlearnHyper, UnlearnMethod } from './types.ts';

const METHODS = new Map<string, UnlearnMethod>();

/** Add a method (a later registration of the same name replaces the earlier one). */
export function registerMethod(m: UnlearnMethod): void {
  METHODS.set(m.name, m);
}

for (const m of [firstEpoch, allEpochs, gradientAscent, gradDiff, npo, retainOnly]) registerMethod(m);

export function listMethods(): UnlearnMethod[] {
  return [...METHODS.values()];
}

export function getMethod(name: string): UnlearnMethod {
  const m = METHODS.get(name);
  if (!m) throw new UserError(`unknown unlearning method '${name}'; known: ${[...METHODS.keys()].join(', ')} (unlearnkit methods)`);
  return m;
}

export { DEFAULT_ETA };

export const HYPER_HELP: Record<keyof UnlearnHyper, string> = {
  eta: `stored-gradient ascent (first-epoch, all-epochs): multiple of the recorded steps (default ${DEFAULT_ETA} = reverse them once), or 'auto': the largest within --utility-budget`,
  lr: 'gradient methods: optimiser step size (default: the fine-tune\'s lr), or \'auto\': the largest within --utility-budget',
  steps: 'gradient methods: optimiser steps (default: one pass over the forget set), or \'auto\': the most within --utility-budget',
  batch: 'gradient methods: sequences per batch (default: the fine-tune\'s batch)',
  optimizer: 'gradient methods: sgd | adamw (default: the fine-tune\'s)',
  beta: 'NPO inverse temperature (default 0.1)',
  retainWeight: 'grad-diff: weight w of the retain loss in -L_F + w L_R (default 1)',
  epochs: 'retain-only: epochs (default: the fine-tune\'s)',
};

/** Fill in the defaults (see the module comment) and check the values. */
export function resolveHyper(given: Partial<UnlearnHyper>, source: RunSource, forgetCount: number, method?: string): UnlearnHyper {
  const o = source.options;
  // One default step for both stored-gradient methods (see the module comment); `method` is kept
  // for callers that pass it.
  void method;
  const etaDefault = DEFAULT_ETA;
  const batch = given.batch ?? o?.batch ?? 8;
  const h: UnlearnHyper = {
    eta: given.eta ?? etaDefault,
    lr: given.lr ?? o?.lr ?? 1e-3,
    batch,
    steps: given.steps ?? Math.max(1, Math.ceil(forgetCount / batch)),
    optimizer: given.optimizer ?? o?.optimizer ?? 'adamw',
    beta: given.beta ?? 0.1,
    retainWeight: given.retainWeight ?? 1,
    epochs: given.epochs ?? o?.epochs ?? 3,
  };
  if (!Number.isFinite(h.eta)) throw new UserError(`--eta must be a finite number, got ${h.eta}`);
  if (!(h.lr > 0)) throw new UserError(`--lr must be positive, got ${h.lr}`);
  if (!Number.isInteger(h.batch) || h.batch < 1) throw new UserError(`--batch must be a positive integer, got ${h.batch}`);
  if (!Number.isInteger(h.steps) || h.steps < 1) throw new UserError(`--steps must be a positive integer, got ${h.steps}`);
  if (h.optimizer !== 'sgd' && h.optimizer !== 'adamw') throw new UserError(`--optimizer must be sgd or adamw, got '${String(h.optimizer)}'`);
  if (!(h.beta > 0)) throw new UserError(`--beta must be positive, got ${h.beta}`);
  if (!(h.retainWeight >= 0)) throw new UserError(`--retain-weight must be >= 0, got ${h.retainWeight}`);
  if (!Number.isInteger(h.epochs) || h.epochs < 1) throw new UserError(`--epochs must be a positive integer, got ${h.epochs}`);
  return h;
}
