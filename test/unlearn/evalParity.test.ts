/**
 * Measuring once: `unlearnkit unlearn` measures the artifact it ships with evaluation's own code, on
 * the items `unlearnkit eval` selects for the same split and limit, so that
 * `eval --model <checkpoint> --adapter adapters/<id>/<served file>` gives the numbers unlearn
 * printed. Both commands run as a user runs them (the source CLI); a tiny fine-tune of the
 * stories260K fixture on 6 forget + 6 retain Dave facts, 4 items per set.
 *
 * Two runs: the embedding (a matrix: the change fits adapter.gguf, which eval applies as llama.cpp does)
 * and the whole model (norm weights change: merged.gguf is the artifact).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { cliArgs } from '../helpers/cli.ts';
import { haveModel, tempDir, tinyRun } from './helpers.ts';

const dir = tempDir('evalparity');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const LIMIT = 4;
/** `eval` of the fine-tuned checkpoint, shared by both runs. */
let beforeEval: EvalSummary | undefined;

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, cliArgs(...args), { encoding: 'utf8', cwd: dir, env: { ...process.env, UNLEARNKIT_DEVICE: 'cpu' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `  forget   n=   4  ppl 12.345 -> 13.456 ...` and `  rougeL forget   0.250 -> 0.000` lines of unlearn's summary. */
function printed(stdout: string): { ppl: Map<string, [string, string]>; rouge: Map<string, [string, string]> } {
  const ppl = new Map<string, [string, string]>();
  const rouge = new Map<string, [string, string]>();
  for (const line of stdout.split('\n')) {
    const m = /^\s+(\w+)\s+n=\s*\d+\s+ppl (\S+) -> (\S+)/.exec(line);
    if (m) ppl.set(m[1]!, [m[2]!, m[3]!]);
    const r = /^\s+rougeL (\w+)\s+(\S+) -> (\S+)/.exec(line);
    if (r) rouge.set(r[1]!, [r[2]!, r[3]!]);
  }
  return { ppl, rouge };
}

interface EvalSummary {
  metrics: Record<string, { splits: Record<string, Record<string, number>> }>;
}

function evalSummary(out: string, ...args: string[]): EvalSummary {
  const r = cli('eval', '--data', 'dave', '--limit', String(LIMIT), '--metrics', 'perplexity,rouge', '--splits', 'forget,retain,holdout,general', '--out', out, '--no-report', '--quiet', ...args);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as EvalSummary;
}

for (const [name, target, served] of [
  ['adapter', 'embedding', 'adapter.gguf'],
  ['merged', 'all', 'merged.gguf'],
] as const) {
  test(`eval --adapter <${served}> gives the numbers unlearn printed (target ${target})`, { skip: !haveModel && 'stories260K fixture missing' }, () => {
    if (!fs.existsSync(path.join(dir, 'run', 'checkpoint.gguf'))) tinyRun(dir, { forget: 6, retain: 6, epochs: 2 });
    const checkpoint = path.join(dir, 'run', 'checkpoint.gguf');
    const u = cli('unlearn', '--from', path.join(dir, 'run'), '--method', 'first-epoch', '--target', target, '--eval-limit', String(LIMIT), '--rouge', '--run-id', name, '--adapters-dir', path.join(dir, 'adapters'));
    assert.ok(u.status === 0 || u.status === 3, `unlearn exited ${u.status}: ${u.stderr}`);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'adapters', name, 'meta.json'), 'utf8')) as { served: { file: string } };
    assert.equal(meta.served.file, served);
    const shown = printed(u.stdout);
    assert.deepEqual([...shown.ppl.keys()].sort(), ['forget', 'general', 'holdout', 'retain'], u.stdout);
    assert.deepEqual([...shown.rouge.keys()].sort(), ['forget', 'retain'], u.stdout);

    beforeEval ??= evalSummary(path.join(dir, 'eval-before'), '--model', checkpoint);
    const afterEval = evalSummary(path.join(dir, `eval-after-${name}`), '--model', checkpoint, '--adapter', path.join(dir, 'adapters', name, served));
    for (const [set, [b, a]] of shown.ppl) {
      assert.equal(beforeEval.metrics.perplexity!.splits[set]!.perplexity!.toFixed(3), b, `${set} perplexity before`);
      assert.equal(afterEval.metrics.perplexity!.splits[set]!.perplexity!.toFixed(3), a, `${set} perplexity after`);
    }
    for (const [set, [b, a]] of shown.rouge) {
      assert.equal(beforeEval.metrics.rouge!.splits[set]!.rougeL!.toFixed(3), b, `${set} ROUGE-L before`);
      assert.equal(afterEval.metrics.rouge!.splits[set]!.rougeL!.toFixed(3), a, `${set} ROUGE-L after`);
    }

    // and item by item: the same items, the same numbers (to float rounding of the same computation)
    const result = JSON.parse(fs.readFileSync(path.join(dir, 'adapters', name, 'result.json'), 'utf8')) as { measured: string; after: { sets: Record<string, { ids: string[]; nll: number[] }> } };
    assert.equal(result.measured, served);
    const items = JSON.parse(fs.readFileSync(path.join(dir, `eval-after-${name}`, 'items.json'), 'utf8')) as { metrics: { perplexity: Record<string, Array<{ id: string; values: { meanNll: number } }>> } };
    for (const set of ['forget', 'retain', 'holdout', 'general']) {
      const ev = items.metrics.perplexity[set]!;
      assert.deepEqual(result.after.sets[set]!.ids, ev.map((i) => i.id), `${set}: the same items`);
      result.after.sets[set]!.nll.forEach((v, i) => assert.ok(Math.abs(v - ev[i]!.values.meanNll) <= 1e-12 * Math.max(1, Math.abs(v)), `${set} item ${i}: ${v} vs ${ev[i]!.values.meanNll}`));
    }
  });
}
