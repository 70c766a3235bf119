/**
 * The one paired comparison (stats/paired.ts): scipy's ttest_rel numbers (the README's example:
 * scipy.stats.ttest_rel([2.1, 2.9, 3.4, 4.4], [1.8, 2.5, 3.1, 3.6]) = t 3.7807562268756243, p 0.03242671343322571),
 * pairing by id, and Holm across a family.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { pairedComparison, pairedById, holmFamily } from '../../src/stats/paired.ts';

test('pairedComparison: t, df, p as scipy ttest_rel(after, before); d_z, CI; non-finite pairs left out', () => {
  const c = pairedComparison(['a', 'b', 'c', 'd', 'e'], [1.8, 2.5, 3.1, 3.6, NaN], [2.1, 2.9, 3.4, 4.4, 1])!;
  assert.equal(c.n, 4);
  assert.equal(c.unmatched, 1);
  assert.deepEqual(c.ids, ['a', 'b', 'c', 'd']);
  assert.ok(Math.abs(c.t - 3.7807562268756243) < 1e-12, String(c.t));
  assert.equal(c.df, 3);
  assert.ok(Math.abs(c.p - 0.03242671343322571) < 1e-12, String(c.p));
  assert.ok(Math.abs(c.meanDiff - 0.45) < 1e-12);
  assert.ok(Math.abs(c.dz - c.t / 2) < 1e-12); // d_z = t / sqrt(n)
  assert.ok(c.ci95[0] < c.meanDiff && c.meanDiff < c.ci95[1]);
  assert.equal(c.pHolm, c.p);
  assert.equal(pairedComparison(['a'], [1], [2]), null);
});

test('pairedById pairs by id in after\'s order and counts the unmatched; holmFamily adjusts a family', () => {
  const c = pairedById({ ids: ['x', 'y', 'z', 'q'], values: [1, 2, 3, 9] }, { ids: ['z', 'y', 'x', 'w'], values: [3.5, 2.2, 1.4, 0] })!;
  assert.deepEqual(c.ids, ['z', 'y', 'x']);
  assert.deepEqual(c.valuesBefore, [3, 2, 1]);
  assert.equal(c.unmatched, 2);
  const fam = [{ p: 0.01, pHolm: NaN }, { p: 0.04, pHolm: NaN }, { p: 0.03, pHolm: NaN }, { p: NaN, pHolm: 0 }];
  holmFamily(fam);
  // Holm: sorted 0.01, 0.03, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04)
  assert.deepEqual(fam.map((f) => f.pHolm), [0.03, 0.06, 0.06, NaN]);
});
