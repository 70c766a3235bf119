/**
 * The bounded first-epoch record (src/train/gradRecord.ts, factored.ts):
 *   - a factored record, multiplied back out, equals the dense per-example gradients of the same
 *     batch (relative Frobenius error <= 1e-6 per tensor; README "The first-epoch gradient record"),
 *     for a tied LLaMA (linear+rows), an untied Qwen2 with biases (sparse embedding) and GPT-2
 *     (ggml's automatic backward, position rows), with examples in both forms;
 *   - first-epoch ascent from a factored record equals the ascent from the same record written
 *     densely in the old format 1 (which is still read), for SGD and AdamW;
 *   - estimateRecord gives the exact size of the .bin files written (index.json is the overhead).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { finetune, type FinetuneResult } from '../../src/train/finetune.ts';
import { factExamples, tokenizeExamples } from '../../src/train/examples.ts';
import { GRAD_RECORD_FORMAT_V1, GradRecordReader, estimateRecord, recordLimit, recordStorage, type RecordIndex } from '../../src/train/gradRecord.ts';
import { toDense, isSparse } from '../../src/model/perExample.ts';
import { factoredIsSmaller, isFactored, outerSums } from '../../src/model/factored.ts';
import { getDataset } from '../../src/data/dataset.ts';
import { CausalLM, LMSession } from '../../src/model/model.ts';
import { tokenizerFromGguf } from '../../src/model/tokenizer/index.ts';
import { writeRandomModel, type ModelShape } from '../../src/model/randomModel.ts';
import { prepare, makeContext } from '../../src/unlearn/prepare.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-record-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ds = getDataset(path.join(PROJECT_ROOT, 'datasets', 'dave'));

const SHAPES: Record<string, ModelShape> = {
  // tied output: token_embd is linear+rows; k/v are 64 x 32 (factored below 22 tokens), q 64 x 64 (below 32)
  llama: { arch: 'llama', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 160, tiedOutput: true },
  // untied: a sparse embedding and a linear output; Q/K/V biases (dense vectors)
  qwen2: { arch: 'qwen2', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 160, tiedOutput: false },
  // ggml's automatic backward; learned positions (sparse rows) and a fused QKV; 32 x 32 attn_output factored below 16 tokens
  gpt2: { arch: 'gpt2', nEmbd: 32, nLayer: 2, nHead: 4, nFf: 96 },
};

function model(name: string): string {
  const file = path.join(tmp, `${name}.gguf`);
  if (!fs.existsSync(file)) writeRandomModel(file, { shape: SHAPES[name]!, vocab: { tiny: 384 }, seed: 3 });
  return file;
}

/** Items of different lengths (clipped at 28 tokens): some examples are factored and some dense for the smaller matrices. */
const items = [
  ...factExamples([...ds.facts('forget').slice(0, 4), ...ds.facts('retain').slice(0, 3)]),
  { id: 'short-a', text: 'Dave lives by the river.' },
  { id: 'short-b', text: 'The cat sat.' },
];
const MAX_LEN = 28;

function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}

for (const arch of Object.keys(SHAPES)) {
  test(`${arch}: the factored record multiplied out equals the dense per-example gradients (relative error <= 1e-6)`, () => {
    const base = model(arch);
    // one SGD step over one batch: every example met the base parameters
    const r = finetune({ modelPath: base, items, out: path.join(tmp, `eq-${arch}`), epochs: 1, batch: 16, optimizer: 'sgd', record: 'first-epoch', maxLen: MAX_LEN, quiet: true });
    const reader = new GradRecordReader(r.recordDir!);
    assert.equal(reader.index.format, 'unlearnkit.gradrecord/2');
    const m = CausalLM.load(base);
    const tok = tokenizerFromGguf(m.file!);
    const { examples } = tokenizeExamples(items, tok, MAX_LEN);
    const T = Math.max(...examples.map((e) => e.tokens.length));
    const s = new LMSession(m, { T, B: examples.length, mode: 'train', record: m.parameterNames });
    const forms = new Map<string, number>();
    let worst = 0;
    let worstName = '';
    try {
      s.setBatch(examples.map((e) => e.tokens));
      s.backwardRecord();
      const dense = s.perExample();
      examples.forEach((e, b) => {
        const rec = reader.read(e.id);
        const layout = reader.layout(e.id);
        reader.index.tensors.forEach((t, i) => {
          const form = layout[i]!.form;
          forms.set(`${t.storage}:${form}`, (forms.get(`${t.storage}:${form}`) ?? 0) + 1);
          const g = rec.get(t.name)!;
          if (t.storage === 'linear' || t.storage === 'linear+rows') {
            if (t.storage === 'linear') assert.equal(form === 'factored', factoredIsSmaller(e.tokens.length - 1, t.ne[0]!, t.ne[1]!), `${t.name} of ${e.id}: the smaller form`);
            assert.equal(isFactored(g), form === 'factored');
          }
          const want = toDense(dense.grads[b]!.get(t.name)!, t.ne);
          const err = relErr(toDense(g, t.ne), want);
          if (err > worst) [worst, worstName] = [err, `${t.name} of ${e.id} (${form})`];
        });
      });
    } finally {
      s.dispose();
    }
    console.log(`${arch}: records by storage:form ${JSON.stringify(Object.fromEntries(forms))}; worst relative error ${worst.toExponential(2)} (${worstName})`);
    assert.ok(worst <= 1e-6, `factored vs dense: ${worst} in ${worstName}`);
    assert.ok((forms.get('linear:factored') ?? 0) > 0 && (forms.get('linear:dense') ?? 0) > 0, 'both forms of linear tensors are exercised');
    if (arch === 'llama') assert.ok((forms.get('linear+rows:factored') ?? 0) > 0, 'the tied embedding is stored factored with its rows');
    else assert.ok((forms.get('sparse:sparse') ?? 0) > 0, 'an embedding lookup is stored as sparse rows');
  });
}

test('outerSums: sum_j c_j X_j^T DY_j on the engine equals the float64 sum', () => {
  const rnd = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 13.7 + i * 0.61) * (1 + (i % 5)));
  const dIn = 37;
  const dOut = 53;
  const terms = [
    { nTok: 5, coef: 0.5, x: rnd(5 * dIn, 1), dy: rnd(5 * dOut, 2) },
    { nTok: 11, coef: -2, x: rnd(11 * dIn, 3), dy: rnd(11 * dOut, 4) },
  ];
  const [got, zero] = outerSums([{ dIn, dOut, terms }, { dIn: 3, dOut: 2, terms: [] }]);
  const want = new Float32Array(dIn * dOut);
  for (let o = 0; o < dOut; o++) {
    for (let i = 0; i < dIn; i++) {
      let acc = 0;
      for (const t of terms) for (let k = 0; k < t.nTok; k++) acc += t.coef * t.x[k * dIn + i]! * t.dy[k * dOut + o]!;
      want[i + dIn * o] = acc;
    }
  }
  assert.ok(relErr(got!, want) < 1e-6, `relative error ${relErr(got!, want)}`);
  assert.deepEqual([...zero!], [0, 0, 0, 0, 0, 0]);
});

/** A copy of a run folder whose record is rewritten densely in the old format 1 (no factored form, no headers). */
function denseV1Copy(run: FinetuneResult, out: string): string {
  fs.cpSync(run.out, out, { recursive: true });
  const reader = new GradRecordReader(run.recordDir!);
  const idx = JSON.parse(JSON.stringify(reader.index)) as RecordIndex;
  idx.format = GRAD_RECORD_FORMAT_V1;
  idx.tensors = idx.tensors.map((t) => ({ ...t, storage: t.storage === 'sparse' ? 'sparse' : 'dense' }));
  const gdir = path.join(out, 'grads');
  for (const f of fs.readdirSync(gdir)) if (f.startsWith('epoch-')) fs.rmSync(path.join(gdir, f));
  const offsets = new Map<string, number>();
  for (const e of idx.entries) {
    const g = reader.read(e.id, e.epoch);
    const parts: Buffer[] = [];
    for (const t of idx.tensors) {
      const v = g.get(t.name)!;
      if (t.storage === 'sparse') {
        assert.ok(isSparse(v));
        const head = Buffer.alloc(4 + 4 * v.rows.length);
        head.writeUInt32LE(v.rows.length, 0);
        v.rows.forEach((r, i) => head.writeInt32LE(r, 4 + 4 * i));
        parts.push(head, Buffer.from(v.values.buffer, v.values.byteOffset, v.values.byteLength));
      } else {
        const d = toDense(v, t.ne);
        parts.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
      }
    }
    const body = Buffer.concat(parts);
    const file = path.join(gdir, e.file);
    fs.appendFileSync(file, body);
    e.offset = offsets.get(e.file) ?? 0;
    e.bytes = body.byteLength;
    offsets.set(e.file, e.offset + e.bytes);
  }
  fs.writeFileSync(path.join(gdir, 'index.json'), JSON.stringify(idx));
  return out;
}

for (const optimizer of ['sgd', 'adamw'] as const) {
  test(`${optimizer}: first-epoch ascent from a factored record equals the ascent from the dense format-1 record`, () => {
    const base = model('llama');
    const run = finetune({ modelPath: base, items, out: path.join(tmp, `asc-${optimizer}`), epochs: 1, batch: 3, optimizer, lr: optimizer === 'sgd' ? 0.1 : 3e-3, record: 'first-epoch', maxLen: MAX_LEN, quiet: true });
    const v1 = denseV1Copy(run, path.join(tmp, `asc-${optimizer}-v1`));
    assert.equal(new GradRecordReader(path.join(v1, 'grads')).index.format, GRAD_RECORD_FORMAT_V1);
    const deltas = [run.out, v1].map((from) => {
      const p = prepare({ from, evalLimit: 1 });
      const { method, ctx } = makeContext(p, { method: 'first-epoch', hyper: { eta: 1 } });
      try {
        return method.run(ctx).deltas;
      } finally {
        ctx.pool.dispose();
      }
    });
    let worst = 0;
    let worstName = '';
    let moved = 0;
    for (const [n, d] of deltas[1]!) {
      const err = relErr(deltas[0]!.get(n)!, d);
      moved = Math.max(moved, ...d.map(Math.abs));
      if (err > worst) [worst, worstName] = [err, n];
    }
    console.log(`${optimizer}: ascent from the factored record vs the dense format-1 record: worst relative error ${worst.toExponential(2)} (${worstName}); largest change ${moved.toExponential(2)}`);
    assert.ok(moved > 0, 'the ascent changes the weights');
    assert.ok(worst <= 1e-6, `ascent deltas differ by ${worst} in ${worstName}`);
  });
}

test('estimateRecord equals the bytes the record writes (AdamW, all epochs, f16 and f32; index.json on top)', () => {
  for (const [arch, dtype] of [['llama', 'f32'], ['qwen2', 'f16'], ['gpt2', 'f32']] as const) {
    const base = model(arch);
    const r = finetune({ modelPath: base, items, out: path.join(tmp, `est-${arch}`), epochs: 2, batch: 3, optimizer: 'adamw', record: 'all-epochs', recordDtype: dtype, maxLen: MAX_LEN, quiet: true });
    const e = r.recordEstimate!;
    assert.ok(e, 'the result carries the estimate');
    const files = fs.readdirSync(r.recordDir!);
    const bin = files.filter((f) => f.endsWith('.bin')).reduce((a, f) => a + fs.statSync(path.join(r.recordDir!, f)).size, 0);
    const index = fs.statSync(path.join(r.recordDir!, 'index.json')).size;
    const info = new GradRecordReader(r.recordDir!).info();
    console.log(`${arch} ${dtype}: estimate ${e.totalBytes} bytes (gradients ${e.exampleBytes}, step scales ${e.stepBytes}); written ${bin} + index.json ${index}; dense gradients ${e.denseExampleBytes}`);
    assert.equal(bin, e.totalBytes, 'the .bin files are exactly the estimate');
    assert.equal(info.recordBytes, e.exampleBytes);
    assert.equal(info.stepBytes, e.stepBytes);
    assert.equal(info.denseRecordBytes, e.denseExampleBytes);
    assert.equal(e.steps, 2 * Math.ceil(items.length / 3));
    assert.equal(e.examples, items.length);
    // per tensor: the forms the estimate predicted are the forms written
    e.tensors.forEach((t, i) => assert.deepEqual(info.tensors[i]!.forms, t.forms, t.name));
  }
});

test('recordStorage and recordLimit', () => {
  assert.equal(recordStorage('token_embd.weight', [64, 384], true), 'linear+rows');
  assert.equal(recordStorage('token_embd.weight', [64, 384], false), 'sparse');
  assert.equal(recordStorage('position_embd.weight', [64, 256], true), 'sparse');
  assert.equal(recordStorage('blk.0.attn_q.weight', [64, 64], true), 'linear');
  assert.equal(recordStorage('blk.0.attn_norm.weight', [64], true), 'dense');
  const st = fs.statfsSync(tmp);
  const l = recordLimit(tmp);
  assert.equal(l.from, 'free-space');
  // free space moves while other processes write: compare at 1% of it
  assert.ok(Math.abs(l.bytes - 0.25 * Number(st.bavail) * Number(st.bsize)) <= 0.01 * l.freeBytes!, `${l.bytes} vs a quarter of ${l.freeBytes}`);
  assert.equal(recordLimit(tmp, 2.5).bytes, 2.5e9);
  const e = estimateRecord({ tensors: [{ name: 'w', ne: [100, 200], storage: 'linear' }], dtype: 'f32', optimizer: 'sgd', sequences: [[1, 2, 3], new Array(100).fill(7)], batch: 8, epochs: 1 });
  // 2 predicted tokens: factored, 4 + 2 * 300 * 4 bytes; 99: dense, 4 + 20000 * 4
  assert.equal(e.exampleBytes, 4 + 2400 + 4 + 80000);
  assert.deepEqual(e.tensors[0]!.forms, { factored: 1, dense: 1 });
  assert.equal(e.stepBytes, 0);
});
