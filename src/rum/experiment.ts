/**
 * The RUM experiment (the paper's table, docs/methods.md#the-rum-experiment) on one dataset over several seeds:
 *
 *   memorization scores of the training set (subsampled estimator, K models, shared by all seeds)
 *   for each seed s:
 *     forget set S: `forgetSize` examples, a third drawn from each memorization third of the
 *       training set ('stratified', as the paper's forget sets mix low / medium / high), or a
 *       uniform random draw ('random'); R = D \ S
 *     original model theta_o trained on D; oracle theta_r retrained on R (same recipe, seed s)
 *     for each algorithm A: vanilla (A on S), shuffle (A on random thirds in sequence) and
 *       refined / RUM^F (A on the memorization thirds, low -> medium -> high)
 *     RUM: the per-subset table (given, or selected on a held-out seed, see selectRumTable)
 *     every model: accuracies on S, R and test, MIA; scores against theta_r: ToW, MIA gap, ToW-MIA
 *     the entanglement score of R and S (and of R and each third) in theta_o's embedding space
 *
 * Everything is cached under `outDir` so that an interrupted run resumes: memorization models
 * (memorization.ts), each seed's original and oracle weights, and each seed's finished runs
 * (results.json, rewritten after every run).
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { ensureDir, readJsonIfExists, writeJsonAtomic } from '../util/fs.ts';
import { UserError } from '../util/errors.ts';
import { makeAlgorithm, type UnlearnAlgorithm, type UnlearnTask } from './algorithms.ts';
import { loadRumData, type RumData } from './data.ts';
import { entanglementScore } from './entanglement.ts';
import { estimateMemorization, type MemEstimate } from './memorization.ts';
import { checkWeights, resolveConfig, type CnnConfig, type Weights } from './model.ts';
import { evaluateModel, scoreAgainstOracle, type ModelEval, type UnlearnScores } from './metrics.ts';
import { predict, type Predictions } from './predict.ts';
import { LEVELS, refineByMemorization, runSequence, shuffleThirds, type Level, type RumTable, type Thirds } from './rum.ts';
import { rngFor, trainClassifier, type TrainRecipe } from './train.ts';
import { layerShapes, loadTensors, saveTensors } from './weightsFile.ts';

export type Variant = 'vanilla' | 'shuffle' | 'refined';
export const VARIANTS: Variant[] = ['vanilla', 'shuffle', 'refined'];

export type RumChoice = { table: RumTable } | { select: string[] } | null;

export interface ExperimentOptions {
  data: RumData;
  config: CnnConfig;
  recipe: TrainRecipe;
  seeds: number[];
  forgetSize: number;
  forgetMix?: 'stratified' | 'random';
  algorithms: string[];
  variants?: Variant[];
  /** Per-algorithm hyper-parameter overrides. */
  hyper?: Record<string, Record<string, number>>;
  /** The RUM row: a fixed table, selection among candidates on a held-out seed, or none. */
  rum: RumChoice;
  memModels: number;
  memFraction?: number;
  /** Seed of the memorization estimator (default 0). */
  memSeed?: number;
  outDir: string;
  quiet?: boolean;
  log?: (line: string) => void;
}

export interface RunRecord {
  algorithm: string;
  variant: Variant | 'rum';
  /** For RUM: the algorithm per subset. */
  table?: RumTable;
  /** Hyper-parameters of every algorithm the run used. */
  hyper: Record<string, Record<string, number>>;
  eval: ModelEval;
  scores: UnlearnScores;
  seconds: number;
}

export interface SeedResult {
  seed: number;
  /** Identifies the cached original / oracle models and forget set the runs belong to. */
  key: string;
  forgetSize: number;
  /** Mean memorization score of each third of S. */
  thirdsMem: Record<Level, number>;
  entanglement: { all: number } & Record<Level, number>;
  original: ModelEval;
  oracle: ModelEval;
  runs: RunRecord[];
}

export interface SelectionResult {
  seed: number;
  candidates: string[];
  /** ToW on each subset for each candidate (applied alone from the original model). */
  tow: Record<Level, Record<string, number>>;
  table: RumTable;
}

export interface ExperimentResult {
  dataset: string;
  trainSize: number;
  testSize: number;
  config: CnnConfig;
  recipe: TrainRecipe;
  memorization: { models: number; fraction: number; meanAccIn: number; meanAccOut: number; missingOut: number; seconds: number; resumedModels: number };
  selection: SelectionResult | null;
  rumTable: RumTable | null;
  seeds: SeedResult[];
  seconds: number;
}

function modelFile(dir: string, name: string): string {
  return path.join(dir, `${name}.gguf`);
}

/**
 * Train (or load the cached) model `name` in `dir`; `key` identifies what it was trained on.
 * `train` gets a checkpoint folder for per-epoch checkpoints, removed once the model is saved.
 */
function cachedModel(dir: string, name: string, config: CnnConfig, key: string, train: (checkpointDir: string) => Weights): Weights {
  const f = modelFile(dir, name);
  if (fs.existsSync(f)) {
    const t = loadTensors<{ config: CnnConfig; key?: string }>(f);
    if (t.meta.key === key && JSON.stringify(t.meta.config) === JSON.stringify(config)) {
      checkWeights(config, t.tensors, f);
      return t.tensors;
    }
  }
  const ckpt = path.join(dir, `ckpt-${name}`);
  const w = train(ckpt);
  saveTensors(f, { config, key }, w, layerShapes(config));
  fs.rmSync(ckpt, { recursive: true, force: true });
  return w;
}

/** What the cached models of a seed depend on (not the algorithms' hyper-parameters). */
function modelKey(o: ExperimentOptions, seed: number): string {
  return crypto
    .createHash('sha256')
    .update(
      JSON.stringify([o.config, o.recipe, o.data.name, o.data.train.n, o.data.test.n, o.forgetSize, o.forgetMix ?? 'stratified', o.memModels, o.memFraction ?? 0.7, o.memSeed ?? 0, seed]),
    )
    .digest('hex')
    .slice(0, 16);
}

/**
 * Pick the forget set. 'stratified' follows the authors' mixed forget sets (main_forget.py,
 * `--mem mix`): a third from the most memorised examples, a third from those with memorization
 * closest to 0.5 and a third from the least memorised. To vary the set over seeds and break the
 * many ties of a small-K estimate at random, each third is a seeded draw from a pool of the
 * 2 x (size / 3) most extreme candidates (pools taken high, then low, then medium, disjoint).
 * 'random' is a uniform draw.
 */
/**
 * The data, CNN config and default results folder for an experiment, as `rum table` and the TUI
 * build them: `dataArg` is 'fixture' or a dataset folder; the config's classes, channels and image
 * size follow the data, `over` sets the rest (width, blocks); the folder is runs/rum/<data>-<trainSize>.
 */
export function experimentSetup(
  dataArg: string,
  o: { trainSize: number; testSize: number; model: string; over?: Partial<CnnConfig> },
): { data: RumData; config: CnnConfig; defaultOutDir: string } {
  const data = loadRumData(dataArg, { trainLimit: o.trainSize, testLimit: o.testSize });
  const config = resolveConfig(o.model, { ...o.over, classes: data.train.classes.length, inChannels: data.train.c, height: data.train.h, width: data.train.w });
  const tag = dataArg === 'fixture' ? 'fixture' : path.basename(path.resolve(dataArg));
  return { data, config, defaultOutDir: path.join('runs', 'rum', `${tag}-${o.trainSize}`) };
}

export function chooseForgetSet(mem: ArrayLike<number>, size: number, seed: number, mix: 'stratified' | 'random'): Int32Array {
  const n = mem.length;
  if (!Number.isInteger(size) || size < 3 || 2 * size > n) {
    throw new UserError(`--forget-size must be an integer between 3 and ${Math.floor(n / 2)} for ${n} training examples, got ${size}`);
  }
  const rng = rngFor(seed, 71);
  if (mix === 'random') return Int32Array.from(rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, size)).sort();
  const per = { high: Math.round(size / 3), low: Math.round((2 * size) / 3) - Math.round(size / 3), medium: size - Math.round((2 * size) / 3) };
  const used = new Uint8Array(n);
  const out: number[] = [];
  const take = (level: 'high' | 'low' | 'medium', key: (i: number) => number) => {
    const k = per[level];
    const pool = Array.from({ length: n }, (_, i) => i)
      .filter((i) => !used[i])
      .sort((a, b) => key(a) - key(b) || a - b)
      .slice(0, Math.min(n, 2 * k));
    pool.forEach((i) => (used[i] = 1));
    out.push(...rng.shuffle(pool).slice(0, k));
  };
  take('high', (i) => -mem[i]!);
  take('low', (i) => mem[i]!);
  take('medium', (i) => Math.abs(mem[i]! - 0.5));
  return Int32Array.from(out).sort();
}

/** Predictions of a model on the train set (split into S / R) and the test set, and its eval. */
export function evalWeights(o: ExperimentOptions, w: Weights, forget: Int32Array, retain: Int32Array, seed: number): ModelEval {
  const all = predict(o.config, w, o.data.train);
  const pick = (idx: Int32Array): Predictions => {
    const K = all.classes;
    const probs = new Float32Array(idx.length * K);
    const labels = new Int32Array(idx.length);
    idx.forEach((i, k) => {
      probs.set(all.probs.subarray(i * K, (i + 1) * K), k * K);
      labels[k] = all.labels[i]!;
    });
    return { n: idx.length, classes: K, probs, labels, dim: all.dim };
  };
  return evaluateModel({ forget: pick(forget), retain: pick(retain), test: predict(o.config, w, o.data.test) }, seed);
}

export function complement(n: number, forget: Int32Array): Int32Array {
  const inF = new Uint8Array(n);
  forget.forEach((i) => (inF[i] = 1));
  return Int32Array.from(Array.from({ length: n }, (_, i) => i).filter((i) => !inF[i]));
}

function algo(o: ExperimentOptions, name: string): UnlearnAlgorithm {
  return makeAlgorithm(name, o.hyper?.[name] ?? {});
}

interface SeedSetup {
  seed: number;
  forget: Int32Array;
  retain: Int32Array;
  original: Weights;
  oracle: Weights;
  oracleEval: ModelEval;
  task: UnlearnTask;
  dir: string;
  key: string;
}

/** The original model of a seed (trained on all of D, cached in `<outDir>/<dirName>/original.bin`). */
export function originalModel(o: ExperimentOptions, seed: number, dirName = `seed-${seed}`): Weights {
  const dir = path.join(o.outDir, dirName);
  ensureDir(dir);
  (o.log ?? (() => {}))(`[${dirName}] original model (${o.data.train.n} images)`);
  return cachedModel(dir, 'original', o.config, modelKey(o, seed), (checkpointDir) =>
    trainClassifier({ config: o.config, data: o.data.train, recipe: o.recipe, seed, quiet: o.quiet, label: `${dirName} original`, checkpointDir }).weights,
  );
}

/** The subsampled memorization estimate for the experiment's settings (cached per model). */
export function memorizationFor(o: ExperimentOptions): MemEstimate {
  const log = o.log ?? (() => {});
  log(`memorization: ${o.memModels} models on ${Math.round((o.memFraction ?? 0.7) * 100)}% subsets of ${o.data.train.n} images`);
  const est = estimateMemorization({
    config: o.config,
    train: o.data.train,
    recipe: o.recipe,
    models: o.memModels,
    fraction: o.memFraction,
    seed: o.memSeed ?? 0,
    dir: path.join(o.outDir, 'memorization'),
    quiet: o.quiet,
    onModel: (k, i) => log(`  memorization model ${k + 1}/${o.memModels}${i.resumed ? ' (cached)' : ` ${i.seconds.toFixed(1)} s`}`),
  });
  writeJsonAtomic(path.join(o.outDir, 'memorization', 'scores.json'), { scores: Array.from(est.scores) });
  return est;
}

function setupSeed(o: ExperimentOptions, mem: Float64Array, seed: number, dirName: string): SeedSetup {
  const dir = path.join(o.outDir, dirName);
  const n = o.data.train.n;
  const forget = chooseForgetSet(mem, o.forgetSize, seed, o.forgetMix ?? 'stratified');
  const retain = complement(n, forget);
  const log = o.log ?? (() => {});
  const key = modelKey(o, seed);
  const original = originalModel(o, seed, dirName);
  log(`[${dirName}] oracle: retrain on ${retain.length} images`);
  const task: UnlearnTask = { config: o.config, train: o.data.train, forget, retain, seed, recipe: o.recipe, quiet: o.quiet };
  const oracle = cachedModel(dir, 'oracle', o.config, key, (checkpointDir) => algo(o, 'retrain').run({ ...task, label: `${dirName} oracle`, checkpointDir }, original));
  return { seed, forget, retain, original, oracle, oracleEval: evalWeights(o, oracle, forget, retain, seed), task, dir, key };
}

/**
 * Choose the RUM table on a held-out seed (never one of the reported seeds), as the paper reads
 * its per-subset choice off experiments on each memorization level alone: for each third S_l of
 * that seed's forget set, the oracle is retrained on D \ S_l, and each candidate A unlearns S_l
 * (retain set D \ S_l) from the original model; the candidate with the highest ToW on that
 * subset wins.
 */
function selectRumTable(o: ExperimentOptions, mem: Float64Array, candidates: string[], seed: number): SelectionResult {
  if (candidates.length === 0) throw new UserError('RUM selection needs at least one candidate algorithm');
  const dirName = `select-${seed}`;
  const dir = path.join(o.outDir, dirName);
  ensureDir(dir);
  const log = o.log ?? (() => {});
  const key = modelKey(o, seed);
  const n = o.data.train.n;
  const forget = chooseForgetSet(mem, o.forgetSize, seed, o.forgetMix ?? 'stratified');
  const thirds = refineByMemorization(forget, mem);
  const original = originalModel(o, seed, dirName);
  const file = path.join(dir, 'selection.json');
  const hyper = Object.fromEntries(candidates.map((c) => [c, algo(o, c).hyper]));
  const cachedRaw = readJsonIfExists<(SelectionResult & { key?: string; hyper?: unknown }) | null>(file, null);
  const cached = cachedRaw && cachedRaw.key === key && JSON.stringify(cachedRaw.hyper) === JSON.stringify(hyper) ? cachedRaw : null;
  const tow = (cached?.tow ?? { low: {}, medium: {}, high: {} }) as SelectionResult['tow'];
  for (const l of LEVELS) {
    const sub = thirds[l];
    const retain = complement(n, sub);
    const task: UnlearnTask = { config: o.config, train: o.data.train, forget: sub, retain, seed, recipe: o.recipe, quiet: o.quiet };
    if (candidates.every((c) => tow[l][c] !== undefined)) continue;
    log(`[${dirName}] oracle for the ${l} third: retrain on ${retain.length} images`);
    const oracle = cachedModel(dir, `oracle-${l}`, o.config, key, (checkpointDir) =>
      algo(o, 'retrain').run({ ...task, label: `${dirName} oracle ${l}`, checkpointDir }, original),
    );
    const oracleEval = evalWeights(o, oracle, sub, retain, seed);
    for (const c of candidates) {
      if (tow[l][c] !== undefined) continue;
      log(`[${dirName}] ${c} on the ${l} third`);
      const w = algo(o, c).run({ ...task, label: `select ${l}:${c}` }, original);
      tow[l][c] = scoreAgainstOracle(evalWeights(o, w, sub, retain, seed), oracleEval).tow;
      writeJsonAtomic(file, { seed, candidates, tow, table: null, key, hyper });
    }
  }
  const table = Object.fromEntries(LEVELS.map((l) => [l, candidates.reduce((best, c) => (tow[l][c]! > tow[l][best]! ? c : best), candidates[0]!)])) as RumTable;
  const res: SelectionResult = { seed, candidates, tow, table };
  writeJsonAtomic(file, { ...res, key, hyper });
  return res;
}

export function runExperiment(o: ExperimentOptions): ExperimentResult {
  const t0 = performance.now();
  const log = o.log ?? (() => {});
  if (o.seeds.length === 0) throw new UserError('--seeds: give at least one seed');
  if (new Set(o.seeds).size !== o.seeds.length) throw new UserError('--seeds: seeds must be distinct');
  for (const a of o.algorithms) algo(o, a); // validate names and hyper-parameters early
  ensureDir(o.outDir);
  const memEst: MemEstimate = memorizationFor(o);
  const mem = memEst.scores;

  let selection: SelectionResult | null = null;
  let rumTable: RumTable | null = null;
  if (o.rum && 'table' in o.rum) rumTable = o.rum.table;
  else if (o.rum && 'select' in o.rum) {
    const heldOut = 10_000 + Math.max(...o.seeds);
    log(`RUM table: selecting among ${o.rum.select.join(', ')} on held-out seed ${heldOut}`);
    selection = selectRumTable(o, mem, o.rum.select, heldOut);
    rumTable = selection.table;
    log(`RUM table: ${LEVELS.map((l) => `${l}=${rumTable![l]}`).join(', ')}`);
  }
  if (rumTable) for (const l of LEVELS) algo(o, rumTable[l]);

  const seeds: SeedResult[] = [];
  for (const seed of o.seeds) {
    const s = setupSeed(o, mem, seed, `seed-${seed}`);
    const thirds = refineByMemorization(s.forget, mem);
    const file = path.join(s.dir, 'results.json');
    const origEval = evalWeights(o, s.original, s.forget, s.retain, seed);
    const emb = predict(o.config, s.original, o.data.train, undefined, { embeddings: true });
    const es = (f: ArrayLike<number>) => entanglementScore(emb.embeddings!, emb.dim, s.retain, f).es;
    const meanMem = (idx: Int32Array) => idx.reduce((a, i) => a + mem[i]!, 0) / idx.length;
    const old = readJsonIfExists<SeedResult | null>(file, null);
    const result: SeedResult = {
      seed,
      key: s.key,
      forgetSize: s.forget.length,
      thirdsMem: { low: meanMem(thirds.low), medium: meanMem(thirds.medium), high: meanMem(thirds.high) },
      entanglement: { all: es(s.forget), low: es(thirds.low), medium: es(thirds.medium), high: es(thirds.high) },
      original: origEval,
      oracle: s.oracleEval,
      runs: old?.key === s.key ? old.runs : [],
    };
    const hyperOf = (names: string[]) => Object.fromEntries(names.map((nm) => [nm, { ...algo(o, nm).hyper }]));
    const record = (algorithm: string, variant: RunRecord['variant'], run: () => Weights, table?: RumTable) => {
      const hyper = hyperOf(table ? [...new Set(LEVELS.map((l) => table[l]))] : [algorithm]);
      const same = (r: RunRecord) => r.algorithm === algorithm && r.variant === variant;
      if (result.runs.some((r) => same(r) && JSON.stringify(r.table) === JSON.stringify(table) && JSON.stringify(r.hyper) === JSON.stringify(hyper))) return;
      log(`[seed ${seed}] ${algorithm} ${variant}`);
      const t = performance.now();
      const w = run();
      const ev = evalWeights(o, w, s.forget, s.retain, seed);
      result.runs = result.runs.filter((r) => !same(r));
      result.runs.push({ algorithm, variant, table, hyper, eval: ev, scores: scoreAgainstOracle(ev, s.oracleEval), seconds: (performance.now() - t) / 1000 });
      writeJsonAtomic(file, result);
    };
    for (const a of o.algorithms) {
      const A = algo(o, a);
      const same: Record<Level, UnlearnAlgorithm> = { low: A, medium: A, high: A };
      for (const v of o.variants ?? VARIANTS) {
        if (v === 'vanilla') record(a, v, () => A.run({ ...s.task, label: `seed ${seed} ${a} vanilla` }, s.original));
        else if (v === 'shuffle') record(a, v, () => runSequence({ ...s.task, label: `seed ${seed} ${a} shuffle` }, s.original, shuffleThirds(s.forget, seed), same));
        else record(a, v, () => runSequence({ ...s.task, label: `seed ${seed} ${a} refined` }, s.original, thirds, same));
      }
    }
    if (rumTable) {
      const algos = Object.fromEntries(LEVELS.map((l) => [l, algo(o, rumTable![l])])) as Record<Level, UnlearnAlgorithm>;
      record('RUM', 'rum', () => runSequence({ ...s.task, label: `seed ${seed} RUM` }, s.original, thirds, algos), rumTable);
    }
    writeJsonAtomic(file, result);
    seeds.push(result);
  }
  const res: ExperimentResult = {
    dataset: o.data.name,
    trainSize: o.data.train.n,
    testSize: o.data.test.n,
    config: o.config,
    recipe: o.recipe,
    memorization: {
      models: memEst.models,
      fraction: memEst.fraction,
      meanAccIn: memEst.meanAccIn,
      meanAccOut: memEst.meanAccOut,
      missingOut: memEst.missingOut,
      seconds: memEst.seconds,
      resumedModels: memEst.resumedModels,
    },
    selection,
    rumTable,
    seeds,
    seconds: (performance.now() - t0) / 1000,
  };
  writeJsonAtomic(path.join(o.outDir, 'experiment.json'), res);
  return res;
}

export type { Thirds };
