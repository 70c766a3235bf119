import { test } from 'node:test';
import { ChildJobRunner } from '../../src/tui/jobs/runner.ts';
import { tempDir } from './helpers.tsx';
import path from 'node:path';
test('probe', { timeout: 300_000 }, async () => {
  const dir = tempDir();
  const runner = new ChildJobRunner({ cwd: dir });
  const t0 = Date.now();
  const o = await runner.start('rum', { data: 'fixture', trainSize: 60, testSize: 30, model: 'tiny', epochs: 2, seeds: [1, 2], forgetSize: 6, algorithms: ['finetune'], memModels: 2, rum: 'none', out: path.join(dir, 'rum') }, (p) => console.log(Date.now() - t0, JSON.stringify(p))).done;
  console.log(Date.now() - t0, JSON.stringify(o).slice(0, 1500));
});
