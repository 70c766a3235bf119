#!/usr/bin/env node
// Runs every test/**/*.test.ts(x) with Node's test runner through tsx. Node 20's runner does not
// glob TypeScript files itself, so the list is built here. Extra arguments filter by path substring.
// `--conditions=unlearnkit-source` makes the package's own name (`import ... from 'unlearnkit/stats'`)
// resolve to the TypeScript sources in tests (package.json exports), so a stale dist/ never hides a
// bug; the built dist/ is tested through the packed tarball (test/package/tarball.test.ts).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const filters = process.argv.slice(2);
const files = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.test\.tsx?$/.test(e.name)) files.push(path.relative(root, p));
  }
})(path.join(root, 'test'));
files.sort();
const chosen = filters.length ? files.filter((f) => filters.some((s) => f.includes(s))) : files;
if (chosen.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Two test files at a time where there are two cores, each with one engine / OpenMP thread, so the
// processes never contend for a core (ggml's spinning thread barriers collapse when they do): 7.3 min
// for the suite on 2 cores instead of 10.6 one file at a time. Tests that check multi-threaded
// kernels ask the engine for their threads themselves. UNLEARNKIT_TEST_CONCURRENCY=1: one at a time.
const concurrency = Number(process.env.UNLEARNKIT_TEST_CONCURRENCY ?? Math.min(2, os.availableParallelism()));
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`UNLEARNKIT_TEST_CONCURRENCY must be an integer >= 1, got '${process.env.UNLEARNKIT_TEST_CONCURRENCY}'`);
  process.exit(1);
}
const env = { ...process.env, UNLEARNKIT_TEST: '1' };
if (concurrency > 1) Object.assign(env, { UNLEARNKIT_THREADS: env.UNLEARNKIT_THREADS ?? '1', OMP_NUM_THREADS: env.OMP_NUM_THREADS ?? '1' });
const r = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=unlearnkit-source', '--test', `--test-concurrency=${concurrency}`, ...chosen], {
  cwd: root,
  stdio: 'inherit',
  env,
});
process.exit(r.status ?? 1);
