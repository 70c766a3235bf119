/**
 * `unlearnkit bench train`: speed of fine-tuning steps, measured against the machine's own matmul
 * throughput in the same run.
 *   - tokens/s and achieved GFLOP/s of an AdamW step for the embedded model (or stories260K when
 *     the embedded model is absent) and for a ~10M-parameter LLaMA config, as a share of the
 *     engine's 1024^3 matmul GFLOP/s;
 *   - the time of one fine-tuning epoch on the Dave set with the first-epoch record (embedding-only
 *     and full-model) divided by the same epoch without a record, disk writes included.
 * With `reference` (`bench train --reference`), also the reference config (docs/architecture.md#the-reference-training-step) side
 * by side with the shared PyTorch script (trainReference.ts).
 * FLOPs per step: 6 * (parameters used in matrix products) * tokens + attention
 * 12 * layers * B * T^2 * d (forward QK^T and PV are 2 T^2 d each; backward twice the forward).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CausalLM, LMSession, type HostTensor } from '../model/model.ts';
import { expectedTensors, type ModelConfig } from '../model/config.ts';
import { benchTrainingMatmul } from './engine.ts';
import { getEngine } from '../engine/engine.ts';
import { finetune } from '../train/finetune.ts';
import { factExamples } from '../train/examples.ts';
import { getDataset } from '../data/dataset.ts';
import { Rng } from '../util/rng.ts';
import { randomModel } from '../model/randomModel.ts';
import { embeddedModelPath, PROJECT_ROOT } from '../util/paths.ts';
import { benchTrainReference, printTrainReference, type ReferenceBench, type ReferenceOptions } from './trainReference.ts';

/** `bench train --reference`: the reference config side by side with PyTorch (trainReference.ts). */
export { benchTrainReference, printTrainReference, type ReferenceBench, type ReferenceOptions };

export interface StepBench {
  model: string;
  parameters: number;
  batch: number;
  seqLen: number;
  msPerStep: number;
  tokensPerSecond: number;
  gflopPerStep: number;
  gflops: number;
  shareOfMatmul: number;
  /** Which backward built the gradients (LMSession backwardKind). */
  backward?: string;
}

export interface TrainBench {
  suite: 'train';
  date: string;
  device: string;
  cpu: string;
  threads: number;
  matmul1024Gflops: number;
  /** Which kernel matmul1024Gflops measured: the one training uses. */
  matmulKernel: 'ggml' | 'native';
  steps: StepBench[];
  recordOverhead?: {
    model: string;
    epochSecondsNoRecord: number;
    epochSecondsEmbeddingRecord: number;
    epochSecondsFullRecord: number;
    ratioEmbedding: number;
    ratioFull: number;
    recordBytesEmbedding: number;
    recordBytesFull: number;
  };
  /** With `reference`: the reference config against PyTorch (trainReference.ts). */
  reference?: ReferenceBench;
}

/** FLOPs of one training step (forward + backward) of a config at B x T tokens. */
export function stepFlops(c: ModelConfig, B: number, T: number): number {
  let mm = 0;
  for (const t of expectedTensors(c)) {
    if (t.ne.length < 2 || t.name === 'token_embd.weight' || t.name === 'position_embd.weight') continue;
    mm += t.ne[0]! * t.ne[1]!;
  }
  if (c.tiedOutput) mm += c.nEmbd * c.nVocab;
  return 6 * mm * B * T + 12 * c.nLayer * B * T * T * c.nEmbd;
}

function benchStep(model: CausalLM, label: string, B: number, T: number, steps: number, matmulGflops: number, backward?: 'auto' | 'manual'): StepBench {
  const s = new LMSession(model, { T, B, mode: 'train', optimizer: 'adamw', backward });
  try {
    const rng = new Rng(7);
    const V = model.config.nVocab;
    const batch = Array.from({ length: B }, () => Array.from({ length: T }, () => rng.int(V)));
    s.setBatch(batch);
    s.step({ lr: 1e-4 });
    s.step({ lr: 1e-4 });
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      s.setBatch(batch);
      s.step({ lr: 1e-4 });
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const ms = times[Math.floor(times.length / 2)]!;
    const flop = stepFlops(model.config, B, T);
    return {
      model: label,
      parameters: model.parameterCount,
      batch: B,
      seqLen: T,
      msPerStep: ms,
      tokensPerSecond: (B * T) / (ms / 1000),
      gflopPerStep: flop / 1e9,
      gflops: flop / (ms * 1e6),
      shareOfMatmul: flop / (ms * 1e6) / matmulGflops,
      backward: s.backwardKind ?? undefined,
    };
  } finally {
    s.dispose();
  }
}

const TEN_M_CONFIG: ModelConfig = {
  arch: 'llama',
  nEmbd: 384,
  nLayer: 6,
  nHead: 6,
  nHeadKv: 6,
  nFf: 1024,
  nVocab: 4096,
  nCtx: 256,
  normEps: 1e-5,
  ropeDims: 64,
  ropeFreqBase: 10000,
  tiedOutput: false,
};

export async function benchTrain(o: { quick?: boolean; epochs?: boolean; reference?: boolean | ReferenceOptions } = {}): Promise<TrainBench> {
  const e = getEngine();
  // the denominator is the kernel training runs its products on
  const matmulResult = benchTrainingMatmul(1024, o.quick ? 2 : 5);
  const matmul = matmulResult.gflops;
  const modelPath = embeddedModelPath(); // shipped with the package; a missing file is the loader's clear error
  const embedded = CausalLM.load(modelPath);
  const steps = [
    benchStep(embedded, path.basename(modelPath), 8, 64, o.quick ? 3 : 10, matmul),
    benchStep(randomModel(TEN_M_CONFIG), 'llama-10M (384x6, ffn 1024, vocab 4096)', 8, 128, o.quick ? 2 : 5, matmul),
  ];
  const res: TrainBench = {
    suite: 'train',
    date: new Date().toISOString(),
    device: `${e.device.name} (${e.device.description})`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    threads: e.maxThreads,
    matmul1024Gflops: matmul,
    matmulKernel: matmulResult.kernel,
    steps,
  };
  if (o.reference) res.reference = await benchTrainReference({ quick: o.quick, ...(typeof o.reference === 'object' ? o.reference : {}) });
  if (o.epochs !== false) {
    const ds = getDataset(path.join(PROJECT_ROOT, 'datasets', 'dave'));
    const items = factExamples([...ds.facts('retain'), ...ds.facts('forget')]).slice(0, o.quick ? 64 : 10_000);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-bench-train-'));
    try {
      const run = (record: 'none' | 'first-epoch', recordFilter: string | undefined, name: string) => {
        const t0 = performance.now();
        const r = finetune({ modelPath, items, out: path.join(tmp, name), epochs: 1, record, recordFilter, recordDtype: 'f32', quiet: true });
        const seconds = (performance.now() - t0) / 1000;
        const bytes = r.recordDir ? fs.readdirSync(r.recordDir).reduce((a, f) => a + fs.statSync(path.join(r.recordDir!, f)).size, 0) : 0;
        return { seconds, bytes };
      };
      const none = run('none', undefined, 'none');
      const emb = run('first-epoch', 'embedding', 'emb');
      const full = run('first-epoch', 'all', 'full');
      res.recordOverhead = {
        model: path.basename(modelPath),
        epochSecondsNoRecord: none.seconds,
        epochSecondsEmbeddingRecord: emb.seconds,
        epochSecondsFullRecord: full.seconds,
        ratioEmbedding: emb.seconds / none.seconds,
        ratioFull: full.seconds / none.seconds,
        recordBytesEmbedding: emb.bytes,
        recordBytesFull: full.bytes,
      };
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  return res;
}

export function printTrainBench(r: TrainBench): void {
  const lines = [`training benchmark on ${r.device}, ${r.threads} threads; ${r.matmulKernel} matmul 1024^3: ${r.matmul1024Gflops.toFixed(1)} GFLOP/s`];
  for (const s of r.steps) {
    lines.push(
      `  ${s.model}: ${s.parameters.toLocaleString('en-US')} params, ${s.batch}x${s.seqLen} tokens: ${s.msPerStep.toFixed(1)} ms/step, ${s.tokensPerSecond.toFixed(0)} tokens/s, ${s.gflops.toFixed(1)} GFLOP/s (${(100 * s.shareOfMatmul).toFixed(0)}% of matmul)`,
    );
  }
  const ro = r.recordOverhead;
  if (ro) {
    lines.push(
      `  epoch on Dave (${ro.model}): no record ${ro.epochSecondsNoRecord.toFixed(1)} s; embedding record ${ro.epochSecondsEmbeddingRecord.toFixed(1)} s (x${ro.ratioEmbedding.toFixed(2)}, ${(ro.recordBytesEmbedding / 2 ** 20).toFixed(1)} MiB); full record ${ro.epochSecondsFullRecord.toFixed(1)} s (x${ro.ratioFull.toFixed(2)}, ${(ro.recordBytesFull / 2 ** 20).toFixed(1)} MiB)`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
  if (r.reference) printTrainReference(r.reference);
}
