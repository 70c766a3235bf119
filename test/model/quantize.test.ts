/**
 * `unlearnkit quantize` (src/model/quantize.ts) against llama.cpp's own quantiser: the same inputs
 * through `llama_model_quantize` (node-llama-cpp's libllama, called in a child process,
 * quantLlamaCppChild.ts) give byte-identical GGUF files for every target, on LLaMA at d = 512 with
 * GQA 4, at SmolLM2's d = 576 and Qwen2.5-0.5B's d = 896 (rows that are not whole 256-blocks fall
 * back), on GPT-2 (tied embedding, fused QKV, position embedding), from an F16 original, and when
 * re-quantising with allow-requantize. Plus the tensor types of a Q4_K_M mix written out by hand
 * from llama-quant.cpp's rules, the round trip through the loader, refusals, and the CLI
 * (`quantize`, then `inspect` showing the types).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readGguf, ggmlTypeName, getMeta, ggufToWriteSpec, writeGguf } from '../../src/model/gguf.ts';
import { CausalLM } from '../../src/model/model.ts';
import { writeRandomModel } from '../../src/model/randomModel.ts';
import { QUANTIZE_TARGETS, QUANTIZE_TARGET_NAMES, quantizeGguf, type QuantizeTarget } from '../../src/model/quantize.ts';
import { UserError } from '../../src/util/errors.ts';
import { cliArgs } from '../helpers/cli.ts';
import { baseModel, SHAPES, tempDir, TINY_VOCAB, type ShapeName } from './quantShared.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = tempDir('quantize');

interface Job {
  input: string;
  output: string;
  ftype: number;
  pure?: boolean;
  allowRequantize?: boolean;
}

/** Run llama.cpp's llama_model_quantize on every job (one child process); throws unless each returned 0. */
function llamaCppQuantize(jobs: Job[]): void {
  const jobsFile = path.join(dir, `jobs-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(jobsFile, JSON.stringify(jobs));
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'quantLlamaCppChild.ts'), jobsFile], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const results = (r.stdout ?? '').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { output: string; rc: number });
  assert.equal(r.status, 0, `llama.cpp child exited with ${r.status} (signal ${r.signal}): ${(r.stderr ?? '').slice(-3000)}`);
  assert.equal(results.length, jobs.length);
  for (const x of results) assert.equal(x.rc, 0, `llama_model_quantize failed for ${x.output}: ${(r.stderr ?? '').slice(-3000)}`);
}

/** Our quantisation of `input` for each target next to llama.cpp's; asserts the files are byte-identical. */
function assertSameAsLlamaCpp(input: string, label: string, targets: Array<{ type: QuantizeTarget; pure?: boolean; allowRequantize?: boolean }>): void {
  const jobs: Job[] = [];
  const ours: string[] = [];
  for (const t of targets) {
    const stem = path.join(dir, `${label}-${t.type}${t.pure ? '-pure' : ''}`);
    quantizeGguf(input, `${stem}.ours.gguf`, t);
    ours.push(`${stem}.ours.gguf`);
    const target = QUANTIZE_TARGETS[t.type];
    jobs.push({ input, output: `${stem}.llama.gguf`, ftype: target.ftype, pure: target.pure || !!t.pure, allowRequantize: t.allowRequantize });
  }
  llamaCppQuantize(jobs);
  targets.forEach((t, i) => {
    const a = fs.readFileSync(ours[i]!);
    const b = fs.readFileSync(jobs[i]!.output);
    if (a.equals(b)) return;
    // name the first tensor that differs
    const fa = readGguf(ours[i]!);
    const fb = readGguf(jobs[i]!.output);
    const diff = fa.tensors.find((x, k) => x.name !== fb.tensors[k]?.name || x.type !== fb.tensors[k]?.type || !a.subarray(x.offset, x.offset + x.nbytes).equals(b.subarray(fb.tensors[k]!.offset, fb.tensors[k]!.offset + fb.tensors[k]!.nbytes)));
    assert.fail(`${label} ${t.type}: our file differs from llama.cpp's (${a.length} vs ${b.length} bytes)` + (diff ? `; first differing tensor ${diff.name} (${ggmlTypeName(diff.type)})` : '; the tensors agree, the header differs'));
  });
}

const base = (shape: ShapeName) => baseModel(dir, shape);

test('every target on a LLaMA at d = 512 with GQA 4: byte-identical to llama.cpp\'s llama_model_quantize', () => {
  const targets = QUANTIZE_TARGET_NAMES.map((type) => ({ type }));
  assertSameAsLlamaCpp(base('llama512'), 'llama512', targets);
  // and --pure on a mix and on a legacy type (output.weight then keeps Q4_0 instead of Q6_K)
  assertSameAsLlamaCpp(base('llama512'), 'llama512', [{ type: 'q4_k_m', pure: true }, { type: 'q4_0', pure: true }]);
});

test('widths that are not whole 256-blocks (SmolLM2 576, Qwen2.5-0.5B 896), GPT-2, an F16 original and re-quantising: byte-identical to llama.cpp', () => {
  assertSameAsLlamaCpp(base('smollm576'), 'smollm576', [{ type: 'q4_k_m' }, { type: 'q5_k_m' }, { type: 'q3_k_m' }, { type: 'q6_k' }, { type: 'q2_k' }]);
  assertSameAsLlamaCpp(base('qwen896'), 'qwen896', [{ type: 'q4_k_m' }, { type: 'q5_k_m' }]);
  assertSameAsLlamaCpp(base('gpt2'), 'gpt2', [{ type: 'q4_k_m' }, { type: 'q5_k_m' }, { type: 'q4_0' }, { type: 'q2_k' }, { type: 'f16' }]);
  const f16 = path.join(dir, 'llama256-f16-original.gguf');
  writeRandomModel(f16, { shape: SHAPES.llama256, vocab: { tiny: TINY_VOCAB }, seed: 5, type: 'F16' });
  assertSameAsLlamaCpp(f16, 'from-f16', [{ type: 'q4_k_m' }, { type: 'bf16' }, { type: 'f32' }]);
  const q4 = path.join(dir, 'llama256-q4_k_m-input.gguf');
  quantizeGguf(base('llama256'), q4, { type: 'q4_k_m' });
  assertSameAsLlamaCpp(q4, 'requant', [{ type: 'q8_0', allowRequantize: true }]);
});

test("Q4_K_M at SmolLM2's widths: the types llama-quant.cpp's rules give, tensor by tensor", () => {
  const file = path.join(dir, 'smol-rules.gguf');
  const r = quantizeGguf(base('smollm576'), file, { type: 'q4_k_m' });
  const nLayer = SHAPES.smollm576.nLayer; // 4: use_more_bits(i, 4) holds for i = 2 (i % 3 == 2) and i = 3 (i >= 7 * 4 / 8)
  const moreBits = (i: number) => i === 2 || i === 3;
  const want = new Map<string, string>();
  // the tied embedding is the output: Q6_K, but 576 is not a multiple of 256 -> Q8_0
  want.set('token_embd.weight', 'Q8_0');
  want.set('output_norm.weight', 'F32');
  for (let i = 0; i < nLayer; i++) {
    const b = `blk.${i}`;
    want.set(`${b}.attn_norm.weight`, 'F32');
    want.set(`${b}.ffn_norm.weight`, 'F32');
    // Q4_K rows of 576 values fall back to Q5_0
    for (const m of ['attn_q', 'attn_k', 'attn_output', 'ffn_gate', 'ffn_up']) want.set(`${b}.${m}.weight`, 'Q5_0');
    // attn_v of the use-more-bits layers: Q6_K -> Q8_0 (576 columns); the others Q4_K -> Q5_0
    want.set(`${b}.attn_v.weight`, moreBits(i) ? 'Q8_0' : 'Q5_0');
    // ffn_down has rows of n_ff = 1536 = 6 * 256: no fallback
    want.set(`${b}.ffn_down.weight`, moreBits(i) ? 'Q6_K' : 'Q4_K');
  }
  assert.deepEqual(new Map(r.tensors.map((t) => [t.name, t.to])), want);
  // fallbacks: 5 x 4 matrices Q4_K -> Q5_0 and the 4 attn_v (the tied embedding's Q8_0 is the output rule, not a fallback)
  assert.equal(r.fallbacks, 5 * nLayer + nLayer);
  const f = readGguf(file);
  assert.equal(getMeta(f, 'general.file_type'), 15);
  assert.equal(getMeta(f, 'general.quantization_version'), 2);
  // the loader keeps every type as stored
  const model = CausalLM.load(file);
  for (const [name, type] of want) assert.equal(model.weights.get(name)!.fileType.toUpperCase(), type, name);
  assert.deepEqual(model.tensorTypes, { Q8_0: 3, F32: 9, Q5_0: 22, Q4_K: 2, Q6_K: 2 });
});

test('refusals: unknown targets, re-quantising without allow-requantize, non-finite weights', () => {
  const q4 = path.join(dir, 'refuse-q4_k.gguf');
  quantizeGguf(base('llama256'), q4, { type: 'q4_k' });
  assert.throws(() => quantizeGguf(base('llama256'), path.join(dir, 'x.gguf'), { type: 'iq2_xs' as QuantizeTarget }), (e: unknown) => e instanceof UserError && /iq2_xs/.test(e.message));
  assert.throws(() => quantizeGguf(q4, path.join(dir, 'y.gguf'), { type: 'q8_0' }), (e: unknown) => e instanceof UserError && /already Q4_K/.test(e.message) && /allow-requantize/.test(e.message));
  const spec = ggufToWriteSpec(readGguf(base('llama256')));
  const t = spec.tensors.find((x) => x.name === 'blk.1.ffn_up.weight')!;
  const values = new Float32Array(new Uint8Array(t.data as Uint8Array).buffer);
  values[77] = NaN;
  t.data = values;
  const nan = path.join(dir, 'nan.gguf');
  writeGguf(nan, spec);
  assert.throws(() => quantizeGguf(nan, path.join(dir, 'z.gguf'), { type: 'q4_k_m' }), (e: unknown) => e instanceof UserError && /blk\.1\.ffn_up\.weight/.test(e.message) && /non-finite/.test(e.message));
});

test('CLI: quantize prints the types it wrote; inspect shows them; bad types are refused by name', () => {
  const out = path.join(dir, 'cli-q4_k_m.gguf');
  const q = spawnSync(process.execPath, cliArgs('quantize', base('llama256'), out, '--type', 'q4_k_m'), { encoding: 'utf8' });
  assert.equal(q.status, 0, q.stderr);
  assert.match(q.stdout, /q4_k_m, general\.file_type 15/);
  assert.match(q.stdout, /39 tensors: .*Q4_K/);
  const i = spawnSync(process.execPath, cliArgs('inspect', out), { encoding: 'utf8' });
  assert.equal(i.status, 0, i.stderr);
  const line = i.stdout.split('\n').find((l) => l.includes('tensor types:'));
  assert.ok(line, `inspect printed no tensor types:\n${i.stdout}`);
  const counts = Object.fromEntries([...line!.matchAll(/(\d+) ([A-Z0-9_]+)/g)].map((m) => [m[2], Number(m[1])]));
  assert.deepEqual(counts, CausalLM.load(out).tensorTypes);
  assert.ok(counts.Q4_K! > 0 && counts.Q6_K! > 0 && counts.F32 === 9, line);
  const bad = spawnSync(process.execPath, cliArgs('quantize', base('llama256'), path.join(dir, 'bad.gguf'), '--type', 'iq1_s'), { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /unknown --type 'iq1_s'/);
  assert.ok(!fs.existsSync(path.join(dir, 'bad.gguf')));
});
