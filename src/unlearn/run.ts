/**
 * One unlearning run end to end (what `unlearnkit unlearn` does): prepare the run and the forget
 * set (a split, ids, or a fuzzy-matched request), measure the fine-tuned model, apply the method
 * with a strategy (batch: once on the whole set; iterative: per example until it reaches the
 * holdout level), measure again, compare per item (paired t-tests), and write the change to
 * `adapters/<run-id>/` (adapter.gguf, meta.json, result.json with every per-item number, report.md).
 */
import path from 'node:path';
import { prepare, makeContext, type PrepareOptions, type Prepared } from './prepare.ts';
import { measure, compareMeasurements, formatComparison, type Comparison, type Measurement } from './measure.ts';
import { iterativeRemoval, type IterativeOptions, type IterativeResult } from './iterative.ts';
import { writeUnlearnAdapter, makeRunId, checkRunId, checkRunOutput, type AdapterWriteResult } from './adapter.ts';
import { cleanStaleTemps } from '../util/fs.ts';
import { deltaNorms } from './deltas.ts';
import { loadEvalModel } from '../eval/loadModel.ts';
import type { FuzzyReport, FuzzySelection } from './fuzzy.ts';
import { seriesRecorder, seriesText, SERIES_FILE } from '../eval/series.ts';
import { getMethod } from './registry.ts';
import { searchStep, splitValidation, utilityCheck, budgetWarning, searchLines, type SearchParam, type StepSearchResult, type UtilityCheck } from './stepSearch.ts';
import type { ProgressEvent, UnlearnContext, UnlearnHyper } from './types.ts';
import { UserError } from '../util/errors.ts';
import { code, heading, list, paragraph, table, toMarkdown, type Block } from '../report/document.ts';

export type Strategy = 'batch' | 'iterative' | 'fuzzy';

export interface UnlearnRunOptions extends PrepareOptions {
  method: string;
  /** Layer target (default 'all'). */
  target?: string;
  strategy?: Strategy;
  hyper?: Partial<UnlearnHyper>;
  iterative?: Omit<IterativeOptions, 'hyper' | 'holdout'>;
  /** Folder of adapter runs (default ./adapters). */
  adaptersDir?: string;
  runId?: string;
  /** Skip writing the adapter folder. */
  noAdapter?: boolean;
  /** Also write merged.gguf. */
  merged?: boolean;
  maxRank?: number;
  /** Error budget of the adapter per tensor (relative reconstruction error; default 1e-3). */
  maxRelError?: number;
  /** Replace an existing run of the same --run-id (default: refuse before any work). */
  overwrite?: boolean;
  quiet?: boolean;
  /** Each method step, with the run's context (ctx.work: the working weights, ctx.tensors: the target). */
  onProgress?: (e: ProgressEvent, ctx: UnlearnContext) => void;
  /** Reuse a prepared run (tests, sweeps). */
  prepared?: Prepared;
  /** `--eta auto` / `--lr auto` / `--steps auto`: search the largest step within the utility budget (stepSearch.ts). */
  search?: SearchParam;
  /** Allowed relative perplexity rise of retain and general (default 0.05); every run is checked against it. */
  utilityBudget?: number;
  /**
   * `--eval-every N`: perplexity and ROUGE per split of the model being changed, at step 0, every N
   * method steps (gradient methods, batch / fuzzy strategy: stored-gradient ascent applies its change
   * at once) and after the method; written as series.jsonl into the run folder (eval/series.ts).
   */
  evalEvery?: number;
}

export interface SetSummary {
  perplexityBefore: number;
  perplexityAfter: number;
  meanLogLikChange: number;
  t: number | null;
  p: number | null;
  dz: number | null;
}

export interface UnlearnRunResult {
  runId: string;
  method: string;
  strategy: Strategy;
  filter: string;
  tensors: string[];
  settings: Record<string, number | string | boolean>;
  forget: { count: number; ids: string[] };
  selection: (Omit<FuzzySelection, 'scores'> & { report: FuzzyReport; top: FuzzySelection['scores'] }) | null;
  before: Measurement;
  after: Measurement;
  comparison: Comparison;
  summary: Record<string, SetSummary>;
  iterative: Omit<IterativeResult, 'deltas'> | null;
  deltaNorm: number;
  changedTensors: string[];
  adapter: Omit<AdapterWriteResult, 'meta'> | null;
  /**
   * 'unlearned' when the forget set's per-item NLL rose significantly (paired t-test, t > 0,
   * p < 0.05); 'not-unlearned' when it fell, did not change significantly, or could not be tested
   * (the CLI then exits with code 3). `outcomeReason` says which.
   */
  outcome: Outcome;
  outcomeReason: string;
  warnings: string[];
  /** The step search (`--eta auto` ...): every tried step and its utility change on the validation part. */
  stepSearch?: StepSearchResult | null;
  /** Retain / general perplexity change of this run against the utility budget. */
  utility?: UtilityCheck | null;
  /**
   * What the after-numbers were measured on: the file the run ships ('adapter.gguf' or
   * 'merged.gguf', applied to the checkpoint as `unlearnkit eval --adapter` applies it),
   * 'checkpoint' when the method changed nothing, 'in memory' with --no-adapter.
   */
  measured: 'adapter.gguf' | 'merged.gguf' | 'checkpoint' | 'in memory' | string;
  seconds: { method: number; measure: number; total: number };
}

export type Outcome = 'unlearned' | 'not-unlearned';

/** Significance level of the outcome's test. */
const OUTCOME_ALPHA = 0.05;

/**
 * Did the run unlearn? The forget set's per-item NLL after vs before (paired t-test): unlearned
 * when it rose with p < OUTCOME_ALPHA; otherwise not, with the reason (moved the wrong way, not
 * significant, or no test).
 */
export function judgeOutcome(c: Comparison): { outcome: Outcome; reason: string } {
  const f = c.sets.find((s) => s.set === 'forget');
  if (!f) return { outcome: 'not-unlearned', reason: 'no forget set was measured' };
  const ppl = `forget perplexity ${f.perplexityBefore.toFixed(3)} -> ${f.perplexityAfter.toFixed(3)}`;
  const t = f.test;
  if (!t) return { outcome: 'not-unlearned', reason: `${ppl}; no paired test (fewer than 2 items, or no change)` };
  if (t.t <= 0) return { outcome: 'not-unlearned', reason: `${ppl}: forget NLL moved the wrong way (down; t = ${t.t.toFixed(2)}, p = ${t.p.toExponential(2)})` };
  if (!(t.p < OUTCOME_ALPHA)) return { outcome: 'not-unlearned', reason: `${ppl}: forget NLL rose, but not significantly (p = ${t.p.toExponential(2)} >= ${OUTCOME_ALPHA})` };
  return { outcome: 'unlearned', reason: `${ppl}: forget NLL rose (t = ${t.t.toFixed(2)}, p = ${t.p.toExponential(2)} < ${OUTCOME_ALPHA})` };
}

export function summarize(c: Comparison): Record<string, SetSummary> {
  const out: Record<string, SetSummary> = {};
  for (const s of c.sets) {
    out[s.set] = {
      perplexityBefore: s.perplexityBefore,
      perplexityAfter: s.perplexityAfter,
      meanLogLikChange: s.meanLogLikChange,
      t: s.test?.t ?? null,
      p: s.test?.p ?? null,
      dz: s.test?.dz ?? null,
    };
  }
  for (const r of c.rouge) {
    out[`rougeL:${r.set}`] = { perplexityBefore: NaN, perplexityAfter: NaN, meanLogLikChange: r.meanAfter - r.meanBefore, t: r.test?.t ?? null, p: r.test?.p ?? null, dz: r.test?.dz ?? null };
  }
  return out;
}

export async function runUnlearn(o: UnlearnRunOptions): Promise<UnlearnRunResult> {
  const t0 = performance.now();
  const strategy: Strategy = o.strategy ?? (o.request !== undefined ? 'fuzzy' : 'batch');
  if (!['batch', 'iterative', 'fuzzy'].includes(strategy)) throw new UserError(`unknown --strategy '${strategy}'; use batch, iterative or fuzzy`);
  if (strategy === 'fuzzy' && o.request === undefined) throw new UserError('--strategy fuzzy needs --request "..." (e.g. "forget everything about Dave Harrowgate")');
  const runId = o.runId ? checkRunId(o.runId) : makeRunId(o.method, o.target ?? 'all');
  if (!o.noAdapter) {
    // before any work: never replace an earlier run silently, and fail now on an unwritable folder
    const adaptersDir = path.resolve(o.adaptersDir ?? 'adapters');
    checkRunOutput(adaptersDir, runId, o.overwrite);
    const stale = cleanStaleTemps(adaptersDir);
    if (stale.length && !o.quiet) process.stderr.write(`removed ${stale.length} unfinished temporary folder(s) of interrupted runs from ${adaptersDir}: ${stale.join(', ')}\n`);
  }
  const p = o.prepared ?? prepare(o);
  let stepSearch: StepSearchResult | null = null;
  let hyper = o.hyper;
  if (o.search) {
    if (strategy === 'iterative') throw new UserError(`--${o.search} auto searches one step for the whole forget set; use --strategy batch or fuzzy, or give --${o.search} a number`);
    splitValidation(p); // before the reported sets are measured: they must not hold validation items
    stepSearch = searchStep(p, { method: o.method, filter: o.target, hyper: o.hyper, param: o.search, budget: o.utilityBudget });
    hyper = { ...(o.hyper ?? {}), [o.search]: stepSearch.chosen };
  }
  const tm0 = performance.now();
  let before: Measurement;
  if (p.before) before = p.before;
  else {
    // the fine-tuned model as `unlearnkit eval` loads it (its file, with the run's LoRA adapter)
    before = p.before = measure(loadEvalModel(p.source.checkpoint, p.source.lora?.adapter).model, p.evalSets, { tokenizer: p.tokenizer });
  }
  let measureSeconds = (performance.now() - tm0) / 1000;
  const rec = o.evalEvery ? seriesRecorder({ data: p.dataset, tokenizer: p.tokenizer, every: o.evalEvery, label: `${o.method} ${o.target ?? 'all'}` }) : null;
  let lastStep = 0;
  const intermediate = rec !== null && strategy !== 'iterative' && !getMethod(o.method).needs.record;
  const onProgress = !rec
    ? o.onProgress
    : (e: ProgressEvent, c: UnlearnContext) => {
        o.onProgress?.(e, c);
        lastStep = Math.max(lastStep, e.step);
        if (intermediate && e.step % rec.every === 0 && e.step < e.total) rec.at(c.work, e.step, true);
      };
  rec?.at(p.model, 0, true);
  const { method, ctx } = makeContext(p, { method: o.method, filter: o.target, hyper, quiet: o.quiet, onProgress });
  try {
    let deltas: Map<string, Float32Array>;
    let settings: UnlearnRunResult['settings'];
    let iterative: IterativeResult | null = null;
    const tm = performance.now();
    if (strategy === 'iterative') {
      iterative = iterativeRemoval(method, ctx, { ...o.iterative, hyper, holdout: p.evalSets.sets.holdout });
      deltas = iterative.deltas;
      settings = { ...ctx.hyper, groupSize: o.iterative?.groupSize ?? 1, maxIterations: o.iterative?.maxIterations ?? 10, target: iterative.target, methodCalls: iterative.methodCalls };
    } else {
      const out = method.run(ctx);
      deltas = out.deltas;
      settings = out.settings;
    }
    const methodSeconds = (performance.now() - tm) / 1000;
    rec?.at(ctx.work, Math.max(1, lastStep), true);
    const norms = deltaNorms(deltas);
    const sel = p.selection;
    // the result of the after-measurement: measured on the artifact the run ships (below), or in memory with --no-adapter
    const assemble = (after: Measurement, measured: UnlearnRunResult['measured']): UnlearnRunResult => {
    const comparison = compareMeasurements(before, after);
    const summary = summarize(comparison);
    const judged = judgeOutcome(comparison);
    const utility = utilityCheck(comparison.sets, o.utilityBudget);
    const broken = budgetWarning(utility);
    let selection: UnlearnRunResult['selection'] = null;
    if (sel) {
      const { scores, ...rest } = sel.fuzzy;
      selection = { ...rest, top: scores.slice(0, 200), report: sel.report };
    }
    let iterativeOut: UnlearnRunResult['iterative'] = null;
    if (iterative) {
      const { deltas: _d, ...rest } = iterative;
      iterativeOut = rest;
    }
    const result: UnlearnRunResult = {
      runId,
      method: method.name,
      strategy,
      filter: ctx.filter,
      tensors: ctx.tensors,
      settings,
      forget: { count: ctx.forget.length, ids: ctx.forget.map((e) => e.id) },
      selection,
      before,
      after,
      comparison,
      summary,
      iterative: iterativeOut,
      deltaNorm: norms.total,
      changedTensors: norms.changed,
      adapter: null,
      outcome: judged.outcome,
      outcomeReason: judged.reason,
      warnings: broken ? [...p.warnings, broken] : p.warnings,
      stepSearch,
      utility,
      measured,
      seconds: { method: methodSeconds, measure: measureSeconds, total: 0 },
    };
    return result;
    };
    let result: UnlearnRunResult;
    if (o.noAdapter) {
      const ta = performance.now();
      const after = measure(ctx.work, p.evalSets, { tokenizer: p.tokenizer });
      measureSeconds += (performance.now() - ta) / 1000;
      result = assemble(after, 'in memory');
    } else {
      let built: UnlearnRunResult | null = null;
      const w = await writeUnlearnAdapter({
        adaptersDir: path.resolve(o.adaptersDir ?? 'adapters'),
        runId,
        baseCheckpoint: p.source.checkpoint,
        baseSha256: p.source.checkpointSha256,
        model: p.model,
        deltas,
        forget: ctx.forget,
        merged: o.merged,
        maxRank: o.maxRank,
        maxRelError: o.maxRelError,
        overwrite: o.overwrite,
        meta: {
          method: method.name,
          strategy,
          filter: ctx.filter,
          tensors: ctx.tensors,
          changedTensors: norms.changed,
          settings,
          stepSize: settings.eta ?? settings.lr ?? null,
          request: o.request ?? null,
          selection: sel ? { precision: sel.report.precision, recall: sel.report.recall, selected: sel.report.selected, decoysCaught: sel.report.decoys.caughtIds } : null,
          fromRun: p.source.dir ? path.resolve(p.source.dir) : null,
          dataset: p.dataset.name,
          deltaNorm: norms.total,
          stepSearch,
        },
        // measure the artifact as `unlearnkit eval --model <checkpoint> --adapter <it>` loads it
        finish: ({ dir, served, notes }) => {
          const ta = performance.now();
          const artifact = loadEvalModel(p.source.checkpoint, served ? path.join(dir, served.file) : p.source.lora?.adapter).model;
          const after = measure(artifact, p.evalSets, { tokenizer: p.tokenizer });
          measureSeconds += (performance.now() - ta) / 1000;
          const r = (built = assemble(after, served ? served.file : 'checkpoint'));
          return {
            meta: { metrics: r.summary, outcome: r.outcome, outcomeReason: r.outcomeReason, utility: r.utility },
            files: { 'result.json': r, 'report.md': runMarkdown(r, notes), ...(rec ? { [SERIES_FILE]: seriesText(rec.lines()) } : {}) },
          };
        },
      });
      const { meta: _meta, ...rest } = w;
      result = built!;
      result.adapter = rest;
    }
    result.seconds.total = (performance.now() - t0) / 1000;
    return result;
  } finally {
    ctx.pool.dispose();
  }
}

/** A short report of one run (report.md), rendered by report/document.ts; `notes`: the adapter writer's. */
export function runMarkdown(r: UnlearnRunResult, notes: string[] = r.adapter?.notes ?? []): string {
  const b: Block[] = [
    heading(1, `Unlearning run ${r.runId}`),
    paragraph(`method **${r.method}**, strategy ${r.strategy}, target \`${r.filter}\` (${r.tensors.length} tensors), ${r.forget.count} forget examples`),
    paragraph(`outcome: **${r.outcome}**: ${r.outcomeReason}`),
    paragraph(`settings: ${Object.entries(r.settings).map(([k, v]) => `${k}=${v}`).join(', ')}`),
  ];
  const test = (t: { t: number; p: number; dz: number } | null | undefined) => (t ? [t.t.toFixed(2), t.p.toExponential(2), t.dz.toFixed(2)] : ['-', '-', '-']);
  b.push(
    table({
      head: ['set', 'n', 'ppl before', 'ppl after', 'ratio', 'mean dloglik', 't', 'p', 'd_z'],
      rows: [
        ...r.comparison.sets.map((s) => [s.set, String(s.n), s.perplexityBefore.toFixed(3), s.perplexityAfter.toFixed(3), s.perplexityRatio.toFixed(3), s.meanLogLikChange.toFixed(4), ...test(s.test)]),
        ...r.comparison.rouge.map((x) => [`ROUGE-L ${x.set}`, String(x.n), x.meanBefore.toFixed(3), x.meanAfter.toFixed(3), '', '', ...test(x.test)]),
      ],
    }),
  );
  if (r.selection) {
    const s = r.selection.report;
    b.push(paragraph(`fuzzy request "${r.selection.request}": selected ${s.selected}, ${s.note ? `precision / recall not computed (${s.note})` : `precision ${s.precision.toFixed(3)}, recall ${s.recall.toFixed(3)}`}, decoys caught ${s.decoys.caught}/${s.decoys.total}`));
  }
  if (r.iterative) {
    const it = r.iterative;
    const reached = it.perExample.filter((e) => e.reached).length;
    b.push(paragraph(`iterative: target NLL ${it.target.toFixed(4)} (${it.targetSource}), ${reached}/${it.perExample.length} examples reached it, ${it.methodCalls} method calls`));
  }
  if (r.stepSearch) b.push(code(searchLines(r.stepSearch).join('\n')));
  if (r.utility) b.push(paragraph(`utility budget +${(r.utility.budget * 100).toFixed(1)}%: ${r.utility.within ? 'kept' : '**broken**'} (${Object.entries(r.utility.change).map(([k, x]) => `${k} perplexity ${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`).join(', ')})`));
  if (notes.length) b.push(list(notes.map((n) => `note: ${n}`)));
  return toMarkdown(b);
}

/** Text summary for the terminal. */
export function runSummaryText(r: UnlearnRunResult): string {
  const lines =
    r.outcome === 'not-unlearned'
      ? [`NOT unlearned (outcome: not-unlearned): ${r.outcomeReason}`, `  ran ${r.method} (${r.strategy}) on '${r.filter}' for ${r.forget.count} forget examples in ${r.seconds.method.toFixed(2)} s (|delta| ${r.deltaNorm.toExponential(3)})`]
      : [`unlearned ${r.forget.count} examples with ${r.method} (${r.strategy}) on '${r.filter}' in ${r.seconds.method.toFixed(2)} s (|delta| ${r.deltaNorm.toExponential(3)})`];
  if (r.stepSearch) lines.push(...searchLines(r.stepSearch).map((l) => `  ${l}`));
  lines.push(...formatComparison(r.comparison));
  if (r.selection) {
    const s = r.selection.report;
    lines.push(`  fuzzy: selected ${s.selected} items, ${s.note ? `precision / recall not computed (${s.note})` : `precision ${s.precision.toFixed(3)}, recall ${s.recall.toFixed(3)}`}, decoys caught ${s.decoys.caught}/${s.decoys.total}`);
  }
  if (r.iterative) {
    const reached = r.iterative.perExample.filter((e) => e.reached).length;
    lines.push(`  iterative: ${reached}/${r.iterative.perExample.length} reached the target NLL ${r.iterative.target.toFixed(3)} in ${r.iterative.methodCalls} method calls`);
  }
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  if (r.adapter) {
    lines.push(`  adapter: ${r.adapter.dir}${r.adapter.adapterPath ? '' : ' (no adapter.gguf)'}${r.adapter.mergedPath ? ' + merged.gguf' : ''}`);
    for (const n of r.adapter.notes) lines.push(`  note: ${n}`);
  }
  return lines.join('\n');
}
