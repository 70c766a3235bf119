/**
 * The typed input of a report. Evaluation runs (src/eval) are turned into it by buildReport();
 * the unlearning and RUM code can also fill it directly: runs (what was measured), comparisons
 * (paired statistics between two conditions on the same items, e.g. before vs after unlearning,
 * or per seed on the image side: comparePaired() in build.ts makes one from two number arrays),
 * series (a metric over unlearning steps) and an optional heatmap (method x layer target).
 */
import type { Environment } from '../eval/environment.ts';
import type { ReportSeries, SummaryValue } from '../eval/types.ts';
import type { PairedComparison } from '../stats/paired.ts';

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

/**
 * Paired statistics of one per-item value between two conditions (after minus before): the one
 * paired-comparison result (stats/paired.ts; pHolm is Holm-adjusted within the comparisons of the
 * same metric, split and key, else = p) with what was compared.
 */
export interface ReportComparison extends PairedComparison {
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
}

/** A metric over unlearning steps: eval/ records it (interval evaluator, series files), so it is declared there. */
export type { ReportSeries } from '../eval/types.ts';

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
  /** An unlearning run's summary, shown first (`unlearn --report`). */
  headline?: ReportHeadline;
}

/**
 * The top of an unlearning run's report: a verdict paragraph computed from the run's own numbers,
 * the reference rows (fine-tuned, unlearned, retain-only when recorded: one row each, the values
 * under `columns`) and greedy sample generations before and after on forget questions.
 */
export interface ReportHeadline {
  verdict: string;
  references: { columns: string[]; rows: Array<{ label: string; values: string[] }> };
  samples: Array<{ id: string; question: string; reference: string; before: string; after: string }>;
}
