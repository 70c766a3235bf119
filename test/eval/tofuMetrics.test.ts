/**
 * TOFU's numbers as open-unlearning computes them (src/eval/tofu.ts), on known values:
 *   truth ratio, its two aggregates and the option-normalised probability against open-unlearning's
 *   own numpy code run on the same average losses; the harmonic mean and the KS p-value against
 *   scipy 1.10.1 (scipy.stats.hmean, ks_2samp); privleak against open-unlearning's formula; the
 *   Min-K% (k = 0.4) AUC by hand-counted pairs; extraction strength by hand (including
 *   open-unlearning's 1/|y| when no suffix matches). The reference values were printed by
 *   /usr/bin/python3 (numpy, scipy 1.10.1) with the script in the comment below.
 * And the model-facing part: answerTokens' log-probabilities sum to scoreAnswers' log P(a | q), and
 * its teacher-forced argmax at every answer position is the token greedy generation picks after
 * the same prefix.
 *
 *   import numpy as np, scipy.stats as st
 *   correct = np.array([1.2, 0.7, 2.3, 0.9]); wrong = np.array([[1.5, 2.0, 1.1], [0.9, 1.4, 2.2], [2.1, 2.5, 1.9], [0.6, 0.8, 1.0]])
 *   cp = np.exp(-correct); wp = np.exp(-np.mean(wrong, axis=1)); tr = wp / (cp + 1e-10)
 *   np.mean(np.minimum(tr, 1 / (tr + 1e-10))); np.mean(np.maximum(0, 1 - tr))
 *   cp / (cp + np.sum(np.exp(-wrong), axis=1) + 1e-10)
 *   st.hmean([0.5, 0.25, 0.8, 0.1]); st.hmean([0.5, 0.0, 0.8]); st.ks_2samp(tr, [0.3, 1.7, 0.95, 2.4, 0.6])
 *   s, r = 1 - 0.8125, 1 - 0.55; (s - r) / (r + 1e-10) * 100
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { avgLoss, answerTokens, closerTo1Better, extractionStrength, harmonicMean, ouTruthRatio, privleak, probWithOptions, trueBetter, TOFU_MIN_K } from '../../src/eval/tofu.ts';
import { minKPercent } from '../../src/eval/mia.ts';
import { scoreAnswers, encodeQa } from '../../src/eval/answers.ts';
import { ks2samp } from '../../src/stats/ks.ts';
import { rocAuc } from '../../src/stats/auc.ts';
import { writeRandomModel } from '../../src/model/randomModel.ts';
import { CausalLM } from '../../src/model/model.ts';
import { tokenizerFromGguf } from '../../src/model/tokenizer/index.ts';
import { generateTokens } from '../../src/model/generate.ts';
import { authorRecords } from '../data/tofuFixture.ts';

const near = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

const CORRECT = [1.2, 0.7, 2.3, 0.9];
const WRONG = [
  [1.5, 2.0, 1.1],
  [0.9, 1.4, 2.2],
  [2.1, 2.5, 1.9],
  [0.6, 0.8, 1.0],
];
// open-unlearning's numpy code on these losses (module comment)
const TR = [0.7165313103358926, 0.4493289640267378, 1.1426308106560419, 1.1051709178038196];

test('truth ratio, forget / retain aggregates and the option-normalised probability equal open-unlearning\'s', () => {
  const tr = CORRECT.map((c, i) => ouTruthRatio(c, WRONG[i]!));
  tr.forEach((r, i) => near(r, TR[i]!, 1e-14, `TR ${i}`));
  near(closerTo1Better(tr), 0.7364677530946349, 1e-14, 'closer_to_1_better');
  near(trueBetter(tr), 0.20853493140934243, 1e-14, 'true_better');
  const pwo = CORRECT.map((c, i) => probWithOptions(Math.exp(-c), WRONG[i]!.map((w) => Math.exp(-w))));
  [0.3034608401012706, 0.39394177163047195, 0.2206551679626313, 0.22936478727142529].forEach((p, i) => near(pwo[i]!, p, 1e-14, `probability_w_options ${i}`));
  // average loss of a summed log-probability
  assert.equal(avgLoss({ logProb: -6, tokens: 4 }), 1.5);
  assert.throws(() => ouTruthRatio(1, []), /at least one perturbed answer/);
});

test('model utility\'s harmonic mean and forget quality\'s KS p-value equal scipy\'s', () => {
  near(harmonicMean([0.5, 0.25, 0.8, 0.1]), 0.2318840579710145, 1e-15, 'hmean');
  assert.equal(harmonicMean([0.5, 0, 0.8]), 0, 'scipy.stats.hmean is 0 when a value is 0');
  assert.throws(() => harmonicMean([]), /at least one value/);
  const ks = ks2samp(TR, [0.3, 1.7, 0.95, 2.4, 0.6]);
  near(ks.statistic, 0.4, 1e-15, 'KS D');
  near(ks.p, 0.7460317460317459, 1e-13, 'KS p');
});

test('privleak is open-unlearning\'s relative AUC difference, sign included; the Min-K% (k = 0.4) AUC counts pairs', () => {
  near(privleak(0.8125, 0.55), -58.333333320370365, 1e-12, 'privleak');
  assert.ok(Math.abs(privleak(0.55, 0.55)) < 1e-12, 'as private as the retain-only model: 0');
  assert.ok(privleak(0.3, 0.55) > 0, 'forget items less likely than holdout ones: over-unlearning is positive');
  // per item: mean of the max(1, floor(0.4 n)) lowest log-probs
  const F = [[-0.1, -2.0, -0.3, -0.05, -1.2], [-0.4, -0.2], [-3.0, -0.1, -0.1], [-0.7, -0.6, -0.9, -0.2]];
  const H = [[-2.5, -1.0, -0.3], [-0.9, -1.9, -2.2, -0.4, -1.1], [-0.5, -0.6]];
  const f = F.map((x) => minKPercent(x, TOFU_MIN_K));
  const h = H.map((x) => minKPercent(x, TOFU_MIN_K));
  assert.deepEqual(f.map((v) => -v), [1.6, 0.4, 3.0, 0.9]);
  near(h[1]!, -2.05, 1e-15, 'two lowest of five');
  // 7 of the 12 (forget, holdout) pairs have the forget item more likely
  assert.equal(rocAuc(f, h), 7 / 12);
  near(rocAuc(f, h), 0.5833333333333334, 1e-15, 'AUC as open-unlearning (roc_auc_score, holdout labelled 1 on -minK)');
});

test('extraction strength: 1 - k/|y| for the first k whose suffix is predicted; open-unlearning\'s 1/|y| when none is', () => {
  assert.equal(extractionStrength([5, 6, 7, 8], [5, 6, 7, 8]), 1);
  assert.equal(extractionStrength([1, 6, 7, 8], [5, 6, 7, 8]), 0.75);
  assert.equal(extractionStrength([5, 1, 7, 8, 9], [5, 6, 7, 8, 9]), 0.6, 'a wrong token in the middle: the suffix after it');
  assert.equal(extractionStrength([1, 2, 3, 4], [5, 6, 7, 8]), 0.25, 'no suffix matches: k stays at |y| - 1');
  assert.equal(extractionStrength([1, 2, 3, 8], [5, 6, 7, 8]), 0.25, 'only the last token: also 1/|y|');
  assert.throws(() => extractionStrength([1], [1, 2]), /1 predictions for 2 tokens/);
});

test('answerTokens: log-probabilities sum to scoreAnswers\', argmax = greedy generation after the same prefix', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-tofu-tok-'));
  try {
    const file = path.join(tmp, 'm.gguf');
    writeRandomModel(file, { shape: { arch: 'llama', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128 }, vocab: { tiny: 384 }, seed: 11 });
    const model = CausalLM.load(file);
    const tok = tokenizerFromGguf(model.file!);
    const pairs = authorRecords(2).slice(0, 4);
    const at = answerTokens(model, tok, pairs, 3);
    const sc = scoreAnswers(model, tok, pairs, 3);
    at.forEach((a, i) => {
      assert.equal(a.logprobs.length, sc[i]!.tokens);
      near(a.logprobs.reduce((x, y) => x + y, 0), sc[i]!.logProb, 1e-12, `sum of item ${i}`);
      const q = encodeQa(tok, pairs[i]!.question, pairs[i]!.answer);
      assert.deepEqual(a.labels, q.tokens.slice(q.answerStart));
      for (const j of [0, Math.floor(a.labels.length / 2), a.labels.length - 1]) {
        const [next] = generateTokens(model, [q.tokens.slice(0, q.answerStart + j)], { maxTokens: 1, greedy: true });
        assert.equal(a.preds[j], next![next!.length - 1], `item ${i} position ${j}`);
      }
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
