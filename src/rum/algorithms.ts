/**
 * Unlearning algorithms behind one interface, and their registry (docs/methods.md#image-unlearning-algorithms). Each
 * takes a task (model config, training set, forget set S, retain set R = D \ S, seed) and starting
 * weights, and returns new weights; all train with SGD + momentum through runLoop (train.ts).
 *
 * - retrain:      train from scratch on R with the original recipe (the oracle).
 * - finetune:     train on R for a few epochs (catastrophic forgetting of S).
 * - l1-sparse:    finetune with an L1 penalty gamma * ||theta||_1 decayed linearly to 0 (Jia et
 *                 al. 2023, "Model sparsity can simplify machine unlearning").
 * - neggrad:      gradient ascent on S: minimise -CE(S).
 * - neggrad+:     minimise beta * CE(R) - (1 - beta) * CE(S) on paired batches (Kurmanji et al.
 *                 2023, "Towards unbounded machine unlearning").
 * - salun:        weight saliency mask m = 1(|grad_theta CE(S)| >= its (1 - sparsity) quantile
 *                 over all weights) at the start weights, then random-label fine-tuning of the
 *                 masked weights only, on R together with S relabelled at random (wrong labels)
 *                 (Fan et al. 2024, "SalUn").
 * - random-label: the same random-label fine-tuning without the mask (Golatkar et al. 2020).
 *
 * Hyper-parameters are per algorithm and can be overridden by name; epochs count passes over R
 * (neggrad: over S; salun / random-label: over R and S together). The defaults were tuned by hand
 * on seed 1 of the fixture-scale setting (500 training images, forget set of 60, vanilla runs; see
 * src/rum/README.md), so report tables on other seeds. Momentum and weight decay come from the
 * training recipe; learning rates decay by a cosine to 0 (neggrad: constant).
 */
import type { ImageSet } from '../data/images.ts';
import { UserError } from '../util/errors.ts';
import type { CnnConfig, Weights } from './model.ts';
import { meanLossGradient, rngFor, runLoop, trainClassifier, type BatchSource, type TrainRecipe } from './train.ts';

export interface UnlearnTask {
  config: CnnConfig;
  train: ImageSet;
  /** Indices into `train`. */
  forget: ArrayLike<number>;
  retain: ArrayLike<number>;
  seed: number;
  /** The recipe the original model was trained with (retrain uses it; momentum and weight decay come from it). */
  recipe: TrainRecipe;
  quiet?: boolean;
  label?: string;
  /** Per-epoch checkpoints of long runs (retrain), so an interrupted run resumes mid-way. */
  checkpointDir?: string;
}

export interface UnlearnAlgorithm {
  readonly name: string;
  readonly description: string;
  readonly hyper: Readonly<Record<string, number>>;
  run(task: UnlearnTask, start: Weights): Weights;
}

interface Entry {
  description: string;
  defaults: Record<string, number>;
  run: (t: UnlearnTask, start: Weights, h: Record<string, number>) => Weights;
}

function randomWrongLabels(task: UnlearnTask, stream: number): Int32Array {
  const rng = rngFor(task.seed, 7, stream);
  const K = task.config.classes;
  return Int32Array.from(Array.from(task.forget), (i) => (task.train.labels[i]! + 1 + rng.int(K - 1)) % K);
}

function loop(task: UnlearnTask, start: Weights, sources: BatchSource[], h: Record<string, number>, extra: { l1?: number; masks?: Weights; what: string; schedule?: 'cosine' | 'constant' }): Weights {
  return runLoop({
    config: task.config,
    init: start,
    sources,
    epochs: h.epochs!,
    batch: task.recipe.batch,
    hyper: {
      lr: h.lr!,
      momentum: task.recipe.momentum,
      weightDecay: task.recipe.weightDecay,
      schedule: extra.schedule ?? 'cosine',
      l1: extra.l1,
    },
    seed: task.seed,
    masks: extra.masks,
    progress: { label: task.label ?? extra.what, quiet: task.quiet },
  }).weights;
}

const retainSource = (t: UnlearnTask, weight = 1): BatchSource => ({ set: t.train, indices: t.retain, weight, augment: t.recipe.augment });
const forgetSource = (t: UnlearnTask, weight: number, labels?: ArrayLike<number>): BatchSource => ({
  set: t.train,
  indices: t.forget,
  labels,
  weight,
  augment: t.recipe.augment,
});

/**
 * R plus S relabelled with random wrong labels, as one shuffled source (the SalUn / random-label
 * recipe trains on the union, so a batch holds S in proportion |S| / (|S| + |R|)).
 */
function relabelledUnion(t: UnlearnTask, stream: number): BatchSource {
  const wrong = randomWrongLabels(t, stream);
  const indices = [...Array.from(t.retain), ...Array.from(t.forget)];
  const labels = [...Array.from(t.retain, (i) => t.train.labels[i]!), ...Array.from(wrong)];
  return { set: t.train, indices, labels, weight: 1, augment: t.recipe.augment };
}

/** SalUn's mask: 1 where |grad| is at or above the (1 - sparsity) quantile over all weights. */
export function saliencyMask(grad: Weights, sparsity: number): Weights {
  if (!(sparsity > 0 && sparsity <= 1)) throw new UserError(`salun: sparsity must be in (0, 1], got ${sparsity}`);
  let total = 0;
  for (const v of grad.values()) total += v.length;
  const all = new Float32Array(total);
  let at = 0;
  for (const v of grad.values()) {
    for (let i = 0; i < v.length; i++) all[at + i] = Math.abs(v[i]!);
    at += v.length;
  }
  all.sort();
  const keep = Math.max(1, Math.round(sparsity * total));
  const threshold = all[total - keep]!;
  return new Map([...grad].map(([k, v]) => [k, Float32Array.from(v, (g) => (Math.abs(g) >= threshold ? 1 : 0))]));
}

const ALGORITHMS: Record<string, Entry> = {
  retrain: {
    description: 'train from scratch on the retain set (the oracle)',
    defaults: {},
    run: (t) =>
      trainClassifier({
        config: t.config,
        data: t.train,
        indices: t.retain,
        recipe: t.recipe,
        seed: t.seed,
        quiet: t.quiet,
        label: t.label ?? 'retrain',
        checkpointDir: t.checkpointDir,
      }).weights,
  },
  finetune: {
    description: 'fine-tune on the retain set',
    defaults: { epochs: 10, lr: 0.05 },
    run: (t, w, h) => loop(t, w, [retainSource(t)], h, { what: 'finetune' }),
  },
  'l1-sparse': {
    description: 'fine-tune on the retain set with an L1 penalty (decayed linearly)',
    defaults: { epochs: 10, lr: 0.05, gamma: 5e-4 },
    run: (t, w, h) => loop(t, w, [retainSource(t)], h, { what: 'l1-sparse', l1: h.gamma }),
  },
  neggrad: {
    description: 'gradient ascent on the forget set',
    defaults: { epochs: 5, lr: 0.005 },
    run: (t, w, h) => loop(t, w, [forgetSource(t, -1)], h, { what: 'neggrad', schedule: 'constant' }),
  },
  'neggrad+': {
    description: 'beta * CE(retain) - (1 - beta) * CE(forget) on paired batches',
    defaults: { epochs: 8, lr: 0.05, beta: 0.95 },
    run: (t, w, h) => {
      if (!(h.beta! > 0 && h.beta! < 1)) throw new UserError(`neggrad+: beta must be in (0, 1), got ${h.beta}`);
      return loop(t, w, [retainSource(t, h.beta), forgetSource(t, -(1 - h.beta!))], h, { what: 'neggrad+' });
    },
  },
  salun: {
    description: 'random-label fine-tuning of the salient weights (top |grad of forget loss|)',
    defaults: { epochs: 5, lr: 0.02, sparsity: 0.5 },
    run: (t, w, h) => {
      const grad = meanLossGradient(t.config, w, t.train, t.forget, t.recipe.batch);
      const masks = saliencyMask(grad, h.sparsity!);
      return loop(t, w, [relabelledUnion(t, 1)], h, { what: 'salun', masks });
    },
  },
  'random-label': {
    description: 'fine-tune on the retain set plus the forget set with random wrong labels',
    defaults: { epochs: 5, lr: 0.02 },
    run: (t, w, h) => loop(t, w, [relabelledUnion(t, 2)], h, { what: 'random-label' }),
  },
};

export const ALGORITHM_NAMES = Object.keys(ALGORITHMS);

/** An algorithm by name with hyper-parameter overrides (unknown names or keys are user errors). */
export function makeAlgorithm(name: string, overrides: Record<string, number> = {}): UnlearnAlgorithm {
  const e = ALGORITHMS[name];
  if (!e) throw new UserError(`unknown unlearning algorithm '${name}'; known: ${ALGORITHM_NAMES.join(', ')}`);
  for (const [k, v] of Object.entries(overrides)) {
    if (!(k in e.defaults)) {
      throw new UserError(`${name} has no hyper-parameter '${k}'${Object.keys(e.defaults).length ? `; it has ${Object.keys(e.defaults).join(', ')}` : ''}`);
    }
    if (!Number.isFinite(v)) throw new UserError(`${name}.${k} must be a number, got ${v}`);
  }
  const hyper = { ...e.defaults, ...overrides };
  if ('epochs' in hyper && (!Number.isInteger(hyper.epochs) || hyper.epochs! < 1)) throw new UserError(`${name}.epochs must be a positive integer`);
  if ('lr' in hyper && !(hyper.lr! > 0)) throw new UserError(`${name}.lr must be > 0`);
  return {
    name,
    description: e.description,
    hyper,
    run: (task, start) => {
      checkTask(task);
      return e.run(task, start, hyper);
    },
  };
}

/**
 * Parse "name.key=value,..." overrides (e.g. "finetune.epochs=3,neggrad+.beta=0.9") into a map
 * from algorithm name to its overrides.
 */
export function parseHyper(spec: string | undefined): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  if (!spec) return out;
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z0-9+-]+)\.([a-zA-Z0-9]+)=(.+)$/.exec(part);
    if (!m) throw new UserError(`cannot read hyper-parameter '${part}'; write algorithm.key=value, e.g. finetune.epochs=3`);
    const v = Number(m[3]);
    if (!Number.isFinite(v)) throw new UserError(`hyper-parameter ${m[1]}.${m[2]}: '${m[3]}' is not a number`);
    (out[m[1]!] ??= {})[m[2]!] = v;
  }
  return out;
}

function checkTask(t: UnlearnTask): void {
  if (t.forget.length === 0) throw new UserError('unlearning: the forget set is empty');
  if (t.retain.length === 0) throw new UserError('unlearning: the retain set is empty');
  const seen = new Set<number>();
  for (const i of Array.from(t.forget)) seen.add(i);
  for (const i of Array.from(t.retain)) if (seen.has(i)) throw new UserError(`unlearning: example ${i} is in both the forget and the retain set`);
}
