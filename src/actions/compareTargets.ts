/**
 * The compare-targets action: one unlearning method under several layer targets, from the same
 * fine-tuned model, compared. What `unlearnkit compare-targets` and the TUI's multi-target
 * unlearning (Unlearn screen, several targets chosen) both run.
 *
 * Each target is one `runUnlearn` (unlearn/run.ts, the function `unlearnkit unlearn` calls) on the
 * shared prepared run, so every row is measured exactly as an `unlearn` run of that target would be:
 * against the same "before" measurement, on the weights in memory, or, with `adaptersDir`, on the
 * adapter / merged file each target writes there (what `serve` and `eval --adapter` would load).
 * The rows are then combined (unlearn/targets.ts combineTargets: Holm's correction across the
 * targets per set, each target's forget effect and utility cost, the Pareto front, the recommended
 * target within the utility budget) and written as compare-targets.json and compare-targets.md.
 */
import path from 'node:path';
import { prepare, type PrepareOptions, type Prepared } from '../unlearn/prepare.ts';
import { runUnlearn, type Strategy, type UnlearnRunResult } from '../unlearn/run.ts';
import { combineTargets, defaultTargets, writeTargetComparison, type TargetComparison, type TargetRow } from '../unlearn/targets.ts';
import type { ProgressEvent, UnlearnContext, UnlearnHyper } from '../unlearn/types.ts';
import type { SearchParam } from '../unlearn/stepSearch.ts';
import { UserError } from '../util/errors.ts';
import { checkWritableDir } from '../util/fs.ts';
import { fileStamp } from '../util/paths.ts';

export interface CompareTargetsActionOptions extends PrepareOptions {
  method: string;
  /** Layer targets (default: for a LoRA fine-tune the whole adapter and each block, else unlearn/targets.ts defaultTargets). */
  targets?: string[];
  /** How each target's run removes the forget set (default batch; fuzzy with a request). */
  strategy?: Strategy;
  hyper?: Partial<UnlearnHyper>;
  /**
   * `--eta auto` / `--lr auto` / `--steps auto`: each target at the largest step that keeps its
   * retain / general perplexity within the utility budget on the validation part (unlearn/stepSearch.ts),
   * searched per target, as `unlearn --X auto` of that target would; each row's settings hold its step.
   */
  search?: SearchParam;
  /** Utility budget of the recommendation and of the step search (default 0.05). */
  budget?: number;
  /** Write each target's adapter run into this folder, as `unlearn` does, and measure the written files; without it, nothing per target is written and each target is measured in memory. */
  adaptersDir?: string;
  /** Folder for compare-targets.json and .md; none: nothing written. */
  out?: string;
  /** A line under the title of compare-targets.md (default: the forget set's size and source). */
  intro?: string;
  /** Reuse a prepared run (the TUI prepares once to show its progress). */
  prepared?: Prepared;
  quiet?: boolean;
  /** A target is starting (i of n). */
  onTarget?: (target: string, i: number, n: number) => void;
  /** Each method step of the running target (throw to cancel: the unfinished target writes nothing). */
  onProgress?: (target: string, e: ProgressEvent, ctx: UnlearnContext) => void;
  /** A target finished (its run's result). */
  onTargetDone?: (target: string, r: UnlearnRunResult) => void;
}

export interface CompareTargetsActionResult {
  comparison: TargetComparison;
  /** One per target, in the order run. */
  runs: UnlearnRunResult[];
  prepared: Prepared;
  /** With `out`: compare-targets.md's text and the path of compare-targets.json. */
  files: { md: string; json: string } | null;
}

/** Where a comparison goes when no folder is given (relative to the current folder): reports/unlearn/compare-targets-<time>. */
export function defaultCompareTargetsDir(now = new Date()): string {
  return path.join('reports', 'unlearn', `compare-targets-${fileStamp(now)}`);
}

/** The targets compared when none are given: a LoRA run's adapter as a whole and per block, else every layer target. */
function targetsOf(p: Prepared, given: string[] | undefined): string[] {
  if (given) {
    if (given.length === 0) throw new UserError('choose at least one layer target');
    return given;
  }
  const all = defaultTargets(p.model.config);
  return p.model.lora ? ['all', ...all.filter((t) => t.startsWith('block:'))] : all;
}

/** A row of the comparison from one target's run. */
function rowOf(p: Prepared, r: UnlearnRunResult): TargetRow {
  return {
    target: r.filter,
    tensors: r.tensors,
    parameters: r.tensors.reduce((a, n) => a + (p.model.weights.get(n)?.data.length ?? 0), 0),
    seconds: r.seconds.method,
    deltaNorm: r.deltaNorm,
    settings: r.settings,
    comparison: r.comparison,
    holmP: {},
  };
}

export async function compareTargetsAction(o: CompareTargetsActionOptions): Promise<CompareTargetsActionResult> {
  // the comparison is written last: an unwritable folder fails now, not after every target has run
  if (o.out) checkWritableDir(o.out, '--out');
  const p = o.prepared ?? prepare(o);
  const targets = targetsOf(p, o.targets);
  const runs: UnlearnRunResult[] = [];
  for (const [i, target] of targets.entries()) {
    o.onTarget?.(target, i, targets.length);
    const r = await runUnlearn({
      ...o,
      prepared: p,
      target,
      utilityBudget: o.budget,
      noAdapter: o.adaptersDir === undefined,
      adaptersDir: o.adaptersDir,
      onProgress: o.onProgress ? (e, ctx) => o.onProgress!(target, e, ctx) : undefined,
    });
    runs.push(r);
    o.onTargetDone?.(target, r);
  }
  const comparison = combineTargets(o.method, o.hyper ?? {}, runs[0]!.before, runs.map((r) => rowOf(p, r)), o.budget);
  const intro =
    o.intro ?? `${p.forget.length} forget examples from ${p.source.dir ?? p.source.checkpoint}${o.adaptersDir ? `; adapters: ${runs.map((r) => (r.adapter ? path.relative(process.cwd(), r.adapter.dir) || r.adapter.dir : r.runId)).join(', ')}` : ''}`;
  const files = o.out ? writeTargetComparison(o.out, comparison, intro) : null;
  return { comparison, runs, prepared: p, files };
}
