/**
 * One-seed smoke run of the whole RUM pipeline on a small subset of the synthetic CIFAR-format set
 * (`--data synthetic`, src/data/syntheticCifar.ts; the repo carries no CIFAR images, and
 * learn.test.ts checks that the CNN learns this set): memorization with 4 models, selection of
 * the RUM table on a held-out seed, original and oracle models, fine-tune and NegGrad+ vanilla /
 * shuffle / refined, RUM, metrics, report; then the same through the CLI, which must find
 * everything cached. Sized to finish well under two minutes on two cores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRumData } from '../../src/rum/data.ts';
import { resolveConfig } from '../../src/rum/model.ts';
import { DEFAULT_RECIPE } from '../../src/rum/train.ts';
import { runExperiment, type ExperimentOptions } from '../../src/rum/experiment.ts';
import { buildRumReport, renderRumMarkdown } from '../../src/rum/report.ts';
import { main } from '../../src/cli.ts';

test('RUM pipeline, one seed, synthetic subset: every row of the table, scored against the oracle, resumable', (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rum-smoke-'));
  try {
    const data = loadRumData('synthetic', { trainLimit: 120, testLimit: 100 });
    const o: ExperimentOptions = {
      data,
      config: resolveConfig('small'),
      recipe: { ...DEFAULT_RECIPE, epochs: 4 },
      seeds: [1],
      forgetSize: 12,
      algorithms: ['finetune', 'neggrad+'],
      hyper: { finetune: { epochs: 1 }, 'neggrad+': { epochs: 1 } },
      rum: { select: ['finetune', 'neggrad+'] },
      memModels: 4,
      outDir: out,
      quiet: true,
    };
    const t0 = performance.now();
    const res = runExperiment(o);
    const seconds = (performance.now() - t0) / 1000;
    t.diagnostic(`pipeline took ${seconds.toFixed(1)} s`);
    const r = buildRumReport(res);
    const rows = r.rows.map((x) => `${x.method}/${x.variant}`);
    assert.deepEqual(rows.slice(0, 8), [
      'Original (no unlearning)/original',
      'Retrain/retrain',
      'finetune/vanilla',
      'finetune/shuffle',
      'finetune/refined',
      'neggrad+/vanilla',
      'neggrad+/shuffle',
      'neggrad+/refined',
    ]);
    assert.match(rows[8]!, /^RUM \((finetune|neggrad\+) \/ (finetune|neggrad\+) \/ (finetune|neggrad\+)\)\/rum$/);
    const retrain = r.rows[1]!;
    assert.equal(retrain.tow.estimate, 1);
    assert.equal(retrain.miaGap.estimate, 0);
    for (const row of r.rows) {
      for (const v of [row.tow, row.miaGap, row.towMia, row.accForget, row.accRetain, row.accTest]) {
        assert.ok(v.estimate >= 0 && v.estimate <= 1, `${row.method} ${row.variant}: ${v.estimate} outside [0, 1]`);
      }
    }
    // the refined and shuffle runs unlearned different subsets in different orders
    const seed = res.seeds[0]!;
    assert.equal(seed.forgetSize, 12);
    assert.ok(seed.thirdsMem.low <= seed.thirdsMem.medium && seed.thirdsMem.medium <= seed.thirdsMem.high, 'thirds not ordered by memorization');
    assert.equal(r.comparisons.length, 4);
    assert.equal(r.comparisons[0]!.towDiffs.length, 1);
    assert.equal(r.comparisons[0]!.towDiff, null, 'no interval from one seed');
    assert.ok(res.selection && Object.keys(res.selection.tow.low).length === 2);
    assert.match(renderRumMarkdown(r), /\| method \| variant \| ToW/);

    // the CLI with the same settings finds every model and run cached and prints the same table
    let printed = '';
    const write = process.stdout.write.bind(process.stdout);
    // only the command's text: the test runner's own (binary) messages on stdout pass through
    process.stdout.write = ((s: string | Uint8Array, ...rest: never[]) => (typeof s === 'string' ? ((printed += s), true) : write(s, ...rest))) as typeof process.stdout.write;
    let code: number;
    const t1 = performance.now();
    return main([
      'node', 'unlearnkit', 'rum', 'table', '--data', 'synthetic', '--train-size', '120', '--test-size', '100', '--epochs', '4',
      '--seeds', '1', '--forget-size', '12', '--mem-models', '4', '--hyper', 'finetune.epochs=1,neggrad+.epochs=1',
      '--out', out, '--quiet', '--json',
    ])
      .then((c) => (code = c))
      .finally(() => (process.stdout.write = write))
      .then(() => {
        assert.equal(code, 0);
        const viaCli = JSON.parse(printed);
        assert.deepEqual(
          viaCli.rows.map((x: { tow: { estimate: number } }) => x.tow.estimate),
          r.rows.map((x) => x.tow.estimate),
        );
        assert.equal(viaCli.memorization.resumedModels, 4);
        t.diagnostic(`cached CLI run took ${((performance.now() - t1) / 1000).toFixed(1)} s`);
      });
  } finally {
    // the promise above still needs the folder; remove it when the test ends
    t.after(() => fs.rmSync(out, { recursive: true, force: true }));
  }
});

test('rum CLI: bad options are clear errors (exit code 2)', async () => {
  const err: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string | Uint8Array) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    assert.equal(await main(['node', 'unlearnkit', 'rum', 'table', '--algorithms', 'magic']), 2);
    assert.equal(await main(['node', 'unlearnkit', 'rum', 'unlearn', '--data', '/nonexistent/cifar']), 2);
    assert.equal(await main(['node', 'unlearnkit', 'rum', 'table', '--rum', 'low=finetune']), 2);
  } finally {
    process.stderr.write = write;
  }
  const text = err.join('');
  assert.match(text, /unknown 'magic'/);
  assert.match(text, /does not exist/);
  assert.match(text, /no algorithm for the medium/);
});
