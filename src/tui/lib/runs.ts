/**
 * Runs on disk, as the Unlearn and Reports screens list them:
 *   runs/<id>/       fine-tuning runs (run.json kind "finetune", state.json, summary.json)
 *   adapters/<id>/   unlearning runs (adapter GGUF + meta.json)
 *   reports/<id>/    evaluations and reports (summary.json, report.md, report.html)
 * Folders being written (`*.tmp-*`, `*.old-*`) are skipped: the library publishes them atomically.
 */
import fs from 'node:fs';
import path from 'node:path';

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
}

function readJson(file: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function subdirs(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !/\.(tmp|old)-/.test(e.name) && e.name !== 'bench')
    .map((e) => e.name);
}

export function listRuns(cwd = process.cwd()): RunEntry[] {
  const by = new Map<string, RunEntry>();
  const get = (id: string) => {
    let e = by.get(id);
    if (!e) by.set(id, (e = { id, kinds: [], dirs: {}, mtime: 0, summary: null, html: null }));
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
    if (meta) e.summary = meta;
  }
  for (const id of subdirs(path.join(cwd, 'reports'))) {
    const dir = path.join(cwd, 'reports', id);
    const summary = readJson(path.join(dir, 'summary.json'));
    const html = path.join(dir, 'report.html');
    if (!summary && !fs.existsSync(html)) continue;
    const e = note(id, 'report', dir);
    if (summary) e.summary = summary;
    if (fs.existsSync(html)) e.html = html;
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
