/**
 * The one interface every unlearning method implements (docs/methods.md#unlearning-methods).
 *
 * A method gets an UnlearnContext: a working copy of the fine-tuned model (`work`, host weights it
 * changes in place), the resolved parameter filter (`tensors`: only these may change), the forget
 * examples, the kept training examples (`retain`), the fine-tuning run it unlearns from (base model,
 * options, gradient record), and its hyper-parameters. It returns the change it made: one dense
 * delta per filtered tensor (after - before), which the caller turns into an adapter, applies, or
 * measures. Methods never touch tensors outside the filter.
 */
import type { CausalLM } from '../model/model.ts';
import type { GradRecordReader } from '../train/gradRecord.ts';
import type { OptimizerKind } from '../engine/graph.ts';
import type { SessionPool } from '../model/sessions.ts';

import type { Example } from '../model/example.ts';
export type { Example } from '../model/example.ts';

/** The fine-tuning run an unlearning starts from. */
export interface RunSource {
  /** The run folder (null when unlearning starts from a bare checkpoint). */
  dir: string | null;
  /** The fine-tuned model file. */
  checkpoint: string;
  /** sha256 of the checkpoint file. */
  checkpointSha256: string;
  /** The model the fine-tune started from (run.json), when known. */
  baseModel: string | null;
  /** The fine-tune's options (run.json), when known. */
  options: FinetuneRunOptions | null;
  /** Tensors the fine-tune trained (run.json), when known. */
  trainedTensors: string[] | null;
  /** The gradient record (`<run>/grads`), when present. */
  record: GradRecordReader | null;
  /** Ids of every training example (from the record, else null). */
  trainIds: string[] | null;
  /** The exact training texts by id (`<run>/items.jsonl`, written by finetune), when present. */
  items?: Map<string, string> | null;
  /**
   * A LoRA fine-tune: its adapter file, alpha, rank and adapted tensors. `checkpoint` is then the
   * base model the adapter applies to, and methods change the adapter's factors only.
   */
  lora?: { adapter: string; alpha: number; rank: number; targets: string[] } | null;
}

export interface FinetuneRunOptions {
  epochs: number;
  lr: number;
  batch: number;
  optimizer: OptimizerKind;
  weightDecay: number;
  filter: string;
  seed: number;
  maxLen?: number;
  record?: string;
  /** LoRA runs: rank and alpha, the --target and the micro-batch size. */
  lora?: { rank: number; alpha?: number };
  target?: string;
  microBatch?: number;
}

/** Hyper-parameters of all methods (each reads the ones it uses; `describeSettings` lists them). */
export interface UnlearnHyper {
  /** Stored-gradient ascent: multiplier of the recorded steps (1 = reverse them). */
  eta: number;
  /** Gradient methods: step size of the optimiser (default: the fine-tune's lr, or 1e-3). */
  lr: number;
  /** Gradient methods: optimiser steps (default: one pass over the forget set). */
  steps: number;
  /** Gradient methods: sequences per batch (default: the fine-tune's batch, or 8). */
  batch: number;
  /** Gradient methods: 'sgd' or 'adamw' (default: the fine-tune's optimiser). */
  optimizer: OptimizerKind;
  /** NPO inverse temperature beta (Zhang et al. 2024 use 0.1). */
  beta: number;
  /** Gradient difference: weight of the retain loss (L = -L_F + w L_R). */
  retainWeight: number;
  /** Retain-only model: epochs (default: the fine-tune's). */
  epochs: number;
}

export interface ProgressEvent {
  method: string;
  step: number;
  total: number;
  /** Loss of the objective at this step, when there is one. */
  loss?: number;
  note?: string;
}

export interface UnlearnContext {
  /** The model being unlearned; the method changes its host weights (filtered tensors only). */
  work: CausalLM;
  /** The parameter filter as given (e.g. "block:3:mlp,embedding"). */
  filter: string;
  /** Tensors the filter selects (architecture order); nothing else may change. */
  tensors: string[];
  forget: Example[];
  /** Training examples that are kept (training set minus the forget set). */
  retain: Example[];
  source: RunSource;
  hyper: UnlearnHyper;
  seed: number;
  /** Graph sessions on `work`, reused across calls (iterative removal calls a method many times). */
  pool: SessionPool;
  onProgress?: (e: ProgressEvent) => void;
  quiet?: boolean;
  /** Retain-only: where to fine-tune the oracle (default: a cache folder inside the run). */
  oracleDir?: string;
  /**
   * NPO: reference sequence log-likelihoods log pi_ref(y) by example id (default: the model at the
   * start of run()). Iterative removal sets them once, so that pi_ref stays the original model.
   */
  refLogLik?: Map<string, number>;
}

export interface UnlearnOutcome {
  method: string;
  /** The tensors the method was allowed to change. */
  tensors: string[];
  /** after - before, per tensor, dense, in the tensor's layout. */
  deltas: Map<string, Float32Array>;
  /** The settings actually used (step sizes, steps, ...), for meta.json and reports. */
  settings: Record<string, number | string | boolean>;
  /** One entry per step (loss, weights, ...). */
  log: Array<Record<string, number | string>>;
  seconds: number;
}

/** What a method needs from the run. */
export interface MethodNeeds {
  /** A gradient record with the forget examples: epoch 1, or every epoch of the fine-tune. */
  record?: 'first-epoch' | 'all-epochs';
  /** The base model and the fine-tune's options (the retain-only model retrains from them). */
  run?: boolean;
  /** Kept training examples (gradient difference, retain-only). */
  retain?: boolean;
}

export interface UnlearnMethod {
  name: string;
  /** One line for `unlearnkit methods`. */
  summary: string;
  /** The paper or source it follows. */
  reference: string;
  needs: MethodNeeds;
  /** Hyper-parameters it reads. */
  uses: Array<keyof UnlearnHyper>;
  run(ctx: UnlearnContext): UnlearnOutcome;
}
