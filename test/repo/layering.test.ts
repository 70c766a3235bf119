/**
 * Layers point one way (issue #18 part 3): every import in src/**\/*.ts(x) is checked against the
 * layer drawing in the README's Layout section (the ```layers block), with no exception list.
 *
 * The drawing is a list of rows, top to bottom; each row names top-level folders of src/ (`unlearn/`)
 * or files directly under src/ (`demo.ts`). A module may import from its own folder (or, for a file
 * directly under src/, from itself only) and from any folder or file on a row BELOW its own; an
 * import of something on its own row or above is a violation. Imports are read with the TypeScript
 * compiler's own pre-processor (`ts.preProcessFile`), which sees static imports, `import type`,
 * `export ... from` and dynamic `import()` alike. Also checked: every relative import resolves to a
 * file that exists; src/ never imports the package by its own name (`unlearnkit/...`), which would
 * bypass the layers; every top-level entry of src/ is on exactly one row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

const SRC = path.join(PROJECT_ROOT, 'src');

/** Row index (0 = bottom) of each layer name, parsed from the README's ```layers block. */
function readDrawing(): Map<string, number> {
  const readme = fs.readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
  const m = /^```layers\n([\s\S]*?)^```$/m.exec(readme);
  assert.ok(m, 'README.md has a ```layers block (Layout section)');
  const rows = m[1]!.split('\n').map((l) => l.trim()).filter(Boolean).reverse();
  const rank = new Map<string, number>();
  rows.forEach((row, i) => {
    for (const name of row.split(/\s+/)) {
      assert.match(name, /^[A-Za-z0-9_-]+(\/|\.tsx?)$/, `layer name ${JSON.stringify(name)}: a folder (name/) or a file (name.ts)`);
      assert.ok(!rank.has(name), `${name} appears twice in the drawing`);
      rank.set(name.replace(/\/$/, ''), i);
    }
  });
  return rank;
}

/** The layer (top-level folder, or file directly under src/) a path inside src/ belongs to. */
function layerOf(abs: string): string {
  const rel = path.relative(SRC, abs).split(path.sep);
  return rel[0]!;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Every import specifier of a file (static, type-only, re-export, dynamic). */
export function importsOf(file: string): string[] {
  const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map((f) => f.fileName);
}

test('the README draws every top-level entry of src/ exactly once', () => {
  const rank = readDrawing();
  const entries = fs.readdirSync(SRC, { withFileTypes: true })
    .filter((e) => e.isDirectory() || /\.tsx?$/.test(e.name))
    .map((e) => e.name);
  const missing = entries.filter((e) => !rank.has(e));
  assert.deepEqual(missing, [], `src/ entries missing from the README's layers drawing: ${missing.join(', ')}`);
  const stale = [...rank.keys()].filter((k) => !entries.includes(k));
  assert.deepEqual(stale, [], `the drawing names what src/ does not hold: ${stale.join(', ')}`);
});

test('every import in src/ points down the layers (no exceptions)', () => {
  const rank = readDrawing();
  const files = sourceFiles(SRC);
  assert.ok(files.length > 200, `found ${files.length} source files`);
  const violations: string[] = [];
  let checked = 0;
  for (const file of files) {
    const from = layerOf(file);
    const rel = path.relative(PROJECT_ROOT, file);
    for (const spec of importsOf(file)) {
      if (/^unlearnkit(\/|$)/.test(spec)) {
        violations.push(`${rel}: imports the package by name (${spec}); use a relative import`);
        continue;
      }
      if (!spec.startsWith('.')) continue; // node: builtins and dependencies
      const target = path.resolve(path.dirname(file), spec);
      if (!fs.existsSync(target)) violations.push(`${rel}: ${spec} does not exist`);
      if (!target.startsWith(SRC + path.sep)) {
        violations.push(`${rel}: ${spec} leaves src/`);
        continue;
      }
      checked++;
      const to = layerOf(target);
      if (to === from) continue;
      const a = rank.get(from);
      const b = rank.get(to);
      if (a === undefined || b === undefined) {
        violations.push(`${rel}: ${spec}: ${a === undefined ? from : to} is not in the drawing`);
      } else if (b >= a) {
        violations.push(`${rel}: ${spec}: ${from} (row ${a}) may not import ${to} (row ${b}${b === a ? ', the same row' : ', above'})`);
      }
    }
  }
  assert.ok(checked > 1000, `checked ${checked} relative imports`);
  assert.deepEqual(violations, [], `imports against the README's layers drawing:\n  ${violations.join('\n  ')}`);
});

test('the import reader sees every import form', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layering-'));
  try {
    const f = path.join(tmp, 'x.ts');
    fs.writeFileSync(f, [
      "import a from './a.ts';",
      "import type { B } from './b.ts';",
      "export { c } from './c.ts';",
      "export * from './d.ts';",
      "import './e.ts';",
      "const f = await import('./f.ts');",
      "// import g from './g.ts';",
    ].join('\n'));
    assert.deepEqual(importsOf(f), ['./a.ts', './b.ts', './c.ts', './d.ts', './e.ts', './f.ts']);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

/**
 * One renderer (issue #18): Markdown table rules, Markdown headings written into strings and HTML
 * block elements appear only in src/report/document.ts. The one other file allowed is the Dave
 * dataset's generator, whose README.md is data documentation written below the report layer.
 */
test('only src/report/document.ts writes Markdown tables, headings or HTML block elements', () => {
  const allowed = new Set(['src/report/document.ts', 'src/data/dave/generate.ts']);
  // (Prometheus exposition lines, `# HELP` / `# TYPE` in src/server/metrics.ts, are not headings)
  const syntax = /\|---|(['`"]|\\n)#{1,4} (?!HELP |TYPE )|<\/(table|h[1-6]|ul|pre|figure)>/;
  const offenders = sourceFiles(SRC)
    .map((f) => path.relative(PROJECT_ROOT, f).split(path.sep).join('/'))
    .filter((rel) => !allowed.has(rel))
    .flatMap((rel) =>
      fs.readFileSync(path.join(PROJECT_ROOT, rel), 'utf8').split('\n').flatMap((line, i) => {
        const code = line.replace(/^\s*(\*|\/\/).*$/, ''); // doc comments may show the syntax
        return syntax.test(code) ? [`${rel}:${i + 1}: ${line.trim().slice(0, 100)}`] : [];
      }),
    );
  assert.deepEqual(offenders, [], `Markdown / HTML written outside src/report/document.ts:\n  ${offenders.join('\n  ')}`);
});
