/**
 * The demo, driven as a user would: `unlearnkit demo --tiny` on the embedded model runs the whole
 * pipeline (fine-tune with the first-epoch record, unlearning on two layer targets, report) and
 * prints the summary table and the report's path.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { PROJECT_ROOT } from '../src/util/paths.ts';
import { skipLoudly } from './helpers/fixtures.ts';
import { cliArgs } from './helpers/cli.ts';

test('unlearnkit demo --tiny runs the pipeline and writes the report', (t) => {
  const model = path.join(PROJECT_ROOT, 'models', 'unlearnkit-base.gguf');
  if (!fs.existsSync(model)) return skipLoudly(t, `embedded model ${model} is missing`);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-demo-'));
  try {
    const r = spawnSync(process.execPath, cliArgs('demo', '--tiny', '--quiet', '--out', out), { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, r.stderr);
    for (const s of ['1/5', '2/5', '3/5', '4/5', '5/5', 'first-epoch', 'gradient-ascent', 'block:-1:mlp', 'embedding', 'report:']) assert.ok(r.stdout.includes(s), `missing '${s}' in:\n${r.stdout}`);
    const res = JSON.parse(fs.readFileSync(path.join(out, 'demo.json'), 'utf8')) as { unlearning: Array<{ method: string; target: string; forgetPplAfter: number; forgetPplBefore: number; adapter: string | null }>; report: string; perplexity: { before: Record<string, number>; after: Record<string, number> } };
    assert.equal(res.unlearning.length, 4);
    assert.ok(res.perplexity.after.forget < res.perplexity.before.forget / 2, 'fine-tuning should learn the forget facts');
    const ga = res.unlearning.filter((u) => u.method === 'gradient-ascent');
    for (const u of ga) assert.ok(u.forgetPplAfter > u.forgetPplBefore, `${u.method} on ${u.target} should raise forget perplexity`);
    for (const u of res.unlearning) assert.ok(u.adapter && fs.existsSync(path.join(u.adapter, 'meta.json')), 'each run writes its adapter folder');
    const html = fs.readFileSync(res.report, 'utf8');
    assert.ok(html.includes('<svg'), 'the report embeds its charts');
    console.log(r.stdout.split('\n').filter((l) => l.includes('->')).join('\n'));
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
