/**
 * Reading evaluation run folders (reports/<run-id>/, written by evaluate()) for reports and
 * comparisons. A run is named by its folder path or by its id under reports/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { joinResult, type RunItemsFile, type RunMeta, type RunSummaryFile } from './evaluate.ts';
import type { MetricResult } from './types.ts';
import type { ReportSeries } from './types.ts';
import { outputPath } from '../util/paths.ts';
import { UserError } from '../util/errors.ts';

export interface LoadedRun {
  dir: string;
  meta: RunMeta;
  /** Finished metrics only. */
  results: Record<string, MetricResult>;
  series: ReportSeries[];
}

/** Folder of a run given as a path or as an id under reports/. */
export function resolveRunDir(ref: string): string {
  const candidates = [ref, outputPath('reports', ref)];
  for (const c of candidates) {
    if (fs.existsSync(path.join(c, 'run.json'))) return path.resolve(c);
  }
  if (fs.existsSync(ref)) throw new UserError(`${ref} is not an evaluation run folder (no run.json); create one with 'unlearnkit eval'`);
  throw new UserError(`no evaluation run '${ref}': give a run folder or the id of a folder under reports/`);
}

function readJson<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new UserError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

/** Load a run folder: its metadata, finished metrics (per item and summaries) and step series. */
export function loadRun(ref: string): LoadedRun {
  const dir = resolveRunDir(ref);
  const meta = readJson<RunMeta>(path.join(dir, 'run.json'));
  // the fields reports and comparisons read, present and of their type (a hand-edited or truncated run.json is named, not a stack trace)
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw new UserError(`${dir}/run.json does not hold a JSON object`);
  for (const k of ['kind', 'runId', 'label', 'model', 'data', 'dataHash'] as const) {
    if (typeof meta[k] !== 'string') throw new UserError(`${dir}/run.json: field '${k}' is ${meta[k] === undefined ? 'missing' : `not a string (${JSON.stringify(meta[k])})`}; re-run 'unlearnkit eval' for this run`);
  }
  if (meta.kind !== 'eval') throw new UserError(`${dir}/run.json is not an evaluation run (kind ${String(meta.kind)})`);
  const sPath = path.join(dir, 'summary.json');
  const iPath = path.join(dir, 'items.json');
  const summary = fs.existsSync(sPath) ? readJson<RunSummaryFile>(sPath) : { completed: [], metrics: {} } as unknown as RunSummaryFile;
  if (!Array.isArray(summary.completed ?? []) || typeof summary.metrics !== 'object' || summary.metrics === null) throw new UserError(`${sPath}: field '${Array.isArray(summary.completed ?? []) ? 'metrics' : 'completed'}' is missing or malformed; re-run 'unlearnkit eval' for this run`);
  const items = fs.existsSync(iPath) ? readJson<RunItemsFile>(iPath) : ({ metrics: {} } as unknown as RunItemsFile);
  const results: Record<string, MetricResult> = {};
  for (const name of summary.completed ?? []) {
    const s = summary.metrics[name];
    if (s) results[name] = joinResult(s, items.metrics?.[name]);
  }
  const seriesPath = path.join(dir, 'series.json');
  const series = fs.existsSync(seriesPath) ? readJson<ReportSeries[]>(seriesPath) : [];
  return { dir, meta, results, series };
}
