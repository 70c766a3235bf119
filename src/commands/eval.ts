/**
 * Evaluation and report commands:
 *   unlearnkit eval --model M [--adapter A] --data D [--metrics ...] [--out DIR]   (resumable run folder)
 *   unlearnkit report RUN... [--out DIR] [--open]                                    (report.md + report.html)
 *   unlearnkit compare RUN_A RUN_B                                                   (paired statistics)
 */
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import '../eval/metrics.ts';
import { evaluate } from '../eval/evaluate.ts';
import { listMetrics } from '../eval/registry.ts';
import { loadRun } from '../eval/run.ts';
import { readSeries } from '../eval/series.ts';
import { EVAL_SPLITS, type EvalSplit, type ProgressEvent } from '../eval/types.ts';
import { compareRuns } from '../report/build.ts';
import { writeRunReport } from '../report/write.ts';
import { fmt } from '../report/render.ts';
import { fmtP } from '../report/document.ts';
import type { ReportComparison } from '../report/types.ts';
import { UserError } from '../util/errors.ts';
import { checkWritableDir } from '../util/fs.ts';
import { outputPath } from '../util/paths.ts';
import { resolveAdapterForModel } from '../unlearn/adapter.ts';
import { deviceOption, resolveDevice } from './deviceOption.ts';
import { commanderOption, EVAL, readOptions } from '../options/index.ts';
import { addDatasetOptions, datasetOptionsOf } from './datasetOptions.ts';
import { resolveDataset } from '../data/record.ts';
import { retainReferenceFromRun } from '../eval/reference.ts';
import type { SummaryEntry } from '../eval/types.ts';

function list(v: string | undefined): string[] | undefined {
  if (!v) return undefined;
  const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
  return xs.length ? xs : undefined;
}

function int(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UserError(`${what} must be an integer, got '${v}'`);
  return n;
}

function num(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UserError(`${what} must be a number, got '${v}'`);
  return n;
}

function progressPrinter(quiet: boolean): (e: ProgressEvent) => void {
  return (e) => {
    if (quiet) return;
    const tag = `[${e.index + 1}/${e.total}] ${e.metric}`;
    if (e.phase === 'reused') process.stderr.write(`${tag}: finished earlier, kept\n`);
    else if (e.phase === 'start') process.stderr.write(`${tag} ...\n`);
    else if (e.phase === 'info') process.stderr.write(`    ${e.message}\n`);
    else if (e.phase === 'done') process.stderr.write(`${tag}: done in ${e.seconds?.toFixed(1)} s\n`);
    else if (e.phase === 'skipped') process.stderr.write(`not computed: ${e.metric}: ${e.message}\n`);
  };
}

/** "0.4123 (over retain, real_authors)" / "not computed (reason)" for a TOFU summary entry. */
function entryText(e: SummaryEntry | undefined): string {
  if (!e) return 'not computed';
  if (e.value === null) return `not computed (${e.reason ?? 'unknown reason'})`;
  return `${fmt(e.value)}${Array.isArray(e.over) ? ` (over ${e.over.join(', ')})` : ''}`;
}

/** A plain-text table (columns padded). */
function textTable(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i < 3 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

function comparisonRows(cs: ReportComparison[]): string[][] {
  return cs.map((c) => [
    c.metric,
    c.split,
    c.keyLabel,
    String(c.n),
    fmt(c.meanBefore),
    fmt(c.meanAfter),
    fmt(c.meanDiff),
    `[${fmt(c.ci95[0])}, ${fmt(c.ci95[1])}]`,
    fmt(c.t),
    String(c.df),
    fmtP(c.p),
    fmt(c.dz, 3),
    fmt(c.dav, 3),
  ]);
}

const COMPARISON_HEAD = ['metric', 'split', 'value', 'n', 'mean A', 'mean B', 'B − A', '95% CI', 't', 'df', 'p', 'd_z', 'd_av'];

function openInBrowser(file: string): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(cmd, [file], { detached: true, stdio: 'ignore' });
    child.on('error', () => process.stderr.write(`could not start ${cmd}; open ${file} in a browser\n`));
    child.unref();
  } catch {
    process.stderr.write(`could not start ${cmd}; open ${file} in a browser\n`);
  }
}

export function register(program: Command): void {
  const evalCmd = program
    .command('eval')
    .description('evaluate a model (+ adapter) on a dataset: perplexity, ROUGE, answer probability, truth ratio, forget quality, membership inference; resumable')
    .option('--model <gguf>', 'model to evaluate')
    .option('--adapter <gguf>', 'LoRA adapter (applied as llama.cpp applies it: W x + s B (A x), the base in its stored types) or a full model file evaluated instead')
    .addOption(commanderOption(EVAL.adapterScale))
    .option('--data <dataset>', 'dataset name or path (default: the one the run behind --model / --adapter recorded, else dave)')
    .option('--metrics <list>', 'comma-separated metrics (default: all; forget-quality needs --retain-model); see --list-metrics')
    .option('--splits <list>', `splits for the split-selectable metrics (${EVAL_SPLITS.join(', ')}); default: each metric's own`)
    .addOption(commanderOption(EVAL.limit))
    .option('--retain-model <path>', 'retain-only reference for forget quality and privleak: a GGUF model, a fine-tune run folder (its retain-model.json, else its model) or an evaluation run folder (default: the reference the run records)')
    .addOption(commanderOption(EVAL.maxNewTokens))
    .addOption(commanderOption(EVAL.batch))
    .option('--out <dir>', 'run folder (default reports/<run-id>); re-running with the same folder resumes')
    .option('--run-id <id>', 'run id (default: the folder name, else eval-<time>)')
    .option('--label <text>', 'name of this run in reports')
    .option('--method <name>', 'unlearning method (reports group effect sizes by it)')
    .option('--target <filter>', 'layer target of the method (reports draw a method x target heatmap)')
    .option('--series <file...>', 'metric series to include (report plots them): series.jsonl written by --eval-every on finetune / unlearn / sequential, a run folder holding one, or the interval evaluator\'s JSON')
    .option('--no-report', 'do not write report.md / report.html')
    .option('--force', 'apply an adapter made for another base model (its recorded sha256 differs from --model\'s) with a warning instead of refusing')
    .option('--list-metrics', 'list the available metrics and exit')
    .option('--quiet', 'no progress on stderr')
    .option('--json', 'print the summary as JSON')
    .addOption(deviceOption());
  addDatasetOptions(evalCmd);
  evalCmd.action(async (o: Record<string, string | boolean | undefined>) => {
      if (o.listMetrics) {
        const ms = listMetrics().map((m) => ({ name: m.name, description: m.description, splits: m.defaultSplits }));
        if (o.json) return void process.stdout.write(JSON.stringify(ms, null, 2) + '\n');
        process.stdout.write(ms.map((m) => `${m.name.padEnd(15)} ${m.description} (splits: ${m.splits.join(', ')})`).join('\n') + '\n');
        return;
      }
      resolveDevice(o, { engine: 'none' });
      readOptions(EVAL, o); // every numeric value checked (src/options) before any work
      resolveDevice(o);
      if (!o.model) throw new UserError('eval needs --model <gguf> (see unlearnkit eval --help)');
      const splits = list(o.splits as string | undefined) as EvalSplit[] | undefined;
      const quiet = !!o.quiet || !!o.json;
      const runPaths = [o.adapter ? String(o.adapter) : undefined, String(o.model)];
      const data = resolveDataset(o.data === undefined ? undefined : String(o.data), datasetOptionsOf(o), runPaths);
      const limit = int(o.limit as string | undefined, '--limit');
      let retainReference: string | { model: string; adapter?: string } | undefined = o.retainModel ? String(o.retainModel) : undefined;
      const notes = [data.note];
      if (!retainReference && data.dataset.evalFacts('forget').length) {
        const found = retainReferenceFromRun(runPaths, data.dataset.evalFacts('forget').slice(0, limit ?? Infinity).map((f) => f.id));
        retainReference = found.reference;
        if (found.reference) notes.push(found.note);
      }
      if (!quiet) for (const n of notes) process.stderr.write(`${n}\n`);
      // an unlearning run is evaluated as it is served (merged.gguf when LoRA cannot hold it); its base is checked
      const served = o.adapter
        ? resolveAdapterForModel({ modelPath: String(o.model), adapter: String(o.adapter), adapterScale: num(o.adapterScale as string, '--adapter-scale'), force: !!o.force })
        : null;
      if (served) for (const n of served.notes) process.stderr.write(`${n}\n`);
      checkWritableDir(o.out ? String(o.out) : outputPath('reports'), '--out');
      const r = await evaluate({
        modelPath: String(o.model),
        adapter: served ? served.adapter : undefined,
        adapterScale: num(o.adapterScale as string, '--adapter-scale'),
        data: data.dataset,
        metrics: list(o.metrics as string | undefined),
        splits,
        limit,
        out: o.out ? String(o.out) : undefined,
        runId: o.runId ? String(o.runId) : undefined,
        label: o.label ? String(o.label) : undefined,
        method: o.method ? String(o.method) : undefined,
        target: o.target ? String(o.target) : undefined,
        series: o.series ? ([] as string[]).concat(o.series as unknown as string[]).flatMap((f) => readSeries(f)) : undefined,
        options: {
          retainReference,
          maxNewTokens: int(o.maxNewTokens as string, '--max-new-tokens'),
          batch: int(o.batch as string, '--batch'),
        },
        onProgress: progressPrinter(quiet),
      });
      // evaluate() writes the run folder only; the report is the report layer's (README, Layout)
      if (o.report !== false) await writeRunReport([r.dir], { out: r.dir });
      if (o.json) {
        const out = { runId: r.runId, dir: r.dir, data: data.note, computed: r.computed, reused: r.reused, skipped: r.skipped, notes: r.notes, metrics: Object.fromEntries(Object.entries(r.results).map(([k, v]) => [k, { splits: Object.fromEntries(Object.entries(v.splits).map(([s, x]) => [s, x!.summary])), summary: v.summary }])) };
        return void process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      }
      const lines = [`evaluation ${r.runId} -> ${r.dir}` + (r.reused.length ? ` (kept ${r.reused.length} finished metric(s))` : '')];
      for (const [name, res] of Object.entries(r.results)) {
        if (name === 'tofu') {
          const t = res.summary as Record<string, SummaryEntry>;
          lines.push(`  tofu            forget_quality ${entryText(t.forget_quality)}; model_utility ${entryText(t.model_utility)}; privleak ${entryText(t.privleak)}; extraction_strength ${entryText(t.extraction_strength)}`);
          continue;
        }
        const parts = Object.entries(res.splits).map(([s, x]) => {
          const entries = Object.entries(x!.summary).filter(([k]) => k !== 'n' && k !== 'tokens').slice(0, 2);
          return `${s} ${entries.map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`;
        });
        const sum = Object.entries(res.summary)
          .filter(([k, v]) => typeof v === 'number' && !/(Lo|Hi)$/.test(k))
          .map(([k, v]) => `${k} ${fmt(v as number)}`);
        lines.push(`  ${name.padEnd(15)} ${[...parts, ...sum].join('; ')}`);
      }
      for (const k of r.skipped) lines.push(`  not computed: ${k.metric}${k.split ? ` on ${k.split}` : ''}: ${k.reason}`);
      for (const n of r.notes) lines.push(`  not computed: ${n}`);
      if (o.report !== false) lines.push(`  report: ${r.dir}/report.html`);
      process.stdout.write(lines.join('\n') + '\n');
    });

  program
    .command('report')
    .description('write report.md and a self-contained report.html (charts, paired t-tests, CIs, Cohen\'s d) for evaluation runs; the first run is the baseline')
    .argument('<runs...>', 'run folders or ids under reports/')
    .option('--out <dir>', 'output folder (default: the last run\'s folder)')
    .option('--title <text>', 'report title')
    .option('--baseline <i>', 'index of the run the others are compared with', '0')
    .option('--open', 'open report.html in a browser')
    .option('--json', 'print the paths and comparisons as JSON')
    .action(async (runs: string[], o: { out?: string; title?: string; baseline?: string; open?: boolean; json?: boolean }) => {
      if (o.out) checkWritableDir(o.out, '--out');
      const w = await writeRunReport(runs, { out: o.out, title: o.title, baseline: int(o.baseline, '--baseline') });
      if (o.json) {
        const cs = w.input.comparisons.map(({ ids: _i, valuesBefore: _b, valuesAfter: _a, ...c }) => c);
        process.stdout.write(JSON.stringify({ html: w.html, markdown: w.markdown, json: w.json, charts: w.charts, comparisons: cs }, null, 2) + '\n');
      } else {
        process.stdout.write(`report: ${w.html}\n        ${w.markdown}\n  ${w.charts.length} charts, ${w.input.comparisons.length} paired comparisons\n`);
      }
      if (o.open) openInBrowser(w.html);
    });

  program
    .command('compare')
    .description('paired statistics (t-test, 95% CI, Cohen\'s d_z and d_av) between two evaluation runs on the same items: B minus A')
    .argument('<runA>', 'run folder or id (before)')
    .argument('<runB>', 'run folder or id (after)')
    .option('--metrics <list>', 'only these metrics')
    .option('--splits <list>', 'only these splits')
    .option('--json', 'print JSON')
    .action((a: string, b: string, o: { metrics?: string; splits?: string; json?: boolean }) => {
      const ra = loadRun(a);
      const rb = loadRun(b);
      // items are paired by id: across two datasets equal ids name different questions
      const dsOf = (r: typeof ra) => r.meta.dataset?.sha256 ?? r.meta.data;
      if (dsOf(ra) !== dsOf(rb)) {
        const show = (r: typeof ra) => `${r.meta.data}${r.meta.dataset ? ` (sha256 ${r.meta.dataset.sha256.slice(0, 12)})` : ''}`;
        throw new UserError(`runs ${ra.meta.runId} and ${rb.meta.runId} were evaluated on different datasets: ${show(ra)} and ${show(rb)}; paired statistics need the same items (evaluate both on one dataset)`);
      }
      const ms = list(o.metrics);
      const ss = list(o.splits);
      const cs = compareRuns(ra, rb).filter((c) => (!ms || ms.includes(c.metric)) && (!ss || ss.includes(c.split)));
      if (cs.length === 0) throw new UserError(`runs ${ra.meta.runId} and ${rb.meta.runId} share no metric and split with at least 2 common items${ms || ss ? ' (after --metrics / --splits)' : ''}`);
      if (o.json) {
        process.stdout.write(JSON.stringify(cs.map(({ ids: _i, valuesBefore: _b, valuesAfter: _a, ...c }) => c), null, 2) + '\n');
        return;
      }
      const head = `A = ${ra.meta.label} (${ra.dir})\nB = ${rb.meta.label} (${rb.dir})\npaired t-test of B − A per item; 95% t CI of the mean difference; d_z = mean/sd of the differences; d_av = mean diff / mean of the two sds`;
      process.stdout.write(`${head}\n\n${textTable(COMPARISON_HEAD, comparisonRows(cs))}\n`);
    });
}
