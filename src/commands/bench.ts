/**
 * `unlearnkit bench <suite>`: benchmarks that write JSON with ratios measured in the same run to
 * reports/bench/<suite>.json. `bench all` runs every suite (npm run bench).
 */
import type { Command } from 'commander';
import path from 'node:path';
import { writeJsonAtomic } from '../util/fs.ts';
import { outputPath } from '../util/paths.ts';
import { UserError } from '../util/errors.ts';
import { deviceOption, resolveDevice } from './deviceOption.ts';
import type { DeviceChoice } from '../engine/loader.ts';
import { benchEngine, printEngineBench } from '../bench/engine.ts';
import { runServeBench, printServeBench } from './benchServe.ts';
import { benchTrain, printTrainBench } from '../bench/train.ts';
import { benchTrainShapes, printTrainShapes, type ShapeBench } from '../bench/trainShape.ts';
import { benchEval, printBenchEval, evalCliOptions, type BenchEvalCliFlags, type BenchEvalOptions } from '../bench/eval.ts';
import { benchUnlearn, printUnlearnBench } from '../bench/unlearn.ts';
import { benchRum, printRumBench } from '../bench/rum.ts';
import { benchSweep, printSweepBench } from '../bench/sweep.ts';

type Suite = { name: string; description: string; run: (o: BenchOpts) => Promise<unknown>; print?: (r: any) => void };
interface BenchOpts {
  quick?: boolean;
  /** train: also the reference config side by side with PyTorch (issue 11). */
  reference?: boolean;
  /** The device every suite computes on (--device, resolved once): serve passes it to node-llama-cpp. */
  device?: DeviceChoice;
  /** eval: shapes, type, seed, threads and workload (--shape, --type, ...). */
  eval?: BenchEvalOptions;
  /** train --shape: training steps at real model shapes (trainShape.ts) instead of the default suite. */
  trainShapes?: { shapes: string[]; rounds?: number; modes?: Array<'full' | 'lora'>; vocabDir?: string; profile?: boolean };
}

/** Registered suites; other modules add theirs here. */
const SUITES: Suite[] = [
  { name: 'engine', description: 'fp32 matmul GFLOP/s at 512^3, 1024^3, 2048^3 and an MLP training step', run: (o) => benchEngine(o), print: printEngineBench },
  { name: 'eval', description: 'per-token log-prob throughput of our engine vs node-llama-cpp on the same model', run: (o) => benchEval({ ...o.eval, quick: o.quick }), print: printBenchEval },
  {
    name: 'train',
    description: 'fine-tuning step speed vs matmul, and the first-epoch record overhead; with --shape, full and LoRA steps at real model shapes (vs PyTorch with --reference) and the record size there',
    run: (o) =>
      o.trainShapes
        ? benchTrainShapes({
            ...o.trainShapes,
            quick: o.quick,
            reference: o.reference,
            log: (l) => process.stderr.write(l + '\n'),
            // a long run keeps what it has measured so far
            onPartial: (r) => writeJsonAtomic(benchOutPath('train'), r),
          })
        : benchTrain({ quick: o.quick, reference: o.reference }),
    print: (r: { suite: string }) => (r.suite === 'train-shapes' ? printTrainShapes(r as ShapeBench) : printTrainBench(r as never)),
  },
  { name: 'unlearn', description: 'time of each unlearning method on the Dave forget set / time of building the retain-only model', run: (o) => benchUnlearn({ quick: o.quick }), print: printUnlearnBench },
  { name: 'rum', description: 'RUM CNN training images/s and GFLOP/s vs matmul', run: (o) => benchRum(o as never), print: printRumBench },
  { name: 'serve', description: 'inference server: loopback load and overhead vs node-llama-cpp', run: (o) => runServeBench({ quick: o.quick, gpu: o.device }), print: printServeBench },
  { name: 'sweep', description: 'sweep jobs per minute: local pool with 1 and 2 workers, and 2 queue workers on a loopback redis-server', run: (o) => benchSweep({ quick: o.quick }), print: printSweepBench },
];

function benchOutPath(name: string): string {
  return outputPath('reports', 'bench', `${name}.json`);
}

async function runSuite(name: string, o: BenchOpts, json: boolean): Promise<unknown> {
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
    .option('--reference', 'train: also run the reference LLaMA config (with --shape: the shapes\' configs) against the PyTorch reference (scripts/reference/torch_train_step.py, Debian python3-torch)')
    .option('--rounds <n>', 'train --shape: alternating ours / PyTorch rounds (default 3, --quick 2)')
    .option('--modes <list>', 'train --shape: full, lora or both (default full,lora)')
    .option('--vocab-dir <dir>', 'train --shape: folder with llama.cpp\'s ggml-vocab-*.gguf files, for the record size with the shape\'s own tokenizer')
    .option('--profile', 'train --shape: per-op profile of our fine-tuning step, full and LoRA')
    .option('--shape <shape>', 'train: smollm2-135m, qwen2.5-0.5b, llama-3.2-1b, ... (comma-separated or repeated); eval: a random-weight model at a real shape (smollm2-135m, qwen2.5-0.5b, llama-3.2-1b, gpt2-124m, ..., all, custom:<arch>,embd=..,layers=..,heads=..); repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .option('--type <type>', 'eval: type of the --shape models (f16 default; any `quantize --type`)')
    .option('--seed <n>', 'eval: seed of the --shape models\' random weights (default 1)')
    .option('--threads <n>', 'eval: most CPU threads for both engines (default: the core count)')
    .option('--seq-len <n>', 'eval: tokens per sequence (default 128)')
    .option('--sequences <n>', 'eval: sequences scored per pass (default 8, --quick 4)')
    .option('--reps <n>', 'eval: timed rounds, median reported (default 3, --quick 1)')
    .addOption(deviceOption())
    .action(async (suite: string, o: { json?: boolean; quick?: boolean; reference?: boolean; device?: string; rounds?: string; modes?: string; vocabDir?: string; profile?: boolean } & BenchEvalCliFlags) => {
      const device = resolveDevice(o);
      const names = suite === 'all' ? SUITES.map((s) => s.name) : [suite];
      const trainShapes = trainShapeOptions(o, names.includes('train'));
      const evalOpts = evalCliOptions(names.includes('eval') ? o : { ...o, shape: undefined }, names.includes('eval'));
      for (const n of names) await runSuite(n, { quick: o.quick, reference: o.reference, device, eval: evalOpts, trainShapes }, !!o.json);
    });
}

/** `bench train --shape ...` and its options (--rounds, --modes, --vocab-dir, --profile); undefined without --shape. */
function trainShapeOptions(o: { shape?: string[]; rounds?: string; modes?: string; vocabDir?: string; profile?: boolean }, trainRuns: boolean): BenchOpts['trainShapes'] {
  const own = (['rounds', 'modes', 'vocabDir', 'profile'] as const).filter((k) => o[k] !== undefined);
  if (!trainRuns || !o.shape) {
    if (own.length) throw new UserError(`${own.map((k) => `--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`).join(', ')} only apply to 'bench train --shape'`);
    return undefined;
  }
  const shapes = o.shape.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  let rounds: number | undefined;
  if (o.rounds !== undefined) {
    rounds = Number(o.rounds);
    if (!Number.isInteger(rounds) || rounds < 1) throw new UserError(`--rounds must be a positive integer, got '${o.rounds}'`);
  }
  const modes = o.modes?.split(',').map((m) => m.trim());
  for (const m of modes ?? []) if (m !== 'full' && m !== 'lora') throw new UserError(`--modes takes full, lora or both, got '${m}'`);
  return { shapes, rounds, modes: modes as Array<'full' | 'lora'> | undefined, vocabDir: o.vocabDir, profile: o.profile };
}
