/**
 * The evaluation pipeline on known values, per metric, where a swapped argument would not show in
 * a summary: the truth ratio uses the paraphrased answer (not the answer) against the perturbed
 * ones, and ROUGE scores the model's answer as the candidate against the reference (recall =
 * overlap / reference length, TOFU's measure).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { CausalLM } from '../../src/model/model.ts';
import { tokenizerFromGguf } from '../../src/model/tokenizer/index.ts';
import { getDataset } from '../../src/data/dataset.ts';
import { evaluateModel } from '../../src/eval/evaluate.ts';
import { scoreAnswers, rougeOfAnswers } from '../../src/eval/answers.ts';
import { rouge } from '../../src/eval/rouge.ts';
import { needFixture } from '../helpers/fixtures.ts';

test('truth ratio: R = mean_j P~(perturbed_j) / P~(paraphrased) per item, P~(a) = P(a|q)^(1/|a|)', async (t) => {
  const file = needFixture(t, 'models', 'stories260K.gguf');
  if (!file) return;
  const model = CausalLM.load(file);
  const tok = tokenizerFromGguf(model.file!);
  const facts = getDataset('dave').evalFacts('forget').slice(0, 3);
  const r = await evaluateModel({ model, data: 'dave', metrics: ['truth-ratio'], splits: ['forget'], limit: 3 });
  const items = r['truth-ratio']!.splits.forget!.items;
  assert.equal(items.length, 3);
  for (const [i, f] of facts.entries()) {
    assert.notEqual(f.paraphrased_answer, f.answer);
    const norm = (s: { logProb: number; tokens: number }) => Math.exp(s.logProb / s.tokens);
    const [para, ...pert] = scoreAnswers(model, tok, [f.paraphrased_answer, ...f.perturbed_answers].map((answer) => ({ question: f.question, answer })));
    const want = pert.reduce((a, s) => a + norm(s), 0) / pert.length / norm(para!);
    assert.equal(items[i]!.id, f.id);
    assert.ok(Math.abs(items[i]!.values.R! - want) <= 1e-9 * want, `${f.id}: R ${items[i]!.values.R} vs ${want}`);
  }
});

test('ROUGE: the model\'s answer is the candidate, the reference answer the reference (recall = overlap / reference length)', () => {
  // candidate 5 words, reference 1, overlap 1: recall 1 (precision would be 0.2)
  const [r] = rougeOfAnswers([{ id: 'x', answer: 'Thornbury' }], ['Dave was born in Thornbury']);
  assert.equal(r!.scores.rougeL.recall, 1);
  assert.equal(r!.scores.rouge1.recall, 1);
  assert.equal(r!.scores.rougeL.precision, 0.2);
  const [s] = rougeOfAnswers([{ id: 'y', answer: 'born in the town of Thornbury' }], ['Thornbury']);
  assert.ok(Math.abs(s!.scores.rougeL.recall - 1 / 6) < 1e-15, String(s!.scores.rougeL.recall));
});

test('ROUGE metric: each item\'s numbers are rougeOfAnswers of its own answer and reference', async (t) => {
  const file = needFixture(t, 'models', 'stories260K.gguf');
  if (!file) return;
  const model = CausalLM.load(file);
  const r = await evaluateModel({ model, data: 'dave', metrics: ['rouge'], splits: ['forget'], limit: 2, options: { maxNewTokens: 4 } });
  const facts = getDataset('dave').evalFacts('forget').slice(0, 2);
  r.rouge!.splits.forget!.items.forEach((it, i) => {
    assert.equal(it.text!.reference, facts[i]!.answer);
    const want = rouge(it.text!.answer!, facts[i]!.answer);
    assert.equal(it.values.rougeL, want.rougeL.recall);
    assert.equal(it.values.rouge1, want.rouge1.recall);
    assert.equal(it.values.rougeL_f1, want.rougeL.f1);
  });
});
