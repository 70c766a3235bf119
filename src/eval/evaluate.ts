/**
 * Evaluation runs: compute the requested metrics of a model (optionally with an adapter) on a
 * dataset and write reports/<run-id>/:
 *
 *   run.json      what was evaluated (model and adapter with sha256, dataset hash, splits, limit,
 *                 label/method/target for reports) and the device and versions
 *   items.json    per-item results { metrics: { <metric>: { <split>: ItemResult[] } } }
 *   summary.json  per-split and overall summaries, `completed`: the finished metrics, `skipped`:
 *                 default metrics (or splits) the data could not feed and why, `notes`: parts of
 *                 planned metrics not computed (TOFU's forget quality without a reference, ...)
 *   series.json   (optional) metric values over unlearning steps, from makeIntervalEvaluator
 *
 * The run's report (report.md, report.html, charts/) is written by the caller with src/report's
 * writeRunReport (`unlearnkit eval` does unless --no-report): report/ sits above eval/.
 *
 * items.json and summary.json are rewritten atomically (temporary file + rename) after EACH metric,
 * items first. A metric counts as finished only once summary.json lists it, so a run killed at any
 * point leaves valid files, and running the same evaluation again (same --out) reuses the finished
 * metrics and computes only the rest. A folder holding an evaluation of another model, adapter or
 * dataset is refused; a metric finished with other options or splits is recomputed.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { CausalLM } from '../model/model.ts';
import { tokenizerFromGguf, type Tokenizer } from '../model/tokenizer/index.ts';
import { loadEvalModel } from './loadModel.ts';
import { planEvaluation, type EvalPlan, type PlanInput } from './plan.ts';
import { describeEnvironment, type Environment } from './environment.ts';
import type { EvalSplit, ItemResult, MetricContext, MetricResult, ProgressEvent, SkippedMetric } from './types.ts';
import type { ReportSeries } from './types.ts';
import { readJsonIfExists, writeJsonAtomic, ensureDir, sha256File } from '../util/fs.ts';
import { outputPath } from '../util/paths.ts';
import { UserError } from '../util/errors.ts';

const RUN_FORMAT = 1;

export interface RunMeta {
  kind: 'eval';
  format: number;
  runId: string;
  /** Name shown in reports (default: the run id). */
  label: string;
  /** Unlearning method (e.g. "first-epoch-ascent"); reports group effect sizes by it. */
  method?: string;
  /** Layer target / parameter filter (e.g. "embedding", "block:3"); reports draw a method x target heatmap. */
  target?: string;
  /** Unlearning step the evaluated model was taken at. */
  step?: number;
  model: string;
  modelSha256: string;
  adapter?: string;
  adapterSha256?: string;
  adapterScale?: number;
  data: string;
  dataHash: string;
  /** The dataset's format, files' sha256 and the options it was read with (a TOFU folder's chosen files). */
  dataset?: { format: string; sha256: string; options: Record<string, unknown> };
  limit: number | null;
  configHash: string;
  createdAt: string;
  updatedAt: string;
  environment: Environment;
}

export interface RunSummaryFile {
  runId: string;
  configHash: string;
  /** Finished metrics, in the order they finished. */
  completed: string[];
  /** Default metrics (or their splits) the data could not feed, and why (the latest evaluation's plan). */
  skipped?: SkippedMetric[];
  /** Parts of planned metrics that are not computed, and why. */
  notes?: string[];
  metrics: Record<string, Omit<MetricResult, 'splits'> & { splits: Partial<Record<EvalSplit, Record<string, number>>> }>;
}

export interface RunItemsFile {
  runId: string;
  configHash: string;
  metrics: Record<string, Partial<Record<EvalSplit, ItemResult[]>>>;
}

export interface EvaluateOptions extends PlanInput {
  /** The GGUF model to evaluate. */
  modelPath: string;
  /** A LoRA adapter GGUF (merged in memory) or a full model GGUF evaluated instead (see loadModel.ts). */
  adapter?: string;
  adapterScale?: number;
  /** Run folder (default reports/<runId>). */
  out?: string;
  /** Default: the name of `out`, else eval-<timestamp>. */
  runId?: string;
  label?: string;
  method?: string;
  target?: string;
  step?: number;
  /** Metric values over unlearning steps (makeIntervalEvaluator's series()), stored as series.json. */
  series?: ReportSeries[];
  /** The interval evaluator that ran during unlearning (makeIntervalEvaluator); its series are stored like `series`. */
  intervalCallback?: { series(): ReportSeries[] };
  onProgress?: (e: ProgressEvent) => void;
  /** Stops between metrics (finished metrics stay written). */
  signal?: AbortSignal;
}

export interface EvaluateResult {
  runId: string;
  dir: string;
  results: Record<string, MetricResult>;
  /** Metrics computed by this call. */
  computed: string[];
  /** Finished metrics found in the folder and kept. */
  reused: string[];
  /** Metrics (or splits) left out because the data lacks what they need. */
  skipped: SkippedMetric[];
  /** Parts of metrics not computed, and why. */
  notes: string[];
}

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

/** Turn a MetricResult into its summary.json and items.json parts. */
function splitResult(r: MetricResult): { summary: RunSummaryFile['metrics'][string]; items: RunItemsFile['metrics'][string] } {
  const summary = { metric: r.metric, optionsKey: r.optionsKey, seconds: r.seconds, completedAt: r.completedAt, summary: r.summary, splits: {} as Partial<Record<EvalSplit, Record<string, number>>> };
  const items: RunItemsFile['metrics'][string] = {};
  for (const [s, v] of Object.entries(r.splits) as Array<[EvalSplit, { items: ItemResult[]; summary: Record<string, number> }]>) {
    summary.splits[s] = v.summary;
    items[s] = v.items;
  }
  return { summary, items };
}

/** Rebuild a MetricResult from the two files (JSON null -> NaN). */
export function joinResult(summary: RunSummaryFile['metrics'][string], items: RunItemsFile['metrics'][string] | undefined): MetricResult {
  const splits: MetricResult['splits'] = {};
  for (const [s, sum] of Object.entries(summary.splits) as Array<[EvalSplit, Record<string, number>]>) {
    const its = (items?.[s] ?? []).map((it) => ({ ...it, values: Object.fromEntries(Object.entries(it.values).map(([k, v]) => [k, v ?? NaN])) }));
    splits[s] = { items: its, summary: Object.fromEntries(Object.entries(sum).map(([k, v]) => [k, v ?? NaN])) };
  }
  return { metric: summary.metric, optionsKey: summary.optionsKey, seconds: summary.seconds, completedAt: summary.completedAt, summary: summary.summary, splits };
}

interface RunLoopHooks {
  reuse?: (name: string, optionsKey: string) => MetricResult | null;
  onResult?: (r: MetricResult) => void;
  onProgress?: (e: ProgressEvent) => void;
  signal?: AbortSignal;
}

/** Compute (or reuse) every planned metric in order. `getModel` is called only if something is computed. */
async function runPlan(plan: EvalPlan, getModel: () => { model: CausalLM; tokenizer: Tokenizer }, hooks: RunLoopHooks): Promise<{ results: Map<string, MetricResult>; computed: string[]; reused: string[] }> {
  const results = new Map<string, MetricResult>();
  const computed: string[] = [];
  const reused: string[] = [];
  const total = plan.metrics.length;
  let ctx: MetricContext | null = null;
  for (let index = 0; index < plan.metrics.length; index++) {
    const pm = plan.metrics[index]!;
    const name = pm.def.name;
    const old = hooks.reuse?.(name, pm.optionsKey) ?? null;
    if (old) {
      results.set(name, old);
      reused.push(name);
      hooks.onProgress?.({ metric: name, phase: 'reused', index, total });
      continue;
    }
    if (hooks.signal?.aborted) throw new UserError(`evaluation cancelled before ${name}; finished metrics are kept`);
    if (!ctx) {
      const m = getModel();
      ctx = {
        model: m.model,
        tokenizer: m.tokenizer,
        data: plan.data,
        options: plan.options,
        results,
        cache: new Map(),
        log: (message) => hooks.onProgress?.({ metric: name, phase: 'info', index, total, message }),
      };
    }
    ctx.log = (message) => hooks.onProgress?.({ metric: name, phase: 'info', index, total, message });
    hooks.onProgress?.({ metric: name, phase: 'start', index, total });
    const t0 = performance.now();
    const c = await pm.def.compute(ctx, pm.splits);
    const r: MetricResult = { metric: name, optionsKey: pm.optionsKey, seconds: (performance.now() - t0) / 1000, completedAt: new Date().toISOString(), ...c };
    results.set(name, r);
    computed.push(name);
    hooks.onResult?.(r);
    hooks.onProgress?.({ metric: name, phase: 'done', index, total, seconds: r.seconds });
  }
  return { results, computed, reused };
}

export interface EvaluateModelOptions extends PlanInput {
  model: CausalLM;
  /** Default: the tokenizer of the model's GGUF file. */
  tokenizer?: Tokenizer;
  onProgress?: (e: ProgressEvent) => void;
}

/** Evaluate an in-memory model; nothing is written. */
export async function evaluateModel(o: EvaluateModelOptions): Promise<Record<string, MetricResult>> {
  const plan = planEvaluation(o);
  reportPlan(plan, o.onProgress);
  const tokenizer = o.tokenizer ?? (o.model.file ? tokenizerFromGguf(o.model.file) : null);
  if (!tokenizer) throw new UserError('evaluateModel: the model has no GGUF file to take a tokenizer from; pass `tokenizer`');
  const { results } = await runPlan(plan, () => ({ model: o.model, tokenizer }), { onProgress: o.onProgress });
  return Object.fromEntries(results);
}

/** Evaluate a model file into a resumable run folder (see module doc). */
export async function evaluate(o: EvaluateOptions): Promise<EvaluateResult> {
  if (!o.modelPath) throw new UserError('evaluate: modelPath is required');
  if (!fs.existsSync(o.modelPath)) throw new UserError(`model file not found: ${o.modelPath}`);
  if (o.adapter && !fs.existsSync(o.adapter)) throw new UserError(`adapter file not found: ${o.adapter}`);
  const plan = planEvaluation(o);
  const runId = o.runId ?? (o.out ? path.basename(path.resolve(o.out)) : `eval-${stamp()}`);
  if (!/^[A-Za-z0-9._-]+$/.test(runId)) throw new UserError(`run id '${runId}' may only hold letters, digits, '.', '_' and '-'`);
  const dir = path.resolve(o.out ?? outputPath('reports', runId));
  const modelSha256 = sha256File(o.modelPath);
  const adapterSha256 = o.adapter ? sha256File(o.adapter) : undefined;
  const configHash = crypto
    .createHash('sha256')
    .update(JSON.stringify({ modelSha256, adapterSha256: adapterSha256 ?? null, adapterScale: o.adapter ? (o.adapterScale ?? 1) : null, dataHash: plan.dataHash }))
    .digest('hex');

  const runPath = path.join(dir, 'run.json');
  const summaryPath = path.join(dir, 'summary.json');
  const itemsPath = path.join(dir, 'items.json');
  const prev = readJsonIfExists<RunMeta | null>(runPath, null);
  if (prev && prev.configHash !== configHash) {
    throw new UserError(`${dir} holds an evaluation of another model, adapter, dataset or --limit (${prev.model}${prev.adapter ? ' + ' + prev.adapter : ''}, ${prev.data}); choose another --out or delete it`);
  }
  ensureDir(dir);
  const environment = describeEnvironment({ engine: true });
  const now = new Date().toISOString();
  const meta: RunMeta = {
    kind: 'eval',
    format: RUN_FORMAT,
    runId,
    label: o.label ?? prev?.label ?? runId,
    method: o.method ?? prev?.method,
    target: o.target ?? prev?.target,
    step: o.step ?? prev?.step,
    model: path.resolve(o.modelPath),
    modelSha256,
    adapter: o.adapter ? path.resolve(o.adapter) : undefined,
    adapterSha256,
    adapterScale: o.adapter ? (o.adapterScale ?? 1) : undefined,
    data: plan.dataset.name,
    dataHash: plan.dataHash,
    dataset: { format: plan.dataset.format, sha256: plan.dataset.sha256, options: { ...plan.dataset.options } },
    limit: plan.limit,
    configHash,
    createdAt: prev?.createdAt ?? now,
    updatedAt: now,
    environment,
  };
  writeJsonAtomic(runPath, meta);

  const summaryFile: RunSummaryFile = readJsonIfExists<RunSummaryFile | null>(summaryPath, null) ?? { runId, configHash, completed: [], metrics: {} };
  const itemsFile: RunItemsFile = readJsonIfExists<RunItemsFile | null>(itemsPath, null) ?? { runId, configHash, metrics: {} };
  if (summaryFile.configHash !== configHash || itemsFile.configHash !== configHash) {
    throw new UserError(`${dir}: summary.json or items.json belongs to another evaluation; delete the folder to start over`);
  }
  summaryFile.skipped = plan.skipped;
  summaryFile.notes = plan.notes;
  writeJsonAtomic(summaryPath, summaryFile);
  reportPlan(plan, o.onProgress);
  const series = [...(o.series ?? []), ...(o.intervalCallback?.series() ?? [])];
  if (series.length) writeJsonAtomic(path.join(dir, 'series.json'), series);

  const run = await runPlan(
    plan,
    () => {
      const em = loadEvalModel(o.modelPath, o.adapter, { adapterScale: o.adapterScale });
      return { model: em.model, tokenizer: tokenizerFromGguf(em.model.file!) };
    },
    {
      signal: o.signal,
      onProgress: o.onProgress,
      reuse: (name, optionsKey) => {
        const s = summaryFile.metrics[name];
        if (!s || !summaryFile.completed.includes(name) || s.optionsKey !== optionsKey) return null;
        const its = itemsFile.metrics[name];
        const needsItems = Object.keys(s.splits).length > 0;
        if (needsItems && (!its || Object.keys(s.splits).some((sp) => !its[sp as EvalSplit]))) return null;
        return joinResult(s, its);
      },
      onResult: (r) => {
        const parts = splitResult(r);
        itemsFile.metrics[r.metric] = parts.items;
        writeJsonAtomic(itemsPath, itemsFile);
        summaryFile.metrics[r.metric] = parts.summary;
        summaryFile.completed = [...summaryFile.completed.filter((m) => m !== r.metric), r.metric];
        writeJsonAtomic(summaryPath, summaryFile);
      },
    },
  );

  return { runId, dir, results: Object.fromEntries(run.results), computed: run.computed, reused: run.reused, skipped: plan.skipped, notes: plan.notes };
}

/** Tell the caller, before anything is computed, what will not be (phase 'skipped' events). */
function reportPlan(plan: EvalPlan, onProgress?: (e: ProgressEvent) => void): void {
  const total = plan.metrics.length;
  for (const k of plan.skipped) onProgress?.({ metric: k.metric, phase: 'skipped', index: -1, total, message: k.split ? `${k.split} split skipped: ${k.reason}` : `skipped: ${k.reason}` });
  for (const n of plan.notes) onProgress?.({ metric: n.slice(0, n.indexOf(':')), phase: 'skipped', index: -1, total, message: n.slice(n.indexOf(':') + 2) });
}
