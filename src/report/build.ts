/**
 * From evaluation runs to a ReportInput: paired comparisons of per-item values between runs on
 * the same items (docs/methods.md#statistics):
 *
 *   d_i = after_i - before_i over the items present in both runs with finite values;
 *   paired t-test t = mean(d) / (sd(d) / sqrt n), df = n - 1, two-sided p (scipy ttest_rel(after, before));
 *   95% CI of mean(d) = mean(d) -/+ t_{0.975, n-1} sd(d) / sqrt n;
 *   Cohen's d_z = mean(d) / sd(d), d_av = mean(d) / ((sd(before) + sd(after)) / 2);
 *   a percentile bootstrap 95% interval of d_z (2000 resamples of the pairs, seed 0);
 *   Holm's correction over the methods compared on the same metric, split and value.
 *
 * With several runs, the first (or `baseline`) is the "before" of every comparison and each other
 * run an "after" (a method). Runs with a `target` (layer filter) fill a method x target heatmap of
 * d_z on the forget split.
 */
import { pairedTTest } from '../stats/ttest.ts';
import { holm } from '../stats/holm.ts';
import { bootstrapCI } from '../stats/bootstrap.ts';
import type { LoadedRun } from '../eval/run.ts';
import type { ItemResult, PairedKey } from '../eval/types.ts';
import { listMetrics } from '../eval/registry.ts';
import '../eval/metrics.ts';
import type { ReportComparison, ReportDistribution, ReportHeatmap, ReportInput, ReportRun, ReportSeries } from './types.ts';
import { UserError } from '../util/errors.ts';

export interface PairedInput {
  label?: string;
  before: string;
  after: string;
  beforeLabel?: string;
  afterLabel?: string;
  method?: string;
  target?: string;
  metric: string;
  split: string;
  key: string;
  keyLabel?: string;
  ids: string[];
  valuesBefore: number[];
  valuesAfter: number[];
  unmatched?: number;
}

function dzOf(d: number[]): number {
  const n = d.length;
  let m = 0;
  for (const x of d) m += x;
  m /= n;
  let v = 0;
  for (const x of d) v += (x - m) * (x - m);
  return m / Math.sqrt(v / (n - 1));
}

/**
 * Paired statistics of after vs before on the same items (see module doc); null when fewer than
 * two pairs have finite values on both sides.
 */
export function comparePaired(p: PairedInput): ReportComparison | null {
  if (p.ids.length !== p.valuesBefore.length || p.ids.length !== p.valuesAfter.length) {
    throw new UserError(`comparePaired ${p.label ?? p.after}: ids, valuesBefore and valuesAfter must have the same length`);
  }
  const keep = p.ids.map((_, i) => i).filter((i) => Number.isFinite(p.valuesBefore[i]) && Number.isFinite(p.valuesAfter[i]));
  if (keep.length < 2) return null;
  const before = keep.map((i) => p.valuesBefore[i]!);
  const after = keep.map((i) => p.valuesAfter[i]!);
  const tt = pairedTTest(after, before);
  const diffs = after.map((a, i) => a - before[i]!);
  let dzCi95: [number, number] | null = null;
  if (Number.isFinite(tt.dz)) {
    try {
      const b = bootstrapCI(diffs, dzOf, { resamples: 2000, seed: 0 });
      dzCi95 = [b.lo, b.hi];
    } catch {
      dzCi95 = null; // a resample without spread: d_z undefined there
    }
  }
  return {
    before: p.before,
    after: p.after,
    beforeLabel: p.beforeLabel ?? p.before,
    afterLabel: p.afterLabel ?? p.after,
    label: p.label ?? `${p.beforeLabel ?? p.before} → ${p.afterLabel ?? p.after}`,
    method: p.method,
    target: p.target,
    metric: p.metric,
    split: p.split,
    key: p.key,
    keyLabel: p.keyLabel ?? p.key,
    n: keep.length,
    unmatched: (p.unmatched ?? 0) + (p.ids.length - keep.length),
    meanBefore: tt.meanB,
    meanAfter: tt.meanA,
    meanDiff: tt.meanDiff,
    sdDiff: tt.sdDiff,
    ci95: tt.ci95,
    t: tt.t,
    df: tt.df,
    p: tt.p,
    pHolm: tt.p,
    dz: tt.dz,
    dav: tt.dav,
    dzCi95,
    ids: keep.map((i) => p.ids[i]!),
    valuesBefore: before,
    valuesAfter: after,
  };
}

/** Paired keys of a metric: those it declares, or (unregistered metric) every numeric key of its items. */
function pairedKeysOf(metric: string, sample: ItemResult | undefined): PairedKey[] {
  const def = listMetrics().find((m) => m.name === metric);
  if (def) return [...def.paired];
  return Object.keys(sample?.values ?? {}).map((key) => ({ key, label: key }));
}

function runLabel(r: LoadedRun): string {
  return r.meta.label || r.meta.runId;
}

/** Paired comparisons of every shared metric, split and paired value between two runs. */
export function compareRuns(before: LoadedRun, after: LoadedRun, opts: { label?: string } = {}): ReportComparison[] {
  const out: ReportComparison[] = [];
  const label = opts.label ?? `${runLabel(before)} → ${runLabel(after)}`;
  for (const [metric, ra] of Object.entries(after.results)) {
    const rb = before.results[metric];
    if (!rb) continue;
    for (const [split, sa] of Object.entries(ra.splits)) {
      const sb = rb.splits[split as keyof typeof rb.splits];
      if (!sa || !sb) continue;
      const byIdB = new Map(sb.items.map((i) => [i.id, i]));
      const common = sa.items.filter((i) => byIdB.has(i.id));
      const unmatched = sa.items.length + sb.items.length - 2 * common.length;
      for (const k of pairedKeysOf(metric, common[0])) {
        const c = comparePaired({
          label,
          before: before.meta.runId,
          after: after.meta.runId,
          beforeLabel: runLabel(before),
          afterLabel: runLabel(after),
          method: after.meta.method ?? runLabel(after),
          target: after.meta.target,
          metric,
          split,
          key: k.key,
          keyLabel: k.label,
          ids: common.map((i) => i.id),
          valuesBefore: common.map((i) => byIdB.get(i.id)!.values[k.key] ?? NaN),
          valuesAfter: common.map((i) => i.values[k.key] ?? NaN),
          unmatched,
        });
        if (c) out.push(c);
      }
    }
  }
  return out;
}

/** Holm-adjust p within each (metric, split, key) family that has more than one comparison. */
export function applyHolm(comparisons: ReportComparison[]): void {
  const fam = new Map<string, ReportComparison[]>();
  for (const c of comparisons) {
    const k = `${c.metric}\u0000${c.split}\u0000${c.key}`;
    fam.set(k, [...(fam.get(k) ?? []), c]);
  }
  for (const cs of fam.values()) {
    const finite = cs.filter((c) => Number.isFinite(c.p));
    for (const c of cs) c.pHolm = c.p;
    if (finite.length < 2) continue;
    const h = holm(finite.map((c) => c.p));
    finite.forEach((c, i) => (c.pHolm = h.adjusted[i]!));
  }
}

function toReportRun(r: LoadedRun): ReportRun {
  const splitSummaries: ReportRun['splitSummaries'] = {};
  const summaries: ReportRun['summaries'] = {};
  for (const [m, res] of Object.entries(r.results)) {
    splitSummaries[m] = Object.fromEntries(Object.entries(res.splits).map(([s, v]) => [s, v!.summary]));
    summaries[m] = res.summary;
  }
  return {
    id: r.meta.runId,
    label: runLabel(r),
    method: r.meta.method,
    target: r.meta.target,
    step: r.meta.step,
    model: r.meta.model,
    adapter: r.meta.adapter,
    data: r.meta.data,
    limit: r.meta.limit,
    splitSummaries,
    summaries,
    environment: r.meta.environment,
  };
}

/** Per-item distributions of each run's primary paired values. */
export function runDistributions(runs: LoadedRun[]): ReportDistribution[] {
  const out: ReportDistribution[] = [];
  for (const r of runs) {
    for (const [metric, res] of Object.entries(r.results)) {
      for (const [split, s] of Object.entries(res.splits)) {
        const k = pairedKeysOf(metric, s!.items[0])[0];
        if (!k) continue;
        const values = s!.items.map((i) => i.values[k.key] ?? NaN).filter(Number.isFinite);
        if (values.length) out.push({ metric, key: k.key, keyLabel: k.label, split, condition: runLabel(r), values });
      }
    }
  }
  return out;
}

/** The d_z heatmap: method x layer target, on the forget split (perplexity NLL when present). */
export function targetHeatmap(comparisons: ReportComparison[]): ReportHeatmap | undefined {
  const withTarget = comparisons.filter((c) => c.target && c.split === 'forget');
  if (withTarget.length === 0) return undefined;
  const pick = withTarget.find((c) => c.metric === 'perplexity' && c.key === 'meanNll') ?? withTarget[0]!;
  const cells = withTarget
    .filter((c) => c.metric === pick.metric && c.key === pick.key && Number.isFinite(c.dz))
    .map((c) => ({ row: c.method ?? c.label, column: c.target!, value: c.dz }));
  if (cells.length === 0) return undefined;
  return {
    title: `Effect by layer target: d_z of the forget-set ${pick.keyLabel} change`,
    valueLabel: 'd_z',
    cells,
  };
}

export interface BuildReportOptions {
  title?: string;
  /** Index of the run every other run is compared with (default 0). */
  baseline?: number;
}

/** Report input from evaluation runs (see module doc). */
export function buildReport(runs: LoadedRun[], opts: BuildReportOptions = {}): ReportInput {
  if (runs.length === 0) throw new UserError('a report needs at least one run');
  const baseline = opts.baseline ?? 0;
  if (!Number.isInteger(baseline) || baseline < 0 || baseline >= runs.length) throw new UserError(`baseline must be a run index 0..${runs.length - 1}, got ${baseline}`);
  const ids = new Set<string>();
  for (const r of runs) {
    if (ids.has(r.meta.runId)) throw new UserError(`run ${r.meta.runId} is given twice`);
    ids.add(r.meta.runId);
  }
  const base = runs[baseline]!;
  const comparisons: ReportComparison[] = [];
  const notes: string[] = [];
  runs.forEach((r, i) => {
    if (i === baseline) return;
    if (r.meta.dataHash !== base.meta.dataHash) notes.push(`${runLabel(r)} was evaluated on other items than ${runLabel(base)} (dataset ${r.meta.data} vs ${base.meta.data}); only items present in both are paired.`);
    comparisons.push(...compareRuns(base, r));
  });
  applyHolm(comparisons);
  if (runs.length > 1) {
    notes.push(`Paired comparisons: every run against ${runLabel(base)} (after − before, per item); p(Holm) adjusts over the ${runs.length - 1} compared run(s) per metric, split and value.`);
  }
  const series: ReportSeries[] = runs.flatMap((r) => r.series.map((s) => ({ ...s, label: s.label || runLabel(r) })));
  const title = opts.title ?? (runs.length === 1 ? `Evaluation: ${runLabel(runs[0]!)}` : `Comparison: ${runs.map(runLabel).join(' vs ')}`);
  return {
    title,
    createdAt: new Date().toISOString(),
    runs: runs.map(toReportRun),
    comparisons,
    series,
    heatmap: targetHeatmap(comparisons),
    notes,
    distributions: runDistributions(runs),
  };
}
