/**
 * The shapes evaluation results take, on disk (reports/<run-id>/items.json and summary.json) and
 * in memory. Every metric returns per-item values (so that two runs on the same items can be
 * compared with paired statistics) and per-split summaries.
 */
import type { FactItem, FactSplit, TextItem } from '../data/types.ts';
import type { CausalLM } from '../model/model.ts';
import type { Tokenizer } from '../model/tokenizer/index.ts';

/** A split an evaluation can run on: the four fact splits and the general (plain text) set. */
export type EvalSplit = FactSplit | 'general';
export const EVAL_SPLITS: readonly EvalSplit[] = ['forget', 'retain', 'holdout', 'decoy', 'general'];

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

/** What a metric computes (before bookkeeping). */
export interface MetricComputation {
  splits: Partial<Record<EvalSplit, SplitResult>>;
  /** Numbers spanning splits (membership-inference AUCs, forget quality). */
  summary: Record<string, number | string | null>;
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
   * Retain-only reference for forget quality: a GGUF model (its truth ratios on the same forget
   * items are computed), a run folder that holds truth-ratio results on the forget split, or the
   * ratios themselves.
   */
  retainReference?: string | number[];
}

export interface ProgressEvent {
  metric: string;
  /** 'start' before computing, 'done' after writing, 'reused' when a finished result was kept. */
  phase: 'start' | 'done' | 'reused' | 'info';
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
  /** Metrics whose results it reads (computed first). */
  deps?: readonly string[];
  /** Per-item values used by paired comparisons; the first is the primary one. */
  paired: readonly PairedKey[];
  /** Option names (of MetricOptions) that change its results. */
  optionKeys: ReadonlyArray<keyof MetricOptions>;
  compute(ctx: MetricContext, splits: EvalSplit[]): Promise<MetricComputation> | MetricComputation;
}
