/**
 * What the terminal UI's long jobs take, report while they run, and return. Screens render these
 * view types only; the job handlers (src/tui/jobs/handlers/) translate the library's results into
 * them, so a screen never depends on how a library module shapes its output.
 *
 * Every job runs off the UI thread (a child process, src/tui/jobs/runner.ts) so keys always
 * respond; every job is also a CLI command (named in `cli` of each screen) calling the same code.
 */
import type { UiError } from '../lib/errors.ts';

// ---- describe: engine and device --------------------------------------------------------------

export interface DeviceView {
  name: string;
  description: string;
  type: string;
  memoryTotal?: number;
}

export interface DescribeResult {
  device: DeviceView;
  devices: DeviceView[];
  cpuVariant: string;
  threads: number;
  build: string;
  ggml: string;
  nodeLlamaCpp: string;
  memory: { total: number; free: number };
}

// ---- finetune ----------------------------------------------------------------------------------

/**
 * The settings of `unlearnkit finetune` (src/actions/finetune.ts FinetuneActionOptions, declared in
 * src/options/declarations.ts FINETUNE); the optional ones take the CLI's defaults when absent.
 */
export interface FinetuneParams {
  model: string;
  data: string;
  splits: string[];
  epochs: number;
  lr: number;
  batch: number;
  optimizer: 'adamw' | 'sgd';
  filter: string;
  record: 'first-epoch' | 'all-epochs' | 'none';
  out: string;
  /** Perplexity of the forget and general sets before and after (the CLI's default). */
  eval: boolean;
  seed: number;
  /** General texts mixed in (--replay; default 0). */
  replay?: number;
  /** AdamW decoupled weight decay (--weight-decay; default 0). */
  weightDecay?: number;
  /** Recorded tensors (--record-filter; default: the filter). */
  recordFilter?: string;
  /** Number type of the gradient record (--record-dtype; default f32). */
  recordDtype?: 'f32' | 'f16';
}

export type FinetuneProgress =
  | { kind: 'phase'; text: string }
  | {
      kind: 'step';
      epoch: number;
      epochs: number;
      step: number;
      stepsPerEpoch: number;
      loss: number;
      tokensPerSecond: number;
      recordBytes: number;
      elapsed: number;
    };

export interface PerplexityPair {
  forget: number;
  general: number;
}

export interface FinetuneView {
  out: string;
  checkpoint: string;
  epochs: Array<{ epoch: number; meanLoss: number; seconds: number; tokens: number; recorded: boolean }>;
  tokensPerSecond: number;
  recordDir: string | null;
  recordBytes: number;
  perplexity?: { before: PerplexityPair; after: PerplexityPair };
}

// ---- unlearn and compare-targets ---------------------------------------------------------------

/** The forget set: a split of the dataset, or a removal request resolved by fuzzy matching. */
export type ForgetChoice = { split: string } | { request: string };

export interface UnlearnParams {
  /** Fine-tuning run folder (or a checkpoint GGUF) to unlearn from. */
  from: string;
  data: string;
  method: string;
  /** One target: one unlearning run; several: a compare-targets run (one adapter per target). */
  targets: string[];
  strategy: 'batch' | 'iterative' | 'fuzzy';
  forget: ForgetChoice;
  /** Step size: the multiplier of the recorded steps (stored-gradient methods); 'auto' searches it per target (the CLI's --eta auto). */
  eta: number | 'auto';
  /** Optimiser steps of the gradient methods (0: the method's default, one pass); 'auto' searches them per target. */
  steps: number | 'auto';
  /** Evaluate forget / retain perplexity (and ROUGE) every this many steps (0 = start and end only). */
  evalEvery: number;
  /** Greedy answers + ROUGE-L recall for the forget and retain questions. */
  rouge: boolean;
  seed: number;
  /** Folder adapters are written to (default adapters/). */
  adaptersDir?: string;
}

export type UnlearnProgress =
  | { kind: 'phase'; text: string; target?: string }
  | { kind: 'step'; target: string; step: number; steps: number }
  /** Metrics at one evaluation point: forget/retain perplexity and ROUGE-L recall, and any others. */
  | { kind: 'eval'; target: string; step: number; metrics: Record<string, number> };

export interface UnlearnRunView {
  target: string;
  runId: string;
  adapterDir: string | null;
  /** Metric -> value before and after. */
  metrics: Record<string, { before: number; after: number }>;
}

export interface UnlearnView {
  method: string;
  runs: UnlearnRunView[];
  comparison?: CompareView;
}

// ---- compare-targets matrix --------------------------------------------------------------------

export interface PairedStats {
  n: number;
  /** Mean of after - before over the items. */
  meanDiff: number;
  t: number;
  df: number;
  p: number;
  ci: [number, number];
  /** Cohen's d_z of the paired differences (and d_av when known). */
  dz: number;
  dav?: number;
  before?: number;
  after?: number;
  /** Holm-adjusted p, when the library gives one. */
  pHolm?: number;
}

export interface CompareMetric {
  key: string;
  label: string;
  /** Which direction of change is the goal (forget perplexity: higher; retain: lower). */
  goal: 'increase' | 'decrease' | 'none';
}

export interface CompareView {
  method: string;
  metrics: CompareMetric[];
  rows: Array<{ target: string; runId?: string; cells: Record<string, PairedStats | null> }>;
  /** The file the table came from (or was written to). */
  source?: string;
}

// ---- reports -----------------------------------------------------------------------------------

/** An evaluation to run first (what `unlearnkit eval` does), into reports/<id>/. */
export interface EvalRequest {
  model: string;
  /** LoRA adapter GGUF, or a full model GGUF evaluated instead. */
  adapter?: string;
  data: string;
  out: string;
  label: string;
  method?: string;
  target?: string;
}

export interface ReportParams {
  /** Evaluations to run (or resume) first; each writes its run folder. */
  evaluate?: EvalRequest[];
  /** Run folders or ids to build one report from (the first is the baseline). */
  runs: string[];
  open: boolean;
}

export interface ReportResult {
  html: string;
  markdown?: string;
  opened: boolean;
}

// ---- fuzzy selection preview -------------------------------------------------------------------

export interface FuzzyParams {
  data: string;
  request: string;
  /** The fine-tuning run whose training items are the candidates (default: the training splits). */
  from?: string | null;
}

export interface FuzzyView {
  request: string;
  selected: Array<{ id: string; split: string; person: string; text: string; score: number; decoyOf?: string }>;
  precision: number;
  recall: number;
  decoysCaught: number;
  trueForget: number;
}

// ---- RUM ---------------------------------------------------------------------------------------

export interface RumParams {
  /** 'synthetic' (generated CIFAR-format images, src/data/syntheticCifar.ts) or a CIFAR-10 / CIFAR-100 / MNIST folder. */
  data: string;
  trainSize: number;
  testSize: number;
  /** CNN config name (small, tiny, resnet18). */
  model: string;
  epochs: number;
  seeds: number[];
  forgetSize: number;
  algorithms: string[];
  /** Models of the memorization estimator. */
  memModels: number;
  /** RUM's algorithm per subset: 'select' (chosen on a held-out seed), 'none', or low=A,medium=B,high=C. */
  rum: string;
  /** Results and cache folder (default runs/rum/<data>-<train size>, as the CLI). */
  out?: string;
}

export interface RumCell {
  /** Algorithm, or a reference row (Original, Retrain) or the RUM row. */
  algorithm: string;
  /** original | retrain | vanilla | shuffle | refined | rum. */
  variant: string;
  tow: { mean: number; lo: number; hi: number } | null;
  miaGap: { mean: number; lo: number; hi: number } | null;
  seeds: number;
}

export type RumProgress = { kind: 'phase'; text: string; done?: number; total?: number } | { kind: 'cell'; cell: RumCell };

export interface RumView {
  cells: RumCell[];
  report?: string;
}

// ---- convert a Hugging Face folder -------------------------------------------------------------

export interface ConvertParams {
  dir: string;
  out: string;
  outtype: 'f32' | 'f16' | 'bf16' | 'q8_0';
}

export interface ConvertView {
  output: string;
  arch: string;
  parameters: number;
  tensors: number;
  warnings: string[];
}

// ---- the job table -----------------------------------------------------------------------------

export interface JobTypes {
  describe: { params: Record<string, never>; progress: never; result: DescribeResult };
  finetune: { params: FinetuneParams; progress: FinetuneProgress; result: FinetuneView };
  unlearn: { params: UnlearnParams; progress: UnlearnProgress; result: UnlearnView };
  report: { params: ReportParams; progress: { kind: 'phase'; text: string }; result: ReportResult };
  fuzzy: { params: FuzzyParams; progress: never; result: FuzzyView };
  rum: { params: RumParams; progress: RumProgress; result: RumView };
  convert: { params: ConvertParams; progress: { kind: 'phase'; text: string }; result: ConvertView };
}

export type JobKind = keyof JobTypes;

export type JobOutcome<R> = { status: 'done'; result: R } | { status: 'cancelled'; message: string } | { status: 'error'; error: UiError };

export interface JobHandle<R> {
  readonly kind: JobKind;
  /** Ask the job to stop at its next safe point; `done` then resolves with status 'cancelled'. */
  cancel(): void;
  readonly done: Promise<JobOutcome<R>>;
}

/** Starts jobs. The real one runs each in a child process; tests inject fakes. */
export interface JobRunner {
  start<K extends JobKind>(kind: K, params: JobTypes[K]['params'], onProgress: (p: JobTypes[K]['progress']) => void): JobHandle<JobTypes[K]['result']>;
}

/** One line of the child -> parent protocol (JSON on the child's fd 3). */
export type WireMessage =
  | { t: 'progress'; data: unknown }
  | { t: 'result'; data: unknown }
  | { t: 'cancelled'; message: string }
  | { t: 'error'; error: { name: string; message: string; stack?: string; code?: string } };
