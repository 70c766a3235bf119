/**
 * Training commands: `finetune` (with the first-epoch gradient record) and `grads info`.
 */
import type { Command } from 'commander';
import path from 'node:path';
import type { RecordMode, SaveType } from '../train/finetune.ts';
import { GradRecordReader } from '../train/gradRecord.ts';
import { describeOptions } from '../data/record.ts';
import { addDatasetOptions, datasetOptionsOf } from './datasetOptions.ts';
import type { FactSplit } from '../data/types.ts';
import { LORA_TARGET_HELP } from '../model/lora.ts';
import { FILTER_HELP } from '../model/paramGroups.ts';
import { finetuneAction, parseLoraOption, splitPerplexities } from '../actions/finetune.ts';
import { addOptions, FINETUNE, PRETRAIN, readOptions } from '../options/index.ts';
import { UserError } from '../util/errors.ts';
import { deviceOption, resolveDevice } from './deviceOption.ts';
import type { OptimizerKind } from '../engine/graph.ts';
import { pretrain } from '../train/pretrain.ts';

export { parseLoraOption, splitPerplexities };

function num(v: string, what: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UserError(`${what} must be a number, got '${v}'`);
  return n;
}

export function register(program: Command): void {
  const ft = program
    .command('finetune')
    .description('fine-tune a model (its weights, or LoRA adapters on the frozen base with --lora) on a fact dataset, recording each example\'s first-epoch gradient');
  // every option from its declaration (src/options/declarations.ts FINETUNE): help, range, default
  addOptions(ft, FINETUNE, { filter: FILTER_HELP, target: LORA_TARGET_HELP });
  ft.option('--quiet', 'no progress bar').option('--json', 'print the result as JSON').addOption(deviceOption());
  addDatasetOptions(ft);
  ft.action((o: Record<string, string | boolean | undefined>) => {
    resolveDevice(o, { engine: 'none' }); // the device value first (as every command), then every other value
    const v = readOptions(FINETUNE, o);
    resolveDevice(o);
    const quiet = !!o.quiet;
    const { summary: r, facts, replayTexts, splits, dataset: ds } = finetuneAction({
      model: v.model!,
      data: v.data!,
      dataOptions: datasetOptionsOf(o),
      splits: v.splits as FactSplit[],
      replay: v.replay,
      epochs: v.epochs,
      lr: v.lr,
      batch: v.batch,
      optimizer: v.optimizer as OptimizerKind,
      weightDecay: v.weightDecay,
      filter: v.filter,
      lora: v.lora,
      target: v.target,
      microBatch: v.microBatch,
      saveType: v.saveType as SaveType,
      record: v.record as RecordMode,
      recordFilter: v.recordFilter,
      recordDtype: v.recordDtype as 'f32' | 'f16',
      maxRecordGb: v.maxRecordGb,
      seed: v.seed,
      out: v.out,
      eval: o.eval !== false,
      evalEvery: v.evalEvery,
      quiet,
    });
    if (o.json) return void process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    const lines = [`fine-tuned ${facts + replayTexts} items (${splits.join(', ')}${replayTexts ? ` + ${replayTexts} replay texts` : ''}) -> ${r.checkpoint}${r.adapter ? ` (LoRA adapter of ${r.baseModel}, ${r.trainedTensors.length / 2} matrices)` : ''}`];
    lines.push(`  data: ${ds.source} (${ds.format}${describeOptions(ds.options)}${ds.format === 'tofu' && !ds.grouped ? '; authors not grouped: --group-by FIELD or --group-size N' : ''})`);
    for (const e of r.epochs) lines.push(`  epoch ${e.epoch}: mean loss ${e.meanLoss.toFixed(4)}, ${e.tokens} tokens in ${e.seconds.toFixed(1)} s${e.recorded ? ' (recorded)' : ''}`);
    if (r.recordDir) lines.push(`  gradient record: ${r.recordDir} (${r.recordedTensors.length} tensors)`);
    if (r.perplexity) {
      const { before, after } = r.perplexity;
      for (const set of ['forget', 'general'] as const) {
        const [b, a] = [before[set], after[set]];
        if (b !== undefined && a !== undefined) lines.push(`  perplexity ${set}: ${b.toFixed(3)} -> ${a.toFixed(3)} (${((a / b - 1) * 100).toFixed(1)}%)`);
        else lines.push(`  perplexity ${set}: not measured (${set === 'general' ? 'the dataset has no general texts' : 'the dataset has no forget split'})`);
      }
    }
    process.stdout.write(lines.join('\n') + '\n');
  });

  const pre = program
    .command('pretrain')
    .description('train the embedded default model (LLaMA architecture, own tokenizer) on generated text; not part of tests or the demo');
  addOptions(pre, PRETRAIN); // src/options/declarations.ts PRETRAIN
  pre
    .option('--json', 'print JSON')
    .addOption(deviceOption())
    .action((o: Record<string, string | boolean | undefined>) => {
      resolveDevice(o, { engine: 'none' });
      readOptions(PRETRAIN, o); // every value in its declared range before any work
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
