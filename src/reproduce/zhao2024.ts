/**
 * `unlearnkit reproduce zhao2024`: the experiments of Zhao, Kurmanji, Barbulescu, Triantafillou &
 * Triantafillou, "What makes unlearning hard and what to do about it" (2024, arXiv 2406.01257;
 * RUM), over several seeds, on substitutes two CPU cores can train many times: a small CNN
 * (src/rum/model.ts SMALL_CNN) on MNIST (the fixture's 10k images, split into train and test) and,
 * in full mode, on generated CIFAR-10-format images (src/data/syntheticCifar.ts; not CIFAR). The
 * paper's rows (ResNet-18 on CIFAR-10 / CIFAR-100) are quoted beside ours, never mixed with them.
 *
 * Per dataset (memorization scores by the subsampled estimator, shared by the seeds) and seed s:
 *   1. the RUM experiment (src/rum/experiment.ts): forget set S (stratified by memorization),
 *      original model on D, oracle retrained on D \ S; every algorithm vanilla / shuffle (random
 *      thirds in sequence: the shuffle control) / RUM^F (memorization thirds low -> medium -> high);
 *      RUM with the per-subset table selected on a held-out seed; ToW and MIA gap against the oracle;
 *   2. memorization: the low and high (full mode: every) third of S unlearned alone by fine-tune,
 *      scored against its own oracle retrained on D \ S_l: ToW per third;
 *   3. entanglement: forget sets of low / medium / high ES, built as the paper describes from each
 *      training example's squared distance to the mean embedding of the original model,
 *      d(i) = ||phi_i - mu||^2: the examples farthest from the mean (separated from the rest) give
 *      low ES, those nearest to it (inside the bulk) high ES, those at the median medium; each is
 *      unlearned by fine-tune against its own oracle; its ES is computed (src/rum/entanglement.ts);
 *   4. subset order: RUM^F (fine-tune) with the memorization thirds in other orders
 *      (runSequence's order; all six in full mode).
 * Claims are signed quantities of the per-seed ToW / MIA gap with 95% t intervals over seeds.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readMnist } from '../data/mnist.ts';
import { normalizeSet, subsetImages } from '../data/images.ts';
import { fixturePath } from '../util/paths.ts';
import { UserError } from '../util/errors.ts';
import { makeAlgorithm } from '../rum/algorithms.ts';
import { loadRumData, type RumData } from '../rum/data.ts';
import { entanglementScore } from '../rum/entanglement.ts';
import { chooseForgetSet, complement, evalWeights, memorizationFor, originalModel, runExperiment, type ExperimentOptions, type ExperimentResult } from '../rum/experiment.ts';
import { scoreAgainstOracle } from '../rum/metrics.ts';
import { resolveConfig } from '../rum/model.ts';
import { predict } from '../rum/predict.ts';
import { LEVELS, refineByMemorization, runSequence, type Level } from '../rum/rum.ts';
import { DEFAULT_RECIPE, type TrainRecipe } from '../rum/train.ts';
import { makeClaim, fmtNum, seedInterval, type Claim, type ClaimSpec } from './claims.ts';
import { intervalBarChart, type ReproduceChart, type ReproduceReport } from './report.ts';
import { paragraph, table, type Block, type Table } from '../report/document.ts';

export const ZHAO_CITATION = 'Zhao, Kurmanji, Barbulescu, Triantafillou & Triantafillou 2024, "What makes unlearning hard and what to do about it", arXiv 2406.01257';

/** The paper's main table (ResNet-18; ToW higher is better, MIA gap lower), as quoted in issue #21. */
const PAPER_TABLE: Record<string, { c10: [number, number, number]; c10mia: [number, number, number]; c100: [number, number, number]; c100mia: [number, number, number] }> = {
  finetune: { c10: [0.849, 0.712, 0.937], c10mia: [0.12, 0.098, 0.099], c100: [0.734, 0.589, 0.784], c100mia: [0.139, 0.345, 0.093] },
  'l1-sparse': { c10: [0.794, 0.716, 0.9], c10mia: [0.175, 0.257, 0.072], c100: [0.824, 0.604, 0.883], c100mia: [0.089, 0.353, 0.033] },
  'neggrad+': { c10: [0.802, 0.632, 0.879], c10mia: [0.23, 0.52, 0.134], c100: [0.861, 0.613, 0.921], c100mia: [0.159, 0.417, 0.059] },
  salun: { c10: [0.731, 0.727, 0.887], c10mia: [0.374, 0.234, 0.031], c100: [0.545, 0.538, 0.614], c100mia: [0.372, 0.237, 0.181] },
};
const PAPER_RUM = { c10: 0.965, c10mia: 0.034, c100: 0.921, c100mia: 0.059 };
/** The paper's ES of its low / medium / high entanglement forget sets (mean +- std). */
const PAPER_ES = { low: '309.94 +- 98.56', medium: '1076.99 +- 78.64', high: '1612.21 +- 110.82' };

export interface ZhaoDataset {
  /** 'mnist': the fixture's 10k MNIST images split into train / test; 'synthetic': generated CIFAR-10-format images. */
  kind: 'mnist' | 'synthetic';
  trainSize: number;
  testSize: number;
}

export interface ZhaoSettings {
  seeds: number[];
  datasets: ZhaoDataset[];
  model: string;
  recipe: TrainRecipe;
  forgetSize: number;
  memModels: number;
  /** Algorithms run vanilla / shuffle / RUM^F. */
  algorithms: string[];
  /** RUM's candidates per memorization third (selected on a held-out seed). */
  rumCandidates: string[];
  /** Levels whose memorization third / ES set is unlearned alone (the claims read low and high). */
  levels: Level[];
  hyper: Record<string, Record<string, number>>;
  /** Orders of the memorization thirds for RUM^F (fine-tune); the first is the paper's low -> medium -> high. */
  orders: Level[][];
  /** The MNIST folder (default: the fixture). */
  mnistDir?: string;
}

const ALL_ORDERS: Level[][] = [
  ['low', 'medium', 'high'],
  ['low', 'high', 'medium'],
  ['medium', 'low', 'high'],
  ['medium', 'high', 'low'],
  ['high', 'low', 'medium'],
  ['high', 'medium', 'low'],
];

export function parseOrders(specs: string[]): Level[][] {
  if (specs.length === 1 && specs[0] === 'all') return ALL_ORDERS;
  const out = specs.map((s) => {
    const o = s.split(',').map((x) => x.trim()) as Level[];
    if (o.length !== 3 || LEVELS.some((l) => !o.includes(l))) throw new UserError(`--orders: '${s}' is not a permutation of low,medium,high`);
    return o;
  });
  // the paper's order comes first (the order claim compares it with the others)
  const rest = out.filter((x) => x.join() !== LEVELS.join());
  if (rest.length === 0) throw new UserError('--orders: give at least one order besides low,medium,high (the order claim compares them), or all');
  return [[...LEVELS], ...rest];
}

export function zhaoSettings(quick: boolean, seeds: number[], orders?: string[]): ZhaoSettings {
  const o = orders ? parseOrders(orders) : quick ? [ALL_ORDERS[0]!, ALL_ORDERS[5]!] : ALL_ORDERS;
  if (quick) {
    return {
      seeds,
      datasets: [{ kind: 'mnist', trainSize: 48, testSize: 40 }],
      model: 'small',
      recipe: { ...DEFAULT_RECIPE, epochs: 2 },
      forgetSize: 9,
      memModels: 2,
      algorithms: ['finetune'],
      rumCandidates: ['finetune', 'neggrad+'],
      levels: ['low', 'high'],
      hyper: { finetune: { epochs: 1 }, 'neggrad+': { epochs: 1 } },
      orders: o,
    };
  }
  return {
    seeds,
    datasets: [
      { kind: 'mnist', trainSize: 400, testSize: 200 },
      { kind: 'synthetic', trainSize: 300, testSize: 200 },
    ],
    model: 'small',
    recipe: { ...DEFAULT_RECIPE, epochs: 6 },
    forgetSize: 45,
    memModels: 6,
    algorithms: ['finetune', 'neggrad+', 'l1-sparse', 'salun'],
    rumCandidates: ['finetune', 'neggrad+', 'l1-sparse', 'salun'],
    levels: [...LEVELS],
    hyper: {},
    orders: o,
  };
}

/** The MNIST substitute: the fixture's 10k images (its t10k files), the first trainSize as train and the next testSize as test. */
function mnistSplit(dir: string, trainSize: number, testSize: number): RumData {
  if (!fs.existsSync(dir)) throw new UserError(`MNIST folder ${dir} does not exist (zhao2024 uses the t10k files of test/fixtures/mnist)`);
  const all = readMnist(dir, { split: 'test' });
  if (trainSize + testSize > all.n) throw new UserError(`MNIST: ${trainSize} + ${testSize} images asked for, ${all.n} in ${dir}`);
  const range = (a: number, n: number) => Array.from({ length: n }, (_, i) => a + i);
  return { name: 'mnist-t10k', train: normalizeSet(subsetImages(all, range(0, trainSize)), 'mnist'), test: normalizeSet(subsetImages(all, range(trainSize, testSize)), 'mnist') };
}

function datasetLabel(d: ZhaoDataset): string {
  return d.kind === 'mnist'
    ? `substitute: small CNN on MNIST (fixture t10k images, ${d.trainSize} train / ${d.testSize} test)`
    : `substitute: small CNN on generated CIFAR-10-format images (${d.trainSize} train / ${d.testSize} test; not CIFAR)`;
}

/**
 * Forget sets of low / medium / high entanglement (module comment, step 3): examples ranked by
 * ||phi_i - mu||^2 (mu the mean embedding of the training set), the `size` farthest (low), the
 * `size` around the median (medium) and the `size` nearest (high).
 */
export function entanglementSets(emb: Float32Array, dim: number, n: number, size: number): Record<Level, Int32Array> {
  if (3 * size > n) throw new UserError(`entanglement sets: 3 x ${size} examples asked for, ${n} in the training set`);
  const mu = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mu[d] = mu[d]! + emb[i * dim + d]! / n;
  const dist = Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let d = 0; d < dim; d++) s += (emb[i * dim + d]! - mu[d]!) ** 2;
    return s;
  });
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => dist[b]! - dist[a]! || a - b);
  const mid = Math.floor((n - size) / 2);
  const sorted = (a: number[]) => Int32Array.from(a).sort();
  return { low: sorted(order.slice(0, size)), medium: sorted(order.slice(mid, mid + size)), high: sorted(order.slice(n - size)) };
}

export interface ZhaoSeedExtra {
  seed: number;
  /** Each memorization third unlearned alone by fine-tune: ToW per level (settings.levels). */
  perThird: Partial<Record<Level, number>>;
  entanglement: Partial<Record<Level, { es: number; tow: number; miaGap: number }>>;
  /** RUM^F (fine-tune) ToW per order (joined with '>'). */
  orders: Record<string, { tow: number; miaGap: number }>;
}

export interface ZhaoDatasetResult {
  dataset: ZhaoDataset;
  label: string;
  experiment: ExperimentResult;
  extra: ZhaoSeedExtra[];
}

function orderName(o: readonly Level[]): string {
  return o.join('>');
}

/** One dataset: the RUM experiment, then steps 2-4 of the module comment per seed. */
function runZhaoDataset(s: ZhaoSettings, d: ZhaoDataset, work: string, log: (l: string) => void): ZhaoDatasetResult {
  const data = d.kind === 'mnist' ? mnistSplit(s.mnistDir ?? fixturePath('mnist'), d.trainSize, d.testSize) : loadRumData('synthetic', { trainLimit: d.trainSize, testLimit: d.testSize });
  const t = data.train;
  const config = resolveConfig(s.model, { classes: t.classes.length, inChannels: t.c, height: t.h, width: t.w });
  const o: ExperimentOptions = {
    data,
    config,
    recipe: s.recipe,
    seeds: s.seeds,
    forgetSize: s.forgetSize,
    algorithms: s.algorithms,
    hyper: s.hyper,
    rum: { select: s.rumCandidates },
    memModels: s.memModels,
    outDir: path.join(work, d.kind),
    quiet: true,
    log: (l) => log(`[${d.kind}] ${l}`),
  };
  const experiment = runExperiment(o);
  const mem = memorizationFor({ ...o, log: undefined }).scores;
  const extra: ZhaoSeedExtra[] = [];
  const ft = makeAlgorithm('finetune', s.hyper.finetune ?? {});
  for (const sr of experiment.seeds) {
    const seed = sr.seed;
    const original = originalModel({ ...o, log: undefined }, seed);
    const forget = chooseForgetSet(mem, s.forgetSize, seed, 'stratified');
    const retain = complement(t.n, forget);
    const thirds = refineByMemorization(forget, mem);
    const task = { config, train: t, forget, retain, seed, recipe: s.recipe, quiet: true };
    /** Fine-tune on forget set f alone from the original model, scored against its own oracle (retrained on D \ f). */
    const alone = (f: Int32Array, what: string) => {
      const r = complement(t.n, f);
      const et = { ...task, forget: f, retain: r };
      const oracle = makeAlgorithm('retrain', {}).run({ ...et, label: `${what} oracle` }, original);
      const w = ft.run({ ...et, label: `${what} finetune` }, original);
      return { retain: r, scores: scoreAgainstOracle(evalWeights(o, w, f, r, seed), evalWeights(o, oracle, f, r, seed)) };
    };
    const perThird = {} as ZhaoSeedExtra['perThird'];
    for (const l of s.levels) {
      log(`[${d.kind} seed ${seed}] ${l}-memorization third alone: oracle and fine-tune`);
      perThird[l] = alone(thirds[l], `mem ${l}`).scores.tow;
    }
    const orders: ZhaoSeedExtra['orders'] = {};
    for (const ord of s.orders) {
      const name = orderName(ord);
      if (name === orderName(LEVELS)) {
        // the experiment's RUM^F fine-tune run is this order
        const sc = runOf(experiment, seed, 'finetune', 'refined');
        orders[name] = { tow: sc.tow, miaGap: sc.miaGap };
        continue;
      }
      log(`[${d.kind} seed ${seed}] RUM^F fine-tune in the order ${ord.join(' -> ')}`);
      const w = runSequence({ ...task, label: `order ${name}` }, original, thirds, { low: ft, medium: ft, high: ft }, ord);
      const sc = scoreAgainstOracle(evalWeights(o, w, forget, retain, seed), sr.oracle);
      orders[name] = { tow: sc.tow, miaGap: sc.miaGap };
    }
    const emb = predict(config, original, t, undefined, { embeddings: true });
    const sets = entanglementSets(emb.embeddings! as Float32Array, emb.dim, t.n, Math.floor(s.forgetSize / 3) * 3);
    const entanglement = {} as ZhaoSeedExtra['entanglement'];
    for (const l of s.levels) {
      log(`[${d.kind} seed ${seed}] ${l}-ES forget set: oracle and fine-tune`);
      const a = alone(sets[l], `es ${l}`);
      entanglement[l] = { es: entanglementScore(emb.embeddings!, emb.dim, a.retain, sets[l]).es, tow: a.scores.tow, miaGap: a.scores.miaGap };
    }
    extra.push({ seed, perThird, entanglement, orders });
  }
  return { dataset: d, label: datasetLabel(d), experiment, extra };
}

function runOf(e: ExperimentResult, seed: number, algorithm: string, variant: string) {
  const r = e.seeds.find((x) => x.seed === seed)!.runs.find((x) => x.algorithm === algorithm && x.variant === variant);
  if (!r) throw new UserError(`zhao2024: no ${algorithm} ${variant} run for seed ${seed}`);
  return r.scores;
}

function zhaoClaims(r: ZhaoDatasetResult, s: ZhaoSettings, suffix: string): Claim[] {
  const e = r.experiment;
  const seeds = e.seeds.map((x) => x.seed);
  const label = r.label;
  const spec = (id: string, x: Omit<ClaimSpec, 'id' | 'label'>): ClaimSpec => ({ id: id + suffix, label, ...x });
  const tried = `${label}, ${seeds.length} seed(s), forget set ${s.forgetSize}, ${s.recipe.epochs} training epochs, ${s.memModels} memorization models`;
  const needed = 'ResNet-18 on CIFAR-10 / CIFAR-100 with 3 x 1000-example forget sets and the paper\'s memorization scores (400+ models), which two CPU cores cannot train';
  const claims: Claim[] = [];
  const paperDiff = (a: string, i: number, j: number, mia = false) => {
    const p = PAPER_TABLE[a];
    if (!p) return 'not in the paper\'s table';
    const [x, y] = mia ? [p.c10mia, p.c100mia] : [p.c10, p.c100];
    return `CIFAR-10 ${fmtNum(x[i]!)} vs ${fmtNum(x[j]!)} (${fmtNum(x[i]! - x[j]!)}); CIFAR-100 ${fmtNum(y[i]!)} vs ${fmtNum(y[j]!)} (${fmtNum(y[i]! - y[j]!)})`;
  };
  s.algorithms.forEach((a) => {
    claims.push(
      makeClaim(
        spec(`R1:${a}`, { claim: `RUM^F beats vanilla: ${a} on the memorization thirds (low -> medium -> high) has a higher ToW than ${a} in one go`, paper: `ToW RUM^F vs vanilla: ${paperDiff(a, 2, 0)}`, quantity: `ToW(RUM^F) - ToW(vanilla), ${a}`, expected: 'positive' }),
        seeds.map((sd) => runOf(e, sd, a, 'refined').tow - runOf(e, sd, a, 'vanilla').tow),
        { tried, needed },
      ),
      makeClaim(
        spec(`R2:${a}`, { claim: `Vanilla beats the shuffle control (${a} on random thirds in sequence)`, paper: `ToW vanilla vs shuffle: ${paperDiff(a, 0, 1)}`, quantity: `ToW(vanilla) - ToW(shuffle), ${a}`, expected: 'positive' }),
        seeds.map((sd) => runOf(e, sd, a, 'vanilla').tow - runOf(e, sd, a, 'shuffle').tow),
        { tried, needed },
      ),
      makeClaim(
        spec(`R3:${a}`, { claim: `RUM^F lowers the MIA gap against vanilla (${a})`, paper: `MIA gap vanilla vs RUM^F: ${paperDiff(a, 0, 2, true)}`, quantity: `MIA gap(vanilla) - MIA gap(RUM^F), ${a}`, expected: 'positive' }),
        seeds.map((sd) => runOf(e, sd, a, 'vanilla').miaGap - runOf(e, sd, a, 'refined').miaGap),
        { tried, needed },
      ),
    );
  });
  const bestPaper = Math.max(...Object.values(PAPER_TABLE).map((p) => Math.max(...p.c10)));
  claims.push(
    makeClaim(
      spec('R4', {
        claim: 'RUM (an algorithm chosen per memorization third) has the best ToW of all rows',
        paper: `CIFAR-10 RUM ${PAPER_RUM.c10} vs best other ${bestPaper} (${fmtNum(PAPER_RUM.c10 - bestPaper)}); CIFAR-100 RUM ${PAPER_RUM.c100}`,
        quantity: `ToW(RUM, table selected on a held-out seed: ${e.rumTable ? LEVELS.map((l) => e.rumTable![l]).join(' / ') : '-'}) - the best ToW of the other rows`,
        expected: 'positive',
      }),
      seeds.map((sd) => {
        const rows = e.seeds.find((x) => x.seed === sd)!.runs;
        const rum = rows.find((x) => x.variant === 'rum')!.scores.tow;
        return rum - Math.max(...rows.filter((x) => x.variant !== 'rum').map((x) => x.scores.tow));
      }),
      { tried, needed },
    ),
    makeClaim(
      spec('R5', {
        claim: 'More memorized forget sets are harder to unlearn (fine-tune on each memorization third alone)',
        paper: 'ToW falls as memorization rises (paper section 3, figures; no table values)',
        quantity: 'ToW(low-memorization third) - ToW(high-memorization third), fine-tune, each against its own oracle',
        expected: 'positive',
      }),
      r.extra.map((x) => x.perThird.low! - x.perThird.high!),
      { tried, needed },
    ),
    makeClaim(
      spec('R6', {
        claim: 'Our entanglement partition orders ES as the paper\'s does (low < medium < high)',
        paper: `ES low ${PAPER_ES.low}, medium ${PAPER_ES.medium}, high ${PAPER_ES.high} (difference high - low 1302.27)`,
        quantity: 'ES(high-ES set) - ES(low-ES set) in the original model\'s embedding',
        expected: 'positive',
      }),
      r.extra.map((x) => x.entanglement.high!.es - x.entanglement.low!.es),
      { tried, needed: `${needed}; and the paper's exact partition procedure (ours ranks examples by distance to the mean embedding)` },
    ),
    makeClaim(
      spec('R7', {
        claim: 'Higher entanglement makes unlearning harder (fine-tune on low-ES vs high-ES forget sets)',
        paper: 'ToW falls from low to high ES (paper section 3; no table values)',
        quantity: 'ToW(low-ES set) - ToW(high-ES set), fine-tune, each against its own oracle',
        expected: 'positive',
      }),
      r.extra.map((x) => x.entanglement.low!.tow - x.entanglement.high!.tow),
      { tried, needed },
    ),
  );
  const paperOrder = orderName(LEVELS);
  const others = s.orders.map(orderName).filter((x) => x !== paperOrder);
  claims.push(
    makeClaim(
      spec('R8', {
        claim: 'The order of the subsets matters: low -> medium -> high memorization is the best order (RUM^F, fine-tune)',
        paper: 'low -> medium -> high chosen as best (paper section 5; no table of orders)',
        quantity: `ToW(${paperOrder}) - the best ToW of the other order(s) run (${others.join(', ')})`,
        expected: 'positive',
      }),
      r.extra.map((x) => x.orders[paperOrder]!.tow - Math.max(...others.map((k) => x.orders[k]!.tow))),
      { tried: `${tried}; ${s.orders.length} orders`, needed: `${needed}; all six orders (the full mode runs them)` },
    ),
  );
  return claims;
}

function sideBySide(r: ZhaoDatasetResult, s: ZhaoSettings): Table {
  const e = r.experiment;
  const iv = (f: (sd: number) => number, what: string) => {
    const x = seedInterval(e.seeds.map((q) => f(q.seed)), what);
    return Number.isFinite(x.lo) ? `${fmtNum(x.estimate)} [${fmtNum(x.lo)}, ${fmtNum(x.hi)}]` : fmtNum(x.estimate);
  };
  const rows: string[][] = [];
  const variants = ['vanilla', 'shuffle', 'refined'] as const;
  for (const a of s.algorithms) {
    variants.forEach((v, i) => {
      const p = PAPER_TABLE[a];
      const q = (x?: number[]) => (x ? fmtNum(x[i]!) : '-');
      rows.push([a, v === 'refined' ? 'RUM^F' : v, q(p?.c10), q(p?.c10mia), q(p?.c100), q(p?.c100mia), iv((sd) => runOf(e, sd, a, v).tow, `${a} ${v}`), iv((sd) => runOf(e, sd, a, v).miaGap, `${a} ${v} gap`)]);
    });
  }
  rows.push(['RUM', e.rumTable ? LEVELS.map((l) => e.rumTable![l]).join(' / ') : '-', String(PAPER_RUM.c10), String(PAPER_RUM.c10mia), String(PAPER_RUM.c100), String(PAPER_RUM.c100mia), iv((sd) => runOf(e, sd, 'RUM', 'rum').tow, 'RUM'), iv((sd) => runOf(e, sd, 'RUM', 'rum').miaGap, 'RUM gap')]);
  return { head: ['method', 'variant', 'paper CIFAR-10 ToW', 'paper CIFAR-10 MIA gap', 'paper CIFAR-100 ToW', 'paper CIFAR-100 MIA gap', `ours ToW (${r.dataset.kind})`, 'ours MIA gap'], rows };
}

function perSeedBlocks(r: ZhaoDatasetResult, s: ZhaoSettings): Block[] {
  const e = r.experiment;
  const rows: string[][] = [];
  for (const sd of e.seeds) {
    rows.push([String(sd.seed), 'original (no unlearning)', '-', '-', fmtNum(sd.original.acc.forget), fmtNum(sd.original.acc.retain), fmtNum(sd.original.acc.test), '']);
    rows.push([String(sd.seed), 'oracle (retrained on R)', '1', '0', fmtNum(sd.oracle.acc.forget), fmtNum(sd.oracle.acc.retain), fmtNum(sd.oracle.acc.test), '']);
    for (const run of sd.runs) rows.push([String(sd.seed), `${run.algorithm} ${run.variant}`, fmtNum(run.scores.tow), fmtNum(run.scores.miaGap), fmtNum(run.scores.acc.forget), fmtNum(run.scores.acc.retain), fmtNum(run.scores.acc.test), run.seconds.toFixed(1)]);
  }
  const L = s.levels;
  const thirdsMem = e.seeds.map((sd) => `seed ${sd.seed}: ${LEVELS.map((l) => fmtNum(sd.thirdsMem[l])).join(' / ')}`).join('; ');
  return [
    table({ head: ['seed', 'row', 'ToW', 'MIA gap', 'acc forget', 'acc retain', 'acc test', 's'], rows }),
    paragraph(`Mean memorization score of the forget set's low / medium / high thirds: ${thirdsMem}. Memorization estimator: ${e.memorization.models} models on ${Math.round(e.memorization.fraction * 100)}% subsets (mean accuracy on own / held-out examples ${fmtNum(e.memorization.meanAccIn)} / ${fmtNum(e.memorization.meanAccOut)}).`),
    paragraph('Each memorization third unlearned alone, the entanglement sets, and RUM^F (fine-tune) ToW per subset order:'),
    table({
      head: ['seed', ...L.map((l) => `${l}-mem third ToW`), ...L.map((l) => `${l}-ES set: ES, ToW`), ...s.orders.map(orderName)],
      rows: r.extra.map((x) => [String(x.seed), ...L.map((l) => fmtNum(x.perThird[l]!)), ...L.map((l) => `${fmtNum(x.entanglement[l]!.es)}, ${fmtNum(x.entanglement[l]!.tow)}`), ...s.orders.map((o) => fmtNum(x.orders[orderName(o)]!.tow))]),
    }),
  ];
}

export interface ZhaoRun {
  settings: ZhaoSettings;
  results: ZhaoDatasetResult[];
  claims: Claim[];
  report: Omit<ReproduceReport, 'seconds'>;
}

export function runZhao(s: ZhaoSettings, o: { quick: boolean; work?: string; log?: (l: string) => void }): ZhaoRun {
  const log = o.log ?? (() => {});
  if (s.seeds.length < 1) throw new UserError('zhao2024: give at least one seed');
  if (!s.levels.includes('low') || !s.levels.includes('high')) throw new UserError('zhao2024: the levels run alone must include low and high (the claims compare them)');
  const work = o.work ?? fs.mkdtempSync(path.join(os.tmpdir(), 'unlearnkit-zhao-'));
  const results: ZhaoDatasetResult[] = [];
  const claims: Claim[] = [];
  const sections: ReproduceReport['sections'] = [];
  const charts: ReproduceChart[] = [];
  try {
    s.datasets.forEach((d, i) => {
      const r = runZhaoDataset(s, d, work, log);
      results.push(r);
      claims.push(...zhaoClaims(r, s, i === 0 ? '' : `-${d.kind}`));
      sections.push({
        title: `The paper's table beside ours: ${r.label}`,
        blocks: [
          paragraph(`Paper: ResNet-18, mean over its runs (${ZHAO_CITATION}, main table, quoted in issue #21). Ours: mean [95% CI] over ${s.seeds.length} seeds. ToW higher is better, MIA gap lower; RUM^F is the algorithm on the memorization thirds low -> medium -> high, shuffle on random thirds.`),
          table(sideBySide(r, s)),
        ],
      });
      sections.push({ title: `Per seed: ${r.label}`, blocks: perSeedBlocks(r, s) });
      const rows = s.algorithms.flatMap((a) =>
        (['vanilla', 'shuffle', 'refined'] as const).map((v) => {
          const x = seedInterval(r.experiment.seeds.map((sd) => runOf(r.experiment, sd.seed, a, v).tow), `${a} ${v}`);
          return { group: a, series: v === 'refined' ? 'RUM^F' : v, mean: x.estimate, lo: x.lo, hi: x.hi };
        }),
      );
      charts.push(intervalBarChart(`tow-${d.kind}`, `ToW per algorithm and variant, ${d.kind} (mean over seeds, 95% CI)`, rows, 'ToW'));
    });
  } finally {
    if (!o.work) fs.rmSync(work, { recursive: true, force: true });
  }
  sections.unshift({
    title: 'What these rows are',
    blocks: [
      `Our rows are **substitutes**: ${s.datasets.map(datasetLabel).join('; ')}. The paper's rows are ResNet-18 on CIFAR-10 and CIFAR-100 with forget sets of 3 x 1000 examples and memorization scores from hundreds of models; they are quoted, not recomputed.`,
      `Entanglement sets: the training examples ranked by their squared distance to the mean embedding of the original model; the farthest ${Math.floor(s.forgetSize / 3) * 3} form the low-ES set, those around the median the medium, the nearest the high-ES set. The paper's ES values: low ${PAPER_ES.low}, medium ${PAPER_ES.medium}, high ${PAPER_ES.high}.`,
      'The RUM row\'s per-subset table is selected on a held-out seed (never a reported one): the candidate with the best ToW on each memorization third alone.',
    ].map((t) => paragraph(t)),
  });
  return {
    settings: s,
    results,
    claims,
    report: {
      paper: 'zhao2024',
      title: `Reproducing ${ZHAO_CITATION}${o.quick ? ' (--quick)' : ''}`,
      citation: ZHAO_CITATION,
      summary: `RUM's experiments (memorization and entanglement as factors of difficulty, refinement, the shuffle control, subset orders, RUM) on ${s.datasets.map(datasetLabel).join('; ')}; ${s.algorithms.join(', ')}; ${s.orders.length} subset orders; ${s.seeds.length} seeds. ${o.quick ? 'This is the --quick run: every claim row is computed, at a scale too small to settle any of them.' : ''}`,
      claims,
      seeds: s.seeds,
      sections,
      charts,
      settings: { ...s, orders: s.orders.map(orderName) },
      data: { results: results.map((r) => ({ dataset: r.dataset, experiment: r.experiment, extra: r.extra })) },
    },
  };
}
