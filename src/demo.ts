/**
 * `unlearnkit demo` (npm run demo): the whole Dave pipeline on the embedded default model.
 *   1. the embedded model (models/unlearnkit-base.gguf) and the Dave dataset;
 *   2. fine-tune on Dave (retain + forget + decoys) recording every example's first-epoch gradient
 *      for the layer targets compared below;
 *   3. perplexity of forget / retain / holdout / general before and after fine-tuning;
 * then, where the unlearning and report modules are present, unlearning on two or more layer
 * targets, evaluation and the report. `--tiny` runs a seconds-scale version (used by the tests).
 */
import fs from 'node:fs';
import path from 'node:path';
import { finetune, type FinetuneResult } from './train/finetune.ts';
import { factExamples, replayTexts, textExamples } from './train/examples.ts';
import { getDataset } from './data/dataset.ts';
import { CausalLM } from './model/model.ts';
import { tokenizerFromGguf } from './model/tokenizer/index.ts';
import { scoreSequences } from './eval/perplexity.ts';
import { embeddedModelPath, outputPath, PROJECT_ROOT } from './util/paths.ts';
import { writeJsonAtomic } from './util/fs.ts';
import { UserError } from './util/errors.ts';
import { fmtTime } from './util/progress.ts';
import { prepare, runUnlearn, type UnlearnRunResult } from './unlearn/index.ts';
import { splitValidation } from './unlearn/stepSearch.ts';
import { writeReport } from './report/write.ts';
import { demoReportInput } from './demoReport.ts';

export interface DemoOptions {
  tiny?: boolean;
  model?: string;
  out?: string;
  quiet?: boolean;
  log?: (line: string) => void;
}

export interface DemoRow {
  method: string;
  target: string;
  forgetPplBefore: number;
  forgetPplAfter: number;
  forgetP: number | null;
  forgetDz: number | null;
  retainLogLikChange: number;
  forgetLogLikChange: number;
  generalPplRatio: number;
  rougeBefore: number | null;
  rougeAfter: number | null;
  rougeP: number | null;
  adapter: string | null;
  seconds: number;
}

export interface DemoResult {
  model: string;
  runDir: string;
  finetune: FinetuneResult;
  perplexity: { before: Record<string, number>; after: Record<string, number> };
  unlearning: DemoRow[];
  report: string | null;
  seconds: number;
}

/** Methods the demo compares (the retain-only oracle retrains, so it runs in the full demo only). */
const DEMO_METHODS = ['first-epoch', 'gradient-ascent', 'grad-diff', 'npo'];

const DEMO_TARGETS = ['embedding', 'block:-1:mlp'];

function perplexities(modelPath: string, data: string, limit?: number): Record<string, number> {
  const model = CausalLM.load(modelPath);
  const tok = tokenizerFromGguf(model.file!);
  const ds = getDataset(data);
  const enc = (items: Array<{ id: string; text: string }>) => items.slice(0, limit).map((i) => ({ id: i.id, tokens: tok.encode(i.text, { addBos: true }) }));
  return {
    forget: scoreSequences(model, enc(factExamples(ds.facts('forget')))).perplexity,
    retain: scoreSequences(model, enc(factExamples(ds.facts('retain')))).perplexity,
    holdout: scoreSequences(model, enc(factExamples(ds.facts('holdout')))).perplexity,
    general: scoreSequences(model, enc(textExamples(ds.texts()))).perplexity,
  };
}

/** What a demo run folder holds; a folder with anything else is not cleared (`--out .` must not empty the current directory). */
const DEMO_ENTRIES = new Set(['finetune', 'adapters', 'report', 'demo.json']);

function clearRunDir(dir: string): void {
  if (!fs.existsSync(dir)) return;
  const foreign = fs.readdirSync(dir).filter((e) => !DEMO_ENTRIES.has(e));
  if (foreign.length > 0) throw new UserError(`${dir} holds files that are not from a demo run (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}); choose an empty or new --out folder`);
  fs.rmSync(dir, { recursive: true, force: true });
}

export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const log = o.log ?? ((l: string) => process.stdout.write(l + '\n'));
  const t0 = performance.now();
  const modelPath = o.model ?? embeddedModelPath();
  const data = path.join(PROJECT_ROOT, 'datasets', 'dave');
  const runDir = path.resolve(o.out ?? outputPath('runs', o.tiny ? 'demo-tiny' : 'demo'));
  clearRunDir(runDir);
  const ds = getDataset(data);
  // General-text replay keeps the model's general ability while it learns the facts (without it,
  // general perplexity of the embedded model rose 175% in 3 epochs; with 300 replay texts it fell).
  const replay = replayTexts(o.tiny ? 40 : 300, new Set(ds.texts().map((t) => t.text)));
  let items = [...factExamples([...ds.facts('retain'), ...ds.facts('forget'), ...ds.facts('decoy')]), ...replay];
  if (o.tiny) items = [...factExamples(ds.facts('forget').slice(0, 24)), ...factExamples(ds.facts('retain').slice(0, 40)), ...replay];
  log(`unlearnkit demo${o.tiny ? ' (tiny)' : ''}: model ${path.relative(PROJECT_ROOT, modelPath)}, ${items.length} training facts`);

  log('1/5 perplexity of the base model');
  const limit = o.tiny ? 24 : undefined;
  const before = perplexities(modelPath, data, limit);
  log(`    ${fmtPpl(before)}`);

  log(`2/5 fine-tune on Dave with the first-epoch gradient record (${DEMO_TARGETS.join(', ')})`);
  const ft = finetune({
    modelPath,
    items,
    out: path.join(runDir, 'finetune'),
    epochs: o.tiny ? 2 : 3,
    lr: o.tiny ? 3e-3 : 1e-3,
    batch: 8,
    record: 'first-epoch',
    recordFilter: DEMO_TARGETS.join(','),
    recordDtype: 'f32',
    seed: 0,
    quiet: o.quiet,
  });
  for (const e of ft.epochs) log(`    epoch ${e.epoch}: loss ${e.meanLoss.toFixed(3)} (${e.seconds.toFixed(1)} s)`);

  log('3/5 perplexity after fine-tuning');
  const after = perplexities(ft.checkpoint, data, limit);
  log(`    ${fmtPpl(after)}`);
  log(`    forget perplexity ${before.forget.toFixed(2)} -> ${after.forget.toFixed(2)} (${pct(after.forget, before.forget)}), general ${before.general.toFixed(2)} -> ${after.general.toFixed(2)} (${pct(after.general, before.general)})`);

  const methods = o.tiny ? ['first-epoch', 'gradient-ascent'] : [...DEMO_METHODS, 'retain-only'];
  log(`4/5 unlearn Dave: ${methods.join(', ')} on ${DEMO_TARGETS.join(' and ')}`);
  const prepared = prepare({ from: path.join(runDir, 'finetune'), data, forget: 'forget', evalLimit: o.tiny ? 16 : 60, rouge: true, seed: 0 });
  // first-epoch runs with --eta auto: split its validation part off before any run is measured, so
  // every method reports on the same items
  splitValidation(prepared);
  const results: UnlearnRunResult[] = [];
  const rows: DemoRow[] = [];
  for (const method of methods) {
    for (const target of method === 'retain-only' ? ['all'] : DEMO_TARGETS) {
      const r = await runUnlearn({ from: path.join(runDir, 'finetune'), prepared, method, target, adaptersDir: path.join(runDir, 'adapters'), runId: `${method}-${target.replace(/[^a-z0-9]+/gi, '_')}`, overwrite: true /* the demo rewrites its own folder */, quiet: true, search: method === 'first-epoch' ? 'eta' : undefined });
      if (r.stepSearch) log(`    ${method} ${target}: --eta auto chose eta ${r.stepSearch.chosen.toPrecision(4)} (${r.stepSearch.tries.length} steps tried, utility budget +${(r.stepSearch.budget * 100).toFixed(0)}%${r.stepSearch.within ? '' : ', none within it'})`);
      results.push(r);
      const row = demoRow(r);
      rows.push(row);
      log(`    ${method.padEnd(16)} ${target.padEnd(14)} forget ppl ${row.forgetPplBefore.toFixed(2)} -> ${row.forgetPplAfter.toFixed(2)} (p ${fmtP(row.forgetP)}), general x${row.generalPplRatio.toFixed(3)}`);
    }
  }

  log('5/5 report');
  const notes = [
    `Model ${path.relative(PROJECT_ROOT, modelPath)} fine-tuned on ${items.length} items (Dave facts, retain facts, decoys, general replay), first-epoch gradients recorded for ${DEMO_TARGETS.join(', ')}.`,
    `Each unlearning run starts from the fine-tuned model; comparisons are paired over items (after minus before), Holm-corrected across methods.`,
  ];
  const reportDir = path.join(runDir, 'report');
  const written = await writeReport(demoReportInput(results, 'unlearnkit demo: erasing Dave', notes), reportDir);
  log('');
  log(demoTable(rows));
  log('');
  const seconds = (performance.now() - t0) / 1000;
  const res: DemoResult = { model: modelPath, runDir, finetune: ft, perplexity: { before, after }, unlearning: rows, report: written.html, seconds };
  log(`report: ${path.relative(process.cwd(), res.report!)}`);
  writeJsonAtomic(path.join(runDir, 'demo.json'), res);
  log(`done in ${fmtTime(seconds)}; results in ${path.relative(process.cwd(), path.join(runDir, 'demo.json'))}`);
  return res;
}

function fmtPpl(p: Record<string, number>): string {
  return Object.entries(p)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
}

function pct(a: number, b: number): string {
  const d = (a / b - 1) * 100;
  return `${d >= 0 ? '+' : ''}${d.toFixed(1)}%`;
}

function demoRow(r: UnlearnRunResult): DemoRow {
  const set = (n: string) => r.comparison.sets.find((s) => s.set === n);
  const f = set('forget')!;
  const rt = set('retain');
  const g = set('general');
  const rg = r.comparison.rouge.find((x) => x.set === 'forget');
  return {
    method: r.method,
    target: r.filter,
    forgetPplBefore: f.perplexityBefore,
    forgetPplAfter: f.perplexityAfter,
    forgetP: f.test?.p ?? null,
    forgetDz: f.test?.dz ?? null,
    retainLogLikChange: rt?.meanLogLikChange ?? NaN,
    forgetLogLikChange: f.meanLogLikChange,
    generalPplRatio: g ? g.perplexityRatio : NaN,
    rougeBefore: rg?.meanBefore ?? null,
    rougeAfter: rg?.meanAfter ?? null,
    rougeP: rg?.test?.p ?? null,
    adapter: r.adapter?.dir ?? null,
    seconds: r.seconds.total,
  };
}

function fmtP(p: number | null): string {
  if (p === null || !Number.isFinite(p)) return 'n/a';
  return p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
}

/** The summary table the demo prints. */
function demoTable(rows: DemoRow[]): string {
  const head = ['method', 'target', 'forget ppl', 'p', 'd_z', 'retain dLL', 'forget dLL', 'general ppl', 'ROUGE-L forget', 'p'];
  const body = rows.map((r) => [
    r.method,
    r.target,
    `${r.forgetPplBefore.toFixed(2)} -> ${r.forgetPplAfter.toFixed(2)}`,
    fmtP(r.forgetP),
    r.forgetDz === null ? 'n/a' : r.forgetDz.toFixed(2),
    r.retainLogLikChange.toFixed(3),
    r.forgetLogLikChange.toFixed(3),
    `x${r.generalPplRatio.toFixed(3)}`,
    r.rougeBefore === null ? 'n/a' : `${r.rougeBefore.toFixed(3)} -> ${r.rougeAfter!.toFixed(3)}`,
    fmtP(r.rougeP),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
