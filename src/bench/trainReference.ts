/**
 * `unlearnkit bench train --reference`: one LLaMA training step on the reference config of
 * docs/architecture.md#the-reference-training-step (dim 256, 4 layers, 8 heads, ffn 688, vocab 512, untied output, batch 8 x 128
 * tokens, AdamW; 3.4M parameters, 21.8 GFLOP per step) in our engine, side by side with the
 * project's PyTorch reference (scripts/reference/torch_train_step.py: the same LLaMA / Qwen decoder
 * in plain PyTorch, with GQA, tied output, Q/K/V bias, Q/K norm and LoRA switches, AdamW as ggml's)
 * where Debian's python3 imports torch. trainShape.ts runs the same script at real model shapes.
 *
 * The two run alternately (ours, PyTorch, ours, ...) for `rounds` rounds, each round a fresh set of
 * warm-up + timed steps, so that load from other processes hits both sides alike; the ratio ours /
 * PyTorch is taken per round and summarised by its median, min and max. The load average is
 * recorded before and after, since timings on shared machines are only comparable under like load.
 * The share of our step per op kind comes from timing every node of the step graph on its own
 * (best of 3; the sum is close to, but not the same as, the whole graph's time).
 *
 * FLOPs per step as the PyTorch script counts them: 6 * (matrix-product parameters) * tokens plus
 * attention 12 * layers * B * T^2 * d (see stepFlops in bench.ts).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LMSession } from '../model/model.ts';
import type { ModelConfig } from '../model/config.ts';
import { getEngine, type Engine } from '../engine/engine.ts';
import { readTensorHeader, ptrOrNull, type Ptr } from '../engine/ffi.ts';
import type { Graph, Phase } from '../engine/graph.ts';
import { isNativeMatMulNode, nativeKernels } from '../engine/native.ts';
import { stepFlops } from './train.ts';
import { randomModel } from '../model/randomModel.ts';
import { headDim } from '../model/arch/types.ts';
import { Rng } from '../util/rng.ts';
import { PROJECT_ROOT } from '../util/paths.ts';

const REFERENCE_CONFIG: ModelConfig = {
  arch: 'llama',
  nEmbd: 256,
  nLayer: 4,
  nHead: 8,
  nHeadKv: 8,
  nFf: 688,
  nVocab: 512,
  nCtx: 128,
  normEps: 1e-5,
  ropeDims: 32,
  ropeFreqBase: 10000,
  tiedOutput: false,
};
const REFERENCE_BATCH = 8;
const REFERENCE_SEQ = 128;
/** AdamW as the PyTorch script sets it (the shape benchmarks' worker uses it too). */
export const HYPER = { lr: 1e-3, weightDecay: 0.1 };

/** Debian's python3 (the one python3-torch installs into) and the reference script. */
const SYSTEM_PYTHON = '/usr/bin/python3';
function torchScriptPath(): string {
  return path.join(PROJECT_ROOT, 'scripts', 'reference', 'torch_train_step.py');
}

export interface SideSummary {
  /** Median step time of each round, ms. */
  roundMedianMs: number[];
  /** Median over rounds of the round medians, ms. */
  medianMs: number;
  minMs: number;
  gflops: number;
  tokensPerSecond: number;
}

export interface OpShare {
  op: string;
  nodes: number;
  ms: number;
  share: number;
}

export interface ReferenceBench {
  suite: 'train-reference';
  date: string;
  device: string;
  cpu: string;
  /** Threads both sides ran on (ours: the engine's CPU threads; PyTorch: torch.set_num_threads). */
  threads: number;
  /** How `threads` was chosen: one step of ours with 1 thread and one with all (calibrateThreads). */
  threadCalibration?: ThreadCalibration;
  /** os.loadavg() (1, 5, 15 minutes) before and after the measurement. */
  loadAverage: { before: number[]; after: number[] };
  config: ModelConfig & { batch: number; seqLen: number; optimizer: 'adamw' };
  parameters: number;
  gflopPerStep: number;
  rounds: number;
  stepsPerRound: number;
  warmupPerRound: number;
  ours: SideSummary & {
    backward: 'manual' | 'auto';
    /** Which matrix-product kernel the step ran on (native.ts status line). */
    matmulKernel: string;
    graphBuildMs: number;
    graphNodes: number;
    /** Median time of writing one batch (tokens, labels, masks) into the graph, ms. */
    setBatchMs: number;
  };
  /** ggml's automatic backward in the same alternation (the path before the manual backward). */
  oursAuto?: SideSummary & { graphBuildMs: number; graphNodes: number };
  pytorch: (Partial<SideSummary> & { available: boolean; reason?: string; version?: string; threads?: number; lossFirst?: number; lossLast?: number }) ;
  /** ours / PyTorch per round, and its median, min and max. */
  ratio?: { perRound: number[]; median: number; min: number; max: number };
  /** ours (manual) / ours (automatic backward) per round, and its median. */
  manualOverAuto?: { perRound: number[]; median: number; min: number; max: number };
  /** Where our step's time goes: every node timed alone, grouped by op kind. */
  profile?: { nodeSumMs: number; byOp: OpShare[]; topMatmuls: Array<{ op: string; shape: string; ms: number; gflops: number }> };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

function summarise(rounds: number[], all: number[], flop: number, tokens: number): SideSummary {
  const med = median(rounds);
  return { roundMedianMs: rounds, medianMs: med, minMs: Math.min(...all), gflops: flop / (med * 1e6), tokensPerSecond: tokens / (med / 1000) };
}

function ratioSummary(a: number[], b: number[]): { perRound: number[]; median: number; min: number; max: number } {
  const perRound = a.map((x, i) => x / b[i]!);
  return { perRound, median: median(perRound), min: Math.min(...perRound), max: Math.max(...perRound) };
}

/** The env for the PyTorch command: the machines set OpenBLAS overrides for older builds; drop them. */
function torchEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

/** Whether Debian's python3 imports torch: its version, or why not. */
export function probeTorch(): { ok: true; version: string } | { ok: false; reason: string } {
  if (!fs.existsSync(SYSTEM_PYTHON)) return { ok: false, reason: `${SYSTEM_PYTHON} does not exist` };
  if (!fs.existsSync(torchScriptPath())) return { ok: false, reason: `the reference script ${torchScriptPath()} is missing` };
  const r = spawnSync(SYSTEM_PYTHON, ['-c', 'import torch; print(torch.__version__)'], { env: torchEnv(), encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) {
    const msg = (r.stderr || r.stdout || String(r.error ?? '')).trim().split('\n').pop() ?? 'unknown error';
    return { ok: false, reason: `${SYSTEM_PYTHON} cannot import torch (${msg}); install Debian's python3-torch and libopenblas0-pthread` };
  }
  return { ok: true, version: r.stdout.trim() };
}

/** The reference script's JSON line. */
export interface TorchRun {
  step_ms: number[];
  median_ms: number;
  version: string;
  threads: number;
  blas_threads: string | null;
  mode: 'full' | 'lora';
  params: number;
  trained_params: number;
  peak_rss_bytes: number;
  loss_first: number;
  loss_last: number;
}

/** What the reference script trains: a model config, the batch, and full fine-tuning or LoRA. */
export interface TorchStep {
  config: ModelConfig;
  seqLen: number;
  batch: number;
  threads: number;
  steps: number;
  warmup: number;
  /** LoRA of this rank and alpha on every block's attention and MLP matrices (q, k, v, o, gate, up, down). */
  lora?: { rank: number; alpha: number };
}

/** The reference script's arguments for a step: the config's switches (GQA, head size, tied output, Q/K/V bias, Q/K norm, rope mode). */
function torchScriptArgs(o: TorchStep): string[] {
  const c = o.config;
  if (c.arch === 'gpt2') throw new Error('the PyTorch reference implements the llama-like decoders (llama, qwen2, qwen3), not gpt2');
  const qwen = c.arch === 'qwen2' || c.arch === 'qwen3';
  const args = [
    torchScriptPath(), '--json', '--threads', String(o.threads), '--steps', String(o.steps), '--warmup', String(o.warmup),
    '--dim', String(c.nEmbd), '--n_layers', String(c.nLayer), '--n_heads', String(c.nHead), '--n_kv_heads', String(c.nHeadKv),
    '--head_dim', String(headDim(c)), '--ffn', String(c.nFf), '--vocab', String(c.nVocab), '--seq_len', String(o.seqLen),
    '--batch', String(o.batch), '--rope', qwen ? 'neox' : 'normal', '--rope_theta', String(c.ropeFreqBase), '--norm_eps', String(c.normEps),
    '--lr', String(HYPER.lr), '--weight_decay', String(HYPER.weightDecay),
  ];
  if (c.tiedOutput) args.push('--tied');
  if (c.attnBias ?? c.arch === 'qwen2') args.push('--qkv_bias');
  if (c.arch === 'qwen3') args.push('--qk_norm');
  if (o.lora) args.push('--lora_rank', String(o.lora.rank), '--lora_alpha', String(o.lora.alpha), '--lora_targets', 'q,k,v,o,gate,up,down');
  return args;
}

/** Run the reference script once (a fresh process: model, warm-up, timed steps) and parse its JSON line. */
export function runTorchStep(o: TorchStep, timeoutMs = 3_600_000): TorchRun {
  const r = spawnSync(SYSTEM_PYTHON, torchScriptArgs(o), { env: torchEnv(), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`the PyTorch reference failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''}): ${(r.stderr || String(r.error ?? '')).trim().slice(-500)}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as TorchRun;
}

function runTorch(threads: number, steps: number, warmup: number): TorchRun {
  return runTorchStep({ config: REFERENCE_CONFIG, seqLen: REFERENCE_SEQ, batch: REFERENCE_BATCH, threads, steps, warmup }, 600_000);
}

/** One step of ours timed with 1 thread and with all, after a warm-up step: the faster count. */
export interface ThreadCalibration {
  threads: number;
  /** Step time by thread count, ms. */
  ms: Record<number, number>;
}

/**
 * Fix the engine's CPU thread count for every graph until the returned function restores it:
 * Engine.threadsForWork, the rule Graph.compute consults when UNLEARNKIT_THREADS is not 'auto',
 * answers n. (For benchmarks: the engine's default rule gives graphs above ~200 MFLOP all threads.)
 */
export function fixEngineThreads(e: Engine, n: number): () => void {
  const own = Object.prototype.hasOwnProperty.call(e, 'threadsForWork');
  const prev = e.threadsForWork;
  e.threadsForWork = () => n;
  return () => {
    if (own) e.threadsForWork = prev;
    else delete (e as { threadsForWork?: unknown }).threadsForWork;
  };
}

/**
 * Which thread count to measure with: ggml's worker threads meet at a spinning barrier after every
 * node, so on a machine whose cores other processes also use, all threads can be several times
 * slower than one (measured 2-4x on the 2-core machine here under load 5: a waiting thread spins
 * while the one it waits for is descheduled), while an idle machine gains from every core. One
 * warm-up step, then one step with 1 thread and one with all; the faster is used by both sides
 * (PyTorch gets the same torch.set_num_threads), and the times are reported.
 */
export function calibrateThreads(e: Engine, step: () => void): ThreadCalibration {
  const time = (n: number) => {
    const restore = fixEngineThreads(e, n);
    try {
      const t0 = performance.now();
      step();
      return performance.now() - t0;
    } finally {
      restore();
    }
  };
  const max = e.maxThreads;
  if (max <= 1) return { threads: 1, ms: { 1: time(1) } };
  time(max);
  const ms: Record<number, number> = { 1: time(1), [max]: time(max) };
  return { threads: ms[1]! <= ms[max]! ? 1 : max, ms };
}

/** A reference-config training session with its fixed random batch written. */
function referenceSession(backward: 'manual' | 'auto'): { s: LMSession; buildMs: number; batch: number[][] } {
  const model = randomModel(REFERENCE_CONFIG, 1);
  const t0 = performance.now();
  const s = new LMSession(model, { T: REFERENCE_SEQ, B: REFERENCE_BATCH, mode: 'train', optimizer: 'adamw', backward });
  const buildMs = performance.now() - t0;
  const rng = new Rng(7);
  const batch = Array.from({ length: REFERENCE_BATCH }, () => Array.from({ length: REFERENCE_SEQ }, () => rng.int(REFERENCE_CONFIG.nVocab)));
  s.setBatch(batch);
  return { s, buildMs, batch };
}

/** `warmup` untimed then `steps` timed optimiser steps on the session's current batch; ms each. */
export function timeSteps(s: LMSession, warmup: number, steps: number): number[] {
  for (let i = 0; i < warmup; i++) s.step(HYPER);
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    s.step(HYPER);
    out.push(performance.now() - t0);
  }
  return out;
}

const VIEW_OPS = new Set(['NONE', 'VIEW', 'RESHAPE', 'PERMUTE', 'TRANSPOSE']);
/** How the profile names the native matmul (a ggml CUSTOM node running native/matmul.c). */
const NATIVE_MATMUL = 'MUL_MAT(native)';

/**
 * Time every computing node of a phase's graph on its own (a one-node graph on the same backend,
 * best of `reps`), in graph order so every input holds its real value. Changes the parameters
 * (optimiser nodes run too): call after the timed steps.
 */
export function profileGraph(graph: Graph, phase: Phase, reps = 3, threads = graph.engine.maxThreads): NonNullable<ReferenceBench['profile']> {
  const e = graph.engine;
  const g = e.g;
  const backend = e.backend(graph.device);
  e.setThreads(threads, graph.device);
  const nodes = graph.nodes(phase);
  const perGraph = Number(g.ggml_graph_overhead_custom!(1, false));
  const ctx = ptrOrNull(g.ggml_init!({ mem_size: perGraph * (nodes.length + 1) + 4096, mem_buffer: null, no_alloc: true }));
  if (ctx === null) throw new Error('ggml_init failed for the profile');
  const byOp = new Map<string, { nodes: number; ms: number }>();
  const mm = new Map<string, { ms: number; flop: number }>();
  let total = 0;
  try {
    for (const node of nodes) {
      const desc = String(g.ggml_op_desc!(node));
      if (VIEW_OPS.has(desc)) continue;
      const opName = isNativeMatMulNode(readTensorHeader(node), desc) ? NATIVE_MATMUL : desc;
      const one = g.ggml_new_graph_custom!(ctx, 1, false) as Ptr;
      g.ggml_graph_add_node!(one, node);
      let best = Infinity;
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        const st = Number(g.ggml_backend_graph_compute!(backend, one));
        const dt = performance.now() - t0;
        if (st !== 0) throw new Error(`profiling ${opName}: compute status ${st}`);
        best = Math.min(best, dt);
      }
      total += best;
      const b = byOp.get(opName) ?? { nodes: 0, ms: 0 };
      b.nodes++;
      b.ms += best;
      byOp.set(opName, b);
      if (opName === 'MUL_MAT' || opName === NATIVE_MATMUL || opName === 'OUT_PROD') {
        const h = readTensorHeader(node);
        const a = readTensorHeader(h.src[0]!);
        const k = opName === 'OUT_PROD' ? a.ne[1] : a.ne[0];
        const key = `${opName} ${a.ne.join('x')} * ${readTensorHeader(h.src[1]!).ne.join('x')} -> ${h.ne.join('x')}`;
        const m = mm.get(key) ?? { ms: 0, flop: 0 };
        m.ms += best;
        m.flop += 2 * k * h.ne[0] * h.ne[1] * h.ne[2] * h.ne[3];
        mm.set(key, m);
      }
    }
  } finally {
    g.ggml_free!(ctx);
  }
  const ops = [...byOp.entries()].map(([op, v]) => ({ op, nodes: v.nodes, ms: v.ms, share: v.ms / total })).sort((a, b) => b.ms - a.ms);
  const topMatmuls = [...mm.entries()]
    .map(([k, v]) => ({ op: k.split(' ')[0]!, shape: k.slice(k.indexOf(' ') + 1), ms: v.ms, gflops: v.flop / (v.ms * 1e6) }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 12);
  return { nodeSumMs: total, byOp: ops, topMatmuls };
}

export interface ReferenceOptions {
  rounds?: number;
  steps?: number;
  warmup?: number;
  /** Also time ggml's automatic backward in the alternation (default true). */
  auto?: boolean;
  /** Run the PyTorch side where available (default true). */
  torch?: boolean;
  /** Per-node profile of our step (default true). */
  profile?: boolean;
  quick?: boolean;
  /** Progress lines (stderr). */
  log?: (line: string) => void;
}

export async function benchTrainReference(o: ReferenceOptions = {}): Promise<ReferenceBench> {
  const e = getEngine();
  const rounds = Math.max(1, o.rounds ?? (o.quick ? 2 : 5));
  const steps = Math.max(1, o.steps ?? (o.quick ? 3 : 5));
  const warmup = Math.max(0, o.warmup ?? 2);
  const log = o.log ?? (() => {});
  const before = os.loadavg();
  const flop = stepFlops(REFERENCE_CONFIG, REFERENCE_BATCH, REFERENCE_SEQ);
  const tokens = REFERENCE_BATCH * REFERENCE_SEQ;
  const probe = o.torch === false ? ({ ok: false, reason: 'not requested' } as const) : probeTorch();

  // both sides run on the same number of threads, fixed for the whole measurement: the faster for
  // our step of one and all of the engine's (calibrateThreads); Graph.compute's per-graph tuner is
  // bypassed while measuring (UNLEARNKIT_THREADS a number, not 'auto')
  const envThreads = process.env.UNLEARNKIT_THREADS;
  process.env.UNLEARNKIT_THREADS = String(e.maxThreads);
  let restoreThreads: (() => void) | null = null;
  let calibration: ThreadCalibration | null = null;
  let ours: ReturnType<typeof referenceSession> | null = null;
  let auto: ReturnType<typeof referenceSession> | null = null;
  const oursRounds: number[] = [];
  const oursAll: number[] = [];
  const autoRounds: number[] = [];
  const autoAll: number[] = [];
  const torchRounds: number[] = [];
  const torchAll: number[] = [];
  let torchLast: TorchRun | null = null;
  try {
    ours = referenceSession('manual');
    if (o.auto !== false) auto = referenceSession('auto');
    const oursSession = ours.s;
    calibration = calibrateThreads(e, () => void oursSession.step(HYPER));
    restoreThreads = fixEngineThreads(e, calibration.threads);
    log(`threads: ${calibration.threads} (one step with 1 thread ${calibration.ms[1]!.toFixed(1)} ms, with ${e.maxThreads} ${calibration.ms[e.maxThreads]!.toFixed(1)} ms)`);
    for (let r = 0; r < rounds; r++) {
      const t = timeSteps(ours.s, warmup, steps);
      oursRounds.push(median(t));
      oursAll.push(...t);
      log(`round ${r + 1}/${rounds}: ours ${median(t).toFixed(1)} ms (load ${os.loadavg()[0]!.toFixed(2)})`);
      if (auto) {
        const ta = timeSteps(auto.s, warmup, steps);
        autoRounds.push(median(ta));
        autoAll.push(...ta);
        log(`round ${r + 1}/${rounds}: ours, automatic backward ${median(ta).toFixed(1)} ms`);
      }
      if (probe.ok) {
        torchLast = runTorch(calibration.threads, steps, warmup);
        torchRounds.push(torchLast.median_ms);
        torchAll.push(...torchLast.step_ms);
        log(`round ${r + 1}/${rounds}: PyTorch ${torchLast.median_ms.toFixed(1)} ms`);
      }
    }
    const setBatchTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      ours.s.setBatch(ours.batch);
      setBatchTimes.push(performance.now() - t0);
    }
    const res: ReferenceBench = {
      suite: 'train-reference',
      date: new Date().toISOString(),
      device: `${e.device.name} (${e.device.description})`,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      threads: calibration.threads,
      threadCalibration: calibration,
      loadAverage: { before, after: os.loadavg() },
      config: { ...REFERENCE_CONFIG, batch: REFERENCE_BATCH, seqLen: REFERENCE_SEQ, optimizer: 'adamw' },
      parameters: ours.s.model.parameterCount,
      gflopPerStep: flop / 1e9,
      rounds,
      stepsPerRound: steps,
      warmupPerRound: warmup,
      ours: {
        backward: 'manual',
        matmulKernel: nativeKernels().reason,
        ...summarise(oursRounds, oursAll, flop, tokens),
        graphBuildMs: ours.buildMs,
        graphNodes: ours.s.graph.nodeCount('step'),
        setBatchMs: median(setBatchTimes),
      },
      pytorch: probe.ok
        ? {
            available: true,
            version: probe.version,
            threads: torchLast?.threads,
            ...summarise(torchRounds, torchAll, flop, tokens),
            lossFirst: torchLast?.loss_first,
            lossLast: torchLast?.loss_last,
          }
        : { available: false, reason: probe.reason },
    };
    if (auto) {
      res.oursAuto = { ...summarise(autoRounds, autoAll, flop, tokens), graphBuildMs: auto.buildMs, graphNodes: auto.s.graph.nodeCount('step') };
      res.manualOverAuto = ratioSummary(oursRounds, autoRounds);
    }
    if (probe.ok) res.ratio = ratioSummary(oursRounds, torchRounds);
    if (o.profile !== false) res.profile = profileGraph(ours.s.graph, 'step');
    res.loadAverage.after = os.loadavg();
    return res;
  } finally {
    ours?.s.dispose();
    auto?.s.dispose();
    restoreThreads?.();
    if (envThreads === undefined) delete process.env.UNLEARNKIT_THREADS;
    else process.env.UNLEARNKIT_THREADS = envThreads;
  }
}

export function printTrainReference(r: ReferenceBench): void {
  const f = (x: number | undefined, d = 1) => (x === undefined ? '-' : x.toFixed(d));
  const lines = [
    `reference config (LLaMA ${r.config.nEmbd}x${r.config.nLayer}, ${r.config.nHead} heads, ffn ${r.config.nFf}, vocab ${r.config.nVocab}, ${r.config.batch}x${r.config.seqLen} tokens, AdamW; ${r.parameters.toLocaleString('en-US')} params, ${r.gflopPerStep.toFixed(1)} GFLOP/step) on ${r.device}, ${r.threads} threads`,
    `  load average before ${r.loadAverage.before.map((x) => x.toFixed(2)).join(' ')}, after ${r.loadAverage.after.map((x) => x.toFixed(2)).join(' ')}; ${r.rounds} alternating rounds of ${r.warmupPerRound} + ${r.stepsPerRound} steps`,
    `  matmul kernel: ${r.ours.matmulKernel}`,
    `  threads (both sides): ${r.threads}${r.threadCalibration ? ` (one step of ours with ${Object.entries(r.threadCalibration.ms).map(([n, ms]) => `${n}: ${ms.toFixed(0)} ms`).join(', ')})` : ''}`,
    `  ours (manual backward): ${f(r.ours.medianMs)} ms/step (round medians ${r.ours.roundMedianMs.map((x) => x.toFixed(0)).join(' ')}), ${f(r.ours.gflops)} GFLOP/s, ${r.ours.tokensPerSecond.toFixed(0)} tokens/s; setBatch ${f(r.ours.setBatchMs, 2)} ms`,
  ];
  if (r.oursAuto) {
    lines.push(`  ours (ggml automatic backward): ${f(r.oursAuto.medianMs)} ms/step, ${f(r.oursAuto.gflops)} GFLOP/s; manual / auto = ${f(r.manualOverAuto?.median, 3)} (min ${f(r.manualOverAuto?.min, 3)}, max ${f(r.manualOverAuto?.max, 3)})`);
  }
  if (r.pytorch.available) {
    lines.push(`  PyTorch ${r.pytorch.version}: ${f(r.pytorch.medianMs)} ms/step (round medians ${(r.pytorch.roundMedianMs ?? []).map((x) => x.toFixed(0)).join(' ')}), ${f(r.pytorch.gflops)} GFLOP/s`);
    lines.push(`  ratio ours / PyTorch: median ${f(r.ratio?.median, 3)}, min ${f(r.ratio?.min, 3)}, max ${f(r.ratio?.max, 3)}`);
  } else lines.push(`  PyTorch: not run (${r.pytorch.reason})`);
  if (r.profile) {
    lines.push(`  our step by op kind (nodes timed alone, sum ${r.profile.nodeSumMs.toFixed(1)} ms): ` + r.profile.byOp.slice(0, 10).map((x) => `${x.op} ${(100 * x.share).toFixed(1)}%`).join(', '));
  }
  process.stdout.write(lines.join('\n') + '\n');
}
