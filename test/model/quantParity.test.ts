/**
 * Evaluation of quantised and reduced-precision GGUFs against llama.cpp (node-llama-cpp 3.22.1, the
 * same ggml build in the same process): for every type the engine loads, on a random LLaMA and a
 * random GPT-2, and on llama.cpp-style mixes (Q4_K_M / Q5_K_M) at widths where some rows are not
 * whole 256-blocks (SmolLM2's 576, Qwen2.5-0.5B's 896), our logits equal llama.cpp's bit for bit
 * at every position. That needs each weight in the buffer type llama.cpp gives it (AMX for F16 and
 * most block types on this Sapphire Rapids CPU, CPU_REPACK for Q2_K, the plain CPU buffer for the
 * rest; Graph.input placement 'weight'), since those buffer types run their own kernels.
 * The per-token log-probabilities then agree to the float64 log-softmax's rounding (< 1e-13;
 * measured <= 1.8e-15).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CausalLM, LMSession } from '../../src/model/model.ts';
import { quantizeGguf, type QuantizeTarget } from '../../src/model/quantize.ts';
import { getEngine } from '../../src/engine/engine.ts';
import { cpuExtraBufferTypes } from '../../src/engine/graph.ts';
import { baseModel, compareLogits, llamaCppLogits, ourLogits, randomTokens, tempDir, type ShapeName } from './quantShared.ts';

const dir = tempDir('quant-parity');

/** Every type the engine evaluates, as `unlearnkit quantize` targets (q3_k / q4_k / q5_k: all tensors in that type). */
const TYPES: QuantizeTarget[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k'];

/** The CPU's extra buffer types by name (e.g. ['AMX', 'CPU_REPACK'] on this machine). */
function extraBufferTypeNames(): string[] {
  const e = getEngine();
  const cpu = e.devices.find((d) => d.type === 'cpu')!;
  return cpuExtraBufferTypes(e, cpu.ptr).map((b) => String(e.g.ggml_backend_buft_name!(b)));
}

async function checkParity(t: test.TestContext, shape: ShapeName, type: QuantizeTarget, tokens: number[]): Promise<void> {
  const file = path.join(dir, `${shape}-${type}.gguf`);
  const plan = quantizeGguf(baseModel(dir, shape), file, { type });
  const model = CausalLM.load(file);
  const V = model.config.nVocab;
  const ref = await llamaCppLogits(t, file, tokens, V);
  if (!ref) return;
  const c = compareLogits(ourLogits(model, tokens), ref, tokens);
  const types = [...new Set(plan.tensors.map((x) => x.to))].join('/');
  t.diagnostic(`${shape} ${type} (${types}): ${c.unequal} of ${c.n} logits differ (max ${c.maxLogitDiff}); max |Δ log p| ${c.maxLogprobDiff.toExponential(2)}`);
  assert.equal(c.unequal, 0, `${c.unequal} of ${c.n} logits differ from llama.cpp's (max ${c.maxLogitDiff})`);
  assert.ok(c.maxLogprobDiff < 1e-13, `max log-prob difference ${c.maxLogprobDiff}`);
}

for (const shape of ['llama256', 'gpt2'] as const) {
  test(`${shape}: logits of every stored type equal llama.cpp's bit for bit`, async (t) => {
    const tokens = randomTokens(40, 5);
    for (const type of TYPES) await t.test(type, (tt) => checkParity(tt, shape, type, tokens));
  });
}

test('llama.cpp mixes at widths that are not whole 256-blocks, and at 512: Q4_K_M / Q5_K_M logits equal llama.cpp\'s', async (t) => {
  const tokens = randomTokens(32, 9);
  await t.test('SmolLM2 widths (576, tied) q4_k_m', (tt) => checkParity(tt, 'smollm576', 'q4_k_m', tokens));
  await t.test('Qwen2.5-0.5B widths (896, qwen2) q5_k_m', (tt) => checkParity(tt, 'qwen896', 'q5_k_m', tokens));
  await t.test('d = 512 q4_k_m', (tt) => checkParity(tt, 'llama512', 'q4_k_m', tokens));
});

test('weights sit where llama.cpp puts them: a tied embedding is stored twice, an F16 matrix in AMX when the CPU has it', async (t) => {
  const tokens = randomTokens(24, 13);
  await t.test('tied q4_k parity', (tt) => checkParity(tt, 'llama256tied', 'q4_k', tokens));
  if (process.platform === 'linux') {
    // node-llama-cpp and our engine run one ggml build in this process: a single CPU variant is mapped
    const variants = new Set([...fs.readFileSync('/proc/self/maps', 'utf8').matchAll(/libggml-cpu-([A-Za-z0-9_]+)\.so/g)].map((m) => m[1]));
    t.diagnostic(`CPU variants mapped in this process (ours and node-llama-cpp's): ${[...variants].join(', ')}`);
    assert.deepEqual([...variants], [getEngine().cpuVariant]);
  }
  const extras = extraBufferTypeNames();
  t.diagnostic(`CPU extra buffer types: ${extras.join(', ') || 'none'} (engine CPU variant ${getEngine().cpuVariant})`);
  const file = path.join(dir, 'llama256tied-q4_k.gguf');
  const s = new LMSession(CausalLM.load(file), { T: 8, B: 1, mode: 'eval' });
  const placed = s.graph.weightPlacements();
  s.dispose();
  // norms and the embedding lookup stay in the plain buffer (no extra buffer type takes MUL or GET_ROWS)
  assert.deepEqual(placed.get('blk.0.attn_norm.weight'), ['CPU']);
  assert.equal(placed.get('token_embd.weight')![0], 'CPU');
  if (extras.includes('AMX')) {
    // the tied output product reads a second copy of the embedding in AMX; the block matrices are there too
    assert.deepEqual(placed.get('token_embd.weight'), ['CPU', 'AMX']);
    assert.deepEqual(placed.get('blk.0.attn_q.weight'), ['AMX']);
  } else {
    t.diagnostic('no AMX buffer type on this CPU: the AMX placements are not asserted (parity above still is)');
  }
});
