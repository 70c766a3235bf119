#!/usr/bin/env node
// Runs every test/**/*.test.ts(x) with Node's test runner through tsx. Node 20's runner does not
// glob TypeScript files itself, so the list is built here. Extra arguments filter by path substring.
// `--conditions=unlearnkit-source` makes the package's own name (`import ... from 'unlearnkit/stats'`)
// resolve to the TypeScript sources in tests (package.json exports), so a stale dist/ never hides a
// bug; the built dist/ is tested through the packed tarball (test/package/tarball.test.ts).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
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
const r = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=unlearnkit-source', '--test', '--test-concurrency=1', ...chosen], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, UNLEARNKIT_TEST: '1' },
});
process.exit(r.status ?? 1);
