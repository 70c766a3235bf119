/**
 * The layer-target comparison as the Compare screen shows it: one row per target, one column per
 * metric (per-item NLL of each evaluation set, ROUGE-L recall of the forget / retain answers), each
 * cell the paired statistics of after vs before over the same items (mean change, t, df, p, 95% CI,
 * Cohen's d_z and d_av, Holm-adjusted p across targets). Built from the unlearning library's
 * comparison rows (src/unlearn/targets.ts TargetComparison, or the same rows built one target at a
 * time), so a table written by `unlearnkit compare-targets --json` opens here too.
 */
import type { CompareMetric, CompareView, PairedStats } from '../jobs/protocol.ts';
import { UserError } from '../../util/errors.ts';
import type { PairedComparison } from '../../stats/paired.ts';
import { bestWithinBudget, tradeoffOf, DEFAULT_UTILITY_BUDGET } from '../../unlearn/pareto.ts';

/** The library's paired comparison (src/stats/paired.ts), as far as the view needs it (d_av may be absent in older tables). */
type TestLike = Pick<PairedComparison, 't' | 'df' | 'p' | 'meanDiff' | 'ci95' | 'dz' | 'n'> & Partial<Pick<PairedComparison, 'dav'>>;

export interface ComparisonLike {
  sets: Array<{ set: string; n: number; perplexityBefore: number; perplexityAfter: number; meanNllBefore: number; meanNllAfter: number; test: TestLike | null }>;
  rouge?: Array<{ set: string; n: number; meanBefore: number; meanAfter: number; test: TestLike | null }>;
}

export interface TargetRowLike {
  target: string;
  runId?: string;
  comparison: ComparisonLike;
  holmP?: Record<string, number | null>;
}

/** What a good unlearning does to each set: forget NLL up, everything else unchanged (lower is better). */
function metricGoal(key: string): CompareMetric['goal'] {
  const [kind, set] = key.split(':') as [string, string];
  const forgetLike = set === 'forget' || set === 'trueForget';
  if (kind === 'nll') return forgetLike ? 'increase' : 'decrease';
  if (kind === 'rougeL') return forgetLike ? 'decrease' : 'increase';
  return 'none';
}

const SET_ORDER = ['forget', 'trueForget', 'retain', 'decoy', 'holdout', 'general'];

function setRank(s: string): number {
  const i = SET_ORDER.indexOf(s);
  return i < 0 ? SET_ORDER.length : i;
}

function stats(test: TestLike | null, n: number, before: number, after: number, holm?: number | null): PairedStats | null {
  if (!test) return n > 0 ? { n, meanDiff: after - before, t: NaN, df: NaN, p: NaN, ci: [NaN, NaN], dz: NaN, before, after } : null;
  return { n: test.n, meanDiff: test.meanDiff, t: test.t, df: test.df, p: test.p, ci: test.ci95, dz: test.dz, dav: test.dav, before, after, pHolm: holm ?? undefined };
}

export function compareViewFromRows(method: string, rows: TargetRowLike[], source?: string): CompareView {
  const nllSets = new Set<string>();
  const rougeSets = new Set<string>();
  for (const r of rows) {
    for (const s of r.comparison.sets) nllSets.add(s.set);
    for (const s of r.comparison.rouge ?? []) rougeSets.add(s.set);
  }
  const metrics: CompareMetric[] = [
    ...[...nllSets].sort((a, b) => setRank(a) - setRank(b)).map((s) => ({ key: `nll:${s}`, label: `${s} NLL`, goal: metricGoal(`nll:${s}`) })),
    ...[...rougeSets].sort((a, b) => setRank(a) - setRank(b)).map((s) => ({ key: `rougeL:${s}`, label: `${s} ROUGE-L`, goal: metricGoal(`rougeL:${s}`) })),
  ];
  return {
    method,
    source,
    metrics,
    rows: rows.map((r) => {
      const cells: Record<string, PairedStats | null> = {};
      for (const s of r.comparison.sets) cells[`nll:${s.set}`] = stats(s.test, s.n, s.meanNllBefore, s.meanNllAfter, r.holmP?.[s.set]);
      for (const s of r.comparison.rouge ?? []) cells[`rougeL:${s.set}`] = stats(s.test, s.n, s.meanBefore, s.meanAfter);
      return { target: r.target, runId: r.runId, cells };
    }),
  };
}

/**
 * A cell's score for sorting and for choosing the best target: its effect size d_z signed so that
 * larger is better for the metric's goal (a change against the goal is negative).
 */
export function cellScore(view: CompareView, row: number, key: string): number {
  const c = view.rows[row]?.cells[key];
  if (!c) return -Infinity;
  const goal = view.metrics.find((m) => m.key === key)?.goal ?? 'none';
  const d = Number.isFinite(c.dz) ? c.dz : c.meanDiff;
  if (!Number.isFinite(d)) return -Infinity;
  return goal === 'increase' ? d : goal === 'decrease' ? -d : Math.abs(d);
}

/** Row indices sorted by `key` (best first for its goal; `reverse` flips). */
export function sortedRows(view: CompareView, key: string | null, reverse = false): number[] {
  const idx = view.rows.map((_, i) => i);
  if (!key) return reverse ? idx.reverse() : idx;
  idx.sort((a, b) => cellScore(view, b, key) - cellScore(view, a, key) || a - b);
  return reverse ? idx.reverse() : idx;
}

/** The best target for a metric: the largest effect in the goal's direction (index, or -1). */
export function bestRow(view: CompareView, key: string): number {
  let best = -1;
  let score = -Infinity;
  view.rows.forEach((_, i) => {
    const s = cellScore(view, i, key);
    if (s > score) {
      score = s;
      best = i;
    }
  });
  return best;
}

/**
 * The recommended target (the ★): the Pareto-optimal row of (forget effect, utility cost) with the
 * largest forget effect within the utility budget (unlearn/pareto.ts), never the largest forget
 * effect alone. Perplexity ratios come from the token-weighted mean NLL cells: ppl after / before =
 * exp(meanNll after - meanNll before). -1 when no row is within budget (or the view lacks forget NLL).
 */
export function bestTradeoffRow(view: CompareView, budget = DEFAULT_UTILITY_BUDGET): number {
  const pts = view.rows.map((r) => {
    const ratio = (set: string) => {
      const c = r.cells[`nll:${set}`];
      return c && Number.isFinite(c.before) && Number.isFinite(c.after) ? Math.exp(c.after! - c.before!) : undefined;
    };
    return tradeoffOf({ forget: ratio('forget'), retain: ratio('retain'), general: ratio('general') });
  });
  return bestWithinBudget(pts, budget);
}

/** The metric the comparison is about: forget-set NLL when present, else the first. */
export function primaryMetric(view: CompareView): string | null {
  return view.metrics.find((m) => m.key === 'nll:forget')?.key ?? view.metrics[0]?.key ?? null;
}

/**
 * Read a comparison from JSON: a CompareView as the TUI saves it, or the library's
 * TargetComparison ({method, rows: [{target, comparison, holmP}]}).
 */
export function compareViewFromJson(v: unknown, source?: string): CompareView {
  const o = v as Record<string, unknown>;
  if (o && Array.isArray(o.metrics) && Array.isArray(o.rows)) return { ...(o as unknown as CompareView), source };
  if (o && Array.isArray(o.rows) && (o.rows as unknown[]).every((r) => r && typeof r === 'object' && 'comparison' in (r as object))) {
    return compareViewFromRows(String(o.method ?? '?'), o.rows as TargetRowLike[], source);
  }
  throw new UserError(`${source ?? 'this file'} is not a layer-target comparison (expected rows of targets with their comparisons)`);
}
