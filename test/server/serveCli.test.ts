/**
 * `unlearnkit serve` as a user runs it (the source CLI: test/helpers/cli.ts): starts with an adapter
 * given by --adapter, answers, and on SIGTERM cancels a running request after the grace period and
 * exits with status 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { needFixture } from '../helpers/fixtures.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { cliArgs } from '../helpers/cli.ts';
import { Rng } from '../../src/util/rng.ts';
import { saveLoraAdapter } from '../../src/model/lora.ts';

test('unlearnkit serve: --adapter at start, SIGTERM cancels in-flight work and exits 0', { timeout: 60_000 }, async (t) => {
  const model = needFixture(t, 'models', 'stories260K.gguf');
  if (!model) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-serve-cli-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rng = new Rng(5);
  const delta = new Float32Array(64 * 512);
  const u = rng.normalArray(512, 0.3);
  const v = rng.normalArray(64, 0.3);
  for (let o = 0; o < 512; o++) for (let i = 0; i < 64; i++) delta[o * 64 + i] = u[o]! * v[i]!;
  fs.mkdirSync(path.join(dir, 'run1'));
  saveLoraAdapter(path.join(dir, 'run1', 'adapter.gguf'), { baseGgufPath: model, deltas: [{ tensor: 'output.weight', ne: [64, 512], delta }], maxRank: 2 });

  const child = spawn(
    process.execPath,
    [
      ...cliArgs(),
      'serve',
      '--model', model,
      '--port', '0',
      '--gpu', 'cpu',
      '--adapters-dir', dir,
      '--adapter', 'run1:0.5',
      '--shutdown-grace', '0.2',
      '--log-level', 'warn',
      '--json',
    ],
    { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  const t0 = Date.now();
  while (!stdout.includes('\n') && child.exitCode === null && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50));
  assert.ok(stdout.includes('\n'), `server did not report ready: ${stderr}`);
  const ready = JSON.parse(stdout.split('\n')[0]!);
  assert.match(ready.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(ready.device.backend, 'cpu');

  const health = await (await fetch(`${ready.url}/health`)).json();
  assert.deepEqual(
    health.adapters.map((a: any) => [a.name, a.scale]),
    [['run1', 0.5]],
  );

  // A long generation is running when the signal arrives: it is cancelled after the grace period.
  const res = await fetch(`${ready.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'stories260K+run1', prompt: '', max_tokens: 2000, temperature: 0, stream: true }),
  });
  assert.equal(res.status, 200);
  const body = res.text();
  await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGTERM');
  const code = await exited;
  assert.equal(code, 0, `exit code ${code}; stderr: ${stderr}`);
  const sse = await body;
  assert.match(sse, /"code":"shutting_down"/);
  assert.match(stderr, /SIGTERM, shutting down/);
});
