/**
 * Series on disk (issue #20, src/eval/series.ts): `--eval-every N` on finetune, unlearn and
 * sequential writes series.jsonl (one line per step, split, metric, value) in the run folder;
 * `eval --series` reads it (a file or the folder) and `report` plots it. On a tiny random model and
 * the plain TOFU fixture folder:
 *   - finetune: points at step 0, every N optimiser steps and after the last; the step-0 and last
 *     perplexities equal `eval --metrics perplexity` of the base model and of the saved checkpoint
 *     on the same items (the in-training view holds the trained values);
 *   - unlearn (gradient ascent): points at 0, every N method steps and the end; the last equals
 *     `eval` of the run's merged.gguf;
 *   - sequential: one point per request;
 *   - readSeries: JSON lines, a folder, the interval evaluator's JSON; malformed lines are refused.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { writeRandomModel } from '../../src/model/randomModel.ts';
import { readSeries, parseSeriesLines, SERIES_FILE, type SeriesLine } from '../../src/eval/series.ts';
import { tofuPlainFolder } from '../data/tofuFixture.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-series-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const MODEL = path.join(tmp, 'tiny.gguf');

const cli = async (...args: string[]): Promise<string> => (await runCli(tmp, ...args)).stdout;

const lines = (file: string): SeriesLine[] => parseSeriesLines(fs.readFileSync(file, 'utf8'), file);
const at = (ls: SeriesLine[], step: number, split: string, metric = 'perplexity') => ls.find((l) => l.step === step && l.split === split && l.metric === metric)?.value;
/** `eval --metrics perplexity` of a model (+ adapter) on the first 16 items of forget and retain. */
async function evalPerplexity(out: string, model: string, adapter?: string): Promise<Record<string, number>> {
  const r = JSON.parse(await cli('eval', '--model', model, ...(adapter ? ['--adapter', adapter] : []), '--data', 'tofu', '--metrics', 'perplexity', '--splits', 'forget,retain', '--limit', '16', '--out', out, '--no-report', '--json')) as {
    metrics: { perplexity: { splits: Record<string, { perplexity: number }> } };
  };
  return Object.fromEntries(Object.entries(r.metrics.perplexity.splits).map(([k, v]) => [k, v.perplexity]));
}

let ft: SeriesLine[];
let un: SeriesLine[];
before(async () => {
  writeRandomModel(MODEL, { shape: { arch: 'llama', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128 }, vocab: { tiny: 384 }, seed: 4 });
  tofuPlainFolder(path.join(tmp, 'tofu'));
  await cli('finetune', '--model', MODEL, '--data', 'tofu', '--epochs', '2', '--eval-every', '4', '--out', 'ft', '--quiet');
  await cli('unlearn', '--from', 'ft', '--method', 'gradient-ascent', '--steps', '5', '--lr', '1e-3', '--eval-every', '2', '--run-id', 'ga', '--merged', '--quiet');
  ft = lines(path.join(tmp, 'ft', SERIES_FILE));
  un = lines(path.join(tmp, 'adapters', 'ga', SERIES_FILE));
});

test('finetune --eval-every: perplexity and ROUGE per split at step 0, every N steps and the last; the ends equal eval of the base and the checkpoint', async () => {
  // 36 items, batch 8: 5 steps an epoch, 10 in all
  assert.deepEqual([...new Set(ft.map((l) => l.step))], [0, 4, 8, 10]);
  assert.deepEqual([...new Set(ft.map((l) => `${l.metric}:${l.split}`))].sort(), ['perplexity:forget', 'perplexity:retain', 'rouge1:forget', 'rouge1:retain', 'rouge2:forget', 'rouge2:retain', 'rougeL:forget', 'rougeL:retain']);
  assert.ok(ft.every((l) => l.label === 'finetune' && Number.isFinite(l.value)));
  const [base, tuned] = await Promise.all([evalPerplexity('ev-base', MODEL), evalPerplexity('ev-ft', 'ft/checkpoint.gguf')]);
  for (const split of ['forget', 'retain']) {
    assert.ok(Math.abs(at(ft, 0, split)! / base[split]! - 1) < 1e-9, `${split} step 0 ${at(ft, 0, split)} vs eval ${base[split]}`);
    assert.ok(Math.abs(at(ft, 10, split)! / tuned[split]! - 1) < 1e-9, `${split} step 10 ${at(ft, 10, split)} vs eval ${tuned[split]}`);
  }
  assert.ok(at(ft, 10, 'forget')! < at(ft, 0, 'forget')! / 10, 'fine-tuning learned the forget set');
});

test('unlearn --eval-every: points at 0, every N method steps and the end; the end equals eval of merged.gguf', async () => {
  assert.deepEqual([...new Set(un.map((l) => l.step))], [0, 2, 4, 5]);
  const merged = await evalPerplexity('ev-ga', 'ft/checkpoint.gguf', 'adapters/ga/merged.gguf');
  const tuned = await evalPerplexity('ev-ft2', 'ft/checkpoint.gguf');
  for (const split of ['forget', 'retain']) {
    assert.ok(Math.abs(at(un, 0, split)! / tuned[split]! - 1) < 1e-9, `${split} step 0`);
    assert.ok(Math.abs(at(un, 5, split)! / merged[split]! - 1) < 1e-5, `${split} end ${at(un, 5, split)} vs eval of merged.gguf ${merged[split]}`);
  }
  assert.ok(at(un, 5, 'forget')! > at(un, 0, 'forget')!, 'gradient ascent raised forget perplexity');
});

test('eval --series reads series.jsonl (a file or its folder); the report plots it; sequential writes one point per request', async () => {
  await cli('eval', '--model', 'ft/checkpoint.gguf', '--adapter', 'adapters/ga/merged.gguf', '--data', 'tofu', '--metrics', 'perplexity', '--series', 'adapters/ga', 'ft/series.jsonl', '--out', 'rep', '--quiet');
  const stored = JSON.parse(fs.readFileSync(path.join(tmp, 'rep', 'series.json'), 'utf8')) as Array<{ label: string; metric: string; split: string; points: Array<{ step: number; value: number }> }>;
  const ppl = stored.find((s) => s.label === 'finetune' && s.metric === 'perplexity' && s.split === 'forget')!;
  assert.deepEqual(ppl.points, ft.filter((l) => l.metric === 'perplexity' && l.split === 'forget').map((l) => ({ step: l.step, value: l.value })));
  assert.ok(stored.some((s) => s.label === 'gradient-ascent all'));
  const html = fs.readFileSync(path.join(tmp, 'rep', 'report.html'), 'utf8');
  assert.ok(fs.existsSync(path.join(tmp, 'rep', 'charts', 'series-perplexity.svg')) || html.includes('series-perplexity'), 'the report has the series chart');
  await cli('sequential', '--from', 'ft', '--method', 'gradient-ascent', '--steps', '1', '--lr', '1e-3', '--chunks', '2', '--eval-every', '1', '--out', 'seq', '--no-adapter', '--quiet');
  const seq = lines(path.join(tmp, 'seq', SERIES_FILE));
  assert.deepEqual([...new Set(seq.map((l) => l.step))], [0, 1, 2]);
  assert.equal(at(seq, 0, 'forget'), at(un, 0, 'forget'), 'the same fine-tuned model at step 0');
});

test('readSeries: JSON lines, a folder, the interval evaluator JSON; malformed input refused by line', () => {
  const d = path.join(tmp, 'rs');
  fs.mkdirSync(d);
  fs.writeFileSync(path.join(d, SERIES_FILE), '{"step":2,"split":"forget","metric":"perplexity","value":3}\n{"step":0,"split":"forget","metric":"perplexity","value":2}\n');
  const fromDir = readSeries(d);
  assert.deepEqual(fromDir, [{ label: 'rs', metric: 'perplexity', split: 'forget', points: [{ step: 0, value: 2 }, { step: 2, value: 3 }] }]);
  fs.writeFileSync(path.join(d, 'old.json'), JSON.stringify(fromDir));
  assert.deepEqual(readSeries(path.join(d, 'old.json')), fromDir);
  fs.writeFileSync(path.join(d, 'bad.jsonl'), '{"step":0,"split":"forget","metric":"perplexity","value":2}\n{"step":1}\n');
  assert.throws(() => readSeries(path.join(d, 'bad.jsonl')), /bad\.jsonl line 2 is not a series point/);
  assert.throws(() => readSeries(tmp), /holds no series\.jsonl; write one with --eval-every N/);
});
