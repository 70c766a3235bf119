/**
 * Influence scores on the tiny LLM (stories260K):
 * - activation x gradient (factored: per-token activations and output gradients, no weight-sized
 *   matrices) equals the dot product of the dense per-example gradients (TracIn's building block),
 *   over whole-model, embedding, attention, norm and output targets;
 * - TracIn sums lr_k-weighted dot products over checkpoints;
 * - the influence function's self-influence -g^T (H + lambda I)^{-1} g is negative (H + lambda I
 *   positive definite after damping), and the before/after comparison tests every pair.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { CausalLM } from '../../src/model/model.ts';
import { tokenizerFromGguf } from '../../src/model/tokenizer/index.ts';
import { resolveFilter } from '../../src/model/paramGroups.ts';
import { getDataset } from '../../src/data/dataset.ts';
import { factExamples } from '../../src/train/examples.ts';
import { asF32Model } from '../../src/model/sessions.ts';
import { toExamples } from '../../src/unlearn/source.ts';
import { exampleFactors, activationGradientScores } from '../../src/influence/actGrad.ts';
import { exampleGradients, tracinScores } from '../../src/influence/tracin.ts';
import { influenceFunctionScores } from '../../src/influence/influenceFunction.ts';
import { influenceBeforeAfter } from '../../src/influence/compare.ts';
import { dot } from '../../src/influence/vectors.ts';
import type { Example } from '../../src/unlearn/types.ts';
import { needFixture } from '../helpers/fixtures.ts';
import { MODEL, haveModel } from '../unlearn/helpers.ts';

test('fixture present', (t) => {
  needFixture(t, 'models', 'stories260K.gguf');
});

describe('influence scores', { skip: !haveModel && 'stories260K.gguf missing' }, () => {
  let model: CausalLM;
  let ex: Example[];
  before(() => {
    const base = CausalLM.load(MODEL);
    model = asF32Model(base);
    const tok = tokenizerFromGguf(base.file!);
    ex = toExamples(factExamples(getDataset('dave').facts('forget').slice(0, 4)), tok, 40);
  });

  for (const filter of ['all', 'embedding', 'block:1:attn', 'final_norm', 'output']) {
    test(`activation x gradient = per-example gradient dot products (${filter})`, (t) => {
      const tensors = resolveFilter(filter, model.config);
      const f = exampleFactors(model, tensors, ex, 4);
      const a = activationGradientScores(model, tensors, f, f);
      const g = exampleGradients(model, tensors, ex, 4);
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < ex.length; i++) {
        for (let j = 0; j < ex.length; j++) {
          const ref = dot(g[i]!, g[j]!);
          worst = Math.max(worst, Math.abs(a[i]![j]! - ref));
          scale = Math.max(scale, Math.abs(ref));
        }
      }
      t.diagnostic(`${filter}: max |actgrad - g.g| = ${worst.toExponential(2)} (largest score ${scale.toExponential(2)})`);
      assert.ok(worst <= 1e-4 * scale, `${filter}: ${worst} vs ${scale}`);
      // symmetric, positive self-scores
      for (let i = 0; i < ex.length; i++) assert.ok(a[i]![i]! > 0);
    });
  }

  test('TracIn sums lr-weighted dot products over checkpoints', () => {
    const tensors = resolveFilter('block:2', model.config);
    const other = model.clone();
    for (const n of tensors) other.weights.get(n)!.data.forEach((v, i, arr) => (arr[i] = v * 1.01));
    const both = tracinScores([{ model, lr: 0.3 }, { model: other, lr: 0.7 }], tensors, ex.slice(0, 2), ex);
    const a = tracinScores([{ model, lr: 1 }], tensors, ex.slice(0, 2), ex);
    const b = tracinScores([{ model: other, lr: 1 }], tensors, ex.slice(0, 2), ex);
    both.forEach((row, q) => row.forEach((v, i) => assert.ok(Math.abs(v - (0.3 * a[q]![i]! + 0.7 * b[q]![i]!)) <= 1e-6 * Math.abs(v) + 1e-9)));
  });

  test('influence function: self-influence is negative; before/after comparison tests every pair', (t) => {
    const tensors = resolveFilter('output', model.config);
    const r = influenceFunctionScores(model, tensors, ex, ex, { damping: 0.01, depth: 30 });
    t.diagnostic(`self-influence ${ex.map((_, i) => r.scores[i]![i]!.toExponential(2)).join(', ')}; scale ${r.scale.toFixed(3)}`);
    for (let i = 0; i < ex.length; i++) assert.ok(r.scores[i]![i]! < 0, `self-influence ${i}: ${r.scores[i]![i]}`);
    const after = model.clone();
    const w = after.weights.get('output.weight')!.data;
    for (let i = 0; i < w.length; i++) w[i] = w[i]! * 0.9;
    const c = influenceBeforeAfter({ before: model, afters: [{ name: 'scaled', model: after }], tensors, queries: ex, queryFacts: ex.map((e) => e.id), train: ex, methods: ['tracin', 'actgrad'] });
    assert.equal(c.pairs.length, 16);
    assert.equal(c.pairs.filter((p) => p.same).length, 4);
    for (const m of ['tracin', 'actgrad']) {
      const v = c.methods[m]!;
      assert.equal(v.before.length, 16);
      assert.ok(v.tests[0]!.all && v.tests[0]!.diagonal);
      assert.ok(Math.abs(v.tests[0]!.holmP! - v.tests[0]!.all!.p) < 1e-12); // one model: Holm = raw p
    }
    const tr = c.methods.tracin!;
    const ag = c.methods.actgrad!;
    tr.before.forEach((v, i) => assert.ok(Math.abs(v - ag.before[i]!) <= 1e-4 * Math.abs(v) + 1e-8));
  });
});
