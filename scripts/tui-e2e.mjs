#!/usr/bin/env node
/**
 * End-to-end check of the real terminal UI in tmux: starts `unlearnkit` (no arguments; the sources,
 * src/cli.ts under tsx, so a stale dist/ never stands in for them) in a
 * 100 x 30 tmux pane inside a scratch folder, then drives it with send-keys and checks each screen
 * with capture-pane:
 *   1. the Model screen opens the embedded model (models/unlearnkit-base.gguf; stories260K when the
 *      embedded one is not built, and the screen must say so);
 *   2. Data: open a tiny Dave-format dataset (a few items of each split of datasets/dave);
 *   3. Train: fine-tune a tiny run (2 epochs, batch 4, no perplexity pass) to the end;
 *   4. Unlearn: first-epoch ascent with two layer targets (embedding, block:0);
 *   5. Compare: the targets x metrics matrix with the best target and paired statistics;
 *   6. quit (y), and the process ends.
 * Every captured screen is written to $TUI_E2E_OUT (default: the scratch folder) for inspection.
 * Exits 0 when every check passes, 1 with the failing check and the last screen otherwise; without
 * tmux it prints a loud SKIPPED line and exits 0 (CI installs tmux: .ci/run). Budget: 2 minutes.
 *
 *   node scripts/tui-e2e.mjs [--keep]     (--keep leaves the scratch folder)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUDGET_MS = 120_000;
const t0 = Date.now();
const keep = process.argv.includes('--keep');

if (spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status !== 0) {
  process.stderr.write('\n*** SKIPPED: tmux is not installed (apt-get install tmux); the TUI end-to-end check did not run ***\n');
  process.exit(0);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ulk-tui-e2e-'));
const outDir = process.env.TUI_E2E_OUT ?? work;
fs.mkdirSync(outDir, { recursive: true });
const session = `ulk-e2e-${process.pid}`;
const tmux = (...args) => execFileSync('tmux', args, { encoding: 'utf8' });
let shots = 0;
let last = '';

function log(msg) {
  process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${msg}\n`);
}

function capture() {
  try {
    last = tmux('capture-pane', '-p', '-t', session);
  } catch {
    /* the session ended */
  }
  return last;
}

function save(name) {
  const file = path.join(outDir, `${String(++shots).padStart(2, '0')}-${name}.txt`);
  fs.writeFileSync(file, capture());
  return file;
}

function fail(msg) {
  process.stderr.write(`\nTUI e2e FAILED: ${msg}\n--- last screen ---\n${last}\n-------------------\nscreens in ${outDir}\n`);
  cleanup();
  process.exit(1);
}

function cleanup() {
  try {
    tmux('kill-session', '-t', session);
  } catch {
    /* already gone */
  }
  if (!keep && outDir !== work) fs.rmSync(work, { recursive: true, force: true });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Wait until the screen matches (a string, a RegExp or a predicate), or fail after `ms`. */
async function waitFor(what, ms, label = String(what)) {
  const deadline = Math.min(Date.now() + ms, t0 + BUDGET_MS);
  for (;;) {
    const s = capture();
    if (typeof what === 'string' ? s.includes(what) : typeof what === 'function' ? what(s) : what.test(s)) return s;
    if (Date.now() > deadline) fail(`timed out waiting for ${label} (${((Date.now() - t0) / 1000).toFixed(0)} s in)`);
    await sleep(200);
  }
}

/** Send keys one at a time (tmux key names or literal text), with a pause for the UI to render. */
async function keys(...ks) {
  for (const k of ks) {
    if (k.startsWith('lit:')) tmux('send-keys', '-t', session, '-l', k.slice(4));
    else tmux('send-keys', '-t', session, k);
    await sleep(120);
  }
}

/** Edit the selected form field: Enter, wait for the edit marker, clear, type, Enter. */
async function edit(text) {
  await keys('Enter');
  await waitFor('✎', 5000, 'the field in edit mode');
  await keys('C-u', `lit:${text}`, 'Enter');
  await waitFor((s) => !s.includes('✎'), 5000, 'the field closed');
}

function expect(screen, what, label) {
  const ok = typeof what === 'string' ? screen.includes(what) : what.test(screen);
  if (!ok) fail(`expected ${label ?? what} on the screen`);
}

// A tiny Dave-format dataset: the first items of each split.
const data = path.join(work, 'tiny-dave');
fs.mkdirSync(data);
for (const [f, n] of [['forget.jsonl', 6], ['retain.jsonl', 6], ['holdout.jsonl', 4], ['decoys.jsonl', 3], ['general.jsonl', 4]]) {
  const lines = fs.readFileSync(path.join(ROOT, 'datasets', 'dave', f), 'utf8').split('\n').filter((l) => l.trim());
  fs.writeFileSync(path.join(data, f), lines.slice(0, n).join('\n') + '\n');
}
const embedded = fs.existsSync(path.join(ROOT, 'models', 'unlearnkit-base.gguf'));
const threads = process.env.UNLEARNKIT_THREADS ?? '1';
const cmd = `cd '${work}' && CI=false UNLEARNKIT_THREADS=${threads} UNLEARNKIT_TUI_LOG='${path.join(work, 'tui.log')}' '${process.execPath}' --import '${import.meta.resolve('tsx')}' '${path.join(ROOT, 'src', 'cli.ts')}'; echo "TUI EXITED $?"; sleep 30`;
process.on('exit', () => {
  try {
    execFileSync('tmux', ['kill-session', '-t', session], { stdio: 'ignore' });
  } catch {
    /* gone */
  }
});

log(`tmux session ${session}, 100 x 30, in ${work}${embedded ? '' : ' (the embedded model is not built: expecting the stories260K fallback)'}`);
tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', cmd);

// 1. Model screen: the embedded model, or stories260K with a note saying so.
let s = await waitFor(/Model: \S+\.gguf/, 60_000, 'the model to open');
s = await waitFor(/arch\s+llama, [\d,]+ parameters/, 20_000, 'the model architecture');
if (embedded) expect(s, 'Model: unlearnkit-base.gguf', 'the embedded model');
else expect(s, 'using the stories260K fixture', 'the note about the stories260K fallback');
await waitFor(/device\s+(CPU|GPU)/, 30_000, 'the device line');
save('model');
log(`model screen: ${embedded ? 'embedded model unlearnkit-base.gguf' : 'stories260K (embedded model not built; the screen says so)'}`);

// 2. Data: open the tiny dataset.
await keys('2');
await waitFor('forget set:', 10_000, 'the Data screen');
await keys('e');
await waitFor('dataset ', 5000, 'the dataset field');
await keys('C-u', `lit:${data}`, 'Enter');
s = await waitFor(/forget 6\s+retain 6\s+holdout 4\s+decoy 3\s+general 4/, 10_000, 'the tiny dataset counts');
save('data');
log('data screen: tiny dataset opened');

// 3. Train: epochs 2, batch 4, no perplexity pass; run to the end.
await keys('3');
await waitFor('Fine-tune', 10_000, 'the Train screen');
await keys('Down');
await edit('2');
await keys('Down', 'Down');
await edit('4');
await keys('Down', 'Down', 'Down', 'Down', 'Space');
await waitFor(/perplexity\s+no/, 5000, 'perplexity off');
await keys('r');
s = await waitFor(/epoch \d\/2 .*\d+\/\d+/, 60_000, 'training progress');
save('train-progress');
s = await waitFor('finished in', 60_000, 'the fine-tune to finish');
expect(s, /run runs\/finetune-\S+/, 'the run folder');
expect(s, /epoch 2: mean loss \d/, 'the epoch summary');
expect(s, /checkpoint\.gguf, gradient record [\d.]+ (KiB|MiB|GiB) in grads\//, 'the checkpoint and the gradient record size');
save('train-done');
log('train screen: tiny fine-tune finished');

// 4. Unlearn: targets embedding + block:0 (picker: all, embedding, block:0, ...), then run.
await keys('4');
await waitFor('Unlearn', 10_000, 'the Unlearn screen');
s = await waitFor(/from run\s+‹ runs\/finetune-/, 5000, 'the new run as the source');
await keys('Down', 'Down', 'Enter');
await waitFor('targets: 1 chosen', 5000, 'the target picker');
await keys('Down', 'Down', 'Space');
await waitFor('targets: 2 chosen', 5000, 'two targets chosen');
await keys('Enter');
await waitFor(/targets\s+embedding,block:0/, 5000, 'the two targets in the form');
expect(capture(), /for t in embedding block:0; do unlearnkit unlearn --from runs\/finetune-/, 'the equivalent CLI loop');
await keys('r');
s = await waitFor(/forget ppl now/, 60_000, 'the live forget perplexity chart');
save('unlearn-progress');
s = await waitFor('c or 5: open the comparison', 90_000, 'unlearning to finish');
expect(s, /embedding\s+[\d.]+→[\d.]+/, 'the embedding row of results');
expect(s, /block:0\s+[\d.]+→[\d.]+/, 'the block:0 row of results');
save('unlearn-done');
log('unlearn screen: two targets done');

// 5. Compare: the matrix.
await keys('5');
s = await waitFor('★ best within', 10_000, 'the comparison matrix');
expect(s, /forget NLL/, 'the forget NLL column');
expect(s, /embedding/, 'the embedding row');
expect(s, /block:0/, 'the block:0 row');
expect(s, /paired statistics/, 'the paired statistics panel');
expect(s, /t\(\d+\) = -?[\d.]+/, 'a t statistic');
expect(s, /Cohen's d_z -?[\d.]+/, "Cohen's d_z");
await keys('s');
await waitFor('(reversed)', 5000, 'sorting reversed');
save('compare');
log('compare screen: matrix, best target and paired statistics shown');

// 6. Quit.
await keys('q');
await waitFor('Quit unlearnkit?', 5000, 'the quit question');
await keys('y');
s = await waitFor(/TUI EXITED \d+/, 20_000, 'the TUI to exit');
expect(s, 'TUI EXITED 0', 'exit status 0');
// Outputs of the run are in the scratch folder: one fine-tune, two adapters, the comparison.
const ls = (d) => (fs.existsSync(path.join(work, d)) ? fs.readdirSync(path.join(work, d)) : []);
if (ls('runs').length !== 1) fail(`expected one fine-tuning run in runs/, found ${ls('runs').join(', ') || 'none'}`);
if (ls('adapters').filter((d) => !d.includes('.tmp-')).length !== 2) fail(`expected two adapters, found ${ls('adapters').join(', ') || 'none'}`);
if (!ls(path.join('reports', 'unlearn')).some((d) => d.startsWith('compare-targets-'))) fail('expected reports/unlearn/compare-targets-*');
const seconds = (Date.now() - t0) / 1000;
log(`PASSED in ${seconds.toFixed(1)} s (budget ${BUDGET_MS / 1000} s); screens in ${outDir}`);
cleanup();
process.exit(seconds * 1000 > BUDGET_MS ? 1 : 0);
