/**
 * Runs scripts/tui-e2e.mjs: the real TUI in tmux, from opening the embedded model to the layer
 * comparison (see the script). Skips loudly without tmux; must finish within two minutes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { skipLoudly } from '../helpers/fixtures.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

test('the real TUI in tmux: embedded model, tiny fine-tune, unlearning with two targets, comparison', { timeout: 180_000 }, (t) => {
  if (spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status !== 0) return skipLoudly(t, 'tmux is not installed (apt-get install tmux): the TUI end-to-end check did not run');
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'tui-e2e.mjs')], { encoding: 'utf8', env: { ...process.env, UNLEARNKIT_THREADS: process.env.UNLEARNKIT_THREADS ?? '1' } });
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(r.status, 0, `tui-e2e failed (${seconds.toFixed(0)} s):\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /PASSED in [\d.]+ s/);
  assert.ok(seconds < 120, `took ${seconds.toFixed(0)} s (budget 120 s)`);
});
