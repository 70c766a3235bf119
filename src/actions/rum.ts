/**
 * The RUM actions: `unlearnkit rum memorization | entanglement | unlearn | table` and the TUI's RUM
 * screen build their experiment from one typed options object here, checked by the RUM option
 * declarations (src/options) before any work; the table action then runs the experiment
 * (rum/experiment.ts runExperiment), builds the report (rum/report.ts buildRumReport) and writes
 * report.json and report.md. The CLI and the TUI are thin front-ends over it.
 */
import { getEngine } from '../engine/engine.ts';
import { ALGORITHM_NAMES, parseHyper } from '../rum/algorithms.ts';
import { experimentSetup, runExperiment, VARIANTS, type ExperimentOptions, type RumChoice, type Variant } from '../rum/experiment.ts';
import type { CnnConfig } from '../rum/model.ts';
import { buildRumReport, writeRumReport, type RumReport } from '../rum/report.ts';
import { parseRumTable } from '../rum/rum.ts';
import { DEFAULT_RECIPE, type TrainRecipe } from '../rum/train.ts';
import { checkOptions, RUM } from '../options/index.ts';
import { UserError } from '../util/errors.ts';

export interface RumActionOptions {
  /** 'synthetic' (generated CIFAR-format images) or a CIFAR-10 / CIFAR-100 / MNIST folder. */
  data: string;
  trainSize: number;
  testSize: number;
  /** CNN config name (rum/model.ts NAMED_CONFIGS). */
  model: string;
  /** Base width and BasicBlocks per stage, over the named config. */
  width?: number;
  blocks?: number[];
  /** Training recipe (default rum/train.ts DEFAULT_RECIPE). */
  recipe?: Partial<TrainRecipe>;
  seeds: number[];
  forgetSize: number;
  forgetMix?: 'stratified' | 'random';
  /** Unlearning algorithms (rum/algorithms.ts; not retrain, the oracle). Empty for the analyses. */
  algorithms: string[];
  variants?: Variant[];
  /** Hyper-parameter overrides, e.g. "finetune.epochs=3,neggrad+.beta=0.9". */
  hyper?: string;
  /** RUM's algorithm per subset: 'select' (chosen on a held-out seed), 'none', or "low=A,medium=B,high=C". */
  rum: string;
  /** Candidates of 'select' (default: the algorithms). */
  rumCandidates?: string[];
  memModels: number;
  memFraction?: number;
  /** Results and cache folder (default runs/rum/<data>-<train size>). */
  out?: string;
  threads?: number;
  quiet?: boolean;
  log?: (line: string) => void;
}

/** The experiment the options describe, every value checked before any work (data are read here). */
export function rumExperimentOptions(o: RumActionOptions): ExperimentOptions {
  checkOptions(RUM, { ...o, ...o.recipe });
  for (const a of o.algorithms) {
    if (!ALGORITHM_NAMES.includes(a)) throw new UserError(`algorithms: unknown '${a}'; known: ${ALGORITHM_NAMES.join(', ')}`);
    if (a === 'retrain') throw new UserError('retrain is the oracle every result is scored against; leave it out of the algorithms');
  }
  for (const v of o.variants ?? []) if (!VARIANTS.includes(v)) throw new UserError(`variants: unknown '${v}'; known: ${VARIANTS.join(', ')}`);
  if (o.seeds.length === 0 || o.seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new UserError(`seeds: give integers >= 0, got '${o.seeds.join(',')}'`);
  for (const b of o.blocks ?? []) if (!Number.isInteger(b) || b < 1) throw new UserError(`blocks: give integers >= 1 per stage, got '${(o.blocks ?? []).join(',')}'`);
  if (o.threads !== undefined) getEngine({ threads: o.threads });
  const over: Partial<CnnConfig> = {};
  if (o.width !== undefined) over.baseWidth = o.width;
  if (o.blocks !== undefined) over.blocks = o.blocks;
  const { data, config, defaultOutDir } = experimentSetup(o.data, { trainSize: o.trainSize, testSize: o.testSize, model: o.model, over });
  let rum: RumChoice = null;
  if (o.rum === 'select') rum = { select: o.rumCandidates ?? o.algorithms };
  else if (o.rum !== 'none') rum = { table: parseRumTable(o.rum) };
  return {
    data,
    config,
    recipe: { ...DEFAULT_RECIPE, ...o.recipe },
    seeds: o.seeds,
    forgetSize: o.forgetSize,
    forgetMix: o.forgetMix ?? 'stratified',
    algorithms: o.algorithms,
    variants: o.variants,
    hyper: parseHyper(o.hyper),
    rum,
    memModels: o.memModels,
    memFraction: o.memFraction,
    outDir: o.out ?? defaultOutDir,
    quiet: o.quiet,
    log: o.log,
  };
}

/**
 * `rum table`: the paper's table over the seeds, written as report.json and report.md into the
 * results folder. `onStart` receives the checked experiment before it runs (the TUI reads finished
 * runs from its folder while it computes).
 */
export function rumTableAction(o: RumActionOptions, onStart?: (e: ExperimentOptions) => void): { report: RumReport; files: { json: string; markdown: string }; outDir: string } {
  if (o.algorithms.length === 0) throw new UserError('choose at least one algorithm');
  const opts = rumExperimentOptions(o);
  onStart?.(opts);
  const report = buildRumReport(runExperiment(opts));
  return { report, files: writeRumReport(opts.outDir, report), outDir: opts.outDir };
}
