/**
 * A sweep on a TOFU-format folder with `eval.metrics: [tofu]` (issue #20): the jobs run, and TOFU's
 * summary entries (objects {value, reason?, over?, ...}, not plain numbers) become outcomes where
 * they have a value (model_utility, extraction_strength) and are left out where not computed
 * (forget_quality without a retain-only reference); each outcome equals the job's own eval
 * summary.json. Tiny random model, local pool.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cliArgs } from '../helpers/cli.ts';
import { writeRandomModel } from '../../src/model/randomModel.ts';
import { tofuNamedFolder } from '../data/tofuFixture.ts';

const run = promisify(execFile);

test('sweep over a TOFU folder with the tofu metric: entries with a value are outcomes, the rest are left out', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-sweep-tofu-'));
  try {
    writeRandomModel(path.join(tmp, 'tiny.gguf'), { shape: { arch: 'llama', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128 }, vocab: { tiny: 384 }, seed: 4 });
    tofuNamedFolder(path.join(tmp, 'named'));
    const spec = {
      name: 'tofu-grid',
      model: 'tiny.gguf',
      data: 'named',
      finetune: { epochs: 1, lr: 0.003, batch: 8, splits: { forget: 6, retain: 12 }, record: 'first-epoch' },
      grid: { methods: ['first-epoch'], targets: ['all'], eta: [1], seeds: [0] },
      threads: 1,
      eval: { limit: 6, metrics: ['tofu'] },
    };
    fs.writeFileSync(path.join(tmp, 'sw.json'), JSON.stringify(spec));
    await run(process.execPath, cliArgs('sweep', 'sw.json'), { cwd: tmp, env: { ...process.env, UNLEARNKIT_THREADS: '1' }, timeout: 300_000, maxBuffer: 64 << 20 });
    const dir = path.join(tmp, 'sweeps', 'tofu-grid');
    const results = fs.readdirSync(path.join(dir, 'results')).map((f) => JSON.parse(fs.readFileSync(path.join(dir, 'results', f), 'utf8')) as { kind: string; key: string; outcomes?: Record<string, number> });
    const un = results.find((r) => r.kind === 'unlearn')!;
    assert.ok(un, 'the unlearning job finished');
    const summary = JSON.parse(fs.readFileSync(path.join(dir, 'store', 'artifacts', un.key, 'eval', 'summary.json'), 'utf8')) as { metrics: { tofu: { summary: Record<string, { value: number | null }> } } };
    const t = summary.metrics.tofu.summary;
    for (const k of ['model_utility', 'extraction_strength', 'forget_Q_A_Prob', 'retain_Truth_Ratio']) {
      assert.equal(typeof t[k]!.value, 'number', k);
      assert.equal(un.outcomes![`eval:tofu/all/${k}`], t[k]!.value, k);
    }
    assert.equal(t.forget_quality!.value, null, 'no retain-only reference in a sweep');
    assert.ok(!('eval:tofu/all/forget_quality' in un.outcomes!), 'a value not computed is no outcome');
    const md = fs.readFileSync(path.join(dir, 'report', 'report.md'), 'utf8');
    assert.match(md, /tofu all model_utility/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
