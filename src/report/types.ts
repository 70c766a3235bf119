/**
 * The typed input of a report. Evaluation runs (src/eval) are turned into it by buildReport();
 * the unlearning and RUM code can also fill it directly: runs (what was measured), comparisons
 * (paired statistics between two conditions on the same items, e.g. before vs after unlearning,
 * or per seed on the image side: comparePaired() in build.ts makes one from two number arrays),
 * series (a metric over unlearning steps) and an optional heatmap (method x layer target).
 */
import type { Environment } from '../eval/environment.ts';
import type { SummaryValue } from '../eval/types.ts';

/** One condition that was measured (a model, an unlearned adapter, a RUM variant). */
export interface ReportRun {
  id: string;
  label: string;
  method?: string;
  /** Layer target / parameter filter. */
  target?: string;
  step?: number;
  model?: string;
  adapter?: string;
  data?: string;
  /** Items per split limit, if any. */
  limit?: number | null;
  /** metric -> split -> summary numbers (e.g. perplexity -> forget -> { perplexity, meanNll, n }). */
  splitSummaries: Record<string, Record<string, Record<string, number>>>;
  /** metric -> cross-split numbers (e.g. mia -> { aucLoss, ... }, forget-quality -> { pValue, ... }, tofu -> { model_utility: { value, over } }). */
  summaries: Record<string, Record<string, SummaryValue>>;
  environment?: Environment;
}

/** Paired statistics of one per-item value between two conditions (after minus before). */
export interface ReportComparison {
  /** Baseline (before) and treatment (after) run ids. */
  before: string;
  after: string;
  /** Labels of the two runs. */
  beforeLabel: string;
  afterLabel: string;
  /** Short label, e.g. "finetuned → unlearned (NPO)". */
  label: string;
  method?: string;
  target?: string;
  metric: string;
  split: string;
  key: string;
  keyLabel: string;
  /** Pairs used (items present, with finite values, in both). */
  n: number;
  /** Items of either side left out for lack of a partner. */
  unmatched: number;
  meanBefore: number;
  meanAfter: number;
  /** mean(after - before). */
  meanDiff: number;
  sdDiff: number;
  /** 95% t interval of mean(after - before). */
  ci95: [number, number];
  t: number;
  df: number;
  p: number;
  /** Holm-adjusted p within the comparisons of the same metric, split and key (several methods); else = p. */
  pHolm: number;
  /** Cohen's d_z = mean(diff) / sd(diff). */
  dz: number;
  /** Cohen's d_av = mean(diff) / ((sd(before) + sd(after)) / 2). */
  dav: number;
  /** Percentile bootstrap 95% interval of d_z (2000 paired resamples, seed 0); null where undefined. */
  dzCi95: [number, number] | null;
  /** The paired values, for distribution charts. */
  ids: string[];
  valuesBefore: number[];
  valuesAfter: number[];
}

/** A metric over unlearning steps. */
export interface ReportSeries {
  /** Run or method the series belongs to. */
  label: string;
  /** e.g. 'perplexity', 'rougeL'. */
  metric: string;
  split: string;
  points: Array<{ step: number; value: number }>;
}

/** Per-item values of one condition (a run) on one split, for before / after distribution charts. */
export interface ReportDistribution {
  metric: string;
  key: string;
  keyLabel: string;
  split: string;
  /** Run label. */
  condition: string;
  values: number[];
}

export interface HeatmapCell {
  /** Row, e.g. the method. */
  row: string;
  /** Column, e.g. the layer target. */
  column: string;
  value: number;
}

export interface ReportHeatmap {
  title: string;
  /** What the colour means, e.g. "d_z of forget-set mean NLL change". */
  valueLabel: string;
  cells: HeatmapCell[];
}

/** Everything a report shows. */
export interface ReportInput {
  title: string;
  createdAt: string;
  runs: ReportRun[];
  comparisons: ReportComparison[];
  series: ReportSeries[];
  heatmap?: ReportHeatmap;
  /** Per-item value distributions (before / after charts). */
  distributions?: ReportDistribution[];
  /** Lines shown under the title (e.g. how runs were paired). */
  notes?: string[];
  /** The environment that wrote the report (each run carries its own). */
  environment?: Environment;
}
