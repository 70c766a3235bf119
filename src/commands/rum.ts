/**
 * `unlearnkit rum ...`: RUM on images (docs/methods.md#rum-on-images; src/rum).
 *   rum memorization  memorization scores (K subset models) and the two proxies' Spearman rho
 *   rum entanglement  entanglement scores of forget sets in the original model's embedding space
 *   rum unlearn       unlearn a forget set with the chosen algorithms (vanilla / shuffle / refined, RUM)
 *   rum table         the paper's table over seeds: ToW / MIA gap with 95% intervals, JSON + Markdown
 * Everything is cached under --out, so an interrupted command resumes where it stopped.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../util/errors.ts';
import { deviceOption, resolveDevice } from './deviceOption.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { ALGORITHM_NAMES } from '../rum/algorithms.ts';
import { entanglementAnalysis, memorizationAnalysis } from '../rum/analyses.ts';
import { runExperiment, VARIANTS, type Variant } from '../rum/experiment.ts';
import { NAMED_CONFIGS } from '../rum/model.ts';
import { fmtSummary, renderRumMarkdown } from '../rum/report.ts';
import { LEVELS } from '../rum/rum.ts';
import { rumExperimentOptions, rumTableAction, type RumActionOptions } from '../actions/rum.ts';
import { DEFAULT_RECIPE } from '../rum/train.ts';

import { commanderOption, readOptions, RUM } from '../options/index.ts';

type Opts = Record<string, string | boolean | undefined>;

function int(v: unknown, name: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UserError(`--${name} must be an integer >= ${min}, got '${String(v)}'`);
  return n;
}

function list(v: unknown): string[] {
  return String(v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Options every rum subcommand shares. */
function common(c: Command, defaults: { seeds: string }): Command {
  return c
    .option('--data <spec>', "a CIFAR-10 / CIFAR-100 / MNIST folder, or 'synthetic' (generated CIFAR-format images for trying the pipeline; not CIFAR)", 'synthetic')
    .addOption(commanderOption(RUM.trainSize))
    .addOption(commanderOption(RUM.testSize))
    .option('--model <name>', `model config: ${Object.keys(NAMED_CONFIGS).join(', ')}`, 'small')
    .addOption(commanderOption(RUM.width))
    .option('--blocks <list>', 'BasicBlocks per stage, e.g. 1,1,1')
    .addOption(commanderOption(RUM.epochs).default(DEFAULT_RECIPE.epochs))
    .addOption(commanderOption(RUM.batch).default(DEFAULT_RECIPE.batch))
    .addOption(commanderOption(RUM.lr).default(DEFAULT_RECIPE.lr))
    .addOption(commanderOption(RUM.momentum).default(DEFAULT_RECIPE.momentum))
    .addOption(commanderOption(RUM.weightDecay).default(DEFAULT_RECIPE.weightDecay))
    .option('--augment', 'random crop + flip augmentation during training')
    .option('--seeds <list>', 'seeds, comma-separated', defaults.seeds)
    .addOption(commanderOption(RUM.forgetSize))
    .addOption(commanderOption(RUM.forgetMix))
    .addOption(commanderOption(RUM.memModels))
    .addOption(commanderOption(RUM.memFraction))
    .option('--out <dir>', 'results and cache folder (default runs/rum/<data>-<train-size>)')
    .addOption(commanderOption(RUM.threads))
    .option('--quiet', 'no progress bars')
    .option('--json', 'print JSON')
    .addOption(deviceOption());
}

/** The RUM action's options from the flags (src/actions/rum.ts checks them against the declarations). */
function actionOptions(o: Opts, extra: { algorithms: string[]; variants?: Variant[] }): RumActionOptions {
  resolveDevice(o, { engine: 'none' });
  readOptions(RUM, o); // every value in its declared range (src/options) before any work
  resolveDevice(o);
  const n = (v: unknown) => (v === undefined ? undefined : Number(v));
  return {
    data: String(o.data),
    trainSize: Number(o.trainSize),
    testSize: Number(o.testSize),
    model: String(o.model),
    width: n(o.width),
    blocks: o.blocks === undefined ? undefined : list(o.blocks).map((b) => int(b, 'blocks', 1)),
    recipe: { epochs: Number(o.epochs), batch: Number(o.batch), lr: Number(o.lr), momentum: Number(o.momentum), weightDecay: Number(o.weightDecay), augment: !!o.augment },
    seeds: list(o.seeds).map((s) => int(s, 'seeds', 0)),
    forgetSize: Number(o.forgetSize),
    forgetMix: String(o.forgetMix) as 'stratified' | 'random',
    algorithms: extra.algorithms,
    variants: extra.variants,
    hyper: o.hyper === undefined ? undefined : String(o.hyper),
    rum: o.rum === false ? 'none' : String(o.rum ?? 'select'),
    rumCandidates: o.rumCandidates ? list(o.rumCandidates) : undefined,
    memModels: Number(o.memModels),
    memFraction: n(o.memFraction),
    out: o.out === undefined ? undefined : String(o.out),
    threads: n(o.threads),
    quiet: !!o.quiet,
    log: o.json ? undefined : (line) => process.stderr.write(`${line}\n`),
  };
}

function algorithmsOption(o: Opts): string[] {
  const a = list(o.algorithms);
  if (a.length === 0) throw new UserError('--algorithms: give at least one algorithm');
  return a;
}

export function register(program: Command): void {
  const rum = program.command('rum').description('RUM on images: memorization, entanglement, refined unlearning, the ToW / MIA-gap table');

  common(rum.command('memorization').description('memorization scores (K models on random subsets) and the Spearman rho of the two cheap proxies'), { seeds: '1' }).action(
    (o: Opts) => {
      const opts = rumExperimentOptions({ ...actionOptions(o, { algorithms: [] }), rum: 'none' });
      const r = memorizationAnalysis(opts, opts.seeds[0]!);
      writeJsonAtomic(path.join(opts.outDir, 'memorization', 'report.json'), r);
      if (o.json) return void process.stdout.write(JSON.stringify({ ...r, scores: undefined, proxyScores: undefined }, null, 2) + '\n');
      const q = r.quantiles.map((v) => v.toFixed(2));
      process.stdout.write(
        [
          `memorization of ${r.trainSize} images from ${r.models} models on ${Math.round(r.fraction * 100)}% subsets`,
          `  accuracy of the models on their own examples ${r.meanAccIn.toFixed(3)}, on held-out ones ${r.meanAccOut.toFixed(3)}`,
          `  scores: min ${q[0]}, 10% ${q[1]}, 25% ${q[2]}, median ${q[3]}, 75% ${q[4]}, 90% ${q[5]}, max ${q[6]}; ${(100 * r.shareAbove05).toFixed(1)}% above 0.5` +
            (r.missingOut > 0 ? `; ${r.missingOut} examples in every subset (held-out term: the mean)` : ''),
          `  original model (seed ${r.original.seed}): train accuracy ${r.original.trainAccuracy.toFixed(3)}, test ${r.original.testAccuracy.toFixed(3)}`,
          ...r.proxies.map((p) => `  proxy ${p.proxy}: Spearman rho ${p.spearman.r.toFixed(3)} with the estimator (p ${p.spearman.p.toExponential(2)}, n ${p.spearman.n})`),
          `wrote ${path.join(opts.outDir, 'memorization', 'report.json')}`,
        ].join('\n') + '\n',
      );
    },
  );

  common(rum.command('entanglement').description("entanglement score of retain vs forget sets in the original model's embedding space"), { seeds: '1,2,3' }).action((o: Opts) => {
    const opts = rumExperimentOptions({ ...actionOptions(o, { algorithms: [] }), rum: 'none' });
    const r = entanglementAnalysis(opts);
    writeJsonAtomic(path.join(opts.outDir, 'entanglement.json'), r);
    if (o.json) return void process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    process.stdout.write(
      [
        `entanglement score (higher = more entangled), forget sets of ${r.forgetSize}, seeds ${r.seeds.join(', ')}:`,
        `  stratified forget set: ${fmtSummary(r.es.stratified, 1)}`,
        ...LEVELS.map((l) => `    ${l}-memorization third: ${fmtSummary(r.es[l], 1)}`),
        `  random forget set:     ${fmtSummary(r.es.random, 1)}`,
      ].join('\n') + '\n',
    );
  });

  const withAlgos = (c: Command) =>
    c
      .option('--algorithms <list>', `unlearning algorithms: ${ALGORITHM_NAMES.filter((n) => n !== 'retrain').join(', ')}`, 'finetune,neggrad+')
      .option('--hyper <spec>', 'hyper-parameter overrides, e.g. finetune.epochs=3,neggrad+.beta=0.9')
      .option('--rum <table>', "RUM's algorithm per subset: 'select' (chosen on a held-out seed) or low=A,medium=B,high=C", 'select')
      .option('--rum-candidates <list>', 'candidates for --rum select (default: --algorithms)')
      .option('--no-rum', 'leave out the RUM row');

  withAlgos(common(rum.command('unlearn').description('unlearn a forget set: vanilla, shuffle and refined (RUM^F) runs of each algorithm, and RUM'), { seeds: '1' }))
    .option('--variants <list>', `which of ${VARIANTS.join(', ')}`, VARIANTS.join(','))
    .action((o: Opts) => {
      const opts = rumExperimentOptions(actionOptions(o, { algorithms: algorithmsOption(o), variants: list(o.variants) as Variant[] }));
      const res = runExperiment(opts);
      if (o.json) return void process.stdout.write(JSON.stringify(res, null, 2) + '\n');
      const lines: string[] = [];
      for (const s of res.seeds) {
        lines.push(`seed ${s.seed}: forget ${s.forgetSize}, original acc S/R/test ${[s.original.acc.forget, s.original.acc.retain, s.original.acc.test].map((v) => v.toFixed(3)).join(' / ')}, oracle ${[s.oracle.acc.forget, s.oracle.acc.retain, s.oracle.acc.test].map((v) => v.toFixed(3)).join(' / ')}`);
        for (const r of s.runs) {
          lines.push(
            `  ${(r.algorithm + ' ' + r.variant).padEnd(22)} ToW ${r.scores.tow.toFixed(3)}  MIA gap ${r.scores.miaGap.toFixed(3)}  ToW-MIA ${r.scores.towMia.toFixed(3)}  acc S/R/test ${[r.eval.acc.forget, r.eval.acc.retain, r.eval.acc.test].map((v) => v.toFixed(3)).join(' / ')}  ${r.seconds.toFixed(1)} s`,
          );
        }
      }
      lines.push(`results in ${path.join(opts.outDir, 'experiment.json')}`);
      process.stdout.write(lines.join('\n') + '\n');
    });

  withAlgos(common(rum.command('table').description("the paper's table over seeds: ToW and MIA gap of vanilla / shuffle / refined per algorithm and RUM, with 95% intervals"), { seeds: '1,2,3' })).action(
    (o: Opts) => {
      const { report, files } = rumTableAction(actionOptions(o, { algorithms: algorithmsOption(o) }));
      if (o.json) return void process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      process.stdout.write(renderRumMarkdown(report) + `\nwrote ${files.json} and ${files.markdown}\n`);
    },
  );
}
