/**
 * Runs on disk, as the Unlearn and Reports screens list them:
 *   runs/<id>/       fine-tuning runs (run.json kind "finetune", state.json, summary.json)
 *   adapters/<id>/   unlearning runs (adapter GGUF + meta.json)
 *   reports/<id>/    evaluations and reports (summary.json, report.md, report.html)
 * Folders being written (`*.tmp-*`, `*.old-*`) are skipped: the library publishes them atomically.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cliLine } from './format.ts';

export type RunKind = 'finetune' | 'unlearn' | 'report';

export interface RunEntry {
  id: string;
  kinds: RunKind[];
  /** Folder per kind. */
  dirs: Partial<Record<RunKind, string>>;
  /** Newest modification time of its folders (ms). */
  mtime: number;
  /** The most informative JSON found (report summary, else adapter meta, else fine-tune summary). */
  summary: Record<string, unknown> | null;
  html: string | null;
  /** report.md of an evaluation, or of an unlearning run (adapters/<id>/report.md). */
  markdown: string | null;
  /** An unlearning run's meta.json (method, filter, base checkpoint, files). */
  meta: Record<string, unknown> | null;
}

function readJson(file: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Whether `p` is a folder, following symlinks (false for a dangling link). */
function isDirFollowing(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function subdirs(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    // a symlinked run folder counts (followed), a dangling link does not
    .filter((e) => (e.isDirectory() || (e.isSymbolicLink() && isDirFollowing(path.join(dir, e.name)))) && !e.name.startsWith('.') && !/\.(tmp|old)-/.test(e.name) && e.name !== 'bench')
    .map((e) => e.name);
}

export function listRuns(cwd = process.cwd()): RunEntry[] {
  const by = new Map<string, RunEntry>();
  const get = (id: string) => {
    let e = by.get(id);
    if (!e) by.set(id, (e = { id, kinds: [], dirs: {}, mtime: 0, summary: null, html: null, markdown: null, meta: null }));
    return e;
  };
  const note = (id: string, kind: RunKind, dir: string) => {
    const e = get(id);
    e.kinds.push(kind);
    e.dirs[kind] = dir;
    try {
      e.mtime = Math.max(e.mtime, fs.statSync(dir).mtimeMs);
    } catch {
      /* vanished */
    }
    return e;
  };
  for (const id of subdirs(path.join(cwd, 'runs'))) {
    const dir = path.join(cwd, 'runs', id);
    if (!fs.existsSync(path.join(dir, 'run.json'))) continue;
    const e = note(id, 'finetune', dir);
    e.summary ??= readJson(path.join(dir, 'summary.json')) ?? readJson(path.join(dir, 'state.json'));
  }
  for (const id of subdirs(path.join(cwd, 'adapters'))) {
    const dir = path.join(cwd, 'adapters', id);
    const meta = readJson(path.join(dir, 'meta.json'));
    if (!meta && !fs.readdirSync(dir).some((f) => f.endsWith('.gguf'))) continue;
    const e = note(id, 'unlearn', dir);
    e.meta = meta;
    if (meta) e.summary = meta;
    if (fs.existsSync(path.join(dir, 'report.md'))) e.markdown ??= path.join(dir, 'report.md');
  }
  for (const id of subdirs(path.join(cwd, 'reports'))) {
    const dir = path.join(cwd, 'reports', id);
    const summary = readJson(path.join(dir, 'summary.json'));
    const html = path.join(dir, 'report.html');
    if (!summary && !fs.existsSync(html)) continue;
    const e = note(id, 'report', dir);
    if (summary) e.summary = summary;
    if (fs.existsSync(html)) e.html = html;
    if (fs.existsSync(path.join(dir, 'report.md'))) e.markdown = path.join(dir, 'report.md');
  }
  return [...by.values()].sort((a, b) => b.mtime - a.mtime || a.id.localeCompare(b.id));
}

/** Fine-tuning runs with at least one finished epoch (a checkpoint), newest first. */
export function finetuneRuns(cwd = process.cwd()): string[] {
  return listRuns(cwd)
    .filter((r) => r.dirs.finetune && fs.existsSync(path.join(r.dirs.finetune, 'checkpoint.gguf')))
    .map((r) => path.relative(cwd, r.dirs.finetune!) || r.dirs.finetune!);
}

/**
 * Flatten a summary object to "key: value" lines for display (nested keys joined with '.', arrays
 * of numbers shortened), at most `max` lines.
 */
export function summaryLines(o: unknown, max = 40): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key: string, depth: number) => {
    if (out.length >= max) return;
    if (v === null || v === undefined) return;
    if (typeof v === 'number') out.push(`${key}: ${Number.isInteger(v) ? v : v.toPrecision(5)}`);
    else if (typeof v === 'string' || typeof v === 'boolean') out.push(`${key}: ${String(v)}`);
    else if (Array.isArray(v)) {
      if (v.every((x) => typeof x === 'number' || typeof x === 'string')) out.push(`${key}: [${v.slice(0, 6).join(', ')}${v.length > 6 ? `, … ${v.length} in all` : ''}]`);
      else if (depth < 3) v.slice(0, 8).forEach((x, i) => walk(x, `${key}[${i}]`, depth + 1));
    } else if (typeof v === 'object' && depth < 4) {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, key ? `${key}.${k}` : k, depth + 1);
    }
  };
  walk(o, '', 0);
  return out;
}

export interface ReportPlan {
  /** Evaluations to run first (`unlearnkit eval`), baseline first. */
  evaluate: Array<{ model: string; adapter?: string; data: string; out: string; label: string; method?: string; target?: string }>;
  /** Run folders the report compares (the first is the baseline). */
  runs: string[];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v ? v : undefined;
}

/**
 * What writing a report for `chosen` takes. Evaluation runs are reported as they are. An unlearning
 * run is evaluated against the fine-tuned model it started from (the adapter, or merged.gguf when
 * the change includes 1-D tensors, on the fine-tuned checkpoint); a fine-tuning run against its base
 * model. The baseline is shared when several runs are chosen. Returns a reason instead when a run
 * does not say what to compare it with.
 */
export function planReport(chosen: RunEntry[], cwd: string, defaultData = 'dave'): ReportPlan | string {
  const plan: ReportPlan = { evaluate: [], runs: [] };
  let baseline: { model: string; out: string } | null = null;
  const rel = (p: string) => path.relative(cwd, p) || p;
  const addBaseline = (model: string, id: string, label: string, data: string) => {
    if (baseline) return;
    const out = path.join('reports', id);
    baseline = { model, out };
    if (!fs.existsSync(path.join(cwd, out, 'summary.json'))) plan.evaluate.push({ model, data, out, label });
    plan.runs.unshift(out);
  };
  for (const r of chosen) {
    if (r.dirs.report && !r.dirs.unlearn && !r.dirs.finetune) {
      plan.runs.push(rel(r.dirs.report));
      continue;
    }
    const out = path.join('reports', r.id);
    const evaluated = fs.existsSync(path.join(cwd, out, 'summary.json'));
    if (r.dirs.unlearn) {
      const meta = r.meta ?? {};
      const base = str((meta.base as Record<string, unknown> | undefined)?.checkpoint);
      if (!base) return `${r.id}: meta.json does not name the checkpoint it was unlearned from`;
      const files = (meta.files ?? {}) as Record<string, unknown>;
      const file = str(files.merged) ?? str(files.adapter);
      if (!file) return `${r.id} changed nothing (no adapter or merged model in ${rel(r.dirs.unlearn)})`;
      const data = str(meta.dataset) ?? defaultData;
      const fromRun = str(meta.fromRun);
      addBaseline(base, `base-${path.basename(fromRun ?? path.dirname(base))}`, 'fine-tuned', data);
      if (!evaluated) plan.evaluate.push({ model: base, adapter: path.join(r.dirs.unlearn, file), data, out, label: r.id, method: str(meta.method), target: str(meta.filter) });
    } else if (r.dirs.finetune) {
      let run: Record<string, unknown> = {};
      try {
        run = JSON.parse(fs.readFileSync(path.join(r.dirs.finetune, 'run.json'), 'utf8')) as Record<string, unknown>;
      } catch {
        return `${r.id}: run.json is missing or not valid JSON`;
      }
      const model = str(run.model);
      if (!model) return `${r.id}: run.json does not name the base model`;
      const ckpt = path.join(r.dirs.finetune, 'checkpoint.gguf');
      if (!fs.existsSync(ckpt)) return `${r.id} has no checkpoint yet (no finished epoch)`;
      const data = str(run.data) ?? defaultData;
      addBaseline(model, `base-${path.basename(model, '.gguf')}`, 'base model', data);
      if (!evaluated) plan.evaluate.push({ model: ckpt, data, out, label: r.id });
    } else continue;
    plan.runs.push(out);
  }
  if (plan.runs.length === 0) return 'nothing to report on';
  return plan;
}

/** The CLI that does the same: `unlearnkit eval` for each missing evaluation, then `unlearnkit report`. */
export function reportCli(plan: ReportPlan): string {
  const evals = plan.evaluate.map((e) => cliLine(['eval'], { model: e.model, adapter: e.adapter, data: e.data === 'dave' ? undefined : e.data, out: e.out, label: e.label, method: e.method, target: e.target, 'no-report': true }));
  return [...evals, cliLine(['report', ...plan.runs], {})].join(' && ');
}
