/**
 * The fine-tune action: what `unlearnkit finetune` and the TUI's Train screen both run. One typed
 * options object (the FINETUNE declarations of src/options/, checked by the one validator before
 * any work), then: read the dataset, take the training items of the chosen splits plus `replay`
 * general texts, measure the forget / general perplexity before (unless `eval: false`), fine-tune
 * (train/finetune.ts), measure after, and write `summary.json` into the run folder.
 *
 * The CLI (commands/train.ts) and the TUI job (tui/jobs/handlers/finetune.ts) are thin front-ends:
 * they turn their inputs into FinetuneActionOptions and print / show the result.
 */
import fs from 'node:fs';
import path from 'node:path';
import { finetune, type FinetuneOptions, type FinetuneResult, type LoraTrainOptions } from '../train/finetune.ts';
import { factExamples, replayTexts, textExamples } from '../train/examples.ts';
import { getDataset, type Dataset } from '../data/dataset.ts';
import { datasetRecord } from '../data/record.ts';
import type { DatasetOptions } from '../data/tofu.ts';
import type { FactSplit } from '../data/types.ts';
import { CausalLM } from '../model/model.ts';
import { attachLoraFile } from '../model/lora.ts';
import { tokenizerFromGguf } from '../model/tokenizer/index.ts';
import { scoreSequences } from '../eval/perplexity.ts';
import { checkWritableDir, writeJsonAtomic } from '../util/fs.ts';
import { UserError } from '../util/errors.ts';
import { seriesRecorder, SERIES_FILE, type SeriesRecorder } from '../eval/series.ts';
import { checkOptions, FINETUNE } from '../options/index.ts';

/** The training settings are finetune()'s own (train/finetune.ts FinetuneOptions, documented there). */
export interface FinetuneActionOptions
  extends Pick<FinetuneOptions, 'epochs' | 'lr' | 'batch' | 'optimizer' | 'weightDecay' | 'filter' | 'target' | 'microBatch' | 'saveType' | 'record' | 'recordFilter' | 'recordDtype' | 'maxRecordGb' | 'seed' | 'quiet' | 'signal' | 'onStep'> {
  model: string;
  /** Dataset name, Dave or TOFU folder, or TOFU file. */
  data: string;
  dataOptions?: DatasetOptions;
  splits: FactSplit[];
  /** General texts (not the evaluation general set) mixed in. */
  replay?: number;
  /** `r[,alpha]` as the CLI takes it, or the parsed form. */
  lora?: string | LoraTrainOptions;
  /** Run folder (default runs/finetune-<time>). */
  out?: string;
  /** Perplexity of the forget and general sets before and after (default true). */
  eval?: boolean;
  /** Perplexity and ROUGE per split every N optimiser steps into <out>/series.jsonl (eval/series.ts). */
  evalEvery?: number;
  /** The phase now starting ("perplexity before fine-tuning", ...). */
  onPhase?: (text: string) => void;
}

export interface SplitPerplexities {
  forget?: number;
  general?: number;
}

export type FinetuneSummary = FinetuneResult & { perplexity?: { before: SplitPerplexities; after: SplitPerplexities } };

export interface FinetuneActionResult {
  /** What summary.json holds (and `finetune --json` prints). */
  summary: FinetuneSummary;
  /** Training items: facts of the chosen splits, and replay texts. */
  facts: number;
  replayTexts: number;
  splits: FactSplit[];
  dataset: Dataset;
}

/** `--lora r[,alpha]`. */
export function parseLoraOption(v: string): LoraTrainOptions {
  const m = /^\s*(\d+)\s*(?:,\s*([0-9.eE+-]+)\s*)?$/.exec(v);
  if (!m) throw new UserError(`--lora takes the rank and optionally alpha: r[,alpha] (e.g. 16 or 16,32), got '${v}'`);
  const rank = Number(m[1]);
  const alpha = m[2] === undefined ? undefined : Number(m[2]);
  if (!(rank >= 1)) throw new UserError(`--lora rank must be a positive integer, got '${m[1]}'`);
  if (alpha !== undefined && !(alpha > 0 && Number.isFinite(alpha))) throw new UserError(`--lora alpha must be a positive number, got '${m[2]}'`);
  return { rank, alpha };
}

/**
 * Perplexity of the forget facts (as trained) and of the general set under a model file (with a
 * LoRA adapter file applied), for the sets the dataset has: a TOFU dataset has no general texts,
 * and one without a forget split no forget facts (scoring an empty set would give NaN).
 */
export function splitPerplexities(modelPath: string, ds: Dataset, adapter?: string): SplitPerplexities {
  const model = CausalLM.load(modelPath);
  if (adapter) attachLoraFile(model, adapter);
  const tok = tokenizerFromGguf(model.file!);
  const enc = (items: Array<{ id: string; text: string }>) => items.map((i) => ({ id: i.id, tokens: tok.encode(i.text, { addBos: true }) }));
  const out: SplitPerplexities = {};
  if (ds.facts('forget').length) out.forget = scoreSequences(model, enc(factExamples(ds.facts('forget')))).perplexity;
  if (ds.texts().length) out.general = scoreSequences(model, enc(textExamples(ds.texts()))).perplexity;
  return out;
}

/** `--eval-every N`: the finetune hook that appends each point to <out>/series.jsonl (a fresh run starts a fresh file). */
function seriesHook(ds: Dataset, out: string, every: number): { every: number; fn: (model: CausalLM, step: number) => void } {
  let rec: SeriesRecorder | null = null;
  const file = path.join(out, SERIES_FILE);
  return {
    every,
    fn: (model, step) => {
      if (step === 0) fs.rmSync(file, { force: true });
      rec ??= seriesRecorder({ file, data: ds, every, label: 'finetune' });
      rec.at(model, step, true);
    },
  };
}

/** Check every setting against the FINETUNE declarations (a UserError naming the first bad one). */
function checkFinetuneOptions(o: FinetuneActionOptions): void {
  const { lora, out, ...rest } = o;
  checkOptions(FINETUNE, { ...rest, ...(typeof lora === 'string' ? { lora } : {}), ...(out ? { out } : {}) });
}

/** Fine-tune with before / after measures (see the module comment). */
export function finetuneAction(o: FinetuneActionOptions): FinetuneActionResult {
  checkFinetuneOptions(o);
  const ds = getDataset(o.data, o.dataOptions ?? {});
  const replay = replayTexts(o.replay ?? 0, new Set(ds.texts().map((t) => t.text)));
  const facts = factExamples(o.splits.flatMap((s) => ds.facts(s)));
  const items = [...facts, ...replay];
  if (items.length === 0) {
    const c = ds.counts();
    throw new UserError(`no training items: ${o.data} has none in the splits ${o.splits.join(', ')} (it has ${Object.entries(c).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'no items'}); choose others with --splits`);
  }
  const lora = typeof o.lora === 'string' ? parseLoraOption(o.lora) : o.lora;
  const out = o.out || path.join('runs', `finetune-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  checkWritableDir(out, '--out'); // before the perplexity pass and the training: a file in the way is a UserError now
  const measure = o.eval !== false;
  if (measure) o.onPhase?.('perplexity before fine-tuning');
  const before = measure ? splitPerplexities(o.model, ds) : null;
  o.onPhase?.(`fine-tuning on ${items.length} items`);
  const r = finetune({
    modelPath: o.model,
    items,
    out,
    epochs: o.epochs,
    lr: o.lr,
    batch: o.batch,
    optimizer: o.optimizer,
    weightDecay: o.weightDecay,
    filter: o.filter,
    lora,
    target: o.target,
    microBatch: o.microBatch,
    saveType: o.saveType,
    record: o.record,
    recordFilter: o.recordFilter,
    recordDtype: o.recordDtype,
    maxRecordGb: o.maxRecordGb,
    seed: o.seed,
    quiet: o.quiet,
    signal: o.signal,
    onStep: o.onStep,
    dataset: datasetRecord(ds, o.data),
    ...(o.evalEvery ? { onWeights: seriesHook(ds, out, o.evalEvery) } : {}),
  });
  if (measure) o.onPhase?.('perplexity after fine-tuning');
  const after = measure ? (r.adapter ? splitPerplexities(r.baseModel, ds, r.adapter) : splitPerplexities(r.checkpoint, ds)) : null;
  if (after) {
    // training checks every loss and weight it computes; this is the model as evaluation reads it
    const bad = (['forget', 'general'] as const).filter((k) => after[k] !== undefined && !Number.isFinite(after[k]));
    if (bad.length) {
      const g = (x: number) => (Math.abs(x) >= 1e4 || Math.abs(x) < 1e-3 ? x.toExponential() : String(x));
      const lr = o.lr ?? (FINETUNE.lr.default as number);
      throw new UserError(
        `the fine-tuned ${r.adapter ? 'adapter' : 'model'} gives a non-finite perplexity on the ${bad.join(' and ')} set (${bad.map((k) => after[k]).join(', ')}); ` +
          `likely cause: the learning rate --lr ${g(lr)} is too large (try ${g(lr / 10)} or smaller). ${r.adapter ?? r.checkpoint} is not usable: delete ${out} and train again`,
      );
    }
  }
  const summary: FinetuneSummary = { ...r, perplexity: before && after ? { before, after } : undefined };
  writeJsonAtomic(path.join(out, 'summary.json'), summary);
  return { summary, facts: facts.length, replayTexts: replay.length, splits: o.splits, dataset: ds };
}
