/**
 * The child process of `bench train --shape` (trainShape.ts): one training configuration at a real
 * model shape per process, so that its peak RSS is its own and its memory goes back to the system
 * when it exits. Driven over Node's IPC channel:
 *
 *   parent -> { cmd: 'init', job }            child -> { ok: 'ready', ... }  (model built, session built)
 *   parent -> { cmd: 'round', warmup, steps } child -> { ok: 'round', stepMs }
 *   parent -> { cmd: 'profile' }              child -> { ok: 'profile', profile }
 *   parent -> { cmd: 'record', ... }          child -> { ok: 'record', ... }  (a real recorded epoch)
 *   parent -> { cmd: 'exit' }                 child -> { ok: 'exit', peakRssBytes } and exits
 *   any failure                               child -> { error: message }
 *
 * Weights are random (bench.ts randomModel: N(0, 0.02) matrices) at the named shape's config
 * (randomModel.ts NAMED_SHAPES); the batch is B fixed random sequences of T tokens; AdamW with the
 * reference's hyper-parameters (lr 1e-3, weight decay 0.1).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LMSession } from '../model/model.ts';
import { NAMED_SHAPES, randomModel, shapeConfig, writeRandomModel } from '../model/randomModel.ts';
import { initLoraFactors, resolveLoraTargets } from '../model/lora.ts';
import { nativeKernels } from '../engine/native.ts';
import { calibrateThreads, fixEngineThreads, HYPER, profileGraph, timeSteps, type ThreadCalibration } from './trainReference.ts';
import { getEngine } from '../engine/engine.ts';
import { finetune } from '../train/finetune.ts';
import { Rng } from '../util/rng.ts';

export interface WorkerJob {
  shape: string;
  mode: 'full' | 'lora';
  T: number;
  B: number;
  /** The engine's CPU threads (its maximum). */
  maxThreads: number;
  /** Threads to run on; absent: calibrate (trainReference.ts calibrateThreads) and report the choice. */
  threads?: number;
  lora?: { rank: number; alpha: number };
}

export interface WorkerReady {
  ok: 'ready';
  buildMs: number;
  parameters: number;
  trainedParameters: number;
  loraTargets: number;
  graphBytes: number;
  rssBytes: number;
  matmulKernel: string;
  threads: number;
  threadCalibration?: ThreadCalibration;
}

interface WorkerRecordJob {
  cmd: 'record';
  shape: string;
  vocabFile: string;
  items: Array<{ id: string; text: string }>;
  batch: number;
  threads: number;
}

export interface WorkerRecordResult {
  ok: 'record';
  examples: number;
  estimateBytes: number;
  estimateExampleBytes: number;
  estimateStepBytes: number;
  denseExampleBytes: number;
  writtenBinBytes: number;
  indexBytes: number;
  seconds: number;
  /** Per-example record bytes as written (the .bin records, not the step scales). */
  writtenExampleBytes: number;
}

let session: LMSession | null = null;

function reply(m: unknown): void {
  process.send!(m);
}

function init(job: WorkerJob): WorkerReady {
  process.env.UNLEARNKIT_THREADS = String(job.maxThreads);
  const named = NAMED_SHAPES[job.shape];
  if (!named) throw new Error(`unknown shape ${job.shape}`);
  const c = shapeConfig(named, named.nVocab);
  const model = randomModel(c, 1);
  const parameters = model.parameterCount;
  let loraTargets = 0;
  if (job.mode === 'lora') {
    const lora = job.lora ?? { rank: 16, alpha: 16 };
    const targets = resolveLoraTargets(undefined, c);
    loraTargets = targets.length;
    model.attachLora({ alpha: lora.alpha, factors: initLoraFactors(model, targets, lora.rank, 0) });
  }
  const t0 = performance.now();
  session = new LMSession(model, { T: job.T, B: job.B, mode: 'train', optimizer: 'adamw' });
  const buildMs = performance.now() - t0;
  const rng = new Rng(7);
  session.setBatch(Array.from({ length: job.B }, () => Array.from({ length: job.T }, () => rng.int(c.nVocab))));
  const s = session;
  const calibration = job.threads === undefined ? calibrateThreads(getEngine(), () => void s.step(HYPER)) : undefined;
  const threads = job.threads ?? calibration!.threads;
  fixEngineThreads(getEngine(), threads); // for the life of this process
  return {
    ok: 'ready',
    buildMs,
    parameters,
    trainedParameters: session.graph.params.reduce((a, p) => a + p.numel, 0),
    loraTargets,
    graphBytes: session.graph.bufferBytes,
    rssBytes: process.memoryUsage().rss,
    matmulKernel: nativeKernels().reason,
    threads,
    threadCalibration: calibration,
  };
}

function round(warmup: number, steps: number): number[] {
  return timeSteps(session!, warmup, steps);
}

/** One real recorded epoch at the shape: a random GGUF with the shape's vocabulary, a few Dave facts, the first-epoch record. */
function record(job: WorkerRecordJob): WorkerRecordResult {
  process.env.UNLEARNKIT_THREADS = String(job.threads);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-bench-record-'));
  try {
    const file = path.join(dir, `${job.shape}.gguf`);
    writeRandomModel(file, { shape: job.shape, vocab: { file: job.vocabFile } });
    const t0 = performance.now();
    const r = finetune({ modelPath: file, items: job.items, out: path.join(dir, 'run'), epochs: 1, batch: job.batch, record: 'first-epoch', quiet: true });
    const seconds = (performance.now() - t0) / 1000;
    const e = r.recordEstimate!;
    const files = fs.readdirSync(r.recordDir!);
    const size = (f: string) => fs.statSync(path.join(r.recordDir!, f)).size;
    return {
      ok: 'record',
      examples: e.examples,
      estimateBytes: e.totalBytes,
      estimateExampleBytes: e.exampleBytes,
      estimateStepBytes: e.stepBytes,
      denseExampleBytes: e.denseExampleBytes,
      writtenBinBytes: files.filter((f) => f.endsWith('.bin')).reduce((a, f) => a + size(f), 0),
      writtenExampleBytes: files.filter((f) => f.startsWith('epoch-')).reduce((a, f) => a + size(f), 0),
      indexBytes: size('index.json'),
      seconds,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.send) {
  process.on('message', (m: { cmd: string; job?: WorkerJob; warmup?: number; steps?: number }) => {
    try {
      if (m.cmd === 'init') reply(init(m.job!));
      else if (m.cmd === 'round') reply({ ok: 'round', stepMs: round(m.warmup ?? 1, m.steps ?? 2) });
      else if (m.cmd === 'profile') reply({ ok: 'profile', profile: profileGraph(session!.graph, 'step', 1, getEngine().threadsForWork(0)) });
      else if (m.cmd === 'record') reply(record(m as unknown as WorkerRecordJob));
      else if (m.cmd === 'exit') {
        session?.dispose();
        session = null;
        reply({ ok: 'exit', peakRssBytes: process.resourceUsage().maxRSS * 1024 });
        process.disconnect();
      } else reply({ error: `unknown command ${m.cmd}` });
    } catch (e) {
      reply({ error: (e as Error).stack ?? String(e) });
    }
  });
}
