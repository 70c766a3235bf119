/**
 * The real job runner (child processes) on real work: a short fine-tune of stories260K on a handful
 * of Dave facts, cancelled after its first step (nothing left behind), then run again to the end;
 * the same through the Train screen with Esc; an unlearning over two layer targets that writes one
 * adapter per target and the comparison; fuzzy selection; describe; and errors coming back as
 * messages, not stacks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { needFixture } from '../helpers/fixtures.ts';
import { KEYS, renderApp, tempDir, tinyDave } from './helpers.tsx';
import { ChildJobRunner } from '../../src/tui/jobs/runner.ts';
import type { FinetuneParams, FinetuneProgress, UnlearnProgress } from '../../src/tui/jobs/protocol.ts';
import { readModelInfo } from '../../src/tui/lib/modelInfo.ts';
import { listRuns, planReport } from '../../src/tui/lib/runs.ts';
import { getDataset } from '../../src/data/dataset.ts';

process.env.UNLEARNKIT_THREADS ??= '1';

function params(model: string, data: string, out: string, o: Partial<FinetuneParams> = {}): FinetuneParams {
  return { model, data, splits: ['retain', 'forget'], epochs: 2, lr: 1e-3, batch: 1, optimizer: 'adamw', filter: 'all', record: 'first-epoch', out, eval: false, seed: 0, ...o };
}

/** Every file under dir (relative), for "nothing half-written" checks. */
function files(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

test('runner: a fine-tune cancelled after its first step leaves nothing; the next run works', { timeout: 120_000 }, async (t) => {
  const model = needFixture(t, 'models', 'stories260K.gguf');
  if (!model) return;
  const dir = tempDir();
  const data = tinyDave(path.join(dir, 'data'), { forget: 6, retain: 6 });
  const out = path.join(dir, 'runs', 'ft');
  const runner = new ChildJobRunner();
  const steps: Array<Extract<FinetuneProgress, { kind: 'step' }>> = [];
  let handle: ReturnType<ChildJobRunner['start']> | null = null;
  handle = runner.start('finetune', params(model, data, out), (p) => {
    if (p.kind !== 'step') return;
    steps.push(p);
    if (steps.length === 1) handle!.cancel();
  });
  const o = await handle.done;
  assert.equal(o.status, 'cancelled', JSON.stringify(o));
  assert.ok(steps.length >= 1);
  // The cancel came in the first epoch (12 steps of batch 1), so no epoch finished: nothing is kept.
  assert.equal(steps[steps.length - 1]!.epoch, 1);
  assert.ok(steps[steps.length - 1]!.step < steps[0]!.stepsPerEpoch, `cancelled at step ${steps[steps.length - 1]!.step}`);
  if (o.status === 'cancelled') assert.match(o.message, /before the first epoch finished; nothing was kept/);
  assert.equal(fs.existsSync(out), false, `left behind: ${files(out).join(', ')}`);
  assert.deepEqual(files(path.join(dir, 'runs')), []);
  // The next run (same folder) goes to the end.
  const steps2: number[] = [];
  const o2 = await runner.start('finetune', params(model, data, out), (p) => p.kind === 'step' && steps2.push(p.loss)).done;
  assert.equal(o2.status, 'done', JSON.stringify(o2));
  if (o2.status !== 'done') return;
  assert.equal(steps2.length, 24);
  assert.equal(o2.result.epochs.length, 2);
  assert.ok(o2.result.epochs[1]!.meanLoss < o2.result.epochs[0]!.meanLoss, 'loss fell');
  assert.equal(path.resolve(o2.result.checkpoint), path.join(out, 'checkpoint.gguf'));
  assert.ok(o2.result.recordBytes > 0);
  const state = JSON.parse(fs.readFileSync(path.join(out, 'state.json'), 'utf8')) as { epochsDone: number };
  assert.equal(state.epochsDone, 2);
  const idx = JSON.parse(fs.readFileSync(path.join(out, 'grads', 'index.json'), 'utf8')) as { entries: unknown[] };
  assert.equal(idx.entries.length, 12);
  assert.ok(!files(out).some((f) => f.includes('.tmp-')), 'no temporary files');
  // The summary the CLI writes is there too, and the checkpoint is a model the TUI can open.
  assert.ok(fs.existsSync(path.join(out, 'summary.json')));
  const info = readModelInfo(o2.result.checkpoint);
  assert.equal(info.kind === 'gguf' && info.parameters, 292800);
});

test('Train screen with the real runner: Esc after the first step leaves nothing; r runs it again to the end', { timeout: 120_000 }, async (t) => {
  const model = needFixture(t, 'models', 'stories260K.gguf');
  if (!model) return;
  const dir = tempDir();
  const data = tinyDave(path.join(dir, 'data'), { forget: 6, retain: 6 });
  const out = path.join(dir, 'runs', 'ui');
  const h = renderApp({ jobs: new ChildJobRunner(), cwd: dir, tab: 'train', columns: 120, rows: 32, initial: { modelPath: model, model: readModelInfo(model), dataPath: data } });
  try {
    await h.waitFor((x) => x.includes('Fine-tune'), 'train screen');
    // splits: retain,forget; epochs 2; batch 1; perplexity off; out.
    await h.edit('retain,forget');
    await h.press(KEYS.down);
    await h.edit('2');
    await h.press(KEYS.down, KEYS.down);
    await h.edit('1');
    await h.press(KEYS.down, KEYS.down, KEYS.down, KEYS.down, KEYS.space, KEYS.down, KEYS.down);
    await h.edit(out);
    await h.waitFor((x) => /perplexity\s+no/.test(x) && /batch\s+1\b/.test(x), 'form');
    await h.press('r');
    await h.waitFor((x) => / [1-9]\d?\/12\b/.test(x), 'the first step', 60_000);
    await h.press(KEYS.esc);
    await h.waitFor((x) => x.includes('fine-tuning cancelled before the first epoch finished'), 'cancelled', 30_000);
    assert.equal(fs.existsSync(out), false);
    await h.press('r');
    const d = await h.waitFor((x) => x.includes('finished in') && x.includes(`run ${out}`), 'finished', 90_000);
    assert.match(d, /epoch 2: mean loss \d/);
    assert.ok(fs.existsSync(path.join(out, 'checkpoint.gguf')));
    assert.match(d, /fine-tune finished/);
  } finally {
    h.unmount();
  }
});

test('runner: unlearning over two layer targets writes one adapter each and the comparison (cancelling writes none); the report of one', { timeout: 240_000 }, async (t) => {
  const model = needFixture(t, 'models', 'stories260K.gguf');
  if (!model) return;
  const dir = tempDir();
  const data = tinyDave(path.join(dir, 'data'), { forget: 6, retain: 6, holdout: 4, decoy: 2, general: 4 });
  const run = path.join(dir, 'runs', 'ft');
  const runner = new ChildJobRunner({ cwd: dir });
  const ft = await runner.start('finetune', params(model, data, run, { splits: ['retain', 'forget', 'decoy'], epochs: 1, batch: 4 }), () => {}).done;
  assert.equal(ft.status, 'done', JSON.stringify(ft));
  const base = { from: run, data, method: 'first-epoch', strategy: 'batch' as const, forget: { split: 'forget' }, eta: 1, steps: 0, evalEvery: 1, rouge: false, seed: 0 };
  // Cancel at the first step event: no adapter.
  let h: ReturnType<ChildJobRunner['start']> | null = null;
  h = runner.start('unlearn', { ...base, targets: ['embedding'] }, (p: UnlearnProgress) => {
    if (p.kind === 'step') h!.cancel();
  });
  const c = await h.done;
  assert.equal(c.status, 'cancelled', JSON.stringify(c));
  assert.deepEqual(files(path.join(dir, 'adapters')), []);
  // Two targets to the end.
  const evals: Array<Extract<UnlearnProgress, { kind: 'eval' }>> = [];
  const o = await runner.start('unlearn', { ...base, targets: ['embedding', 'block:4'] }, (p: UnlearnProgress) => p.kind === 'eval' && evals.push(p)).done;
  assert.equal(o.status, 'done', JSON.stringify(o));
  if (o.status !== 'done') return;
  assert.deepEqual(o.result.runs.map((r) => r.target), ['embedding', 'block:4']);
  for (const r of o.result.runs) {
    const meta = JSON.parse(fs.readFileSync(path.join(dir, r.adapterDir!, 'meta.json'), 'utf8')) as { method: string; filter: string; forgetSet: { count: number } };
    assert.equal(meta.method, 'first-epoch');
    assert.equal(meta.filter, r.target);
    assert.equal(meta.forgetSet.count, 6);
    // Reversing the recorded steps of the forget set raises its perplexity.
    assert.ok(r.metrics['forget ppl']!.after > r.metrics['forget ppl']!.before, `${r.target}: forget ppl ${JSON.stringify(r.metrics['forget ppl'])}`);
  }
  // Interval evaluations on the weights being changed: step 0 (the fine-tuned model), then every
  // step (evalEvery 1) to the last, for each target; forget perplexity ends higher than it began.
  for (const target of ['embedding', 'block:4']) {
    const pts = evals.filter((e) => e.target === target);
    assert.equal(pts[0]!.step, 0);
    assert.ok(pts.length >= 2, `${target}: ${pts.length} interval points`);
    assert.ok(pts.every((e) => Number.isFinite(e.metrics['forget ppl']) && Number.isFinite(e.metrics['retain ppl'])));
    assert.ok(pts[pts.length - 1]!.metrics['forget ppl']! > pts[0]!.metrics['forget ppl']!, `${target}: ${pts.map((x) => x.metrics['forget ppl']!.toFixed(3)).join(' ')}`);
  }
  const cmp = o.result.comparison!;
  assert.deepEqual(cmp.rows.map((r) => r.target), ['embedding', 'block:4']);
  const cell = cmp.rows[0]!.cells['nll:forget']!;
  assert.equal(cell.n, 6);
  assert.ok(cell.meanDiff > 0 && cell.pHolm! >= cell.p);
  assert.deepEqual(files(path.join(dir, 'adapters')).filter((f) => f.includes('.tmp-')), []);
  // The comparison is saved in the format of `unlearnkit compare-targets`, and loads back.
  const saved = JSON.parse(fs.readFileSync(path.join(dir, cmp.source!), 'utf8')) as { method: string; rows: Array<{ target: string; holmP: Record<string, number | null> }> };
  assert.equal(saved.method, 'first-epoch');
  assert.deepEqual(saved.rows.map((r) => r.target), ['embedding', 'block:4']);
  assert.equal(saved.rows[0]!.holmP.forget, cell.pHolm);
  // Each adapter folder is what `unlearnkit unlearn` writes.
  for (const r of o.result.runs) for (const f of ['meta.json', 'result.json', 'report.md']) assert.ok(fs.existsSync(path.join(dir, r.adapterDir!, f)), `${r.adapterDir}/${f}`);
  // The Reports tab's plan for one of them: evaluate the fine-tuned model and the adapter, then the report.
  const entry = listRuns(dir).find((r) => r.id === o.result.runs[0]!.runId)!;
  const plan = planReport([entry], dir, data);
  assert.ok(typeof plan !== 'string', String(plan));
  if (typeof plan === 'string') return;
  assert.equal(plan.evaluate.length, 2);
  const rep = await runner.start('report', { ...plan, open: false }, () => {}).done;
  assert.equal(rep.status, 'done', JSON.stringify(rep));
  if (rep.status !== 'done') return;
  assert.equal(rep.result.html, path.join(dir, 'reports', entry.id, 'report.html'));
  const html = fs.readFileSync(rep.result.html, 'utf8');
  assert.match(html, /<svg/);
  assert.ok(html.includes('fine-tuned') && html.includes(entry.id), 'the report names both runs');
  // Now it is an evaluation too, and a second report needs no evaluation.
  const again = planReport(listRuns(dir).filter((r) => r.id === entry.id), dir, data);
  assert.ok(typeof again !== 'string' && again.evaluate.length === 0);
  // step size 'auto': the CLI's --eta auto for the target, its search kept in the adapter's meta.json
  const a = await runner.start('unlearn', { ...base, eta: 'auto', evalEvery: 0, targets: ['embedding'] }, () => {}).done;
  assert.equal(a.status, 'done', JSON.stringify(a));
  if (a.status !== 'done') return;
  const am = JSON.parse(fs.readFileSync(path.join(dir, a.result.runs[0]!.adapterDir!, 'meta.json'), 'utf8')) as { stepSearch: { param: string; chosen: number } | null; settings: { eta: number } };
  assert.equal(am.stepSearch?.param, 'eta');
  assert.equal(am.settings.eta, am.stepSearch!.chosen);
  const both = await runner.start('unlearn', { ...base, eta: 'auto', steps: 'auto', targets: ['embedding'] }, () => {}).done;
  assert.equal(both.status, 'error');
  assert.match(JSON.stringify(both), /only one step can be searched at a time/);
});

test('runner: fuzzy selection, describe, and errors as messages', { timeout: 60_000 }, async () => {
  const runner = new ChildJobRunner();
  const ds = getDataset('datasets/dave');
  const fz = await runner.start('fuzzy', { data: 'datasets/dave', request: 'forget everything about Dave Harrowgate' }, () => {}).done;
  assert.equal(fz.status, 'done', JSON.stringify(fz));
  if (fz.status === 'done') {
    const v = fz.result;
    const forgetIds = new Set(ds.facts('forget').map((f) => f.id));
    const tp = v.selected.filter((s) => forgetIds.has(s.id)).length;
    assert.equal(v.trueForget, forgetIds.size);
    assert.equal(v.precision, tp / v.selected.length);
    assert.equal(v.recall, tp / forgetIds.size);
    assert.equal(v.decoysCaught, v.selected.filter((s) => s.decoyOf).length);
    assert.ok(v.recall > 0.5, `recall ${v.recall}`);
  }
  const d = await runner.start('describe', {} as Record<string, never>, () => {}).done;
  assert.equal(d.status, 'done', JSON.stringify(d));
  if (d.status === 'done') {
    assert.ok(d.result.devices.length >= 1);
    assert.ok(d.result.threads >= 1);
    assert.ok(d.result.memory.total > 0);
  }
  const e = await runner.start('finetune', params('no/such/model.gguf', 'datasets/dave', path.join(tempDir(), 'x')), () => {}).done;
  assert.equal(e.status, 'error');
  if (e.status === 'error') {
    assert.equal(e.error.internal, false);
    assert.match(e.error.message, /--model: no\/such\/model\.gguf does not exist/);
    assert.doesNotMatch(e.error.message, /\n\s+at /);
  }
});

test('runner: the RUM table fills in as runs finish; cancelled, it resumes from the finished runs', { timeout: 240_000 }, async () => {
  const dir = tempDir();
  const runner = new ChildJobRunner({ cwd: dir });
  const params = { data: 'synthetic', trainSize: 60, testSize: 30, model: 'tiny', epochs: 2, seeds: [1], forgetSize: 6, algorithms: ['finetune'], memModels: 2, rum: 'none', out: path.join(dir, 'rum') };
  // Cancel as soon as the first result row (a finished run) arrives.
  let h: ReturnType<ChildJobRunner['start']> | null = null;
  const early: string[] = [];
  h = runner.start('rum', params, (p) => {
    if (p.kind === 'cell' && p.cell.variant === 'vanilla') {
      early.push(p.cell.variant);
      h!.cancel();
    }
  });
  const c = await h.done;
  assert.equal(c.status, 'cancelled', JSON.stringify(c));
  assert.ok(early.length >= 1);
  const saved = JSON.parse(fs.readFileSync(path.join(dir, 'rum', 'seed-1', 'results.json'), 'utf8')) as { runs: Array<{ variant: string }> };
  assert.ok(saved.runs.length >= 1 && saved.runs.length < 3, `runs kept: ${saved.runs.map((r) => r.variant).join(', ')}`);
  assert.deepEqual(files(path.join(dir, 'rum')).filter((f) => f.includes('.tmp-')), []);
  // The next run resumes and completes the table: original, retrain, and the three variants.
  const phases: string[] = [];
  const o = await runner.start('rum', params, (p) => p.kind === 'phase' && phases.push(p.text)).done;
  assert.equal(o.status, 'done', JSON.stringify(o));
  if (o.status !== 'done') return;
  assert.deepEqual(o.result.cells.map((x) => `${x.algorithm}/${x.variant}`), ['Original/original', 'Retrain/retrain', 'finetune/vanilla', 'finetune/shuffle', 'finetune/refined']);
  for (const x of o.result.cells) assert.ok(x.tow && x.tow.mean >= 0 && x.tow.mean <= 1, JSON.stringify(x));
  assert.ok(!phases.some((l) => l.includes('finetune vanilla')), 'the finished vanilla run was not run again');
  assert.ok(fs.existsSync(o.result.report!));
});
