/** The package's typed entry points (package.json "exports"), imported by package name as a user would. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairedTTest } from 'unlearnkit/stats';
import { evaluate, makeIntervalEvaluator, rouge, listMetrics } from 'unlearnkit/eval';
import { writeRunReport, comparePaired } from 'unlearnkit/report';
import * as unlearnkit from 'unlearnkit';
import { pairedTTest as srcPairedTTest } from '../../src/stats/index.ts';
import { evaluate as srcEvaluate } from '../../src/eval/index.ts';

test('unlearnkit/stats, unlearnkit/eval, unlearnkit/report and unlearnkit resolve to the library', () => {
  assert.equal(pairedTTest, srcPairedTTest);
  assert.equal(evaluate, srcEvaluate);
  assert.equal(unlearnkit.stats.pairedTTest, srcPairedTTest);
  assert.equal(unlearnkit.evaluate, srcEvaluate);
  for (const f of [makeIntervalEvaluator, writeRunReport, comparePaired, unlearnkit.getDataset, unlearnkit.buildReport]) assert.equal(typeof f, 'function');
  assert.ok(listMetrics().length >= 6);
  // the README example; scipy.stats.ttest_rel([2.1, 2.9, 3.4, 4.4], [1.8, 2.5, 3.1, 3.6]): statistic
  // 3.7807562268756243, pvalue 0.03242671343322572, confidence_interval() (0.07121312471892932, 0.8287868752810708)
  const r = pairedTTest([2.1, 2.9, 3.4, 4.4], [1.8, 2.5, 3.1, 3.6]);
  assert.equal(r.df, 3);
  assert.ok(Math.abs(r.t - 3.7807562268756243) < 1e-9);
  assert.ok(Math.abs(r.p - 0.03242671343322572) < 1e-9);
  assert.ok(Math.abs(r.ci95[0] - 0.07121312471892932) < 1e-9 && Math.abs(r.ci95[1] - 0.8287868752810708) < 1e-9);
  assert.ok(Math.abs(r.meanDiff - 0.45) < 1e-12);
  assert.equal(rouge('Dave was born in Thornbury', 'Thornbury').rouge1.recall, 1);
});
