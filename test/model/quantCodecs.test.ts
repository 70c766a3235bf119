/**
 * The tensor types' codecs against ggml's own (ggml_get_type_traits: to_float, and
 * ggml_quantize_chunk): the GGUF reader's type table, the TypeScript F16 / BF16 / Q8_0 codecs bit
 * for bit, the values a loaded quantised model dequantises to (what training reads) bit for bit
 * against to_float and against the CPU backend's GET_ROWS of the stored tensor, lazy
 * dequantisation (evaluating never decodes, training decodes only what it trains), and types the
 * engine does not evaluate refused by name.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { getEngine } from '../../src/engine/engine.ts';
import { GGML_TYPE_COUNT, ggmlQuantizeRows, ggmlToFloat, readTypeTraits } from '../../src/engine/ffi.ts';
import { Graph } from '../../src/engine/graph.ts';
import * as op from '../../src/engine/ops.ts';
import { GGML_TYPE, QUANT_DTYPES } from '../../src/engine/types.ts';
import { decodeBf16, decodeF16, decodeQ8_0, encodeBf16, encodeF16, encodeQ8_0, ggmlTypeTraits, GgmlType } from '../../src/model/ggufTypes.ts';
import { readGguf, writeGguf, ggufToWriteSpec } from '../../src/model/gguf.ts';
import { CausalLM, LMSession, hostTensorDecoded } from '../../src/model/model.ts';
import { quantizeGguf } from '../../src/model/quantize.ts';
import { UserError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { baseModel, tempDir } from './quantShared.ts';

const dir = tempDir('quant-codecs');
const g = () => getEngine().g;

/** Random rows with a spread of magnitudes, exact zeros and a constant block (the codecs' edge cases). */
function testValues(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.normal() * 10 ** (rng.int(7) - 3);
  x.fill(0, 0, 64); // two all-zero 32-blocks (d = 0)
  x.fill(3.25, 64, 96);
  x[100] = 65504; // largest F16
  x[101] = 70000; // F16 overflow -> inf
  x[102] = 1e-8; // F16 subnormal range
  x[103] = -3e-5;
  return x;
}

const sameBits = (a: Float32Array, b: Float32Array) => a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

test("the GGUF reader's type table is ggml's (name, block size, bytes per block) for every type", () => {
  let checked = 0;
  for (let type = 0; type < GGML_TYPE_COUNT; type++) {
    const ours = ggmlTypeTraits(type);
    const ggml = readTypeTraits(g(), type);
    if (!ggml) {
      assert.equal(ours, undefined, `type ${type}: we know ${ours?.name}, ggml has removed it`);
      continue;
    }
    assert.ok(ours, `type ${type} (${ggml.name}) is missing from ggufTypes.ts`);
    assert.equal(ours.name.toLowerCase(), ggml.name.toLowerCase());
    assert.equal(ours.blockSize, ggml.blockSize, ggml.name);
    assert.equal(ours.typeSize, ggml.typeSize, ggml.name);
    checked++;
  }
  assert.ok(checked >= 35, `only ${checked} types compared`);
});

test('the TypeScript F16 / BF16 / Q8_0 codecs equal ggml_quantize_chunk and to_float bit for bit', () => {
  const n = 32 * 64;
  const x = testValues(n, 1);
  const cases: Array<[number, (v: Float32Array) => Uint8Array, (b: Uint8Array, n: number) => Float32Array]> = [
    [GgmlType.F16, encodeF16, decodeF16],
    [GgmlType.BF16, encodeBf16, decodeBf16],
    [GgmlType.Q8_0, encodeQ8_0, decodeQ8_0],
  ];
  for (const [type, enc, dec] of cases) {
    const ggmlBytes = ggmlQuantizeRows(g(), type, x, 64, 32);
    const ours = enc(x);
    assert.ok(Buffer.compare(Buffer.from(ours), Buffer.from(ggmlBytes)) === 0, `${type}: encoded bytes differ from ggml's`);
    assert.ok(sameBits(dec(ggmlBytes, n), ggmlToFloat(g(), type, ggmlBytes, n)), `${type}: decoded values differ from ggml's to_float`);
  }
  // the large-table path of decodeF16 (> 65536 values)
  const big = testValues(1 << 17, 2);
  const b16 = encodeF16(big);
  assert.ok(sameBits(decodeF16(b16, big.length), ggmlToFloat(g(), GgmlType.F16, b16, big.length)));
});

test("a loaded model's dequantised weights equal ggml's to_float and the CPU GET_ROWS kernel, bit for bit, for every block type", () => {
  const base = baseModel(dir, 'llama256');
  const name = 'blk.1.ffn_down.weight';
  for (const dt of QUANT_DTYPES) {
    const file = path.join(dir, `one-${dt}.gguf`);
    // every matrix in the type (pure), so the tensor checked is stored as `dt`
    quantizeGguf(base, file, { type: dt, pure: true });
    const model = CausalLM.load(file);
    const h = model.weights.get(name)!;
    assert.equal(h.fileType, dt);
    const n = h.ne[0]! * h.ne[1]!;
    const viaGgml = ggmlToFloat(g(), GGML_TYPE[dt], h.fileBytes!, n);
    assert.ok(sameBits(h.data, viaGgml), `${dt}: HostTensor.data differs from to_float`);
    // what an evaluation graph reads: get_rows of every row of the stored tensor
    const gr = new Graph();
    try {
      const W = gr.input('W', h.ne, dt);
      const idx = gr.input('idx', [h.ne[1]!], 'i32');
      const rows = op.getRows(W, idx);
      gr.build({ outputs: [rows] });
      gr.allocate();
      gr.set(W, h.fileBytes!);
      gr.set(idx, Int32Array.from({ length: h.ne[1]! }, (_, i) => i));
      gr.compute('forward');
      assert.ok(sameBits(gr.get(rows), viaGgml), `${dt}: GET_ROWS differs from to_float`);
    } finally {
      gr.dispose();
    }
  }
});

test('evaluating a quantised model never dequantises its matrices; training dequantises the tensors it trains', () => {
  const file = path.join(dir, 'lazy-q4_k.gguf');
  quantizeGguf(baseModel(dir, 'llama256'), file, { type: 'q4_k' });
  const model = CausalLM.load(file);
  const matrices = model.tensorNames.filter((n) => model.weights.get(n)!.ne.length >= 2);
  assert.ok(matrices.every((n) => model.weights.get(n)!.fileType === 'q4_k'));
  const ev = new LMSession(model, { T: 8, B: 1, mode: 'eval' });
  ev.setBatch([[1, 5, 9, 40, 7, 3]]);
  const lpBefore = ev.tokenLogprobs()[0]!;
  ev.dispose();
  assert.equal(model.parameterCount, matrices.reduce((s, n) => s + model.weights.get(n)!.ne[0]! * model.weights.get(n)!.ne[1]!, 0) + 9 * 256);
  assert.deepEqual(matrices.filter((n) => hostTensorDecoded(model.weights.get(n)!)), [], 'an evaluation session decoded stored matrices');
  // a clone of an undecoded model stays undecoded
  assert.ok(!hostTensorDecoded(model.clone().weights.get('output.weight')!));
  const trained = 'blk.2.ffn_up.weight';
  const tr = new LMSession(model, { T: 8, B: 1, mode: 'train', trainable: [trained], optimizer: 'sgd' });
  tr.setBatch([[1, 5, 9, 40, 7, 3]]);
  const before = model.weights.get(trained)!.data.slice();
  tr.step({ lr: 0.1 });
  tr.downloadWeights();
  tr.dispose();
  assert.deepEqual(matrices.filter((n) => hostTensorDecoded(model.weights.get(n)!)), [trained], 'training kept F32 copies of frozen tensors');
  assert.ok(model.weights.get(trained)!.data.some((v, i) => v !== before[i]), 'the trained tensor did not change');
  // evaluation now reads the trained F32 values, not the file's stale Q4_K bytes
  assert.equal(model.weights.get(trained)!.fileType, 'f32');
  const ev2 = new LMSession(model, { T: 8, B: 1, mode: 'eval' });
  ev2.setBatch([[1, 5, 9, 40, 7, 3]]);
  const lpAfter = ev2.tokenLogprobs()[0]!;
  ev2.dispose();
  assert.ok(lpAfter.some((v, i) => v !== lpBefore[i]), 'evaluation after training gave the untrained log-probs');
});

test('types the engine does not evaluate are refused by name when a model is loaded', () => {
  const spec = ggufToWriteSpec(readGguf(baseModel(dir, 'llama256')));
  const t = spec.tensors.find((x) => x.name === 'blk.0.attn_q.weight')!;
  // IQ4_NL: quantisable without an importance matrix, evaluated by ggml, but not part of what is tested here
  const f32 = new Float32Array(new Uint8Array(t.data as Uint8Array).buffer);
  t.data = ggmlQuantizeRows(g(), GgmlType.IQ4_NL, f32, t.ne[1]!, t.ne[0]!);
  t.type = 'IQ4_NL';
  const file = path.join(dir, 'iq4_nl.gguf');
  writeGguf(file, spec);
  assert.throws(() => CausalLM.load(file), (e: unknown) => e instanceof UserError && /blk\.0\.attn_q\.weight/.test(e.message) && /IQ4_NL/.test(e.message) && /cannot evaluate/.test(e.message));
});
