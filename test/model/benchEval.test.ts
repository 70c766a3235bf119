/**
 * `unlearnkit bench eval --shape` end to end on a tiny shape (seconds): the random model is written
 * into the cache with llama.cpp's GPT-2 vocabulary extracted from node-llama-cpp's source bundle,
 * both engines score the same tokens, and their log-probs agree within the parity bound of
 * test/model/parity.test.ts (1e-13; they share the log-softmax, so equal logits give equal
 * log-probs). Without git the vocabulary falls back to a synthetic one of the same size, and the
 * JSON says so. No timing thresholds: throughput is only checked for consistency.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliArgs } from '../helpers/cli.ts';
import type { BenchEvalModel, BenchEvalResult } from '../../src/bench/eval.ts';

const BOUND = 1e-13;
const SHAPE = 'custom:llama,embd=64,layers=2,heads=4,kv=2,ff=128,vocab=gpt-2';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-bench-eval-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function benchEvalCli(dir: string, env: Record<string, string>, ...shapes: string[]): BenchEvalResult {
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync(process.execPath, cliArgs('bench', 'eval', ...shapes.flatMap((s) => ['--shape', s]), '--seq-len', '16', '--sequences', '2', '--reps', '1', '--threads', '1', '--json'), {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, UNLEARNKIT_CACHE: path.join(dir, 'cache'), ...env },
    timeout: 300_000,
  });
  assert.equal(r.status, 0, `bench eval failed:\n${r.stderr}`);
  const out = JSON.parse(r.stdout) as BenchEvalResult;
  // the report file is the same JSON, written atomically under the working directory
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'reports', 'bench', 'eval.json'), 'utf8')), out);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'reports', 'bench')), ['eval.json']);
  return out;
}

function checkModel(m: BenchEvalModel): void {
  assert.equal(m.shape, SHAPE);
  assert.equal(m.type, 'f16');
  assert.equal(m.seed, 1);
  assert.equal(m.arch, 'llama');
  assert.deepEqual(m.weightTypes, ['f16']);
  // 64-d, 2 layers (4 heads, 2 KV heads, ff 128), tied GPT-2-sized embedding
  assert.equal(m.parameters, 50257 * 64 + 2 * (64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 128 + 2 * 64) + 64);
  assert.ok(fs.existsSync(m.cache!.path) && m.model === m.cache!.path);
  assert.equal(m.threads, 1);
  assert.equal(m.seqLen, 16);
  assert.equal(m.sequences, 2);
  assert.equal(m.batch, 2);
  // both engines scored every token after the first of each sequence, with equal log-probs
  assert.equal(m.tokensScored, 2 * 15);
  assert.ok(m.maxAbsDiff < BOUND, `ours vs llama.cpp: max |diff| ${m.maxAbsDiff}`);
  for (const e of [m.ours, m.llamaCpp, m.llamaCppCompute, m.llamaCppForward]) {
    assert.equal(e.passes, 1);
    assert.equal(e.passSeconds.length, 1);
    assert.ok(e.seconds > 0 && e.cpuSeconds >= 0);
    assert.ok(Math.abs(e.tokensPerSec * e.seconds - m.tokensScored) < 1e-6);
  }
  assert.ok(Math.abs(m.ratio - m.ours.tokensPerSec / m.llamaCpp.tokensPerSec) < 1e-12);
  assert.ok(Math.abs(m.ratioCompute - m.ours.tokensPerSec / m.llamaCppCompute.tokensPerSec) < 1e-12);
  assert.ok(Math.abs(m.ratioForward - m.ours.tokensPerSec / m.llamaCppForward.tokensPerSec) < 1e-12);
  const mem = m.memory;
  assert.ok(mem.peakRssBytes >= mem.oursPeakRssBytes && mem.oursPeakRssBytes > mem.baselineRssBytes);
  assert.ok(Math.abs(mem.peakRssBytesPerParam * m.parameters - mem.peakRssBytes) < 1);
  assert.ok(Math.abs(mem.fileBytesPerParam - m.fileBytes / m.parameters) < 1e-12);
  assert.ok(mem.fileBytesPerParam > 2 && mem.fileBytesPerParam < 2.6, `F16 file: ${mem.fileBytesPerParam} bytes per parameter`);
  assert.equal(m.loadAverage.before.length, 3);
  assert.equal(m.loadAverage.after.length, 3);
}

test('bench eval --shape custom: the real GPT-2 vocabulary from the bundle; both engines score the same tokens equally', () => {
  const r = benchEvalCli(path.join(tmp, 'real'), {}, SHAPE);
  assert.equal(r.suite, 'eval');
  assert.equal(r.models.length, 1);
  assert.deepEqual(r.skipped, []);
  assert.equal(r.threads, 1);
  assert.ok(r.cores >= 1 && r.memoryBytes > 0 && r.cpu.length > 0);
  assert.equal(r.loadAverage.before.length, 3);
  const m = r.models[0]!;
  checkModel(m);
  assert.deepEqual(m.vocab, { size: 50257, source: 'llama.cpp', name: 'ggml-vocab-gpt-2.gguf' });
  assert.equal(m.cache!.reused, false);
  // the vocabulary was extracted into the cache, the model keyed by shape, vocabulary, seed and type
  assert.ok(fs.existsSync(path.join(tmp, 'real', 'cache', 'bench-eval', fs.readdirSync(path.join(tmp, 'real', 'cache', 'bench-eval')).find((d) => d.startsWith('llama.cpp-'))!, 'models', 'ggml-vocab-gpt-2.gguf')));
  assert.match(path.basename(m.cache!.path), /^custom-[0-9a-f]{12}-gpt-2-seed1-v\d+-f16\.gguf$/);
});

test('bench eval without git: a synthetic vocabulary of the same size, said in the JSON; the cached model is reused', () => {
  const noGit = fs.mkdtempSync(path.join(tmp, 'path-'));
  const r = benchEvalCli(path.join(tmp, 'synthetic'), { PATH: noGit }, SHAPE, SHAPE);
  assert.equal(r.models.length, 2);
  for (const m of r.models) {
    checkModel(m);
    assert.equal(m.vocab.source, 'synthetic');
    assert.equal(m.vocab.size, 50257);
    assert.equal(m.vocab.name, 'ggml-vocab-gpt-2.gguf');
    assert.match(m.vocab.reason!, /git is not installed/);
    assert.match(path.basename(m.cache!.path), /-synthetic50257-seed1-/);
  }
  assert.deepEqual(r.models.map((m) => m.cache!.reused), [false, true]);
  assert.equal(r.models[0]!.model, r.models[1]!.model);
});

test('bench eval refuses unknown shapes, types and eval flags on other suites by name', async () => {
  const { benchEval, evalCliOptions } = await import('../../src/bench/eval.ts');
  const cacheDir = path.join(tmp, 'refuse');
  const cases: Array<[Parameters<typeof benchEval>[0], RegExp]> = [
    [{ shapes: ['gpt5'] }, /unknown shape 'gpt5'; use one of smollm2-135m, .*all, or custom:/],
    [{ shapes: ['custom:mamba,embd=64'] }, /unknown architecture 'mamba'/],
    [{ shapes: ['custom:llama,embd=64,depth=2'] }, /'depth=2' is not one of embd=, layers=/],
    [{ shapes: ['custom:llama,embd=64,layers=2'] }, /heads= is required/],
    [{ shapes: ['custom:llama,embd=64,layers=2,heads=4,vocab=100'] }, /a synthetic vocabulary needs at least 260 tokens/],
    [{ shapes: ['smollm2-135m'], type: 'q9_9' }, /unknown type 'q9_9'; use one of f32, f16, bf16, q8_0/],
  ];
  for (const [o, re] of cases) await assert.rejects(benchEval({ ...o, cacheDir }), (e: Error) => e.name === 'UserError' && re.test(e.message), JSON.stringify(o));
  assert.throws(() => evalCliOptions({ threads: '0' }, true), /--threads must be an integer >= 1, got '0'/);
  assert.throws(() => evalCliOptions({ seqLen: '64', reps: '2' }, false), /--seq-len, --reps only apply to 'bench eval'/);
  assert.deepEqual(evalCliOptions({ shape: ['all'], seqLen: '64', reps: '2' }, true), { shapes: ['all'], type: undefined, seed: undefined, threads: undefined, seqLen: 64, sequences: undefined, reps: 2 });
  // through the CLI: the message without a stack
  const r = spawnSync(process.execPath, cliArgs('bench', 'eval', '--shape', 'gpt5'), { cwd: tmp, encoding: 'utf8', env: { ...process.env, UNLEARNKIT_CACHE: cacheDir } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /unknown shape 'gpt5'/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});
