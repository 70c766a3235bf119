/**
 * `unlearnkit bench train --shape smollm2-135m|qwen2.5-0.5b|llama-3.2-1b[,...]`: training steps at
 * real model shapes (random weights, randomModel.ts NAMED_SHAPES; batches of 8 x 128 tokens, AdamW),
 * full fine-tuning and LoRA (rank 16, alpha 16, on every block's attention and MLP matrices), and the
 * first-epoch record's bytes per example at that shape (dense against factored, gradRecord.ts).
 *
 * Per configuration: step time (median over rounds of each round's median), tokens/s, peak RSS of
 * the process that ran it and bytes per model parameter (peak RSS / parameters). Each of our
 * configurations runs in a child process (trainShapeWorker.ts) so that its peak RSS is its own.
 * With `reference`, the same configuration in PyTorch (scripts/reference/torch_train_step.py, Debian's
 * /usr/bin/python3 with python3-torch, OpenBLAS overrides unset, torch threads = ours): rounds
 * alternate ours / PyTorch so that load from other processes hits both alike, and the ratio ours /
 * PyTorch is taken per round (median, min, max). The load average is recorded before and after.
 * Threads: both sides run on the count that is faster for our step, one or all of the engine's
 * (trainReference.ts calibrateThreads: on a loaded machine ggml's spinning barriers make all threads
 * slower than one), fixed for the configuration and reported with the calibration's times.
 *
 * Memory: before anything runs, each side's peak is estimated (below) and a configuration that does
 * not fit in the machine's available memory (MemAvailable, less a 1.5 GB margin) is skipped with the
 * estimate and the reason in the JSON, never attempted. When ours and PyTorch fit one at a time but
 * not together, our child is started afresh for each round instead of being kept between rounds.
 * The estimates (bytes; P parameters, Pt trained, V vocabulary, N = B T tokens, L layers, d width,
 * f feed-forward width), checked against measured peaks on SmolLM2-135M (full / LoRA: ours 4.7 /
 * 3.5 GB, estimates 5.1 / 3.5; PyTorch 5.6 / 5.6 GB, estimates 6.5 / 5.5):
 *   ours:    8 P (host copy + graph weights) + 12 Pt (gradients, AdamW moments) + 16 V N (labels,
 *            logits, their gradient) + 4 N L (12 d + 4 f) (activations kept for the backward)
 *   PyTorch: 4 P + 8 Pt (AdamW moments; gradients are freed as the backward goes) + 12 V N
 *            + 4 N L (35 d + 8 f) (autograd's saved tensors) + 0.3 GB (the interpreter and torch)
 *
 * The record part: the Dave training facts (retain, forget, decoys) tokenised with the shape's own
 * vocabulary (`vocabDir`: a folder with llama.cpp's models/ggml-vocab-*.gguf, as NAMED_SHAPES names
 * them), estimated for the whole set (estimateRecord) and, where full fine-tuning fits, written for
 * real over the first `recordExamples` facts (one epoch) and compared with its estimate.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NAMED_SHAPES, shapeConfig } from '../model/randomModel.ts';
import { expectedTensors, type ModelConfig } from '../model/config.ts';
import { readGguf } from '../model/gguf.ts';
import { tokenizerFromGguf } from '../model/tokenizer/index.ts';
import { getEngine } from '../engine/engine.ts';
import { getDataset } from '../data/dataset.ts';
import { factExamples, tokenizeExamples } from '../train/examples.ts';
import { estimateRecord, recordStorage } from '../train/gradRecord.ts';
import { median, probeTorch, runTorchStep, type ReferenceBench, type ThreadCalibration, type TorchRun } from './trainReference.ts';
import type { WorkerJob, WorkerReady, WorkerRecordResult } from './trainShapeWorker.ts';
import { PROJECT_ROOT } from '../util/paths.ts';
import { UserError } from '../util/errors.ts';

const SHAPE_BATCH = 8;
const SHAPE_SEQ = 128;
const SHAPE_LORA = { rank: 16, alpha: 16 };
/** Memory left for everything else when deciding whether a configuration fits. */
const MEMORY_MARGIN = 1.5e9;
const TORCH_BASE_BYTES = 0.3e9;

export interface ShapeBenchOptions {
  shapes: string[];
  reference?: boolean;
  /** Alternating rounds (default 3; quick 2), each `warmup` untimed + `steps` timed steps (default 1 + 2; quick 1 + 1). */
  rounds?: number;
  steps?: number;
  warmup?: number;
  quick?: boolean;
  modes?: Array<'full' | 'lora'>;
  /** Folder with llama.cpp's ggml-vocab-*.gguf files: the record part tokenises the Dave facts with the shape's own vocabulary. */
  vocabDir?: string;
  /** Facts in the real recorded epoch (default 8, one batch; 0: none). */
  recordExamples?: number;
  /** Per-node profile of our fine-tuning step, each mode (slow at real shapes). */
  profile?: boolean;
  log?: (line: string) => void;
  /** Called with the results so far after each configuration (to save partial results). */
  onPartial?: (r: ShapeBench) => void;
}

export interface SideResult {
  roundMedianMs: number[];
  medianMs: number;
  minMs: number;
  tokensPerSecond: number;
  peakRssBytes: number;
  /** peakRssBytes / model parameters. */
  bytesPerParameter: number;
}

export interface ShapeConfigResult {
  shape: string;
  mode: 'full' | 'lora';
  lora?: { rank: number; alpha: number; targets: number };
  config: ModelConfig;
  parameters: number;
  trainedParameters: number;
  batch: number;
  seqLen: number;
  estimate: { oursBytes: number; pytorchBytes: number; availableBytes: number };
  /** Why the configuration (or one side) was not run. */
  skipped?: string;
  /** Threads both sides ran on: the faster for our step of 1 and all (trainReference.ts calibrateThreads). */
  threads?: number;
  threadCalibration?: ThreadCalibration;
  /** 'kept': our child lived through all rounds; 'restarted': a fresh child per round (both sides did not fit together). */
  ourProcess?: 'kept' | 'restarted';
  ours?: SideResult & { buildMs: number; graphBytes: number; matmulKernel: string };
  pytorch?: Partial<SideResult> & { available: boolean; reason?: string; version?: string; threads?: number; blasThreads?: string | null; lossFirst?: number; lossLast?: number };
  ratio?: { perRound: number[]; median: number; min: number; max: number };
  loadAverage: { before: number[]; after: number[] };
  profile?: ReferenceBench['profile'];
}

export interface ShapeRecordResult {
  shape: string;
  /** Where the token lengths come from. */
  tokenizer: string;
  examples: number;
  lengths: { min: number; median: number; max: number; mean: number };
  /** Mean bytes per example of the per-example gradients, f32, every parameter recorded. */
  perExampleBytes: { dense: number; factored: number; ratio: number };
  /** The whole first-epoch record (f32, batch 8): AdamW (gradients + step scales) and SGD. */
  adamw: { totalBytes: number; denseTotalBytes: number; ratio: number };
  sgd: { totalBytes: number; denseTotalBytes: number; ratio: number };
  /** One real recorded epoch over the first facts. */
  measured?: WorkerRecordResult & { matchesEstimate: boolean };
  skipped?: string;
}

export interface ShapeBench {
  suite: 'train-shapes';
  date: string;
  device: string;
  cpu: string;
  threads: number;
  batch: number;
  seqLen: number;
  rounds: number;
  stepsPerRound: number;
  warmupPerRound: number;
  configs: ShapeConfigResult[];
  records: ShapeRecordResult[];
}

/** Bytes the system can give without swapping (MemAvailable), else os.freemem(). */
function availableMemory(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return os.freemem();
}

/** The peak-memory estimates of the module comment. */
function estimateShapeMemory(c: ModelConfig, parameters: number, trained: number, B: number, T: number): { ours: number; pytorch: number } {
  const N = B * T;
  const act = (a: number, f: number) => 4 * N * c.nLayer * (a * c.nEmbd + f * c.nFf);
  return {
    ours: 8 * parameters + 12 * trained + 16 * c.nVocab * N + act(12, 4),
    pytorch: 4 * parameters + 8 * trained + 12 * c.nVocab * N + act(35, 8) + TORCH_BASE_BYTES,
  };
}

/** Parameters of LoRA rank r on every block's attention and MLP matrices. */
function loraParameters(c: ModelConfig, r: number): { params: number; targets: number } {
  let params = 0;
  let targets = 0;
  for (const t of expectedTensors(c)) {
    if (!/^blk\.\d+\.(attn_(q|k|v|output)|ffn_(gate|up|down))\.weight$/.test(t.name)) continue;
    params += r * (t.ne[0]! + t.ne[1]!);
    targets++;
  }
  return { params, targets };
}

function parameterCount(c: ModelConfig): number {
  return expectedTensors(c).reduce((a, t) => a + t.ne.reduce((x, y) => x * y, 1), 0);
}

const WORKER = fileURLToPath(new URL(`./trainShapeWorker${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** A benchmark child: send a command, await its one reply. */
class Worker {
  private child: ChildProcess;
  private waiting: { resolve: (m: unknown) => void; reject: (e: Error) => void } | null = null;
  private exited = false;

  constructor() {
    this.child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m) => {
      const w = this.waiting;
      this.waiting = null;
      if (!w) return;
      const err = (m as { error?: string }).error;
      if (err) w.reject(new Error(`benchmark child: ${err}`));
      else w.resolve(m);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      const w = this.waiting;
      this.waiting = null;
      w?.reject(new Error(`benchmark child exited (${signal ?? `code ${code}`})${signal === 'SIGKILL' ? ': out of memory?' : ''}`));
    });
  }

  ask<R>(msg: unknown): Promise<R> {
    if (this.exited) return Promise.reject(new Error('benchmark child has exited'));
    return new Promise<R>((resolve, reject) => {
      this.waiting = { resolve: resolve as (m: unknown) => void, reject };
      this.child.send(msg as object);
    });
  }

  /** Ask it to exit; its peak RSS. */
  async close(): Promise<number> {
    if (this.exited) return NaN;
    const r = await this.ask<{ peakRssBytes: number }>({ cmd: 'exit' });
    await new Promise<void>((resolve) => (this.exited ? resolve() : this.child.once('exit', () => resolve())));
    return r.peakRssBytes;
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

function side(roundMedians: number[], all: number[], tokens: number, peak: number, parameters: number): SideResult {
  const med = median(roundMedians);
  return { roundMedianMs: roundMedians, medianMs: med, minMs: Math.min(...all), tokensPerSecond: tokens / (med / 1000), peakRssBytes: peak, bytesPerParameter: peak / parameters };
}

async function benchConfig(shape: string, mode: 'full' | 'lora', o: ShapeBenchOptions, torchOk: { ok: true; version: string } | { ok: false; reason: string }, threads: number): Promise<ShapeConfigResult> {
  const log = o.log ?? (() => {});
  const named = NAMED_SHAPES[shape]!;
  const c = shapeConfig(named, named.nVocab);
  const B = SHAPE_BATCH;
  const T = SHAPE_SEQ;
  const parameters = parameterCount(c);
  const lora = mode === 'lora' ? loraParameters(c, SHAPE_LORA.rank) : null;
  const trained = lora ? lora.params : parameters;
  const est = estimateShapeMemory(c, parameters, trained, B, T);
  const available = availableMemory();
  const room = available - MEMORY_MARGIN;
  const res: ShapeConfigResult = {
    shape,
    mode,
    lora: lora ? { ...SHAPE_LORA, targets: lora.targets } : undefined,
    config: c,
    parameters,
    trainedParameters: trained,
    batch: B,
    seqLen: T,
    estimate: { oursBytes: est.ours, pytorchBytes: est.pytorch, availableBytes: available },
    loadAverage: { before: os.loadavg(), after: [] },
  };
  const gb = (n: number) => `${(n / 1e9).toFixed(1)} GB`;
  if (est.ours > room) {
    res.skipped = `ours needs ~${gb(est.ours)} (estimate) but ${gb(available)} is available (less a ${gb(MEMORY_MARGIN)} margin); not attempted`;
    res.loadAverage.after = os.loadavg();
    log(`${shape} ${mode}: skipped: ${res.skipped}`);
    return res;
  }
  const wantTorch = o.reference === true;
  let torchSkip: string | null = null;
  if (wantTorch && !torchOk.ok) torchSkip = torchOk.reason;
  else if (wantTorch && est.pytorch > room) torchSkip = `PyTorch needs ~${gb(est.pytorch)} (estimate) but ${gb(available)} is available (less a ${gb(MEMORY_MARGIN)} margin); not attempted`;
  const runTorch = wantTorch && torchSkip === null;
  const keep = !runTorch || est.ours + est.pytorch <= room;
  res.ourProcess = keep ? 'kept' : 'restarted';
  const rounds = Math.max(1, o.rounds ?? (o.quick ? 2 : 3));
  const steps = Math.max(1, o.steps ?? (o.quick ? 1 : 2));
  const warmup = Math.max(0, o.warmup ?? 1);
  const job: WorkerJob = { shape, mode, T, B, maxThreads: threads, lora: mode === 'lora' ? SHAPE_LORA : undefined };
  const oursRounds: number[] = [];
  const oursAll: number[] = [];
  const torchRounds: number[] = [];
  const torchAll: number[] = [];
  let ready: WorkerReady | null = null;
  let peak = 0;
  let torchLast: TorchRun | null = null;
  let torchPeak = 0;
  let worker: Worker | null = null;
  try {
    for (let r = 0; r < rounds; r++) {
      if (!worker) {
        worker = new Worker();
        const r0 = await worker.ask<WorkerReady>({ cmd: 'init', job });
        ready ??= r0;
        job.threads = r0.threads; // a restarted child keeps the first one's calibrated count
        log(`${shape} ${mode}: built in ${(r0.buildMs / 1000).toFixed(1)} s, graph ${gb(r0.graphBytes)}, RSS ${gb(r0.rssBytes)}; ${r0.threads} thread(s)${r0.threadCalibration ? ` (calibration ms: ${JSON.stringify(r0.threadCalibration.ms)})` : ''}`);
      }
      const t = (await worker.ask<{ stepMs: number[] }>({ cmd: 'round', warmup, steps })).stepMs;
      oursRounds.push(median(t));
      oursAll.push(...t);
      log(`${shape} ${mode} round ${r + 1}/${rounds}: ours ${median(t).toFixed(0)} ms/step (load ${os.loadavg()[0]!.toFixed(2)})`);
      if (o.profile && r === rounds - 1) res.profile = (await worker.ask<{ profile: ReferenceBench['profile'] }>({ cmd: 'profile' })).profile;
      if (!keep || r === rounds - 1) {
        peak = Math.max(peak, await worker.close());
        worker = null;
      }
      if (runTorch) {
        torchLast = runTorchStep({ config: c, seqLen: T, batch: B, threads: job.threads!, steps, warmup, lora: mode === 'lora' ? SHAPE_LORA : undefined });
        torchRounds.push(median(torchLast.step_ms));
        torchAll.push(...torchLast.step_ms);
        torchPeak = Math.max(torchPeak, torchLast.peak_rss_bytes);
        log(`${shape} ${mode} round ${r + 1}/${rounds}: PyTorch ${median(torchLast.step_ms).toFixed(0)} ms/step, peak RSS ${gb(torchLast.peak_rss_bytes)}`);
      }
    }
  } finally {
    worker?.kill();
  }
  res.ours = { ...side(oursRounds, oursAll, B * T, peak, parameters), buildMs: ready!.buildMs, graphBytes: ready!.graphBytes, matmulKernel: ready!.matmulKernel };
  res.threads = ready!.threads;
  res.threadCalibration = ready!.threadCalibration;
  res.trainedParameters = ready!.trainedParameters;
  if (lora) res.lora!.targets = ready!.loraTargets;
  if (runTorch && torchLast) {
    res.pytorch = {
      available: true,
      version: torchLast.version,
      threads: torchLast.threads,
      blasThreads: torchLast.blas_threads,
      ...side(torchRounds, torchAll, B * T, torchPeak, parameters),
      lossFirst: torchLast.loss_first,
      lossLast: torchLast.loss_last,
    };
    const perRound = oursRounds.map((x, i) => x / torchRounds[i]!);
    res.ratio = { perRound, median: median(perRound), min: Math.min(...perRound), max: Math.max(...perRound) };
  } else if (wantTorch) res.pytorch = { available: false, reason: torchSkip ?? 'not run' };
  res.loadAverage.after = os.loadavg();
  return res;
}

/** The record's size at a shape for the Dave training facts, and one real recorded epoch. */
async function benchRecord(shape: string, o: ShapeBenchOptions, threads: number, fullFits: boolean): Promise<ShapeRecordResult> {
  const named = NAMED_SHAPES[shape]!;
  const c = shapeConfig(named, named.nVocab);
  const ds = getDataset(path.join(PROJECT_ROOT, 'datasets', 'dave'));
  const items = factExamples([...ds.facts('retain'), ...ds.facts('forget'), ...ds.facts('decoy')]);
  const vocabFile = o.vocabDir ? path.join(o.vocabDir, named.vocab) : null;
  if (!vocabFile || !fs.existsSync(vocabFile)) {
    return {
      shape,
      tokenizer: 'none',
      examples: items.length,
      lengths: { min: NaN, median: NaN, max: NaN, mean: NaN },
      perExampleBytes: { dense: NaN, factored: NaN, ratio: NaN },
      adamw: { totalBytes: NaN, denseTotalBytes: NaN, ratio: NaN },
      sgd: { totalBytes: NaN, denseTotalBytes: NaN, ratio: NaN },
      skipped: vocabFile ? `${vocabFile} does not exist` : `no vocabulary: give --vocab-dir, a folder with llama.cpp's models/${named.vocab}`,
    };
  }
  const tok = tokenizerFromGguf(readGguf(vocabFile));
  const { examples } = tokenizeExamples(items, tok, c.nCtx);
  const lens = examples.map((e) => e.tokens.length);
  const tensors = expectedTensors(c)
    .filter((t) => t.name !== 'rope_freqs.weight')
    .map((t) => ({ name: t.name, ne: t.ne, storage: recordStorage(t.name, t.ne, c.tiedOutput) }));
  const est = (optimizer: 'adamw' | 'sgd') => estimateRecord({ tensors, dtype: 'f32', optimizer, sequences: examples.map((e) => e.tokens), batch: SHAPE_BATCH, epochs: 1 });
  const a = est('adamw');
  const s = est('sgd');
  const res: ShapeRecordResult = {
    shape,
    tokenizer: path.basename(vocabFile),
    examples: examples.length,
    lengths: { min: Math.min(...lens), median: median(lens), max: Math.max(...lens), mean: lens.reduce((x, y) => x + y, 0) / lens.length },
    perExampleBytes: { dense: a.denseExampleBytes / a.examples, factored: a.exampleBytes / a.examples, ratio: a.denseExampleBytes / a.exampleBytes },
    adamw: { totalBytes: a.totalBytes, denseTotalBytes: a.denseTotalBytes, ratio: a.denseTotalBytes / a.totalBytes },
    sgd: { totalBytes: s.totalBytes, denseTotalBytes: s.denseTotalBytes, ratio: s.denseTotalBytes / s.totalBytes },
  };
  const n = o.recordExamples ?? SHAPE_BATCH;
  if (n > 0) {
    if (!fullFits) res.skipped = 'the real recorded epoch needs full fine-tuning at this shape, which does not fit in memory';
    else {
      const w = new Worker();
      try {
        const m = await w.ask<WorkerRecordResult>({ cmd: 'record', shape, vocabFile, items: items.slice(0, n), batch: SHAPE_BATCH, threads });
        res.measured = { ...m, matchesEstimate: m.writtenBinBytes === m.estimateBytes };
        await w.close();
      } finally {
        w.kill();
      }
    }
  }
  return res;
}

export async function benchTrainShapes(o: ShapeBenchOptions): Promise<ShapeBench> {
  for (const s of o.shapes) {
    if (!NAMED_SHAPES[s]) throw new UserError(`unknown shape '${s}' (named shapes: ${Object.keys(NAMED_SHAPES).join(', ')})`);
    if (NAMED_SHAPES[s]!.arch === 'gpt2') throw new UserError(`bench train --shape times the llama-like families (the PyTorch reference has no GPT-2); ${s} is gpt2`);
  }
  const e = getEngine();
  const threads = e.maxThreads;
  const log = o.log ?? (() => {});
  const torchOk = o.reference ? probeTorch() : ({ ok: false, reason: 'not requested' } as const);
  if (o.reference && !torchOk.ok) log(`PyTorch: not run (${torchOk.reason})`);
  const res: ShapeBench = {
    suite: 'train-shapes',
    date: new Date().toISOString(),
    device: `${e.device.name} (${e.device.description})`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    threads,
    batch: SHAPE_BATCH,
    seqLen: SHAPE_SEQ,
    rounds: Math.max(1, o.rounds ?? (o.quick ? 2 : 3)),
    stepsPerRound: Math.max(1, o.steps ?? (o.quick ? 1 : 2)),
    warmupPerRound: Math.max(0, o.warmup ?? 1),
    configs: [],
    records: [],
  };
  for (const shape of o.shapes) {
    let fullFits = false;
    for (const mode of o.modes ?? ['full', 'lora']) {
      const r = await benchConfig(shape, mode, o, torchOk, threads);
      if (mode === 'full' && !r.skipped) fullFits = true;
      res.configs.push(r);
      o.onPartial?.(res);
    }
    res.records.push(await benchRecord(shape, o, threads, fullFits));
    o.onPartial?.(res);
  }
  return res;
}

export function printTrainShapes(r: ShapeBench): void {
  const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
  const f = (x: number | undefined, d = 0) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
  const lines = [`training at real shapes on ${r.device}, ${r.threads} threads; ${r.batch} x ${r.seqLen} tokens, AdamW; ${r.rounds} rounds of ${r.warmupPerRound} + ${r.stepsPerRound} steps`];
  for (const c of r.configs) {
    const head = `  ${c.shape} ${c.mode}${c.lora ? ` (r ${c.lora.rank} on ${c.lora.targets} matrices)` : ''}: ${c.parameters.toLocaleString('en-US')} params, ${c.trainedParameters.toLocaleString('en-US')} trained`;
    if (c.skipped) {
      lines.push(`${head}: skipped (${c.skipped})`);
      continue;
    }
    const o = c.ours!;
    const cal = c.threadCalibration ? ` (one step with ${Object.entries(c.threadCalibration.ms).map(([n, ms]) => `${n}: ${(ms / 1000).toFixed(1)} s`).join(', ')})` : '';
    lines.push(`${head}; ${c.threads} thread(s)${cal}; load ${c.loadAverage.before.map((x) => x.toFixed(2)).join(' ')} -> ${c.loadAverage.after.map((x) => x.toFixed(2)).join(' ')}`);
    lines.push(`    ours: ${f(o.medianMs)} ms/step (rounds ${o.roundMedianMs.map((x) => x.toFixed(0)).join(' ')}), ${f(o.tokensPerSecond)} tokens/s, peak RSS ${gb(o.peakRssBytes)} (${f(o.bytesPerParameter, 1)} bytes/param; estimate ${gb(c.estimate.oursBytes)})`);
    if (c.pytorch?.available) {
      const p = c.pytorch;
      lines.push(`    PyTorch ${p.version}: ${f(p.medianMs)} ms/step (rounds ${(p.roundMedianMs ?? []).map((x) => x.toFixed(0)).join(' ')}), ${f(p.tokensPerSecond)} tokens/s, peak RSS ${gb(p.peakRssBytes ?? NaN)} (${f(p.bytesPerParameter, 1)} bytes/param; estimate ${gb(c.estimate.pytorchBytes)})`);
      lines.push(`    ours / PyTorch: median ${f(c.ratio?.median, 3)} (min ${f(c.ratio?.min, 3)}, max ${f(c.ratio?.max, 3)})`);
    } else if (c.pytorch) lines.push(`    PyTorch: not run (${c.pytorch.reason})`);
  }
  for (const rec of r.records) {
    if (!Number.isFinite(rec.perExampleBytes.dense)) {
      lines.push(`  record at ${rec.shape}: ${rec.skipped}`);
      continue;
    }
    lines.push(
      `  record at ${rec.shape} (${rec.examples} Dave facts, ${rec.tokenizer}, ${rec.lengths.min}-${rec.lengths.max} tokens, mean ${rec.lengths.mean.toFixed(1)}): ` +
        `per example ${(rec.perExampleBytes.factored / 1e6).toFixed(1)} MB factored vs ${(rec.perExampleBytes.dense / 1e6).toFixed(1)} MB dense (${rec.perExampleBytes.ratio.toFixed(1)}x); ` +
        `whole record AdamW ${gb(rec.adamw.totalBytes)} vs ${gb(rec.adamw.denseTotalBytes)} (${rec.adamw.ratio.toFixed(2)}x), SGD ${gb(rec.sgd.totalBytes)} vs ${gb(rec.sgd.denseTotalBytes)} (${rec.sgd.ratio.toFixed(2)}x)`,
    );
    const m = rec.measured;
    if (m) {
      lines.push(
        `    recorded epoch of ${m.examples} facts: ${(m.writtenBinBytes / 1e6).toFixed(1)} MB written (estimate ${(m.estimateBytes / 1e6).toFixed(1)} MB, ${m.matchesEstimate ? 'equal' : 'DIFFERENT'}; index.json ${(m.indexBytes / 1e3).toFixed(1)} kB), ` +
          `${(m.writtenExampleBytes / m.examples / 1e6).toFixed(1)} MB per example vs ${(m.denseExampleBytes / m.examples / 1e6).toFixed(1)} MB dense; ${m.seconds.toFixed(0)} s`,
      );
    } else if (rec.skipped) lines.push(`    recorded epoch: ${rec.skipped}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}
