/** Membership-inference scores: hand-worked values; zlib byte counts from Python's zlib. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanNll, minKPercent, zlibEntropy, zlibRatio, miaScores, miaAuc } from '../../src/eval/mia.ts';
import { UserError } from '../../src/util/errors.ts';

function near(actual: number, expected: number, label = ''): void {
  assert.ok(Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)), `${label}: expected ${expected}, got ${actual}`);
}

const LP = [-0.5, -2.0, -0.1, -3.0, -1.4];

test('LOSS: mean NLL by hand', () => {
  // (0.5 + 2.0 + 0.1 + 3.0 + 1.4) / 5 = 7.0 / 5 = 1.4
  near(meanNll(LP), 1.4, 'nll');
});

test('Min-K%: mean of the lowest floor(k n) log-probs, at least one', () => {
  // k = 0.2: floor(5 * 0.2) = 1 -> lowest = -3.0
  near(minKPercent(LP), -3.0, 'k=0.2');
  // k = 0.5: floor(2.5) = 2 -> (-3.0 + -2.0) / 2 = -2.5
  near(minKPercent(LP, 0.5), -2.5, 'k=0.5');
  // k = 0.1: floor(0.5) = 0 -> at least one token -> -3.0
  near(minKPercent(LP, 0.1), -3.0, 'k=0.1');
  // k = 1: plain mean log-prob = -1.4
  near(minKPercent(LP, 1), -1.4, 'k=1');
});

test('zlib entropy equals Python len(zlib.compress(text.encode("utf-8")))', () => {
  // /usr/bin/python3: len(zlib.compress(t.encode('utf-8'))) for each t
  assert.equal(zlibEntropy('Dave was born in Paris.'), 31);
  assert.equal(zlibEntropy('a'.repeat(40)), 12);
  assert.equal(zlibEntropy(''), 8);
  assert.equal(zlibEntropy('Café – naïve 日本語'), 37);
  // Repetitive text exercises the match finder, where Node's bundled zlib (Chromium fork, 1.3.1 here)
  // and the system zlib behind Python (1.2.13) may choose different matches: 55 vs Python's 54.
  const rep = zlibEntropy('the quick brown fox jumps over the lazy dog '.repeat(5));
  assert.ok(Math.abs(rep - 54) <= 1, `repetitive text: ${rep} bytes, Python 54`);
});

test('zlib ratio: mean NLL / zlib bytes (Carlini et al.), or summed NLL on request', () => {
  // mean: 1.4 / 31; sum: 7.0 / 31
  near(zlibRatio(LP, 'Dave was born in Paris.'), 1.4 / 31, 'mean');
  near(zlibRatio(LP, 'Dave was born in Paris.', { nll: 'sum' }), 7.0 / 31, 'sum');
  const s = miaScores(LP, 'Dave was born in Paris.');
  near(s.loss, -1.4, 'loss score');
  near(s.zlib, -1.4 / 31, 'zlib score');
  near(s.minK, -3.0, 'minK score');
});

test('miaAuc: higher score = member; ties count one half', () => {
  // members [-1.0, -1.2, -2.0] vs non-members [-1.5, -2.0, -2.5]:
  // -1.0 beats 3, -1.2 beats 3, -2.0 beats -2.5 (1) and ties -2.0 (1/2) -> 7.5 / 9
  near(miaAuc([-1.0, -1.2, -2.0], [-1.5, -2.0, -2.5]), 7.5 / 9, 'auc');
  // the LOSS score orientation: a member text with lower loss gets the higher score -> AUC 1
  const member = miaScores([-0.1, -0.2], 'x').loss;
  const nonMember = miaScores([-2.0, -3.0], 'x').loss;
  assert.equal(miaAuc([member], [nonMember]), 1);
});

test('bad log-probabilities are UserErrors', () => {
  assert.throws(() => meanNll([]), (e: unknown) => e instanceof UserError && /at least one/.test(e.message));
  assert.throws(() => meanNll([-1, -Infinity]), (e: unknown) => e instanceof UserError && /log-probability 1/.test(e.message));
  assert.throws(() => minKPercent([-1, 0.7]), (e: unknown) => e instanceof UserError && /> 0/.test(e.message));
  assert.throws(() => minKPercent([-1], 0), UserError);
  assert.throws(() => zlibRatio([-1], 'x', { nll: 'max' as never }), UserError);
});
