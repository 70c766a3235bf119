/**
 * `unlearnkit bench rum`: training throughput of the RUM CNN (images/s of forward + backward +
 * SGD-momentum steps) and its achieved GFLOP/s as a share of the engine's fp32 matmul GFLOP/s at
 * 1024^3 measured in the same run (src/bench/engine.ts benchMatmul). Achieved FLOPs count the
 * GEMMs only, 3 x the forward GEMM FLOPs per image (forward, and the two backward products); the
 * rest of a step (gathers, norms, activations, the update) is overhead against that count.
 * Also reported: evaluation throughput, and the momentum update in the graph vs on the host
 * (sgd.ts explains the choice).
 */
import os from 'node:os';
import { benchTrainingMatmul, type MatmulResult } from './engine.ts';
import { getEngine } from '../engine/engine.ts';
import { Rng } from '../util/rng.ts';
import { EvalGraph, TrainGraph } from '../rum/graphs.ts';
import { forwardGemmFlops, initWeights, paramCount, resolveConfig, type CnnConfig } from '../rum/model.ts';
import { hostMomentumStep } from '../rum/sgd.ts';
import { DEFAULT_RECIPE } from '../rum/train.ts';
import { profileGraph } from './trainReference.ts';

export interface RumBenchOptions {
  quick?: boolean;
  /** Model config name (default 'small'). */
  model?: string;
  batch?: number;
}

export interface RumBench {
  suite: 'rum';
  date: string;
  device: string;
  deviceDescription: string;
  cpu: string;
  threads: number;
  model: { name: string; config: CnnConfig; params: number; gemmMflopPerImage: number };
  batch: number;
  train: { msPerStep: number; imagesPerSecond: number; gflopPerStep: number; gflops: number; shareOfMatmul1024: number };
  eval: { batch: number; imagesPerSecond: number };
  momentum: { graphMsPerStep: number; hostMsPerStep: number };
  matmul1024: MatmulResult;
  /** Where the training step's time goes: every node timed alone, grouped by op kind. */
  profile: ReturnType<typeof profileGraph>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function timeSteps(fn: () => void, warm: number, reps: number): number {
  for (let i = 0; i < warm; i++) fn();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

export async function benchRum(o: RumBenchOptions = {}): Promise<RumBench> {
  const e = getEngine();
  const name = o.model ?? 'small';
  const config = resolveConfig(name);
  const batch = o.batch ?? DEFAULT_RECIPE.batch;
  const reps = o.quick ? 4 : 12;
  // the denominator is the kernel training runs its products on
  const matmul1024 = benchTrainingMatmul(1024, o.quick ? 2 : 5);
  const rng = new Rng(5);
  const per = config.inChannels * config.height * config.width;
  const x = rng.normalArray(batch * per);
  const y = new Float32Array(batch * config.classes);
  for (let i = 0; i < batch; i++) y[i * config.classes + rng.int(config.classes)] = 1;
  const hyper = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 };
  const w0 = initWeights(config, 1);

  const tg = new TrainGraph({ config, segments: [{ size: batch, weight: 1 }] });
  let graphMs: number;
  let hostMs: number;
  let profile: RumBench['profile'];
  try {
    tg.load(w0);
    graphMs = timeSteps(() => tg.step(x, y, hyper), 2, reps);
    profile = profileGraph(tg.g, 'backwardExtras');
    tg.load(w0); // the profile ran the momentum update on real values: start the host comparison afresh
    // the same update done on the host: gradients out, update, parameters back in
    const host = tg.pull();
    const vel = new Map([...host].map(([k, v]) => [k, new Float32Array(v.length)]));
    hostMs = timeSteps(
      () => {
        const g = tg.gradients(x, y);
        for (const [k, p] of host) {
          hostMomentumStep(p, g.get(k)!, vel.get(k)!, hyper);
          tg.setParam(k, p);
        }
      },
      1,
      Math.max(3, reps >> 1),
    );
  } finally {
    tg.dispose();
  }
  const evalBatch = 100;
  const eg = new EvalGraph(config, evalBatch);
  let evalMs: number;
  try {
    eg.load(w0);
    const xe = rng.normalArray(evalBatch * per);
    evalMs = timeSteps(() => eg.run(xe), 1, Math.max(3, reps >> 1));
  } finally {
    eg.dispose();
  }
  const gflopPerStep = (3 * forwardGemmFlops(config) * batch) / 1e9;
  const gflops = gflopPerStep / (graphMs / 1000);
  return {
    suite: 'rum',
    date: new Date().toISOString(),
    device: e.device.name,
    deviceDescription: e.device.description,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    threads: e.maxThreads,
    model: { name, config, params: paramCount(config), gemmMflopPerImage: forwardGemmFlops(config) / 1e6 },
    batch,
    train: { msPerStep: graphMs, imagesPerSecond: (batch / graphMs) * 1000, gflopPerStep, gflops, shareOfMatmul1024: gflops / matmul1024.gflops },
    eval: { batch: evalBatch, imagesPerSecond: (evalBatch / evalMs) * 1000 },
    momentum: { graphMsPerStep: graphMs, hostMsPerStep: hostMs },
    matmul1024,
    profile,
  };
}

export function printRumBench(r: RumBench): void {
  const t = r.train;
  process.stdout.write(
    [
      `RUM CNN benchmark on ${r.device} (${r.deviceDescription}, ${r.threads} threads): model ${r.model.name}, ${r.model.params.toLocaleString('en-US')} parameters, ${r.model.gemmMflopPerImage.toFixed(2)} MFLOP of GEMMs per image forward`,
      `  training, batch ${r.batch}: ${t.msPerStep.toFixed(1)} ms/step, ${t.imagesPerSecond.toFixed(0)} images/s, ${t.gflops.toFixed(2)} GFLOP/s = ${(100 * t.shareOfMatmul1024).toFixed(1)}% of ${r.matmul1024.kernel} matmul 1024^3 (${r.matmul1024.gflops.toFixed(1)} GFLOP/s)`,
      `  evaluation, batch ${r.eval.batch}: ${r.eval.imagesPerSecond.toFixed(0)} images/s`,
      `  momentum update in the graph: ${r.momentum.graphMsPerStep.toFixed(1)} ms/step; on the host: ${r.momentum.hostMsPerStep.toFixed(1)} ms/step`,
      `  training step by op kind (nodes timed alone, sum ${r.profile.nodeSumMs.toFixed(1)} ms): ` +
        r.profile.byOp.slice(0, 8).map((x) => `${x.op} ${(100 * x.share).toFixed(1)}%`).join(', '),
    ].join('\n') + '\n',
  );
}
