/**
 * `rum` job: the ToW / MIA-gap table of `unlearnkit rum table` (src/actions/rum.ts rumTableAction,
 * the action the CLI runs), with the table filling in as runs finish. Every run's result is
 * written atomically to <out>/seed-<s>/results.json by the experiment as soon as it is done, so after
 * each run the rows are rebuilt from those files (buildRumReport over the seeds so far). Progress
 * comes from the experiment's log lines; cancelling stops at the next line (between models and
 * runs), and a later run resumes from what was finished.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ExperimentOptions, ExperimentResult, SeedResult } from '../../../rum/experiment.ts';
import { buildRumReport, type RumReport } from '../../../rum/report.ts';
import { rumTableAction, type RumActionOptions } from '../../../actions/rum.ts';
import { JobCancelled } from '../cancel.ts';
import type { RumCell, RumParams } from '../protocol.ts';
import type { Handler } from './index.ts';

/** The RUM action's options from the screen's parameters (what `unlearnkit rum table` takes as flags). */
function rumActionOptions(p: RumParams, log: (line: string) => void): RumActionOptions {
  return {
    data: p.data,
    trainSize: p.trainSize,
    testSize: p.testSize,
    model: p.model,
    recipe: { epochs: p.epochs },
    seeds: p.seeds,
    forgetSize: p.forgetSize,
    forgetMix: 'stratified',
    algorithms: p.algorithms,
    rum: p.rum,
    memModels: p.memModels,
    out: p.out,
    quiet: true,
    log,
  };
}

/** Table rows as the screen shows them. */
function rumCells(r: RumReport): RumCell[] {
  const iv = (s: { estimate: number; lo: number; hi: number; n: number }) => (s.n > 0 ? { mean: s.estimate, lo: s.lo, hi: s.hi } : null);
  return r.rows.map((row) => ({
    algorithm: row.variant === 'rum' ? row.method : row.variant === 'original' ? 'Original' : row.variant === 'retrain' ? 'Retrain' : row.method,
    variant: row.variant,
    tow: iv(row.tow),
    miaGap: iv(row.miaGap),
    seeds: row.tow.n,
  }));
}

export const run: Handler<'rum'> = async (p, { signal, emit }) => {
  const started = Date.now();
  const seen = new Set<number>();
  let opts: ExperimentOptions | undefined;
  const partial = (): RumCell[] => {
    if (!opts) return [];
    const seeds: SeedResult[] = [];
    for (const s of [...seen].sort((a, b) => a - b)) {
      const f = path.join(opts.outDir, `seed-${s}`, 'results.json');
      try {
        if (fs.statSync(f).mtimeMs < started) continue;
        seeds.push(JSON.parse(fs.readFileSync(f, 'utf8')) as SeedResult);
      } catch {
        /* not written yet */
      }
    }
    if (!seeds.length) return [];
    const res = { dataset: opts.data.name, trainSize: opts.data.train.n, testSize: opts.data.test.n, config: opts.config, recipe: opts.recipe, memorization: {}, selection: null, rumTable: null, seeds, seconds: 0 } as unknown as ExperimentResult;
    return rumCells(buildRumReport(res));
  };
  const log = (line: string) => {
    if (signal.aborted) throw new JobCancelled('RUM run cancelled; finished runs are kept and a new run resumes from them');
    const mem = /memorization model (\d+)\/(\d+)/.exec(line);
    const seed = /\[seed[- ](\d+)\]/.exec(line);
    if (seed) seen.add(Number(seed[1]));
    emit({ kind: 'phase', text: line.trim(), ...(mem ? { done: Number(mem[1]), total: Number(mem[2]) } : {}) });
    if (seed) for (const cell of partial()) emit({ kind: 'cell', cell });
  };
  const { report, files } = rumTableAction(rumActionOptions(p, log), (e) => (opts = e));
  const cells = rumCells(report);
  for (const cell of cells) emit({ kind: 'cell', cell });
  return { cells, report: files.markdown };
};
