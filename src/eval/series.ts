/**
 * Metric series on disk (issue #20): `--eval-every N` on `finetune`, `unlearn` and `sequential`
 * evaluates the model being changed every N steps and appends the points to `series.jsonl` in the
 * run folder, one JSON object per line and value:
 *
 *   {"step":40,"split":"forget","metric":"perplexity","value":3.1416,"label":"finetune"}
 *
 * metric is 'perplexity' (token-weighted, per split) or 'rouge1' / 'rouge2' / 'rougeL' (mean recall
 * of greedy answers, stemmed as rouge_score computes it; no general split). The numbers are the
 * evaluation metrics' own (interval.ts makeIntervalEvaluator -> the perplexity and rouge metrics of
 * registry.ts), on the first `limit` items of each split, the same items at every point.
 *
 * `readSeries` reads such a file (or a folder holding one), and also the ReportSeries[] JSON the
 * interval evaluator's `file` option and `eval`'s series.json hold, so `unlearnkit eval --series`
 * takes either, and `report` then plots them (report/charts.ts seriesChart).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CausalLM } from '../model/model.ts';
import type { Tokenizer } from '../model/tokenizer/index.ts';
import type { Dataset } from '../data/dataset.ts';
import type { ReportSeries } from './types.ts';
import { makeIntervalEvaluator, type IntervalPoint } from './interval.ts';
import type { EvalSplit } from './types.ts';
import { UserError } from '../util/errors.ts';

/** The series file of a run folder. */
export const SERIES_FILE = 'series.jsonl';

/** One line of series.jsonl. */
export interface SeriesLine {
  step: number;
  split: string;
  metric: string;
  value: number;
  /** What the series belongs to (finetune, the method and target, ...). */
  label?: string;
}

/** The lines of one interval point. */
function pointLines(p: IntervalPoint, label?: string): SeriesLine[] {
  const out: SeriesLine[] = [];
  const l = label === undefined ? {} : { label };
  for (const [split, v] of Object.entries(p.perplexity)) out.push({ step: p.step, split, metric: 'perplexity', value: v!, ...l });
  for (const [split, r] of Object.entries(p.rouge)) {
    for (const m of ['rouge1', 'rouge2', 'rougeL'] as const) out.push({ step: p.step, split, metric: m, value: r![m], ...l });
  }
  return out;
}

/** JSON lines of `lines` (each ends with a newline). */
export function seriesText(lines: SeriesLine[]): string {
  return lines.map((l) => JSON.stringify(l) + '\n').join('');
}

/** Append lines to a series file (created with its folder when missing). */
function appendSeries(file: string, lines: SeriesLine[]): void {
  if (!lines.length) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, seriesText(lines));
}

/** Group lines into report series (one per label, metric and split; points in step order). */
function linesToSeries(lines: SeriesLine[], defaultLabel = ''): ReportSeries[] {
  const out = new Map<string, ReportSeries>();
  for (const l of lines) {
    const label = l.label ?? defaultLabel;
    const k = `${label}\u0000${l.metric}\u0000${l.split}`;
    let s = out.get(k);
    if (!s) out.set(k, (s = { label, metric: l.metric, split: l.split, points: [] }));
    s.points.push({ step: l.step, value: l.value });
  }
  for (const s of out.values()) s.points.sort((a, b) => a.step - b.step);
  return [...out.values()];
}

/** Parse series.jsonl text; a malformed line is refused with its number. */
export function parseSeriesLines(text: string, file: string): SeriesLine[] {
  const out: SeriesLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (!raw.trim()) return;
    let v: Partial<SeriesLine>;
    try {
      v = JSON.parse(raw) as Partial<SeriesLine>;
    } catch (e) {
      throw new UserError(`${file} line ${i + 1} is not JSON: ${(e as Error).message}`);
    }
    if (typeof v.step !== 'number' || typeof v.split !== 'string' || typeof v.metric !== 'string' || (typeof v.value !== 'number' && v.value !== null)) {
      throw new UserError(`${file} line ${i + 1} is not a series point (needs step, split, metric, value)`);
    }
    out.push({ step: v.step, split: v.split, metric: v.metric, value: v.value ?? NaN, ...(typeof v.label === 'string' ? { label: v.label } : {}) });
  });
  return out;
}

/**
 * Read a series: series.jsonl (or a folder holding one), or a ReportSeries[] JSON file (the interval
 * evaluator's `file`, an eval run's series.json). `label` names lines that carry none (default: the
 * folder's name).
 */
export function readSeries(ref: string, label?: string): ReportSeries[] {
  let file = ref;
  if (fs.existsSync(ref) && fs.statSync(ref).isDirectory()) {
    file = path.join(ref, SERIES_FILE);
    if (!fs.existsSync(file)) throw new UserError(`${ref} holds no ${SERIES_FILE}; write one with --eval-every N on finetune, unlearn or sequential`);
  }
  if (!fs.existsSync(file)) throw new UserError(`series file ${file} does not exist`);
  const text = fs.readFileSync(file, 'utf8');
  const name = label ?? path.basename(path.dirname(path.resolve(file)));
  if (text.trimStart().startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new UserError(`${file} is not a series JSON file: ${(e as Error).message}`);
    }
    const ok = Array.isArray(v) && v.every((s) => s && typeof s === 'object' && typeof (s as ReportSeries).metric === 'string' && Array.isArray((s as ReportSeries).points));
    if (!ok) throw new UserError(`${file} is not a series file (expected series.jsonl lines or a JSON array of {label, metric, split, points})`);
    return (v as ReportSeries[]).map((s) => ({ ...s, label: s.label || name }));
  }
  return linesToSeries(parseSeriesLines(text, file), name);
}

export interface SeriesRecorderOptions {
  /** The run folder's series file (appended to at each point); absent: the lines are kept for lines() only (a run folder written at its end). */
  file?: string;
  data: Dataset;
  /** Default: the tokenizer of the model's GGUF file. */
  tokenizer?: Tokenizer;
  /** Evaluate every this many steps (and at the calls with `force`). */
  every: number;
  label: string;
  /** Items per split (default 16: the same items at every point). */
  limit?: number;
  /** Also ROUGE of greedy answers (default true). */
  rouge?: boolean;
  /** Greedy answer length (default 16). */
  maxNewTokens?: number;
  onPoint?: (p: IntervalPoint) => void;
}

export interface SeriesRecorder {
  readonly every: number;
  readonly file: string | undefined;
  /** Evaluate `model` at `step` when step % every === 0 or `force` (at most once per step); appends the lines. */
  at(model: CausalLM, step: number, force?: boolean): IntervalPoint | null;
  /** The lines written so far by this recorder. */
  lines(): SeriesLine[];
}

/** The splits of `data` that have items (perplexity on all of them, ROUGE on the fact splits). */
function presentSplits(data: Dataset): EvalSplit[] {
  const out: EvalSplit[] = [];
  for (const s of ['forget', 'retain', 'holdout', 'general'] as const) if ((s === 'general' ? data.texts().length : data.evalFacts(s).length) > 0) out.push(s);
  return out;
}

/** A recorder for `--eval-every N` (see the module comment). */
export function seriesRecorder(o: SeriesRecorderOptions): SeriesRecorder {
  if (!Number.isInteger(o.every) || o.every < 1) throw new UserError(`--eval-every must be a positive integer, got ${o.every}`);
  const splits = presentSplits(o.data);
  if (!splits.length) throw new UserError(`--eval-every: ${o.data.name} has no items to evaluate`);
  const ev = makeIntervalEvaluator({
    data: o.data,
    metrics: o.rouge === false ? ['perplexity'] : ['perplexity', 'rouge'],
    splits,
    limit: o.limit ?? 16,
    every: o.every,
    label: o.label,
    maxNewTokens: o.maxNewTokens ?? 16,
    tokenizer: o.tokenizer,
    onPoint: o.onPoint,
  });
  const written: SeriesLine[] = [];
  let last = -1;
  return {
    every: o.every,
    file: o.file,
    at(model, step, force = false) {
      if (step === last) return null;
      const p = ev(model, step, { force });
      if (!p) return null;
      last = step;
      const lines = pointLines(p, o.label);
      if (o.file) appendSeries(o.file, lines);
      written.push(...lines);
      return p;
    },
    lines: () => [...written],
  };
}
