/**
 * The `rum memorization` and `rum entanglement` analyses, on the same settings and caches as the
 * experiment (experiment.ts): memorization scores with the two proxies and their rank correlation
 * with the estimator, and entanglement scores of forget sets in the original model's embedding.
 */
import path from 'node:path';
import crypto from 'node:crypto';
import { quantile, type CorrelationResult } from '../stats/index.ts';
import { readJsonIfExists, writeJsonAtomic } from '../util/fs.ts';
import { complement, chooseForgetSet, memorizationFor, originalModel, type ExperimentOptions } from './experiment.ts';
import { entanglementScore } from './entanglement.ts';
import { ConfidenceRecorder, holdoutProxy, proxyCorrelations } from './memorization.ts';
import { summarize } from './metrics.ts';
import { predict, accuracy } from './predict.ts';
import { LEVELS, refineByMemorization } from './rum.ts';
import { trainClassifier } from './train.ts';
import type { Summary } from './report.ts';

export interface MemorizationReport {
  dataset: string;
  trainSize: number;
  models: number;
  fraction: number;
  /** Mean correctness of the subset models on their own / held-out examples. */
  meanAccIn: number;
  meanAccOut: number;
  missingOut: number;
  /** Quantiles (0, 0.1, 0.25, 0.5, 0.75, 0.9, 1) of the scores. */
  quantiles: number[];
  /** Share of examples with mem > 0.5. */
  shareAbove05: number;
  proxies: Array<{ proxy: string; spearman: CorrelationResult }>;
  original: { seed: number; trainAccuracy: number; testAccuracy: number };
  seconds: number;
}

/**
 * The estimator (K models, cached) and both proxies from an original model trained with `seed`
 * (the confidence proxy needs that model's training run; proxies are cached with it).
 */
export function memorizationAnalysis(o: ExperimentOptions, seed: number, holdout: { epochs?: number; lr?: number } = {}): MemorizationReport & { scores: number[]; proxyScores: Record<string, number[]> } {
  const t0 = performance.now();
  const est = memorizationFor(o);
  const log = o.log ?? (() => {});
  const file = path.join(o.outDir, 'memorization', `proxies-seed-${seed}.json`);
  const key = crypto.createHash('sha256').update(JSON.stringify([o.config, o.recipe, o.data.name, o.data.train.n, o.data.test.n, seed, holdout])).digest('hex').slice(0, 16);
  let cached = readJsonIfExists<{ key: string; confidence: number[]; holdout: number[]; train: number; test: number } | null>(file, null);
  if (!cached || cached.key !== key) {
    log(`proxies: training the original model (seed ${seed}) with the confidence record`);
    const rec = new ConfidenceRecorder(o.data.train, o.config.classes);
    const r = trainClassifier({ config: o.config, data: o.data.train, recipe: o.recipe, seed: seed * 7919 + 1, onBatch: rec.onBatch, quiet: o.quiet, label: 'original (proxies)' });
    log('proxies: holdout retraining on the test split');
    const ho = holdoutProxy({ config: o.config, original: r.weights, train: o.data.train, holdout: o.data.test, recipe: o.recipe, seed, quiet: o.quiet, ...holdout });
    cached = {
      key,
      confidence: Array.from(rec.scores()),
      holdout: Array.from(ho),
      train: accuracy(predict(o.config, r.weights, o.data.train)),
      test: accuracy(predict(o.config, r.weights, o.data.test)),
    };
    writeJsonAtomic(file, cached);
  }
  const scores = Array.from(est.scores);
  const proxyScores = { confidence: cached.confidence, 'holdout retraining': cached.holdout };
  return {
    dataset: o.data.name,
    trainSize: o.data.train.n,
    models: est.models,
    fraction: est.fraction,
    meanAccIn: est.meanAccIn,
    meanAccOut: est.meanAccOut,
    missingOut: est.missingOut,
    quantiles: [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1].map((q) => quantile(scores, q)),
    shareAbove05: scores.filter((v) => v > 0.5).length / scores.length,
    proxies: proxyCorrelations(scores, proxyScores),
    original: { seed, trainAccuracy: cached.train, testAccuracy: cached.test },
    seconds: (performance.now() - t0) / 1000,
    scores,
    proxyScores,
  };
}

export interface EntanglementReport {
  dataset: string;
  forgetSize: number;
  seeds: number[];
  /** ES of R vs the forget set (stratified by memorization), vs each third, and vs a random set of the same size. */
  es: Record<'stratified' | 'low' | 'medium' | 'high' | 'random', Summary>;
  perSeed: Array<{ seed: number } & Record<'stratified' | 'low' | 'medium' | 'high' | 'random', number>>;
}

export function entanglementAnalysis(o: ExperimentOptions): EntanglementReport {
  const mem = memorizationFor(o).scores;
  const n = o.data.train.n;
  const perSeed: EntanglementReport['perSeed'] = [];
  for (const seed of o.seeds) {
    const w = originalModel(o, seed);
    const p = predict(o.config, w, o.data.train, undefined, { embeddings: true });
    const es = (forget: Int32Array, retain = complement(n, forget)) => entanglementScore(p.embeddings!, p.dim, retain, forget).es;
    const forget = chooseForgetSet(mem, o.forgetSize, seed, 'stratified');
    const retain = complement(n, forget);
    const thirds = refineByMemorization(forget, mem);
    const random = chooseForgetSet(mem, o.forgetSize, seed, 'random');
    perSeed.push({
      seed,
      stratified: es(forget, retain),
      low: es(thirds.low, retain),
      medium: es(thirds.medium, retain),
      high: es(thirds.high, retain),
      random: es(random),
    });
  }
  const keys = ['stratified', ...LEVELS, 'random'] as const;
  return {
    dataset: o.data.name,
    forgetSize: o.forgetSize,
    seeds: o.seeds,
    es: Object.fromEntries(keys.map((k) => [k, summarize(perSeed.map((s) => s[k]))])) as EntanglementReport['es'],
    perSeed,
  };
}
