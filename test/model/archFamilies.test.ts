/**
 * Every architecture family against llama.cpp (node-llama-cpp 3.22.1) on the same GGUF files:
 * per-token log-probabilities of 128 tokens within 1e-6 (measured ~1e-15), at F32, F16, BF16 and Q8_0
 * (quantised by src/model/quantize.ts), for
 * llama (plain, rope_freqs, linear x4, Q/K/V biases), qwen2, qwen3 (head size != n_embd / n_head)
 * and gpt2, on random-weight models written by src/model/randomModel.ts. The rope variants must
 * change the log-probs (so the parity is not that of two engines ignoring them). LoRA adapters on
 * qwen2 / qwen3 load in llama.cpp and equal the merged model. The named shapes carry the real
 * models' parameter counts, and a model with a real vocabulary file loads in llama.cpp.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CausalLM, sequenceLogprobs } from '../../src/model/model.ts';
import { expectedTensors } from '../../src/model/config.ts';
import { groupOf, resolveFilter } from '../../src/model/paramGroups.ts';
import { NAMED_SHAPES, shapeConfig, writeRandomModel } from '../../src/model/randomModel.ts';
import { saveLoraAdapter, saveMergedModel } from '../../src/model/lora.ts';
import { readGguf, readTensorF32 } from '../../src/model/gguf.ts';
import { quantizeGguf } from '../../src/model/quantize.ts';
import { llamaLogprobs, maxAbsDiff, needLlamaCpp, LlamaCppScorer } from '../helpers/llamacpp.ts';
import { llamaCppSourceFile } from '../helpers/llamacppSource.ts';
import { FAMILY_CASES, randomTokens, tempDir, writeCase } from './archCases.ts';
import { Rng } from '../../src/util/rng.ts';

const BOUND = 1e-6;
const dir = tempDir('arch-families');

for (const type of ['F32', 'F16', 'BF16', 'Q8_0'] as const) {
  for (const c of FAMILY_CASES) {
    test(`${c.label} (${type}): our log-probs equal llama.cpp's within ${BOUND} on 128 tokens`, async (t) => {
      let file: string;
      if (type === 'Q8_0') {
        // quantised from the F32 file as llama-quantize does (src/model/quantize.ts)
        file = path.join(dir, `${path.basename(writeCase(dir, c), '.gguf')}-Q8_0.gguf`);
        quantizeGguf(writeCase(dir, c), file, { type: 'q8_0' });
      } else file = writeCase(dir, c, { type });
      const model = CausalLM.load(file);
      assert.equal(model.config.arch, c.shape.arch);
      if (type !== 'F32') assert.ok(model.quantizedTensors.includes('blk.0.ffn_up.weight'), `matrices are stored as ${type}`);
      const tokens = randomTokens(model.config.nVocab, 128, 7);
      const ours = sequenceLogprobs(model, tokens);
      const ref = await llamaLogprobs(t, file, tokens, { contextSize: 256 });
      if (!ref) return;
      assert.equal(ours.length, 128);
      const worst = maxAbsDiff(ours, ref.logprobs);
      t.diagnostic(`${c.label} ${type}: max |ours - llama.cpp| = ${worst.toExponential(2)}, mean log-prob ${(ours.reduce((a, b) => a + b, 0) / ours.length).toFixed(3)}`);
      assert.ok(worst <= BOUND, `max abs difference ${worst}`);
    });
  }
}

test('the rope variants change the log-probs (rope_freqs factors, linear x4) and F16 differs from F32', () => {
  const plain = FAMILY_CASES[0]!;
  const tokens = randomTokens(384, 128, 7);
  const lp = (file: string) => sequenceLogprobs(CausalLM.load(file), tokens);
  const base = lp(writeCase(dir, plain));
  for (const c of FAMILY_CASES.filter((x) => x.shape.ropeScaling)) {
    // same seed and the same random tensors: only the rope differs (and the output, for the untied case)
    const twin = writeCase(dir, { label: `${c.label} twin`, shape: { ...c.shape, ropeScaling: undefined } });
    const drift = maxAbsDiff(lp(writeCase(dir, c)), lp(twin));
    assert.ok(drift > 1e-2, `${c.label}: rope scaling changed the log-probs by only ${drift}`);
  }
  const f16 = lp(writeCase(dir, plain, { type: 'F16' }));
  assert.ok(maxAbsDiff(base, f16) > 0, 'F16 evaluation gave F32 results');
});

test('named shapes have the real models\' hyper-parameters (parameter counts of their checkpoints)', () => {
  // parameter counts published for the Hugging Face checkpoints (tied embeddings counted once)
  const published: Record<string, number> = {
    'smollm2-135m': 134_515_008,
    'smollm2-360m': 361_821_120,
    'qwen2.5-0.5b': 494_032_768,
    'qwen3-0.6b': 596_049_920,
    'llama-3.2-1b': 1_235_814_400,
    'gpt2-124m': 124_439_808,
  };
  for (const [name, s] of Object.entries(NAMED_SHAPES)) {
    const c = shapeConfig(s, s.nVocab);
    // rope_freqs.weight is a constant GGUF adds, not a checkpoint parameter
    const n = expectedTensors(c)
      .filter((x) => !x.constant)
      .reduce((a, x) => a + x.ne.reduce((p, q) => p * q, 1), 0);
    assert.equal(n, published[name], `${name}: ${n} parameters`);
  }
  assert.equal(shapeConfig(NAMED_SHAPES['qwen3-0.6b']!, 151936).headDim, 128);
  assert.ok(shapeConfig(NAMED_SHAPES['llama-3.2-1b']!, 128256).ropeFreqFactors);
});

test('a random qwen3 at Qwen3-0.6B widths (1 block) with the qwen2 vocabulary file matches llama.cpp', async (t) => {
  const vocab = llamaCppSourceFile('models/ggml-vocab-qwen2.gguf');
  const file = path.join(dir, 'qwen3-real-vocab.gguf');
  const r = writeRandomModel(file, { shape: 'qwen3-0.6b', overrides: { nLayer: 1, nCtx: 512 }, vocab: { file: vocab }, seed: 2 });
  assert.equal(r.config.nVocab, 151936);
  assert.equal(r.config.headDim, 128);
  const f = readGguf(file);
  assert.equal(f.metadata.get('tokenizer.ggml.pre'), 'qwen2');
  assert.equal(f.metadata.get('qwen3.attention.key_length'), 128);
  const tokens = randomTokens(151936, 32, 3);
  const ours = sequenceLogprobs(CausalLM.load(file), tokens);
  const ref = await llamaLogprobs(t, file, tokens, { contextSize: 64 });
  if (!ref) return;
  const worst = maxAbsDiff(ours, ref.logprobs);
  t.diagnostic(`qwen3 1-block at 0.6B widths, 151936 tokens: max |ours - llama.cpp| = ${worst.toExponential(2)}`);
  assert.ok(worst <= BOUND, `max abs difference ${worst}`);
});

test('the Llama 3 rope_freqs written equal convert_hf_to_gguf.py\'s formula at Llama-3.2-1B settings', () => {
  const file = path.join(dir, 'llama32-1block.gguf');
  writeRandomModel(file, { shape: 'llama-3.2-1b', overrides: { nLayer: 1, nEmbd: 256, nHead: 4, nHeadKv: 1, nFf: 64, nCtx: 128 }, vocab: { tiny: 300 } });
  const f = readGguf(file);
  const factors = readTensorF32(f, 'rope_freqs.weight');
  assert.equal(factors.length, 32);
  // head 64, base 500000, factor 32, low 1, high 4, original context 8192: wavelen = 2 pi base^(2i/64)
  for (let i = 0; i < 32; i++) {
    const wavelen = 2 * Math.PI * 500000 ** ((2 * i) / 64);
    const want = wavelen < 2048 ? 1 : wavelen > 8192 ? 32 : 1 / ((1 - (8192 / wavelen - 1) / 3) / 32 + (8192 / wavelen - 1) / 3);
    assert.ok(Math.abs(factors[i]! - want) <= 1e-5 * want, `factor ${i}: ${factors[i]} vs ${want}`);
  }
  assert.equal(factors[0], 1);
  assert.equal(factors[31], 32);
});

test('LoRA adapters on qwen2 and qwen3 (head 32) load in llama.cpp and equal the merged model; our engine agrees', async (t) => {
  if (!(await needLlamaCpp(t))) return;
  for (const c of FAMILY_CASES.filter((x) => x.shape.arch === 'qwen2' || x.shape.arch === 'qwen3')) {
    const base = writeCase(dir, c);
    const model = CausalLM.load(base);
    const rng = new Rng(11);
    const lowRank = (nIn: number, nOut: number, r: number) => {
      const u = rng.normalArray(nOut * r, 0.1);
      const v = rng.normalArray(r * nIn, 0.1);
      const out = new Float32Array(nOut * nIn);
      for (let o = 0; o < nOut; o++) for (let k = 0; k < r; k++) for (let i = 0; i < nIn; i++) out[o * nIn + i]! += u[o * r + k]! * v[k * nIn + i]!;
      return out;
    };
    const deltas = ['blk.0.attn_q.weight', 'blk.1.attn_k.weight', 'blk.0.attn_output.weight', 'blk.1.ffn_down.weight'].map((name) => {
      const ne = model.weights.get(name)!.ne;
      return { tensor: name, ne, delta: lowRank(ne[0]!, ne[1]!, 2) };
    });
    const adapter = path.join(dir, `${c.shape.arch}-adapter.gguf`);
    const merged = path.join(dir, `${c.shape.arch}-merged.gguf`);
    const rep = saveLoraAdapter(adapter, { baseGgufPath: base, deltas, maxRank: 4 });
    assert.ok(rep.tensors.every((x) => x.exact && x.rank === 2));
    saveMergedModel(merged, { baseGgufPath: base, deltas });
    const tokens = randomTokens(model.config.nVocab, 48, 5);
    const score = async (file: string, lora?: string) => {
      const s = await LlamaCppScorer.open(file, { threads: 1, contextSize: 64, ...(lora ? { lora: [{ filePath: lora, scale: 1 }] } : {}) });
      try {
        return (await s.logprobs(tokens)).logprobs;
      } finally {
        await s.dispose();
      }
    };
    const withAdapter = await score(base, adapter);
    const mergedRef = await score(merged);
    const dMerged = maxAbsDiff(withAdapter, mergedRef);
    const dBase = maxAbsDiff(withAdapter, await score(base));
    const dOurs = maxAbsDiff(mergedRef, sequenceLogprobs(CausalLM.load(merged), tokens));
    t.diagnostic(`${c.label}: llama.cpp base+adapter vs merged ${dMerged.toExponential(2)}; ours vs llama.cpp on the merged model ${dOurs.toExponential(2)}; the adapter moves log-probs by ${dBase.toExponential(2)}`);
    // W x + B (A x) and (W + B A) x differ by float32 rounding, which the f16 K/V cache of both
    // llama.cpp paths turns into f16 ulps of some keys and values (measured up to ~2e-4 here)
    assert.ok(dMerged < 1e-3, `adapter vs merged in llama.cpp: ${dMerged}`);
    assert.ok(dOurs <= BOUND, `our engine vs llama.cpp on the merged model: ${dOurs}`);
    assert.ok(dBase > 1e-2, `the adapter must change the model (${dBase})`);
  }
});

test('layer targets of the new tensors: biases and Q/K norms in block:K:attn, rope_freqs in no group', () => {
  const cfg = (label: string) => CausalLM.load(writeCase(dir, FAMILY_CASES.find((c) => c.label.startsWith(label))!)).config;
  const q2 = cfg('qwen2');
  assert.deepEqual(resolveFilter('block:1:attn', q2), ['blk.1.attn_norm.weight', 'blk.1.attn_q.weight', 'blk.1.attn_q.bias', 'blk.1.attn_k.weight', 'blk.1.attn_k.bias', 'blk.1.attn_v.weight', 'blk.1.attn_v.bias', 'blk.1.attn_output.weight']);
  const q3 = cfg('qwen3');
  assert.ok(resolveFilter('block:0:attn', q3).includes('blk.0.attn_q_norm.weight'));
  assert.ok(resolveFilter('norms', q3).includes('blk.0.attn_k_norm.weight'));
  assert.equal(groupOf('blk.0.attn_k_norm.weight', q3), 'block:0:attn');
  const l3 = cfg('llama + rope_freqs');
  assert.ok(!resolveFilter('all', l3).includes('rope_freqs.weight'));
  assert.ok(expectedTensors(l3).some((t) => t.name === 'rope_freqs.weight' && t.constant));
});
