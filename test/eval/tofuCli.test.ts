/**
 * A TOFU-format folder through the CLI, as a new user runs it (issue #20, parts 1 and 2), on a tiny
 * random model and two folders of test/data/tofuFixture.ts:
 *   - TOFU's file names (forget01 / retain99 / holdout01 + _perturbed, real_authors_perturbed,
 *     world_facts_perturbed): finetune --data DIR --forget-split forget01; unlearn --from (first-epoch,
 *     no --data: the run's record); unlearn --method retain-only (recorded in the run); eval of the
 *     unlearned model with no --data and no --retain-model (both from the records);
 *   - plain forget.jsonl + retain.jsonl: finetune --data DIR; a retain-only model by
 *     `finetune --splits retain`; unlearn --from; eval --retain-model.
 * summary.json must hold forget quality, model utility with its sets named, privleak where a holdout
 * exists (else not computed, with the reason), extraction strength and ROUGE-L recall per split; the
 * default eval lists what it skipped and why. The numbers are checked against independent
 * computations: forget quality = ks_2samp of the stored truth ratios against the retain-only model's
 * (scored here in-process), privleak from the two Min-K% AUCs, model utility = the harmonic mean of
 * its components, forget_Q_A_Prob = mean P(a|q)^(1/|a|) from scoreAnswers on the unlearned model.
 * Also: fine-tune prints no NaN perplexity, and a fuzzy request is scored against the forget split.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { writeRandomModel } from '../../src/model/randomModel.ts';
import { getDataset } from '../../src/data/dataset.ts';
import { evaluateModel } from '../../src/eval/evaluate.ts';
import { loadEvalModel } from '../../src/eval/loadModel.ts';
import { scoreAnswers } from '../../src/eval/answers.ts';
import { harmonicMean, privleak } from '../../src/eval/tofu.ts';
import { ks2samp } from '../../src/stats/ks.ts';
import { mean } from '../../src/stats/descriptive.ts';
import { tokenizerFromGguf } from '../../src/model/tokenizer/index.ts';
import type { SummaryEntry } from '../../src/eval/types.ts';
import { tofuNamedFolder, tofuPlainFolder } from '../data/tofuFixture.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-tofu-cli-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const MODEL = path.join(tmp, 'tiny.gguf');

const cli = runCli;

interface Chain {
  dir: string;
  data: string;
  finetune: string;
  fuzzy?: { selection: { report: { precision: number; recall: number; truth: number; selected: number } } };
  summary: { metrics: Record<string, { summary: Record<string, SummaryEntry>; splits: Record<string, Record<string, number>> }>; skipped: Array<{ metric: string; split?: string; reason: string }>; notes: string[] };
  items: { metrics: Record<string, Record<string, Array<{ id: string; values: Record<string, number | null> }>>> };
  reference: { model: string; adapter?: string };
  evalStderr: string;
}

const chains: { named?: Chain; plain?: Chain } = {};

async function namedChain(): Promise<Chain> {
  const dir = path.join(tmp, 'named');
  fs.mkdirSync(dir);
  const data = tofuNamedFolder(path.join(dir, 'tofu'));
  const ft = await cli(dir, 'finetune', '--model', MODEL, '--data', data, '--forget-split', 'forget01', '--epochs', '2', '--out', 'ft', '--quiet');
  await cli(dir, 'unlearn', '--from', 'ft', '--run-id', 'fe', '--merged', '--quiet');
  await cli(dir, 'unlearn', '--from', 'ft', '--method', 'retain-only', '--no-adapter', '--quiet');
  const fz = await cli(dir, 'unlearn', '--from', 'ft', '--request', 'forget everything about Yuki Tamsin', '--no-adapter', '--json');
  const ev = await cli(dir, 'eval', '--model', 'ft/checkpoint.gguf', '--adapter', 'adapters/fe/merged.gguf', '--out', 'rep', '--no-report');
  const rec = JSON.parse(fs.readFileSync(path.join(dir, 'ft', 'retain-model.json'), 'utf8')) as { model: string; adapter?: string };
  return {
    dir,
    data,
    finetune: ft.stdout,
    fuzzy: JSON.parse(fz.stdout),
    summary: JSON.parse(fs.readFileSync(path.join(dir, 'rep', 'summary.json'), 'utf8')),
    items: JSON.parse(fs.readFileSync(path.join(dir, 'rep', 'items.json'), 'utf8')),
    reference: rec,
    evalStderr: ev.stderr,
  };
}

async function plainChain(): Promise<Chain> {
  const dir = path.join(tmp, 'plain');
  fs.mkdirSync(dir);
  const data = tofuPlainFolder(path.join(dir, 'tofu'));
  const ft = await cli(dir, 'finetune', '--model', MODEL, '--data', data, '--epochs', '2', '--out', 'ft', '--quiet');
  // a retain-only model: the same fine-tune on the retain split alone
  await cli(dir, 'finetune', '--model', MODEL, '--data', data, '--splits', 'retain', '--epochs', '2', '--out', 'ro', '--record', 'none', '--no-eval', '--quiet');
  await cli(dir, 'unlearn', '--from', 'ft', '--run-id', 'fe', '--merged', '--quiet');
  const ev = await cli(dir, 'eval', '--model', 'ft/checkpoint.gguf', '--adapter', 'adapters/fe/merged.gguf', '--retain-model', 'ro', '--out', 'rep', '--no-report');
  return {
    dir,
    data,
    finetune: ft.stdout,
    summary: JSON.parse(fs.readFileSync(path.join(dir, 'rep', 'summary.json'), 'utf8')),
    items: JSON.parse(fs.readFileSync(path.join(dir, 'rep', 'items.json'), 'utf8')),
    reference: { model: path.join(dir, 'ro', 'checkpoint.gguf') },
    evalStderr: ev.stderr,
  };
}

before(async () => {
  writeRandomModel(MODEL, { shape: { arch: 'llama', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128 }, vocab: { tiny: 384 }, seed: 4 });
  const [named, plain] = await Promise.all([namedChain(), plainChain()]);
  chains.named = named;
  chains.plain = plain;
});

/** The reference model's own tofu numbers on the same items, computed in-process. */
async function referenceTofu(c: Chain, ds: ReturnType<typeof getDataset>) {
  const ref = loadEvalModel(c.reference.model, c.reference.adapter).model;
  const r = await evaluateModel({ model: ref, tokenizer: tokenizerFromGguf(ref.file!), data: ds, metrics: ['tofu'] });
  return r.tofu!;
}

/** Forget quality and model utility as their definitions say, from the stored per-item values and the reference's. */
async function checkNumbers(c: Chain, sets: string[]) {
  const ds = getDataset(c.data);
  const t = c.summary.metrics.tofu!.summary;
  const own = c.items.metrics.tofu!.forget!;
  const ref = await referenceTofu(c, ds);
  const refTr = new Map(ref.splits.forget!.items.map((i) => [i.id, i.values.tr!]));
  const mine = own.filter((i) => Number.isFinite(i.values.tr ?? NaN));
  assert.ok(mine.length >= 5, 'forget truth ratios computed');
  const ks = ks2samp(mine.map((i) => i.values.tr!), mine.map((i) => refTr.get(i.id)!));
  assert.ok(t.forget_quality!.value !== null && Math.abs(t.forget_quality!.value - ks.p) < 1e-12, `forget_quality ${t.forget_quality!.value} vs KS p ${ks.p}`);
  // model utility: the harmonic mean of its components, over the sets present
  const mu = t.model_utility!;
  assert.deepEqual(mu.over, sets);
  const comps = mu.components as Record<string, number>;
  assert.deepEqual(Object.keys(comps).sort(), sets.flatMap((s) => { const p = s === 'retain' ? 'retain' : s === 'real_authors' ? 'ra' : 'wf'; return [`${p}_Q_A_${s === 'retain' ? 'Prob' : 'Prob_normalised'}`, `${p}_Q_A_ROUGE`, `${p}_Truth_Ratio`]; }).sort());
  assert.ok(Math.abs(mu.value! - harmonicMean(Object.values(comps))) < 1e-15);
  for (const [k, v] of Object.entries(comps)) assert.equal(t[k]!.value, v, k);
  // forget_Q_A_Prob through another path: scoreAnswers on the unlearned model
  const m = loadEvalModel(path.join(c.dir, 'ft', 'checkpoint.gguf'), path.join(c.dir, 'adapters', 'fe', 'merged.gguf')).model;
  const facts = ds.evalFacts('forget');
  const sc = scoreAnswers(m, tokenizerFromGguf(m.file!), facts, 8);
  assert.ok(Math.abs(t.forget_Q_A_Prob!.value! - mean(sc.map((s) => Math.exp(s.logProb / s.tokens)))) < 1e-12, 'forget_Q_A_Prob');
  // ROUGE-L recall per split (stemmed, rouge_score) and extraction strength
  for (const s of ['forget', 'retain']) assert.equal(typeof c.summary.metrics.rouge!.splits[s]!.rougeL_recall, 'number', `rouge ${s}`);
  assert.ok(t.extraction_strength!.value! > 0 && t.extraction_strength!.value! <= 1);
  return ref;
}

test('TOFU names: finetune, unlearn, eval with only --data and --forget-split; forget quality, model utility over all three sets, privleak', async () => {
  const c = chains.named!;
  assert.doesNotMatch(c.finetune, /NaN/, 'no NaN perplexities');
  assert.match(c.finetune, /data: .* \(tofu, forget01 \/ retain99 \/ holdout01/);
  assert.match(c.finetune, /perplexity general: not measured \(the dataset has no general texts\)/);
  assert.match(c.evalStderr, /dataset .* \(recorded by .*ft, forget01 \/ retain99 \/ holdout01\)/, 'eval took the dataset from the run');
  assert.match(c.evalStderr, /retain-only reference .* \(recorded in .*retain-model\.json\)/, 'eval took the reference from the run');
  const ref = await checkNumbers(c, ['retain', 'real_authors', 'world_facts']);
  const t = c.summary.metrics.tofu!.summary;
  // privleak from the two Min-K% AUCs, as open-unlearning computes it
  const auc = t.mia_min_k!.value!;
  const aucRef = (ref.summary.mia_min_k as SummaryEntry).value!;
  assert.equal(t.privleak!.auc, auc);
  assert.ok(Math.abs(t.privleak!.value! - privleak(auc, aucRef)) < 1e-9, `privleak ${t.privleak!.value} vs ${privleak(auc, aucRef)}`);
  for (const k of ['ra_Q_A_ROUGE', 'wf_Q_A_ROUGE', 'retain_Q_A_ROUGE', 'forget_Q_A_ROUGE']) assert.equal(typeof t[k]!.value, 'number', k);
  // retain metrics ran on TOFU's evaluation subset (retain_perturbed), forget on forget01
  assert.equal(c.items.metrics.tofu!.retain!.length, 10);
  assert.equal(c.items.metrics.rouge!.forget!.length, 6);
  // only the general split was skipped, and said so
  assert.deepEqual(c.summary.skipped.map((s) => `${s.metric}:${s.split ?? ''}`), ['perplexity:general']);
  assert.deepEqual(c.summary.notes, []);
  // fuzzy: the request picks the forget author's 6 items, scored against the forget split
  const r = c.fuzzy!.selection.report;
  assert.deepEqual([r.selected, r.truth, r.precision, r.recall], [6, 6, 1, 1]);
});

test('plain forget.jsonl + retain.jsonl: what needs a holdout or the utility sets is named as not computed; the rest runs', async () => {
  const c = chains.plain!;
  assert.doesNotMatch(c.finetune, /NaN/, 'no NaN perplexities');
  await checkNumbers(c, ['retain']);
  const t = c.summary.metrics.tofu!.summary;
  assert.equal(t.privleak!.value, null);
  assert.match(t.privleak!.reason!, /no holdout split \(add holdout\.jsonl/);
  assert.equal(t.mia_min_k!.value, null);
  assert.match((t.model_utility!.not_included as Record<string, string>).ra_Q_A_ROUGE!, /no real_authors split \(add real_authors_perturbed\.json\(l\)/);
  const skipped = c.summary.skipped.map((s) => `${s.metric}:${s.split ?? ''}`);
  assert.deepEqual(skipped, ['perplexity:holdout', 'perplexity:general', 'mia:']);
  assert.match(c.summary.skipped.find((s) => s.metric === 'mia')!.reason, /needs the holdout split: .* has no holdout items \(add holdout\.jsonl/);
  assert.ok(c.summary.notes.some((n) => /^tofu: privleak and mia_min_k are not computed: no holdout split/.test(n)));
  assert.ok(c.summary.notes.some((n) => /^tofu: model_utility is over retain only: no real_authors .* no world_facts/.test(n)));
  // named up front, before any metric ran
  const first = c.evalStderr.indexOf('not computed: mia');
  assert.ok(first >= 0 && first < c.evalStderr.indexOf('[1/'), 'the skipped metrics are printed before computing');
  // the retain-only model given by --retain-model (a fine-tune run folder) was used
  assert.match(String(t.forget_quality!.reference), /ro$/);
  // asking for a metric the data cannot feed is refused before anything runs
  await assert.rejects(cli(c.dir, 'eval', '--model', 'ft/checkpoint.gguf', '--metrics', 'mia', '--out', 'rep-mia'), /metric mia needs the holdout split: .* has no holdout items \(add holdout\.jsonl/);
  assert.ok(!fs.existsSync(path.join(c.dir, 'rep-mia', 'items.json')));
});
