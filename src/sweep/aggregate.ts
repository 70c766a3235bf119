/**
 * A sweep's one aggregated report, from its jobs' results, with the statistics of src/stats and
 * the report renderer of src/report (report.md, a self-contained report.html, charts/*.svg,
 * report.json):
 *
 *   - every grid cell (method x layer target x step settings): the mean over seeds of each outcome
 *     and its 95% t interval, mean -/+ t_{0.975, n-1} sd / sqrt n (stats meanCI; n/a with one seed);
 *   - paired tests across methods: on each layer target, every cell of another method against
 *     every cell of the baseline method, paired by seed (the same seed means the same evaluation
 *     items and batch order), with report/build.ts comparePaired (paired t-test, 95% CI of the
 *     mean difference, d_z with a bootstrap interval, d_av) and Holm's correction over the cells
 *     compared per outcome (applyHolm);
 *   - the charts `unlearnkit report` draws: effect sizes, the method x target heatmap (here of the
 *     mean forget-set change) and per-seed distributions.
 *
 * Outcomes of an unlearning job (runner.ts): ΔNLL per set = mean over the set's items of the mean
 * NLL per token after unlearning minus before (positive: the model fits the set worse), ΔROUGE-L
 * with --rouge, and the summaries of the `eval.metrics` asked for. RUM memorization sweeps report
 * the estimator of each seed (memFromRecords) and the same per-seed statistics.
 */
import { meanCI, median, quantile } from '../stats/index.ts';
import { applyHolm, comparePaired } from '../report/build.ts';
import { fmt } from '../report/render.ts';
import type { ReportComparison, ReportDistribution, ReportHeatmap, ReportInput, ReportRun } from '../report/types.ts';
import { memFromRecords } from '../rum/memorization.ts';
import type { JobEnvelope, UnlearnJob } from './jobs.ts';
import { cellId } from './jobs.ts';
import type { JobResult, RumMemJobResult, UnlearnJobResult } from './runner.ts';
import type { RumSweepSpec, UnlearnSweepSpec } from './spec.ts';

/** Mean and 95% interval of one outcome of one cell over its seeds. */
export interface CellStat {
  mean: number;
  lo: number | null;
  hi: number | null;
  /** Seeds with a finite value. */
  n: number;
  /** Value per seed (seed -> value), in seed order. */
  perSeed: Array<{ seed: number; value: number }>;
}

export interface Cell {
  id: string;
  method: string;
  target: string;
  settings: string;
  stats: Record<string, CellStat>;
}

export interface SweepAggregate {
  cells: Cell[];
  /** Outcome names in display order. */
  outcomes: string[];
  input: ReportInput;
}

/** How an outcome name reads: metric, split (set) and key (see the module comment). */
function outcomeParts(o: string): { metric: string; split: string; key: string; keyLabel: string } {
  const [head, split = 'all', k] = o.split('/');
  if (head === 'dNll') return { metric: 'ΔNLL', split, key: 'dNll', keyLabel: 'NLL per token, after − before' };
  if (head === 'dRougeL') return { metric: 'ΔROUGE-L', split, key: 'dRougeL', keyLabel: 'ROUGE-L recall, after − before' };
  const metric = head!.replace(/^eval:/, '');
  return { metric, split, key: k ?? 'value', keyLabel: k ?? 'value' };
}

const SET_ORDER = ['forget', 'trueForget', 'retain', 'holdout', 'decoy', 'general', 'all'];

function outcomeOrder(a: string, b: string): number {
  const pa = outcomeParts(a);
  const pb = outcomeParts(b);
  const rank = (o: string) => (o.startsWith('dNll/') ? 0 : o.startsWith('dRougeL/') ? 1 : 2);
  const sa = SET_ORDER.indexOf(pa.split);
  const sb = SET_ORDER.indexOf(pb.split);
  return rank(a) - rank(b) || (rank(a) === 2 ? (pa.metric < pb.metric ? -1 : pa.metric > pb.metric ? 1 : 0) : 0) || (sa < 0 ? 99 : sa) - (sb < 0 ? 99 : sb) || (a < b ? -1 : a > b ? 1 : 0);
}

export function cellStat(perSeed: Array<{ seed: number; value: number }>): CellStat {
  const vals = perSeed.map((p) => p.value).filter(Number.isFinite);
  const mean = vals.length ? vals.reduce((s, v) => s + v, 0) / vals.length : NaN;
  let lo: number | null = null;
  let hi: number | null = null;
  if (vals.length >= 2) {
    const ci = meanCI(vals, 0.95);
    lo = ci.lo;
    hi = ci.hi;
  }
  return { mean, lo, hi, n: vals.length, perSeed };
}

/** The statistics rows of a cell as the report's summary table reads them (one table per outcome). */
function statRows(s: CellStat): Record<string, Record<string, number>> {
  return { mean: { value: s.mean }, '95% CI low': { value: s.lo ?? NaN }, '95% CI high': { value: s.hi ?? NaN }, seeds: { value: s.n } };
}

function outcomeTitle(o: string): string {
  const p = outcomeParts(o);
  return p.key === 'dNll' || p.key === 'dRougeL' ? `${p.metric} ${p.split}` : `${p.metric} ${p.split} ${p.key}`;
}

/** The aggregated report of an unlearning sweep (see the module comment). */
export function aggregateUnlearn(spec: UnlearnSweepSpec, jobs: JobEnvelope[], results: Map<string, JobResult>): SweepAggregate {
  const byCell = new Map<string, { job: UnlearnJob; results: UnlearnJobResult[] }>();
  for (const env of jobs) {
    if (env.job.kind !== 'unlearn') continue;
    const r = results.get(env.key);
    const id = cellId(env.job);
    let c = byCell.get(id);
    if (!c) byCell.set(id, (c = { job: env.job, results: [] }));
    if (r && r.kind === 'unlearn') c.results.push(r);
  }
  const outcomes = [...new Set([...byCell.values()].flatMap((c) => c.results.flatMap((r) => Object.keys(r.outcomes))))].sort(outcomeOrder);
  const cells: Cell[] = [...byCell.entries()].map(([id, c]) => {
    const rs = [...c.results].sort((a, b) => a.seed - b.seed);
    const stats: Record<string, CellStat> = {};
    for (const o of outcomes) stats[o] = cellStat(rs.filter((r) => o in r.outcomes).map((r) => ({ seed: r.seed, value: r.outcomes[o]! })));
    const settings = id.slice(`${c.job.method}@${c.job.target}`.length).trim();
    return { id, method: c.job.method, target: c.job.target, settings, stats };
  });

  const runs: ReportRun[] = cells.map((c) => {
    const splitSummaries: ReportRun['splitSummaries'] = {};
    for (const o of outcomes) splitSummaries[outcomeTitle(o)] = statRows(c.stats[o]!);
    return { id: c.id, label: c.id, method: c.method, target: c.target, data: spec.data, limit: spec.eval.limit || null, splitSummaries, summaries: {} };
  });

  // paired tests across methods, per target, paired by seed
  const comparisons: ReportComparison[] = [];
  const baseCells = cells.filter((c) => c.method === spec.baseline);
  for (const c of cells) {
    if (c.method === spec.baseline) continue;
    for (const b of baseCells.filter((x) => x.target === c.target)) {
      for (const o of outcomes) {
        const p = outcomeParts(o);
        const bv = new Map(b.stats[o]!.perSeed.map((x) => [x.seed, x.value]));
        const common = c.stats[o]!.perSeed.filter((x) => bv.has(x.seed));
        const cmp = comparePaired({
          label: `${b.id} → ${c.id}`,
          before: b.id,
          after: c.id,
          beforeLabel: b.id,
          afterLabel: c.id,
          method: c.method,
          target: c.target,
          metric: p.metric,
          split: p.split,
          key: p.key,
          keyLabel: `${p.keyLabel} (paired over seeds)`,
          ids: common.map((x) => `seed ${x.seed}`),
          valuesBefore: common.map((x) => bv.get(x.seed)!),
          valuesAfter: common.map((x) => x.value),
        });
        if (cmp) comparisons.push(cmp);
      }
    }
  }
  applyHolm(comparisons);

  const forgetOutcome = outcomes.find((o) => o === 'dNll/forget') ?? outcomes[0];
  const heatmap: ReportHeatmap | undefined = forgetOutcome
    ? {
        title: `Mean ${outcomeTitle(forgetOutcome)} over seeds, by method and layer target`,
        valueLabel: outcomeTitle(forgetOutcome),
        cells: cells.filter((c) => Number.isFinite(c.stats[forgetOutcome]!.mean)).map((c) => ({ row: c.settings ? `${c.method} ${c.settings}` : c.method, column: c.target, value: c.stats[forgetOutcome]!.mean })),
      }
    : undefined;
  const distributions: ReportDistribution[] = [];
  for (const o of outcomes.filter((x) => x.startsWith('dNll/') || x.startsWith('dRougeL/'))) {
    const p = outcomeParts(o);
    for (const c of cells) {
      const values = c.stats[o]!.perSeed.map((x) => x.value).filter(Number.isFinite);
      if (values.length) distributions.push({ metric: p.metric, key: p.key, keyLabel: `${p.keyLabel}, one value per seed`, split: p.split, condition: c.id, values });
    }
  }
  const seeds = spec.grid.seeds.length;
  const notes = [
    `Sweep ${spec.name}: ${jobs.filter((j) => j.job.kind === 'unlearn').length} unlearning jobs, ${cells.length} cells (method x layer target x step settings) x ${seeds} seed(s), ${'from' in spec.finetune ? `from the fine-tune run ${spec.finetune.from}` : 'from the fine-tune the sweep ran first'}, dataset ${spec.data}, ${spec.eval.limit || 'all'} items per evaluated set.`,
    `Results per cell: mean over seeds and its 95% t interval (n/a with one seed). ΔNLL = mean over the set's items of (NLL per token after unlearning − before): positive means the model fits the set worse.`,
    comparisons.length
      ? `Paired comparisons pair seeds, not items: on each layer target every cell of another method against each cell of the baseline method ${spec.baseline} ("before" = the baseline, "after" = the other method); p(Holm) adjusts over the cells compared per outcome.`
      : `No paired comparisons: they need a second method besides the baseline ${spec.baseline} and at least two seeds.`,
  ];
  const input: ReportInput = {
    title: `Sweep ${spec.name}: ${spec.grid.methods.join(', ')} on ${spec.grid.targets.join(', ')}`,
    createdAt: new Date().toISOString(),
    runs,
    comparisons,
    series: [],
    heatmap,
    distributions,
    notes,
  };
  return { cells, outcomes, input };
}

export interface RumAggregate extends SweepAggregate {
  /** Per seed: the estimator's scores and summaries. */
  seeds: Array<{ seed: number; models: number; scores: number[]; meanAccIn: number; meanAccOut: number; missingOut: number; quantiles: number[] }>;
}

/** The aggregated report of a RUM memorization sweep (see the module comment). */
export function aggregateRum(spec: RumSweepSpec, jobs: JobEnvelope[], results: Map<string, JobResult>): RumAggregate {
  const seeds: RumAggregate['seeds'] = [];
  const perSeed: Record<string, Array<{ seed: number; value: number }>> = { meanAccIn: [], meanAccOut: [], shareAbove05: [], meanScore: [], medianScore: [], missingOut: [] };
  for (const seed of spec.seeds) {
    const rs = jobs.filter((j) => j.job.kind === 'rum-mem' && j.job.seed === seed).map((j) => results.get(j.key)).filter((r): r is RumMemJobResult => r?.kind === 'rum-mem');
    if (rs.length < 2) continue;
    rs.sort((a, b) => a.k - b.k);
    const n = rs[0]!.n;
    const est = memFromRecords(
      n,
      rs.map((r) => ({ subset: r.subset, correct: Array.from(r.correct, (ch) => (ch === '1' ? 1 : 0)) })),
    );
    const scores = Array.from(est.scores);
    const quantiles = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1].map((q) => quantile(scores, q));
    seeds.push({ seed, models: rs.length, scores, meanAccIn: est.meanAccIn, meanAccOut: est.meanAccOut, missingOut: est.missingOut, quantiles });
    perSeed.meanAccIn!.push({ seed, value: est.meanAccIn });
    perSeed.meanAccOut!.push({ seed, value: est.meanAccOut });
    perSeed.shareAbove05!.push({ seed, value: scores.filter((v) => v > 0.5).length / scores.length });
    perSeed.meanScore!.push({ seed, value: scores.reduce((s, v) => s + v, 0) / scores.length });
    perSeed.medianScore!.push({ seed, value: median(scores) });
    perSeed.missingOut!.push({ seed, value: est.missingOut });
  }
  const labels: Record<string, string> = {
    meanAccIn: 'accuracy on own subset',
    meanAccOut: 'accuracy held out',
    shareAbove05: 'share with mem > 0.5',
    meanScore: 'mean memorization score',
    medianScore: 'median memorization score',
    missingOut: 'examples never held out',
  };
  const id = `memorization K=${spec.models} p=${spec.fraction}`;
  const stats: Record<string, CellStat> = {};
  for (const [k, v] of Object.entries(perSeed)) stats[k] = cellStat(v);
  const cell: Cell = { id, method: 'memorization', target: spec.model, settings: `K=${spec.models} p=${spec.fraction}`, stats };
  const run: ReportRun = { id, label: id, method: 'memorization', data: spec.data, splitSummaries: {}, summaries: {} };
  for (const [k, s] of Object.entries(stats)) run.splitSummaries[labels[k]!] = statRows(s);
  const input: ReportInput = {
    title: `Sweep ${spec.name}: memorization scores of ${spec.trainSize} images (${spec.models} models on ${Math.round(spec.fraction * 100)}% subsets)`,
    createdAt: new Date().toISOString(),
    runs: [run],
    comparisons: [],
    series: [],
    distributions: seeds.map((s) => ({ metric: 'memorization', key: 'mem', keyLabel: 'memorization score per training image', split: 'train', condition: `seed ${s.seed}`, values: s.scores })),
    notes: [
      `Subsampled memorization estimator (Feldman & Zhang 2020): per seed, ${spec.models} models each trained on a random ${Math.round(spec.fraction * 100)}% of ${spec.trainSize} training images (${spec.data}, CNN ${spec.model}); mem_i = mean accuracy on i of the models that trained on i − of those that did not.`,
      `Each row: mean over ${seeds.length} seed(s) and its 95% t interval (n/a with one seed). Quantiles of the scores per seed: ${seeds.map((s) => `seed ${s.seed}: ${s.quantiles.map((q) => fmt(q, 3)).join(' / ')}`).join('; ')} (min / 10% / 25% / median / 75% / 90% / max).`,
    ],
  };
  return { cells: [cell], outcomes: Object.keys(stats), input, seeds };
}

/** A plain-text table of the cells (mean [95% CI] of the main outcomes), for the terminal. */
export function cellsText(agg: SweepAggregate, max = 4): string {
  const outs = agg.outcomes.slice(0, max);
  const head = ['cell', ...outs.map((o) => (o.includes('/') ? outcomeTitle(o) : o))];
  const rows = agg.cells.map((c) => [c.id, ...outs.map((o) => {
    const s = c.stats[o]!;
    return s.lo === null ? `${fmt(s.mean)} (n=${s.n})` : `${fmt(s.mean)} [${fmt(s.lo)}, ${fmt(s.hi)}]`;
  })]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((x, i) => x.padEnd(w[i]!)).join('  ').trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}
