/**
 * Removal strategies and comparisons on a tiny fine-tune (stories260K, 10 Dave facts, 10 retain
 * facts, 6 decoys; 2 epochs): iterative removal stops each example at its criterion and logs every
 * iteration; a fuzzy request selects the Dave facts and unlearns them; sequential requests report
 * drift from the fine-tuned model; compare-targets runs one method per layer target with
 * Holm-corrected tests; benchUnlearn times methods against the retain-only model.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { prepare, makeContext, type Prepared } from '../../src/unlearn/prepare.ts';
import { iterativeRemoval } from '../../src/unlearn/iterative.ts';
import { runUnlearn } from '../../src/unlearn/run.ts';
import { sequentialUnlearn } from '../../src/unlearn/sequential.ts';
import { targetsMarkdown } from '../../src/unlearn/targets.ts';
import { compareTargetsAction } from '../../src/actions/compareTargets.ts';
import { benchUnlearn } from '../../src/bench/unlearn.ts';
import { scoreSequences } from '../../src/eval/perplexity.ts';
import { resolveFilter } from '../../src/model/paramGroups.ts';
import { holm } from '../../src/stats/index.ts';
import { needFixture } from '../helpers/fixtures.ts';
import { haveModel, tempDir, tinyRun } from './helpers.ts';

test('fixture present', (t) => {
  needFixture(t, 'models', 'stories260K.gguf');
});

describe('strategies on a tiny fine-tune', { skip: !haveModel && 'stories260K.gguf missing' }, () => {
  let dir: string;
  let runDir: string;
  let p: Prepared;
  before(() => {
    dir = tempDir('strategies');
    runDir = tinyRun(dir, { forget: 10, retain: 10, decoy: 6, epochs: 2 }).out;
    p = prepare({ from: runDir, evalLimit: 8 });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('iterative removal: each example stops once its NLL reaches the target; every iteration is logged', (t) => {
    const { method, ctx } = makeContext(p, { method: 'first-epoch' });
    try {
      const start = scoreSequences(ctx.pool.model, p.forget, 8, ctx.pool).items;
      const target = start.reduce((a, s) => a + s.meanNll, 0) / start.length + 0.6;
      const r = iterativeRemoval(method, ctx, { groupSize: 3, maxIterations: 2, target, hyper: { eta: 0.5 } });
      t.diagnostic(`target ${target.toFixed(3)}: ${r.perExample.filter((e) => e.reached).length}/${r.perExample.length} reached it in ${r.methodCalls} calls; iterations ${r.perExample.map((e) => e.iterations).join(",")}`);
      assert.equal(r.groups, 4);
      assert.equal(r.log.length, r.methodCalls);
      const reachedAt = new Map<string, number>();
      for (const [k, entry] of r.log.entries()) {
        for (const id of entry.active) assert.ok(!reachedAt.has(id), `${id} ran again after reaching the target`);
        for (const id of entry.reached) {
          assert.ok(entry.nll[id]! >= target, `${id} marked as reached with NLL ${entry.nll[id]} < ${target}`);
          reachedAt.set(id, k);
        }
        for (const id of entry.active) if (!entry.reached.includes(id)) assert.ok(entry.nll[id]! < target);
      }
      for (const e of r.perExample) {
        assert.equal(e.reached, reachedAt.has(e.id) || e.nllBefore >= target);
        if (!e.reached) assert.equal(e.iterations, 2, `${e.id} stopped early without reaching the target`);
        assert.ok(e.nllAfter > e.nllBefore, `${e.id}: loss should rise`);
      }
      assert.ok(reachedAt.size > 0, "some example should reach the target");
      assert.ok(r.perExample.some((e) => !e.reached), "with 2 iterations some example should stop short of the target");
    } finally {
      ctx.pool.dispose();
    }
  });

  test('fuzzy strategy: a request selects the Dave facts (not the decoys) and unlearns them, with an adapter', async () => {
    const pf = prepare({ from: runDir, evalLimit: 8, request: 'forget everything about Dave Harrowgate' });
    const r = await runUnlearn({ from: runDir, method: 'first-epoch', hyper: { eta: 0.5 }, prepared: pf, adaptersDir: path.join(dir, 'adapters'), runId: 'fuzzy-run', quiet: true, request: 'forget everything about Dave Harrowgate' });
    assert.equal(r.strategy, 'fuzzy');
    assert.equal(r.selection!.report.precision, 1);
    assert.equal(r.selection!.report.recall, 1);
    assert.equal(r.selection!.report.decoys.total, 6);
    assert.equal(r.selection!.report.decoys.caught, 0);
    assert.deepEqual([...r.forget.ids].sort(), p.forget.map((e) => e.id).sort());
    const f = r.comparison.sets.find((s) => s.set === 'forget')!;
    assert.ok(f.meanLogLikChange < 0 && f.test!.t > 0, 'forget NLL should rise');
    assert.ok(r.comparison.sets.some((s) => s.set === 'decoy'));
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'adapters', 'fuzzy-run', 'meta.json'), 'utf8'));
    assert.equal(meta.request, 'forget everything about Dave Harrowgate');
    assert.equal(meta.selection.precision, 1);
  });

  test('sequential requests: drift of every set is reported after each request', () => {
    const requests = [
      { name: 'first half', forget: p.forget.slice(0, 5) },
      { name: 'second half', forget: p.forget.slice(5) },
    ];
    const r = sequentialUnlearn(p, { method: 'first-epoch', hyper: { eta: 0.5 }, requests });
    assert.equal(r.steps.length, 3);
    for (const d of r.steps[0]!.drift) {
      assert.equal(d.perplexityRatio, 1);
      assert.equal(d.nllChange, 0);
    }
    const last = r.steps[2]!;
    assert.deepEqual(last.drift.map((d) => d.set), Object.keys(p.evalSets.sets));
    // each request's own examples are more forgotten after it ran than before
    assert.ok(r.steps[1]!.requests['first half']! > r.steps[0]!.requests['first half']!);
    assert.ok(r.steps[2]!.requests['second half']! > r.steps[1]!.requests['second half']!);
    // the total change is the sum of both requests' changes: re-applying it reproduces the model
    for (const [n, d] of r.deltas) {
      const w = p.model.weights.get(n)!.data;
      const m = r.model.weights.get(n)!.data;
      for (let i = 0; i < d.length; i += 97) assert.ok(Math.abs(w[i]! + d[i]! - m[i]!) < 1e-5);
    }
  });

  test('compare-targets: one row per target, deltas inside each target, Holm across targets; each row is the unlearn run of its target', async () => {
    const out = path.join(dir, 'compare-targets');
    const { comparison: c, runs, files } = await compareTargetsAction({ from: runDir, prepared: p, method: 'first-epoch', targets: ['block:0', 'output', 'embedding'], hyper: { eta: 0.5 }, out, quiet: true });
    assert.deepEqual(c.rows.map((r) => r.target), ['block:0', 'output', 'embedding']);
    for (const r of c.rows) assert.deepEqual(r.tensors, resolveFilter(r.target, p.model.config));
    const ps = c.rows.map((r) => r.comparison.sets.find((s) => s.set === 'forget')!.test!.p);
    const adj = holm(ps).adjusted;
    c.rows.forEach((r, i) => assert.equal(r.holmP.forget, adj[i]));
    // nothing per target is written without adaptersDir; each row is measured in memory
    assert.deepEqual(runs.map((r) => r.measured), ['in memory', 'in memory', 'in memory']);
    // one path: the row of a target is exactly what `unlearn --no-adapter` of that target measures
    const alone = await runUnlearn({ from: runDir, prepared: p, method: 'first-epoch', target: 'output', hyper: { eta: 0.5 }, noAdapter: true, quiet: true });
    // (pHolm aside: the comparison adjusts it across the targets)
    const noHolm = (x: unknown) => JSON.parse(JSON.stringify(x, (k, v) => (k === 'pHolm' ? undefined : v)));
    assert.deepEqual(noHolm(c.rows[1]!.comparison), noHolm(alone.comparison));
    const md = targetsMarkdown(c);
    const table = md.trim().split('\n').filter((l) => l.startsWith('|'));
    assert.equal(table.length, 2 + 3); // header, rule, one row per target
    assert.match(md, c.best ? new RegExp(`Recommended: \\*\\*${c.best.replace(/[:]/g, '\\$&')}\\*\\*`) : /No target stays within the utility budget/);
    // the written files: the JSON is the comparison, the Markdown has the title and the same table
    assert.deepEqual(JSON.parse(fs.readFileSync(files!.json, 'utf8')).rows.map((r: { target: string }) => r.target), ['block:0', 'output', 'embedding']);
    const written = fs.readFileSync(path.join(out, 'compare-targets.md'), 'utf8');
    assert.ok(written.startsWith('# first-epoch across layer targets\n\n10 forget examples from '));
    assert.ok(written.endsWith(md), 'compare-targets.md ends with the table targetsMarkdown renders');
  });

  test('benchUnlearn: each method\'s time over the retain-only model\'s', async (t) => {
    const r = await benchUnlearn({ from: runDir, methods: ['first-epoch', 'gradient-ascent'], quick: true, quiet: true, workDir: path.join(dir, 'bench') });
    t.diagnostic(`retain-only ${r.oracle.seconds.toFixed(2)} s; ${r.methods.map((m) => `${m.method} ${m.seconds.toFixed(3)} s (x${m.ratio.toFixed(4)})`).join(', ')}`);
    assert.deepEqual(r.methods.map((m) => m.method), ['first-epoch', 'gradient-ascent']);
    assert.ok(r.oracle.seconds > 0);
    for (const m of r.methods) assert.ok(Math.abs(m.ratio - m.seconds / r.oracle.seconds) < 1e-12);
    assert.equal(r.items.forget, 10);
    assert.equal(r.items.retain, 16);
  });
});
