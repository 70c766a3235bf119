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
import { writeUnlearnAdapter, makeRunId, checkRunId, type AdapterWriteResult } from './adapter.ts';
import { deltaNorms } from './deltas.ts';
import { SessionPool } from './sessions.ts';
import type { FuzzyReport, FuzzySelection } from './fuzzy.ts';
import type { ProgressEvent, UnlearnContext, UnlearnHyper } from './types.ts';
import { UserError } from '../util/errors.ts';

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
  quiet?: boolean;
  /** Each method step, with the run's context (ctx.work: the working weights, ctx.tensors: the target). */
  onProgress?: (e: ProgressEvent, ctx: UnlearnContext) => void;
  /** Reuse a prepared run (tests, sweeps). */
  prepared?: Prepared;
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
  warnings: string[];
  seconds: { method: number; measure: number; total: number };
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
  const p = o.prepared ?? prepare(o);
  const tm0 = performance.now();
  let before: Measurement;
  if (p.before) before = p.before;
  else {
    const pool0 = new SessionPool(p.model);
    try {
      before = p.before = measure(pool0, p.evalSets, { tokenizer: p.tokenizer });
    } finally {
      pool0.dispose();
    }
  }
  let measureSeconds = (performance.now() - tm0) / 1000;
  const { method, ctx } = makeContext(p, { method: o.method, filter: o.target, hyper: o.hyper, quiet: o.quiet, onProgress: o.onProgress });
  try {
    let deltas: Map<string, Float32Array>;
    let settings: UnlearnRunResult['settings'];
    let iterative: IterativeResult | null = null;
    const tm = performance.now();
    if (strategy === 'iterative') {
      iterative = iterativeRemoval(method, ctx, { ...o.iterative, hyper: o.hyper, holdout: p.evalSets.sets.holdout });
      deltas = iterative.deltas;
      settings = { ...ctx.hyper, groupSize: o.iterative?.groupSize ?? 1, maxIterations: o.iterative?.maxIterations ?? 10, target: iterative.target, methodCalls: iterative.methodCalls };
    } else {
      const out = method.run(ctx);
      deltas = out.deltas;
      settings = out.settings;
    }
    const methodSeconds = (performance.now() - tm) / 1000;
    const ta = performance.now();
    const after = measure(ctx.pool, p.evalSets, { tokenizer: p.tokenizer });
    measureSeconds += (performance.now() - ta) / 1000;
    const comparison = compareMeasurements(before, after);
    const summary = summarize(comparison);
    const norms = deltaNorms(deltas);
    const sel = p.selection;
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
      warnings: p.warnings,
      seconds: { method: methodSeconds, measure: measureSeconds, total: 0 },
    };
    if (!o.noAdapter) {
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
          metrics: summary,
          deltaNorm: norms.total,
        },
        extraFiles: { 'result.json': result, 'report.md': runMarkdown(result) },
      });
      const { meta: _meta, ...rest } = w;
      result.adapter = rest;
    }
    result.seconds.total = (performance.now() - t0) / 1000;
    return result;
  } finally {
    ctx.pool.dispose();
  }
}

/** A short Markdown report of one run. */
export function runMarkdown(r: UnlearnRunResult): string {
  const lines = [
    `# Unlearning run ${r.runId}`,
    '',
    `method **${r.method}**, strategy ${r.strategy}, target \`${r.filter}\` (${r.tensors.length} tensors), ${r.forget.count} forget examples`,
    '',
    `settings: ${Object.entries(r.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
    '',
    '| set | n | ppl before | ppl after | ratio | mean dloglik | t | p | d_z |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of r.comparison.sets) {
    const t = s.test;
    lines.push(
      `| ${s.set} | ${s.n} | ${s.perplexityBefore.toFixed(3)} | ${s.perplexityAfter.toFixed(3)} | ${s.perplexityRatio.toFixed(3)} | ${s.meanLogLikChange.toFixed(4)} | ${t ? t.t.toFixed(2) : '-'} | ${t ? t.p.toExponential(2) : '-'} | ${t ? t.dz.toFixed(2) : '-'} |`,
    );
  }
  for (const x of r.comparison.rouge) {
    lines.push(`| ROUGE-L ${x.set} | ${x.n} | ${x.meanBefore.toFixed(3)} | ${x.meanAfter.toFixed(3)} | | | ${x.test ? x.test.t.toFixed(2) : '-'} | ${x.test ? x.test.p.toExponential(2) : '-'} | ${x.test ? x.test.dz.toFixed(2) : '-'} |`);
  }
  if (r.selection) {
    const s = r.selection.report;
    lines.push('', `fuzzy request "${r.selection.request}": selected ${s.selected}, ${s.note ? `precision / recall not computed (${s.note})` : `precision ${s.precision.toFixed(3)}, recall ${s.recall.toFixed(3)}`}, decoys caught ${s.decoys.caught}/${s.decoys.total}`);
  }
  if (r.iterative) {
    const it = r.iterative;
    const reached = it.perExample.filter((e) => e.reached).length;
    lines.push('', `iterative: target NLL ${it.target.toFixed(4)} (${it.targetSource}), ${reached}/${it.perExample.length} examples reached it, ${it.methodCalls} method calls`);
  }
  if (r.adapter?.notes.length) lines.push('', ...r.adapter.notes.map((n) => `note: ${n}`));
  return lines.join('\n') + '\n';
}

/** Text summary for the terminal. */
export function runSummaryText(r: UnlearnRunResult): string {
  const lines = [`unlearned ${r.forget.count} examples with ${r.method} (${r.strategy}) on '${r.filter}' in ${r.seconds.method.toFixed(2)} s (|delta| ${r.deltaNorm.toExponential(3)})`];
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
