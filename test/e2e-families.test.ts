/**
 * Fine-tuning, first-epoch gradient ascent and evaluation, driven through the CLI as a user would
 * (`node --import tsx src/cli.ts ...`), on a tiny random-weight model of every architecture family
 * (src/model/randomModel.ts; llama also with rope_freqs, whose constant tensor must survive
 * fine-tuning and saving) and a 12-fact slice of the Dave set:
 *   finetune --record first-epoch   the loss falls over two epochs; the checkpoint loads
 *   unlearn --method first-epoch    the forget perplexity rises (the run's own before / after)
 *   eval                            the unlearned model's forget perplexity is above the checkpoint's
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { PROJECT_ROOT } from '../src/util/paths.ts';
import { writeRandomModel, type ModelShape } from '../src/model/randomModel.ts';
import { CausalLM } from '../src/model/model.ts';
import { tinyDave } from './helpers/fixtures.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-e2e-families-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A Dave-format folder with the first facts of each split (the full set takes minutes on 2 cores). */
const data = tinyDave(path.join(tmp, 'dave'), { forget: 12, retain: 12, holdout: 8, decoy: 4, general: 8 });

function cli(args: string[]): unknown {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'src', 'cli.ts'), ...args, '--json', '--quiet'], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, UNLEARNKIT_THREADS: process.env.UNLEARNKIT_THREADS ?? '1' },
  });
  assert.equal(r.status, 0, `unlearnkit ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

const SMALL = { nEmbd: 32, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 64, nCtx: 256 };
const FAMILIES: Array<{ label: string; shape: ModelShape }> = [
  { label: 'llama', shape: { arch: 'llama', ...SMALL } },
  { label: 'llama-rope-freqs', shape: { arch: 'llama', ...SMALL, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64 } } },
  { label: 'qwen2', shape: { arch: 'qwen2', ...SMALL } },
  { label: 'qwen3', shape: { arch: 'qwen3', ...SMALL, headDim: 16, tiedOutput: false } },
  { label: 'gpt2', shape: { arch: 'gpt2', ...SMALL, nHeadKv: 4 } },
];

for (const f of FAMILIES) {
  test(`${f.label}: finetune -> first-epoch unlearn -> eval through the CLI`, () => {
    const t0 = performance.now();
    const model = path.join(tmp, `${f.label}.gguf`);
    writeRandomModel(model, { shape: f.shape, vocab: { tiny: 384 }, seed: 3 });
    const run = path.join(tmp, `${f.label}-run`);
    const ft = cli(['finetune', '--model', model, '--data', data, '--splits', 'forget,retain', '--epochs', '2', '--batch', '8', '--lr', '3e-3', '--out', run, '--no-eval']) as {
      checkpoint: string;
      epochs: Array<{ meanLoss: number }>;
      recordedTensors: string[];
    };
    assert.equal(ft.epochs.length, 2);
    assert.ok(ft.epochs[1]!.meanLoss < ft.epochs[0]!.meanLoss, `loss ${ft.epochs.map((e) => e.meanLoss).join(' -> ')}`);
    const ckpt = CausalLM.load(ft.checkpoint);
    assert.equal(ckpt.config.arch, f.shape.arch);
    if (f.shape.ropeScaling) assert.ok(ckpt.tensorNames.includes('rope_freqs.weight') && !ft.recordedTensors.includes('rope_freqs.weight'));
    const un = cli(['unlearn', '--from', run, '--method', 'first-epoch', '--target', 'all', '--data', data, '--eval-limit', '0', '--adapters-dir', path.join(tmp, 'adapters'), '--run-id', f.label]) as {
      summary: { forget: { perplexityBefore: number; perplexityAfter: number } };
      adapter: { mergedPath: string | null; adapterPath: string | null };
    };
    const s = un.summary.forget;
    assert.ok(s.perplexityAfter > s.perplexityBefore, `forget perplexity ${s.perplexityBefore} -> ${s.perplexityAfter}`);
    assert.ok(un.adapter.mergedPath && fs.existsSync(un.adapter.mergedPath), 'a target with norms writes merged.gguf');
    const ppl = (m: string, out: string) =>
      (cli(['eval', '--model', m, '--data', data, '--metrics', 'perplexity', '--splits', 'forget', '--limit', '12', '--out', path.join(tmp, out), '--no-report']) as {
        metrics: { perplexity: { splits: { forget: { perplexity: number } } } };
      }).metrics.perplexity.splits.forget.perplexity;
    const before = ppl(ft.checkpoint, `${f.label}-eval-ft`);
    const after = ppl(un.adapter.mergedPath, `${f.label}-eval-unlearned`);
    assert.ok(Number.isFinite(before) && after > before, `eval forget perplexity: fine-tuned ${before}, unlearned ${after}`);
    console.log(`${f.label}: loss ${ft.epochs.map((e) => e.meanLoss.toFixed(3)).join(' -> ')}; forget perplexity after unlearning ${s.perplexityBefore.toFixed(1)} -> ${s.perplexityAfter.toFixed(1)}; eval ${before.toFixed(1)} -> ${after.toFixed(1)}; ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  });
}
