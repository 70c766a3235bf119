/**
 * One action, one validator, three front-ends: the CLI's `finetune`, the TUI's Train form and its
 * job handler all reach src/actions/finetune.ts and refuse a bad value with the same message
 * before any work; the TUI's fine-tune carries the settings it used to drop (replay, weight decay,
 * record filter, record dtype) to that entry point and into the run's recorded options.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli.ts';
import { checkOption, FINETUNE, formDefaults } from '../../src/options/index.ts';
import { finetuneParams, finetuneCli } from '../../src/tui/screens/TrainScreen.tsx';
import { run as tuiFinetune } from '../../src/tui/jobs/handlers/finetune.ts';
import { needFixture } from '../helpers/fixtures.ts';
import { REPO_ROOT } from '../helpers/cli.ts';

/** The CLI's stderr and exit code for `args` (main() in this process, as bin/unlearnkit.js runs it). */
async function cliError(...args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const w = process.stderr.write;
  process.stderr.write = ((c: string | Uint8Array) => ((stderr += String(c)), true)) as typeof process.stderr.write;
  try {
    return { code: await main([process.execPath, 'unlearnkit', ...args]), stderr };
  } finally {
    process.stderr.write = w;
    process.exitCode = undefined;
  }
}

function messageOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return '';
}

test('the CLI, the TUI form and the TUI job refuse the same values with the same message', async (t) => {
  const model = needFixture(t, 'models', 'stories260K.gguf');
  if (!model) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-frontends-'));
  try {
    const form = { ...formDefaults(FINETUNE), filter: 'all', out: path.join(dir, 'run') };
    for (const [key, flag, bad] of [
      ['weightDecay', '--weight-decay', '-5'],
      ['replay', '--replay', '-4'],
      ['epochs', '--epochs', '1e9'],
      ['lr', '--lr', 'NaN'],
      ['splits', '--splits', 'forgot'],
    ] as const) {
      const expected = messageOf(() => checkOption(FINETUNE[key], bad));
      assert.match(expected, new RegExp(`^${flag}: `));
      const cli = await cliError('finetune', '--model', model, '--no-eval', flag, bad);
      assert.equal(cli.code, 2);
      assert.equal(cli.stderr, `unlearnkit: ${expected}\n`);
      assert.equal(finetuneParams({ ...form, [key]: bad }, model, 'dave'), expected);
    }
    // the job handler (what the TUI's child process runs) goes through the same entry point and validator
    const p = finetuneParams(form, model, 'dave');
    assert.ok(typeof p !== 'string');
    const ctx = { signal: new AbortController().signal, emit: () => {} };
    await assert.rejects(tuiFinetune({ ...p, weightDecay: -5 }, ctx), { name: 'UserError', message: messageOf(() => checkOption(FINETUNE.weightDecay, -5)) });
    assert.equal(fs.existsSync(path.join(dir, 'run')), false, 'nothing written before the check');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a TUI fine-tune runs the CLI action with replay, weight decay, record filter and dtype', async (t) => {
  const model = needFixture(t, 'models', 'stories260K.gguf');
  if (!model) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-frontends-'));
  try {
    const data = path.join(dir, 'data');
    fs.mkdirSync(data);
    for (const f of ['forget', 'retain', 'holdout', 'decoys', 'general']) {
      const lines = fs.readFileSync(path.join(REPO_ROOT, 'datasets', 'dave', `${f}.jsonl`), 'utf8').split('\n').filter(Boolean);
      fs.writeFileSync(path.join(data, `${f}.jsonl`), lines.slice(0, 4).join('\n') + '\n');
    }
    const out = path.join(dir, 'run');
    const form = { ...formDefaults(FINETUNE), splits: 'forget', epochs: '1', batch: '8', eval: 'no', filter: 'all', replay: '3', weightDecay: '0.01', recordFilter: 'output', recordDtype: 'f16', out };
    const p = finetuneParams(form, model, data);
    assert.ok(typeof p !== 'string', String(p));
    assert.equal(finetuneCli(p, false), `unlearnkit finetune --model ${model} --data ${data} --splits forget --replay 3 --epochs 1 --weight-decay 0.01 --record-filter output --record-dtype f16 --no-eval`);
    const phases: string[] = [];
    const view = await tuiFinetune(p, { signal: new AbortController().signal, emit: (e) => e.kind === 'phase' && phases.push(e.text) });
    assert.deepEqual(phases, ['fine-tuning on 7 items']); // 4 forget facts + 3 replay texts
    const run = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
    assert.equal(run.options.weightDecay, 0.01);
    assert.equal(run.options.recordFilter, 'output');
    assert.equal(run.options.recordDtype, 'f16');
    assert.equal(run.items, 7);
    assert.deepEqual(run.recordedTensors, ['output.weight']);
    assert.ok(fs.existsSync(path.join(out, 'summary.json')));
    assert.equal(view.checkpoint, path.join(out, 'checkpoint.gguf'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
