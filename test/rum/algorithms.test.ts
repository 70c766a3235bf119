/**
 * The unlearning algorithms' shared interface and registry on a tiny problem (synthetic 8x8
 * images, the tiny CNN), with one behavioural check per algorithm that could fail, and the RUM
 * meta-algorithm's refinement, shuffle control and sequential retain sets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALGORITHM_NAMES, makeAlgorithm, parseHyper, saliencyMask, type UnlearnAlgorithm, type UnlearnTask } from '../../src/rum/algorithms.ts';
import { initWeights, resolveConfig, type Weights } from '../../src/rum/model.ts';
import { trainClassifier, DEFAULT_RECIPE, meanLossGradient } from '../../src/rum/train.ts';
import { predict, trueLabelProbs } from '../../src/rum/predict.ts';
import { refineByMemorization, shuffleThirds, runSequence, parseRumTable, LEVELS } from '../../src/rum/rum.ts';
import { chooseForgetSet } from '../../src/rum/experiment.ts';
import type { ImageSet } from '../../src/data/images.ts';
import { Rng } from '../../src/util/rng.ts';
import { UserError } from '../../src/util/errors.ts';

const cfg = resolveConfig('tiny');
const recipe = { ...DEFAULT_RECIPE, epochs: 8, batch: 8 };

function tinySet(n: number, seed: number): ImageSet {
  const rng = new Rng(seed);
  const labels = Int32Array.from({ length: n }, () => rng.int(4));
  // class-dependent mean so there is something to learn
  const images = rng.normalArray(n * 3 * 64);
  for (let i = 0; i < n; i++) for (let p = 0; p < 64; p++) images[i * 192 + (labels[i]! % 3) * 64 + p] += 1;
  return { images, labels, n, c: 3, h: 8, w: 8, classes: ['a', 'b', 'c', 'd'], sources: ['synthetic'] };
}

const set = tinySet(32, 1);
const forget = Int32Array.from([1, 5, 9, 13, 17, 21]);
const retain = Int32Array.from(Array.from({ length: 32 }, (_, i) => i).filter((i) => !forget.includes(i)));
const task: UnlearnTask = { config: cfg, train: set, forget, retain, seed: 3, recipe, quiet: true };
let original: Weights | null = null;
const orig = () => (original ??= trainClassifier({ config: cfg, data: set, recipe, seed: 2, quiet: true }).weights);

const meanForgetLoss = (w: Weights) => {
  const p = trueLabelProbs(predict(cfg, w, set, forget));
  return p.reduce((s, v) => s - Math.log(Math.max(v, 1e-12)), 0) / p.length;
};
const changed = (a: Weights, b: Weights) => {
  let n = 0;
  for (const [k, v] of a) v.forEach((x, i) => (n += x !== b.get(k)![i] ? 1 : 0));
  return n;
};
const total = (w: Weights) => [...w.values()].reduce((s, v) => s + v.length, 0);

test('every registered algorithm runs through the one interface and returns finite weights of the same shapes', () => {
  assert.deepEqual(ALGORITHM_NAMES, ['retrain', 'finetune', 'l1-sparse', 'neggrad', 'neggrad+', 'salun', 'random-label']);
  const w0 = orig();
  for (const name of ALGORITHM_NAMES) {
    const a = makeAlgorithm(name, name === 'retrain' ? {} : { epochs: 2 });
    assert.equal(a.name, name);
    const w = a.run(task, w0);
    assert.deepEqual([...w.keys()], [...w0.keys()], `${name}: parameter names`);
    for (const [k, v] of w) {
      assert.equal(v.length, w0.get(k)!.length, `${name}: ${k} size`);
      assert.ok(v.every(Number.isFinite), `${name}: ${k} has non-finite values`);
    }
    assert.ok(changed(w, w0) > 0, `${name} changed nothing`);
  }
});

test('behaviour: neggrad raises the forget loss; finetune and retrain never read S; L1 shrinks weights; SalUn moves only salient weights', () => {
  const w0 = orig();
  assert.ok(meanForgetLoss(makeAlgorithm('neggrad', { epochs: 3 }).run(task, w0)) > meanForgetLoss(w0), 'gradient ascent did not raise the forget loss');
  // fine-tune trains on R only: another forget set with the same retain set gives the same weights
  const ft = makeAlgorithm('finetune', { epochs: 2 });
  const a = ft.run(task, w0);
  const b = ft.run({ ...task, forget: Int32Array.from([1]) }, w0);
  assert.equal(changed(a, b), 0);
  // retrain starts from scratch: the start weights do not matter
  const rt = makeAlgorithm('retrain');
  assert.equal(changed(rt.run(task, w0), rt.run(task, initWeights(cfg, 99))), 0);
  // a strong L1 penalty gives a smaller L1 norm than plain fine-tuning
  const l1 = makeAlgorithm('l1-sparse', { epochs: 2, gamma: 0.05 }).run(task, w0);
  const norm1 = (w: Weights) => [...w].filter(([k]) => k.endsWith('.w') && !k.includes('.gn.')).reduce((s, [, v]) => s + v.reduce((t, x) => t + Math.abs(x), 0), 0);
  assert.ok(norm1(l1) < norm1(a), `L1 norm ${norm1(l1)} not below fine-tune's ${norm1(a)}`);
  // SalUn with sparsity 0.3 changes at most ~30% of the weights
  const s = makeAlgorithm('salun', { epochs: 2, sparsity: 0.3 }).run(task, w0);
  const frac = changed(s, w0) / total(w0);
  assert.ok(frac > 0 && frac <= 0.31, `SalUn changed ${(100 * frac).toFixed(1)}% of the weights`);
});

test('saliency mask keeps the top share of |gradient|; meanLossGradient is the mean over all examples', () => {
  const g = new Map([
    ['a', Float32Array.from([0.1, -5, 0.3])],
    ['b', Float32Array.from([2, -0.2, 1])],
  ]);
  const m = saliencyMask(g, 0.5);
  assert.deepEqual(Array.from(m.get('a')!), [0, 1, 0]);
  assert.deepEqual(Array.from(m.get('b')!), [1, 0, 1]);
  assert.throws(() => saliencyMask(g, 0), UserError);
  // batches of 4 (5 examples: a full batch and a partial one) give the gradient of the mean over all 5
  const w0 = orig();
  const idx = [0, 2, 4, 6, 8];
  const split = meanLossGradient(cfg, w0, set, idx, 4);
  const whole = meanLossGradient(cfg, w0, set, idx, 5);
  for (const [k, v] of whole) v.forEach((x, i) => assert.ok(Math.abs(x - split.get(k)![i]!) <= 1e-5 + 1e-4 * Math.abs(x), `${k}[${i}]: ${split.get(k)![i]} vs ${x}`));
});

test('registry and option parsing reject unknown names with clear errors', () => {
  assert.throws(() => makeAlgorithm('gradient-magic'), /unknown unlearning algorithm 'gradient-magic'/);
  assert.throws(() => makeAlgorithm('finetune', { beta: 0.5 }), /finetune has no hyper-parameter 'beta'/);
  assert.throws(() => makeAlgorithm('neggrad+', { beta: 1.5 }).run(task, orig()), /beta must be in \(0, 1\)/);
  assert.deepEqual(parseHyper('finetune.epochs=3, neggrad+.beta=0.9'), { finetune: { epochs: 3 }, 'neggrad+': { beta: 0.9 } });
  assert.throws(() => parseHyper('finetune:3'), UserError);
  assert.deepEqual(parseRumTable('low=finetune,medium=neggrad+,high=salun'), { low: 'finetune', medium: 'neggrad+', high: 'salun' });
  assert.throws(() => parseRumTable('low=finetune,high=salun'), /no algorithm for the medium/);
  assert.throws(() => makeAlgorithm('finetune').run({ ...task, retain: Int32Array.from([1, 2]) }, orig()), /in both the forget and the retain set/);
});

test('RUM: thirds by memorization, random thirds, and the sequence low -> medium -> high with shrinking retain sets', () => {
  const mem = Float64Array.from({ length: 32 }, (_, i) => ((i * 7) % 32) / 32);
  const th = refineByMemorization(forget, mem);
  // forget = 1,5,9,13,17,21 with mem 7/32, 3/32, 31/32, 27/32, 23/32, 19/32
  assert.deepEqual(Array.from(th.low), [5, 1]);
  assert.deepEqual(Array.from(th.medium), [21, 17]);
  assert.deepEqual(Array.from(th.high), [13, 9]);
  const sh = shuffleThirds(forget, 4);
  assert.deepEqual([...sh.low, ...sh.medium, ...sh.high].sort((a, b) => a - b), Array.from(forget));
  const calls: Array<{ name: string; forget: number[]; retain: number }> = [];
  const spy = (name: string): UnlearnAlgorithm => ({
    name,
    description: 'records its task',
    hyper: {},
    run: (t, w) => {
      calls.push({ name, forget: Array.from(t.forget), retain: t.retain.length });
      for (const i of Array.from(t.forget)) assert.ok(!Array.from(t.retain).includes(i), 'a forget example is in the retain set');
      return w;
    },
  });
  runSequence(task, orig(), th, { low: spy('A'), medium: spy('B'), high: spy('C') });
  // step i retains R plus the subsets still to come: 26 + 4, 26 + 2, 26
  assert.deepEqual(calls, [
    { name: 'A', forget: [5, 1], retain: 30 },
    { name: 'B', forget: [21, 17], retain: 28 },
    { name: 'C', forget: [13, 9], retain: 26 },
  ]);
  assert.deepEqual(LEVELS, ['low', 'medium', 'high']);
});

test('stratified forget sets draw from the most, the least and the ~0.5 memorised examples', () => {
  const mem = Float64Array.from({ length: 60 }, (_, i) => i / 59); // 0 .. 1
  const f = Array.from(chooseForgetSet(mem, 6, 1, 'stratified'));
  assert.equal(f.length, 6);
  // pools: top 4 (56..59), bottom 4 (0..3), 4 closest to 0.5 (28..31); two from each
  assert.equal(f.filter((i) => i >= 56).length, 2);
  assert.equal(f.filter((i) => i <= 3).length, 2);
  assert.equal(f.filter((i) => i >= 28 && i <= 31).length, 2);
  assert.notDeepEqual(Array.from(chooseForgetSet(mem, 6, 2, 'stratified')), [], 'seeded');
  assert.throws(() => chooseForgetSet(mem, 40, 1, 'stratified'), /--forget-size/);
});
