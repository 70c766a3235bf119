/**
 * The strong check of the gradient record and of first-epoch ascent: a fine-tune of one SGD epoch
 * on forget-only batches is theta_1 = theta_0 - sum_steps lr sum_b w_b g_b, so first-epoch ascent
 * with eta = 1 (theta + sum_i lr w_i g_i over every forget example) must give back theta_0 to float
 * rounding. With AdamW the reversal is approximate (momentum, see storedAscent.ts): it must still
 * undo most of the change. Filters: only the targeted tensors move.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { CausalLM } from '../../src/model/model.ts';
import { resolveFilter } from '../../src/model/paramGroups.ts';
import { prepare, makeContext } from '../../src/unlearn/prepare.ts';
import { needFixture } from '../helpers/fixtures.ts';
import { MODEL, haveModel, tempDir, tinyRun, maxAbsDiff } from './helpers.ts';

test('fixture present', (t) => {
  needFixture(t, 'models', 'stories260K.gguf');
});

describe('first-epoch ascent reverses recorded updates', { skip: !haveModel && 'stories260K.gguf missing' }, () => {
  let dir: string;
  before(() => {
    dir = tempDir('reversal');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('SGD, one epoch on forget-only batches: eta = 1 restores the base weights exactly', (t) => {
    const run = tinyRun(dir + '/sgd', { forget: 12, epochs: 1, optimizer: 'sgd', lr: 0.1, batch: 4 });
    const base = CausalLM.load(MODEL);
    const ft = CausalLM.load(run.checkpoint);
    let moved = 0;
    for (const n of base.tensorNames) moved = Math.max(moved, maxAbsDiff(ft.weights.get(n)!.data, base.weights.get(n)!.data));
    const p = prepare({ from: run.out, forget: 'forget', evalLimit: 1 });
    assert.equal(p.forget.length, 12);
    assert.equal(p.retain.length, 0);
    const { method, ctx } = makeContext(p, { method: 'first-epoch', hyper: { eta: 1 } });
    try {
      const out = method.run(ctx);
      assert.equal(out.settings.optimizer, 'sgd');
      let residual = 0;
      let worst = '';
      for (const n of base.tensorNames) {
        const d = maxAbsDiff(ctx.work.weights.get(n)!.data, base.weights.get(n)!.data);
        if (d > residual) [residual, worst] = [d, n];
      }
      t.diagnostic(`fine-tune moved weights by up to ${moved.toExponential(3)}; after eta=1 ascent the largest difference from the base is ${residual.toExponential(3)} (${worst})`);
      assert.ok(moved > 1e-2, `the fine-tune should move the weights (moved ${moved})`);
      assert.ok(residual < 1e-6 * Math.max(1, moved), `eta = 1 must restore theta_0: residual ${residual} in ${worst}`);
      // eta = 0.5 goes exactly half-way back
      const half = makeContext(p, { method: 'first-epoch', hyper: { eta: 0.5 } });
      try {
        half.method.run(half.ctx);
        for (const n of ['token_embd.weight', 'blk.2.ffn_up.weight', 'output_norm.weight']) {
          const a = half.ctx.work.weights.get(n)!.data;
          const mid = ft.weights.get(n)!.data.map((v, i) => (v + base.weights.get(n)!.data[i]!) / 2);
          assert.ok(maxAbsDiff(a, mid) < 1e-6 * Math.max(1, moved), `${n}: eta = 0.5 is the midpoint`);
        }
      } finally {
        half.ctx.pool.dispose();
      }
    } finally {
      ctx.pool.dispose();
    }
  });

  test('AdamW: eta = 1 with momentum-aware step scales reverses a one-epoch forget-only fine-tune', (t) => {
    const run = tinyRun(dir + '/adam', { forget: 12, epochs: 1, optimizer: 'adamw', lr: 3e-3, batch: 4 });
    const base = CausalLM.load(MODEL);
    const ft = CausalLM.load(run.checkpoint);
    const p = prepare({ from: run.out, evalLimit: 1 });
    const { method, ctx } = makeContext(p, { method: 'first-epoch', hyper: { eta: 1 } });
    try {
      const out = method.run(ctx);
      let before2 = 0;
      let after2 = 0;
      for (const n of base.tensorNames) {
        const b = base.weights.get(n)!.data;
        const f = ft.weights.get(n)!.data;
        const w = ctx.work.weights.get(n)!.data;
        for (let i = 0; i < b.length; i++) {
          before2 += (f[i]! - b[i]!) ** 2;
          after2 += (w[i]! - b[i]!) ** 2;
        }
      }
      const ratio = Math.sqrt(after2 / before2);
      t.diagnostic(`||theta - theta_0|| after / before ascent: ${ratio.toExponential(3)}; clipped fraction ${out.settings.clippedFraction}`);
      assert.ok(ratio < 1e-4, `AdamW reversal of forget-only batches should be exact to rounding, ratio ${ratio}`);
      assert.equal(out.settings.clippedFraction, 0);
    } finally {
      ctx.pool.dispose();
    }
  });

  test('a layer target restricts the change to its tensors', () => {
    const p = prepare({ from: dir + '/sgd/run', evalLimit: 1 });
    const { method, ctx } = makeContext(p, { method: 'first-epoch', filter: 'block:1:attn,output' });
    try {
      const out = method.run(ctx);
      const want = resolveFilter('block:1:attn,output', p.model.config);
      assert.deepEqual([...out.deltas.keys()], want);
      for (const n of p.model.tensorNames) {
        const same = maxAbsDiff(ctx.work.weights.get(n)!.data, p.model.weights.get(n)!.data) === 0;
        assert.equal(same, !want.includes(n), `${n} ${want.includes(n) ? 'should change' : 'must not change'}`);
      }
    } finally {
      ctx.pool.dispose();
    }
  });
});
