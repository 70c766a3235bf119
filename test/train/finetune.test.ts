/**
 * Fine-tuning and the first-epoch gradient record: the embedded model learns the forget facts
 * without losing general ability; a recorded gradient equals a fresh computation; the embedding
 * record is far smaller than the full one; an interrupted run resumes to the same result.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { finetune } from '../../src/train/finetune.ts';
import { factExamples, replayTexts, textExamples } from '../../src/train/examples.ts';
import { GradRecordReader } from '../../src/train/gradRecord.ts';
import { toDense } from '../../src/model/perExample.ts';
import { getDataset } from '../../src/data/dataset.ts';
import { CausalLM, LMSession } from '../../src/model/model.ts';
import { tokenizerFromGguf } from '../../src/model/tokenizer/index.ts';
import { scoreSequences } from '../../src/eval/perplexity.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { cliArgs } from '../helpers/cli.ts';
import { needFixture, skipLoudly } from '../helpers/fixtures.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-ft-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ds = getDataset(path.join(PROJECT_ROOT, 'datasets', 'dave'));
const EMBEDDED = path.join(PROJECT_ROOT, 'models', 'unlearnkit-base.gguf');

function ppl(modelPath: string, items: Array<{ id: string; text: string }>): number {
  const m = CausalLM.load(modelPath);
  const tok = tokenizerFromGguf(m.file!);
  return scoreSequences(m, items.map((i) => ({ id: i.id, tokens: tok.encode(i.text, { addBos: true }) })), 16).perplexity;
}

test('embedded model: a test-sized fine-tune halves forget perplexity, general rises < 10%', (t) => {
  if (!fs.existsSync(EMBEDDED)) return skipLoudly(t, `embedded model ${EMBEDDED} is missing (run unlearnkit pretrain)`);
  const forget = factExamples(ds.facts('forget').slice(0, 48));
  const general = textExamples(ds.texts());
  const replay = replayTexts(96, new Set(ds.texts().map((x) => x.text)));
  const before = { forget: ppl(EMBEDDED, forget), general: ppl(EMBEDDED, general) };
  const r = finetune({ modelPath: EMBEDDED, items: [...forget, ...replay], out: path.join(tmp, 'emb'), epochs: 2, lr: 5e-4, record: 'none', quiet: true });
  const after = { forget: ppl(r.checkpoint, forget), general: ppl(r.checkpoint, general) };
  console.log(
    `embedded fine-tune: forget perplexity ${before.forget.toFixed(2)} -> ${after.forget.toFixed(2)}, ` +
      `general ${before.general.toFixed(3)} -> ${after.general.toFixed(3)} (${((after.general / before.general - 1) * 100).toFixed(1)}%)`,
  );
  assert.ok(after.forget <= before.forget / 2, 'forget perplexity should at least halve');
  assert.ok(after.general < before.general * 1.1, 'general perplexity should rise by less than 10%');
});

test('a recorded gradient equals a fresh computation for an example inside a batch of 8', (t) => {
  const base = needFixture(t, 'models', 'stories260K.gguf');
  if (!base) return;
  const items = factExamples(ds.facts('forget').slice(0, 8));
  // One SGD step over one batch of 8: every example met the base parameters.
  const r = finetune({ modelPath: base, items, out: path.join(tmp, 'rec'), epochs: 1, batch: 8, optimizer: 'sgd', lr: 1e-3, record: 'first-epoch', recordFilter: 'all', quiet: true });
  const reader = new GradRecordReader(r.recordDir!);
  const model = CausalLM.load(base);
  const tok = tokenizerFromGguf(model.file!);
  // each example's weight in the batch gradient is its share of the batch's predicted tokens
  // (examples of different lengths: a weight of 1/B would be wrong for all of them)
  const predicted = items.map((i) => tok.encode(i.text, { addBos: true }).length); // + EOS - 1
  assert.ok(new Set(predicted).size >= 3, `the batch needs examples of different lengths, got ${predicted.join(', ')}`);
  const total = predicted.reduce((x, y) => x + y, 0);
  items.forEach((item, b) => {
    const e = reader.entry(item.id);
    assert.equal(e.tokens, predicted[b], `${item.id}: predicted tokens`);
    assert.ok(Math.abs(e.batchWeight - predicted[b]! / total) <= 1e-12, `${item.id}: batch weight ${e.batchWeight}, token share ${predicted[b]! / total}`);
  });
  for (const k of [2, 5]) {
    const item = items[k]!;
    const tokens = [...tok.encode(item.text, { addBos: true }), tok.eos];
    const s = new LMSession(model, { T: tokens.length, B: 1, mode: 'train' });
    s.setBatch([tokens]);
    s.backward();
    const rec = reader.read(item.id, 1);
    let worst = 0;
    for (const name of model.tensorNames) {
      const fresh = s.gradOf(name);
      const got = toDense(rec.get(name)!, model.weights.get(name)!.ne);
      let num = 0;
      let den = 0;
      for (let i = 0; i < fresh.length; i++) {
        num += (fresh[i]! - got[i]!) ** 2;
        den += fresh[i]! ** 2;
      }
      worst = Math.max(worst, Math.sqrt(num / Math.max(den, 1e-30)));
    }
    s.dispose();
    console.log(`example ${item.id}: max relative L2 difference recorded vs fresh over all tensors ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-5, `recorded gradient differs by ${worst}`);
    assert.equal(reader.entry(item.id).step, 1);
  }
});

test('the embedding-only record is at least 10x smaller than the full record; grads info reports both', (t) => {
  const base = needFixture(t, 'models', 'stories260K.gguf');
  if (!base) return;
  const items = factExamples(ds.facts('forget').slice(0, 16));
  const sizes: Record<string, number> = {};
  for (const f of ['embedding', 'all']) {
    finetune({ modelPath: base, items, out: path.join(tmp, `size-${f}`), epochs: 1, record: 'first-epoch', recordFilter: f, quiet: true });
    const out = spawnSync(process.execPath, cliArgs('grads', 'info', path.join(tmp, `size-${f}`), '--json'), { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    const info = JSON.parse(out.stdout) as { recordBytes: number; examples: number };
    assert.equal(info.examples, 16);
    sizes[f] = info.recordBytes;
  }
  console.log(`record sizes: embedding ${sizes.embedding} bytes, full ${sizes.all} bytes (x${(sizes.all! / sizes.embedding!).toFixed(1)})`);
  assert.ok(sizes.all! >= 10 * sizes.embedding!);
});

test('an interrupted fine-tune resumes from its last epoch and ends where an uninterrupted run ends', (t) => {
  const base = needFixture(t, 'models', 'stories260K.gguf');
  if (!base) return;
  const items = factExamples(ds.facts('retain').slice(0, 24));
  const opts = { modelPath: base, items, epochs: 2, batch: 8, lr: 1e-3, record: 'first-epoch' as const, recordFilter: 'embedding', quiet: true };
  const whole = finetune({ ...opts, out: path.join(tmp, 'whole') });
  const ac = new AbortController();
  assert.throws(
    () => finetune({ ...opts, out: path.join(tmp, 'cut'), signal: ac.signal, onStep: (s) => s.epoch === 2 && ac.abort() }),
    /cancelled/,
  );
  const epochsRun = new Set<number>();
  const resumed = finetune({ ...opts, out: path.join(tmp, 'cut'), onStep: (s) => void epochsRun.add(s.epoch) });
  assert.equal(resumed.epochs.length, 2);
  // it continued after the saved epoch 1: only epoch 2 ran again
  assert.equal(resumed.resumedFromEpoch, 1);
  assert.deepEqual([...epochsRun], [2]);
  assert.equal(whole.resumedFromEpoch, 0);
  const a = CausalLM.load(whole.checkpoint);
  const b = CausalLM.load(resumed.checkpoint);
  let diff = 0;
  for (const n of a.tensorNames) {
    const x = a.weights.get(n)!.data;
    const y = b.weights.get(n)!.data;
    for (let i = 0; i < x.length; i++) diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
  }
  console.log(`resumed vs uninterrupted: max weight difference ${diff}`);
  assert.equal(diff, 0);
  assert.deepEqual(new GradRecordReader(resumed.recordDir!).ids(1).sort(), items.map((i) => i.id).sort());
});
