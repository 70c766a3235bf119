/**
 * The record's size limit and `grads info` through the CLI (src/commands/train.ts):
 *   - `finetune --max-record-gb X` with a record larger than X stops before training (exit 2, a
 *     UserError) with the estimate and the options that shrink it in the message, and writes no
 *     checkpoint, state or record; the estimate is the one estimateRecord computes;
 *   - `grads info --json` says which form each tensor's records take and the ratio against dense,
 *     for a factored (format 2) record.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { factExamples, tokenizeExamples } from '../../src/train/examples.ts';
import { estimateRecord, formatBytes, recordStorage, type RecordInfo } from '../../src/train/gradRecord.ts';
import { getDataset } from '../../src/data/dataset.ts';
import { CausalLM } from '../../src/model/model.ts';
import { tokenizerFromGguf } from '../../src/model/tokenizer/index.ts';
import { writeRandomModel } from '../../src/model/randomModel.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { cliArgs } from '../helpers/cli.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-record-cli-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const MODEL = path.join(tmp, 'tiny.gguf');
// the tiny vocabulary makes Dave facts ~60 tokens long: 128 x 384 MLP matrices are factored below 96
writeRandomModel(MODEL, { shape: { arch: 'llama', nEmbd: 128, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 384 }, vocab: { tiny: 384 }, seed: 4 });
const DATA = path.join(PROJECT_ROOT, 'datasets', 'dave');

function cli(...args: string[]) {
  return spawnSync(process.execPath, cliArgs(...args), { encoding: 'utf8', cwd: tmp, timeout: 600_000 });
}

test('finetune refuses a record above --max-record-gb before training, with the estimate and the ways to shrink it', () => {
  const out = path.join(tmp, 'refused');
  const r = cli('finetune', '--model', MODEL, '--data', DATA, '--splits', 'forget', '--epochs', '1', '--max-record-gb', '0.001', '--no-eval', '--out', out);
  assert.equal(r.status, 2, `exit ${r.status}: ${r.stderr}`);
  // the exact estimate of what the run would have written (forget facts, AdamW, f32, all tensors)
  const m = CausalLM.load(MODEL);
  const { examples } = tokenizeExamples(factExamples(getDataset(DATA).facts('forget')), tokenizerFromGguf(m.file!), m.config.nCtx);
  const e = estimateRecord({
    tensors: m.parameterNames.map((name) => ({ name, ne: m.weights.get(name)!.ne, storage: recordStorage(name, m.weights.get(name)!.ne, m.config.tiedOutput) })),
    dtype: 'f32',
    optimizer: 'adamw',
    sequences: examples.map((x) => x.tokens),
    batch: 8,
    epochs: 1,
  });
  assert.ok(e.totalBytes > 1e6, `the test needs a record above 1 MB (${e.totalBytes})`);
  const msg = r.stderr;
  console.log(msg.trim());
  assert.match(msg, new RegExp(`gradient record: ${formatBytes(e.totalBytes).replace('.', '\\.')} to write`), 'the estimate is printed before the refusal');
  assert.match(msg, new RegExp(`the gradient record would take ${formatBytes(e.totalBytes).replace('.', '\\.')} \\(per-example gradients ${formatBytes(e.exampleBytes).replace('.', '\\.')} for ${examples.length} examples`));
  assert.match(msg, /above the limit of 1\.0 MB \(--max-record-gb/);
  for (const hint of ['--record-filter', '--record-dtype f16', '--lora', '--record none']) assert.ok(msg.includes(hint), `the message names ${hint}`);
  assert.doesNotMatch(msg, /^\s+at /m, 'a UserError prints no stack');
  assert.doesNotMatch(msg, /epoch 1\/1/, 'no training started');
  for (const f of ['checkpoint.gguf', 'state.json', 'grads', 'optimizer.bin']) assert.ok(!fs.existsSync(path.join(out, f)), `${f} was not written`);
});

test('grads info --json: storage, forms and ratio per tensor of a factored record', () => {
  const out = path.join(tmp, 'info');
  const ft = cli('finetune', '--model', MODEL, '--data', DATA, '--splits', 'forget', '--epochs', '1', '--batch', '16', '--no-eval', '--quiet', '--out', out);
  assert.equal(ft.status, 0, ft.stderr);
  const r = cli('grads', 'info', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout) as RecordInfo;
  assert.equal(info.format, 'unlearnkit.gradrecord/2');
  const n = getDataset(DATA).facts('forget').length;
  assert.equal(info.examples, n);
  const byName = new Map(info.tensors.map((t) => [t.name, t]));
  assert.equal(byName.get('token_embd.weight')!.storage, 'linear+rows');
  assert.equal(byName.get('blk.0.attn_norm.weight')!.storage, 'dense');
  assert.deepEqual(byName.get('blk.0.attn_norm.weight')!.forms, { dense: n });
  const q = byName.get('blk.0.ffn_up.weight')!; // 128 x 384: factored below 96 tokens
  assert.equal(q.storage, 'linear');
  assert.equal((q.forms.factored ?? 0) + (q.forms.dense ?? 0), n);
  assert.ok((q.forms.factored ?? 0) > 0, 'some ffn_up records are factored');
  for (const t of info.tensors) {
    assert.equal(Object.values(t.forms).reduce((a, b) => a + b!, 0), n, t.name);
    assert.ok(Math.abs(t.ratio - t.denseBytes / t.bytes) < 1e-12, t.name);
  }
  assert.equal(info.tensors.reduce((a, t) => a + t.bytes, 0), info.recordBytes);
  assert.ok(info.ratio > 1 && Math.abs(info.ratio - info.denseRecordBytes / info.recordBytes) < 1e-12, `ratio ${info.ratio}`);
  const text = cli('grads', 'info', out);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /blk\.0\.ffn_up\.weight\s+\[128, 384\] linear: (factored \d+|dense \d+, factored \d+|factored \d+, dense \d+); [\d.]+ MiB, ratio [\d.]+/);
  console.log(text.stdout.split('\n').slice(0, 3).join('\n'));
});
