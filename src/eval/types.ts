/**
 * The shapes evaluation results take, on disk (reports/<run-id>/items.json and summary.json) and
 * in memory. Every metric returns per-item values (so that two runs on the same items can be
 * compared with paired statistics) and per-split summaries.
 */
import { FACT_SPLITS, type FactItem, type FactSplit, type TextItem } from '../data/types.ts';
import type { CausalLM } from '../model/model.ts';
import type { Tokenizer } from '../model/tokenizer/index.ts';

/** A split an evaluation can run on: the fact splits and the general (plain text) set. */
export type EvalSplit = FactSplit | 'general';
export const EVAL_SPLITS: readonly EvalSplit[] = [...FACT_SPLITS, 'general'];

/** One item's results under one metric. */
export interface ItemResult {
  id: string;
  /** Numeric values, e.g. { meanNll, tokens } or { rouge1, rouge2, rougeL }. */
  values: Record<string, number>;
  /** Text values, e.g. the greedy answer. */
  text?: Record<string, string>;
}

/** One metric on one split. */
export interface SplitResult {
  items: ItemResult[];
  /** Split-level numbers, e.g. { perplexity, meanNll, tokens, n }. */
  summary: Record<string, number>;
}

/**
 * A named number with what it was computed over, or why it was not (value null): TOFU's summary
 * entries, e.g. { value: 0.42, over: ['retain'] } or { value: null, reason: 'no holdout split ...' }.
 */
export interface SummaryEntry {
  value: number | null;
  reason?: string;
  [detail: string]: number | string | null | string[] | Record<string, number | string | null> | undefined;
}

export type SummaryValue = number | string | null | SummaryEntry;

/** What a metric computes (before bookkeeping). */
export interface MetricComputation {
  splits: Partial<Record<EvalSplit, SplitResult>>;
  /** Numbers spanning splits (membership-inference AUCs, forget quality, TOFU's entries). */
  summary: Record<string, SummaryValue>;
}

/** A metric (or one of its splits) the plan leaves out, and why. */
export interface SkippedMetric {
  metric: string;
  /** The split left out; absent when the whole metric is. */
  split?: EvalSplit;
  reason: string;
}

/** A finished metric as stored in a run. */
export interface MetricResult extends MetricComputation {
  metric: string;
  /** The options and splits it was computed with (a re-run with other options recomputes it). */
  optionsKey: string;
  seconds: number;
  completedAt: string;
}

/** A per-item value that paired comparisons between runs use. */
export interface PairedKey {
  key: string;
  /** Human label, e.g. "mean NLL per token". */
  label: string;
}

/** The items an evaluation uses, after split selection and `limit`. */
export interface EvalData {
  /** Dataset name or path. */
  name: string;
  facts: Partial<Record<FactSplit, FactItem[]>>;
  general: TextItem[];
  /** What would supply a split the dataset lacks (for "not computed" reasons). */
  supplyHint?: (split: EvalSplit) => string;
}

/** Options every metric may read (defaults filled in by evaluate()). */
export interface MetricOptions {
  /** Greedy answer length in tokens (ROUGE). Default 32. */
  maxNewTokens: number;
  /** Sequences per scoring graph. Default 16. */
  batch: number;
  /** Prompts per greedy-generation graph (ROUGE). Default 4. */
  genBatch: number;
  /** Min-K% fraction for membership inference. Default 0.2. */
  minK: number;
  /** Truth-ratio mean over perturbed answers ('arithmetic' = the paper). */
  perturbedMean: 'arithmetic' | 'geometric';
  /**
   * Retain-only reference for forget quality and privleak (reference.ts): a GGUF model, a fine-tune
   * run folder, an evaluation run folder holding its results, { model, adapter }, or the forget-set
   * truth ratios themselves.
   */
  retainReference?: string | number[] | { model: string; adapter?: string };
}

export interface ProgressEvent {
  metric: string;
  /** 'start' before computing, 'done' after writing, 'reused' when a finished result was kept, 'skipped' (before any computing) when the data lacks what it needs. */
  phase: 'start' | 'done' | 'reused' | 'info' | 'skipped';
  index: number;
  total: number;
  seconds?: number;
  message?: string;
}

/** What a metric's compute() gets. */
export interface MetricContext {
  model: CausalLM;
  tokenizer: Tokenizer;
  data: EvalData;
  options: MetricOptions;
  /** Finished results of this run (dependencies are finished before dependants run). */
  results: Map<string, MetricResult>;
  /** Per-process cache shared by metrics (e.g. text log-probabilities per split). */
  cache: Map<string, unknown>;
  /** Log a line of progress. */
  log: (message: string) => void;
}

/** A metric: registered by name, computed per item and summarised. */
export interface MetricDef {
  name: string;
  description: string;
  /** Splits it can run on. */
  supportedSplits: readonly EvalSplit[];
  /** Splits used when the caller does not choose. */
  defaultSplits: readonly EvalSplit[];
  /** Whether it needs exactly the splits it names (e.g. MIA: forget vs holdout), ignoring the caller's choice. */
  fixedSplits?: boolean;
  /** With fixedSplits: it runs on whichever of its splits the dataset has (TOFU's suite), reporting the rest as not computed. */
  optionalSplits?: boolean;
  /** Up-front notes on the parts it will not compute with the splits present (`present`) and these options (TOFU: no reference). */
  notes?(present: ReadonlySet<EvalSplit>, options: MetricOptions, hint: (split: EvalSplit) => string): string[];
  /** Metrics whose results it reads (computed first). */
  deps?: readonly string[];
  /** Per-item values used by paired comparisons; the first is the primary one. */
  paired: readonly PairedKey[];
  /** Option names (of MetricOptions) that change its results. */
  optionKeys: ReadonlyArray<keyof MetricOptions>;
  /**
   * Bumped when what the metric computes changes (ROUGE 2: stemmed as rouge_score): part of the
   * resume key, so a resumed evaluation never mixes results of two definitions.
   */
  version?: number;
  compute(ctx: MetricContext, splits: EvalSplit[]): Promise<MetricComputation> | MetricComputation;
}

/**
 * A metric over unlearning steps (the interval evaluator's output, series files); reports plot it
 * (report/charts.ts seriesChart) and re-export the type from report/types.ts.
 */
export interface ReportSeries {
  /** Run or method the series belongs to. */
  label: string;
  /** e.g. 'perplexity', 'rougeL'. */
  metric: string;
  split: string;
  points: Array<{ step: number; value: number }>;
}
