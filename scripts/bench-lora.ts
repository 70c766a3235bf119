/**
 * The LoRA / memory benchmark of issue #17 (not part of npm test): a 1B model on a 24 GB laptop.
 *
 *   node --import tsx scripts/bench-lora.ts [--dir D] [--only prepare,product,lora,parity,full] [--eval-limit N]
 *
 * Stages (each writes its numbers into D/bench-lora.json and reports/bench/lora.json):
 *   prepare  random-weight models at real shapes (src/model/randomModel.ts, F16) with the real
 *            vocabularies (llama.cpp's ggml-vocab-*.gguf): Llama-3.2-1B, quantised as
 *            `unlearnkit quantize --type q4_k_m` does, and SmolLM2-135M.
 *   product  what dX = W^T dY through a frozen Q4_K weight costs at the 1B shapes, for one batch's
 *            tokens: ggml's out_prod (what its automatic backward runs) against the native kernel
 *            (ops.weightTMatMul); the forward W x (ggml's quantised mul_mat vs ops.weightMatMul) too.
 *   lora     LoRA (r 16, attention + MLP) fine-tune of the Q4_K_M 1B model for one epoch over the
 *            Dave forget set (113 items, batch 8) with the first-epoch record, then first-epoch
 *            ascent (runUnlearn, `--eval-limit` items per measured set, default 50 as `unlearn`)
 *            in the same process: the fine-tune's peak RSS, the whole stage's, and wall times, with
 *            the load average around them.
 *   parity   the unlearned adapter on the Q4_K_M base in node-llama-cpp against our log-probs.
 *   full     full fine-tuning of SmolLM2-135M (--record none, --micro-batch 2, one epoch): peak RSS
 *            per parameter.
 * Each stage runs in a child process (`--child <stage>`), so that its peak RSS is its own. Check
 * `free -g` first: the lora stage needs ~8 GB, prepare ~8 GB while it writes the 1B model.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeRandomModel } from '../src/model/randomModel.ts';
import { quantizeGguf } from '../src/model/quantize.ts';
import { finetune } from '../src/train/finetune.ts';
import { runUnlearn } from '../src/unlearn/run.ts';
import { getDataset } from '../src/data/dataset.ts';
import { factExamples } from '../src/train/examples.ts';
import { CausalLM, sequenceLogprobs } from '../src/model/model.ts';
import { attachLoraFile } from '../src/model/lora.ts';
import { tokenizerFromGguf } from '../src/model/tokenizer/index.ts';
import { Graph } from '../src/engine/graph.ts';
import * as op from '../src/engine/ops.ts';
import { getEngine } from '../src/engine/engine.ts';
import { ggmlQuantizeRows } from '../src/engine/ffi.ts';
import { GGML_TYPE } from '../src/engine/types.ts';
import { Rng } from '../src/util/rng.ts';
import { PROJECT_ROOT } from '../src/util/paths.ts';
import { llamaCppSourceFile } from '../test/helpers/llamacppSource.ts';
import { LlamaCppScorer } from '../src/model/llamacppLogprobs.ts';

const SELF = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);
const arg = (name: string, dflt?: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const dir = path.resolve(arg('dir', path.join(os.tmpdir(), 'unlearnkit-bench-lora'))!);
const evalLimit = Number(arg('eval-limit', '50'));
const files = {
  f16: path.join(dir, 'llama-3.2-1b-f16.gguf'),
  q4km: path.join(dir, 'llama-3.2-1b-q4_k_m.gguf'),
  smol: path.join(dir, 'smollm2-135m-f16.gguf'),
  ft: path.join(dir, 'ft-1b-lora'),
  adapters: path.join(dir, 'adapters'),
  full: path.join(dir, 'ft-135m-full'),
};
const GiB = (n: number) => +(n / 2 ** 30).toFixed(3);

/** Peak RSS of this process in bytes (getrusage: ru_maxrss, KiB on Linux). */
const maxRss = () => process.resourceUsage().maxRSS * 1024;

function child(stage: string): Record<string, unknown> {
  const load = os.loadavg();
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', SELF, '--child', stage, '--dir', dir, '--eval-limit', String(evalLimit)], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`stage ${stage} failed (exit ${r.status})`);
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop()!;
  return { ...JSON.parse(line), wallSeconds: +((performance.now() - t0) / 1000).toFixed(1), loadAverageBefore: load, loadAverageAfter: os.loadavg() };
}

async function runChild(stage: string): Promise<Record<string, unknown>> {
  fs.mkdirSync(dir, { recursive: true });
  switch (stage) {
    case 'prepare': {
      const out: Record<string, unknown> = {};
      if (!fs.existsSync(files.q4km)) {
        const r = writeRandomModel(files.f16, { shape: 'llama-3.2-1b', vocab: { file: llamaCppSourceFile('models/ggml-vocab-llama-bpe.gguf') }, type: 'F16', seed: 1 });
        out.llama1bParameters = r.parameters;
        const q = quantizeGguf(files.f16, files.q4km, { type: 'q4_k_m' });
        out.q4kmBytes = q.bytesOut;
        fs.rmSync(files.f16);
      }
      if (!fs.existsSync(files.smol)) {
        out.smolParameters = writeRandomModel(files.smol, { shape: 'smollm2-135m', vocab: { file: llamaCppSourceFile('models/ggml-vocab-starcoder.gguf') }, type: 'F16', seed: 1 }).parameters;
      }
      return { ...out, maxRssGiB: GiB(maxRss()) };
    }
    case 'product': {
      // one batch of the Dave forget set at the 1B shapes: 8 sequences of its longest item
      const fn = getEngine().g;
      const N = 8 * 48;
      const rng = new Rng(1);
      const rows: Record<string, unknown>[] = [];
      for (const [name, nIn, nOut] of [['attn_q', 2048, 2048], ['ffn_up', 2048, 8192], ['ffn_down', 8192, 2048]] as const) {
        const bytes = ggmlQuantizeRows(fn, GGML_TYPE.q4_k, rng.normalArray(nIn * nOut, 0.02), nOut, nIn);
        const time = (build: (W: ReturnType<Graph['input']>, b: ReturnType<Graph['input']>) => ReturnType<typeof op.mulMat>, bShape: number[]) => {
          const g = new Graph();
          try {
            const W = g.input('W', [nIn, nOut], 'q4_k');
            const b = g.input('b', bShape);
            const y = build(W, b);
            g.build({ outputs: [y] });
            g.allocate();
            g.set(W, bytes);
            g.set(b, rng.normalArray(bShape[0]! * bShape[1]!, 1));
            g.compute('forward');
            const t = performance.now();
            g.compute('forward');
            return +(performance.now() - t).toFixed(1);
          } finally {
            g.dispose();
          }
        };
        rows.push({
          weight: `${name} [${nIn}, ${nOut}] q4_K`,
          tokens: N,
          backwardOutProdMs: time((W, b) => op.outProd(W, op.transpose(b)), [nOut, N]),
          backwardNativeMs: time((W, b) => op.weightTMatMul(W, b), [nOut, N]),
          forwardGgmlMulMatMs: time((W, b) => op.mulMat(W, b), [nIn, N]),
          forwardNativeMs: time((W, b) => op.weightMatMul(W, b), [nIn, N]),
        });
      }
      return { products: rows, threads: getEngine().maxThreads, maxRssGiB: GiB(maxRss()) };
    }
    case 'lora': {
      const items = factExamples(getDataset('dave').facts('forget'));
      fs.rmSync(files.ft, { recursive: true, force: true });
      const t0 = performance.now();
      const ft = finetune({ modelPath: files.q4km, items, out: files.ft, epochs: 1, batch: 8, lora: { rank: 16 }, record: 'first-epoch', quiet: true });
      const ftSeconds = (performance.now() - t0) / 1000;
      const ftRss = maxRss();
      const t1 = performance.now();
      const un = await runUnlearn({ from: files.ft, method: 'first-epoch', target: 'all', evalLimit, adaptersDir: files.adapters, runId: 'bench-first-epoch', quiet: true });
      const unSeconds = (performance.now() - t1) / 1000;
      const recordBytes = fs.readdirSync(path.join(files.ft, 'grads')).reduce((a, f) => a + fs.statSync(path.join(files.ft, 'grads', f)).size, 0);
      return {
        items: items.length,
        steps: Math.ceil(items.length / 8),
        finetuneSeconds: +ftSeconds.toFixed(1),
        secondsPerStep: +(ftSeconds / Math.ceil(items.length / 8)).toFixed(1),
        finetunePeakRssGiB: GiB(ftRss),
        adapterBytes: fs.statSync(ft.checkpoint).size,
        recordBytes,
        unlearnSeconds: +unSeconds.toFixed(1),
        unlearnMethodSeconds: +un.seconds.method.toFixed(2),
        forgetPerplexity: [un.summary.forget?.perplexityBefore, un.summary.forget?.perplexityAfter],
        peakRssGiB: GiB(maxRss()),
      };
    }
    case 'parity': {
      const adapter = path.join(files.adapters, 'bench-first-epoch', 'adapter.gguf');
      const model = CausalLM.load(files.q4km);
      attachLoraFile(model, adapter);
      const tok = tokenizerFromGguf(model.file!);
      const texts = factExamples(getDataset('dave').facts('forget')).slice(0, 2).map((e) => e.text);
      const scorer = await LlamaCppScorer.open(files.q4km, { threads: 2, lora: [{ filePath: adapter }] });
      let worst = 0;
      try {
        for (const text of texts) {
          const tokens = tok.encode(text, { addBos: true });
          const ours = sequenceLogprobs(model, tokens);
          const ref = (await scorer.logprobs(tokens)).logprobs;
          for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!));
        }
      } finally {
        await scorer.dispose();
      }
      return { texts: texts.length, maxAbsLogprobDiff: worst, maxRssGiB: GiB(maxRss()) };
    }
    case 'full': {
      const items = factExamples(getDataset('dave').facts('forget'));
      fs.rmSync(files.full, { recursive: true, force: true });
      const params = CausalLM.load(files.smol).parameterCount;
      const t0 = performance.now();
      finetune({ modelPath: files.smol, items, out: files.full, epochs: 1, batch: 8, microBatch: 2, record: 'none', quiet: true });
      const rss = maxRss();
      return { parameters: params, seconds: +((performance.now() - t0) / 1000).toFixed(1), peakRssGiB: GiB(rss), bytesPerParameter: +(rss / params).toFixed(1) };
    }
    default:
      throw new Error(`unknown stage ${stage}`);
  }
}

async function main(): Promise<void> {
  const childStage = arg('child');
  if (childStage) {
    process.stdout.write(JSON.stringify(await runChild(childStage)) + '\n');
    return;
  }
  const stages = (arg('only') ?? 'prepare,product,lora,parity,full').split(',');
  const outFile = path.join(dir, 'bench-lora.json');
  fs.mkdirSync(dir, { recursive: true });
  const results: Record<string, unknown> = fs.existsSync(outFile) ? JSON.parse(fs.readFileSync(outFile, 'utf8')) : {};
  results.machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memGiB: GiB(os.totalmem()) };
  for (const s of stages) {
    process.stderr.write(`bench lora: ${s} (free ${GiB(os.freemem())} GiB, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})\n`);
    results[s] = child(s);
    process.stderr.write(`  ${JSON.stringify(results[s])}\n`);
    fs.writeFileSync(outFile, JSON.stringify(results, null, 2));
  }
  const report = path.join(PROJECT_ROOT, 'reports', 'bench', 'lora.json');
  fs.mkdirSync(path.dirname(report), { recursive: true });
  fs.writeFileSync(report, JSON.stringify(results, null, 2));
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
