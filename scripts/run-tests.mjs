#!/usr/bin/env node
// Runs every test/**/*.test.ts(x) with Node's test runner through tsx. Node 20's runner does not
// glob TypeScript files itself, so the list is built here. Extra arguments filter by path substring.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
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
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...chosen], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, UNLEARNKIT_TEST: '1' },
});
process.exit(r.status ?? 1);
