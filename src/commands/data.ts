/**
 * `unlearnkit data ...`: generate the Dave dataset, show items, count splits.
 *   data generate-dave [--seed 7] [--out datasets/dave] [--json]
 *   data show <set>[:split] [--split S] [--limit N] [--json]
 *   data info [set] [--json]
 * `show` and `info` take the dataset options (--forget-split, --group-by, ...: datasetOptions.ts).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../util/errors.ts';
import { checkWritableDir } from '../util/fs.ts';
import { DEFAULT_DAVE_SEED, writeDave } from '../data/dave/generate.ts';
import { checkDaveManifest, loadDave } from '../data/dave/load.ts';
import { getDataset, knownDatasets, parseDatasetRef } from '../data/dataset.ts';
import { EVERY_SPLIT, type AnySplit, type FactItem, type TextItem } from '../data/types.ts';
import { addDatasetOptions, datasetOptionsOf } from './datasetOptions.ts';

function intOption(v: string, name: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UserError(`--${name} must be an integer >= ${min}, got "${v}"`);
  return n;
}

function printFact(f: FactItem): string {
  const lines = [
    `[${f.id}] ${f.statement}`,
    `    Q: ${f.question}`,
    `    A: ${f.answer}   (paraphrased: ${f.paraphrased_answer})`,
  ];
  for (const p of f.paraphrases) lines.push(`    ~ ${p}`);
  if (f.perturbed_answers.length > 0) lines.push(`    wrong: ${f.perturbed_answers.join(' | ')}`);
  if (f.decoy_of) lines.push(`    decoy of: ${f.decoy_of}`);
  return lines.join('\n');
}

export function register(program: Command): void {
  const data = program.command('data').description('Datasets: generate the Dave set, show items, count splits');

  data
    .command('generate-dave')
    .description('Generate the Dave dataset (deterministic for a seed) into a folder')
    .option('--seed <n>', 'random seed', String(DEFAULT_DAVE_SEED))
    .option('--out <dir>', 'output folder', path.join('datasets', 'dave'))
    .option('--json', 'print the manifest as JSON')
    .action((opts: { seed: string; out: string; json?: boolean }) => {
      const seed = intOption(opts.seed, 'seed', 0);
      checkWritableDir(opts.out, '--out');
      const m = writeDave(opts.out, seed);
      if (opts.json) {
        process.stdout.write(JSON.stringify({ out: opts.out, ...m }, null, 2) + '\n');
        return;
      }
      process.stdout.write(`wrote ${opts.out} (seed ${seed})\n`);
      for (const [name, f] of Object.entries(m.files)) {
        process.stdout.write(`  ${name.padEnd(14)} ${String(f.items).padStart(5)} items${f.people !== undefined ? `, ${f.people} people` : ''}  ${f.bytes} bytes\n`);
      }
    });

  const show = data
    .command('show <set>')
    .description('Print items of a dataset: a name (dave), a Dave- or TOFU-format folder or a TOFU file; "dave:forget" picks a split')
    .option('--split <split>', `one of ${EVERY_SPLIT.join(', ')}`)
    .option('--limit <n>', 'print at most N items', '20')
    .option('--json', 'print a JSON array');
  addDatasetOptions(show).action((set: string, opts: { split?: string; limit: string; json?: boolean }) => {
      const ref = parseDatasetRef(set);
      const split = (opts.split ?? ref.split) as AnySplit | undefined;
      if (split !== undefined && !(EVERY_SPLIT as readonly string[]).includes(split)) {
        throw new UserError(`unknown split "${split}"; use one of ${EVERY_SPLIT.join(', ')}`);
      }
      const limit = intOption(opts.limit, 'limit', 0);
      const ds = getDataset(ref.name, datasetOptionsOf(opts));
      const items: Array<FactItem | TextItem> = split === 'general' ? ds.texts() : split ? ds.facts(split) : [...ds.facts(), ...ds.texts()];
      const shown = items.slice(0, limit);
      if (opts.json) {
        process.stdout.write(JSON.stringify(shown, null, 2) + '\n');
        return;
      }
      for (const it of shown) process.stdout.write(('text' in it ? `[${it.id}] ${it.text}` : printFact(it)) + '\n');
      process.stdout.write(`(${shown.length} of ${items.length} items)\n`);
    });

  const info = data
    .command('info [set]')
    .description('Items and people per split (default: dave); for a TOFU folder also the file each split came from')
    .option('--json', 'print JSON');
  addDatasetOptions(info).action((set: string | undefined, opts: { json?: boolean }) => {
      const name = set ?? 'dave';
      const ds = getDataset(name, datasetOptionsOf(opts));
      const counts = ds.counts();
      const people = ds.people();
      let manifestProblems: string[] | undefined;
      if (ds.format === 'dave') manifestProblems = checkDaveManifest(ds.source, loadDave(ds.source).manifest);
      if (opts.json) {
        process.stdout.write(JSON.stringify({ name: ds.name, format: ds.format, source: ds.source, sha256: ds.sha256, options: ds.options, layout: ds.layout, counts, evalCounts: ds.layout ? Object.fromEntries(Object.keys(ds.layout.files).map((s) => [s, ds.evalFacts(s as FactItem['split']).length])) : undefined, people, manifestProblems }, null, 2) + '\n');
        return;
      }
      process.stdout.write(`${ds.name} (${ds.format}, ${ds.source})\n`);
      for (const s of EVERY_SPLIT) {
        if (counts[s] === 0 && (ds.format === 'tofu' || s === 'real_authors' || s === 'world_facts')) continue;
        const p = s === 'general' || (ds.format === 'tofu' && (s === 'real_authors' || s === 'world_facts')) ? '' : people[s] === null ? '  (authors not grouped: --group-by FIELD or --group-size N)' : `  ${people[s]} people`;
        const f = s !== 'general' ? ds.layout?.files[s] : undefined;
        const evalN = s !== 'general' && ds.layout ? ds.evalFacts(s).length : counts[s];
        const from = f ? `  from ${f.file}${f.perturbed && f.perturbed !== f.file ? ` + ${f.perturbed}` : ''}${evalN !== counts[s] ? ` (evaluated on the ${evalN} in ${f.perturbed})` : ''}` : '';
        process.stdout.write(`  ${s.padEnd(12)} ${String(counts[s]).padStart(5)} items${p}${from}\n`);
      }
      if (ds.layout) {
        const l = ds.layout;
        for (const k of ['forget', 'retain', 'holdout'] as const) if (l.available[k].length > 1) process.stdout.write(`  ${k} files present: ${l.available[k].join(', ')} (choose with --${k}-split)\n`);
        if (l.ignored.length) process.stdout.write(`  ignored (not a TOFU split name): ${l.ignored.join(', ')}\n`);
      }
      if (manifestProblems && manifestProblems.length > 0) {
        process.stdout.write(`  manifest mismatch (hand-edited?):\n${manifestProblems.map((p) => `    ${p}`).join('\n')}\n`);
      }
      if (set === undefined) {
        process.stdout.write(`known datasets: ${knownDatasets().map((d) => d.name).join(', ')}\n`);
      }
    });
}
