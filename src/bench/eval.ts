/**
 * `unlearnkit bench eval`: per-token log-probability throughput of our engine and of llama.cpp
 * (node-llama-cpp) on the same GGUF file and the same token sequences, measured alternately in one
 * run, with their ratio.
 *
 * Models: files (`models`; default the stories260K fixture and models/unlearnkit-base.gguf when it
 * exists), or random-weight models at real shapes (`shapes`: smollm2-135m, qwen2.5-0.5b,
 * llama-3.2-1b, gpt2-124m, any other randomModel.ts NAMED_SHAPES key, `all` for those four, or
 * `custom:<arch>,embd=..,layers=..,heads=..[,kv=..][,ff=..][,ctx=..][,vocab=<llama.cpp vocab name>|<size>]`).
 * A shape's model is written once into a cache folder (unlearnkitCacheDir()/bench-eval, keyed by
 * shape, type, seed and vocabulary) with the family's real vocabulary: llama.cpp's
 * models/ggml-vocab-<name>.gguf from node-llama-cpp's source bundle (llamacppSource.ts); where git
 * or the bundle is missing, a synthetic vocabulary of the same size (and the JSON says so). Types
 * other than F32/F16/BF16 are quantised from the F16 file (quantize.ts, llama-quantize's rules).
 *
 * Workload: a fixed English text, tokenized by the model's own vocabulary and cut into `sequences`
 * sequences of `seqLen` tokens (BOS first when the model uses one); each engine computes
 * log p(t_i | t_<i) for every token after the first:
 *   - ours: LMSession evaluation graphs of [seqLen, batch] (batch: 512 tokens per graph by default,
 *     llama.cpp's micro-batch), logits -> float64 log-softmax (`tokenLogprobs`);
 *   - llama.cpp: LlamaCppScorer, one sequence per controlledEvaluate with the logits of every
 *     position (node-llama-cpp's only way to get them), the same float64 log-softmax;
 *   - llama.cpp compute: the same evaluation with every position's logits computed and none read
 *     back (`computeLogits`): llama.cpp's own work, without node-llama-cpp's per-position sampler
 *     call and transfer of V logits into a JavaScript Map, which dominate the previous line at
 *     real vocabularies;
 *   - llama.cpp forward: the same sequences with only the last position's logits, so llama.cpp
 *     skips the output projection of the others: less work than any per-token scoring, a bound.
 * Each round times one full pass of each, in a rotating order, after one warm-up batch/sequence
 * each; throughput = scored tokens / seconds of a pass, and the median over rounds is reported.
 * Threads: the same count for both engines, the one our engine picks for the graph
 * (Engine.threadsForWork: all cores, or 1 below ~200 MFLOP per graph), from `threads` (default the
 * core count) — node-llama-cpp would otherwise use 4.
 *
 * Each model is measured in a child process of its own (src/bench/evalChild.ts), so that its
 * peak RSS is its own: the JSON reports the peak and each engine's resident memory after its
 * warm-up, per parameter (an F16 file is ~2 bytes per parameter; our engine holds the file's bytes
 * on the host and the graph's copy of the weights, llama.cpp maps the file). Load averages are
 * recorded before and after each model, as the machine may be shared.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CausalLM, EVAL_TOKENS_PER_GRAPH, LMSession } from '../model/model.ts';
import { tokenizerFromGguf } from '../model/tokenizer/index.ts';
import { spmVocabMetadata, trainSpmVocab } from '../model/tokenizer/train.ts';
import { LlamaCppScorer } from '../model/llamacppLogprobs.ts';
import { simdLogSumExp } from '../model/logsumexp.ts';
import { NAMED_SHAPES, writeRandomModel, type ModelShape } from '../model/randomModel.ts';
import { QUANTIZE_TARGETS, quantizeGguf, type QuantizeTarget } from '../model/quantize.ts';
import { ARCHITECTURES, type Architecture } from '../model/config.ts';
import { GgufMetadata, writeGguf } from '../model/gguf.ts';
import { getEngine } from '../engine/engine.ts';
import { fixturePath, embeddedModelPath, PROJECT_ROOT } from '../util/paths.ts';
import { unlearnkitCacheDir } from '../util/cacheDir.ts';
import { extractLlamaCppFile, LlamaCppSourceUnavailable } from '../util/llamacppSource.ts';
import { ownModuleArgs } from '../util/self.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { UserError } from '../util/errors.ts';

/** The real shapes of issue #16 (`--shape all`). */
const BENCH_SHAPES = ['smollm2-135m', 'qwen2.5-0.5b', 'llama-3.2-1b', 'gpt2-124m'] as const;


/** Bumped when the cached models' content would change (randomModel.ts initialisation, vocabulary handling). */
const CACHE_VERSION = 1;

export interface BenchEvalOptions {
  /** Fewer sequences and rounds. */
  quick?: boolean;
  /** Model files to bench (default: stories260K and models/unlearnkit-base.gguf when present, unless shapes are given). */
  models?: string[];
  /** Shapes to bench: NAMED_SHAPES keys, 'all' (BENCH_SHAPES) or 'custom:...' (see the module comment). */
  shapes?: string[];
  /** Type of the shapes' models: any `unlearnkit quantize --type` (default f16). */
  type?: string;
  /** Seed of the shapes' random weights (default 1). */
  seed?: number;
  /** Most CPU threads for both engines (default: UNLEARNKIT_THREADS, else the core count). */
  threads?: number;
  /** Tokens per sequence (default 128, capped by the model's context). */
  seqLen?: number;
  /** Sequences per graph of our engine (default: 512 / seqLen, at least 1). */
  batch?: number;
  /** Number of sequences (default 8, quick 4). */
  sequences?: number;
  /** Timed rounds (default 3, quick 1); the median is reported. */
  reps?: number;
  /** Where shapes' models and extracted vocabularies are kept (default unlearnkitCacheDir('bench-eval')). */
  cacheDir?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

export interface EngineThroughput {
  /** Scored tokens per second (median pass). */
  tokensPerSec: number;
  /** Seconds of the median pass. */
  seconds: number;
  /** Timed passes. */
  passes: number;
  /** Seconds of every timed pass, in order. */
  passSeconds: number[];
  /** Median CPU seconds (user + system, all threads of the process) of a pass: less sensitive to other processes than wall time. */
  cpuSeconds: number;
}

export interface BenchEvalVocab {
  /** Tokens in the vocabulary. */
  size: number;
  /** 'file': the model file's own; 'llama.cpp': models/ggml-vocab-<name>.gguf from node-llama-cpp's bundle; 'synthetic': a stand-in of the same size. */
  source: 'file' | 'llama.cpp' | 'synthetic';
  /** The llama.cpp vocab file (source 'llama.cpp'), or the one that could not be read (synthetic). */
  name?: string;
  /** Why a synthetic vocabulary was used. */
  reason?: string;
}

export interface BenchEvalMemory {
  /** Resident memory of the measuring process before the model was loaded (Node, ggml, node-llama-cpp's code). */
  baselineRssBytes: number;
  /** Peak resident memory after our engine loaded the model, built its session and made one full pass (before llama.cpp was loaded). */
  oursPeakRssBytes: number;
  oursPeakRssBytesPerParam: number;
  /** Peak resident memory of the measuring process (both engines loaded, all passes). */
  peakRssBytes: number;
  peakRssBytesPerParam: number;
  /** Resident memory our engine added: model loaded, session built, one batch evaluated. */
  oursRssBytes: number;
  oursRssBytesPerParam: number;
  /** Resident memory llama.cpp added: model loaded (mapped), context created, one sequence evaluated. */
  llamaCppRssBytes: number;
  llamaCppRssBytesPerParam: number;
  /** The GGUF file's size per parameter (F16: ~2). */
  fileBytesPerParam: number;
}

export interface BenchEvalModel {
  model: string;
  /** The shape benched (shapes only), and how its model was made. */
  shape?: string;
  type?: string;
  seed?: number;
  cache?: { path: string; reused: boolean; seconds: number };
  arch: string;
  parameters: number;
  fileBytes: number;
  vocab: BenchEvalVocab;
  weightTypes: string[];
  /** Threads both engines used. */
  threads: number;
  seqLen: number;
  batch: number;
  sequences: number;
  tokensScored: number;
  ours: EngineThroughput & { setupSeconds: number };
  llamaCpp: EngineThroughput & { setupSeconds: number };
  llamaCppCompute: EngineThroughput;
  /** llama.cpp over the same sequences with the logits of the last position only (llama.cpp skips the other positions' output projection): a bound, less work than scoring every token. */
  llamaCppForward: EngineThroughput;
  /** ours.tokensPerSec / llamaCpp.tokensPerSec (> 1: our engine is faster). */
  ratio: number;
  /** ours.tokensPerSec / llamaCppCompute.tokensPerSec. */
  ratioCompute: number;
  /** The same ratio by CPU time per pass (llamaCppCompute.cpuSeconds / ours.cpuSeconds). */
  ratioComputeCpu: number;
  /** ours.tokensPerSec / llamaCppForward.tokensPerSec. */
  ratioForward: number;
  /** Largest |ours - llama.cpp| over all scored tokens (both engines scored the same tokens). */
  maxAbsDiff: number;
  memory: BenchEvalMemory;
  /** os.loadavg() (1, 5, 15 minutes) before and after this model's measurement. */
  loadAverage: { before: number[]; after: number[] };
}

export interface BenchEvalResult {
  suite: 'eval';
  date: string;
  cpu: string;
  cores: number;
  memoryBytes: number;
  platform: string;
  device: string;
  /** The most threads either engine was allowed (each model's `threads` is what both used). */
  threads: number;
  nodeLlamaCpp: string;
  /** Whether the float64 log-softmax ran on the WebAssembly SIMD kernel (logsumexp.ts). */
  simdLogSoftmax: boolean;
  loadAverage: { before: number[]; after: number[] };
  models: BenchEvalModel[];
  skipped: Array<{ model: string; reason: string }>;
}

// ------------------------------------------------------------------------------------------------
// Shapes: parsing, vocabularies, cached models
// ------------------------------------------------------------------------------------------------

/** A shape to bench: its model's hyper-parameters and where its vocabulary comes from. */
interface ShapeSpec {
  name: string;
  shape: ModelShape;
  /** llama.cpp vocab file name (ggml-vocab-*.gguf), or null for a synthetic vocabulary of `nVocab`. */
  vocabFile: string | null;
  nVocab: number;
}

const CUSTOM_KEYS = ['embd', 'layers', 'heads', 'kv', 'ff', 'ctx', 'vocab'] as const;

/** A `custom:...` shape (see the module comment); the vocabulary defaults to GPT-2's. */
function parseCustomShape(spec: string): ShapeSpec {
  const body = spec.slice('custom:'.length);
  const [arch, ...kvs] = body.split(',').map((s) => s.trim());
  const usage = `--shape custom:<arch>,embd=N,layers=N,heads=N[,kv=N][,ff=N][,ctx=N][,vocab=<llama.cpp vocab name>|<size>] (arch: ${ARCHITECTURES.join(', ')})`;
  if (!arch || !(ARCHITECTURES as readonly string[]).includes(arch)) throw new UserError(`${spec}: unknown architecture '${arch ?? ''}'; ${usage}`);
  const v: Record<string, string> = {};
  for (const kv of kvs) {
    const [k, val] = kv.split('=');
    if (!k || val === undefined || !(CUSTOM_KEYS as readonly string[]).includes(k)) throw new UserError(`${spec}: '${kv}' is not one of ${CUSTOM_KEYS.map((c) => `${c}=`).join(', ')}; ${usage}`);
    v[k] = val;
  }
  const int = (k: string, dflt?: number): number => {
    if (v[k] === undefined) {
      if (dflt === undefined) throw new UserError(`${spec}: ${k}= is required; ${usage}`);
      return dflt;
    }
    const n = Number(v[k]);
    if (!Number.isInteger(n) || n < 1) throw new UserError(`${spec}: ${k}=${v[k]} must be a positive integer`);
    return n;
  };
  const nEmbd = int('embd');
  const shape: ModelShape = { arch: arch as Architecture, nEmbd, nLayer: int('layers'), nHead: int('heads'), nHeadKv: int('kv', int('heads')), nFf: int('ff', 4 * nEmbd), nCtx: int('ctx', 256) };
  const vocab = v.vocab ?? 'gpt-2';
  if (/^\d+$/.test(vocab)) return { name: spec, shape, vocabFile: null, nVocab: int('vocab') };
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(vocab)) throw new UserError(`${spec}: vocab=${vocab} is neither a llama.cpp vocab name (gpt-2, starcoder, qwen2, llama-bpe, llama-spm, ...) nor a size`);
  const vocabFile = `ggml-vocab-${vocab}.gguf`;
  // the size is known for the named shapes' vocabularies (what a synthetic stand-in needs)
  const known = Object.values(NAMED_SHAPES).find((n) => n.vocab === vocabFile)?.nVocab ?? 0;
  return { name: spec, shape, vocabFile, nVocab: known };
}

/** The shapes named by `--shape` values ('all' expands to BENCH_SHAPES). */
function resolveShapes(names: string[]): ShapeSpec[] {
  const out: ShapeSpec[] = [];
  for (const n of names.flatMap((x) => (x === 'all' ? [...BENCH_SHAPES] : [x]))) {
    if (n.startsWith('custom:')) out.push(parseCustomShape(n));
    else {
      const s = NAMED_SHAPES[n];
      if (!s) throw new UserError(`unknown shape '${n}'; use one of ${Object.keys(NAMED_SHAPES).join(', ')}, all, or custom:<arch>,embd=..,layers=..,heads=..`);
      out.push({ name: n, shape: s, vocabFile: s.vocab, nVocab: s.nVocab });
    }
  }
  return out;
}

/**
 * A vocabulary GGUF of exactly n tokens standing in for a real one: a SentencePiece vocabulary
 * trained on the benchmark text (tokenizer/train.ts, so the text still tokenizes into real pieces),
 * padded with UNUSED tokens `<unused_i>` that never match. Only the size matters for throughput.
 */
function syntheticVocabFile(dir: string, n: number): string {
  const file = path.join(dir, `vocab-synthetic-${n}.gguf`);
  if (fs.existsSync(file)) return file;
  if (n < 260) throw new UserError(`a synthetic vocabulary needs at least 260 tokens (control and byte tokens), got ${n}`);
  const spec = trainSpmVocab([TEXT], { vocabSize: Math.min(n, 600), minFrequency: 1 });
  for (let i = spec.tokens.length; i < n; i++) {
    spec.tokens.push(`<unused_${i}>`);
    spec.scores.push(-1e9);
    spec.types.push(5); // UNUSED
  }
  const md = new GgufMetadata();
  md.setTyped('general.architecture', 'llama', 'string');
  md.setTyped('general.name', `synthetic vocabulary of ${n} tokens (unlearnkit bench eval)`, 'string');
  for (const [k, v, t] of spmVocabMetadata(spec)) md.setTyped(k, v, t);
  writeGguf(file, { metadata: md, tensors: [] });
  return file;
}

/** The vocabulary of a shape: llama.cpp's file from the bundle, or a synthetic one of the same size with the reason. */
function resolveVocab(s: ShapeSpec, dir: string): { file: string; vocab: BenchEvalVocab } {
  if (s.vocabFile === null) return { file: syntheticVocabFile(dir, s.nVocab), vocab: { size: s.nVocab, source: 'synthetic', reason: `vocab=${s.nVocab} asked for a synthetic vocabulary` } };
  try {
    const file = extractLlamaCppFile(`models/${s.vocabFile}`, dir);
    return { file, vocab: { size: s.nVocab, source: 'llama.cpp', name: s.vocabFile } };
  } catch (e) {
    if (!(e instanceof LlamaCppSourceUnavailable)) throw e;
    if (!s.nVocab) throw new UserError(`${s.name}: ${e.message}; give the vocabulary size instead (vocab=<size>) for a synthetic one`);
    return { file: syntheticVocabFile(dir, s.nVocab), vocab: { size: s.nVocab, source: 'synthetic', name: s.vocabFile, reason: e.message } };
  }
}

/** The model file of a shape in `type`, made (in a child process) unless cached. */
async function shapeModel(s: ShapeSpec, type: string, seed: number, dir: string, log: (l: string) => void): Promise<{ file: string; vocab: BenchEvalVocab; reused: boolean; seconds: number }> {
  const { file: vocabFile, vocab } = resolveVocab(s, dir);
  const vocabTag = vocab.source === 'synthetic' ? `synthetic${s.nVocab}` : path.basename(vocabFile, '.gguf').replace(/^ggml-vocab-/, '');
  const key = s.name.startsWith('custom:') ? `custom-${crypto.createHash('sha256').update(JSON.stringify(s.shape)).digest('hex').slice(0, 12)}` : s.name;
  const base = `${key}-${vocabTag}-seed${seed}-v${CACHE_VERSION}`;
  const upper = type.toUpperCase();
  const direct = type === 'f32' || type === 'f16' || type === 'bf16';
  const f16 = path.join(dir, `${base}-f16.gguf`);
  const file = path.join(dir, `${base}-${type}.gguf`);
  if (fs.existsSync(file)) return { file, vocab, reused: true, seconds: 0 };
  log(`bench eval: writing the random ${s.name} model (${type}${vocab.source === 'synthetic' ? ', synthetic vocabulary' : ''}) to ${file}`);
  const t0 = performance.now();
  await runChild('make', { shape: s.shape, vocabFile, seed, type: direct ? upper : 'F16', out: direct ? file : f16, quantizeTo: direct ? null : { type, out: file } }, {}, log);
  return { file, vocab, reused: false, seconds: (performance.now() - t0) / 1000 };
}

// ------------------------------------------------------------------------------------------------
// Measurement (in the child process)
// ------------------------------------------------------------------------------------------------

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

/** What the parent asks the child to measure. */
export interface MeasureRequest {
  file: string;
  seqLen: number;
  batch: number | null;
  sequences: number;
  reps: number;
}

/** The child's measurement of one model (the parent adds the shape, cache and vocabulary facts). */
export type MeasuredModel = Omit<BenchEvalModel, 'shape' | 'type' | 'seed' | 'cache'>;

const median = (a: number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function throughput(tokens: number, passSeconds: number[], cpuSeconds: number[]): EngineThroughput {
  const seconds = median(passSeconds);
  return { tokensPerSec: tokens / seconds, seconds, passes: passSeconds.length, passSeconds, cpuSeconds: median(cpuSeconds) };
}

const rss = (): number => process.memoryUsage().rss;
/** The process's peak resident memory so far (bytes). */
const peakRss = (): number => process.resourceUsage().maxRSS * 1024;

/** Measure one model in this process (the child's job; see the module comment). */
export async function measureModel(req: MeasureRequest, log: (l: string) => void = () => {}): Promise<MeasuredModel> {
  const loadBefore = os.loadavg();
  const engine = getEngine();
  const rss0 = rss();
  let t0 = performance.now();
  const model = CausalLM.load(req.file);
  const seqLen = Math.min(req.seqLen, model.config.nCtx);
  const seqs = sequencesFor(model, seqLen, req.sequences);
  const tokensScored = seqs.reduce((a, s) => a + s.length - 1, 0);
  const B = Math.min(req.batch ?? Math.max(1, Math.floor(EVAL_TOKENS_PER_GRAPH / seqLen)), seqs.length);
  const session = new LMSession(model, { T: seqLen, B, mode: 'eval' });
  let scorer: LlamaCppScorer | null = null;
  try {
    // both engines get the thread count our engine picks for this graph (Graph.pickThreads)
    const threads = engine.threadsForWork(session.graph.forwardFlops);
    const oursLp: number[][] = [];
    const oursPass = (): void => {
      oursLp.length = 0;
      for (let i = 0; i < seqs.length; i += B) {
        session.setBatch(seqs.slice(i, i + B));
        oursLp.push(...session.tokenLogprobs());
      }
    };
    session.setBatch(seqs.slice(0, B));
    session.tokenLogprobs(); // warm-up: graph allocation, first touch of the weights
    const oursSetupSeconds = (performance.now() - t0) / 1000;
    oursPass(); // one untimed pass before llama.cpp is loaded: our engine's own peak
    const oursPeak = peakRss();
    const oursRss = rss() - rss0;
    log(`  ours ready in ${oursSetupSeconds.toFixed(1)} s (${threads} thread(s), batch ${B} x ${seqLen} tokens), peak RSS ${(oursPeak / 2 ** 20).toFixed(0)} MiB`);

    const rss1 = rss();
    t0 = performance.now();
    scorer = await LlamaCppScorer.open(req.file, { threads, contextSize: Math.max(seqLen, 256), gpu: engine.device.type === 'cpu' ? false : 'auto' });
    await scorer.logprobs(seqs[0]!); // warm-up
    const lcSetupSeconds = (performance.now() - t0) / 1000;
    const lcRss = rss() - rss1;
    log(`  llama.cpp ready in ${lcSetupSeconds.toFixed(1)} s`);
    const lc = scorer;
    const lcLp: Float64Array[] = [];
    const lcPass = async (): Promise<void> => {
      lcLp.length = 0;
      for (const s of seqs) lcLp.push((await lc.logprobs(s)).logprobs);
    };
    const computePass = async (): Promise<void> => {
      for (const s of seqs) await lc.computeLogits(s);
    };
    const forwardPass = async (): Promise<void> => {
      for (const s of seqs) await lc.computeLogits(s, { lastOnly: true });
    };

    const times = { ours: [] as number[], llamaCpp: [] as number[], compute: [] as number[], forward: [] as number[] };
    const cpu = { ours: [] as number[], llamaCpp: [] as number[], compute: [] as number[], forward: [] as number[] };
    const runs: Array<[keyof typeof times, () => Promise<void> | void]> = [
      ['ours', oursPass],
      ['llamaCpp', lcPass],
      ['compute', computePass],
      ['forward', forwardPass],
    ];
    for (let r = 0; r < req.reps; r++) {
      // rotate the order so that no engine always runs right after another one's memory traffic
      for (let j = 0; j < runs.length; j++) {
        const [name, pass] = runs[(r + j) % runs.length]!;
        const t = performance.now();
        const c = process.cpuUsage();
        await pass();
        times[name].push((performance.now() - t) / 1000);
        const dc = process.cpuUsage(c);
        cpu[name].push((dc.user + dc.system) / 1e6);
      }
      const last = (k: keyof typeof times) => (tokensScored / times[k].at(-1)!).toFixed(0);
      log(`  round ${r + 1}/${req.reps}: ours ${last('ours')} tok/s, llama.cpp ${last('llamaCpp')} tok/s, llama.cpp compute ${last('compute')} tok/s, llama.cpp last-position forward ${last('forward')} tok/s`);
    }

    let maxAbsDiff = 0;
    if (oursLp.length !== lcLp.length) throw new Error(`the engines scored ${oursLp.length} and ${lcLp.length} sequences`);
    oursLp.forEach((row, i) => {
      if (row.length !== lcLp[i]!.length) throw new Error(`sequence ${i}: ours scored ${row.length} tokens, llama.cpp ${lcLp[i]!.length}`);
      row.forEach((v, j) => (maxAbsDiff = Math.max(maxAbsDiff, Math.abs(v - lcLp[i]![j]!))));
    });
    const parameters = model.parameterCount;
    const fileBytes = fs.statSync(req.file).size;
    const peak = peakRss();
    const ours = { ...throughput(tokensScored, times.ours, cpu.ours), setupSeconds: oursSetupSeconds };
    const llamaCpp = { ...throughput(tokensScored, times.llamaCpp, cpu.llamaCpp), setupSeconds: lcSetupSeconds };
    const llamaCppCompute = throughput(tokensScored, times.compute, cpu.compute);
    const llamaCppForward = throughput(tokensScored, times.forward, cpu.forward);
    return {
      model: path.relative(PROJECT_ROOT, path.resolve(req.file)).startsWith('..') ? req.file : path.relative(PROJECT_ROOT, path.resolve(req.file)),
      arch: model.config.arch,
      parameters,
      fileBytes,
      vocab: { size: model.config.nVocab, source: 'file' },
      weightTypes: [...new Set([...model.weights.values()].filter((w) => w.ne.length >= 2).map((w) => w.fileType))],
      threads,
      seqLen,
      batch: B,
      sequences: seqs.length,
      tokensScored,
      ours,
      llamaCpp,
      llamaCppCompute,
      llamaCppForward,
      ratio: ours.tokensPerSec / llamaCpp.tokensPerSec,
      ratioCompute: ours.tokensPerSec / llamaCppCompute.tokensPerSec,
      ratioComputeCpu: llamaCppCompute.cpuSeconds / ours.cpuSeconds,
      ratioForward: ours.tokensPerSec / llamaCppForward.tokensPerSec,
      maxAbsDiff,
      memory: {
        baselineRssBytes: rss0,
        oursPeakRssBytes: oursPeak,
        oursPeakRssBytesPerParam: oursPeak / parameters,
        peakRssBytes: peak,
        peakRssBytesPerParam: peak / parameters,
        oursRssBytes: oursRss,
        oursRssBytesPerParam: oursRss / parameters,
        llamaCppRssBytes: lcRss,
        llamaCppRssBytesPerParam: lcRss / parameters,
        fileBytesPerParam: fileBytes / parameters,
      },
      loadAverage: { before: loadBefore, after: os.loadavg() },
    };
  } finally {
    session.dispose();
    await scorer?.dispose();
  }
}

/** Write a shape's random model (the child's 'make' job). */
export function makeModel(o: { shape: ModelShape; vocabFile: string; seed: number; type: 'F32' | 'F16' | 'BF16'; out: string; quantizeTo: { type: string; out: string } | null }): void {
  if (!fs.existsSync(o.out)) writeRandomModel(o.out, { shape: o.shape, vocab: { file: o.vocabFile }, type: o.type, seed: o.seed, name: 'random (unlearnkit bench eval)' });
  if (o.quantizeTo) quantizeGguf(o.out, o.quantizeTo.out, { type: o.quantizeTo.type as QuantizeTarget });
}

// ------------------------------------------------------------------------------------------------
// The parent
// ------------------------------------------------------------------------------------------------

/** Run src/bench/evalChild.ts with one job; returns its JSON result (a UserError in the child is rethrown as one). */
function runChild<T>(job: 'make' | 'measure', payload: unknown, env: Record<string, string> = {}, log: (l: string) => void = () => {}): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unlearnkit-bench-eval-'));
  const reqFile = path.join(dir, 'request.json');
  const resFile = path.join(dir, 'result.json');
  writeJsonAtomic(reqFile, payload);
  return new Promise<T>((resolve, reject) => {
    const child = spawn(process.execPath, ownModuleArgs('bench/evalChild', job, reqFile, resFile), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let tail = '';
    let pending = '';
    const onData = (b: Buffer) => {
      const text = b.toString('utf8');
      tail = (tail + text).slice(-4000);
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) if (l.startsWith('  ')) log(l);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => reject(e));
    child.on('close', (code, signal) => {
      try {
        const out = fs.existsSync(resFile) ? (JSON.parse(fs.readFileSync(resFile, 'utf8')) as { ok: true; result: T } | { ok: false; error: { name: string; message: string } }) : null;
        if (out?.ok) resolve(out.result);
        else if (out && !out.ok) reject(out.error.name === 'UserError' ? new UserError(out.error.message) : new Error(out.error.message));
        else reject(new Error(`bench eval ${job} child process ended (${signal ?? `exit ${code}`}) without a result${code === null || code === 137 ? ' (out of memory?)' : ''}: ${tail.trim().split('\n').slice(-5).join(' | ')}`));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

/** Memory the kernel says is available (MemAvailable), or os.freemem() elsewhere. */
function availableMemory(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return os.freemem();
}

/** Run the eval benchmark; returns a JSON-able result. */
export async function benchEval(opts: BenchEvalOptions = {}): Promise<BenchEvalResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const engine = getEngine();
  const threads = opts.threads ?? engine.maxThreads;
  if (!Number.isInteger(threads) || threads < 1) throw new UserError(`threads must be a positive integer, got ${threads}`);
  const quick = opts.quick === true;
  const req = {
    seqLen: opts.seqLen ?? 128,
    batch: opts.batch ?? null,
    sequences: opts.sequences ?? (quick ? 4 : 8),
    reps: opts.reps ?? (quick ? 1 : 3),
  };
  if (!Number.isInteger(req.seqLen) || req.seqLen < 2) throw new UserError(`seqLen must be an integer >= 2, got ${req.seqLen}`);
  if (!Number.isInteger(req.sequences) || req.sequences < 1) throw new UserError(`sequences must be a positive integer, got ${req.sequences}`);
  if (!Number.isInteger(req.reps) || req.reps < 1) throw new UserError(`reps must be a positive integer, got ${req.reps}`);
  if (req.batch !== null && (!Number.isInteger(req.batch) || req.batch < 1)) throw new UserError(`batch must be a positive integer, got ${req.batch}`);
  const type = (opts.type ?? 'f16').toLowerCase();
  if (!(type in QUANTIZE_TARGETS)) throw new UserError(`unknown type '${opts.type}'; use one of ${Object.keys(QUANTIZE_TARGETS).join(', ')}`);
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(seed)) throw new UserError(`seed must be an integer, got ${seed}`);
  const shapes = resolveShapes(opts.shapes ?? []);
  const files = opts.models ?? (shapes.length ? [] : [fixturePath('models', 'stories260K.gguf'), embeddedModelPath()]);
  const cacheDir = opts.cacheDir ?? unlearnkitCacheDir('bench-eval');
  fs.mkdirSync(cacheDir, { recursive: true });
  const childEnv = { UNLEARNKIT_THREADS: String(threads) };

  const loadBefore = os.loadavg();
  const models: BenchEvalModel[] = [];
  const skipped: BenchEvalResult['skipped'] = [];
  const measure = async (file: string, label: string): Promise<MeasuredModel> => {
    const need = fs.statSync(file).size * 3.5;
    const avail = availableMemory();
    if (need > avail) log(`bench eval: ${label} may need ~${(need / 2 ** 30).toFixed(1)} GiB (both engines' copies of the weights) and ${(avail / 2 ** 30).toFixed(1)} GiB is available`);
    log(`bench eval: ${label} (${req.sequences} x ${req.seqLen} tokens, ${req.reps} round(s))`);
    return runChild<MeasuredModel>('measure', { file, ...req } satisfies MeasureRequest, childEnv, log);
  };
  for (const f of files) {
    if (!fs.existsSync(f)) {
      skipped.push({ model: f, reason: 'file not found' });
      continue;
    }
    models.push(await measure(f, f));
  }
  for (const s of shapes) {
    const made = await shapeModel(s, type, seed, cacheDir, log);
    const m = await measure(made.file, `${s.name} ${type}`);
    models.push({ ...m, shape: s.name, type, seed, cache: { path: made.file, reused: made.reused, seconds: made.seconds }, vocab: { ...made.vocab, size: m.vocab.size } });
  }
  if (models.length === 0) throw new UserError(`no model to benchmark: ${skipped.map((s) => s.model).join(', ')} not found`);
  return {
    suite: 'eval',
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    platform: `${process.platform}-${process.arch}`,
    device: engine.device.name,
    threads,
    nodeLlamaCpp: engine.nodeLlamaCpp,
    simdLogSoftmax: simdLogSumExp(),
    loadAverage: { before: loadBefore, after: os.loadavg() },
    models,
    skipped,
  };
}

/** Human-readable summary of a BenchEvalResult. */
export function printBenchEval(r: BenchEvalResult): void {
  const la = (a: number[]) => a.map((x) => x.toFixed(2)).join(' ');
  const lines = [
    `log-prob throughput, ${r.cpu} (${r.cores} cores), ${r.device}, node-llama-cpp ${r.nodeLlamaCpp}; load average ${la(r.loadAverage.before)} -> ${la(r.loadAverage.after)}`,
  ];
  for (const m of r.models) {
    const name = m.shape ? `${m.shape} ${m.type}` : m.model;
    const vocab = m.vocab.source === 'synthetic' ? `, SYNTHETIC vocabulary (${m.vocab.reason})` : m.vocab.source === 'llama.cpp' ? `, ${m.vocab.name}` : '';
    lines.push(
      `  ${name} (${m.arch}, ${m.parameters.toLocaleString('en-US')} params, ${m.weightTypes.join('/')}, vocab ${m.vocab.size}${vocab}): ${m.sequences} x ${m.seqLen} tokens, batch ${m.batch}, ${m.threads} thread(s)`,
      `    ours ${m.ours.tokensPerSec.toFixed(1)} tok/s, llama.cpp ${m.llamaCpp.tokensPerSec.toFixed(1)} tok/s (ratio ${m.ratio.toFixed(2)}), llama.cpp compute only ${m.llamaCppCompute.tokensPerSec.toFixed(1)} tok/s (ratio ${m.ratioCompute.toFixed(2)}); max |diff| ${m.maxAbsDiff.toExponential(2)}`,
      `    llama.cpp forward with last-position logits only ${m.llamaCppForward.tokensPerSec.toFixed(1)} tok/s (ratio ${m.ratioForward.toFixed(2)}); by CPU time: ours ${(m.tokensScored / m.ours.cpuSeconds).toFixed(1)} tok/cpu-s, llama.cpp compute only ${(m.tokensScored / m.llamaCppCompute.cpuSeconds).toFixed(1)} (ratio ${m.ratioComputeCpu.toFixed(2)})`,
      `    RSS per parameter: ours peak ${m.memory.oursPeakRssBytesPerParam.toFixed(2)} B (${(m.memory.oursPeakRssBytes / 2 ** 20).toFixed(0)} MiB, baseline ${(m.memory.baselineRssBytes / 2 ** 20).toFixed(0)}; ours added ${m.memory.oursRssBytesPerParam.toFixed(2)}, llama.cpp added ${m.memory.llamaCppRssBytesPerParam.toFixed(2)}, file ${m.memory.fileBytesPerParam.toFixed(2)}), both engines ${m.memory.peakRssBytesPerParam.toFixed(2)} B (${(m.memory.peakRssBytes / 2 ** 20).toFixed(0)} MiB); load ${la(m.loadAverage.before)} -> ${la(m.loadAverage.after)}`,
    );
  }
  for (const s of r.skipped) lines.push(`  skipped ${s.model}: ${s.reason}`);
  process.stdout.write(lines.join('\n') + '\n');
}


/** The `bench` command's eval flags, as commander gives them. */
export interface BenchEvalCliFlags {
  shape?: string[];
  type?: string;
  seed?: string;
  threads?: string;
  seqLen?: string;
  sequences?: string;
  reps?: string;
}

/** BenchEvalOptions from the CLI flags (integers checked); eval flags given to a run without the eval suite are refused. */
export function evalCliOptions(f: BenchEvalCliFlags, evalRuns: boolean): BenchEvalOptions {
  const given = (['shape', 'type', 'seed', 'threads', 'seqLen', 'sequences', 'reps'] as const).filter((k) => f[k] !== undefined);
  if (!evalRuns && given.length) throw new UserError(`${given.map((k) => `--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`).join(', ')} only apply to 'bench eval'`);
  const int = (flag: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new UserError(`--${flag} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
  return {
    shapes: f.shape,
    type: f.type,
    seed: int('seed', f.seed, 0),
    threads: int('threads', f.threads, 1),
    seqLen: int('seq-len', f.seqLen, 2),
    sequences: int('sequences', f.sequences, 1),
    reps: int('reps', f.reps, 1),
  };
}
