/**
 * SGD with momentum built from graph ops (src/rum/sgd.ts) against the same update done in
 * TypeScript on ggml's gradients (hostMomentumStep), over three steps with a changing learning
 * rate, weight decay and a gradient mask.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrainGraph } from '../../src/rum/graphs.ts';
import { hostMomentumStep } from '../../src/rum/sgd.ts';
import { cloneWeights, initWeights, resolveConfig } from '../../src/rum/model.ts';
import { Rng } from '../../src/util/rng.ts';

test('in-graph SGD + momentum equals the host update on the same gradients (3 steps, masked)', () => {
  const cfg = resolveConfig('tiny');
  const B = 4;
  const tg = new TrainGraph({ config: cfg, segments: [{ size: B, weight: 1 }], masked: true });
  try {
    const rng = new Rng(11);
    const w0 = initWeights(cfg, 2);
    const x = rng.normalArray(B * 3 * cfg.height * cfg.width);
    const y = new Float32Array(B * cfg.classes);
    for (let i = 0; i < B; i++) y[i * cfg.classes + ((i * 3) % cfg.classes)] = 1;
    const masks = new Map([...w0].map(([n, v]) => [n, Float32Array.from(v, () => (rng.next() < 0.5 ? 1 : 0))]));
    const host = cloneWeights(w0);
    const vel = new Map([...w0].map(([n, v]) => [n, new Float32Array(v.length)]));
    tg.load(w0);
    tg.setMasks(masks);
    const hypers = [
      { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
      { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 },
      { lr: 0.02, momentum: 0.5, weightDecay: 1e-2 },
    ];
    for (const h of hypers) {
      // gradients at the current (host == graph) weights, then the host update
      const grads = tg.gradients(x, y);
      for (const [n, p] of host) hostMomentumStep(p, grads.get(n)!, vel.get(n)!, h, masks.get(n)!);
      tg.step(x, y, h);
      const got = tg.pull();
      let worst = 0;
      let frozenMoved = 0;
      for (const [n, p] of host) {
        const g = got.get(n)!;
        const m = masks.get(n)!;
        for (let i = 0; i < p.length; i++) {
          worst = Math.max(worst, Math.abs(g[i]! - p[i]!) / (1e-3 + Math.abs(p[i]!)));
          if (m[i] === 0 && g[i] !== w0.get(n)![i]) frozenMoved++;
        }
      }
      assert.ok(worst < 1e-4, `graph vs host update: worst relative difference ${worst}`);
      assert.equal(frozenMoved, 0, 'masked (frozen) weights changed');
    }
    // and the weights really moved
    const moved = [...tg.pull()].some(([n, v]) => v.some((a, i) => a !== w0.get(n)![i]));
    assert.ok(moved, 'no weight changed');
  } finally {
    tg.dispose();
  }
});
