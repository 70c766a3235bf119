/**
 * No copy-pasted code in src/ (issue #18, "done when"): jscpd (a dev dependency) runs over src/ with
 * blocks of at least 6 lines and 50 tokens, TypeScript and TSX, and the test fails on any clone it
 * reports outside the short ignore list below (and blocks of import declarations only), printing
 * each clone's two places. A clone is fixed
 * by moving the shared code into one function both places call, not by adding it to the list.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

/**
 * Clones that are boilerplate, not logic: each entry names both files (repo-relative) and why the
 * repetition is the clearest form. Matched on the pair of files, in either order.
 */
const IGNORE: Array<{ files: [string, string]; why: string }> = [
  // (none)
];

interface JscpdClone {
  format: string;
  lines: number;
  firstFile: { name: string; start: number; end: number };
  secondFile: { name: string; start: number; end: number };
}

test('jscpd finds no clone in src/ (>= 6 lines, 50 tokens) outside the ignore list', { timeout: 180_000 }, () => {
  // jscpd's package.json is not in its exports: its main file is <pkg>/dist/src/index.js
  const bin = path.resolve(path.dirname(createRequire(import.meta.url).resolve('jscpd')), '..', '..', 'bin', 'jscpd');
  assert.ok(fs.existsSync(bin), `jscpd's CLI at ${bin} (npm ci installs the dev dependency)`);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'jscpd-'));
  try {
    const r = spawnSync(process.execPath, [bin, '--min-lines', '6', '--min-tokens', '50', '--format', 'typescript,tsx', '--reporters', 'json', '--output', out, '--silent', 'src/'], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, `jscpd failed: ${r.stderr}${r.stdout}`);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'jscpd-report.json'), 'utf8')) as { duplicates: JscpdClone[]; statistics: { total: { sources: number } } };
    assert.ok(report.statistics.total.sources > 200, `jscpd read ${report.statistics.total.sources} files of src/`);
    const ignored = (c: JscpdClone) => IGNORE.some(({ files: [a, b] }) =>
      (c.firstFile.name === a && c.secondFile.name === b) || (c.firstFile.name === b && c.secondFile.name === a));
    // Two modules importing the same things is not copied logic: a clone whose lines are all
    // one-line import declarations (in both files) is not counted.
    const onlyImports = (c: JscpdClone) => [c.firstFile, c.secondFile].every((f) =>
      fs.readFileSync(path.join(PROJECT_ROOT, f.name), 'utf8').split('\n').slice(f.start - 1, f.end)
        .every((line) => /^import\s.*;\s*$/.test(line) || line.trim() === ''));
    const clones = report.duplicates.filter((c) => !ignored(c) && !onlyImports(c))
      .map((c) => `${c.firstFile.name}:${c.firstFile.start}-${c.firstFile.end} = ${c.secondFile.name}:${c.secondFile.start}-${c.secondFile.end} (${c.lines} lines)`)
      .sort();
    assert.deepEqual(clones, [], `copy-pasted blocks in src/ (move each into one shared function):\n  ${clones.join('\n  ')}`);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
