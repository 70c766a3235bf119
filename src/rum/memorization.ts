/**
 * Memorization scores (Feldman 2020; Feldman & Zhang 2020) and two cheap proxies
 * (docs/methods.md#memorization).
 *
 * mem(A, D, i) = P[f(x_i) = y_i | f = A(D)] - P[f(x_i) = y_i | f = A(D \ i)].
 *
 * Subsampled estimator: train K models with the training algorithm A, model k on a seeded random
 * subset of a fraction p of D (default 0.7), and for each example i
 *   mem_i = mean_{k: i in subset_k} correct_k(i) - mean_{k: i not in subset_k} correct_k(i).
 * With small K an example can be in every subset (probability p^K, 0.3% at K = 16): its second
 * term is then the mean held-out accuracy over all examples (the estimate an example with no
 * held-out model gets; counted in `missingOut`), and symmetrically for the first term.
 * Each model's result is written to `<dir>/model-XXX.json` as soon as it is trained, so an
 * interrupted estimate resumes at the next model (and a model interrupted mid-way at its last
 * finished epoch, from `<dir>/model-XXX.ckpt/`); a file made with other settings is retrained.
 *
 * Proxies (higher = more memorised, so each should correlate positively with the estimator):
 * - confidence: 1 - mean over training of the softmax probability of the true label, read from
 *   the logits of every training step of the original model (free: no extra passes). Examples
 *   the model fits late or never have low confidence (Jiang et al. 2021, C-scores; the RUM paper
 *   uses it as its cheap proxy).
 * - holdout retraining: fine-tune a copy of the original model on held-out data and take, per
 *   training example, the symmetric KL divergence KL(p || q) + KL(q || p) between its output
 *   distribution before (p) and after (q) (Carlini et al. 2022, "The privacy onion effect" /
 *   the RUM paper's holdout-retraining proxy): memorised examples are supported by nothing but
 *   themselves and move most.
 * Their agreement with the estimator is Spearman's rho (src/stats spearman).
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { ImageSet } from '../data/images.ts';
import { spearman, type CorrelationResult } from '../stats/index.ts';
import { ensureDir, readJsonIfExists, writeJsonAtomic } from '../util/fs.ts';
import { UserError } from '../util/errors.ts';
import type { CnnConfig, Weights } from './model.ts';
import { correctness, predict, softmaxInto, type Predictions } from './predict.ts';
import { rngFor, runLoop, trainClassifier, type TrainRecipe } from './train.ts';

export interface MemEstimatorOptions {
  config: CnnConfig;
  train: ImageSet;
  recipe: TrainRecipe;
  /** Number of models (K). */
  models: number;
  /** Fraction of the training set per model (default 0.7). */
  fraction?: number;
  seed: number;
  /** Folder for the per-model results (resumable); none = keep nothing. */
  dir?: string;
  quiet?: boolean;
  onModel?: (k: number, info: { seconds: number; resumed: boolean }) => void;
}

export interface MemEstimate {
  /** mem_i per training example. */
  scores: Float64Array;
  /** How many models saw / did not see each example. */
  inCount: Int32Array;
  outCount: Int32Array;
  /** Mean correctness on the subsets' own examples and on the held-out ones. */
  meanAccIn: number;
  meanAccOut: number;
  /** Examples with no model holding them out (or none including them). */
  missingOut: number;
  missingIn: number;
  models: number;
  fraction: number;
  /** Seconds spent training in this call (resumed models cost nothing). */
  seconds: number;
  resumedModels: number;
}

interface ModelRecord {
  key: string;
  k: number;
  subset: number[];
  /** '0'/'1' per training example: correct after training. */
  correct: string;
  seconds: number;
}

/** The subset of model k: a seeded random fraction of 0..n-1, sorted. */
export function memSubset(n: number, fraction: number, seed: number, k: number): number[] {
  const m = Math.round(fraction * n);
  return rngFor(seed, 31, k)
    .shuffle(Array.from({ length: n }, (_, i) => i))
    .slice(0, m)
    .sort((a, b) => a - b);
}

/** mem_i from per-model subsets and correctness (the estimator's arithmetic, exposed for tests). */
export function memFromRecords(n: number, records: Array<{ subset: ArrayLike<number>; correct: ArrayLike<number> }>): Omit<MemEstimate, 'models' | 'fraction' | 'seconds' | 'resumedModels'> {
  const inSum = new Float64Array(n);
  const outSum = new Float64Array(n);
  const inCount = new Int32Array(n);
  const outCount = new Int32Array(n);
  for (const r of records) {
    const inSet = new Uint8Array(n);
    for (let j = 0; j < r.subset.length; j++) inSet[r.subset[j]!] = 1;
    for (let i = 0; i < n; i++) {
      if (inSet[i]) {
        inSum[i] = inSum[i]! + r.correct[i]!;
        inCount[i] = inCount[i]! + 1;
      } else {
        outSum[i] = outSum[i]! + r.correct[i]!;
        outCount[i] = outCount[i]! + 1;
      }
    }
  }
  let tIn = 0;
  let cIn = 0;
  let tOut = 0;
  let cOut = 0;
  for (let i = 0; i < n; i++) {
    tIn += inSum[i]!;
    cIn += inCount[i]!;
    tOut += outSum[i]!;
    cOut += outCount[i]!;
  }
  const meanAccIn = cIn > 0 ? tIn / cIn : NaN;
  const meanAccOut = cOut > 0 ? tOut / cOut : NaN;
  const scores = new Float64Array(n);
  let missingOut = 0;
  let missingIn = 0;
  for (let i = 0; i < n; i++) {
    const a = inCount[i]! > 0 ? inSum[i]! / inCount[i]! : (missingIn++, meanAccIn);
    const b = outCount[i]! > 0 ? outSum[i]! / outCount[i]! : (missingOut++, meanAccOut);
    scores[i] = a - b;
  }
  return { scores, inCount, outCount, meanAccIn, meanAccOut, missingOut, missingIn };
}

/**
 * Model k of the estimator: trained on its subset (memSubset(n, fraction, seed, k)) with seed
 * `seed * 100003 + k + 1`, then its correctness ('0'/'1' per training example). The unit of work
 * estimateMemorization loops over, and that a sweep (src/sweep) runs as one job per model.
 */
export function trainMemModel(
  o: Pick<MemEstimatorOptions, 'config' | 'train' | 'recipe' | 'seed' | 'quiet'> & { fraction: number },
  k: number,
  run: { label?: string; checkpointDir?: string } = {},
): { subset: number[]; correct: string; seconds: number } {
  const subset = memSubset(o.train.n, o.fraction, o.seed, k);
  const r = trainClassifier({
    config: o.config,
    data: o.train,
    indices: subset,
    recipe: o.recipe,
    seed: o.seed * 100003 + k + 1,
    quiet: o.quiet,
    label: run.label ?? `mem model ${k + 1}`,
    checkpointDir: run.checkpointDir,
  });
  const correct = correctness(predict(o.config, r.weights, o.train));
  return { subset, correct: Array.from(correct).join(''), seconds: r.seconds };
}

export function estimateMemorization(o: MemEstimatorOptions): MemEstimate {
  const fraction = o.fraction ?? 0.7;
  if (!(fraction > 0 && fraction < 1)) throw new UserError(`memorization: the subset fraction must be in (0, 1), got ${fraction}`);
  if (!Number.isInteger(o.models) || o.models < 2) throw new UserError(`memorization: needs at least 2 models, got ${o.models}`);
  const n = o.train.n;
  const key = crypto
    .createHash('sha256')
    .update(JSON.stringify([o.config, o.recipe, o.seed, fraction, n, Array.from(o.train.labels)]))
    .digest('hex')
    .slice(0, 16);
  if (o.dir) ensureDir(o.dir);
  const records: ModelRecord[] = [];
  let seconds = 0;
  let resumed = 0;
  for (let k = 0; k < o.models; k++) {
    const file = o.dir ? path.join(o.dir, `model-${String(k).padStart(3, '0')}.json`) : null;
    const old = file ? readJsonIfExists<ModelRecord | null>(file, null) : null;
    if (old && old.key === key && old.k === k && old.correct.length === n) {
      records.push(old);
      resumed++;
      o.onModel?.(k, { seconds: 0, resumed: true });
      continue;
    }
    const ckpt = file ? file.replace(/\.json$/, '.ckpt') : undefined;
    const m = trainMemModel({ ...o, fraction }, k, { label: `mem model ${k + 1}/${o.models}`, checkpointDir: ckpt });
    const rec: ModelRecord = { key, k, ...m };
    if (file) writeJsonAtomic(file, rec);
    if (ckpt) fs.rmSync(ckpt, { recursive: true, force: true });
    records.push(rec);
    seconds += m.seconds;
    o.onModel?.(k, { seconds: m.seconds, resumed: false });
  }
  const est = memFromRecords(
    n,
    records.map((r) => ({ subset: r.subset, correct: Array.from(r.correct, (ch) => (ch === '1' ? 1 : 0)) })),
  );
  return { ...est, models: o.models, fraction, seconds, resumedModels: resumed };
}

/** Accumulates the confidence proxy from a training run's per-step logits (LoopOptions.onBatch). */
export class ConfidenceRecorder {
  private readonly sum: Float64Array;
  private readonly count: Int32Array;
  constructor(
    private readonly set: ImageSet,
    private readonly classes: number,
  ) {
    this.sum = new Float64Array(set.n);
    this.count = new Int32Array(set.n);
  }

  readonly onBatch = (info: { indices: Int32Array; logits: Float32Array }): void => {
    const K = this.classes;
    const p = new Float32Array(K);
    for (let k = 0; k < info.indices.length; k++) {
      const i = info.indices[k]!;
      softmaxInto(info.logits, k * K, K, p, 0);
      this.sum[i] = this.sum[i]! + p[this.set.labels[i]!]!;
      this.count[i] = this.count[i]! + 1;
    }
  };

  /** 1 - mean true-label confidence per example (NaN where never seen). */
  scores(): Float64Array {
    return Float64Array.from(this.sum, (s, i) => (this.count[i]! > 0 ? 1 - s / this.count[i]! : NaN));
  }
}

/** Symmetric KL divergence per example between two prediction sets over the same examples. */
export function symmetricKl(p: Predictions, q: Predictions): Float64Array {
  if (p.n !== q.n || p.classes !== q.classes) throw new UserError('symmetricKl: predictions over different examples');
  const K = p.classes;
  const out = new Float64Array(p.n);
  for (let i = 0; i < p.n; i++) {
    let s = 0;
    for (let j = 0; j < K; j++) {
      const a = Math.max(p.probs[i * K + j]!, 1e-12);
      const b = Math.max(q.probs[i * K + j]!, 1e-12);
      s += (a - b) * Math.log(a / b);
    }
    out[i] = s;
  }
  return out;
}

export interface HoldoutProxyOptions {
  config: CnnConfig;
  original: Weights;
  train: ImageSet;
  holdout: ImageSet;
  recipe: TrainRecipe;
  epochs?: number;
  lr?: number;
  seed: number;
  quiet?: boolean;
}

/** The holdout-retraining proxy: symmetric KL of each training example's output before / after. */
export function holdoutProxy(o: HoldoutProxyOptions): Float64Array {
  const before = predict(o.config, o.original, o.train);
  const tuned = runLoop({
    config: o.config,
    init: o.original,
    sources: [{ set: o.holdout, indices: Array.from({ length: o.holdout.n }, (_, i) => i), weight: 1, augment: o.recipe.augment }],
    epochs: o.epochs ?? 5,
    batch: o.recipe.batch,
    hyper: { lr: o.lr ?? 0.02, momentum: o.recipe.momentum, weightDecay: o.recipe.weightDecay, schedule: 'cosine' },
    seed: o.seed,
    progress: { label: 'holdout proxy', quiet: o.quiet },
  }).weights;
  return symmetricKl(before, predict(o.config, tuned, o.train));
}

export interface ProxyCorrelation {
  proxy: string;
  spearman: CorrelationResult;
}

/** Spearman's rho of each proxy with the estimator (examples where either is NaN are left out). */
export function proxyCorrelations(estimator: ArrayLike<number>, proxies: Record<string, ArrayLike<number>>): ProxyCorrelation[] {
  return Object.entries(proxies).map(([proxy, v]) => {
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < estimator.length; i++) {
      if (Number.isFinite(estimator[i]) && Number.isFinite(v[i])) {
        a.push(estimator[i]!);
        b.push(v[i]!);
      }
    }
    return { proxy, spearman: spearman(a, b) };
  });
}

