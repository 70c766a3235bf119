/**
 * `unlearnkit bench eval`: per-token log-probability throughput of our engine and of llama.cpp
 * (node-llama-cpp) on the same model and the same token sequences, and their ratio, in one run.
 *
 * Workload: a fixed English text, tokenized by the model's own vocabulary and cut into sequences of
 * `seqLen` tokens (BOS first when the model uses one). Each engine computes log p(t_i | t_<i) for
 * every token after the first:
 *   - ours: LMSession evaluation graphs of shape [seqLen, batch] (the file's own weight types,
 *     causal mask, padding for a short last batch), logits -> float64 log-softmax (`tokenLogprobs`);
 *   - llama.cpp: LlamaCppScorer, one sequence at a time, all positions' logits from one
 *     `controlledEvaluate` call, the same float64 log-softmax.
 * Throughput = scored tokens / wall time of a full pass after one warm-up pass; the best of `reps`
 * passes is kept. Both engines get the same CPU thread count (UNLEARNKIT_THREADS, else the core
 * count). The two engines' log-probs are compared on every scored token as a sanity check
 * (`maxAbsDiff`, expected < 1e-3).
 *
 * Models: the stories260K fixture, and models/unlearnkit-base.gguf when it exists (skipped with a
 * reason otherwise), plus any paths the caller adds.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CausalLM, LMSession } from './model.ts';
import { tokenizerFromGguf } from './tokenizer/index.ts';
import { LlamaCppScorer } from './llamacppLogprobs.ts';
import { getEngine } from '../engine/engine.ts';
import { fixturePath, PROJECT_ROOT } from '../util/paths.ts';
import { UserError } from '../util/errors.ts';

export interface BenchEvalOptions {
  /** Fewer sequences and one timed pass. */
  quick?: boolean;
  /** Model files to bench; default: stories260K and models/unlearnkit-base.gguf (when present). */
  models?: string[];
  /** CPU threads for both engines (default: the engine's thread count, i.e. UNLEARNKIT_THREADS or the cores). */
  threads?: number;
  /** Tokens per sequence (default 128, capped by the model's context). */
  seqLen?: number;
  /** Sequences per batch of our engine (default 8). */
  batch?: number;
  /** Number of sequences (default 32, quick 8). */
  sequences?: number;
  /** Timed passes, best kept (default 3, quick 1). */
  reps?: number;
}

export interface EngineThroughput {
  /** Scored tokens per second (best pass). */
  tokensPerSec: number;
  /** Seconds of the best pass. */
  seconds: number;
  passes: number;
}

export interface BenchEvalModel {
  model: string;
  arch: string;
  parameters: number;
  vocab: number;
  weightTypes: string[];
  seqLen: number;
  batch: number;
  sequences: number;
  tokensScored: number;
  ours: EngineThroughput;
  llamaCpp: EngineThroughput;
  /** ours.tokensPerSec / llamaCpp.tokensPerSec (> 1: our engine is faster). */
  ratio: number;
  /** Largest |ours - llama.cpp| over all scored tokens. */
  maxAbsDiff: number;
}

export interface BenchEvalResult {
  suite: 'eval';
  date: string;
  cpu: string;
  device: string;
  threads: number;
  nodeLlamaCpp: string;
  models: BenchEvalModel[];
  skipped: Array<{ model: string; reason: string }>;
}

/** Public-domain-style children's-story text (the register of TinyStories), repeated as needed. */
const TEXT = [
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends.',
  'One day, she saw a big, red ball under a tree. She wanted to play with it, but it was too high to reach.',
  'Lily asked her mom for help. Her mom smiled and lifted her up, and Lily caught the ball with both hands.',
  'Tom was a small boy who liked to build towers with blocks. Every morning he made a tower taller than the last one.',
  'His dog, Max, liked to run into the towers and knock them down. Tom was sad, but then he laughed and built again.',
  'The sun was warm and the sky was blue. The birds sang in the trees, and a soft wind moved the green grass.',
  'At night, the moon came out and the stars were bright. Lily looked out of her window and said good night to the sky.',
  'The next day, Lily and Tom went to the lake. They saw ducks and fish and a big frog that jumped into the water.',
].join(' ');

function sequencesFor(model: CausalLM, seqLen: number, count: number): number[][] {
  const tok = tokenizerFromGguf(model.file!);
  const useBos = tok.bos >= 0 && tok.addBosDefault;
  const body = seqLen - (useBos ? 1 : 0);
  let ids = tok.encode(TEXT, { addBos: false });
  if (ids.length < 2) throw new UserError(`${model.source}: the benchmark text gives fewer than 2 tokens`);
  while (ids.length < body * count) ids = ids.concat(tok.encode(' ' + TEXT, { addBos: false }));
  const out: number[][] = [];
  for (let i = 0; i < count; i++) {
    const s = ids.slice(i * body, (i + 1) * body);
    out.push(useBos ? [tok.bos, ...s] : s);
  }
  return out;
}

function bestOf(reps: number, pass: () => Promise<void> | void): Promise<{ seconds: number; passes: number }> {
  return (async () => {
    await pass(); // warm-up (graph allocation, llama.cpp context warm caches)
    let best = Infinity;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      await pass();
      best = Math.min(best, (performance.now() - t0) / 1000);
    }
    return { seconds: best, passes: reps };
  })();
}

async function benchModel(file: string, o: Required<Pick<BenchEvalOptions, 'threads' | 'batch' | 'sequences' | 'reps'>> & { seqLen: number }): Promise<BenchEvalModel> {
  const model = CausalLM.load(file);
  const seqLen = Math.min(o.seqLen, model.config.nCtx);
  const seqs = sequencesFor(model, seqLen, o.sequences);
  const tokensScored = seqs.reduce((a, s) => a + s.length - 1, 0);
  const B = Math.min(o.batch, seqs.length);

  // ours
  const oursLp: number[][] = [];
  const session = new LMSession(model, { T: seqLen, B, mode: 'eval' });
  let oursTime: { seconds: number; passes: number };
  try {
    oursTime = await bestOf(o.reps, () => {
      oursLp.length = 0;
      for (let i = 0; i < seqs.length; i += B) {
        session.setBatch(seqs.slice(i, i + B));
        oursLp.push(...session.tokenLogprobs());
      }
    });
  } finally {
    session.dispose();
  }

  // llama.cpp
  const lcLp: Float64Array[] = [];
  const scorer = await LlamaCppScorer.open(file, { threads: o.threads, contextSize: Math.max(seqLen, 256) });
  let lcTime: { seconds: number; passes: number };
  try {
    lcTime = await bestOf(o.reps, async () => {
      lcLp.length = 0;
      for (const s of seqs) lcLp.push((await scorer.logprobs(s)).logprobs);
    });
  } finally {
    await scorer.dispose();
  }

  let maxAbsDiff = 0;
  oursLp.forEach((row, i) => row.forEach((v, j) => (maxAbsDiff = Math.max(maxAbsDiff, Math.abs(v - lcLp[i]![j]!)))));
  const ours = { tokensPerSec: tokensScored / oursTime.seconds, seconds: oursTime.seconds, passes: oursTime.passes };
  const llamaCpp = { tokensPerSec: tokensScored / lcTime.seconds, seconds: lcTime.seconds, passes: lcTime.passes };
  return {
    model: path.relative(PROJECT_ROOT, path.resolve(file)) || file,
    arch: model.config.arch,
    parameters: model.parameterCount,
    vocab: model.config.nVocab,
    weightTypes: [...new Set([...model.weights.values()].filter((w) => w.ne.length >= 2).map((w) => w.fileType))],
    seqLen,
    batch: B,
    sequences: seqs.length,
    tokensScored,
    ours,
    llamaCpp,
    ratio: ours.tokensPerSec / llamaCpp.tokensPerSec,
    maxAbsDiff,
  };
}

/** Run the eval benchmark; returns a JSON-able result. */
export async function benchEval(opts: BenchEvalOptions = {}): Promise<BenchEvalResult> {
  const engine = getEngine();
  const threads = opts.threads ?? engine.maxThreads;
  if (!Number.isInteger(threads) || threads < 1) throw new UserError(`threads must be a positive integer, got ${threads}`);
  const quick = opts.quick === true;
  const cfg = {
    threads,
    seqLen: opts.seqLen ?? 128,
    batch: opts.batch ?? 8,
    sequences: opts.sequences ?? (quick ? 8 : 32),
    reps: opts.reps ?? (quick ? 1 : 3),
  };
  if (!Number.isInteger(cfg.seqLen) || cfg.seqLen < 2) throw new UserError(`seqLen must be an integer >= 2, got ${cfg.seqLen}`);
  const candidates = opts.models ?? [fixturePath('models', 'stories260K.gguf'), path.join(PROJECT_ROOT, 'models', 'unlearnkit-base.gguf')];
  const models: BenchEvalModel[] = [];
  const skipped: BenchEvalResult['skipped'] = [];
  for (const m of candidates) {
    if (!fs.existsSync(m)) {
      skipped.push({ model: m, reason: 'file not found' });
      continue;
    }
    models.push(await benchModel(m, cfg));
  }
  if (models.length === 0) throw new UserError(`no model to benchmark: ${skipped.map((s) => s.model).join(', ')} not found`);
  return {
    suite: 'eval',
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    device: engine.device.name,
    threads,
    nodeLlamaCpp: engine.nodeLlamaCpp,
    models,
    skipped,
  };
}

/** Human-readable summary of a BenchEvalResult. */
export function printBenchEval(r: BenchEvalResult): void {
  const lines = [`log-prob throughput, ${r.threads} thread(s), ${r.device} (${r.cpu}), node-llama-cpp ${r.nodeLlamaCpp}`];
  for (const m of r.models) {
    lines.push(
      `  ${m.model} (${m.arch}, ${m.parameters.toLocaleString('en-US')} params, ${m.weightTypes.join('/')}): ${m.sequences} x ${m.seqLen} tokens, batch ${m.batch}: ` +
        `ours ${m.ours.tokensPerSec.toFixed(0)} tok/s, llama.cpp ${m.llamaCpp.tokensPerSec.toFixed(0)} tok/s, ratio ${m.ratio.toFixed(2)}; max |diff| ${m.maxAbsDiff.toExponential(2)}`,
    );
  }
  for (const s of r.skipped) lines.push(`  skipped ${s.model}: ${s.reason}`);
  process.stdout.write(lines.join('\n') + '\n');
}
