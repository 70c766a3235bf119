/**
 * The TUI shows a running sweep in its status bar (src/tui/components/SweepLine.tsx), from the
 * status.json that `unlearnkit sweep` writes (written here by the same StatusWriter), and stops
 * showing it when the sweep is done.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { StatusWriter } from '../../src/sweep/status.ts';
import { sweepLine } from '../../src/tui/components/SweepLine.tsx';
import { flat, renderApp, tempDir } from '../tui/helpers.tsx';

test('a running sweep shows in the status bar and goes away when it is done', async (t) => {
  const cwd = tempDir('ulk-sweep-tui-');
  t.after(() => fs.rmSync(cwd, { recursive: true, force: true }));
  assert.equal(sweepLine(cwd), null);
  const dir = path.join(cwd, 'sweeps', 'grid');
  fs.mkdirSync(dir, { recursive: true });
  const w = new StatusWriter({
    sweep: 'grid',
    dir,
    spec: path.join(cwd, 'grid.yaml'),
    executor: 'local pool of 2 process(es)',
    store: path.join(dir, 'store'),
    jobs: ['a', 'b', 'c'].map((k) => ({ key: k.repeat(64), label: `job ${k}`, phase: 'unlearn', state: 'waiting' as const, starts: 0 })),
  });
  w.set('a'.repeat(64), { state: 'done', starts: 1, seconds: 1.5 });
  w.set('b'.repeat(64), { state: 'running', worker: 'local-1', starts: 1, progress: 0.42 });
  w.flush(true);
  assert.equal(sweepLine(cwd), 'sweep grid: 1/3 done, 1 running, 1 waiting, 0 failed (42%)');
  const h = renderApp({ cwd, columns: 120, rows: 24 });
  try {
    await h.waitFor((f) => flat(f).includes('sweep grid: 1/3 done, 1 running, 1 waiting, 0 failed (42%) · no model'), 'the sweep in the status bar');
    w.set('b'.repeat(64), { state: 'done', seconds: 2 });
    w.set('c'.repeat(64), { state: 'done', starts: 1, seconds: 2 });
    w.finish('done', { report: path.join(dir, 'report', 'report.html') });
    await h.waitFor((f) => !flat(f).includes('sweep grid') && flat(f).includes('no model · data'), 'the line gone once the sweep is done', 6000);
  } finally {
    h.unmount();
  }
});
