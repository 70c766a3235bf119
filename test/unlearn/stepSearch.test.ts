/**
 * Safe step sizes (issue #20, src/unlearn/stepSearch.ts) on a tiny fine-tune of stories260K on Dave
 * facts (the Dave dataset has retain facts and general texts, so both utility sets are searched):
 *   - `--eta auto` (first-epoch) picks the largest tried eta whose retain and general perplexity rise
 *     stays within +5 % on a validation part that no reported set holds; the chosen model, written
 *     as merged.gguf, is re-scored by llama.cpp (node-llama-cpp) on the validation items: its
 *     perplexity change equals the recorded one and is within the budget;
 *   - a search that finds no step within budget says so, and the run's summary says the budget is broken;
 *   - a setting the method does not read is refused by name.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tinyRun, tempDir, haveModel } from './helpers.ts';
import { prepare } from '../../src/unlearn/prepare.ts';
import { runUnlearn, runSummaryText } from '../../src/unlearn/run.ts';
import { splitValidation, searchStep, DEFAULT_UTILITY_BUDGET } from '../../src/unlearn/stepSearch.ts';
import { LlamaCppScorer, needLlamaCpp } from '../helpers/llamacpp.ts';
import type { Example } from '../../src/unlearn/types.ts';

// one engine thread: the many small graphs of a search spin-wait on a shared 2-core machine otherwise (3x slower)
process.env.UNLEARNKIT_THREADS ??= '1';
const dir = tempDir('stepsearch');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Per set: each example's mean NLL and predicted tokens under a GGUF, computed by llama.cpp. */
async function llamaItems(model: string, sets: Record<string, Example[]>): Promise<Record<string, Array<{ nll: number; tokens: number }>>> {
  const s = await LlamaCppScorer.open(model, { threads: 1 });
  try {
    const out: Record<string, Array<{ nll: number; tokens: number }>> = {};
    for (const [name, ex] of Object.entries(sets)) {
      out[name] = [];
      for (const e of ex) {
        const lp = await s.logprobs(e.tokens);
        out[name]!.push({ nll: -lp.logprobs.reduce((a, b) => a + b, 0) / lp.logprobs.length, tokens: lp.logprobs.length });
      }
    }
    return out;
  } finally {
    await s.dispose();
  }
}

let ft: ReturnType<typeof tinyRun>;
before(() => {
  if (haveModel) ft = tinyRun(dir, { forget: 8, retain: 24, epochs: 2 });
});

test('--eta auto: the largest eta within +5% retain / general perplexity on a validation part the reported sets do not hold', { skip: !haveModel }, async (t) => {
  const p = prepare({ from: ft.out, data: 'dave', evalLimit: 8 });
  const r = await runUnlearn({ prepared: p, from: ft.out, method: 'first-epoch', search: 'eta', adaptersDir: path.join(dir, 'adapters'), runId: 'auto', merged: true, quiet: true });
  const s = r.stepSearch!;
  assert.equal(s.param, 'eta');
  assert.equal(s.budget, DEFAULT_UTILITY_BUDGET);
  assert.equal(s.start, 1, 'the search starts at the one default step, eta 1');
  // the validation part: both utility sets, disjoint from what the run reports, deterministic
  const val = splitValidation(p);
  assert.ok(val.ids.retain!.length >= 4 && val.ids.general!.length >= 4, JSON.stringify(s.validation.ids));
  assert.deepEqual(s.validation.ids, val.ids);
  for (const set of ['retain', 'general']) {
    const reported = new Set([...r.before.sets[set]!.ids, ...r.after.sets[set]!.ids]);
    assert.ok(reported.size > 0);
    for (const id of val.ids[set]!) assert.ok(!reported.has(id), `${id} is both validation and reported (${set})`);
  }
  const again = splitValidation(prepare({ from: ft.out, data: 'dave', evalLimit: 8 }));
  assert.deepEqual(again.ids, val.ids, 'the same validation items on a fresh prepare');
  // the chosen eta: the largest within budget, bracketed by a larger one over it (the first try, eta 1, is over here)
  const within = s.tries.filter((x) => x.within);
  assert.ok(s.within && within.length > 0);
  assert.equal(s.chosen, Math.max(...within.map((x) => x.value)));
  assert.ok(s.tries.some((x) => !x.within && x.value > s.chosen), 'a larger step was tried and broke the budget');
  for (const x of s.tries) {
    assert.equal(x.within, x.costUpper <= s.budget, 'within: the 95% upper bound of the cost');
    assert.ok(x.costUpper >= x.cost);
  }
  assert.equal(r.settings.eta, s.chosen, 'the run used the chosen eta');
  // the chosen model as written (merged.gguf), re-scored by llama.cpp on the validation items
  if (await needLlamaCpp(t)) {
    const chosen = s.tries.find((x) => x.value === s.chosen)!;
    const b = await llamaItems(ft.checkpoint, val.sets);
    const a = await llamaItems(path.join(r.adapter!.dir, 'merged.gguf'), val.sets);
    const uppers: number[] = [];
    for (const set of ['retain', 'general'] as const) {
      // perplexity ratio = exp(token-weighted mean of the per-item NLL changes); the bound adds 1.645 standard errors
      const w = a[set]!.map((x) => x.tokens);
      const d = a[set]!.map((x, i) => x.nll - b[set]![i]!.nll);
      const W = w.reduce((x, y) => x + y, 0);
      const D = d.reduce((x, v, i) => x + w[i]! * v, 0) / W;
      const se = Math.sqrt(d.reduce((x, v, i) => x + (w[i]! * (v - D)) ** 2, 0)) / W;
      const change = Math.exp(D) - 1;
      uppers.push(Math.exp(D + 1.645 * se) - 1);
      assert.ok(Math.abs(change - chosen[set]!) < 1e-4, `${set}: llama.cpp change ${change} vs recorded ${chosen[set]}`);
      assert.ok(change <= s.budget, `${set} perplexity rose ${change} > budget ${s.budget}`);
    }
    assert.ok(Math.abs(Math.max(...uppers) - chosen.costUpper) < 1e-4, `95% bound: llama.cpp ${Math.max(...uppers)} vs recorded ${chosen.costUpper}`);
    assert.ok(chosen.costUpper <= s.budget);
  }
  // the search is in the summary, result.json and report.md
  assert.match(runSummaryText(r), /--eta auto: largest step within the utility budget \+5\.0%/);
  const onDisk = JSON.parse(fs.readFileSync(path.join(r.adapter!.dir, 'result.json'), 'utf8')) as { stepSearch: { tries: unknown[]; chosen: number } };
  assert.equal(onDisk.stepSearch.chosen, s.chosen);
  assert.equal(onDisk.stepSearch.tries.length, s.tries.length);
  assert.match(fs.readFileSync(path.join(r.adapter!.dir, 'report.md'), 'utf8'), /<- chosen/);
  // the forget set still moved
  const f = r.comparison.sets.find((x) => x.set === 'forget')!;
  assert.ok(f.perplexityRatio > 1 && f.test!.p < 0.05, `forget x${f.perplexityRatio} p ${f.test?.p}`);
});

test('--steps auto with no step within budget says so, and so does the run summary; settings a method does not read are refused', { skip: !haveModel }, async () => {
  const p = prepare({ from: ft.out, data: 'dave', evalLimit: 8 });
  // gradient ascent at the fine-tune's lr (3e-3): one step already breaks the budget
  const r = await runUnlearn({ prepared: p, from: ft.out, method: 'gradient-ascent', search: 'steps', noAdapter: true, quiet: true });
  const s = r.stepSearch!;
  assert.equal(s.within, false);
  assert.deepEqual(s.tries.map((x) => x.value), [1]);
  assert.equal(s.chosen, 1);
  assert.ok(s.tries[0]!.cost > s.budget);
  assert.equal(r.utility!.within, false);
  assert.ok(r.utility!.cost > s.budget);
  const text = runSummaryText(r);
  assert.match(text, /--steps auto: NO step within the utility budget/);
  assert.match(text, /warning: utility budget broken: retain perplexity \+\d/);
  assert.throws(() => searchStep(p, { method: 'gradient-ascent', param: 'eta' }), /--eta auto: gradient-ascent does not use --eta; it can search --lr auto or --steps auto/);
  assert.throws(() => searchStep(p, { method: 'first-epoch', param: 'lr' }), /--lr auto: first-epoch does not use --lr; it can search --eta auto/);
  await assert.rejects(runUnlearn({ prepared: p, from: ft.out, method: 'first-epoch', search: 'eta', strategy: 'iterative', noAdapter: true, quiet: true }), /--eta auto searches one step for the whole forget set/);
});
