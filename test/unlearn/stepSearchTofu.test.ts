/**
 * Issue #20's done-when on TOFU-format folders through the CLI, with `--eta auto`: on the folder
 * with TOFU's file names and on a plain forget.jsonl + retain.jsonl folder (test/data/tofuFixture.ts),
 * `finetune --data DIR`, `unlearn --eta auto` and `eval` run with no other flags than --data (and
 * the forget split / run ids), on a tiny random model.
 *   - TOFU folders have no general texts: the search runs on a validation part of the retain items,
 *     which the run's reported retain set does not hold (in the plain folder moved out of it: every
 *     retain item is in the reported set at --eval-limit 50), and says so;
 *   - the chosen eta is the largest within budget; the eval of the unlearned model has TOFU's numbers
 *     and ROUGE-L recall per split;
 *   - an explicit step that breaks the budget (--eta 8) is flagged in the run's summary.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { writeRandomModel } from '../../src/model/randomModel.ts';
import { tofuNamedFolder, tofuPlainFolder } from '../data/tofuFixture.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-stepsearch-tofu-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const MODEL = path.join(tmp, 'tiny.gguf');

const cli = runCli;

interface Search {
  param: string;
  budget: number;
  chosen: number;
  within: boolean;
  tries: Array<{ value: number; retain: number | null; general: number | null; cost: number; costUpper: number; within: boolean }>;
  validation: { ids: Record<string, string[]>; takenFromReported: Record<string, number> };
}
interface Result {
  stepSearch: Search;
  settings: Record<string, number>;
  before: { sets: Record<string, { ids: string[] }> };
  utility: { within: boolean; cost: number };
  warnings: string[];
}
interface Chain {
  dir: string;
  result: Result;
  summary: { metrics: Record<string, { summary: Record<string, { value: number | null; over?: string[] }>; splits: Record<string, Record<string, number>> }> };
  broken: string;
}

async function chain(name: string, data: string, forgetSplit: string[]): Promise<Chain> {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  await cli(dir, 'finetune', '--model', MODEL, '--data', data, ...forgetSplit, '--epochs', '2', '--out', 'ft', '--quiet');
  const un = await cli(dir, 'unlearn', '--from', 'ft', '--eta', 'auto', '--run-id', 'auto', '--merged', '--json');
  await cli(dir, 'eval', '--model', 'ft/checkpoint.gguf', '--adapter', 'adapters/auto/merged.gguf', '--out', 'rep', '--no-report', '--quiet');
  const broken = await cli(dir, 'unlearn', '--from', 'ft', '--eta', '8', '--no-adapter');
  return {
    dir,
    result: JSON.parse(un.stdout) as Result,
    summary: JSON.parse(fs.readFileSync(path.join(dir, 'rep', 'summary.json'), 'utf8')),
    broken: broken.stdout,
  };
}

const chains: Record<string, Chain> = {};
before(async () => {
  writeRandomModel(MODEL, { shape: { arch: 'llama', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128 }, vocab: { tiny: 384 }, seed: 4 });
  const named = tofuNamedFolder(path.join(tmp, 'tofu-named'));
  const plain = tofuPlainFolder(path.join(tmp, 'tofu-plain'));
  const [a, b] = await Promise.all([chain('named', named, ['--forget-split', 'forget01']), chain('plain', plain, [])]);
  chains.named = a;
  chains.plain = b;
});

for (const name of ['named', 'plain']) {
  test(`${name} TOFU folder: unlearn --eta auto searches on retain items the reported set does not hold; eval runs on the result`, () => {
    const c = chains[name]!;
    const s = c.result.stepSearch;
    assert.equal(s.param, 'eta');
    assert.equal(s.budget, 0.05);
    const val = s.validation.ids.retain!;
    assert.ok(val.length >= 4, `validation retain items: ${val.length}`);
    assert.equal(s.validation.ids.general, undefined, 'TOFU folders have no general texts');
    // named: the reported retain set is TOFU's evaluation subset (retain_perturbed), so unused retain
    // items suffice; plain: the reported set held every retain item, so the validation items moved out of it
    assert.equal(s.validation.takenFromReported.retain, name === 'named' ? 0 : val.length);
    const reported = new Set(c.result.before.sets.retain!.ids);
    assert.ok(reported.size >= 2);
    for (const id of val) assert.ok(!reported.has(id), `${id} is reported and validation`);
    for (const t of s.tries) {
      assert.equal(t.general, null);
      assert.equal(t.cost, t.retain);
      assert.equal(t.within, t.costUpper <= s.budget);
      assert.ok(t.costUpper >= t.cost);
    }
    const within = s.tries.filter((t) => t.within).map((t) => t.value);
    if (s.within) assert.equal(s.chosen, Math.max(...within));
    else assert.equal(s.chosen, Math.min(...s.tries.map((t) => t.value)));
    assert.equal(c.result.settings.eta, s.chosen);
    // eval with no --data and no metric flags: TOFU's numbers and ROUGE-L recall per split
    const m = c.summary.metrics;
    assert.equal(typeof m.tofu!.summary.model_utility!.value, 'number');
    for (const split of ['forget', 'retain']) assert.equal(typeof m.rouge!.splits[split]!.rougeL_recall, 'number', `ROUGE-L ${split}`);
    // an explicit step that breaks the budget says so in its summary
    assert.match(c.broken, /warning: utility budget broken: retain perplexity \+[\d.]+% \(budget \+5\.0%\)/);
  });
}

test('--eta auto is refused where it cannot apply, by name', async () => {
  const dir = chains.plain!.dir;
  await assert.rejects(cli(dir, 'unlearn', '--from', 'ft', '--method', 'gradient-ascent', '--eta', 'auto', '--no-adapter'), /--eta auto: gradient-ascent does not use --eta; it can search --lr auto or --steps auto/);
  await assert.rejects(cli(dir, 'unlearn', '--from', 'ft', '--method', 'gradient-ascent', '--lr', 'auto', '--steps', 'auto', '--no-adapter'), /only one step can be searched at a time/);
  await assert.rejects(cli(dir, 'sequential', '--from', 'ft', '--eta', 'auto'), /--eta auto searches a step for one run \(unlearn, or each target of compare-targets\); sequential applies one step/);
});

test('compare-targets --eta auto: each target at its own searched step, the one `unlearn --eta auto` of that target chooses', async () => {
  const c = chains.plain!;
  const r = await cli(c.dir, 'compare-targets', '--from', 'ft', '--eta', 'auto', '--targets', 'all;embedding', '--out', 'ct-auto', '--json');
  const rows = (JSON.parse(r.stdout) as { rows: Array<{ target: string; settings: { eta: number } }> }).rows;
  assert.deepEqual(rows.map((x) => x.target), ['all', 'embedding']);
  assert.equal(rows[0]!.settings.eta, c.result.stepSearch.chosen, 'target all: the step unlearn --eta auto chose');
  assert.ok(rows[1]!.settings.eta > 0);
  const md = fs.readFileSync(path.join(c.dir, 'ct-auto', 'compare-targets.md'), 'utf8');
  for (const x of rows) assert.ok(md.includes(`eta ${Number(x.settings.eta.toPrecision(4))}`), `the table shows ${x.target}'s step`);
});
