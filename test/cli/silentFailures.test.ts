/**
 * Bad option values and inputs, driven through the CLI (the source CLI, test/helpers/cli.ts) and the
 * server (in-process on a loopback port, raw HTTP) as a user would: each is refused with a clear
 * message naming the option, the value and the allowed range (or the field / file / dataset at
 * fault), exit code 2 as for every UserError (src/cli.ts), HTTP 400 from the server, and never a
 * stack trace. These are issue #19's silent wrong results and stack traces about option values and
 * inputs; their checks come from the option declarations (src/options/) and run before any work,
 * so most cases here take about a second. The few that must compute share stories260K and a
 * 12-items-per-split slice of the Dave dataset.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT, spawnCli, type CliRun } from '../helpers/cli.ts';
import { needFixture } from '../helpers/fixtures.ts';
import { fixturePath } from '../../src/util/paths.ts';
import { getDataset } from '../../src/data/dataset.ts';
import { factExamples } from '../../src/train/examples.ts';
import { fuzzySelect } from '../../src/unlearn/fuzzy.ts';
import { UserError } from '../../src/util/errors.ts';
import { startServer, type RunningServer } from '../../src/server/server.ts';

const MODEL = fixturePath('models', 'stories260K.gguf');
const haveModel = fs.existsSync(MODEL);
/** A stack frame line as Node prints them ("    at fn (file:line:col)"). */
const STACK = /^\s+at .+:\d+:\d+\)?$/m;

type Run = CliRun;

/** Run the source CLI with `args` in `cwd` (async, so that independent cases overlap). */
const cli = spawnCli;

/**
 * Run the CLI's main() (what bin/unlearnkit.js runs) in this process with `args`, capturing its
 * stderr: for the cases refused before any work, without a process start each. Sequential only,
 * and only for commands that write nothing to stdout on failure (no --json).
 */
async function cliInProcess(...args: string[]): Promise<Run> {
  const { main } = await import('../../src/cli.ts');
  // stderr only: the test runner reports through this process's stdout
  let stderr = '';
  const ew = process.stderr.write;
  process.stderr.write = ((c: string | Uint8Array) => ((stderr += String(c)), true)) as typeof process.stderr.write;
  try {
    const code = await main([process.execPath, 'unlearnkit', ...args]);
    return { code, stdout: '', stderr };
  } finally {
    process.stderr.write = ew;
    process.exitCode = undefined;
  }
}

/** Exit code 2, the message on stderr matching every pattern, and no stack trace. */
function assertUsageError(r: Run, ...patterns: RegExp[]): void {
  assert.equal(r.code, 2, `exit code ${r.code}; stderr:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, STACK, `a stack trace:\n${r.stderr}`);
  assert.match(r.stderr, /^unlearnkit: /m);
  for (const p of patterns) assert.match(r.stderr, p);
}

test('fixture present', (t) => {
  needFixture(t, 'models', 'stories260K.gguf');
});

describe('bad option values and inputs: a clear error before any work, no stack trace', { skip: !haveModel && 'fixture stories260K.gguf missing' }, () => {
  let dir: string;
  let data: string;
  let data2: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-silent-'));
    // two small Dave-format datasets: the first 12 items of each file, and the next 8
    const slice = (to: string, from: number, n: number) => {
      fs.mkdirSync(to);
      for (const f of ['forget', 'retain', 'holdout', 'decoys', 'general']) {
        const lines = fs.readFileSync(path.join(REPO_ROOT, 'datasets', 'dave', `${f}.jsonl`), 'utf8').split('\n').filter(Boolean);
        fs.writeFileSync(path.join(to, `${f}.jsonl`), lines.slice(from, from + n).join('\n') + '\n');
      }
    };
    data = path.join(dir, 'dave-a');
    data2 = path.join(dir, 'dave-b');
    slice(data, 0, 12);
    slice(data2, 12, 8);
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('finetune: ranges of --weight-decay, --replay, --epochs (with its bound), --splits; --lr 1e10 stops at the first NaN', async () => {
    const args = ['finetune', '--model', MODEL, '--data', data, '--no-eval'];
    const lrRun = cli(dir, ...args, '--lr', '1e10', '--splits', 'decoy', '--batch', '6', '--epochs', '1', '--out', path.join(dir, 'ft-nan'));
    // LoRA factors of 1e10 stay finite in training and overflow when the adapter is evaluated: the "after" measure says so
    const loraRun = cli(dir, 'finetune', '--model', MODEL, '--data', data, '--lora', '4', '--lr', '1e10', '--splits', 'decoy', '--epochs', '1', '--quiet', '--out', path.join(dir, 'ft-lora'));
    const epochs = await cli(dir, ...args, '--epochs', '1e9'); // one in a process of its own, the rest in this one
    const wd = await cliInProcess(...args, '--weight-decay', '-5');
    const replay = await cliInProcess(...args, '--replay', '-4');
    const splits = await cliInProcess(...args, '--splits', 'forgot');
    const modelDir = await cliInProcess('finetune', '--model', dir, '--no-eval');
    const lr = await lrRun;
    assertUsageError(wd, /--weight-decay: got '-5'; allowed: a finite number >= 0 and <= 1/);
    assertUsageError(replay, /--replay: got '-4'; allowed: an integer >= 0 and <= 1000/);
    assertUsageError(epochs, /--epochs: got '1e9'; allowed: an integer >= 1 and <= 1000/);
    assertUsageError(splits, /--splits: 'forgot' is not one of forget, retain, holdout, decoy/);
    assertUsageError(modelDir, /--model: .* is a folder/);
    // the non-finite stop: the step, the cause, and no checkpoint (nor a partial gradient record)
    assert.match(lr.stderr, /training: 1 epochs x 2 steps \(12 examples, batch 6\) = 2 optimiser steps/);
    assertUsageError(lr, /training stopped at epoch 1, step \d \(optimiser step \d\): (the loss is NaN|.* holds a non-finite weight)/, /likely cause: the learning rate --lr 1e\+10 is too large for adamw/);
    assert.ok(!fs.existsSync(path.join(dir, 'ft-nan', 'checkpoint.gguf')), 'a NaN checkpoint was written');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'ft-nan', 'grads')), []);
    const lora = await loraRun;
    assertUsageError(lora, /the fine-tuned adapter gives a non-finite perplexity on the forget and general set \(NaN, NaN\); likely cause: the learning rate --lr 1e\+10 is too large/);
    assert.equal(fs.existsSync(path.join(dir, 'ft-lora', 'summary.json')), false);
  });

  test('generate: temperature, top-k, seed, max-tokens ranges; a prompt longer than the context', async () => {
    const gen = (...a: string[]) => cliInProcess('generate', '--model', MODEL, ...a);
    const long = 'Once upon a time '.repeat(600); // 2402 tokens > stories260K's context of 2048
    const promptRun = cli(dir, 'generate', '--model', MODEL, '--prompt', long, '--max-tokens', '4');
    const tNaN = await cli(dir, 'generate', '--model', MODEL, '--temperature', 'NaN');
    const tNeg = await gen('--temperature', '-1');
    const topK = await gen('--top-k', '-3');
    const seed = await gen('--seed', 'NaN');
    const maxTok = await gen('--max-tokens', '0');
    const prompt = await promptRun;
    assertUsageError(tNaN, /--temperature: got 'NaN'; allowed: a finite number >= 0 and <= 2/);
    assertUsageError(tNeg, /--temperature: got '-1'/);
    assertUsageError(topK, /--top-k: got '-3'; allowed: an integer >= 0/);
    assertUsageError(seed, /--seed: got 'NaN'; allowed: an integer >= 0 and <= 4294967295/);
    assertUsageError(maxTok, /--max-tokens: got '0'; allowed: an integer >= 1/);
    assertUsageError(prompt, /the prompt has 2402 tokens and the model's context is 2048: no room for a new token/);
    assert.equal(prompt.stdout, '');
  });

  test('unlearn / compare-targets: --eval-limit, --targets ";", and gradient ascent at --lr 1e9 stops at the first non-finite step', async () => {
    const gaRun = cli(dir, 'unlearn', '--from', MODEL, '--data', data, '--method', 'gradient-ascent', '--lr', '1e9', '--eval-limit', '2', '--quiet', '--adapters-dir', path.join(dir, 'adapters'));
    const evalLimit = await cliInProcess('unlearn', '--from', MODEL, '--data', data, '--eval-limit', '-3');
    const targets = await cliInProcess('compare-targets', '--from', MODEL, '--data', data, '--targets', ';');
    // the comparison is written after every target has run: a folder that cannot be made fails first
    fs.writeFileSync(path.join(dir, 'a-file'), '');
    const out = await cliInProcess('compare-targets', '--from', MODEL, '--data', data, '--out', path.join(dir, 'a-file', 'ct'));
    const ga = await gaRun;
    assertUsageError(out, /--out .*a-file\/ct cannot be created: .*a-file is a file, not a folder/);
    assert.doesNotMatch(out.stderr, /\[1\/\d+\]/, 'no target ran before the refusal');
    assertUsageError(evalLimit, /--eval-limit: got '-3'; allowed: an integer >= 0/);
    assertUsageError(targets, /--targets: ';' names no item/);
    assertUsageError(ga, /unlearning stopped at optimiser step \d+: a non-finite (gradient|weight) in \S+; likely cause: the learning rate --lr 1e\+9 is too large for adamw/);
    assert.ok(!fs.existsSync(path.join(dir, 'adapters')) || fs.readdirSync(path.join(dir, 'adapters')).every((f) => f.startsWith('.')), 'an adapter was written');
  });

  test('rum: a training size beyond any data set (was a RangeError stack); pretrain: negative steps (ran forever)', async () => {
    assertUsageError(await cliInProcess('rum', 'table', '--data', 'synthetic', '--train-size', '1e9'), /--train-size: got '1e9'; allowed: an integer >= 20 and <= 60000/);
    assertUsageError(await cliInProcess('pretrain', '--out', path.join(dir, 'pt.gguf'), '--steps', '-1'), /--steps: got '-1'; allowed: an integer >= 1/);
    assert.equal(fs.existsSync(path.join(dir, 'pt.gguf')), false);
  });

  test('unlearn --request that matches nothing selects nothing and says so (on the whole Dave set)', () => {
    const ds = getDataset('dave');
    const items = factExamples((['retain', 'forget', 'decoy'] as const).flatMap((s) => ds.facts(s)));
    assert.throws(() => fuzzySelect('xqzv plorb', items), (e: unknown) => e instanceof UserError && /the request "xqzv plorb" matches no training item/.test(e.message));
    // a misspelt name still selects Dave's 113 facts exactly
    const fz = fuzzySelect('Dave Harowgate', items);
    assert.equal(fz.selected.length, 113);
    assert.ok(fz.selected.every((id) => id.startsWith('forget-dave-harrowgate-')));
  });

  test('inspect <folder>; eval / serve adapter scales; compare of runs on different datasets; report of a run.json with a missing field', async () => {
    const ev = (d: string, out: string) => cli(dir, 'eval', '--model', MODEL, '--data', d, '--metrics', 'perplexity', '--limit', '2', '--splits', 'forget', '--out', path.join(dir, out), '--quiet', '--no-report');
    const [e1, e2] = await Promise.all([ev(data, 'ev-a'), ev(data2, 'ev-b')]);
    const inspect = await cliInProcess('inspect', dir);
    assertUsageError(await cliInProcess('eval', '--model', MODEL, '--data', data, '--adapter-scale', '1e308'), /--adapter-scale: got '1e308'; allowed: a finite number >= -16 and <= 16/);
    assertUsageError(await cliInProcess('eval', '--model', MODEL, '--data', data, '--limit', '-3'), /--limit: got '-3'; allowed: an integer >= 1/);
    assertUsageError(await cliInProcess('serve', '--model', MODEL, '--adapter', 'run:1e308'), /--adapter "run:1e308": scale 1e308 is out of range/);
    assertUsageError(inspect, /is a folder, not a GGUF model file/);
    assert.equal(e1.code, 0, e1.stderr);
    assert.equal(e2.code, 0, e2.stderr);
    fs.cpSync(path.join(dir, 'ev-a'), path.join(dir, 'ev-c'), { recursive: true });
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'ev-c', 'run.json'), 'utf8'));
    delete meta.runId;
    fs.writeFileSync(path.join(dir, 'ev-c', 'run.json'), JSON.stringify(meta));
    const [compare, report] = await Promise.all([cli(dir, 'compare', path.join(dir, 'ev-a'), path.join(dir, 'ev-b')), cli(dir, 'report', path.join(dir, 'ev-a'), path.join(dir, 'ev-c'))]);
    assertUsageError(compare, /evaluated on different datasets: .*dave-a .* and .*dave-b/);
    assertUsageError(report, /ev-c\/run\.json: field 'runId' is missing/);
  });

  describe('server: sampling parameters and adapter scales outside their declared ranges are HTTP 400', () => {
    let srv: RunningServer;
    before(async () => {
      srv = await startServer({ model: MODEL, port: 0, gpu: 'cpu', parallel: 1, logLevel: 'silent', adaptersDir: path.join(dir, 'adapters'), contextSize: 256 });
    });
    after(async () => {
      await srv?.close();
    });
    const post = async (route: string, body: unknown) => {
      const r = await fetch(`${srv.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, text: await r.text() };
    };

    test('each bad value is refused naming the field; a good request still works', async () => {
      const cases: Array<[string, unknown, RegExp]> = [
        ['/v1/completions', { prompt: 'Once', max_tokens: 2, adapters: [{ name: 'run', scale: 1e308 }] }, /scale/],
        ['/v1/completions', { prompt: 'Once', max_tokens: 2, model: 'stories260K+run:1e308' }, /adapter scale 1e308 .* out of range/],
        ['/v1/adapters', { name: 'run', scale: 1e308 }, /scale/],
        ['/v1/completions', { prompt: 'Once', max_tokens: 2, temperature: -1 }, /temperature/],
        ['/v1/completions', { prompt: 'Once', max_tokens: 2, top_k: -3 }, /top_k/],
        ['/v1/completions', { prompt: 'Once', max_tokens: 2, top_p: 0 }, /top_p/],
        ['/v1/completions', { prompt: 'Once', max_tokens: 2, seed: 0.5 }, /seed/],
        ['/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, temperature: 3 }, /temperature/],
      ];
      for (const [route, body, p] of cases) {
        const r = await post(route, body);
        assert.equal(r.status, 400, `${route} ${JSON.stringify(body)}: ${r.status} ${r.text}`);
        assert.match(r.text, p);
        assert.doesNotMatch(r.text, STACK);
      }
      const ok = await post('/v1/completions', { prompt: 'Once', max_tokens: 2, temperature: 0, seed: 7, top_k: 0, top_p: 1 });
      assert.equal(ok.status, 200, ok.text);
    });
  });
});
