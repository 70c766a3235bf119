/**
 * Reports: paired statistics between runs on the same items (checked by hand, against scipy, and
 * against src/stats on the values read back from items.json), the interval evaluator, charts,
 * the CLI `compare`, and a headless-Chromium screenshot of report.html.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { evaluate, evaluateModel, makeIntervalEvaluator, loadRun, type EvaluateOptions } from '../../src/eval/index.ts';
import { comparePaired, applyHolm, compareRuns, writeRunReport, buildReport, fmt, fmtP, type ReportComparison } from '../../src/report/index.ts';
import { pairedTTest } from '../../src/stats/index.ts';
import { CausalLM } from '../../src/model/model.ts';
import { saveLoraAdapter } from '../../src/model/lora.ts';
import { findChromium, screenshotReport } from '../../scripts/screenshot-report.ts';
import { skipLoudly } from '../helpers/fixtures.ts';
import { cliArgs } from '../helpers/cli.ts';
import { tinyFinetuned, type TinySetup } from '../eval/tinyModel.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function close(a: number, b: number, rtol: number, label: string): void {
  assert.ok(Math.abs(a - b) <= rtol * Math.max(Math.abs(b), 1e-300), `${label}: expected ${b}, got ${a}`);
}

test('comparePaired: paired t-test, CI and Cohen\'s d by hand and against scipy', () => {
  const c = comparePaired({ before: 'A', after: 'B', metric: 'm', split: 'forget', key: 'v', ids: ['a', 'b', 'c', 'd'], valuesBefore: [1, 2, 3, 4], valuesAfter: [2, 4, 5, 4] })!;
  // scipy.stats.ttest_rel([2,4,5,4], [1,2,3,4]): statistic 2.6111648393354674, pvalue 0.0796049808179063,
  // confidence_interval() (-0.2734801808288123, 2.7734801808288125)
  close(c.t, 2.6111648393354674, 1e-12, 't');
  close(c.p, 0.0796049808179063, 1e-6, 'p');
  close(c.ci95[0], -0.2734801808288123, 1e-6, 'CI low');
  close(c.ci95[1], 2.7734801808288125, 1e-6, 'CI high');
  assert.equal(c.df, 3);
  // diffs 1, 2, 2, 0: mean 1.25, sd sqrt(2.75 / 3); sd(before) = sqrt(5/3), sd(after) = sqrt(1.5833...)
  close(c.meanDiff, 1.25, 1e-15, 'mean diff');
  close(c.dz, 1.25 / Math.sqrt(2.75 / 3), 1e-12, 'd_z');
  close(c.dav, 1.25 / ((Math.sqrt(5 / 3) + Math.sqrt(4.75 / 3)) / 2), 1e-12, 'd_av');
  assert.equal(c.label, 'A → B');
  assert.equal(c.dzCi95, null, 'no bootstrap interval when some resample has no spread');
  // pairs with a non-finite value are left out and counted
  const d = comparePaired({ before: 'A', after: 'B', metric: 'm', split: 'retain', key: 'v', ids: ['a', 'b', 'c'], valuesBefore: [1, NaN, 2], valuesAfter: [1.5, 3, 2.2] })!;
  assert.equal(d.n, 2);
  assert.equal(d.unmatched, 1);
  assert.equal(comparePaired({ before: 'A', after: 'B', metric: 'm', split: 's', key: 'v', ids: ['a'], valuesBefore: [1], valuesAfter: [2] }), null);
});

test('Holm adjusts p within each metric, split and value across methods', () => {
  const mk = (after: string, split: string, p: number) => ({ after, split, metric: 'perplexity', key: 'meanNll', p, pHolm: p }) as ReportComparison;
  const cs = [mk('x', 'forget', 0.01), mk('y', 'forget', 0.04), mk('z', 'forget', 0.03), mk('x', 'retain', 0.2)];
  applyHolm(cs);
  // sorted 0.01, 0.03, 0.04 -> 3 * 0.01 = 0.03, max(0.03, 2 * 0.03) = 0.06, max(0.06, 1 * 0.04) = 0.06
  assert.deepEqual(cs.map((c) => c.pHolm), [0.03, 0.06, 0.06, 0.2]);
});

/** The rows of a Markdown table whose first cells are `prefix`. */
function mdRows(md: string, caption: RegExp): string[][] {
  const i = md.split('\n').findIndex((l) => caption.test(l));
  assert.ok(i >= 0, `table ${caption} in report.md`);
  const out: string[][] = [];
  for (const l of md.split('\n').slice(i + 4)) {
    if (!l.startsWith('|')) break;
    out.push(l.split('|').slice(1, -1).map((c) => c.trim()));
  }
  return out;
}

test('report of two runs on the same items: t-test, CI and Cohen\'s d of the forget and retain changes; charts; screenshot', async (t) => {
  const s: TinySetup | null = tinyFinetuned(t);
  if (!s) return;
  const common: Omit<EvaluateOptions, 'modelPath'> = { data: 'dave', limit: 6, metrics: ['perplexity', 'answer-prob', 'truth-ratio'] };
  const baseRun = await evaluate({ ...common, modelPath: s.base, out: path.join(s.tmp, 'base'), label: 'base' });
  const ftRun = await evaluate({ ...common, modelPath: s.finetuned, out: path.join(s.tmp, 'finetuned'), label: 'finetuned' });

  // --- two runs: base -> finetuned
  const two = await writeRunReport([baseRun.dir, ftRun.dir], { out: path.join(s.tmp, 'report-two') });
  const md = fs.readFileSync(two.markdown, 'utf8');
  const items = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'items.json'), 'utf8')).metrics;
  const ib = items(baseRun.dir);
  const ia = items(ftRun.dir);
  const rows = mdRows(md, /^\*\*perplexity: paired change per item/);
  for (const split of ['forget', 'retain']) {
    const before = ib.perplexity[split].map((i: { values: { meanNll: number } }) => i.values.meanNll);
    const after = ia.perplexity[split].map((i: { values: { meanNll: number } }) => i.values.meanNll);
    const tt = pairedTTest(after, before);
    // the t statistic from its definition on the differences read back from items.json
    const d = after.map((a: number, i: number) => a - before[i]);
    const m = d.reduce((x: number, y: number) => x + y, 0) / d.length;
    const sdv = Math.sqrt(d.reduce((x: number, y: number) => x + (y - m) ** 2, 0) / (d.length - 1));
    close(tt.t, m / (sdv / Math.sqrt(d.length)), 1e-12, `${split} t`);
    const row = rows.find((r) => r[1] === split && r[2] === 'NLL/token');
    assert.ok(row, `a ${split} row in the perplexity comparison table`);
    // after | split | value | n | mean before | mean after | mean diff | 95% CI | t (df) | p | p Holm | d_z [CI] | d_av
    assert.equal(row[3], '6');
    assert.equal(row[6], fmt(tt.meanDiff));
    assert.equal(row[7], `[${fmt(tt.ci95[0])}, ${fmt(tt.ci95[1])}]`);
    assert.equal(row[8], `${fmt(tt.t)} (5)`);
    assert.equal(row[9], fmtP(tt.p));
    assert.ok(row[11]!.startsWith(fmt(tt.dz, 3)), `d_z ${row[11]}`);
    assert.equal(row[12], fmt(tt.dav, 3));
    assert.ok(tt.meanDiff < 0, `fine-tuning lowers the ${split} NLL`);
  }
  const html = fs.readFileSync(two.html, 'utf8');
  assert.match(html, /d<sub>z<\/sub>/);
  assert.ok(!/<script/i.test(html), 'no scripts');
  assert.ok(!/(src|href)="https?:/i.test(html), 'no external resources');

  // --- interval evaluation along a path from the fine-tuned model back to the base
  const base = CausalLM.load(s.base);
  const ft = CausalLM.load(s.finetuned);
  const cur = ft.clone();
  const ev = makeIntervalEvaluator({ data: 'dave', limit: 4, every: 2, label: 'revert', maxNewTokens: 6 });
  for (let step = 0; step <= 4; step++) {
    const a = step / 4;
    for (const [n, w] of cur.weights) {
      const b = base.weights.get(n)!.data;
      const f = ft.weights.get(n)!.data;
      for (let i = 0; i < w.data.length; i++) w.data[i] = f[i]! + a * (b[i]! - f[i]!);
    }
    const p = ev(cur, step);
    assert.equal(p === null, step % 2 === 1, `step ${step} evaluated iff step % 2 == 0`);
  }
  assert.deepEqual(ev.points().map((p) => p.step), [0, 2, 4]);
  const ref = await evaluateModel({ model: ft, data: 'dave', limit: 4, metrics: ['perplexity'], splits: ['forget', 'retain'] });
  close(ev.points()[0]!.perplexity.forget!, ref.perplexity!.splits.forget!.summary.perplexity!, 1e-12, 'step 0 = the fine-tuned model');
  const refBase = await evaluateModel({ model: base, data: 'dave', limit: 4, metrics: ['perplexity'], splits: ['forget', 'retain'] });
  close(ev.points()[2]!.perplexity.retain!, refBase.perplexity!.splits.retain!.summary.perplexity!, 1e-5, 'step 4 = the base model');
  const series = ev.series();
  assert.deepEqual(series.map((x) => `${x.metric}:${x.split}`).sort(), ['perplexity:forget', 'perplexity:retain', 'rouge1:forget', 'rouge1:retain', 'rouge2:forget', 'rouge2:retain', 'rougeL:forget', 'rougeL:retain']);

  // --- two "methods" at two layer targets, as LoRA adapters on the fine-tuned model
  const runs = [ftRun.dir];
  for (const [method, scale] of [['revert', 1], ['half revert', 0.5]] as const) {
    for (const target of ['token_embd.weight', 'blk.4.ffn_down.weight']) {
      const w = ft.weights.get(target)!;
      const delta = w.data.map((v, i) => scale * (base.weights.get(target)!.data[i]! - v));
      const id = `${method.replace(' ', '-')}-${target.split('.')[0] === 'token_embd' ? 'embedding' : 'block4'}`;
      const adapter = path.join(s.tmp, `${id}.gguf`);
      saveLoraAdapter(adapter, { baseGgufPath: s.finetuned, deltas: [{ tensor: target, ne: w.ne, delta }], maxRank: 64 });
      const r = await evaluate({
        ...common,
        modelPath: s.finetuned,
        adapter,
        out: path.join(s.tmp, id),
        label: id,
        method,
        target: id.endsWith('embedding') ? 'embedding' : 'block:4',
        series: id === 'revert-embedding' ? series : undefined,
      });
      runs.push(r.dir);
    }
  }
  const full = await writeRunReport(runs, { out: path.join(s.tmp, 'report-full'), title: 'test report' });
  const input = full.input;
  assert.equal(input.comparisons.filter((c) => c.metric === 'perplexity' && c.split === 'forget').length, 4);
  // Holm over the four methods
  const fam = input.comparisons.filter((c) => c.metric === 'perplexity' && c.split === 'retain');
  const sorted = [...fam].sort((a, b) => a.p - b.p);
  close(sorted[0]!.pHolm, Math.min(1, 4 * sorted[0]!.p), 1e-12, 'Holm smallest p');
  assert.ok(input.heatmap, 'a method x target heatmap');
  assert.deepEqual([...new Set(input.heatmap!.cells.map((c) => c.column))].sort(), ['block:4', 'embedding']);
  const names = full.charts.map((c) => path.basename(c, '.svg')).sort();
  for (const n of ['series-perplexity', 'series-rougeL', 'effect-sizes', 'layer-heatmap', 'dist-perplexity-meanNll', 'dist-truth-ratio-score']) assert.ok(names.includes(n), `chart ${n} (${names.join(', ')})`);
  const fullHtml = fs.readFileSync(full.html, 'utf8');
  assert.equal((fullHtml.match(/<figure /g) ?? []).length, full.charts.length);
  assert.equal((fullHtml.match(/<svg /g) ?? []).length, full.charts.length);
  for (const c of full.charts) assert.match(fs.readFileSync(c, 'utf8'), /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);

  // --- the CLI's compare prints the same statistics
  const cli = spawnSync(process.execPath, cliArgs('compare', baseRun.dir, ftRun.dir, '--json', '--metrics', 'perplexity'), { cwd: root, encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  const printed = JSON.parse(cli.stdout) as ReportComparison[];
  const lib = compareRuns(loadRun(baseRun.dir), loadRun(ftRun.dir)).filter((c) => c.metric === 'perplexity');
  assert.deepEqual(printed.map((c) => [c.split, c.t, c.p, c.dz, c.dav, c.ci95]), lib.map((c) => [c.split, c.t, c.p, c.dz, c.dav, c.ci95]));
  assert.equal(buildReport([loadRun(baseRun.dir)]).comparisons.length, 0, 'one run: no comparisons');

  // --- screenshot in headless Chromium
  const chromium = findChromium();
  if (!chromium) return skipLoudly(t, 'no Chromium (apt-get install -y chromium): report.html screenshot not taken');
  const shot = await screenshotReport(full.html, path.join(s.tmp, 'report.png'));
  assert.equal(shot.charts, full.charts.length);
  assert.equal(shot.visibleCharts, full.charts.length, 'every chart renders with a size and marks');
  assert.equal(shot.blockedRequests, 0, 'report.html loads nothing from outside');
  const png = fs.readFileSync(shot.png);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(png.length > 50_000, `PNG of ${png.length} bytes`);
});
