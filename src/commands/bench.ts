/**
 * `unlearnkit bench <suite>`: benchmarks that write JSON with ratios measured in the same run to
 * reports/bench/<suite>.json. `bench all` runs every suite (npm run bench).
 */
import type { Command } from 'commander';
import path from 'node:path';
import { writeJsonAtomic } from '../util/fs.ts';
import { PROJECT_ROOT } from '../util/paths.ts';
import { UserError } from '../util/errors.ts';
import { deviceOption, resolveDevice } from './deviceOption.ts';
import { benchEngine, printEngineBench } from '../engine/bench.ts';
import { runServeBench, printServeBench } from './benchServe.ts';
import { benchTrain, printTrainBench } from '../train/bench.ts';
import { benchEval, printBenchEval } from '../model/benchEval.ts';
import { benchUnlearn, printUnlearnBench } from '../unlearn/bench.ts';
import { benchRum, printRumBench } from '../rum/bench.ts';

type Suite = { name: string; description: string; run: (o: BenchOpts) => Promise<unknown>; print?: (r: any) => void };
export interface BenchOpts {
  quick?: boolean;
  /** train: also the reference config side by side with PyTorch (issue 11). */
  reference?: boolean;
}

/** Registered suites; other modules add theirs here. */
export const SUITES: Suite[] = [
  { name: 'engine', description: 'fp32 matmul GFLOP/s at 512^3, 1024^3, 2048^3 and an MLP training step', run: (o) => benchEngine(o), print: printEngineBench },
  { name: 'eval', description: 'per-token log-prob throughput of our engine vs node-llama-cpp on the same model', run: (o) => benchEval({ quick: o.quick }), print: printBenchEval },
  { name: 'train', description: 'fine-tuning step speed vs matmul, and the first-epoch record overhead', run: (o) => benchTrain({ quick: o.quick, reference: o.reference }), print: printTrainBench },
  { name: 'unlearn', description: 'time of each unlearning method on the Dave forget set / time of building the retain-only model', run: (o) => benchUnlearn({ quick: o.quick }), print: printUnlearnBench },
  { name: 'rum', description: 'RUM CNN training images/s and GFLOP/s vs matmul', run: (o) => benchRum(o as never), print: printRumBench },
  { name: 'serve', description: 'inference server: loopback load and overhead vs node-llama-cpp', run: (o) => runServeBench(o as never), print: printServeBench },
];

export function benchOutPath(name: string): string {
  return path.join(PROJECT_ROOT, 'reports', 'bench', `${name}.json`);
}

export async function runSuite(name: string, o: BenchOpts, json: boolean): Promise<unknown> {
  const s = SUITES.find((x) => x.name === name);
  if (!s) throw new UserError(`unknown bench suite '${name}'; known: ${SUITES.map((x) => x.name).join(', ')}, all`);
  const r = await s.run(o);
  const out = benchOutPath(name);
  writeJsonAtomic(out, r);
  if (json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else {
    s.print?.(r);
    process.stdout.write(`wrote ${path.relative(process.cwd(), out)}\n`);
  }
  return r;
}

export function register(program: Command): void {
  program
    .command('bench')
    .description(`run benchmarks and write reports/bench/<suite>.json (suites: ${SUITES.map((s) => s.name).join(', ')}, all)`)
    .argument('<suite>', 'suite name or "all"')
    .option('--json', 'print the JSON result')
    .option('--quick', 'fewer repetitions')
    .option('--reference', 'train: also run the reference LLaMA config against the PyTorch reference (Debian python3-torch)')
    .addOption(deviceOption())
    .action(async (suite: string, o: { json?: boolean; quick?: boolean; reference?: boolean; device?: string }) => {
      resolveDevice(o);
      const names = suite === 'all' ? SUITES.map((s) => s.name) : [suite];
      for (const n of names) await runSuite(n, { quick: o.quick, reference: o.reference }, !!o.json);
    });
}
