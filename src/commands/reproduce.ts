/**
 * `unlearnkit reproduce <paper> [--quick]`: run a source paper's protocol over several seeds and
 * write reports/reproduce-<paper>-<time>/ (src/reproduce): the claims side by side with the
 * paper's numbers, then per-seed tables, charts, settings and versions.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { getEngine } from '../engine/engine.ts';
import { UserError } from '../util/errors.ts';
import { outputPath } from '../util/paths.ts';
import { deviceOption, resolveDevice } from './deviceOption.ts';
import { PAPERS, getPaper } from '../reproduce/index.ts';
import { defaultReportDir, refuseExisting } from '../reproduce/report.ts';
import { fmtInterval } from '../reproduce/claims.ts';

type Opts = Record<string, string | boolean | undefined>;

export function register(program: Command): void {
  program
    .command('reproduce')
    .description("reproduce a source paper's claims (zagardo2024, zhao2024) over several seeds: a report with each claim, the paper's number, ours with its 95% CI and whether it goes the same way")
    .argument('<paper>', PAPERS.map((p) => p.name).join(' | '))
    .option('--quick', 'the seconds-scale version (used by the tests): every claim row, at a scale too small to settle them')
    .option('--seeds <list>', 'seeds, comma-separated (at least 2 for an interval)', '0,1,2')
    .option('--out <dir>', 'report folder (default reports/reproduce-<paper>-<UTC time>); an existing folder is refused')
    .option('--orders <list>', "zhao2024: RUM subset orders, ';'-separated, each a permutation of low,medium,high or 'all' for the six (default: --quick low,medium,high;high,medium,low, else all)")
    .option('--threads <n>', 'CPU threads (default: UNLEARNKIT_THREADS or all cores)')
    .option('--json', 'print the claims as JSON')
    .option('--quiet', 'no progress lines')
    .addOption(deviceOption())
    .action(async (paperName: string, o: Opts) => {
      resolveDevice(o);
      const paper = getPaper(paperName);
      if (o.threads !== undefined) {
        const n = Number(o.threads);
        if (!Number.isInteger(n) || n < 1) throw new UserError(`--threads must be a positive integer, got '${String(o.threads)}'`);
        getEngine({ threads: n });
      }
      const seeds = String(o.seeds)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map((s) => {
          const n = Number(s);
          if (!Number.isInteger(n) || n < 0) throw new UserError(`--seeds: '${s}' is not a non-negative integer`);
          return n;
        });
      if (seeds.length === 0) throw new UserError('--seeds: give at least one seed');
      if (new Set(seeds).size !== seeds.length) throw new UserError('--seeds: seeds must be distinct');
      const out = o.out ? path.resolve(String(o.out)) : defaultReportDir(outputPath(), paper.name);
      refuseExisting(out);
      const orders = o.orders === undefined ? undefined : String(o.orders).split(';').map((s) => s.trim()).filter(Boolean);
      const quiet = !!o.quiet || !!o.json;
      const r = await paper.run({ quick: !!o.quick, seeds, out, orders, log: quiet ? undefined : (l) => process.stderr.write(`${l}\n`) });
      if (o.json) {
        process.stdout.write(JSON.stringify({ paper: r.paper, report: r.written.dir, seconds: r.seconds, claims: r.claims }, null, 2) + '\n');
        return;
      }
      const lines = [`${paper.citation}: ${r.claims.filter((c) => c.direction === 'yes').length} of ${r.claims.length} claims in the paper's direction (${seeds.length} seeds, ${r.seconds.toFixed(0)} s)`];
      for (const c of r.claims) lines.push(`  ${c.id.padEnd(12)} ${c.direction.padEnd(12)} ${fmtInterval(c.ours).padEnd(36)} ${c.claim}`);
      lines.push(`report: ${path.relative(process.cwd(), r.written.html) || r.written.html}`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
