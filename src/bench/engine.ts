/**
 * `unlearnkit bench engine`: fp32 matrix-product throughput of the engine at 512^3, 1024^3 and
 * 2048^3 (best of N computes of one reused graph, 2*n^3 FLOP each), and a forward + backward +
 * AdamW step of a small MLP with its achieved GFLOP/s as a share of the 1024^3 matmul rate measured
 * in the same run. Reference on a 2-core Zen 4 machine: ggml does 107-131 GFLOP/s at 1024^3.
 */
import os from 'node:os';
import { getEngine } from '../engine/engine.ts';
import { Graph } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import { Rng } from '../util/rng.ts';
import { nativeKernels } from '../engine/native.ts';

export interface MatmulResult {
  n: number;
  kernel: 'ggml' | 'native';
  ms: number;
  gflops: number;
}

export interface EngineBench {
  suite: 'engine';
  date: string;
  device: string;
  deviceDescription: string;
  cpu: string;
  cpuVariant: string;
  threads: number;
  nodeLlamaCpp: string;
  ggml: string;
  matmul: MatmulResult[];
  /** The same products on unlearnkit's native kernel (empty when it is not built; see nativeKernel). */
  nativeMatmul: MatmulResult[];
  nativeKernel: string;
  /** native / ggml GFLOP/s at 1024^3, measured in this run. */
  nativeOverGgml1024: number | null;
  mlpStep: { batch: number; dims: number[]; params: number; msPerStep: number; gflopPerStep: number; gflops: number; shareOfMatmul1024: number };
}

function timeBest(fn: () => void, reps: number): number {
  fn(); // warm-up
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

/**
 * An n^3 f32 product, best of `reps`: ggml's mul_mat, or unlearnkit's native kernel (op.fastMatMul,
 * which training graphs use on the CPU; null when it is not built).
 */
function benchMatmul(n: number, reps: number, kernel: 'ggml' | 'native' = 'ggml'): MatmulResult | null {
  const g = new Graph({ maxNodes: 16 });
  try {
    const a = g.input('a', [n, n]);
    const b = g.input('b', [n, n]);
    if (kernel === 'native' && !op.nativeMatMulFor(a)) return null;
    const c = kernel === 'native' ? op.fastMatMul(a, b) : op.mulMat(a, b);
    g.build({ outputs: [c] });
    g.allocate();
    const rng = new Rng(n);
    g.set(a, rng.normalArray(n * n));
    g.set(b, rng.normalArray(n * n));
    const ms = timeBest(() => g.compute('forward'), reps);
    return { n, kernel, ms, gflops: (2 * n ** 3) / (ms * 1e6) };
  } finally {
    g.dispose();
  }
}

/** benchMatmul on the kernel training graphs run their products on: native when built, else ggml. */
export function benchTrainingMatmul(n: number, reps: number): MatmulResult {
  return benchMatmul(n, reps, 'native') ?? benchMatmul(n, reps)!;
}

/** A 3-layer MLP classifier step (the kind the RUM side trains), batch x dims. */
function benchMlpStep(reps: number, batch = 256, dims = [1024, 1024, 1024, 10]): EngineBench['mlpStep'] {
  const g = new Graph({ maxNodes: 512 });
  try {
    const x = g.input('x', [dims[0]!, batch]);
    const y = g.input('y', [dims[dims.length - 1]!, batch]);
    let h = x;
    let params = 0;
    let flop = 0;
    const ws = [];
    for (let i = 0; i + 1 < dims.length; i++) {
      const w = g.param(`w${i}`, [dims[i]!, dims[i + 1]!]);
      const bias = g.param(`b${i}`, [dims[i + 1]!]);
      ws.push(w, bias);
      params += dims[i]! * dims[i + 1]! + dims[i + 1]!;
      flop += 6 * dims[i]! * dims[i + 1]! * batch;
      h = op.add(op.mulMat(w, h), bias);
      if (i + 2 < dims.length) h = op.relu(h);
    }
    const loss = op.crossEntropyLoss(h, y);
    g.build({ loss, optimizer: 'adamw' });
    g.allocate();
    const rng = new Rng(3);
    for (const w of ws) g.set(w, rng.normalArray(w.numel, 0.02));
    g.set(x, rng.normalArray(dims[0]! * batch));
    const labels = new Float32Array(dims[dims.length - 1]! * batch);
    for (let i = 0; i < batch; i++) labels[i * dims[dims.length - 1]! + rng.int(dims[dims.length - 1]!)] = 1;
    g.set(y, labels);
    const ms = timeBest(() => g.step({ lr: 1e-3 }), reps);
    return { batch, dims, params, msPerStep: ms, gflopPerStep: flop / 1e9, gflops: flop / (ms * 1e6), shareOfMatmul1024: 0 };
  } finally {
    g.dispose();
  }
}

export async function benchEngine(o: { quick?: boolean } = {}): Promise<EngineBench> {
  const e = getEngine();
  const reps = o.quick ? 2 : 5;
  const sizes = [512, 1024, 2048];
  const repsFor = (n: number) => (n === 2048 ? Math.max(2, reps - 2) : reps);
  const matmul = sizes.map((n) => benchMatmul(n, repsFor(n))!);
  const nativeMatmul = sizes.map((n) => benchMatmul(n, repsFor(n), 'native')).filter((m) => m !== null);
  const mlp = benchMlpStep(reps);
  const m1024 = matmul.find((m) => m.n === 1024)!;
  mlp.shareOfMatmul1024 = mlp.gflops / m1024.gflops;
  return {
    suite: 'engine',
    date: new Date().toISOString(),
    device: e.device.name,
    deviceDescription: e.device.description,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpuVariant: e.cpuVariant,
    threads: e.maxThreads,
    nodeLlamaCpp: e.nodeLlamaCpp,
    ggml: e.lib.version,
    matmul,
    nativeMatmul,
    nativeKernel: nativeKernels().reason,
    nativeOverGgml1024: nativeMatmul.length ? nativeMatmul.find((m) => m.n === 1024)!.gflops / m1024.gflops : null,
    mlpStep: mlp,
  };
}

export function printEngineBench(r: EngineBench): void {
  const lines = [`engine benchmark on ${r.device} (${r.deviceDescription}, CPU variant ${r.cpuVariant}, ${r.threads} threads)`];
  for (const m of r.matmul) lines.push(`  ggml mul_mat ${m.n}^3: ${m.gflops.toFixed(1)} GFLOP/s (${m.ms.toFixed(2)} ms)`);
  for (const m of r.nativeMatmul) lines.push(`  native matmul ${m.n}^3: ${m.gflops.toFixed(1)} GFLOP/s (${m.ms.toFixed(2)} ms)`);
  lines.push(`  native kernel: ${r.nativeKernel}` + (r.nativeOverGgml1024 !== null ? `; native / ggml at 1024^3 = ${r.nativeOverGgml1024.toFixed(2)}` : ''));
  const s = r.mlpStep;
  lines.push(
    `  MLP step ${s.dims.join('-')} x ${s.batch} (ggml automatic backward): ${s.msPerStep.toFixed(2)} ms, ${s.gflops.toFixed(1)} GFLOP/s = ${(100 * s.shareOfMatmul1024).toFixed(0)}% of ggml mul_mat 1024^3`,
  );
  process.stdout.write(lines.join('\n') + '\n');
}
