import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  GgmlType,
  GgufMetadata,
  getMeta,
  ggufToWriteSpec,
  readGguf,
  readTensorF32,
  readTensorRaw,
  requireMeta,
  writeGguf,
} from '../../src/model/gguf.ts';
import { bf16BitsToF32, decodeQ8_0, encodeBf16, encodeF16, encodeQ8_0, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/model/ggufTypes.ts';
import { UserError } from '../../src/util/errors.ts';
import { needFixture } from '../helpers/fixtures.ts';
import { LlamaCppScorer, maxAbsDiff, needLlamaCpp } from '../helpers/llamacpp.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unlearnkit-gguf-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const sha256 = (p: string): string => crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
const fromBits = (hex: string): Float32Array => new Float32Array(Uint32Array.from(hex.split(' '), (h) => parseInt(h, 16)).buffer);
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('reads stories260K: metadata, types and tensor shapes (fixture facts)', (t) => {
  const p = needFixture(t, 'models', 'stories260K.gguf');
  if (!p) return;
  const f = readGguf(p);
  assert.equal(f.version, 3);
  assert.equal(f.tensors.length, 48);
  assert.ok(f.tensors.every((x) => x.type === GgmlType.F32));
  assert.equal(requireMeta(f, 'general.architecture'), 'llama');
  assert.equal(requireMeta(f, 'llama.embedding_length'), 64);
  assert.equal(requireMeta(f, 'llama.block_count'), 5);
  assert.equal(requireMeta(f, 'llama.feed_forward_length'), 172);
  assert.equal(requireMeta(f, 'llama.attention.head_count'), 8);
  assert.equal(requireMeta(f, 'llama.attention.head_count_kv'), 4);
  assert.equal(requireMeta(f, 'llama.rope.dimension_count'), 8);
  assert.equal(requireMeta(f, 'tokenizer.ggml.model'), 'llama');
  assert.equal(requireMeta<string[]>(f, 'tokenizer.ggml.tokens').length, 512);
  assert.equal(requireMeta(f, 'tokenizer.ggml.bos_token_id'), 1);
  assert.equal(getMeta(f, 'no.such.key'), undefined);
  assert.equal(f.metadata.typeOf('llama.block_count'), 'uint32');
  assert.equal(f.metadata.typeOf('llama.attention.layer_norm_rms_epsilon'), 'float32');
  assert.equal(requireMeta(f, 'llama.attention.layer_norm_rms_epsilon'), Math.fround(1e-5));
  assert.equal(f.metadata.typeOf('tokenizer.ggml.token_type'), 'array<int32>');
  assert.equal(f.metadata.typeOf('tokenizer.ggml.scores'), 'array<float32>');
  const shape = (n: string) => f.tensors.find((x) => x.name === n)?.ne;
  assert.deepEqual(shape('token_embd.weight'), [64, 512]);
  assert.deepEqual(shape('output_norm.weight'), [64]);
  assert.deepEqual(shape('blk.0.attn_q.weight'), [64, 64]);
  assert.deepEqual(shape('blk.0.attn_k.weight'), [64, 32]);
  assert.deepEqual(shape('blk.4.ffn_gate.weight'), [64, 172]);
  assert.deepEqual(shape('blk.4.ffn_down.weight'), [172, 64]);
  const emb = readTensorF32(f, 'token_embd.weight');
  assert.equal(emb.length, 64 * 512);
  assert.ok(emb.every(Number.isFinite));
  // offsets: the first tensor starts the (32-aligned) data section, the last ends the file
  assert.equal(f.alignment, 32);
  assert.equal(f.dataOffset % 32, 0);
  assert.equal(f.tensors[0]!.offset, f.dataOffset);
  const last = f.tensors.at(-1)!;
  assert.equal(last.offset + last.nbytes, f.fileSize);
  assert.throws(() => requireMeta(f, 'llama.missing_key'), (e: Error) => e instanceof UserError && e.message.includes('llama.missing_key') && e.message.includes(p));
});

test('header matches node-llama-cpp\'s own GGUF parser (independent reference)', async (t) => {
  const p = needFixture(t, 'models', 'stories260K.gguf');
  if (!p) return;
  const { readGgufFileInfo } = await import('node-llama-cpp');
  const ref = await readGgufFileInfo(p, { logWarnings: false });
  const f = readGguf(p);
  assert.equal(ref.version, f.version);
  assert.equal(ref.tensorInfo!.length, f.tensors.length);
  ref.tensorInfo!.forEach((ti, i) => {
    const mine = f.tensors[i]!;
    assert.equal(ti.name, mine.name);
    assert.deepEqual(ti.dimensions.map(Number), mine.ne);
    assert.equal(Number(ti.ggmlType), mine.type);
    assert.equal(Number(ti.fileOffset), mine.offset);
  });
  const llama = ref.metadata.llama as Record<string, unknown>;
  assert.equal(llama.block_count, f.metadata.get('llama.block_count'));
  assert.equal(llama.embedding_length, f.metadata.get('llama.embedding_length'));
});

test('rewriting stories260K reproduces the file byte for byte (sha256 from the fixture README)', (t) => {
  const p = needFixture(t, 'models', 'stories260K.gguf');
  if (!p) return;
  const f = readGguf(p);
  const out = path.join(tmp, 'copy.gguf');
  writeGguf(out, ggufToWriteSpec(f));
  assert.equal(sha256(out), sha256(p));
  assert.match(sha256(out), /^270cba1b.*d256d$/);
  const g = readGguf(out, { loadData: true });
  assert.deepEqual([...g.metadata.keys()], [...f.metadata.keys()]);
  for (const k of f.metadata.keys()) {
    assert.deepEqual(g.metadata.get(k), f.metadata.get(k), k);
    assert.equal(g.metadata.typeOf(k), f.metadata.typeOf(k), k);
  }
  for (const ti of f.tensors) assert.deepEqual(readTensorRaw(g, ti.name), readTensorRaw(f, ti.name));
  // no temporary file left behind
  assert.deepEqual(fs.readdirSync(tmp).filter((x) => x.includes('.tmp-')), []);
});

test('F16 encoding: hand-worked values and numpy float16 reference', () => {
  // hand-worked: 1 = 0x3C00; 65504 is the largest half; 65520 rounds up to inf; 1 + 2^-11 is a
  // tie between 1 and 1 + 2^-10 and goes to the even mantissa (1.0); 1 + 3*2^-11 goes up to 0x3C02;
  // 2^-24 is the smallest subnormal; 2^-25 ties to 0; 0.1 = 0x2E66
  const cases: Array<[number, number]> = [
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65520, 0x7c00],
    [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02],
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000],
    [1.5 * 2 ** -25, 0x0001],
    [0.1, 0x2e66],
    [-0, 0x8000],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ];
  for (const [v, bits] of cases) assert.equal(f32ToF16Bits(v), bits, `f16(${v})`);
  assert.equal(f32ToF16Bits(NaN) & 0x7e00, 0x7e00);
  assert.equal(f16BitsToF32(0x3555), 0.333251953125);
  assert.equal(f16BitsToF32(0x0001), 2 ** -24);
  // reference: numpy (x.astype(np.float16)), 64 values incl. the edge cases above
  const x = fromBits(X_BITS);
  const got = Array.from(new Uint16Array(encodeF16(x).buffer), (h) => h.toString(16).padStart(4, '0')).join(' ');
  assert.equal(got, F16_REF);
});

test('BF16 encoding: hand-worked values and gguf-py reference (ggml rounding)', () => {
  // 1 = 0x3F80; pi = 0x40490FDB rounds down to 0x4049; 1 + 2^-8 is a tie -> even (0x3F80);
  // 1 + 3*2^-8 -> 0x3F82
  assert.equal(f32ToBf16Bits(1), 0x3f80);
  assert.equal(f32ToBf16Bits(Math.PI), 0x4049);
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80);
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);
  assert.equal(bf16BitsToF32(0x3f82), 1 + 2 ** -6);
  assert.equal(hexOf(encodeBf16(fromBits(X_BITS))), BF16_REF);
});

test('Q8_0 quantisation matches gguf-py (bit-exact port of ggml quantize_row_q8_0_ref)', () => {
  // hand-worked block: x_j = j - 16. amax = 16, d = 16/127 stored as f16 0x3008 (0.1259765625),
  // q_j = roundf(x_j * 127/16): -16 -> -127, 1 -> 8 (7.94), 2 -> 16 (15.875), 15 -> 119 (119.06)
  const x = Float32Array.from({ length: 32 }, (_, j) => j - 16);
  const q = encodeQ8_0(x);
  assert.equal(q[0]! | (q[1]! << 8), 0x3008);
  const qs = new Int8Array(q.buffer, 2, 32);
  assert.equal(qs[0], -127);
  assert.equal(qs[17], 8);
  assert.equal(qs[18], 16);
  assert.equal(qs[31], 119);
  const back = decodeQ8_0(q, 32);
  assert.equal(back[17], 8 * 0.1259765625);
  // reference: gguf-py quants.quantize(y, Q8_0) and its dequantize
  const y = fromBits(Y_BITS);
  assert.equal(hexOf(encodeQ8_0(y)), Q8_REF);
  assert.deepEqual(decodeQ8_0(encodeQ8_0(y), 64), fromBits(Q8_DEQ_BITS));
});

test('F16 / BF16 / Q8_0 / I32 tensors and typed metadata survive a write -> read round trip', () => {
  const out = path.join(tmp, 'types.gguf');
  const y = fromBits(Y_BITS);
  const ints = new Uint8Array(new Int32Array([-5, 0, 7, 2147483647]).buffer);
  const meta = new GgufMetadata([
    ['general.architecture', 'llama'],
    ['test.u8', 200, 'uint8'],
    ['test.i16', -300, 'int16'],
    ['test.u64', 2n ** 63n + 5n, 'uint64'],
    ['test.i64', -(2n ** 40n), 'int64'],
    ['test.f64', Math.PI, 'float64'],
    ['test.flag', true],
    ['test.strings', ['a', 'ü', '']],
    ['test.ints', [1, -2, 3]],
    ['test.u32s', [1, 2, 4000000000], 'array<uint32>'],
    ['test.floats', [0.5, 1.25]],
    ['test.alpha', 16], // integral, but a known float key
  ]);
  meta.set('general.name', 'x');
  writeGguf(out, {
    metadata: meta,
    tensors: [
      { name: 'a.f16', type: 'F16', ne: [32, 2], data: y },
      { name: 'a.bf16', type: 'BF16', ne: [64], data: y },
      { name: 'a.q8', type: 'Q8_0', ne: [32, 2], data: y },
      { name: 'a.f32', type: 'F32', ne: [8, 4, 2], data: y },
      { name: 'a.i32', type: 'I32', ne: [4], data: ints },
    ],
    alignment: 64,
  });
  const g = readGguf(out);
  assert.equal(g.alignment, 64);
  assert.equal(g.metadata.get('general.alignment'), 64);
  for (const ti of g.tensors) assert.equal(ti.offset % 64, 0);
  assert.equal(g.metadata.typeOf('test.u8'), 'uint8');
  assert.equal(g.metadata.get('test.u8'), 200);
  assert.equal(g.metadata.get('test.i16'), -300);
  assert.equal(g.metadata.get('test.u64'), 2n ** 63n + 5n);
  assert.equal(g.metadata.get('test.i64'), -(2 ** 40));
  assert.equal(g.metadata.typeOf('test.i64'), 'int64');
  assert.equal(g.metadata.get('test.f64'), Math.PI);
  assert.equal(g.metadata.get('test.flag'), true);
  assert.deepEqual(g.metadata.get('test.strings'), ['a', 'ü', '']);
  assert.equal(g.metadata.typeOf('test.ints'), 'array<int32>');
  assert.equal(g.metadata.typeOf('test.u32s'), 'array<uint32>');
  assert.deepEqual(g.metadata.get('test.u32s'), [1, 2, 4000000000]);
  assert.equal(g.metadata.typeOf('test.floats'), 'array<float32>');
  assert.equal(g.metadata.typeOf('test.alpha'), 'float32');
  // a read file's metadata keeps its types when a value is replaced
  g.metadata.set('test.u8', 7);
  assert.equal(g.metadata.typeOf('test.u8'), 'uint8');
  g.metadata.set('test.u8', 'now a string');
  assert.equal(g.metadata.typeOf('test.u8'), 'string');

  assert.deepEqual(readTensorF32(g, 'a.f16'), Float32Array.from(y, (v) => f16BitsToF32(f32ToF16Bits(v))));
  assert.deepEqual(readTensorF32(g, 'a.bf16'), Float32Array.from(y, (v) => bf16BitsToF32(f32ToBf16Bits(v))));
  assert.deepEqual(readTensorF32(g, 'a.q8'), fromBits(Q8_DEQ_BITS));
  assert.deepEqual(readTensorF32(g, 'a.f32'), y);
  assert.deepEqual(readTensorF32(g, 'a.i32'), Float32Array.from([-5, 0, 7, 2147483647]));
  assert.equal(hexOf(readTensorRaw(g, 'a.q8')), Q8_REF);
  assert.deepEqual(g.tensors.map((x) => x.ne), [[32, 2], [64], [32, 2], [8, 4, 2], [4]]);
});

test('writer rejects bad specs with UserErrors', () => {
  const out = path.join(tmp, 'bad.gguf');
  const w = (spec: Parameters<typeof writeGguf>[1]) => () => writeGguf(out, spec);
  const isUser = (re: RegExp) => (e: Error) => e instanceof UserError && re.test(e.message);
  assert.throws(w({ metadata: [['k', 300, 'uint8']], tensors: [] }), isUser(/'k'.*out of range/));
  assert.throws(w({ metadata: [['k', 1.5, 'int32']], tensors: [] }), isUser(/'k'.*integer/));
  assert.throws(w({ metadata: [['k', [], undefined]], tensors: [] }), isUser(/empty array needs a type hint/));
  assert.throws(w({ metadata: [['k', 1, 'uint7' as 'uint8']], tensors: [] }), isUser(/unknown GGUF value type 'uint7'/));
  assert.throws(w({ metadata: [['k', [[1], [2]], 'array<array<int32>>']], tensors: [] }), isUser(/arrays of arrays/));
  assert.throws(w({ metadata: [['k', 'a'], ['k', 'b']], tensors: [] }), isUser(/given twice/));
  assert.throws(w({ metadata: [], tensors: [{ name: 'q', type: 'Q8_0', ne: [16], data: new Float32Array(16) }] }), isUser(/multiple of 32/));
  assert.throws(w({ metadata: [], tensors: [{ name: 'q', type: 'F32', ne: [3, 2], data: new Float32Array(5) }] }), isUser(/6 elements but 5/));
  // (F32 -> Q4_0..Q6_K goes through ggml_quantize_chunk; the IQ types are not encoded)
  assert.throws(w({ metadata: [], tensors: [{ name: 'q', type: 'IQ4_NL', ne: [256], data: new Float32Array(256) }] }), isUser(/not supported/));
  assert.throws(w({ metadata: [], tensors: [{ name: 'x'.repeat(64), type: 'F32', ne: [1], data: new Float32Array(1) }] }), isUser(/too long/));
  assert.equal(fs.existsSync(out), false);
});

/** Write `bytes` to a temp file and return the error readGguf throws for it. */
function readError(name: string, bytes: Uint8Array): Error {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, bytes);
  try {
    readGguf(p);
  } catch (e) {
    assert.ok(e instanceof UserError, `expected a UserError, got ${(e as Error).stack}`);
    assert.ok((e as Error).message.includes(p), `error should name the file: ${(e as Error).message}`);
    return e as Error;
  }
  assert.fail(`${name}: no error`);
}

test('corrupt, truncated and foreign files give UserErrors naming the file and the problem', (t) => {
  const p = needFixture(t, 'models', 'stories260K.gguf');
  if (!p) return;
  const good = new Uint8Array(fs.readFileSync(p));
  const f = readGguf(p);
  assert.match(readError('empty.gguf', new Uint8Array(0)).message, /not a GGUF file/);
  assert.match(readError('garbage.gguf', crypto.randomBytes(4096)).message, /not a GGUF file \(magic/);
  assert.match(readError('text.gguf', Buffer.from('hello world, this is not a model')).message, /magic "hell"/);
  const v1 = good.slice(0, 4096);
  new DataView(v1.buffer).setUint32(4, 1, true);
  assert.match(readError('v1.gguf', v1).message, /version 1 is not supported/);
  const v9 = good.slice(0, 4096);
  new DataView(v9.buffer).setUint32(4, 9, true);
  assert.match(readError('v9.gguf', v9).message, /unsupported GGUF version 9/);
  const be = good.slice(0, 4096);
  new DataView(be.buffer).setUint32(4, 3, false);
  assert.match(readError('be.gguf', be).message, /big-endian/);
  // cut in the middle of the metadata
  assert.match(readError('cut-meta.gguf', good.slice(0, 2000)).message, /truncated|past the end|more than the/);
  // cut inside the tensor infos
  assert.match(readError('cut-info.gguf', good.slice(0, f.dataOffset - 100)).message, /truncated|past the end|more than the/);
  // header intact, tensor data missing
  const cutData = readError('cut-data.gguf', good.slice(0, f.dataOffset + 1000));
  assert.match(cutData.message, /truncated GGUF: tensor '.*' data .* past the end of the file/);
  // absurd string length
  const badLen = good.slice();
  new DataView(badLen.buffer).setBigUint64(24, 2n ** 60n, true); // length of the first key
  assert.match(readError('badlen.gguf', badLen).message, /corrupt GGUF: length of key #0/);
  // unknown tensor type: patch the first tensor's type field
  const badType = good.slice();
  const nameLen = Buffer.byteLength('token_embd.weight');
  const firstInfo = findBytes(badType, Buffer.from('token_embd.weight')) - 8;
  const typePos = firstInfo + 8 + nameLen + 4 + 2 * 8;
  assert.equal(new DataView(badType.buffer).getUint32(typePos, true), 0);
  new DataView(badType.buffer).setUint32(typePos, 77, true);
  assert.match(readError('badtype.gguf', badType).message, /tensor 'token_embd.weight' has unknown ggml type 77/);
  assert.throws(() => readGguf(path.join(tmp, 'does-not-exist.gguf')), (e: Error) => e instanceof UserError && /cannot open GGUF file .*ENOENT/.test(e.message));
  // a lazily read tensor whose file shrank after opening
  const shrink = path.join(tmp, 'shrink.gguf');
  fs.copyFileSync(p, shrink);
  const sf = readGguf(shrink);
  fs.truncateSync(shrink, sf.dataOffset + 10);
  assert.throws(() => readTensorF32(sf, 'output.weight'), (e: Error) => e instanceof UserError && /past the end/.test(e.message));
  assert.throws(() => readTensorF32(f, 'nope.weight'), (e: Error) => e instanceof UserError && /no tensor named 'nope.weight'/.test(e.message));
});

function findBytes(hay: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength).indexOf(Buffer.from(needle));
}

test('llama.cpp gives identical logits for the rewritten copy, and near ones for F16 / Q8_0 copies', async (t) => {
  const p = needFixture(t, 'models', 'stories260K.gguf');
  if (!p || !(await needLlamaCpp(t))) return;
  const f = readGguf(p);
  const copy = path.join(tmp, 'copy-llama.gguf');
  writeGguf(copy, ggufToWriteSpec(f));
  // F16 / Q8_0 versions of the 2-D weights (1-D norms stay F32, as llama.cpp's own converters do;
  // Q8_0 needs rows that are a multiple of 32, so ffn_down (rows of 172) stays F32 there)
  const variant = (type: 'F16' | 'Q8_0') => {
    const spec = ggufToWriteSpec(f);
    const ok = (ne: number[]) => ne.length === 2 && (type === 'F16' || ne[0]! % 32 === 0);
    spec.tensors = spec.tensors.map((x) => (ok(x.ne) ? { ...x, type, data: readTensorF32(f, x.name) } : x));
    spec.metadata.set('general.file_type', type === 'F16' ? 1 : 7);
    const out = path.join(tmp, `stories-${type}.gguf`);
    writeGguf(out, spec);
    return out;
  };
  const f16 = variant('F16');
  const q8 = variant('Q8_0');
  const tokens = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421];
  const rows = async (file: string) => {
    const s = await LlamaCppScorer.open(file, { threads: 1, contextSize: 64 });
    try {
      return (await s.logprobs(tokens, { full: true })).rows!;
    } finally {
      await s.dispose();
    }
  };
  const ref = await rows(p);
  const same = await rows(copy);
  for (let i = 0; i < ref.length; i++) assert.equal(maxAbsDiff(ref[i]!, same[i]!), 0);
  // quantised copies: the log-probabilities of the actual next tokens stay close, greedy choices agree
  const target = (rs: Float64Array[]) => rs.slice(0, -1).map((r, i) => r[tokens[i + 1]!]!);
  const argmax = (r: Float64Array) => r.indexOf(Math.max(...r));
  for (const [name, file, tol] of [['F16', f16, 0.01], ['Q8_0', q8, 0.1]] as const) {
    const rs = await rows(file);
    const d = maxAbsDiff(target(rs), target(ref));
    t.diagnostic(`${name}: max |log p(next token)| difference vs F32 ${d.toExponential(2)}`);
    assert.ok(d > 0 && d < tol, `${name} diff ${d}`);
    assert.deepEqual(rs.map(argmax), ref.map(argmax));
  }
});

// Reference data, computed once with numpy 2.4.6 and llama.cpp's gguf-py (gguf/quants.py, whose
// Q8_0 is documented as bit-exact with ggml-quants.c): x = 64 float32 values (normal noise with
// edge cases in the first 12), y = 64 normals (block 0 scale 0.02, block 1 scale 5, y[40] = 0).
const X_BITS =
  '477fe000 477ff000 3f801000 3f803000 33800000 33000000 33400000 80000000 477fef00 387fda40 c0490fd0 2edbe6ff bc357d05 3c73347c 3a00388f 3c04f59f bc61835c bb8efd6e bc53884f bbfe2ca5 3c13f536 bc729415 bbaf02f4 3ad6ae53 bbdb0b5a bb255733 bb116631 3b890401 bb8d5041 3b326dc3 3a14f2b7 3b8b1f73 40d7f216 4246ec0e c19f4842 420fe708 c1414104 c1e5e6fc 421157e5 c152f67c c13a10b2 c226a45d c27bc89b 41983b73 c20bd4fc 41bac918 425dc7b3 c05c697d c207319e 413d3732 41b6d099 c0fb519a 3f062096 42203b84 4217daaf 41aa6510 c1cfefab bfce1d3c 4190b33d c0cb6428 c1926780 c1b7b17c c197ae9f c1a12f66';
const F16_REF =
  '7bff 7c00 3c00 3c02 0001 0000 0001 8000 7bff 03ff c248 0000 a1ac 239a 1002 2028 a30c 9c78 a29c 9ff1 20a0 a395 9d78 16b5 9ed8 992b 988b 1c48 9c6b 1993 10a8 1c59 46c0 5237 ccfa 507f ca0a cf2f 508b ca98 c9d1 d135 d3de 4cc2 d05f 4dd6 52ee c2e3 d03a 49ea 4db7 c7db 3831 5102 50bf 4d53 ce7f be71 4c86 c65b cc93 cdbe ccbd cd09';
const BF16_REF =
  '80478047803f803f80330033403300808047803849c0dc2e35bc733c003a053c62bc8fbb54bcfebb143c73bcafbbd73adbbb25bb11bb893b8dbb323b153a8b3bd84047429fc1104241c1e6c1114253c13ac127c27cc298410cc2bb415e425cc007c23d41b741fbc0063f20421842aa41d0c1cebf9141cbc092c1b8c198c1a1c1';
const Y_BITS =
  'bc13d1f7 3cbbb530 bc832d5c 3c914f5e 3c08d58a 3b372c37 bc878fc0 bc15a64a 3d21ac75 3b01d9ad 3c305c23 3c594320 3cacf4d1 bb9ba8a2 bc47f315 ba9c4643 bbaaee3b 3c818b63 3b7886b2 3b9cceec 3b3e1119 3cc9417a bc31cede bc1cbf6c 3c910514 bb0b794f 3bec814c bc6edff9 39f4a4f7 3c0d80d9 bcd97cba bc63b74b 40076149 4133e797 4013ee78 be96d58a c0873bda 3ffaa3fe c1481ccf be7d970c 00000000 c026364e 4139a0d6 c145e212 bde4181a 3eb09621 40158ba9 c10022d5 c01551ba c0ef4591 bf235a1c 3f7ac6e1 3f528b23 bf7d73d9 3f6e01c8 3f6305de 40019f34 3e012731 c10ea131 c0825a63 3fdd2ac0 c091a719 c07f7ef7 3f11189d';
const Q8_REF =
  '180de34acc391b09cbe37f06232b44f1d9fcef330c0f094fdde139f917d1021cabd34e2e157217fdd51481fd00e67682ff0418afe8b4fa0a08f609091501a5d712d2d706';
const Q8_DEQ_BITS =
  'bc13b800 3cbc7800 bc847000 3c912c00 3c098800 3b376000 bc86fc00 bc13b800 3d21ba00 3af48000 3c324800 3c5b0800 3cad3000 bb98d000 bc46a800 baa30000 bbad3000 3c81e400 3b748000 3b98d000 3b376000 3cc93400 bc324800 bc1de800 3c912c00 bb0ea000 3bea5000 bc6f6800 3a230000 3c0ea000 bcd87c00 bc653800 40046600 4133af00 40110200 be975000 c0878d00 3ffc3000 c1482c80 be975000 00000000 c023ec00 4139fd00 c1469900 bdc9c000 3ec9c000 40175000 c0ff5700 c0175000 c0ef9400 bf175000 3f7c3000 3f49c000 bf7c3000 3f62f800 3f62f800 40046600 3dc9c000 c10f6e80 c0813f00 3fe2f800 c0910200 c0813f00 3f175000';
