/**
 * Choosing a layer target by the trade-off, never by forget effect alone (issue #20,
 * src/unlearn/pareto.ts): the Pareto front of (forget effect, utility cost) checked against a brute
 * force over every pair, the recommendation (largest forget effect on the front within the budget)
 * against the definition, compare-targets' Markdown and the TUI's ★ (bestTradeoffRow) on the same rows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { paretoFront, bestWithinBudget, tradeoffOf, tradeoffOrder, type TradeoffPoint } from '../../src/unlearn/pareto.ts';
import { markTradeoffs, targetsMarkdown, type TargetComparison, type TargetRow } from '../../src/unlearn/targets.ts';
import { compareViewFromRows, bestTradeoffRow } from '../../src/tui/lib/compare.ts';
import { Rng } from '../../src/util/rng.ts';

test('Pareto front and the recommendation equal their definitions on random point sets', () => {
  const rng = new Rng(7);
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + Math.floor(rng.next() * 8);
    // coarse values so that ties occur
    const pts: TradeoffPoint[] = Array.from({ length: n }, () => ({ forgetEffect: Math.round(rng.next() * 6) / 2, utilityCost: Math.round(rng.next() * 6) / 40 }));
    const front = paretoFront(pts);
    pts.forEach((p, i) => {
      const dominated = pts.some((q, j) => j !== i && q.forgetEffect >= p.forgetEffect && q.utilityCost <= p.utilityCost && (q.forgetEffect > p.forgetEffect || q.utilityCost < p.utilityCost));
      assert.equal(front[i], !dominated, JSON.stringify({ pts, i }));
    });
    const budget = 0.05;
    const b = bestWithinBudget(pts, budget);
    const ok = pts.map((p, i) => i).filter((i) => front[i] && pts[i]!.utilityCost <= budget);
    if (!ok.length) assert.equal(b, -1);
    else {
      assert.ok(ok.includes(b));
      assert.equal(pts[b]!.forgetEffect, Math.max(...ok.map((i) => pts[i]!.forgetEffect)));
      // and it is the largest forget effect of ALL points within budget (the front loses none of them)
      assert.equal(pts[b]!.forgetEffect, Math.max(...pts.filter((p) => p.utilityCost <= budget).map((p) => p.forgetEffect)));
    }
    const order = tradeoffOrder(pts);
    assert.deepEqual([...order].sort((x, y) => x - y), pts.map((_, i) => i));
    const k = front.filter(Boolean).length;
    assert.ok(order.slice(0, k).every((i) => front[i]), 'the front comes first');
  }
});

test('tradeoffOf: ln of the forget ratio, the larger retain / general rise; missing sets', () => {
  assert.deepEqual(tradeoffOf({ forget: Math.E, retain: 1.02, general: 1.04 }), { forgetEffect: 1, utilityCost: 1.04 - 1 });
  assert.deepEqual(tradeoffOf({ forget: 2, retain: 0.9 }), { forgetEffect: Math.log(2), utilityCost: 0.9 - 1 });
  const none = tradeoffOf({ forget: 2 });
  assert.ok(Number.isNaN(none.utilityCost), 'no utility set: no cost, so never recommended');
  assert.equal(bestWithinBudget([none], 0.05), -1);
});

/** A compare-targets row with these perplexity ratios (mean NLLs consistent with them). */
function row(target: string, forget: number, retain: number, general: number): TargetRow {
  const set = (name: string, ratio: number, nll0: number) => ({ set: name, n: 10, meanNllBefore: nll0, meanNllAfter: nll0 + Math.log(ratio), perplexityBefore: Math.exp(nll0), perplexityAfter: Math.exp(nll0) * ratio, perplexityRatio: ratio, meanLogLikChange: -Math.log(ratio), test: null });
  return { target, tensors: [], parameters: 1, seconds: 0, deltaNorm: 0, settings: {}, comparison: { sets: [set('forget', forget, 1), set('retain', retain, 1.5), set('general', general, 3)], rouge: [] }, holmP: {} };
}

test('compare-targets and the TUI star: the largest forget effect is not recommended when it breaks the utility budget', () => {
  // 'all' has by far the largest forget effect but costs +40% general perplexity; 'embedding' is the
  // best within +5%; 'block:1' is dominated by 'embedding'; 'output' costs nothing and does little
  const rows = [row('all', 50, 1.1, 1.4), row('embedding', 4, 1.03, 1.01), row('block:1', 2, 1.04, 1.02), row('output', 1.1, 1.0, 0.99)];
  const c: TargetComparison = { method: 'first-epoch', hyper: {}, before: { sets: {}, seconds: 0 }, rows };
  const { best } = markTradeoffs(rows, 0.05);
  assert.equal(best, 'embedding');
  assert.deepEqual(rows.map((r) => r.pareto), [true, true, false, true]);
  assert.ok(Math.abs(rows[0]!.utilityCost! - 0.4) < 1e-12);
  assert.ok(Math.abs(rows[1]!.forgetEffect! - Math.log(4)) < 1e-12);
  const md = targetsMarkdown(c);
  assert.match(md, /Recommended: \*\*embedding\*\*/);
  const body = md.split('\n').filter((l) => /^\| (all|embedding|block:1|output)/.test(l)).map((l) => l.split('|')[1]!.trim());
  assert.deepEqual(body, ['output', 'embedding ★', 'all', 'block:1'], 'the front by rising utility cost, then the rest');
  // the TUI's star from the same rows (its cells hold mean NLLs: ratio = exp(after - before))
  const view = compareViewFromRows('first-epoch', rows);
  assert.equal(view.rows[bestTradeoffRow(view)]!.target, 'embedding');
  // a tighter budget: only 'output' stays within
  assert.equal(markTradeoffs(rows, 0.001).best, 'output');
  assert.equal(view.rows[bestTradeoffRow(view, 0.001)]!.target, 'output');
  // nothing within budget: no recommendation, and the Markdown says so
  const over = [row('all', 50, 1.1, 1.4), row('embedding', 4, 1.3, 1.2)];
  const c2: TargetComparison = { method: 'first-epoch', hyper: {}, before: { sets: {}, seconds: 0 }, rows: over };
  assert.equal(markTradeoffs(over).best, null);
  Object.assign(c2, markTradeoffs(over));
  assert.match(targetsMarkdown(c2), /No target stays within the utility budget \+5\.0%/);
  assert.equal(bestTradeoffRow(compareViewFromRows('x', over)), -1);
});
