/**
 * Checks every reproduce report shares: the folder's files, the first table's rows, and that each
 * claim's numbers are computed from its per-seed values (mean, 95% t interval with scipy's t
 * quantiles, the verdict's sign rule).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

/** scipy.stats.t.ppf(0.975, df) for df = 1, 2, 3. */
const T975: Record<number, number> = { 1: 12.706204736174705, 2: 4.302652729911275, 3: 3.182446305284263 };

interface ClaimJson {
  id: string;
  expected: 'positive' | 'negative';
  direction: 'yes' | 'no' | 'inconclusive';
  ours: { estimate: number; lo: number; hi: number; perSeed: number[] };
  paper: string;
  note?: string;
}

export function checkReport(dir: string, ids: string[], seeds: number[]): { claims: ClaimJson[]; results: Record<string, unknown>; md: string } {
  for (const f of ['report.md', 'report.html', 'results.json', 'charts/claims.svg']) assert.ok(fs.existsSync(path.join(dir, f)), `${f} missing from ${dir}`);
  assert.deepEqual(fs.readdirSync(path.dirname(dir)).filter((e) => e.startsWith(`.${path.basename(dir)}.tmp`)), [], 'temporary folder left behind');
  const md = fs.readFileSync(path.join(dir, 'report.md'), 'utf8');
  // the FIRST table of the report is the claim table, with one row per claim
  const firstTable = md.slice(md.indexOf('\n|'), md.indexOf('\n\n', md.indexOf('\n|') + 1));
  assert.match(firstTable, /claim .*\| paper's number \| our quantity \| ours: mean \[95% CI over seeds\] \| same direction \|/);
  const rows = firstTable.split('\n').filter((l) => /^\| [A-Z]/.test(l));
  assert.deepEqual(rows.map((l) => l.split('|')[1]!.trim()), ids);
  for (const r of rows) assert.match(r, /\| (yes|no|inconclusive \(CI spans 0\)) \|$/);
  const results = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as { claims: ClaimJson[]; seeds: number[] } & Record<string, unknown>;
  assert.deepEqual(results.seeds, seeds);
  const n = seeds.length;
  for (const c of results.claims) {
    const v = c.ours.perSeed;
    assert.equal(v.length, n, `${c.id}: one value per seed`);
    for (const x of v) assert.ok(Number.isFinite(x), `${c.id}: per-seed value ${x}`);
    const m = v.reduce((a, b) => a + b, 0) / n;
    assert.ok(Math.abs(c.ours.estimate - m) <= 1e-12 * Math.max(1, Math.abs(m)), `${c.id}: estimate ${c.ours.estimate} is not the mean ${m}`);
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1));
    const half = T975[n - 1]! * (sd / Math.sqrt(n));
    assert.ok(Math.abs(c.ours.lo - (m - half)) <= 1e-9 * Math.max(1, Math.abs(half)), `${c.id}: lo ${c.ours.lo} vs ${m - half}`);
    assert.ok(Math.abs(c.ours.hi - (m + half)) <= 1e-9 * Math.max(1, Math.abs(half)), `${c.id}: hi ${c.ours.hi} vs ${m + half}`);
    assert.ok(c.ours.lo <= m && m <= c.ours.hi, `${c.id}: the interval holds the mean`);
    const want = c.ours.lo <= 0 && c.ours.hi >= 0 ? 'inconclusive' : (c.ours.lo > 0) === (c.expected === 'positive') ? 'yes' : 'no';
    assert.equal(c.direction, want, `${c.id}: verdict`);
    if (c.direction !== 'yes') assert.match(c.note ?? '', /Tried: .*To test it properly: /, `${c.id}: a row that is not a yes says what was tried and what is needed`);
    assert.ok(c.paper.length > 0);
  }
  return { claims: results.claims, results, md };
}
