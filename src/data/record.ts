/**
 * What a fine-tune run records about its data, so that later commands need not be told again:
 *
 * - `run.json` `dataset`: the dataset the run was trained on (registry name or absolute path, its
 *   format, a sha256 over its files and the resolved options: a TOFU folder's chosen forget / retain /
 *   holdout files and author rule). `unlearn --from RUN` and `eval` of the run's checkpoint, adapter
 *   or of an unlearning run made from it open that dataset by default; one whose files changed since
 *   (sha256 differs) is refused rather than silently used.
 * - `retain-model.json`: the retain-only reference (a model trained without the forget set, e.g. by
 *   `unlearn --method retain-only`), with the forget ids it excludes; `eval` uses it for forget quality
 *   and privleak when it was made for the forget items being evaluated.
 *
 * A run folder is found from any file a command is given: the folder itself, a file in it
 * (checkpoint.gguf, adapter.gguf), or an unlearning run folder / file whose meta.json names the
 * fine-tune run it came from (`fromRun`).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { readJsonObject } from '../util/fs.ts';
import { getDataset, knownDatasets, type Dataset, type DatasetOptions } from './dataset.ts';

export interface DatasetRecord {
  /** Registry name ('dave') or the absolute path of the folder / file. */
  ref: string;
  format: Dataset['format'];
  /** sha256 over the dataset's files when the run was made. */
  sha256: string;
  /** The resolved options (TOFU: forgetSplit, retainSplit, holdoutSplit, groupBy / groupSize). */
  options: DatasetOptions;
  /** TOFU folders: the file each split was read from. */
  files?: Record<string, { file: string; perturbed?: string }>;
}

/** The record of an opened dataset (`ref`: what --data named). */
export function datasetRecord(ds: Dataset, ref: string): DatasetRecord {
  const named = knownDatasets().some((d) => d.name === ref);
  return {
    ref: named ? ref : path.resolve(ref),
    format: ds.format,
    sha256: ds.sha256,
    options: { ...ds.options },
    ...(ds.layout ? { files: ds.layout.files as Record<string, { file: string; perturbed?: string }> } : {}),
  };
}

/** Re-open a recorded dataset; refused when its files changed since the run (`who` names the run in messages). */
export function openDatasetRecord(rec: DatasetRecord, who: string): Dataset {
  const named = knownDatasets().some((d) => d.name === rec.ref);
  if (!named && !fs.existsSync(rec.ref)) {
    throw new UserError(`${who} was trained on ${rec.ref}, which no longer exists; pass the dataset with --data`);
  }
  const ds = getDataset(rec.ref, rec.options);
  if (ds.sha256 !== rec.sha256) {
    throw new UserError(`the dataset ${rec.ref} changed since ${who} was trained on it (sha256 ${ds.sha256.slice(0, 12)}... vs ${rec.sha256.slice(0, 12)}... recorded); pass --data explicitly to use it as it is now`);
  }
  return ds;
}

/**
 * The fine-tune run folder behind a path: a run folder (run.json of kind finetune), a file in one,
 * or an unlearning run folder / file whose meta.json names `fromRun`; null when there is none.
 */
export function findRunDir(p: string): string | null {
  if (!fs.existsSync(p)) return null;
  const dir = fs.statSync(p).isDirectory() ? p : path.dirname(p);
  const run = readJsonObject(path.join(dir, 'run.json'));
  if (run?.kind === 'finetune') return dir;
  const meta = readJsonObject(path.join(dir, 'meta.json'));
  if (typeof meta?.fromRun === 'string' && fs.existsSync(path.join(meta.fromRun, 'run.json'))) return meta.fromRun;
  return null;
}

/** The dataset recorded by the run behind `p` (findRunDir), or null. */
function recordedDataset(p: string): { record: DatasetRecord; runDir: string } | null {
  const runDir = findRunDir(p);
  if (!runDir) return null;
  const run = readJsonObject(path.join(runDir, 'run.json'));
  const rec = run?.dataset as DatasetRecord | undefined;
  return rec && typeof rec.ref === 'string' ? { record: rec, runDir } : null;
}

/**
 * The dataset a command uses: `--data` when given (with the options given; a TOFU folder the run
 * was trained on keeps its recorded choices for the options not given), else the dataset the run
 * behind `runPaths` recorded, else `fallback`. `note` says where it came from.
 */
export function resolveDataset(data: string | undefined, options: DatasetOptions, runPaths: Array<string | undefined>, fallback = 'dave'): { dataset: Dataset; ref: string; note: string } {
  let found: { record: DatasetRecord; runDir: string } | null = null;
  for (const p of runPaths) if (p && !found) found = recordedDataset(p);
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as DatasetOptions;
  if (data !== undefined) {
    const same = found && (found.record.ref === data || (fs.existsSync(data) && path.resolve(data) === found.record.ref));
    // the run's own folder: its recorded file choices and author rule hold unless overridden
    const opts = same && found!.record.format === 'tofu' ? mergeOptions(found!.record.options, given) : given;
    return { dataset: getDataset(data, opts), ref: data, note: `dataset ${data} (--data)` };
  }
  if (found) {
    const rec = Object.keys(given).length ? { ...found.record, options: mergeOptions(found.record.options, given) } : found.record;
    const ds = Object.keys(given).length ? getDataset(rec.ref, rec.options) : openDatasetRecord(rec, found.runDir);
    return { dataset: ds, ref: rec.ref, note: `dataset ${rec.ref} (recorded by ${found.runDir}${describeOptions(ds.options)})` };
  }
  return { dataset: getDataset(fallback, given), ref: fallback, note: `dataset ${fallback} (default)` };
}

/** Recorded options overridden by given ones; another forget split drops the recorded retain / holdout choices (they pair with it). */
function mergeOptions(recorded: DatasetOptions, given: DatasetOptions): DatasetOptions {
  const base = { ...recorded };
  if (given.forgetSplit !== undefined && given.forgetSplit !== recorded.forgetSplit) {
    delete base.retainSplit;
    delete base.holdoutSplit;
  }
  if (given.groupBy !== undefined) delete base.groupSize;
  if (given.groupSize !== undefined) delete base.groupBy;
  return { ...base, ...given };
}

/** ", forget01 / retain99 / holdout01, authors by field author" for messages. */
export function describeOptions(o: DatasetOptions): string {
  const files = [o.forgetSplit, o.retainSplit, o.holdoutSplit].filter(Boolean);
  const parts = [files.length ? files.join(' / ') : '', o.groupBy !== undefined ? `authors by field ${o.groupBy}` : o.groupSize !== undefined ? `authors in runs of ${o.groupSize}` : ''].filter(Boolean);
  return parts.length ? `, ${parts.join(', ')}` : '';
}

// ---------------------------------------------------------------- the retain-only reference

const RETAIN_MODEL_FILE = 'retain-model.json';

export interface RetainModelRecord {
  /** The model file (a full checkpoint, or the base of a LoRA adapter). */
  model: string;
  /** A LoRA adapter applied to `model`, when the reference is a LoRA fine-tune. */
  adapter?: string;
  /** The training ids the reference was trained without (the forget set), their count and sha256 (sorted, newline-joined). */
  forget: { ids: string[]; sha256: string; count: number };
  /** How it was made (e.g. "unlearn --method retain-only"). */
  madeBy: string;
  createdAt: string;
}

/** sha256 of a set of ids (sorted, newline-joined). */
export function idsSha256(ids: Iterable<string>): string {
  return crypto.createHash('sha256').update([...ids].sort().join('\n')).digest('hex');
}

/** Record a retain-only reference in a fine-tune run folder. */
export function writeRetainModelRecord(runDir: string, rec: Omit<RetainModelRecord, 'createdAt'>): void {
  const file = path.join(runDir, RETAIN_MODEL_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify({ ...rec, model: path.resolve(rec.model), ...(rec.adapter ? { adapter: path.resolve(rec.adapter) } : {}), createdAt: new Date().toISOString() }, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

/** The retain-only reference a run folder records, or null. */
export function readRetainModelRecord(runDir: string): RetainModelRecord | null {
  const r = readJsonObject(path.join(runDir, RETAIN_MODEL_FILE));
  return r && typeof r.model === 'string' ? (r as unknown as RetainModelRecord) : null;
}
