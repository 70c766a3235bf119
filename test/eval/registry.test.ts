/** The metric registry, evaluation planning, and the question/answer tokenization. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUILTIN_METRICS, getMetric, listMetrics, registerMetric, resolveMetricOrder, planEvaluation, encodeQa } from '../../src/eval/index.ts';
import { CausalLM } from '../../src/model/model.ts';
import { tokenizerFromGguf } from '../../src/model/tokenizer/index.ts';
import { getDataset } from '../../src/data/dataset.ts';
import { UserError } from '../../src/util/errors.ts';
import { needFixture } from '../helpers/fixtures.ts';

test('the built-in metrics are registered with paired values and splits', () => {
  const names = listMetrics().map((m) => m.name);
  for (const m of BUILTIN_METRICS) assert.ok(names.includes(m), `${m} registered`);
  assert.deepEqual(getMetric('mia').defaultSplits, ['forget', 'holdout']);
  assert.equal(getMetric('perplexity').paired[0]!.key, 'meanNll');
  assert.throws(() => getMetric('bleu'), (e: unknown) => e instanceof UserError && /unknown metric 'bleu'.*perplexity/.test(e.message));
  assert.throws(() => registerMetric({ ...getMetric('mia'), name: 'Bad Name' }), UserError);
});

test('dependencies come first, each once; cycles are reported', () => {
  const base = { description: 'test', supportedSplits: ['forget'] as const, defaultSplits: ['forget'] as const, paired: [], optionKeys: [], compute: () => ({ splits: {}, summary: {} }) };
  registerMetric({ ...base, name: 'test-a', deps: ['test-b', 'perplexity'] });
  registerMetric({ ...base, name: 'test-b', deps: ['perplexity'] });
  assert.deepEqual(
    resolveMetricOrder(['test-a', 'perplexity']).map((m) => m.name),
    ['perplexity', 'test-b', 'test-a'],
  );
  registerMetric({ ...base, name: 'test-c', deps: ['test-d'] });
  registerMetric({ ...base, name: 'test-d', deps: ['test-c'] });
  assert.throws(() => resolveMetricOrder(['test-c']), (e: unknown) => e instanceof UserError && /cycle: test-c -> test-d -> test-c/.test(e.message));
});

test('planning: default metrics, split selection, limit, option keys', () => {
  const p = planEvaluation({ data: 'dave' });
  assert.deepEqual(
    p.metrics.map((m) => m.def.name),
    ['perplexity', 'rouge', 'answer-prob', 'truth-ratio', 'mia'],
    'forget-quality only with a retain-only reference',
  );
  const withRef = planEvaluation({ data: 'dave', options: { retainReference: [0.5, 1] } });
  assert.ok(withRef.metrics.some((m) => m.def.name === 'forget-quality'));

  const q = planEvaluation({ data: 'dave', metrics: ['perplexity', 'rouge', 'mia'], splits: ['retain', 'general'], limit: 3 });
  const splits = Object.fromEntries(q.metrics.map((m) => [m.def.name, m.splits]));
  assert.deepEqual(splits, { perplexity: ['retain', 'general'], rouge: ['retain'], mia: ['forget', 'holdout'] });
  assert.equal(q.data.facts.retain!.length, 3);
  assert.equal(q.data.general.length, 3);
  assert.equal(q.data.facts.decoy, undefined, 'unused splits are not loaded');
  const dave = getDataset('dave');
  assert.deepEqual(q.data.facts.forget!.map((f) => f.id), dave.facts('forget').slice(0, 3).map((f) => f.id));

  // maxNewTokens changes ROUGE's key, not perplexity's
  const r = planEvaluation({ data: 'dave', metrics: ['perplexity', 'rouge'], options: { maxNewTokens: 8 } });
  const s = planEvaluation({ data: 'dave', metrics: ['perplexity', 'rouge'] });
  assert.equal(r.metrics[0]!.optionsKey, s.metrics[0]!.optionsKey);
  assert.notEqual(r.metrics[1]!.optionsKey, s.metrics[1]!.optionsKey);
  assert.notEqual(planEvaluation({ data: 'dave', limit: 2 }).dataHash, planEvaluation({ data: 'dave', limit: 3 }).dataHash);

  assert.throws(() => planEvaluation({ data: 'dave', splits: ['train' as never] }), /unknown split 'train'/);
  assert.throws(() => planEvaluation({ data: 'dave', metrics: ['rouge'], splits: ['general'] }), /rouge runs on forget, retain, holdout, decoy/);
  assert.throws(() => planEvaluation({ data: 'dave', limit: 0 }), /limit must be a positive integer/);
  assert.throws(() => planEvaluation({ data: 'dave', options: { minK: 0 } }), /minK must lie in/);
});

test('encodeQa: the answer tokens are the suffix after the prompt tokens', (t) => {
  const file = needFixture(t, 'models', 'stories260K.gguf');
  if (!file) return;
  const tok = tokenizerFromGguf(CausalLM.load(file).file!);
  const f = getDataset('dave').facts('forget')[0]!;
  const q = encodeQa(tok, f.question, f.answer);
  const prompt = tok.encode(`Question: ${f.question}\nAnswer:`, { addBos: true });
  assert.deepEqual(q.tokens.slice(0, q.answerStart), prompt);
  assert.equal(q.tokens[0], tok.bos);
  assert.equal(tok.decode(q.tokens.slice(q.answerStart)).trim(), f.answer);
  assert.deepEqual(q.tokens, tok.encode(`Question: ${f.question}\nAnswer: ${f.answer}`, { addBos: true }));
});
