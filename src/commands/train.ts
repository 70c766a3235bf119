/**
 * Training commands: `finetune` (with the first-epoch gradient record) and `grads info`.
 */
import type { Command } from 'commander';
import path from 'node:path';
import { finetune, FINETUNE_DEFAULTS, SAVE_TYPES, type LoraTrainOptions, type RecordMode, type SaveType } from '../train/finetune.ts';
import { factExamples, replayTexts, textExamples } from '../train/examples.ts';
import { GradRecordReader } from '../train/gradRecord.ts';
import { getDataset, type Dataset } from '../data/dataset.ts';
import { datasetRecord, describeOptions } from '../data/record.ts';
import { addDatasetOptions, datasetOptionsOf } from './datasetOptions.ts';
import type { FactSplit } from '../data/types.ts';
import { CausalLM } from '../model/model.ts';
import { attachLoraFile, LORA_TARGET_HELP } from '../model/lora.ts';
import { tokenizerFromGguf } from '../model/tokenizer/index.ts';
import { scoreSequences } from '../eval/perplexity.ts';
import { FILTER_HELP } from '../model/paramGroups.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { UserError } from '../util/errors.ts';
import { deviceOption, resolveDevice } from './deviceOption.ts';
import type { OptimizerKind } from '../engine/graph.ts';
import { pretrain, PRETRAIN_DEFAULTS } from '../train/pretrain.ts';

export const DEFAULT_TRAIN_SPLITS: FactSplit[] = ['retain', 'forget', 'decoy'];

/** Perplexity of the forget facts (as trained) and of the general set under a model file (with a LoRA adapter file applied). */
export function forgetGeneralPerplexity(modelPath: string, data: string, adapter?: string): { forget: number; general: number } {
  const p = splitPerplexities(modelPath, getDataset(data), adapter);
  return { forget: p.forget ?? NaN, general: p.general ?? NaN };
}

/**
 * Perplexity of the forget facts (as trained) and of the general set under a model file (with a
 * LoRA adapter file applied), for the sets the dataset has: a TOFU dataset has no general texts,
 * and one without a forget split no forget facts (scoring an empty set would give NaN).
 */
export function splitPerplexities(modelPath: string, ds: Dataset, adapter?: string): { forget?: number; general?: number } {
  const model = CausalLM.load(modelPath);
  if (adapter) attachLoraFile(model, adapter);
  const tok = tokenizerFromGguf(model.file!);
  const enc = (items: Array<{ id: string; text: string }>) => items.map((i) => ({ id: i.id, tokens: tok.encode(i.text, { addBos: true }) }));
  const out: { forget?: number; general?: number } = {};
  if (ds.facts('forget').length) out.forget = scoreSequences(model, enc(factExamples(ds.facts('forget')))).perplexity;
  if (ds.texts().length) out.general = scoreSequences(model, enc(textExamples(ds.texts()))).perplexity;
  return out;
}

function num(v: string, what: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UserError(`${what} must be a number, got '${v}'`);
  return n;
}

/** `--lora r[,alpha]`. */
export function parseLoraOption(v: string): LoraTrainOptions {
  const m = /^\s*(\d+)\s*(?:,\s*([0-9.eE+-]+)\s*)?$/.exec(v);
  if (!m) throw new UserError(`--lora takes the rank and optionally alpha: r[,alpha] (e.g. 16 or 16,32), got '${v}'`);
  const rank = Number(m[1]);
  const alpha = m[2] === undefined ? undefined : Number(m[2]);
  if (!(rank >= 1)) throw new UserError(`--lora rank must be a positive integer, got '${m[1]}'`);
  if (alpha !== undefined && !(alpha > 0)) throw new UserError(`--lora alpha must be a positive number, got '${m[2]}'`);
  return { rank, alpha };
}

export function register(program: Command): void {
  const ft = program
    .command('finetune')
    .description('fine-tune a model (its weights, or LoRA adapters on the frozen base with --lora) on a fact dataset, recording each example\'s first-epoch gradient')
    .requiredOption('--model <gguf>', 'base model')
    .option('--data <dataset>', 'dataset name, Dave or TOFU folder, or TOFU file (recorded in run.json: unlearn --from and eval use it)', 'datasets/dave')
    .option('--splits <list>', 'fact splits to train on (retain-only oracle: retain)', DEFAULT_TRAIN_SPLITS.join(','))
    .option('--replay <n>', 'general texts (not the evaluation general set) mixed in to keep general ability', '0')
    .option('--epochs <n>', 'epochs', String(FINETUNE_DEFAULTS.epochs))
    .option('--lr <x>', 'learning rate', String(FINETUNE_DEFAULTS.lr))
    .option('--batch <n>', 'batch size (sequences)', String(FINETUNE_DEFAULTS.batch))
    .option('--optimizer <name>', 'adamw | sgd', FINETUNE_DEFAULTS.optimizer)
    .option('--weight-decay <x>', 'weight decay', '0')
    .option('--filter <targets>', `fully trained tensors (default all): ${FILTER_HELP}`)
    .option('--lora <r[,alpha]>', 'train LoRA adapters of rank r (scale alpha / r, default alpha = r) on a frozen base kept in its stored type; writes adapter.gguf')
    .option('--target <targets>', `with --lora: ${LORA_TARGET_HELP}`)
    .option('--micro-batch <n>', 'sequences per forward/backward: the batch gradient is accumulated over micro-batches (same update, less memory)')
    .option('--save-type <t>', `type of the trained tensors in checkpoint.gguf: ${SAVE_TYPES.join(' | ')} (frozen tensors keep their stored type)`, 'f32')
    .option('--record <mode>', 'first-epoch | all-epochs | none', FINETUNE_DEFAULTS.record)
    .option('--record-filter <targets>', 'recorded tensors (default: --filter; with --lora: the adapters of these targets)')
    .option('--record-dtype <t>', 'f32 | f16', 'f32')
    .option('--max-record-gb <x>', 'refuse (before training) a gradient record larger than this many GB (default: 25% of the free space where --out is)')
    .option('--seed <n>', 'seed', '0')
    .option('--out <dir>', 'run folder (resumable)', '')
    .option('--no-eval', 'skip the perplexity before / after')
    .option('--quiet', 'no progress bar')
    .option('--json', 'print the result as JSON')
    .addOption(deviceOption());
  addDatasetOptions(ft);
  ft.action((o: Record<string, string | boolean | undefined>) => {
      resolveDevice(o);
      const ds = getDataset(String(o.data), datasetOptionsOf(o));
      const splits = String(o.splits).split(',').map((s) => s.trim()) as FactSplit[];
      const replay = replayTexts(num(String(o.replay), '--replay'), new Set(ds.texts().map((t) => t.text)));
      const items = [...factExamples(splits.flatMap((s) => ds.facts(s))), ...replay];
      if (items.length === 0) {
        const c = ds.counts();
        throw new UserError(`no training items: ${String(o.data)} has none in the splits ${splits.join(', ')} (it has ${Object.entries(c).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'no items'}); choose others with --splits`);
      }
      const out = String(o.out || path.join('runs', `finetune-${new Date().toISOString().replace(/[:.]/g, '-')}`));
      if (!['f32', 'f16'].includes(String(o.recordDtype))) throw new UserError(`--record-dtype must be f32 or f16`);
      const lora = o.lora !== undefined ? parseLoraOption(String(o.lora)) : undefined;
      const before = o.eval ? splitPerplexities(String(o.model), ds) : null;
      const r = finetune({
        modelPath: String(o.model),
        items,
        out,
        epochs: num(String(o.epochs), '--epochs'),
        lr: num(String(o.lr), '--lr'),
        batch: num(String(o.batch), '--batch'),
        optimizer: String(o.optimizer) as OptimizerKind,
        weightDecay: num(String(o.weightDecay), '--weight-decay'),
        filter: o.filter !== undefined ? String(o.filter) : undefined,
        lora,
        target: o.target !== undefined ? String(o.target) : undefined,
        microBatch: o.microBatch !== undefined ? num(String(o.microBatch), '--micro-batch') : undefined,
        saveType: String(o.saveType) as SaveType,
        record: String(o.record) as RecordMode,
        recordFilter: o.recordFilter ? String(o.recordFilter) : undefined,
        recordDtype: String(o.recordDtype) as 'f32' | 'f16',
        maxRecordGb: o.maxRecordGb !== undefined ? num(String(o.maxRecordGb), '--max-record-gb') : undefined,
        seed: num(String(o.seed), '--seed'),
        quiet: !!o.quiet,
        dataset: datasetRecord(ds, String(o.data)),
      });
      const after = o.eval ? (r.adapter ? splitPerplexities(r.baseModel, ds, r.adapter) : splitPerplexities(r.checkpoint, ds)) : null;
      const summary = { ...r, perplexity: before && after ? { before, after } : undefined };
      writeJsonAtomic(path.join(out, 'summary.json'), summary);
      if (o.json) return void process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      const lines = [`fine-tuned ${items.length} items (${splits.join(', ')}${replay.length ? ` + ${replay.length} replay texts` : ''}) -> ${r.checkpoint}${r.adapter ? ` (LoRA adapter of ${r.baseModel}, ${r.trainedTensors.length / 2} matrices)` : ''}`];
      lines.push(`  data: ${ds.source} (${ds.format}${describeOptions(ds.options)}${ds.format === 'tofu' && !ds.grouped ? '; authors not grouped: --group-by FIELD or --group-size N' : ''})`);
      for (const e of r.epochs) lines.push(`  epoch ${e.epoch}: mean loss ${e.meanLoss.toFixed(4)}, ${e.tokens} tokens in ${e.seconds.toFixed(1)} s${e.recorded ? ' (recorded)' : ''}`);
      if (r.recordDir) lines.push(`  gradient record: ${r.recordDir} (${r.recordedTensors.length} tensors)`);
      if (before && after) {
        for (const set of ['forget', 'general'] as const) {
          const [b, a] = [before[set], after[set]];
          if (b !== undefined && a !== undefined) lines.push(`  perplexity ${set}: ${b.toFixed(3)} -> ${a.toFixed(3)} (${((a / b - 1) * 100).toFixed(1)}%)`);
          else lines.push(`  perplexity ${set}: not measured (${set === 'general' ? 'the dataset has no general texts' : 'the dataset has no forget split'})`);
        }
      }
      process.stdout.write(lines.join('\n') + '\n');
    });

  program
    .command('pretrain')
    .description('train the embedded default model (LLaMA architecture, own tokenizer) on generated text; not part of tests or the demo')
    .option('--out <gguf>', 'output model', 'models/unlearnkit-base.gguf')
    .option('--data <dir>', 'Dave dataset folder (its general set is part of the corpus)', PRETRAIN_DEFAULTS.data)
    .option('--seed <n>', 'seed', String(PRETRAIN_DEFAULTS.seed))
    .option('--steps <n>', 'optimiser steps', String(PRETRAIN_DEFAULTS.steps))
    .option('--vocab-size <n>', 'tokenizer vocabulary size', String(PRETRAIN_DEFAULTS.vocabSize))
    .option('--dim <n>', 'embedding size', String(PRETRAIN_DEFAULTS.dim))
    .option('--layers <n>', 'blocks', String(PRETRAIN_DEFAULTS.layers))
    .option('--heads <n>', 'attention heads', String(PRETRAIN_DEFAULTS.heads))
    .option('--ffn <n>', 'feed-forward size', String(PRETRAIN_DEFAULTS.ffn))
    .option('--context <n>', 'context length', String(PRETRAIN_DEFAULTS.context))
    .option('--seq-len <n>', 'training window', String(PRETRAIN_DEFAULTS.seqLen))
    .option('--batch <n>', 'windows per step', String(PRETRAIN_DEFAULTS.batch))
    .option('--lr <x>', 'peak learning rate', String(PRETRAIN_DEFAULTS.lr))
    .option('--people <n>', 'biographies of people outside the Dave sets', String(PRETRAIN_DEFAULTS.people))
    .option('--general-texts <n>', 'extra general texts', String(PRETRAIN_DEFAULTS.generalTexts))
    .option('--json', 'print JSON')
    .addOption(deviceOption())
    .action((o: Record<string, string | boolean | undefined>) => {
      resolveDevice(o);
      const n = (k: string) => num(String(o[k]), `--${k}`);
      const r = pretrain({
        out: String(o.out),
        data: String(o.data),
        seed: n('seed'),
        steps: n('steps'),
        vocabSize: n('vocabSize'),
        dim: n('dim'),
        layers: n('layers'),
        heads: n('heads'),
        ffn: n('ffn'),
        context: n('context'),
        seqLen: n('seqLen'),
        batch: n('batch'),
        lr: n('lr'),
        people: n('people'),
        generalTexts: n('generalTexts'),
      });
      if (o.json) return void process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      process.stdout.write(
        [
          `wrote ${r.out}: ${r.parameters.toLocaleString('en-US')} parameters, vocabulary ${r.vocabSize}, ${r.corpusDocuments} documents (${r.corpusTokens} tokens), ${r.steps} steps in ${r.seconds.toFixed(0)} s, final loss ${r.finalLoss.toFixed(3)}`,
          `  perplexity: ${Object.entries(r.perplexity).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`,
          `  reproduce with: ${r.command}`,
        ].join('\n') + '\n',
      );
    });

  const grads = program.command('grads').description('inspect gradient records');
  grads
    .command('info')
    .description('sizes and counts of a gradient record (a run folder or its grads/ folder): per tensor, its storage, the form of its records (dense, sparse, factored) and the size against dense')
    .argument('<dir>', 'run folder or grads folder')
    .option('--json', 'print JSON')
    .action((dir: string, o: { json?: boolean }) => {
      const d = path.basename(dir) === 'grads' ? dir : path.join(dir, 'grads');
      const info = new GradRecordReader(d).info();
      if (o.json) return void process.stdout.write(JSON.stringify(info, null, 2) + '\n');
      const mib = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;
      const forms = (f: Partial<Record<string, number>>) => Object.entries(f).map(([k, v]) => `${k} ${v}`).join(', ');
      const lines = [
        `${d}: ${info.format}, ${info.examples} examples, epochs ${info.epochs.join(', ')}, ${info.dtype}, ${info.optimizer}`,
        `  per-example gradients: ${mib(info.recordBytes)} (dense: ${mib(info.denseRecordBytes)}, ratio ${info.ratio.toFixed(2)}); optimiser step scales: ${mib(info.stepBytes)}`,
        `  tensors (${info.tensors.length}): storage, records by form, size, dense / stored:`,
        ...info.tensors.map((t) => `    ${t.name.padEnd(28)} [${t.ne.join(', ')}] ${t.storage}: ${forms(t.forms)}; ${mib(t.bytes)}, ratio ${t.ratio.toFixed(2)}`),
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
