/**
 * `unlearnkit compare-removal` (issue #20): one request, fuzzy vs iterative removal, one row each,
 * on a TOFU-format folder (test/data/tofuFixture.ts) fine-tuned into a tiny random model. Checked:
 * what each strategy selected against the dataset's labels (precision / recall recomputed here from
 * the selected ids and the forget split), the fuzzy row's numbers against `unlearn --request` (the
 * same run through the other command), and that iterative removal made one method call per example
 * at least and raised the forget perplexity.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { writeRandomModel } from '../../src/model/randomModel.ts';
import { getDataset } from '../../src/data/dataset.ts';
import { tofuNamedFolder, AUTHORS } from '../data/tofuFixture.ts';
import type { RemovalComparison } from '../../src/unlearn/compareRemoval.ts';


const cli = async (cwd: string, ...args: string[]): Promise<string> => (await runCli(cwd, ...args)).stdout;

test('compare-removal: fuzzy and iterative rows on the same request, with selection precision / recall and forget / retain change', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-compare-removal-'));
  try {
    writeRandomModel(path.join(tmp, 'tiny.gguf'), { shape: { arch: 'llama', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128 }, vocab: { tiny: 384 }, seed: 4 });
    const data = tofuNamedFolder(path.join(tmp, 'tofu'));
    await cli(tmp, 'finetune', '--model', 'tiny.gguf', '--data', data, '--forget-split', 'forget01', '--epochs', '2', '--out', 'ft', '--quiet');
    // a request for the forget author (labelled) and one for a retain author (the forget split is not what it asks for)
    const request = `forget everything about ${AUTHORS[5]}`;
    const [text, c, fz] = await Promise.all([
      cli(tmp, 'compare-removal', '--from', 'ft', '--request', request, '--out', 'cr', '--quiet'),
      cli(tmp, 'compare-removal', '--from', 'ft', '--request', `forget everything about ${AUTHORS[0]}`, '--out', 'cr0', '--json').then((s) => JSON.parse(s) as RemovalComparison),
      cli(tmp, 'unlearn', '--from', 'ft', '--request', request, '--no-adapter', '--json').then((s) => JSON.parse(s) as { summary: Record<string, { perplexityAfter: number }> }),
    ]);
    const r = JSON.parse(fs.readFileSync(path.join(tmp, 'cr', 'compare-removal.json'), 'utf8')) as RemovalComparison;
    assert.deepEqual(r.rows.map((x) => x.strategy), ['fuzzy', 'iterative']);
    assert.match(text, /\| fuzzy \| 6 \| 1\.000 \| 1\.000 \| 1 \|/);
    const forgetIds = new Set(getDataset(data, { forgetSplit: 'forget01' }).facts('forget').map((f) => f.id));
    for (const cmp of [r, c]) {
      for (const row of cmp.rows) {
        assert.deepEqual(row.ids, cmp.rows[0]!.ids, 'both strategies remove what the request selected');
        const hit = row.ids.filter((id) => forgetIds.has(id)).length;
        assert.equal(row.precision, hit / row.ids.length);
        assert.equal(row.recall, hit / forgetIds.size);
      }
    }
    assert.deepEqual([r.rows[0]!.precision, r.rows[0]!.recall], [1, 1]);
    assert.equal(c.rows[0]!.precision, 0, `a retain author's request selects none of the forget split (${c.rows[0]!.selected} selected)`);
    assert.ok(c.rows[0]!.selected >= 1);
    // the fuzzy row is `unlearn --request` (batch on the selection): the same numbers
    for (const set of ['forget', 'retain', 'holdout']) assert.equal(r.rows[0]!.sets[set]!.perplexityAfter, fz.summary[set]!.perplexityAfter, set);
    const it = r.rows[1]!;
    assert.ok(it.methodCalls >= it.selected, `iterative: ${it.methodCalls} method calls for ${it.selected} examples`);
    for (const row of r.rows) assert.ok(row.sets.forget!.ratio > 1 && row.sets.forget!.p! < 0.05, `${row.strategy}: forget x${row.sets.forget!.ratio}`);
    assert.ok(fs.existsSync(path.join(tmp, 'cr', 'compare-removal.md')));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
