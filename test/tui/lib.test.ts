/**
 * The TUI's pure helpers: formatting, text charts (checked dot by dot against hand-worked Braille
 * codes), the comparison matrix (sorting, best target, JSON shapes), run listing, model info read
 * from the GGUF header (against the fixture's documented shape), and error conversion.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { needFixture } from '../helpers/fixtures.ts';
import { tempDir } from './helpers.tsx';
import { cliLine, etaSeconds, fmtBytes, fmtChange, fmtDuration, fmtNum, fmtP, pMarks, shellQuote, truncate, truncateStart } from '../../src/tui/lib/format.ts';
import { bucketMeans, lineChart, progressBar, sparkline } from '../../src/tui/lib/chart.ts';
import { bestRow, cellScore, compareViewFromJson, compareViewFromRows, primaryMetric, sortedRows, type TargetRowLike } from '../../src/tui/lib/compare.ts';
import { finetuneRuns, listRuns, planReport, reportCli, summaryLines } from '../../src/tui/lib/runs.ts';
import { candidateModels, defaultModel, readModelInfo } from '../../src/tui/lib/modelInfo.ts';
import { toUiError } from '../../src/tui/lib/errors.ts';
import { UserError } from '../../src/util/errors.ts';

test('format: sizes, durations, ETA, p-value marks, CLI lines', () => {
  assert.equal(fmtBytes(512), '512 B');
  assert.equal(fmtBytes(1536), '1.5 KiB');
  assert.equal(fmtBytes(8401656), '8.0 MiB');
  assert.equal(fmtBytes(300 * 2 ** 20), '300 MiB');
  assert.equal(fmtDuration(42), '42s');
  assert.equal(fmtDuration(185), '3m05s');
  assert.equal(fmtDuration(3720), '1h02m');
  assert.equal(fmtDuration(NaN), '--');
  // 3 of 12 steps in 6 s: 9 left at 2 s each.
  assert.equal(etaSeconds(3, 12, 6), 18);
  assert.ok(Number.isNaN(etaSeconds(0, 12, 6)));
  assert.equal(pMarks(0.0004), '***');
  assert.equal(pMarks(0.004), '**');
  assert.equal(pMarks(0.04), '*');
  assert.equal(pMarks(0.4), '');
  assert.equal(pMarks(NaN), '');
  assert.equal(fmtP(0.00001), '<1e-4');
  assert.equal(fmtP(0.0123), '0.012');
  assert.equal(fmtChange(10, 12.5), '+25.0%');
  assert.equal(fmtChange(10, 9), '-10.0%');
  assert.equal(fmtNum(1234.5678, 3), '1234.6');
  assert.equal(fmtNum(0.5, 3), '0.500');
  assert.equal(fmtNum(null), '-');
  assert.equal(truncate('abcdef', 4), 'abc…');
  assert.equal(truncate('abc', 4), 'abc');
  assert.equal(truncateStart('runs/x/checkpoint.gguf', 10), '…oint.gguf');
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
  assert.equal(
    cliLine(['finetune'], { model: 'a b.gguf', epochs: 2, 'no-eval': true, quiet: false, out: undefined }),
    "unlearnkit finetune --model 'a b.gguf' --epochs 2 --no-eval",
  );
});

test('chart: sparkline levels, bucket means and the progress bar', () => {
  assert.equal(sparkline([0, 1, 2, 3, 4, 5, 6, 7], 8), '▁▂▃▄▅▆▇█');
  assert.equal(sparkline([5, 5, 5], 3), '▄▄▄');
  assert.equal(sparkline([0, NaN, 7], 3), '▁ █');
  // 8 values into 4 buckets: means of pairs.
  assert.deepEqual(bucketMeans([1, 3, 5, 7, 9, 11, 13, 15], 4), [2, 6, 10, 14]);
  assert.equal(sparkline([1, 3, 5, 7, 9, 11, 13, 15], 4), '▁▃▆█');
  assert.equal(progressBar(0.5, 10), '█████░░░░░');
  assert.equal(progressBar(0, 4), '░░░░');
  assert.equal(progressBar(1, 4), '████');
  // 0.3 of 4 cells = 9.6 eighths -> round 10 = one full cell + a quarter cell (▎, 2/8).
  assert.equal(progressBar(0.3, 4), '█▎░░');
});

test('chart: Braille line chart, dot by dot', () => {
  // Two points in one cell: (x0, bottom) to (x1, top). The joining line passes dots
  // (0,3) (0,2) (1,1) (1,0): bits 0x40 + 0x04 + 0x10 + 0x08 = 0x5c.
  const up = lineChart([0, 1], 1, 1);
  assert.deepEqual(up.rows, [String.fromCharCode(0x2800 + 0x5c)]);
  assert.equal(up.min, 0);
  assert.equal(up.max, 1);
  // A flat series sits on the middle dot row (row 1 of 0..3): (0,1) 0x02 and (1,1) 0x10.
  assert.deepEqual(lineChart([2, 2], 1, 1).rows, [String.fromCharCode(0x2800 + 0x12)]);
  // Falling over two rows of cells: 8 dot rows; (0,0) -> (3,7) across two cells.
  const down = lineChart([1, 0], 2, 2);
  assert.equal(down.rows.length, 2);
  assert.equal(down.rows[0]!.length, 2);
  const bits = (ch: string) => ch.charCodeAt(0) - 0x2800;
  // Top-left cell holds the start dot (0,0) = 0x01; bottom-right holds the end dot (3,7) -> (dx 1, dy 3) = 0x80.
  assert.ok(bits(down.rows[0]![0]!) & 0x01);
  assert.ok(bits(down.rows[1]![1]!) & 0x80);
  // Every dot column of the line has exactly the dots of a connected path: none in top-right / bottom-left corners.
  assert.equal(bits(down.rows[0]![1]!) & 0x08, 0);
  assert.equal(bits(down.rows[1]![0]!) & 0x40, 0);
});

function row(target: string, forgetD: number, retainD: number, p: number): TargetRowLike {
  const t = (dz: number) => ({ t: dz * 3, df: 9, p, meanDiff: dz / 2, ci95: [dz / 2 - 0.1, dz / 2 + 0.1] as [number, number], dz, dav: dz * 0.9, n: 10 });
  return {
    target,
    runId: `run-${target}`,
    comparison: {
      sets: [
        { set: 'retain', n: 10, perplexityBefore: 2, perplexityAfter: 2.1, meanNllBefore: 0.7, meanNllAfter: 0.74, test: t(retainD) },
        { set: 'forget', n: 10, perplexityBefore: 2, perplexityAfter: 5, meanNllBefore: 0.7, meanNllAfter: 1.6, test: t(forgetD) },
      ],
      rouge: [{ set: 'forget', n: 10, meanBefore: 0.8, meanAfter: 0.2, test: t(-forgetD) }],
    },
    holmP: { forget: Math.min(1, p * 2), retain: Math.min(1, p * 2) },
  };
}

test('compare: matrix from comparison rows, goals, sorting and the best target', () => {
  const v = compareViewFromRows('first-epoch', [row('block:0', 0.3, 0.1, 0.2), row('embedding', 2.5, 0.2, 0.0001), row('all', 1.5, 1.2, 0.001)]);
  assert.deepEqual(
    v.metrics.map((m) => [m.key, m.goal]),
    [
      ['nll:forget', 'increase'],
      ['nll:retain', 'decrease'],
      ['rougeL:forget', 'decrease'],
    ],
  );
  assert.equal(primaryMetric(v), 'nll:forget');
  const c = v.rows[1]!.cells['nll:forget']!;
  assert.equal(c.dz, 2.5);
  assert.equal(c.pHolm, 0.0002);
  assert.equal(c.before, 0.7);
  assert.equal(c.after, 1.6);
  // Forget: larger increase is better; retain: an increase is bad (negative score).
  assert.equal(cellScore(v, 1, 'nll:forget'), 2.5);
  assert.equal(cellScore(v, 2, 'nll:retain'), -1.2);
  assert.deepEqual(sortedRows(v, 'nll:forget'), [1, 2, 0]);
  assert.deepEqual(sortedRows(v, 'nll:forget', true), [0, 2, 1]);
  assert.deepEqual(sortedRows(v, 'nll:retain'), [0, 1, 2]);
  assert.equal(bestRow(v, 'nll:forget'), 1);
  assert.equal(bestRow(v, 'nll:retain'), 0);
  // A ROUGE drop on the forget set is the goal: -2.5 scored as +2.5.
  assert.equal(bestRow(v, 'rougeL:forget'), 1);
  // Both JSON shapes load: the view itself, and the library's {method, rows: [{target, comparison}]}.
  assert.deepEqual(compareViewFromJson(JSON.parse(JSON.stringify(v)), 'x.json').rows.map((r) => r.target), ['block:0', 'embedding', 'all']);
  const lib = compareViewFromJson({ method: 'npo', rows: [row('embedding', 1, 0, 0.01)] });
  assert.equal(lib.method, 'npo');
  assert.equal(lib.rows[0]!.cells['nll:forget']!.dz, 1);
  assert.throws(() => compareViewFromJson({ hello: 1 }, 'bad.json'), /bad\.json is not a layer-target comparison/);
});

test('runs: lists fine-tunes, adapters and reports by id, skipping folders being written', () => {
  const cwd = tempDir();
  const mk = (p: string, files: Record<string, string>) => {
    fs.mkdirSync(path.join(cwd, p), { recursive: true });
    for (const [f, c] of Object.entries(files)) fs.writeFileSync(path.join(cwd, p, f), c);
  };
  mk('runs/ft-a', { 'run.json': '{"kind":"finetune"}', 'checkpoint.gguf': 'x', 'summary.json': '{"epochs":[{"epoch":1,"meanLoss":2.5}]}' });
  mk('runs/ft-b', { 'run.json': '{"kind":"finetune"}' });
  mk('runs/ft-c.tmp-123-ab', { 'run.json': '{}' });
  mk('adapters/ul-x', { 'adapter.gguf': 'x', 'meta.json': '{"method":"npo","metrics":{"forget ppl":{"before":2,"after":5}}}' });
  mk('adapters/ul-y.tmp-9-zz', { 'adapter.gguf': 'x' });
  mk('reports/ul-x', { 'summary.json': '{"perplexity":{"forget":5}}', 'report.html': '<html>' });
  mk('reports/bench', { 'engine.json': '{}' });
  const runs = listRuns(cwd);
  assert.deepEqual(runs.map((r) => r.id).sort(), ['ft-a', 'ft-b', 'ul-x']);
  const x = runs.find((r) => r.id === 'ul-x')!;
  assert.deepEqual(x.kinds, ['unlearn', 'report']);
  assert.equal(x.html, path.join(cwd, 'reports/ul-x/report.html'));
  assert.deepEqual(x.summary, { perplexity: { forget: 5 } });
  // Only runs with a checkpoint can be unlearned from.
  assert.deepEqual(finetuneRuns(cwd), [path.join('runs', 'ft-a')]);
  assert.deepEqual(summaryLines(runs.find((r) => r.id === 'ft-a')!.summary), ['epochs[0].epoch: 1', 'epochs[0].meanLoss: 2.5000']);
  assert.deepEqual(summaryLines({ a: { b: [1, 2, 3, 4, 5, 6, 7, 8] }, s: 'x' }), ['a.b: [1, 2, 3, 4, 5, 6, … 8 in all]', 's: x']);
});

test('runs: the report plan evaluates what has no evaluation, against the right baseline', () => {
  const cwd = tempDir();
  const mk = (p: string, files: Record<string, string>) => {
    fs.mkdirSync(path.join(cwd, p), { recursive: true });
    for (const [f, c] of Object.entries(files)) fs.writeFileSync(path.join(cwd, p, f), c);
  };
  const base = path.join(cwd, 'models', 'base.gguf');
  mk('runs/ft', { 'run.json': JSON.stringify({ kind: 'finetune', model: base }), 'checkpoint.gguf': 'x' });
  const ckpt = path.join(cwd, 'runs', 'ft', 'checkpoint.gguf');
  mk('adapters/ul-merged', { 'meta.json': JSON.stringify({ method: 'npo', filter: 'final_norm', fromRun: path.join(cwd, 'runs', 'ft'), base: { checkpoint: ckpt }, files: { adapter: null, merged: 'merged.gguf' } }) });
  mk('adapters/ul-lora', { 'meta.json': JSON.stringify({ method: 'first-epoch', filter: 'embedding', dataset: 'my-data', fromRun: path.join(cwd, 'runs', 'ft'), base: { checkpoint: ckpt }, files: { adapter: 'adapter.gguf', merged: null } }) });
  mk('adapters/ul-none', { 'meta.json': JSON.stringify({ base: { checkpoint: ckpt }, files: { adapter: null, merged: null } }), 'x.gguf': '' });
  const runs = listRuns(cwd);
  const by = (id: string) => runs.find((r) => r.id === id)!;
  // A fine-tune is compared with its base model.
  assert.deepEqual(planReport([by('ft')], cwd, 'tiny'), {
    evaluate: [
      { model: base, data: 'tiny', out: path.join('reports', 'base-base'), label: 'base model' },
      { model: ckpt, data: 'tiny', out: path.join('reports', 'ft'), label: 'ft' },
    ],
    runs: [path.join('reports', 'base-base'), path.join('reports', 'ft')],
  });
  // Two unlearning runs share one baseline (the fine-tuned checkpoint); merged.gguf is preferred when written.
  const two = planReport([by('ul-merged'), by('ul-lora')], cwd);
  assert.ok(typeof two !== 'string');
  if (typeof two === 'string') return;
  assert.deepEqual(two.runs, [path.join('reports', 'base-ft'), path.join('reports', 'ul-merged'), path.join('reports', 'ul-lora')]);
  assert.deepEqual(two.evaluate.map((e) => [e.label, e.adapter && path.basename(e.adapter), e.data]), [
    ['fine-tuned', undefined, 'dave'],
    ['ul-merged', 'merged.gguf', 'dave'],
    ['ul-lora', 'adapter.gguf', 'my-data'],
  ]);
  assert.match(reportCli(two), /^unlearnkit eval --model \S+checkpoint\.gguf --out reports\/base-ft --label fine-tuned --no-report && .* && unlearnkit report reports\/base-ft reports\/ul-merged reports\/ul-lora$/);
  // Finished evaluations are not repeated.
  mk('reports/base-ft', { 'summary.json': '{}', 'run.json': '{"kind":"eval"}' });
  const again = planReport([listRuns(cwd).find((r) => r.id === 'ul-lora')!], cwd);
  assert.ok(typeof again !== 'string' && again.evaluate.length === 1 && again.evaluate[0]!.label === 'ul-lora');
  assert.match(String(planReport([by('ul-none')], cwd)), /changed nothing/);
});

test('model info: the GGUF header of stories260K (shape, groups, memory) without loading weights', (t) => {
  const p = needFixture(t, 'models', 'stories260K.gguf');
  if (!p) return;
  const m = readModelInfo(p);
  assert.equal(m.kind, 'gguf');
  if (m.kind !== 'gguf') return;
  // The fixture README: 5 blocks, n_embd 64, n_ff 172, 8 heads / 4 KV, vocab 512, all F32, 48 tensors.
  assert.equal(m.config.nLayer, 5);
  assert.equal(m.config.nEmbd, 64);
  assert.equal(m.config.nFf, 172);
  assert.equal(m.config.nHead, 8);
  assert.equal(m.config.nHeadKv, 4);
  assert.equal(m.config.nVocab, 512);
  assert.deepEqual(m.types, { F32: 48 });
  // Parameters as `unlearnkit inspect` counts them: 292,800.
  assert.equal(m.parameters, 292800);
  assert.equal(m.trainBytes, 292800 * 16);
  assert.equal(m.fileBytes, fs.statSync(p).size);
  // Groups: embedding, 5 x (block, attn, mlp), final_norm, output = 18; embedding = 512 x 64.
  assert.equal(m.groups.length, 18);
  assert.deepEqual(m.groups[0], { group: 'embedding', tensors: 1, parameters: 32768 });
  const b0 = m.groups.find((g) => g.group === 'block:0')!;
  // q 64x64 + k,v 64x32 + o 64x64 + gate/up/down 3 x 64x172 + 2 norms x 64.
  assert.equal(b0.parameters, 4096 + 2 * 2048 + 4096 + 3 * 64 * 172 + 128);
});

test('model info: Hugging Face folders are described and pointed at conversion; bad paths are user errors', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 100 }));
  const m = readModelInfo(dir);
  assert.equal(m.kind, 'hf');
  if (m.kind === 'hf') {
    assert.equal(m.modelType, 'llama');
    assert.equal(m.layers, 2);
    assert.equal(m.hidden, 64);
    assert.deepEqual(m.ggufInside, []);
  }
  assert.throws(() => readModelInfo(path.join(dir, 'nope.gguf')), (e: unknown) => e instanceof UserError && /does not exist/.test(e.message));
  const empty = tempDir();
  assert.throws(() => readModelInfo(empty), /without config.json or .gguf/);
  fs.writeFileSync(path.join(dir, 'bad.gguf'), 'not a gguf at all');
  assert.throws(() => readModelInfo(path.join(dir, 'bad.gguf')), /not a GGUF file/);
});

test('model info: the default model falls back to stories260K and says so; candidates include run checkpoints', (t) => {
  const p = needFixture(t, 'models', 'stories260K.gguf');
  if (!p) return;
  const cwd = tempDir();
  const root = path.resolve(import.meta.dirname, '..', '..');
  const embedded = fs.existsSync(path.join(root, 'models', 'unlearnkit-base.gguf'));
  const d = defaultModel(cwd);
  if (embedded) {
    assert.match(d.path!, /unlearnkit-base\.gguf$/);
    assert.equal(d.note, undefined);
  } else {
    assert.equal(path.resolve(cwd, d.path!), p);
    assert.match(d.note!, /not built yet; using the stories260K fixture/);
  }
  fs.mkdirSync(path.join(cwd, 'runs', 'r1'), { recursive: true });
  fs.copyFileSync(p, path.join(cwd, 'runs', 'r1', 'checkpoint.gguf'));
  assert.ok(candidateModels(cwd).includes(path.join('runs', 'r1', 'checkpoint.gguf')));
});

test('errors: user errors keep their message; bugs go to the log with a hint, never a stack on screen', () => {
  const log = path.join(tempDir(), 'tui.log');
  process.env.UNLEARNKIT_TUI_LOG = log;
  try {
    const u = toUiError(new UserError('--epochs must be a positive integer, got 0'));
    assert.equal(u.internal, false);
    assert.equal(u.message, '--epochs must be a positive integer, got 0');
    const e = new TypeError('x is undefined');
    const b = toUiError(e);
    assert.equal(b.internal, true);
    assert.equal(b.message, 'TypeError: x is undefined');
    assert.ok(!b.message.includes('    at '));
    assert.match(b.hint, /bug/);
    assert.equal(b.logFile, log);
    assert.match(fs.readFileSync(log, 'utf8'), /TypeError: x is undefined\n.*at /s);
    const enoent = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
    assert.equal(toUiError(enoent).internal, false);
    assert.match(toUiError(enoent).hint, /check the path/);
  } finally {
    delete process.env.UNLEARNKIT_TUI_LOG;
  }
});
