/**
 * Every registered method on a tiny fine-tuned stories260K (16 forget + 16 retain Dave facts,
 * 2 epochs AdamW, all-epochs gradient record): the forget set's mean NLL must rise, and more than
 * the retain set's; every change stays inside the parameter filter; the registry lists them all.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { listMethods, getMethod } from '../../src/unlearn/registry.ts';
import { prepare, makeContext, type Prepared } from '../../src/unlearn/prepare.ts';
import { SessionPool } from '../../src/model/sessions.ts';
import { scoreSequences } from '../../src/eval/perplexity.ts';
import { resolveFilter } from '../../src/model/paramGroups.ts';
import { UserError } from '../../src/util/errors.ts';
import { needFixture } from '../helpers/fixtures.ts';
import { haveModel, tempDir, tinyRun, maxAbsDiff } from './helpers.ts';
import type { UnlearnHyper } from '../../src/unlearn/types.ts';

const HYPER: Record<string, Partial<UnlearnHyper>> = {
  'first-epoch': { eta: 0.5 },
  'all-epochs': { eta: 0.5 },
  'gradient-ascent': { lr: 5e-4 },
  'grad-diff': { lr: 5e-4 },
  npo: { lr: 5e-4 },
  'retain-only': {},
};

test('fixture present', (t) => {
  needFixture(t, 'models', 'stories260K.gguf');
});

test('the registry holds the six methods and rejects unknown names', () => {
  assert.deepEqual(listMethods().map((m) => m.name).sort(), Object.keys(HYPER).sort());
  assert.throws(() => getMethod('nope'), (e: Error) => e instanceof UserError && /known: .*first-epoch/.test(e.message));
});

describe('methods on a tiny fine-tune', { skip: !haveModel && 'stories260K.gguf missing' }, () => {
  let dir: string;
  let p: Prepared;
  let meanNll: (ex: Prepared['forget'], pool: SessionPool) => number;
  let base: { forget: number; retain: number };
  before(() => {
    dir = tempDir('methods');
    const run = tinyRun(dir, { forget: 16, retain: 16, epochs: 2, record: 'all-epochs' });
    p = prepare({ from: run.out, evalLimit: 1 });
    meanNll = (ex, pool) => {
      const s = scoreSequences(pool.model, ex, 8, pool).items;
      return s.reduce((a, x) => a + x.meanNll, 0) / s.length;
    };
    const pool = new SessionPool(p.model);
    base = { forget: meanNll(p.forget, pool), retain: meanNll(p.retain, pool) };
    pool.dispose();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const name of Object.keys(HYPER)) {
    test(`${name}: raises the forget loss more than the retain loss`, (t) => {
      const { method, ctx } = makeContext(p, { method: name, hyper: HYPER[name], quiet: true });
      try {
        const out = method.run(ctx);
        const f = meanNll(p.forget, ctx.pool) - base.forget;
        const r = meanNll(p.retain, ctx.pool) - base.retain;
        t.diagnostic(`${name} ${JSON.stringify(out.settings)}: forget mean NLL +${f.toFixed(4)}, retain ${r >= 0 ? '+' : ''}${r.toFixed(4)} (${out.seconds.toFixed(2)} s)`);
        assert.ok(f > 0, `forget loss should rise, changed by ${f}`);
        assert.ok(f > r, `forget loss should rise more than retain loss (${f} vs ${r})`);
        assert.deepEqual([...out.deltas.keys()], ctx.tensors);
      } finally {
        ctx.pool.dispose();
      }
    });
  }

  test('gradient methods change only the tensors of their layer target', () => {
    for (const name of ['gradient-ascent', 'npo']) {
      const filter = 'block:2:mlp,embedding';
      const { method, ctx } = makeContext(p, { method: name, filter, hyper: { ...HYPER[name], steps: 1 } });
      try {
        const out = method.run(ctx);
        const want = resolveFilter(filter, p.model.config);
        assert.deepEqual([...out.deltas.keys()], want);
        for (const n of p.model.tensorNames) {
          const d = maxAbsDiff(ctx.work.weights.get(n)!.data, p.model.weights.get(n)!.data);
          if (want.includes(n)) assert.ok(d > 0, `${name}: ${n} should change`);
          else assert.equal(d, 0, `${name}: ${n} is outside the filter and must not change`);
        }
        // the returned delta is exactly the change made
        for (const n of want) {
          const changed = ctx.work.weights.get(n)!.data.map((v, i) => v - p.model.weights.get(n)!.data[i]!);
          assert.ok(maxAbsDiff(changed, out.deltas.get(n)!) < 1e-6);
        }
      } finally {
        ctx.pool.dispose();
      }
    }
  });

  test('stored-gradient methods refuse a run without a record, or with fewer recorded epochs than trained', () => {
    const bare = { ...p, source: { ...p.source, record: null } };
    const c1 = makeContext(bare, { method: 'first-epoch' });
    assert.throws(() => c1.method.run(c1.ctx), (e: Error) => e instanceof UserError && /no gradient record/.test(e.message));
    c1.ctx.pool.dispose();
    const longer = { ...p, source: { ...p.source, options: { ...p.source.options!, epochs: 3 } } };
    const c2 = makeContext(longer, { method: 'all-epochs' });
    assert.throws(() => c2.method.run(c2.ctx), (e: Error) => e instanceof UserError && /--record all-epochs/.test(e.message));
    c2.ctx.pool.dispose();
  });
});
