/**
 * Each screen's rendering and key handling, with injected fakes for the job runner and the server
 * (the real ones are tested in jobs.test.ts and server.test.ts): what a screen sends to a job is
 * checked field by field, and progress / results / errors the fake reports are checked on screen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { needFixture } from '../helpers/fixtures.ts';
import { DESCRIBE, FakeJobRunner, FakeServer, KEYS, flat, renderApp, tempDir } from './helpers.tsx';
import { compareViewFromRows } from '../../src/tui/lib/compare.ts';
import { readModelInfo } from '../../src/tui/lib/modelInfo.ts';
import { getDataset } from '../../src/data/dataset.ts';

const STORIES = 'test/fixtures/models/stories260K.gguf';

test('Model: shows architecture, groups, device and memory; opens another model; bad paths say what to do', async (t) => {
  const p = needFixture(t, 'models', 'stories260K.gguf');
  if (!p) return;
  const h = renderApp({ columns: 100, rows: 30, initial: { modelPath: p, modelNote: 'the embedded model is not built yet; using the stories260K fixture instead' } });
  try {
    const f = await h.waitFor((x) => x.includes('292,800 parameters') && x.includes('Test CPU'), 'model info and device');
    assert.match(f, /5 blocks, embd 64, 8 heads \(4 KV\)/);
    assert.match(f, /vocab 512, context 2048/);
    assert.match(f, /embedding\s+1 tensors\s+32,768/);
    assert.match(f, /engine\s+1 threads · CPU haswell · ggml 0\.0\.1/);
    assert.match(f, /● (…)?\S*stories260K\.gguf/);
    assert.match(f, /4\.0 GiB free of 8\.0 GiB/);
    assert.ok(f.includes('the stories260K fixture instead'));
    assert.equal((h.jobs as FakeJobRunner).count('describe'), 1);
    // p: type a path that does not exist -> an error with what to do, no stack.
    await h.press('p');
    await h.waitFor((x) => x.includes('│ path '), 'the path field');
    await h.press('\x15'); // Ctrl-U clears
    await h.type('nope/missing.gguf');
    await h.press(KEYS.enter);
    // the message wraps at a path-dependent place inside its box: compare with borders and line breaks folded
    const e = await h.waitFor((x) => x.replace(/[│\s]+/g, ' ').includes('does not exist'), 'the error');
    assert.match(e.replace(/[│\s]+/g, ' '), /pick another file, or type its path with p/);
    assert.doesNotMatch(e, /\s+at \S+ \(/);
  } finally {
    h.unmount();
  }
});

test('Model: a Hugging Face folder is described, and c converts it to GGUF and opens the result', async (t) => {
  const p = needFixture(t, 'models', 'stories260K.gguf');
  if (!p) return;
  const cwd = tempDir();
  const hf = path.join(cwd, 'tiny-llama');
  fs.mkdirSync(hf);
  fs.writeFileSync(path.join(hf, 'config.json'), JSON.stringify({ model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: 64, num_hidden_layers: 5, num_attention_heads: 8, vocab_size: 512 }));
  const h = renderApp({ cwd, columns: 120, rows: 30, initial: { modelPath: null } });
  const jobs = h.jobs as FakeJobRunner;
  try {
    await h.press('p');
    await h.waitFor((x) => x.includes('│ path '), 'the path field');
    await h.press('\x15');
    await h.type(hf);
    await h.press(KEYS.enter);
    const f = await h.waitFor((x) => x.includes('Hugging Face: llama LlamaForCausalLM'), 'the folder description');
    assert.match(f, /5 layers, hidden 64, 8 heads, vocab 512/);
    assert.match(flat(f), /press c to convert it to models\/tiny-llama\.gguf \(unlearnkit convert \S+tiny-llama models\/tiny-llama\.gguf\)/);
    await h.press('c');
    const job = jobs.last('convert');
    assert.deepEqual(job.params, { dir: hf, out: path.join('models', 'tiny-llama.gguf'), outtype: 'f32' });
    // The converted file appears where the job wrote it (here: a copy of stories260K), and opens.
    fs.mkdirSync(path.join(cwd, 'models'));
    fs.copyFileSync(p, path.join(cwd, 'models', 'tiny-llama.gguf'));
    job.finish({ output: path.join(cwd, 'models', 'tiny-llama.gguf'), arch: 'llama', parameters: 292800, tensors: 48, warnings: [] });
    await h.waitFor((x) => x.includes('Model: tiny-llama.gguf') && x.includes('292,800 parameters'), 'the converted model open');
    await h.waitFor((x) => x.includes('converted ') && x.includes('(48 tensors)'), 'the notice');
  } finally {
    h.unmount();
  }
});

test('Model: start / stop the server and toggle adapters through it', async (t) => {
  const p = needFixture(t, 'models', 'stories260K.gguf');
  if (!p) return;
  const cwd = tempDir();
  fs.mkdirSync(path.join(cwd, 'adapters', 'run-a'), { recursive: true });
  fs.writeFileSync(path.join(cwd, 'adapters', 'run-a', 'adapter.gguf'), 'x');
  const server = new FakeServer();
  const h = renderApp({ cwd, server, columns: 100, rows: 30, initial: { modelPath: p } });
  try {
    await h.waitFor((x) => x.includes('292,800'), 'model');
    assert.match(h.frame(), /\[ \] run-a/);
    await h.press('s');
    await h.waitFor((x) => x.includes('Server: running') && x.includes('http://127.0.0.1:9999/v1'), 'running server');
    assert.deepEqual(server.calls, [`start ${p} 8765`]);
    assert.match(h.frame(), /CPU \(fake\)/);
    // Server pane, toggle the adapter on and off.
    await h.press(KEYS.right, KEYS.space);
    await h.waitFor((x) => x.includes('[x] run-a ×1') && x.includes('(1 loaded)'), 'adapter loaded');
    await h.press(KEYS.space);
    await h.waitFor((x) => x.includes('[ ] run-a') && x.includes('(0 loaded)'), 'adapter unloaded');
    await h.press('s');
    await h.waitFor((x) => x.includes('Server: stopped'), 'stopped');
    assert.deepEqual(server.calls.slice(1), ['load run-a', 'unload run-a', 'stop']);
    // A failing start shows the message and what to do.
    server.failStart = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8765'), { code: 'EADDRINUSE' });
    await h.press('s');
    const f = await h.waitFor((x) => x.includes('EADDRINUSE'), 'start error');
    assert.match(f, /press P for another port/);
  } finally {
    h.unmount();
  }
});

test('Data: splits, item details, choosing the forget set, and the fuzzy preview with decoys', async () => {
  const h = renderApp({ tab: 'data', columns: 100, rows: 30, initial: { modelPath: null } });
  const ds = getDataset('datasets/dave');
  const forget = ds.facts('forget');
  const decoys = ds.facts('decoy');
  try {
    let f = await h.waitFor((x) => x.includes(`forget ${forget.length}`), 'split counts');
    assert.ok(f.includes(forget[0]!.statement));
    await h.press(KEYS.right, KEYS.right, KEYS.right);
    f = await h.waitFor((x) => x.includes(`decoy: ${decoys.length} items`), 'the decoy split');
    assert.ok(f.includes(`≈ ${decoys[0]!.decoy_of}`));
    await h.press(KEYS.enter);
    f = await h.waitFor((x) => x.includes('perturbed'), 'item details');
    assert.ok(f.includes(decoys[0]!.question));
    assert.ok(f.includes(`decoy of    ${decoys[0]!.decoy_of}`));
    await h.press(KEYS.enter, KEYS.left, KEYS.left, 'f');
    await h.waitFor((x) => x.includes(`forget set: split retain (${ds.facts('retain').length} items)`), 'forget = retain');
    // A removal request: the preview comes from the fuzzy job.
    await h.press('/');
    await h.waitFor((x) => x.includes('removal request '), 'the request field');
    await h.type('forget everything about Dave');
    await h.press(KEYS.enter);
    const job = (h.jobs as FakeJobRunner).last('fuzzy');
    assert.deepEqual(job.params, { data: 'dave', request: 'forget everything about Dave', from: null });
    job.finish({
      request: 'forget everything about Dave',
      selected: [
        { id: forget[0]!.id, split: 'forget', person: 'Dave Harrowgate', text: forget[0]!.statement, score: 0.91 },
        { id: decoys[0]!.id, split: 'decoy', person: decoys[0]!.person, text: decoys[0]!.statement, score: 0.55, decoyOf: decoys[0]!.decoy_of },
      ],
      precision: 0.5,
      recall: 1 / 113,
      decoysCaught: 1,
      trueForget: 113,
    });
    f = await h.waitFor((x) => x.includes('2 items selected'), 'the preview');
    assert.match(f, /precision 0\.500 · recall 0\.009 against the 113 true forget items · 1 decoys caught/);
    assert.ok(f.includes(`DECOY of ${decoys[0]!.decoy_of}`));
    await h.press('u');
    await h.waitFor((x) => x.includes('forget set: the 2 items matching "forget everything about Dave"'), 'forget = the request');
  } finally {
    h.unmount();
  }
});

test('Data: a dataset that does not exist is an error on screen with what to do', async () => {
  const h = renderApp({ tab: 'data', initial: { modelPath: null, dataPath: 'no/such/dataset' } });
  try {
    const f = await h.waitFor((x) => x.replace(/[│\s]+/g, ' ').includes('unknown dataset'), 'the error');
    assert.match(f, /press e and type a dataset/);
  } finally {
    h.unmount();
  }
});

test('Train: the form becomes finetune parameters; progress, loss chart, ETA and record size; Esc cancels; results', async (t) => {
  const p = needFixture(t, 'models', 'stories260K.gguf');
  if (!p) return;
  const h = renderApp({ tab: 'train', columns: 120, rows: 30, initial: { modelPath: STORIES, model: readModelInfo(p) } });
  const jobs = h.jobs as FakeJobRunner;
  try {
    await h.waitFor((x) => x.includes('Fine-tune'), 'train screen');
    // splits, epochs: edit epochs to 2; optimizer: sgd; perplexity off.
    await h.press(KEYS.down);
    await h.edit('2');
    await h.press(KEYS.down, KEYS.down, KEYS.down, KEYS.right, KEYS.down, KEYS.down, KEYS.down, KEYS.space);
    await h.waitFor((x) => /epochs\s+2/.test(x) && x.includes('‹ sgd ›') && /perplexity\s+no/.test(x), 'edited form');
    assert.match(h.frame(), /unlearnkit finetune --model test\/fixtures\/models\/stories260K\.gguf --epochs 2 --optimizer sgd --no-eval\n/);
    await h.press('r');
    const job = jobs.last('finetune');
    assert.equal(job.params.model, STORIES);
    assert.equal(job.params.epochs, 2);
    assert.equal(job.params.optimizer, 'sgd');
    assert.equal(job.params.eval, false);
    assert.deepEqual(job.params.splits, ['retain', 'forget', 'decoy']);
    assert.match(job.params.out, /^runs\/finetune-\d{4}-/);
    job.progress({ kind: 'phase', text: 'fine-tuning on 623 items' });
    for (let s = 1; s <= 5; s++) job.progress({ kind: 'step', epoch: 1, epochs: 2, step: s, stepsPerEpoch: 10, loss: 4 - s * 0.5, tokensPerSecond: 1000, recordBytes: s * 2 ** 20, elapsed: s });
    const f = await h.waitFor((x) => x.includes('5/10') && x.includes('loss 1.5000'), 'progress');
    assert.match(f, /epoch 1\/2 .*5\/10/);
    assert.match(f, /overall .* 25%/);
    assert.match(f, /1000 tok\/s/);
    // 4 steps after the first in 4 s, 15 steps to go: 15 s.
    assert.match(f, /ETA 15s/);
    assert.match(f, /record 5\.0 MiB/);
    assert.match(f, /loss now 1\.500/);
    assert.ok(/[\u2801-\u28ff]/.test(f), 'a Braille loss chart');
    // Esc cancels through the runner.
    await h.press(KEYS.esc);
    assert.equal(job.cancelled, true);
    await h.waitFor((x) => x.includes('finetune cancelled'), 'cancelled status');
    // A second run finishes: results and the shared state for Unlearn.
    await h.press('r');
    const job2 = jobs.last('finetune');
    assert.notEqual(job2, job);
    job2.finish({
      out: 'runs/ft-1',
      checkpoint: 'runs/ft-1/checkpoint.gguf',
      epochs: [{ epoch: 1, meanLoss: 2.5, seconds: 3, tokens: 900, recorded: true }],
      tokensPerSecond: 300,
      recordDir: 'runs/ft-1/grads',
      recordBytes: 3 * 2 ** 20,
      perplexity: { before: { forget: 40, general: 20 }, after: { forget: 10, general: 21 } },
    });
    const d = await h.waitFor((x) => x.includes('run runs/ft-1'), 'results');
    assert.match(d, /epoch 1: mean loss 2\.5000, 900 tokens, 3s \(recorded\)/);
    assert.match(d, /checkpoint\.gguf, gradient record 3\.0 MiB in grads\//);
    assert.match(d, /ppl forget  40\.00 → 10\.00 \(-75\.0%\)/);
    assert.match(d, /ppl general 20\.00 → 21\.00 \(\+5\.0%\)/);
    assert.match(d, /fine-tune finished: runs\/ft-1\/checkpoint\.gguf · press 4 to unlearn from it/);
  } finally {
    h.unmount();
  }
});

test('Train: a job error is shown with its hint, and a bad number never reaches the job', async () => {
  const h = renderApp({ tab: 'train', initial: { modelPath: STORIES, model: { kind: 'hf', path: 'x', modelType: 'llama', architectures: [], hidden: 1, layers: 1, heads: 1, vocab: 1, ggufInside: [] } } });
  const jobs = h.jobs as FakeJobRunner;
  try {
    await h.waitFor((x) => x.includes('Fine-tune'), 'train screen');
    await h.press('r');
    await h.waitFor((x) => flat(x).includes('open a GGUF model on the Model tab (1) first'), 'needs a GGUF');
    assert.equal(jobs.count('finetune'), 0);
  } finally {
    h.unmount();
  }
  const p = needFixture({ skip: () => {} } as never, 'models', 'stories260K.gguf');
  if (!p) return;
  const h2 = renderApp({ tab: 'train', initial: { modelPath: STORIES, model: readModelInfo(p) } });
  const jobs2 = h2.jobs as FakeJobRunner;
  try {
    await h2.waitFor((x) => x.includes('Fine-tune'), 'train screen');
    await h2.press(KEYS.down);
    await h2.edit('two');
    await h2.press('r');
    // the form checks each value with the validator of its declaration (src/options), as the CLI does
    await h2.waitFor((x) => flat(x).includes("--epochs: got 'two'; allowed: an integer >= 1 and <= 1000"), 'form error');
    assert.equal(jobs2.count('finetune'), 0);
    await h2.edit('0');
    await h2.press('r');
    await h2.waitFor((x) => flat(x).includes("--epochs: got '0'; allowed: an integer >= 1 and <= 1000"), 'form error (range)');
    assert.equal(jobs2.count('finetune'), 0);
    await h2.edit('2');
    await h2.press('r');
    jobs2.last('finetune').fail({ message: '--epochs must be a positive integer, got 0', hint: 'fix the value named above, then try again', internal: false });
    const f = await h2.waitFor((x) => flat(x).includes('--epochs must be a positive integer'), 'job error');
    assert.match(flat(f), /→ fix the value named above/);
  } finally {
    h2.unmount();
  }
});

test('Unlearn: two targets from the picker, live perplexity charts, results, then the comparison', async (t) => {
  const p = needFixture(t, 'models', 'stories260K.gguf');
  if (!p) return;
  const h = renderApp({ tab: 'unlearn', columns: 130, rows: 30, initial: { modelPath: STORIES, model: readModelInfo(p), fromRun: 'runs/ft-1' } });
  const jobs = h.jobs as FakeJobRunner;
  try {
    await h.waitFor((x) => x.includes('runs/ft-1'), 'from run');
    // targets: open the picker, keep embedding, add block:4 (options: all, embedding, block:0 ...).
    await h.press(KEYS.down, KEYS.down, KEYS.enter);
    await h.waitFor((x) => x.includes('targets: 1 chosen'), 'picker');
    for (let i = 0; i < 14; i++) await h.press(KEYS.down);
    await h.waitFor((x) => /› ?\[ \] block:4\b|\[ \] block:4\n/.test(x) || x.includes('[ ] block:4'), 'block:4 visible');
    await h.press(KEYS.space, KEYS.enter);
    await h.waitFor((x) => /targets\s+embedding,block:4/.test(x), 'two targets');
    assert.match(h.frame(), /for t in embedding block:4; do unlearnkit unlearn --from runs\/ft-1 --method first-epoch --target "\$t" --rouge; done/);
    await h.press('r');
    const job = jobs.last('unlearn');
    assert.deepEqual(job.params, {
      from: 'runs/ft-1',
      data: 'dave',
      method: 'first-epoch',
      targets: ['embedding', 'block:4'],
      strategy: 'batch',
      forget: { split: 'forget' },
      eta: 1,
      steps: 0,
      evalEvery: 0,
      rouge: true,
      seed: 0,
    });
    job.progress({ kind: 'phase', text: 'target 1/2: embedding', target: 'embedding' });
    job.progress({ kind: 'step', target: 'embedding', step: 1, steps: 3 });
    [10, 14, 20, 30].forEach((v, i) => job.progress({ kind: 'eval', target: 'embedding', step: i, metrics: { 'forget ppl': v, 'retain ppl': 5 + i * 0.1, 'forget rougeL': 0.9 - i * 0.2, 'retain rougeL': 0.8 } }));
    const f = await h.waitFor((x) => x.includes('forget ppl now 30.00'), 'charts');
    assert.match(f, /targets 1\/2/);
    assert.match(f, /retain ppl now 5\.30/);
    assert.match(f, /forget rougeL 0\.90→0\.30/);
    // the star: the Pareto-optimal target with the largest forget effect within +5% retain perplexity
    const row = (target: string, fz: number, forgetAfter: number, retainAfter: number) => ({
      target,
      runId: `first-epoch-${target}`,
      comparison: {
        sets: [
          { set: 'forget', n: 20, perplexityBefore: 10, perplexityAfter: 30, meanNllBefore: 2.3, meanNllAfter: forgetAfter, test: { t: 5, df: 19, p: 1e-5, meanDiff: 1.1, ci95: [0.8, 1.4] as [number, number], dz: fz, dav: 1.5, n: 20 } },
          { set: 'retain', n: 20, perplexityBefore: 5, perplexityAfter: 5.1, meanNllBefore: 1.6, meanNllAfter: retainAfter, test: null },
        ],
      },
    });
    job.finish({
      method: 'first-epoch',
      runs: [
        { target: 'embedding', runId: 'first-epoch-embedding', adapterDir: 'adapters/first-epoch-embedding', metrics: { 'forget ppl': { before: 10, after: 30 }, 'retain ppl': { before: 5, after: 5.3 } } },
        { target: 'block:4', runId: 'first-epoch-block-4', adapterDir: 'adapters/first-epoch-block-4', metrics: { 'forget ppl': { before: 10, after: 11 }, 'retain ppl': { before: 5, after: 5 } } },
      ],
      comparison: compareViewFromRows('first-epoch', [row('embedding', 2.1, 3.4, 1.62), row('block:4', 0.2, 2.4, 1.6)]),
    });
    const d = await h.waitFor((x) => x.includes('c or 5: open the comparison'), 'results');
    assert.match(d, /embedding\s+10\.0→30\.0 \+200\.0%\s+5\.00→5\.30 \+6\.0%/);
    await h.press('c');
    const c = await h.waitFor((x) => x.includes('★ best within +5%: embedding'), 'the comparison');
    assert.match(c, /★ embedding\s+\+1\.100 d2\.10\*\*\*/);
  } finally {
    h.unmount();
  }
});

test('Unlearn: without a fine-tuning run it says what to do; fuzzy needs a request', async () => {
  const cwd = tempDir();
  const h = renderApp({ tab: 'unlearn', cwd, initial: { modelPath: null } });
  try {
    await h.waitFor((x) => x.includes('Unlearn'), 'screen');
    await h.press('r');
    await h.waitFor((x) => flat(x).includes('fine-tune one on the Train tab (3) first'), 'needs a run');
    assert.equal((h.jobs as FakeJobRunner).count('unlearn'), 0);
  } finally {
    h.unmount();
  }
});

test('Compare: sorting by a column, the best target, and a cell\'s paired statistics', async () => {
  const mk = (target: string, fz: number, rz: number, p: number) => ({
    target,
    comparison: {
      sets: [
        { set: 'forget', n: 20, perplexityBefore: 10, perplexityAfter: 20, meanNllBefore: 2.3, meanNllAfter: 2.3 + fz / 2, test: { t: fz * 4.4, df: 19, p, meanDiff: fz / 2, ci95: [fz / 2 - 0.2, fz / 2 + 0.2] as [number, number], dz: fz, dav: fz * 0.8, n: 20 } },
        { set: 'retain', n: 20, perplexityBefore: 5, perplexityAfter: 5.5, meanNllBefore: 1.6, meanNllAfter: 1.6 + rz / 10, test: { t: rz * 4.4, df: 19, p: 0.3, meanDiff: rz / 10, ci95: [-0.1, 0.1] as [number, number], dz: rz, dav: rz, n: 20 } },
      ],
    },
    holmP: { forget: Math.min(1, p * 3), retain: 0.9 },
  });
  const view = compareViewFromRows('npo', [mk('all', 1.0, 0.9, 0.001), mk('embedding', 2.0, 0.1, 0.0001), mk('block:4', 0.1, 0.0, 0.6)]);
  const h = renderApp({ tab: 'compare', initial: { modelPath: null, comparison: view } });
  try {
    // ★: all (forget NLL +0.5, retain perplexity +9.4%) is over budget and dominated by embedding (+1.0, +1.0%); block:4 (+0.05, +0%) is on the front with less effect
    let f = await h.waitFor((x) => x.includes('★ best within +5%: embedding') && x.includes('sorted by forget NLL'), 'matrix');
    const rows = f.split('\n').filter((l) => /^│ (★ | {2})(all|embedding|block:4)/.test(l));
    assert.deepEqual(
      rows.map((l) => l.match(/(all|embedding|block:4)/)![1]),
      ['embedding', 'all', 'block:4'],
    );
    assert.match(f, /\+1\.000 d2\.00\*\*\*/);
    // The selected cell (embedding, forget) has its statistics below.
    assert.match(f, /embedding · forget NLL: paired statistics/);
    assert.match(f, /t\(19\) = 8\.800/);
    assert.match(f, /p 0\.00010 · Holm 0\.00030 \*\*\*/);
    assert.match(f, /Cohen's d_z 2\.000/);
    // Sort by retain NLL (goal: no rise): block:4 (d 0) first.
    await h.press(KEYS.right, 's');
    f = await h.waitFor((x) => x.includes('sorted by retain NLL'), 'sorted by retain');
    const rows2 = f.split('\n').filter((l) => /^│ (★ | {2})(all|embedding|block:4)/.test(l));
    assert.deepEqual(rows2.map((l) => l.match(/(all|embedding|block:4)/)![1]), ['block:4', 'embedding', 'all']);
    assert.match(f, /★ best within \+5%: embedding/, 'the star does not follow the sort');
    await h.press('s');
    await h.waitFor((x) => x.includes('(reversed)'), 'reversed');
    await h.press(KEYS.enter);
    await h.waitFor((x) => !x.includes('paired statistics'), 'stats hidden');
  } finally {
    h.unmount();
  }
});

test('Compare: loading a comparison JSON; a wrong file is an error with a hint', async () => {
  const dir = tempDir();
  const good = path.join(dir, 'cmp.json');
  fs.writeFileSync(good, JSON.stringify(compareViewFromRows('grad-diff', [{ target: 'final_norm', comparison: { sets: [] } }])));
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, '{"x": 1}');
  const h = renderApp({ tab: 'compare', cwd: dir, initial: { modelPath: null } });
  try {
    await h.waitFor((x) => x.includes('no comparison yet'), 'empty');
    await h.press('l');
    await h.waitFor((x) => x.includes('load comparison JSON'), 'the file field');
    await h.press('\x15');
    await h.type(bad);
    await h.press(KEYS.enter);
    await h.waitFor((x) => x.includes('is not a layer-target comparison'), 'error');
    await h.press('l');
    await h.waitFor((x) => x.includes('load comparison JSON'), 'the file field');
    await h.press('\x15');
    await h.type(good);
    await h.press(KEYS.enter);
    await h.waitFor((x) => x.includes('grad-diff') && x.includes('final_norm'), 'loaded');
  } finally {
    h.unmount();
  }
});

test('Reports: lists runs, shows a summary, writes the report (evaluating unlearning runs first), opens it', async () => {
  const cwd = tempDir();
  fs.mkdirSync(path.join(cwd, 'reports', 'eval-1'), { recursive: true });
  fs.writeFileSync(path.join(cwd, 'reports', 'eval-1', 'summary.json'), JSON.stringify({ perplexity: { forget: 12.5 } }));
  fs.mkdirSync(path.join(cwd, 'adapters', 'ul-2'), { recursive: true });
  const meta = { method: 'npo', filter: 'embedding', dataset: 'dave', fromRun: path.join(cwd, 'runs', 'ft-9'), base: { checkpoint: path.join(cwd, 'runs', 'ft-9', 'checkpoint.gguf'), sha256: 'x' }, files: { adapter: 'adapter.gguf', merged: null } };
  fs.writeFileSync(path.join(cwd, 'adapters', 'ul-2', 'meta.json'), JSON.stringify(meta));
  fs.writeFileSync(path.join(cwd, 'adapters', 'ul-2', 'report.md'), '# run');
  fs.mkdirSync(path.join(cwd, 'adapters', 'ul-3'), { recursive: true });
  fs.writeFileSync(path.join(cwd, 'adapters', 'ul-3', 'meta.json'), JSON.stringify({ method: 'npo' }));
  const t1 = new Date(Date.now() - 60_000);
  const t2 = new Date(Date.now() - 120_000);
  fs.utimesSync(path.join(cwd, 'adapters', 'ul-2'), t1, t1);
  fs.utimesSync(path.join(cwd, 'adapters', 'ul-3'), t2, t2);
  const opened: string[] = [];
  const h = renderApp({ tab: 'reports', cwd, columns: 100, rows: 30, initial: { modelPath: null }, openFile: async (f) => (opened.push(f), true) });
  const jobs = h.jobs as FakeJobRunner;
  try {
    const f = await h.waitFor((x) => x.includes('Runs (3)'), 'list');
    assert.match(f, /EV\s+eval-1/);
    assert.match(f, /UL\s+ul-2/);
    assert.match(f, /perplexity\.forget: 12\.500/);
    assert.match(f, /unlearnkit report reports\/eval-1/);
    await h.press('o');
    await h.waitFor((x) => x.includes('has no report.html yet'), 'no html');
    await h.press('w');
    const job = jobs.last('report');
    assert.deepEqual(job.params, { evaluate: [], runs: [path.join('reports', 'eval-1')], open: false });
    fs.writeFileSync(path.join(cwd, 'reports', 'eval-1', 'report.html'), '<html></html>');
    job.progress({ kind: 'phase', text: 'writing the report of 1 run(s)' });
    job.finish({ html: path.join(cwd, 'reports', 'eval-1', 'report.html'), opened: false });
    await h.waitFor((x) => x.includes('(o opens it)'), 'written');
    await h.press('o');
    await h.waitFor((x) => x.includes('opened '), 'opened');
    assert.deepEqual(opened, [path.join(cwd, 'reports', 'eval-1', 'report.html')]);
    // An unlearning run: evaluate the fine-tuned checkpoint and the adapter on it, then report.
    await h.press(KEYS.down);
    await h.waitFor((x) => /unlearnkit eval --model \S+checkpoint\.gguf --out reports\/base-ft-9/.test(x), 'the CLI plan');
    await h.press('w');
    const job2 = jobs.last('report');
    assert.deepEqual(job2.params, {
      evaluate: [
        { model: meta.base.checkpoint, data: 'dave', out: path.join('reports', 'base-ft-9'), label: 'fine-tuned' },
        { model: meta.base.checkpoint, adapter: path.join(cwd, 'adapters', 'ul-2', 'adapter.gguf'), data: 'dave', out: path.join('reports', 'ul-2'), label: 'ul-2', method: 'npo', target: 'embedding' },
      ],
      runs: [path.join('reports', 'base-ft-9'), path.join('reports', 'ul-2')],
      open: false,
    });
    job2.progress({ kind: 'phase', text: 'evaluating fine-tuned: perplexity (1/5)' });
    await h.waitFor((x) => x.includes('evaluating fine-tuned: perplexity (1/5)'), 'evaluation progress');
    await h.press(KEYS.esc);
    assert.equal(job2.cancelled, true);
    // Its report.md opens while there is no HTML.
    await h.press('o');
    await h.waitFor((x) => x.includes('opened ') && x.includes('report.md'), 'report.md opened');
    // A run that does not say where it came from is refused with a hint.
    await h.press(KEYS.down, 'w');
    const e = await h.waitFor((x) => x.includes('does not name the checkpoint'), 'refused');
    assert.match(flat(e), /choose an evaluation, an unlearning or a fine-tuning run/);
    assert.equal(jobs.count('report'), 2);
  } finally {
    h.unmount();
  }
});

test('RUM: the form becomes rum-table parameters; the table fills in row by row; progress; Esc cancels', async () => {
  const h = renderApp({ tab: 'rum', columns: 100, rows: 32, initial: { modelPath: null } });
  const jobs = h.jobs as FakeJobRunner;
  try {
    await h.waitFor((x) => x.includes('RUM on images'), 'screen');
    // seeds: 7,8 (field 6), then run.
    for (let i = 0; i < 5; i++) await h.press(KEYS.down);
    await h.edit('7,8');
    await h.waitFor((x) => x.includes('unlearnkit rum table --seeds 7,8'), 'the CLI line');
    await h.press('r');
    const job = jobs.last('rum');
    assert.deepEqual(job.params, { data: 'synthetic', model: 'small', seeds: [7, 8], algorithms: ['finetune', 'neggrad+'], rum: 'select', trainSize: 500, testSize: 500, epochs: 30, forgetSize: 60, memModels: 16 });
    job.progress({ kind: 'phase', text: 'memorization model 3/16 2.0 s', done: 3, total: 16 });
    let f = await h.waitFor((x) => x.includes('3/16'), 'progress');
    assert.match(f, /finetune\s+vanilla\s+…\s+…/);
    job.progress({ kind: 'cell', cell: { algorithm: 'Retrain', variant: 'retrain', tow: { mean: 1, lo: 1, hi: 1 }, miaGap: { mean: 0, lo: 0, hi: 0 }, seeds: 2 } });
    job.progress({ kind: 'cell', cell: { algorithm: 'neggrad+', variant: 'refined', tow: { mean: 0.812, lo: 0.75, hi: 0.87 }, miaGap: { mean: 0.031, lo: 0.01, hi: 0.05 }, seeds: 2 } });
    job.progress({ kind: 'cell', cell: { algorithm: 'finetune', variant: 'vanilla', tow: { mean: 0.7, lo: NaN, hi: NaN }, miaGap: { mean: 0.1, lo: NaN, hi: NaN }, seeds: 1 } });
    f = await h.waitFor((x) => x.includes('0.812'), 'cells');
    assert.match(f, /neggrad\+\s+refined\s+0\.812 \[0\.75,0\.87\]\s+0\.031 \[0\.01,0\.05\]/);
    // One seed so far: a mean without an interval.
    assert.match(f, /finetune\s+vanilla\s+0\.700\s+0\.100/);
    assert.match(f, /Retrain\s+retrain\s+1\.000/);
    assert.match(f, /RUM\s+rum\s+…/);
    await h.press(KEYS.esc);
    assert.equal(job.cancelled, true);
    await h.waitFor((x) => x.includes('rum cancelled'), 'cancelled');
  } finally {
    h.unmount();
  }
});

test('Unlearn: the method list is the registry\'s', async () => {
  const { listMethods } = await import('../../src/unlearn/registry.ts');
  const { METHODS } = await import('../../src/tui/screens/UnlearnScreen.tsx');
  assert.deepEqual([...METHODS].sort(), listMethods().map((m) => m.name).sort());
});

test('RUM: the algorithm list is src/rum\'s (without the retrain oracle)', async () => {
  const { ALGORITHM_NAMES } = await import('../../src/rum/algorithms.ts');
  const { RUM_ALGORITHMS } = await import('../../src/tui/screens/RumScreen.tsx');
  assert.deepEqual(RUM_ALGORITHMS, ALGORITHM_NAMES.filter((n) => n !== 'retrain'));
});

test('describe is asked once; its failure is a line on the Model screen, not a crash', async () => {
  const jobs = new FakeJobRunner();
  const h = renderApp({ jobs, initial: { modelPath: null } });
  try {
    await h.waitFor((x) => x.includes('asking the engine'), 'pending');
    jobs.last('describe').fail({ message: 'ggml failed to load', hint: 'run unlearnkit doctor', internal: false });
    await h.waitFor((x) => x.includes('device: ggml failed to load'), 'device error');
    assert.equal(jobs.count('describe'), 1);
    void DESCRIBE;
  } finally {
    h.unmount();
  }
});
