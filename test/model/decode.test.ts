/**
 * KV-cache decoding (src/model/decode.ts; LLaMA with and without GQA, GPT-2, and every family and
 * variant of test/model/archCases.ts: rope_freqs, linear rope, biases, qwen2, qwen3) against recomputing the whole sequence per token: the
 * same greedy tokens for prompts of different lengths decoded together, and next-token logits
 * equal to the full forward's at every position, bit for bit (the README's claim; measured 0 on CPU).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { needFixture } from '../helpers/fixtures.ts';
import { CausalLM, LMSession } from '../../src/model/model.ts';
import { KvDecoder } from '../../src/model/decode.ts';
import { generateTokens } from '../../src/model/generate.ts';
import { randomModel } from '../../src/model/randomModel.ts';
import { Rng } from '../../src/util/rng.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { FAMILY_CASES, tempDir, writeCase } from './archCases.ts';

const GPT2: ModelConfig = {
  arch: 'gpt2', nEmbd: 48, nLayer: 2, nHead: 4, nHeadKv: 4, nFf: 96, nVocab: 200, nCtx: 64, normEps: 1e-5, ropeDims: 0, ropeFreqBase: 10000, tiedOutput: true,
};

const GQA_TIED: ModelConfig = {
  arch: 'llama', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 96, nVocab: 300, nCtx: 64, normEps: 1e-5, ropeDims: 8, ropeFreqBase: 10000, tiedOutput: true,
};

function prompts(V: number, lengths: number[], seed: number): number[][] {
  const rng = new Rng(seed);
  return lengths.map((n) => [1, ...Array.from({ length: n - 1 }, () => rng.int(V))]);
}

test('KV-cache logits equal the full forward at every position, for sequences of different lengths at once', (t) => {
  const file = needFixture(t, 'models', 'stories260K.gguf');
  if (!file) return;
  const dir = tempDir('decode');
  const families = FAMILY_CASES.map((c) => CausalLM.load(writeCase(dir, c, { seed: 31 })));
  for (const model of [CausalLM.load(file), randomModel(GQA_TIED, 4), randomModel(GPT2, 5), ...families]) {
    const V = model.config.nVocab;
    const seqs = prompts(V, [20, 7, 13], 1);
    const T = 20;
    const full = new LMSession(model, { T, B: seqs.length, mode: 'eval' });
    const dec = new KvDecoder(model, T, seqs.length);
    try {
      full.setBatch(seqs);
      full.forward();
      const ref = full.readLogits(); // [V, T * B]
      let worst = 0;
      for (let p = 0; p < T; p++) {
        const logits = dec.step(seqs.map((s) => s[Math.min(p, s.length - 1)]!), seqs.map((s) => Math.min(p, s.length - 1)));
        seqs.forEach((s, b) => {
          if (p >= s.length) return;
          for (let v = 0; v < V; v++) {
            const a = ref[(b * T + p) * V + v]!;
            worst = Math.max(worst, Math.abs(a - logits[b * V + v]!) / Math.max(1, Math.abs(a)));
          }
        });
      }
      assert.equal(worst, 0, `${model.source}: KV-cache logits differ from the full forward by ${worst.toExponential(2)}`);
      t.diagnostic(`${model.source}: ${model.config.arch} ${model.config.nHead}/${model.config.nHeadKv} heads: worst logit difference ${worst.toExponential(2)}`);
    } finally {
      full.dispose();
      dec.dispose();
    }
  }
});

test('greedy generation with the KV cache gives the same tokens as recomputing the sequence', (t) => {
  const file = needFixture(t, 'models', 'stories260K.gguf');
  if (!file) return;
  const model = CausalLM.load(file);
  const ps = prompts(model.config.nVocab, [1, 9, 4], 2);
  const cached = generateTokens(model, ps, { maxTokens: 24, stopIds: [2] });
  const full = generateTokens(model, ps, { maxTokens: 24, stopIds: [2], kvCache: false });
  assert.deepEqual(cached, full);
  assert.ok(cached.every((s) => s.length > 0));
  // one prompt alone decodes as it does in the batch
  assert.deepEqual(generateTokens(model, [ps[1]!], { maxTokens: 24, stopIds: [2] })[0], cached[1]);
  assert.deepEqual(generateTokens(model, ps, { maxTokens: 0 }), [[], [], []]);
  // GPT-2 (learned positions, biases, LayerNorm, GELU) through the same decoder
  const gpt2 = randomModel(GPT2, 6);
  const gp = prompts(GPT2.nVocab, [5, 2], 3);
  assert.deepEqual(generateTokens(gpt2, gp, { maxTokens: 12 }), generateTokens(gpt2, gp, { maxTokens: 12, kvCache: false }));
});
