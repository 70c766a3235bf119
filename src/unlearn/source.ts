/**
 * Where an unlearning starts: a fine-tune run folder (run.json, checkpoint.gguf, grads/) or a bare
 * checkpoint GGUF; and the training items of the run, looked up in a fact dataset by id.
 *
 * A LoRA fine-tune (run.json `lora`: adapter.gguf over a frozen base) is unlearned on its adapter:
 * the source's `checkpoint` is then the base model file (its sha256 checked against the one the
 * run recorded) and `lora` names the adapter; methods change the adapter's factors only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GradRecordReader } from '../train/gradRecord.ts';
import { sha256File } from '../train/finetune.ts';
import { factExamples, textExamples, tokenizeExamples } from '../train/examples.ts';
import type { Dataset } from '../data/dataset.ts';
import type { FactItem } from '../data/types.ts';
import type { Tokenizer } from '../model/tokenizer/index.ts';
import { UserError } from '../util/errors.ts';
import type { Example, FinetuneRunOptions, RunSource } from './types.ts';

interface RunJson {
  kind?: string;
  model?: string;
  baseModelSha256?: string;
  options?: Partial<FinetuneRunOptions>;
  trainedTensors?: string[];
  lora?: { rank: number; alpha: number; targets: string[]; adapter: string };
}

/** Open `from`: a run folder, or a GGUF (a run's checkpoint.gguf is treated as its run folder). */
export function loadSource(from: string): RunSource {
  if (!fs.existsSync(from)) throw new UserError(`--from ${from} does not exist (give a fine-tune run folder or a checkpoint .gguf)`);
  let dir: string | null = null;
  let checkpoint: string;
  if (fs.statSync(from).isDirectory()) {
    dir = from;
    checkpoint = path.join(from, 'checkpoint.gguf');
    if (!fs.existsSync(checkpoint) && !fs.existsSync(path.join(from, 'adapter.gguf'))) throw new UserError(`${from} is not a fine-tune run folder (no checkpoint.gguf)`);
  } else {
    checkpoint = from;
    const parent = path.dirname(from);
    if (['checkpoint.gguf', 'adapter.gguf'].includes(path.basename(from)) && fs.existsSync(path.join(parent, 'run.json'))) dir = parent;
  }
  let run: RunJson | null = null;
  if (dir && fs.existsSync(path.join(dir, 'run.json'))) {
    try {
      run = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')) as RunJson;
    } catch (e) {
      throw new UserError(`${path.join(dir, 'run.json')} is not valid JSON: ${(e as Error).message}`);
    }
  }
  let lora: RunSource['lora'] = null;
  if (dir && run?.lora) {
    // a LoRA run: unlearning starts from its base model with the run's adapter attached
    const adapter = path.join(dir, run.lora.adapter ?? 'adapter.gguf');
    if (!fs.existsSync(adapter)) throw new UserError(`${dir} is a LoRA fine-tune but its adapter ${adapter} is missing (did the first epoch finish?)`);
    if (!run.model || !fs.existsSync(run.model)) throw new UserError(`${dir} is a LoRA fine-tune of ${run.model}, which no longer exists`);
    checkpoint = run.model;
    lora = { adapter, alpha: run.lora.alpha, rank: run.lora.rank, targets: run.lora.targets };
  } else if (!fs.existsSync(checkpoint)) {
    throw new UserError(`${from} is not a fine-tune run folder (no checkpoint.gguf)`);
  }
  const checkpointSha256 = sha256File(checkpoint);
  if (lora && run?.baseModelSha256 && run.baseModelSha256 !== checkpointSha256) {
    throw new UserError(`${checkpoint}, the base model of the LoRA run ${dir}, changed since the run (sha256 differs)`);
  }
  const items = dir ? readItemsJsonl(path.join(dir, 'items.jsonl')) : null;
  const gradsDir = dir ? path.join(dir, 'grads') : null;
  const record = gradsDir && fs.existsSync(path.join(gradsDir, 'index.json')) ? new GradRecordReader(gradsDir) : null;
  const o = run?.options;
  const options: FinetuneRunOptions | null =
    o && o.lr !== undefined && o.epochs !== undefined
      ? {
          epochs: o.epochs,
          lr: o.lr,
          batch: o.batch ?? 8,
          optimizer: o.optimizer ?? 'adamw',
          weightDecay: o.weightDecay ?? 0,
          filter: o.filter ?? 'all',
          seed: o.seed ?? 0,
          maxLen: o.maxLen ?? undefined,
          record: o.record,
          lora: o.lora,
          target: o.target,
          microBatch: o.microBatch,
        }
      : null;
  return {
    dir,
    checkpoint,
    checkpointSha256,
    lora,
    baseModel: run?.model ?? null,
    options,
    trainedTensors: run?.trainedTensors ?? null,
    record,
    trainIds: items ? [...items.keys()] : record ? record.ids(1) : null,
    items,
  };
}

/** The run's exact training texts (id -> text), or null when the run has no items.jsonl. */
function readItemsJsonl(file: string): Map<string, string> | null {
  if (!fs.existsSync(file)) return null;
  const out = new Map<string, string>();
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      try {
        const o = JSON.parse(line) as { id: string; text: string };
        out.set(o.id, o.text);
      } catch (e) {
        throw new UserError(`${file}:${i + 1}: ${(e as Error).message}`);
      }
    });
  return out;
}

/** Every item of a dataset by id, as the training text fine-tuning used (facts) or plain text. */
export function itemTexts(ds: Dataset): Map<string, { id: string; text: string; fact?: FactItem }> {
  const out = new Map<string, { id: string; text: string; fact?: FactItem }>();
  const facts = ds.facts();
  factExamples(facts).forEach((e, i) => out.set(e.id, { ...e, fact: facts[i] }));
  for (const e of textExamples(ds.texts())) out.set(e.id, e);
  return out;
}

/** Tokenize items as fine-tuning does (BOS, EOS, clipped to the context). */
export function toExamples(items: Array<{ id: string; text: string }>, tok: Tokenizer, maxLen: number): Example[] {
  if (items.length === 0) return [];
  return tokenizeExamples(items, tok, maxLen).examples;
}

/** The run's training items: the record's ids looked up in the dataset, or `fallbackSplits` of it. */
export function trainingItems(source: RunSource, ds: Dataset, fallbackSplits: string[] = ['retain', 'forget', 'decoy']): Array<{ id: string; text: string; fact?: FactItem }> {
  const all = itemTexts(ds);
  if (source.items) {
    // the texts the run was really trained on (replay texts included); facts where the dataset has them
    return [...source.items].map(([id, text]) => ({ id, text, fact: all.get(id)?.fact }));
  }
  if (source.trainIds) {
    const missing = source.trainIds.filter((id) => !all.has(id));
    if (missing.length) {
      throw new UserError(`the run was trained on ${missing.length} item(s) that dataset '${ds.name}' does not have (e.g. ${missing[0]}); pass the dataset it was trained on with --data`);
    }
    return source.trainIds.map((id) => all.get(id)!);
  }
  return ds
    .facts()
    .filter((f) => fallbackSplits.includes(f.split))
    .map((f) => all.get(f.id)!);
}
