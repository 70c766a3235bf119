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
import { pairedComparison, holmFamily } from '../stats/paired.ts';
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

/**
 * Paired statistics of after vs before on the same items (stats/paired.ts pairedComparison); null
 * when fewer than two pairs have finite values on both sides.
 */
export function comparePaired(p: PairedInput): ReportComparison | null {
  const c = pairedComparison(p.ids, p.valuesBefore, p.valuesAfter, { unmatched: p.unmatched });
  if (!c) return null;
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
    ...c,
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
  for (const cs of fam.values()) holmFamily(cs);
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
