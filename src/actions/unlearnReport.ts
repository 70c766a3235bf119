/**
 * `unlearnkit unlearn --report`: from a finished unlearning run folder (adapters/<run-id>/) to its
 * HTML report in one step. The fine-tuned model (before), the served artifact (after:
 * unlearn/adapter.ts servedArtifact, the file serve / eval / the TUI apply) and, when the fine-tune
 * run records one (retain-model.json), the retain-only reference are evaluated by `unlearnkit eval`'s
 * own code (eval/evaluate.ts; perplexity and ROUGE on the splits and items the run measured:
 * eval/items.ts with the run's limit) into `<run>/report/<name>/`, and the report layer renders
 * `<run>/report/report.html` with, at the top, a verdict computed from the run's own result.json
 * (outcome, forget perplexity change with its paired-test p, retain / general change against the
 * utility budget), the reference rows and 3 greedy sample generations (eval's ROUGE answers, the
 * forget questions) before and after.
 *
 * Lives in actions/ because it joins unlearn/ and report/ (unlearn/ may not import report/).
 */
import fs from 'node:fs';
import path from 'node:path';
import '../eval/metrics.ts';
import { evaluate } from '../eval/evaluate.ts';
import { loadRun, type LoadedRun } from '../eval/run.ts';
import { retainReferenceFromRun } from '../eval/reference.ts';
import type { EvalSplit, ProgressEvent } from '../eval/types.ts';
import { resolveDataset, findRunDir } from '../data/record.ts';
import type { DatasetOptions } from '../data/tofu.ts';
import { readAdapterMeta, servedArtifact } from '../unlearn/adapter.ts';
import type { UnlearnRunResult } from '../unlearn/run.ts';
import { buildReport } from '../report/build.ts';
import { writeReport } from '../report/write.ts';
import type { ReportHeadline } from '../report/types.ts';
import { UserError } from '../util/errors.ts';
import { readJsonObject } from '../util/fs.ts';

export interface UnlearnReportOptions {
  /** The unlearning run folder (adapters/<run-id>/). */
  runDir: string;
  /** Dataset as given to unlearn (default: the one the fine-tune run recorded). */
  data?: string;
  dataOptions?: DatasetOptions;
  onProgress?: (e: ProgressEvent) => void;
}

export interface UnlearnReportResult {
  html: string;
  markdown: string;
  /** The evaluation run folders: fine-tuned, unlearned, retain-only (when recorded). */
  evalDirs: string[];
  verdict: string;
  notes: string[];
}

/** Splits the report evaluates, in this order, when the run measured them. */
const REPORT_SPLITS: EvalSplit[] = ['forget', 'retain', 'holdout', 'general'];
/** Sample generations shown. */
const SAMPLES = 3;

/**
 * The fine-tuned model the run started from, as eval loads it: the checkpoint, or for a LoRA
 * fine-tune (run.json `lora`) the frozen base with the fine-tune's adapter; and the run folder.
 */
function startingModel(meta: Record<string, unknown>, checkpoint: string): { runDir: string | null; adapter?: string } {
  const runDir = typeof meta.fromRun === 'string' ? findRunDir(meta.fromRun) : null;
  const run = runDir ? readJsonObject(path.join(runDir, 'run.json')) : null;
  const lora = run?.lora as { adapter?: string } | undefined;
  if (!lora) return { runDir };
  const adapter = path.join(runDir!, lora.adapter ?? 'adapter.gguf');
  if (!fs.existsSync(adapter)) throw new UserError(`the LoRA fine-tune ${runDir} has no adapter ${adapter} any more; cannot evaluate the model before unlearning over ${checkpoint}`);
  return { runDir, adapter };
}

function fmtNum(x: number | undefined | null, digits = 3): string {
  return x === undefined || x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits);
}

function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`;
}

/** The verdict paragraph: outcome, forget perplexity change with p, utility change against the budget. */
export function unlearnVerdict(r: Pick<UnlearnRunResult, 'runId' | 'method' | 'filter' | 'outcome' | 'outcomeReason' | 'summary' | 'utility' | 'measured'>): string {
  const f = r.summary.forget;
  const parts = [`Run ${r.runId} (${r.method} on ${r.filter}, measured on ${r.measured}): ${r.outcome === 'unlearned' ? 'UNLEARNED' : 'NOT UNLEARNED'}.`];
  if (f) parts.push(`Forget perplexity ${fmtNum(f.perplexityBefore)} -> ${fmtNum(f.perplexityAfter)} (paired t-test on per-item NLL: t = ${fmtNum(f.t, 2)}, p = ${f.p === null ? 'n/a' : f.p.toExponential(2)}).`);
  if (r.outcome !== 'unlearned') parts.push(`Why: ${r.outcomeReason}.`);
  if (r.utility) {
    const ch = Object.entries(r.utility.change).map(([s, v]) => `${s} perplexity ${fmtNum(r.summary[s]?.perplexityBefore)} -> ${fmtNum(r.summary[s]?.perplexityAfter)} (${pct(v)})`);
    parts.push(`Utility: ${ch.join(', ')}; ${r.utility.within ? 'within' : 'OVER'} the utility budget of ${pct(r.utility.budget)} (largest rise ${pct(r.utility.cost)}).`);
  } else parts.push('Utility: no retain or general set was measured.');
  return parts.join(' ');
}

function perplexityOf(run: LoadedRun, split: string): string {
  return fmtNum(run.results.perplexity?.splits[split as EvalSplit]?.summary.perplexity);
}

function rougeOf(run: LoadedRun, split: string): string {
  return fmtNum(run.results.rouge?.splits[split as EvalSplit]?.summary.rougeL);
}

/** Evaluate before / after (/ retain-only) and write `<runDir>/report/report.html`. */
export async function unlearnReport(o: UnlearnReportOptions): Promise<UnlearnReportResult> {
  const runDir = path.resolve(o.runDir);
  const result = readJsonObject(path.join(runDir, 'result.json')) as unknown as UnlearnRunResult | null;
  if (!result || !result.summary || !result.before?.sets) throw new UserError(`${runDir}/result.json is missing or has no measurement; cannot report this run`);
  const meta = readAdapterMeta(runDir);
  const checkpoint = meta.base.checkpoint;
  if (!checkpoint || !fs.existsSync(checkpoint)) throw new UserError(`unlearning run ${result.runId}: its fine-tuned model ${checkpoint} no longer exists`);
  const served = servedArtifact(runDir);
  const sets = result.before.sets;
  const splits = REPORT_SPLITS.filter((s) => sets[s]?.ids.length);
  // the run's limit: every measured split holds min(limit, its size) items, so the largest is the limit (or all)
  const limit = Math.max(...splits.map((s) => sets[s]!.ids.length));
  const data = resolveDataset(o.data, o.dataOptions ?? {}, [checkpoint]);
  const notes: string[] = [`evaluated with unlearnkit eval's code on ${splits.join(', ')}, ${limit} items per split at most (the run's evaluation limit); ${data.note}`];
  const out = path.join(runDir, 'report');
  const common = { data: data.dataset, metrics: ['perplexity', 'rouge'], splits, limit, method: result.method, target: result.filter, onProgress: o.onProgress };
  const start = startingModel(meta, checkpoint);
  const before = await evaluate({ ...common, modelPath: checkpoint, adapter: start.adapter, out: path.join(out, 'finetuned'), label: 'fine-tuned (before)' });
  const after = await evaluate({ ...common, modelPath: checkpoint, adapter: served.path, out: path.join(out, 'unlearned'), label: `unlearned (${path.basename(served.path)})` });
  const evalDirs = [before.dir, after.dir];
  const forgetIds = sets.forget?.ids ?? [];
  const ref = retainReferenceFromRun([start.runDir ?? undefined, checkpoint], forgetIds);
  notes.push(ref.note);
  if (ref.reference) {
    const r = await evaluate({ ...common, modelPath: ref.reference.model, adapter: ref.reference.adapter, out: path.join(out, 'retain-only'), label: 'retain-only reference' });
    evalDirs.push(r.dir);
  }
  const runs = evalDirs.map(loadRun);
  const evalForget = runs[0]!.results.perplexity?.splits.forget?.items.map((i) => i.id) ?? [];
  if (evalForget.join('\n') !== forgetIds.join('\n')) notes.push(`the run's forget set (${forgetIds.length} items) is not the dataset's forget split that eval scores (${evalForget.length} items): the verdict uses the run's own numbers, the tables eval's`);

  const references: ReportHeadline['references'] = {
    columns: [...splits.map((s) => `${s} perplexity`), ...splits.filter((s) => runs[0]!.results.rouge?.splits[s]).map((s) => `${s} ROUGE-L`)],
    rows: runs.map((run) => ({
      label: run.meta.label,
      values: [...splits.map((s) => perplexityOf(run, s)), ...splits.filter((s) => runs[0]!.results.rouge?.splits[s]).map((s) => rougeOf(run, s))],
    })),
  };
  const answers = (run: LoadedRun) => new Map((run.results.rouge?.splits.forget?.items ?? []).map((i) => [i.id, i.text ?? {}]));
  const [ab, aa] = [answers(runs[0]!), answers(runs[1]!)];
  const facts = new Map(data.dataset.evalFacts('forget').map((f) => [f.id, f]));
  const samples = [...ab.keys()].slice(0, SAMPLES).map((id) => ({
    id,
    question: facts.get(id)?.question ?? id,
    reference: ab.get(id)!.reference ?? facts.get(id)?.answer ?? '',
    before: ab.get(id)!.answer ?? '',
    after: aa.get(id)?.answer ?? '',
  }));
  const verdict = unlearnVerdict(result);
  const input = buildReport(runs, { title: `Unlearning run ${result.runId}`, baseline: 0 });
  input.headline = { verdict, references, samples };
  input.notes = [...notes, ...(input.notes ?? [])];
  const w = await writeReport(input, out);
  return { html: w.html, markdown: w.markdown, evalDirs, verdict, notes };
}
