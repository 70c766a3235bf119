/**
 * `unlearnkit reproduce zhao2024 --quick` end to end through the CLI (2 seeds here to stay within a
 * test file's time; the command's default is 3): every claim row of issue #21 (RUM^F vs vanilla vs
 * shuffle, MIA gap, RUM, memorization, entanglement, subset order), computed from the per-seed
 * runs, the paper's rows quoted beside ours, and our rows labelled as substitutes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { cliArgs, REPO_ROOT } from '../helpers/cli.ts';
import { checkReport } from './claimChecks.ts';
import { entanglementSets, parseOrders } from '../../src/reproduce/zhao2024.ts';
import { entanglementScore } from '../../src/rum/entanglement.ts';

test('reproduce zhao2024 --quick: every claim row, substitutes labelled, numbers from the runs', (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'repro-zhao-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const out = path.join(tmp, 'report');
  const t0 = performance.now();
  const r = spawnSync(process.execPath, cliArgs('reproduce', 'zhao2024', '--quick', '--seeds', '0,1', '--out', out, '--json'), { encoding: 'utf8', cwd: REPO_ROOT, env: { ...process.env, UNLEARNKIT_THREADS: '1' } });
  t.diagnostic(`took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  assert.equal(r.status, 0, r.stderr);
  const { claims, results, md } = checkReport(out, ['R1:finetune', 'R2:finetune', 'R3:finetune', 'R4', 'R5', 'R6', 'R7', 'R8'], [0, 1]);
  for (const c of claims) assert.match((c as unknown as { label: string }).label, /^substitute: small CNN on MNIST/);
  type Run = { algorithm: string; variant: string; scores: { tow: number; miaGap: number } };
  type Extra = { perThird: Record<string, number>; entanglement: Record<string, { es: number; tow: number }>; orders: Record<string, { tow: number }> };
  const d = (results.data as { results: Array<{ experiment: { seeds: Array<{ runs: Run[] }> }; extra: Extra[] }> }).results[0]!;
  const val = (id: string) => claims.find((x) => x.id === id)!.ours.perSeed;
  d.experiment.seeds.forEach((s, i) => {
    const run = (a: string, v: string) => s.runs.find((x) => x.algorithm === a && x.variant === v)!.scores;
    assert.equal(val('R1:finetune')[i], run('finetune', 'refined').tow - run('finetune', 'vanilla').tow);
    assert.equal(val('R2:finetune')[i], run('finetune', 'vanilla').tow - run('finetune', 'shuffle').tow);
    assert.equal(val('R3:finetune')[i], run('finetune', 'vanilla').miaGap - run('finetune', 'refined').miaGap);
    assert.equal(val('R4')[i], run('RUM', 'rum').tow - Math.max(...s.runs.filter((x) => x.variant !== 'rum').map((x) => x.scores.tow)));
    const e = d.extra[i]!;
    assert.equal(val('R5')[i], e.perThird.low! - e.perThird.high!);
    assert.equal(val('R6')[i], e.entanglement.high!.es - e.entanglement.low!.es);
    assert.equal(val('R7')[i], e.entanglement.low!.tow - e.entanglement.high!.tow);
    // the paper's order is the experiment's RUM^F fine-tune run; the quick mode adds its reverse
    assert.equal(e.orders['low>medium>high']!.tow, run('finetune', 'refined').tow);
    assert.equal(val('R8')[i], e.orders['low>medium>high']!.tow - e.orders['high>medium>low']!.tow);
    for (const x of s.runs) assert.ok(x.scores.tow >= 0 && x.scores.tow <= 1 && x.scores.miaGap >= 0 && x.scores.miaGap <= 1);
  });
  // the paper's table is quoted beside ours
  assert.match(md, /\| finetune \| vanilla \| 0\.849 \| 0\.12 \| 0\.734 \| 0\.139 \| /);
  assert.match(md, /\| RUM \| .* \| 0\.965 \| 0\.034 \| 0\.921 \| 0\.059 \| /);
  assert.match(md, /309\.94 \+- 98\.56/);
});

test('entanglement sets: far from the mean embedding = low ES, near = high ES; orders parsed or refused', () => {
  // two well-separated clusters plus a tight core: the farthest points separate from the rest
  const n = 30;
  const dim = 2;
  const emb = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const r = i < 6 ? 10 + i : i < 24 ? 2 + (i - 6) * 0.1 : 0.05 * (i - 24);
    const a = (i * 2.399) % (2 * Math.PI);
    emb[i * 2] = r * Math.cos(a);
    emb[i * 2 + 1] = r * Math.sin(a);
  }
  const sets = entanglementSets(emb, dim, n, 6);
  assert.deepEqual(Array.from(sets.low), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(Array.from(sets.high), [24, 25, 26, 27, 28, 29]);
  const es = (f: Int32Array) => entanglementScore(emb, dim, Array.from({ length: n }, (_, i) => i).filter((i) => !f.includes(i)), f).es;
  assert.ok(es(sets.low) < es(sets.medium) && es(sets.medium) < es(sets.high), `ES ${es(sets.low)} ${es(sets.medium)} ${es(sets.high)}`);
  assert.equal(parseOrders(['all']).length, 6);
  assert.deepEqual(parseOrders(['high,medium,low']), [['low', 'medium', 'high'], ['high', 'medium', 'low']]);
  assert.throws(() => parseOrders(['low,medium,high']), /at least one order besides/);
  assert.throws(() => parseOrders(['low,low,high', 'high,medium,low']), /not a permutation/);
});
