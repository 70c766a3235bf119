/**
 * `unlearnkit reproduce zagardo2024 --quick` end to end through the CLI (3 seeds): the report folder,
 * its claim table with every claim of issue #21, numbers computed from the per-seed results, and
 * the refusal to overwrite an existing report.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { cliArgs, REPO_ROOT } from '../helpers/cli.ts';
import { checkReport } from './claimChecks.ts';

test('reproduce zagardo2024 --quick: every claim row, computed from the seeds; an existing folder is refused', (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'repro-zagardo-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const out = path.join(tmp, 'report');
  const t0 = performance.now();
  const r = spawnSync(process.execPath, cliArgs('reproduce', 'zagardo2024', '--quick', '--out', out, '--json'), { encoding: 'utf8', cwd: REPO_ROOT, env: { ...process.env, UNLEARNKIT_THREADS: '1' } });
  t.diagnostic(`took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  assert.equal(r.status, 0, r.stderr);
  const printed = JSON.parse(r.stdout) as { report: string; claims: Array<{ id: string }> };
  assert.equal(printed.report, out);
  const { claims, results, md } = checkReport(out, ['Z1', 'Z1c', 'Z2', 'Z3', 'Z3b', 'Z4', 'Z5', 'Z6'], [0, 1, 2]);
  // each claim's per-seed value is the stated quantity of the per-seed results
  type Cond = { label: string; forgetNll: { dz: number }; tracin: { meanChange: number; t: number; dz: number }; cosine: { meanChange: number }; gradNorm: { before: number; after: number } };
  const seeds = (results.data as { results: Array<{ seed: number; conditions: Cond[] }> }).results;
  const c = (i: number, l: string) => seeds[i]!.conditions.find((x) => x.label === l)!;
  const val = (id: string) => claims.find((x) => x.id === id)!.ours.perSeed;
  seeds.forEach((_, i) => {
    assert.equal(val('Z1')[i], c(i, 'first-epoch@all').tracin.meanChange);
    assert.equal(val('Z1c')[i], c(i, 'first-epoch@all').cosine.meanChange);
    assert.equal(val('Z3')[i], -c(i, 'first-epoch@all').tracin.dz);
    assert.equal(val('Z3b')[i], c(i, 'first-epoch@all').forgetNll.dz);
    assert.equal(val('Z4')[i], c(i, 'first-epoch@all').forgetNll.dz - c(i, 'all-epochs@all').forgetNll.dz);
    const others = seeds[i]!.conditions.filter((x) => x.label !== 'first-epoch@all').map((x) => -x.tracin.t);
    assert.equal(val('Z2')[i], -c(i, 'first-epoch@all').tracin.t - Math.max(...others));
    // cosine TracIn is lr x cos: within [-lr, lr] per pair, so its mean change is within 2 lr
    assert.ok(Math.abs(val('Z1c')[i]!) <= 2 * 3e-3);
  });
  assert.deepEqual(seeds[0]!.conditions.map((x) => x.label), ['first-epoch@all', 'first-epoch@embedding', 'all-epochs@all', 'gradient-ascent@all']);
  assert.match(md, /## Influence as we define it/);
  assert.match(md, /TracIn multiplies two such gradients, so it \*\*rises\*\*/);
  assert.match(md, /## Versions and machine\n\nunlearnkit \S+, Node v\d+/);

  const again = spawnSync(process.execPath, cliArgs('reproduce', 'zagardo2024', '--quick', '--out', out), { encoding: 'utf8', cwd: REPO_ROOT });
  assert.equal(again.status, 2);
  assert.match(again.stderr, /already exists; reproduce never overwrites a report/);
  const unknown = spawnSync(process.execPath, cliArgs('reproduce', 'nobody2099', '--quick'), { encoding: 'utf8', cwd: REPO_ROOT });
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown paper 'nobody2099'; reproduce knows zagardo2024, zhao2024/);
});
