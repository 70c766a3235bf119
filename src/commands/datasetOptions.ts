/**
 * The options that say how a dataset is read (data/tofu.ts DatasetOptions): which of a TOFU folder's
 * forget / retain / holdout files, and the rule that groups its questions into authors. One
 * declaration shared by `data`, `finetune`, `unlearn` and `eval`.
 */
import type { Command } from 'commander';
import type { DatasetOptions } from '../data/tofu.ts';
import { UserError } from '../util/errors.ts';

/** Declare the dataset options on a command (`grouping: false` leaves out --group-by / --group-size). */
export function addDatasetOptions<C extends Command>(cmd: C, o: { grouping?: boolean } = {}): C {
  cmd
    .option('--forget-split <name>', 'TOFU folder: the forget file when it has several (forget01 | forget05 | forget10 | forget)')
    .option('--retain-split <name>', 'TOFU folder: the retain file (default: the one pairing with the forget split, forgetNN <-> retain(100-NN))')
    .option('--holdout-split <name>', 'TOFU folder: the holdout file (default: holdoutNN for forgetNN)');
  if (o.grouping !== false) {
    cmd
      .option('--group-by <field>', 'TOFU data: authors are the values of this field of each record (e.g. author)')
      .option('--group-size <n>', 'TOFU data: authors are consecutive runs of n questions in each file (TOFU: 20); without this or --group-by, authors are not counted');
  }
  return cmd;
}

/** The DatasetOptions of parsed command options. */
export function datasetOptionsOf(o: Record<string, unknown>, grouping = true): DatasetOptions {
  const out: DatasetOptions = {};
  const str = (v: unknown) => (v === undefined ? undefined : String(v));
  if (o.forgetSplit !== undefined) out.forgetSplit = str(o.forgetSplit);
  if (o.retainSplit !== undefined) out.retainSplit = str(o.retainSplit);
  if (o.holdoutSplit !== undefined) out.holdoutSplit = str(o.holdoutSplit);
  if (grouping && o.groupBy !== undefined) out.groupBy = str(o.groupBy);
  if (grouping && o.groupSize !== undefined) {
    const n = Number(o.groupSize);
    if (!Number.isInteger(n) || n < 1) throw new UserError(`--group-size must be a positive integer, got '${String(o.groupSize)}'`);
    out.groupSize = n;
  }
  return out;
}
