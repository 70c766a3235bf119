/**
 * Training commands: `finetune` (with the first-epoch gradient record) and `grads info`.
 */
import type { Command } from 'commander';
import path from 'node:path';
import { finetune, FINETUNE_DEFAULTS, type RecordMode } from '../train/finetune.ts';
import { factExamples, replayTexts, textExamples } from '../train/examples.ts';
import { GradRecordReader } from '../train/gradRecord.ts';
import { getDataset } from '../data/dataset.ts';
import type { FactSplit } from '../data/types.ts';
import { CausalLM } from '../model/model.ts';
import { tokenizerFromGguf } from '../model/tokenizer/index.ts';
import { scoreSequences } from '../eval/perplexity.ts';
import { FILTER_HELP } from '../model/paramGroups.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { UserError } from '../util/errors.ts';
import { deviceOption, resolveDevice } from './deviceOption.ts';
import type { OptimizerKind } from '../engine/graph.ts';
import { pretrain, PRETRAIN_DEFAULTS } from '../train/pretrain.ts';

export const DEFAULT_TRAIN_SPLITS: FactSplit[] = ['retain', 'forget', 'decoy'];

/** Perplexity of the forget facts (as trained) and of the general set under a model file. */
export function forgetGeneralPerplexity(modelPath: string, data: string): { forget: number; general: number } {
  const model = CausalLM.load(modelPath);
  const tok = tokenizerFromGguf(model.file!);
  const ds = getDataset(data);
  const enc = (items: Array<{ id: string; text: string }>) => items.map((i) => ({ id: i.id, tokens: tok.encode(i.text, { addBos: true }) }));
  return {
    forget: scoreSequences(model, enc(factExamples(ds.facts('forget')))).perplexity,
    general: scoreSequences(model, enc(textExamples(ds.texts()))).perplexity,
  };
}

function num(v: string, what: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UserError(`${what} must be a number, got '${v}'`);
  return n;
}

export function register(program: Command): void {
  program
    .command('finetune')
    .description('fine-tune a model on a fact dataset, recording each example\'s first-epoch gradient')
    .requiredOption('--model <gguf>', 'base model')
    .option('--data <dataset>', 'dataset folder or name', 'datasets/dave')
    .option('--splits <list>', 'fact splits to train on (retain-only oracle: retain)', DEFAULT_TRAIN_SPLITS.join(','))
    .option('--replay <n>', 'general texts (not the evaluation general set) mixed in to keep general ability', '0')
    .option('--epochs <n>', 'epochs', String(FINETUNE_DEFAULTS.epochs))
    .option('--lr <x>', 'learning rate', String(FINETUNE_DEFAULTS.lr))
    .option('--batch <n>', 'batch size (sequences)', String(FINETUNE_DEFAULTS.batch))
    .option('--optimizer <name>', 'adamw | sgd', FINETUNE_DEFAULTS.optimizer)
    .option('--weight-decay <x>', 'weight decay', '0')
    .option('--filter <targets>', `trained tensors: ${FILTER_HELP}`, 'all')
    .option('--record <mode>', 'first-epoch | all-epochs | none', FINETUNE_DEFAULTS.record)
    .option('--record-filter <targets>', 'recorded tensors (default: --filter)')
    .option('--record-dtype <t>', 'f32 | f16', 'f32')
    .option('--seed <n>', 'seed', '0')
    .option('--out <dir>', 'run folder (resumable)', '')
    .option('--no-eval', 'skip the perplexity before / after')
    .option('--quiet', 'no progress bar')
    .option('--json', 'print the result as JSON')
    .addOption(deviceOption())
    .action((o: Record<string, string | boolean | undefined>) => {
      resolveDevice(o);
      const ds = getDataset(String(o.data));
      const splits = String(o.splits).split(',').map((s) => s.trim()) as FactSplit[];
      const replay = replayTexts(num(String(o.replay), '--replay'), new Set(ds.texts().map((t) => t.text)));
      const items = [...factExamples(splits.flatMap((s) => ds.facts(s))), ...replay];
      const out = String(o.out || path.join('runs', `finetune-${new Date().toISOString().replace(/[:.]/g, '-')}`));
      if (!['f32', 'f16'].includes(String(o.recordDtype))) throw new UserError(`--record-dtype must be f32 or f16`);
      const before = o.eval ? forgetGeneralPerplexity(String(o.model), String(o.data)) : null;
      const r = finetune({
        modelPath: String(o.model),
        items,
        out,
        epochs: num(String(o.epochs), '--epochs'),
        lr: num(String(o.lr), '--lr'),
        batch: num(String(o.batch), '--batch'),
        optimizer: String(o.optimizer) as OptimizerKind,
        weightDecay: num(String(o.weightDecay), '--weight-decay'),
        filter: String(o.filter),
        record: String(o.record) as RecordMode,
        recordFilter: o.recordFilter ? String(o.recordFilter) : undefined,
        recordDtype: String(o.recordDtype) as 'f32' | 'f16',
        seed: num(String(o.seed), '--seed'),
        quiet: !!o.quiet,
      });
      const after = o.eval ? forgetGeneralPerplexity(r.checkpoint, String(o.data)) : null;
      const summary = { ...r, perplexity: before && after ? { before, after } : undefined };
      writeJsonAtomic(path.join(out, 'summary.json'), summary);
      if (o.json) return void process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      const lines = [`fine-tuned ${items.length} items (${splits.join(', ')}${replay.length ? ` + ${replay.length} replay texts` : ''}) -> ${r.checkpoint}`];
      for (const e of r.epochs) lines.push(`  epoch ${e.epoch}: mean loss ${e.meanLoss.toFixed(4)}, ${e.tokens} tokens in ${e.seconds.toFixed(1)} s${e.recorded ? ' (recorded)' : ''}`);
      if (r.recordDir) lines.push(`  gradient record: ${r.recordDir} (${r.recordedTensors.length} tensors)`);
      if (before && after) {
        lines.push(`  perplexity forget: ${before.forget.toFixed(3)} -> ${after.forget.toFixed(3)} (${((after.forget / before.forget - 1) * 100).toFixed(1)}%)`);
        lines.push(`  perplexity general: ${before.general.toFixed(3)} -> ${after.general.toFixed(3)} (${((after.general / before.general - 1) * 100).toFixed(1)}%)`);
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
    .description('sizes and counts of a gradient record (a run folder or its grads/ folder)')
    .argument('<dir>', 'run folder or grads folder')
    .option('--json', 'print JSON')
    .action((dir: string, o: { json?: boolean }) => {
      const d = path.basename(dir) === 'grads' ? dir : path.join(dir, 'grads');
      const info = new GradRecordReader(d).info();
      if (o.json) return void process.stdout.write(JSON.stringify(info, null, 2) + '\n');
      const lines = [
        `${d}: ${info.examples} examples, epochs ${info.epochs.join(', ')}, ${info.dtype}`,
        `  per-example gradients: ${(info.recordBytes / 2 ** 20).toFixed(2)} MiB; optimiser step scales: ${(info.stepBytes / 2 ** 20).toFixed(2)} MiB`,
        `  tensors (${info.tensors.length}):`,
        ...info.tensors.map((t) => `    ${t.name.padEnd(28)} [${t.ne.join(', ')}] ${t.storage}`),
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
