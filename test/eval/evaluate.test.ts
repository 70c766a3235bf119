/**
 * evaluate() on a tiny fine-tuned model: the model-facing numbers against llama.cpp (answer
 * log-probabilities, text NLL, greedy answers, LoRA adapters), the summaries against their
 * definitions, and resuming after a kill.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  evaluate, evaluateModel, loadEvalModel, loadRun, scoreAnswers, greedyAnswers, encodeQa, textScores, planEvaluation,
  type EvaluateOptions, type MetricResult, type ProgressEvent, type MetricContext,
} from '../../src/eval/index.ts';
import { CausalLM } from '../../src/model/model.ts';
import { tokenizerFromGguf } from '../../src/model/tokenizer/index.ts';
import { saveLoraAdapter } from '../../src/model/lora.ts';
import { getDataset } from '../../src/data/dataset.ts';
import { factTrainingText, questionPrompt } from '../../src/train/examples.ts';
import { ks2samp, mean } from '../../src/stats/index.ts';
import { UserError } from '../../src/util/errors.ts';
import { LlamaCppScorer, needLlamaCpp } from '../helpers/llamacpp.ts';
import { tinyFinetuned, type TinySetup } from './tinyModel.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
let setup: TinySetup | null = null;

/** Fine-tunes once, in the first test that needs it (the fixture check needs a TestContext). */
function need(t: import('node:test').TestContext): TinySetup | null {
  if (!setup) setup = tinyFinetuned(t);
  return setup;
}

const LIMIT = 6;

test('answer log-probabilities, text NLL and greedy answers match llama.cpp', async (t) => {
  const s = need(t);
  if (!s || !(await needLlamaCpp(t))) return;
  const model = CausalLM.load(s.finetuned);
  const tok = tokenizerFromGguf(model.file!);
  const facts = getDataset('dave').facts('forget').slice(0, 3);
  const pairs = facts.flatMap((f) => [{ question: f.question, answer: f.answer }, { question: f.question, answer: f.perturbed_answers[0]! }]);
  const ours = scoreAnswers(model, tok, pairs, 4);
  const scorer = await LlamaCppScorer.open(s.finetuned, { threads: 1 });
  try {
    for (let i = 0; i < pairs.length; i++) {
      const q = encodeQa(tok, pairs[i]!.question, pairs[i]!.answer);
      const ref = await scorer.logprobs(q.tokens);
      let lp = 0;
      for (let k = q.answerStart; k < q.tokens.length; k++) lp += ref.logprobs[k - 1]!;
      assert.equal(ours[i]!.tokens, q.tokens.length - q.answerStart);
      assert.ok(Math.abs(ours[i]!.logProb - lp) < 1e-4 * Math.max(1, Math.abs(lp)), `pair ${i}: ours ${ours[i]!.logProb}, llama.cpp ${lp}`);
    }
    // text NLL of the training text (perplexity metric) vs llama.cpp
    const plan = planEvaluation({ data: 'dave', metrics: ['perplexity'], splits: ['forget'], limit: 2 });
    const ctx: MetricContext = { model, tokenizer: tok, data: plan.data, options: plan.options, results: new Map(), cache: new Map(), log: () => {} };
    const ts = textScores(ctx, 'forget');
    for (let i = 0; i < 2; i++) {
      const toks = tok.encode(factTrainingText(facts[i]!), { addBos: true });
      const ref = await scorer.logprobs(toks);
      const nll = -Array.from(ref.logprobs).reduce((a, b) => a + b, 0) / ref.logprobs.length;
      assert.ok(Math.abs(ts.scores[i]!.meanNll - nll) < 1e-5, `text ${i}: ours ${ts.scores[i]!.meanNll}, llama.cpp ${nll}`);
    }
    // greedy answers: every generated token is llama.cpp's argmax given the prompt and the tokens before it
    const answers = greedyAnswers(model, tok, facts.slice(0, 2).map((f) => f.question), { maxNewTokens: 12 });
    for (let i = 0; i < 2; i++) {
      const prompt = tok.encode(questionPrompt(facts[i]!.question), { addBos: true });
      const gen = tok.encode(questionPrompt(facts[i]!.question) + ' ' + answers[i]!, { addBos: true }).slice(prompt.length);
      assert.ok(gen.length > 0, `answer ${i} is not empty`);
      const ref = await scorer.logprobs([...prompt, ...gen], { full: true });
      for (let k = 0; k < gen.length; k++) {
        const row = ref.rows![prompt.length - 1 + k]!;
        let best = 0;
        for (let v = 1; v < row.length; v++) if (row[v]! > row[best]!) best = v;
        assert.equal(gen[k], best, `answer ${i} token ${k}`);
      }
    }
  } finally {
    await scorer.dispose();
  }
});

test('a LoRA adapter is merged in memory and scores as llama.cpp applies it', async (t) => {
  const s = need(t);
  if (!s || !(await needLlamaCpp(t))) return;
  const base = CausalLM.load(s.base);
  const ft = CausalLM.load(s.finetuned);
  const names = ['token_embd.weight', 'blk.0.attn_q.weight', 'blk.4.ffn_down.weight', 'output.weight'];
  const deltas = names.map((n) => ({ tensor: n, ne: ft.weights.get(n)!.ne, delta: ft.weights.get(n)!.data.map((v, i) => v - base.weights.get(n)!.data[i]!) }));
  const adapter = path.join(s.tmp, 'partial.lora.gguf');
  saveLoraAdapter(adapter, { baseGgufPath: s.base, deltas, maxRank: 64 });
  const em = loadEvalModel(s.base, adapter);
  assert.equal(em.adapterKind, 'lora');
  assert.deepEqual(em.mergedTensors.sort(), [...names].sort());
  const tok = tokenizerFromGguf(em.model.file!);
  const f = getDataset('dave').facts('forget')[0]!;
  const [ours] = scoreAnswers(em.model, tok, [{ question: f.question, answer: f.answer }]);
  const q = encodeQa(tok, f.question, f.answer);
  const scorer = await LlamaCppScorer.open(s.base, { threads: 1, lora: [{ filePath: adapter }] });
  try {
    const ref = await scorer.logprobs(q.tokens);
    let lp = 0;
    for (let k = q.answerStart; k < q.tokens.length; k++) lp += ref.logprobs[k - 1]!;
    // llama.cpp computes W x + B (A x) and rounds K and V to its f16 cache; our merged W' x differs
    // from that in the last float32 bits, which flips some f16 roundings (steps of 2^-11 relative).
    // Measured over 8 facts and two fine-tunes: up to 1.4e-4 of the log-prob; the bound is one f16 step.
    assert.ok(Math.abs(ours!.logProb - lp) < 2 ** -11 * Math.max(1, Math.abs(lp)), `adapter: ours ${ours!.logProb}, llama.cpp with LoRA ${lp}`);
  } finally {
    await scorer.dispose();
  }
  // a full model file as "adapter" is evaluated instead of the base
  assert.equal(loadEvalModel(s.base, s.finetuned).adapterKind, 'model');
  assert.throws(() => loadEvalModel(s.base, path.join(s.tmp, 'missing.gguf')), UserError);
});

function metricsOpts(s: TinySetup, out: string): EvaluateOptions {
  return {
    modelPath: s.finetuned,
    data: 'dave',
    limit: LIMIT,
    out,
    metrics: ['perplexity', 'rouge', 'answer-prob', 'truth-ratio', 'mia', 'forget-quality'],
    options: { retainReference: s.base, maxNewTokens: 12 },
  };
}

/** Every number of every item, for equality checks. */
function flat(results: Record<string, MetricResult>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(results).map(([k, r]) => [k, { splits: r.splits, summary: r.summary }]));
}

test('evaluate: summaries follow their definitions on the per-item values', async (t) => {
  const s = need(t);
  if (!s) return;
  const out = path.join(s.tmp, 'run-full');
  const r = await evaluate(metricsOpts(s, out));
  assert.deepEqual(r.computed, ['perplexity', 'rouge', 'answer-prob', 'truth-ratio', 'mia', 'forget-quality']);
  const res = r.results;
  // perplexity: token-weighted exp(mean NLL); training texts were learned (forget/retain below holdout)
  for (const split of ['forget', 'retain', 'holdout', 'general'] as const) {
    const sp = res.perplexity!.splits[split]!;
    assert.equal(sp.items.length, LIMIT);
    const nll = sp.items.reduce((a, i) => a + i.values.meanNll! * i.values.tokens!, 0) / sp.items.reduce((a, i) => a + i.values.tokens!, 0);
    assert.ok(Math.abs(sp.summary.perplexity! - Math.exp(nll)) < 1e-9 * sp.summary.perplexity!);
  }
  assert.ok(res.perplexity!.splits.forget!.summary.perplexity! < res.perplexity!.splits.holdout!.summary.perplexity!, 'trained facts are more likely than unseen ones');
  // truth ratio: TOFU transforms of R
  const tf = res['truth-ratio']!.splits.forget!;
  assert.ok(Math.abs(tf.summary.score! - mean(tf.items.map((i) => Math.min(i.values.R!, 1 / i.values.R!)))) < 1e-12);
  const tr = res['truth-ratio']!.splits.retain!;
  assert.ok(Math.abs(tr.summary.score! - mean(tr.items.map((i) => Math.max(0, 1 - i.values.R!)))) < 1e-12);
  // membership inference: AUC = share of (member, non-member) pairs ordered correctly, ties 1/2
  const mem = res.mia!.splits.forget!.items.map((i) => i.values.loss!);
  const non = res.mia!.splits.holdout!.items.map((i) => i.values.loss!);
  let wins = 0;
  for (const a of mem) for (const b of non) wins += a > b ? 1 : a === b ? 0.5 : 0;
  assert.equal(res.mia!.summary.aucLoss, wins / (mem.length * non.length));
  assert.ok((res.mia!.summary.aucLoss as number) > 0.8, 'the fine-tuned forget facts are told apart from holdout');
  const lo = res.mia!.summary.aucLossLo as number;
  const hi = res.mia!.summary.aucLossHi as number;
  assert.ok(lo <= (res.mia!.summary.aucLoss as number) && (res.mia!.summary.aucLoss as number) <= hi);
  // per-item LOSS score is minus the perplexity metric's per-item NLL of the same text
  res.mia!.splits.forget!.items.forEach((it, i) => assert.ok(Math.abs(it.values.loss! + res.perplexity!.splits.forget!.items[i]!.values.meanNll!) < 1e-12));
  // ROUGE: recall of the stored greedy answer against the reference
  for (const it of res.rouge!.splits.forget!.items) {
    assert.equal(typeof it.text!.answer, 'string');
    assert.ok(it.values.rougeL! >= 0 && it.values.rougeL! <= 1);
  }
  // forget quality against the base model (scored here): the KS p of the two truth-ratio samples
  const baseEval = await evaluateModel({ model: CausalLM.load(s.base), data: 'dave', limit: LIMIT, metrics: ['truth-ratio'], splits: ['forget'] });
  const ks = ks2samp(tf.items.map((i) => i.values.R!), baseEval['truth-ratio']!.splits.forget!.items.map((i) => i.values.R!));
  assert.equal(res['forget-quality']!.summary.pValue, ks.p);
  // the folder holds exactly what evaluate returned
  assert.deepEqual(flat(loadRun(out).results), flat(res));
  // another model into the same folder is refused
  await assert.rejects(evaluate({ ...metricsOpts(s, out), modelPath: s.base }), (e: unknown) => e instanceof UserError && /holds an evaluation of another model/.test(e.message));
});

/**
 * Runs evaluate() in a child and SIGKILLs it as soon as it prints `line` (progress events are
 * printed after the metric before them is written, so the kill lands mid-way through the next one).
 */
function runChildUntil(opts: EvaluateOptions, line: string): Promise<{ killed: boolean; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'evalChild.ts'), JSON.stringify(opts)], { cwd: root, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      if (!killed && stdout.split('\n').includes(line)) killed = child.kill('SIGKILL');
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL' || code === 0) resolve({ killed: signal === 'SIGKILL', stdout });
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}

test('a killed evaluation resumes: finished metrics are kept, not recomputed, and no file is corrupt', async (t) => {
  const s = need(t);
  if (!s) return;
  const out = path.join(s.tmp, 'run-killed');
  const opts = metricsOpts(s, out);
  const child = await runChildUntil(opts, 'start rouge');
  assert.ok(child.killed, `the child was killed mid-way (it printed: ${child.stdout})`);
  assert.match(child.stdout, /start rouge/, 'killed while computing the second metric');
  // every JSON file in the folder parses; exactly the first metric is finished
  for (const f of fs.readdirSync(out).filter((f) => f.endsWith('.json'))) JSON.parse(fs.readFileSync(path.join(out, f), 'utf8'));
  const partial = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { completed: string[] };
  assert.deepEqual(partial.completed, ['perplexity']);
  const perplexityBefore = JSON.stringify(JSON.parse(fs.readFileSync(path.join(out, 'items.json'), 'utf8')).metrics.perplexity);

  const events: ProgressEvent[] = [];
  const r = await evaluate({ ...opts, onProgress: (e) => events.push(e) });
  assert.deepEqual(r.reused, ['perplexity']);
  assert.deepEqual(r.computed, ['rouge', 'answer-prob', 'truth-ratio', 'mia', 'forget-quality']);
  assert.ok(!events.some((e) => e.metric === 'perplexity' && e.phase === 'start'), 'perplexity was not recomputed');
  assert.equal(JSON.stringify(JSON.parse(fs.readFileSync(path.join(out, 'items.json'), 'utf8')).metrics.perplexity), perplexityBefore);

  // the resumed run equals an uninterrupted one, number for number
  const full = loadRun(path.join(s.tmp, 'run-full'));
  if (Object.keys(full.results).length === 6) assert.deepEqual(flat(loadRun(out).results), flat(full.results));

  // a third run reuses everything; changing the ROUGE length recomputes ROUGE only
  const again = await evaluate(opts);
  assert.deepEqual(again.computed, []);
  const changed = await evaluate({ ...opts, options: { ...opts.options, maxNewTokens: 6 } });
  assert.deepEqual(changed.computed, ['rouge']);
});
