/**
 * The repo is self-contained: a clone of it alone builds and tests.
 *
 *   1. No file under src/, test/, scripts/, bin/ or docs/ reads a folder beside the
 *      repo (`../shared`, in any spelling: a literal path or path.join('..', 'shared', ...)) or names
 *      an absolute path of one machine (a checkout's own folder, a home folder); docs/ holds
 *      committed reports, whose recorded environment must not name one either. Test data lives in test/fixtures/ or is generated.
 *   2. Every citation of the project's documentation, `docs/<file>.md` or `docs/<file>.md#<section>`
 *      in code and docs, and every `<file>.md#<section>` link between the docs, names a file in docs/
 *      and a section heading that exists there (GitHub's anchor rules); and no comment still cites
 *      methods.md / architecture.md without the docs/ folder (those documents once lived outside
 *      the repo).
 *
 * Files: those git tracks plus new ones it does not ignore (`git ls-files --cached --others
 * --exclude-standard`), or a walk of the folders where git is unavailable. Binary files, the
 * third-party data files in test/fixtures/ (vocabularies, models) and this file (which spells the
 * patterns out) are not read. A path in a string (`readLlamaCppSource('docs/build.md')`) or a URL
 * is not a citation of our docs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

const CODE_DIRS = ['src', 'test', 'scripts', 'bin', 'docs'];
const SELF = 'test/repo/selfContained.test.ts';

/** Repo-relative paths (forward slashes) of the files under `dirs` that exist. */
function repoFiles(dirs: string[]): string[] {
  const r = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...dirs], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  let files: string[];
  if (r.status === 0) {
    files = r.stdout.split('\0').filter(Boolean);
  } else {
    files = [];
    const walk = (rel: string) => {
      const abs = path.join(PROJECT_ROOT, rel);
      if (!fs.existsSync(abs)) return;
      for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
        if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
        const p = `${rel}/${e.name}`;
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) files.push(p);
      }
    };
    dirs.forEach(walk);
  }
  return files.filter((f) => fs.existsSync(path.join(PROJECT_ROOT, f))).sort();
}

/** Text of a file, or null for binary files and third-party fixture data. */
function readText(rel: string): string | null {
  if (rel === SELF || (rel.startsWith('test/fixtures/') && !rel.endsWith('.md'))) return null;
  const buf = fs.readFileSync(path.join(PROJECT_ROOT, rel));
  if (buf.subarray(0, 8192).includes(0)) return null;
  return buf.toString('utf8');
}

const BESIDE = '..' + '/shared';
const OUTSIDE: Array<{ what: string; re: RegExp }> = [
  { what: `a path into ${BESIDE}`, re: new RegExp(`\\.\\.[\\\\/]shared\\b`) },
  { what: `path.join('..', 'shared', ...)`, re: new RegExp(`['"\`]\\.\\.['"\`]\\s*,\\s*['"\`]shared['"\`]`) },
  { what: 'the outside shared folder', re: new RegExp(`(^|[^\\w./-])shared/(fixtures|docs|reference|seeds|hooks)\\b`) },
  { what: 'an absolute machine path', re: new RegExp(`(^|[^\\w.:/-])/(${'wo' + 'rk'}|home|Users|root|mnt)/[\\w.-]`) },
  { what: 'an absolute Windows user path', re: new RegExp(`[A-Za-z]:\\\\+Users\\\\`) },
];

test('nothing under src/, test/, scripts/, bin/ or docs/ reads ../shared or names an absolute machine path', () => {
  const files = repoFiles(CODE_DIRS);
  assert.ok(files.length > 100 && files.includes('src/util/paths.ts'), `found only ${files.length} files`);
  const hits: string[] = [];
  for (const f of files) {
    const text = readText(f);
    if (text === null) continue;
    text.split('\n').forEach((line, i) => {
      for (const { what, re } of OUTSIDE) if (re.test(line)) hits.push(`${f}:${i + 1}: ${what}: ${line.trim().slice(0, 140)}`);
    });
  }
  assert.deepEqual(hits, [], `files that depend on something outside the repo:\n${hits.join('\n')}`);
});

test('the patterns catch what they are meant to catch', () => {
  const caught = (line: string) => OUTSIDE.some(({ re }) => re.test(line));
  for (const bad of [
    `const p = '${BESIDE}/fixtures/x.gguf';`,
    `path.resolve(ROOT, '..', 'shared', 'reference')`,
    ` * (shared/fixtures/README.md)`,
    `cp /${'wo' + 'rk'}/main/x .`,
    `'/home/alice/models'`,
    `C:\\Users\\bob\\x`,
  ]) assert.ok(caught(bad), bad);
  for (const ok of ['https://github.com/openai/gpt-2/blob/master/src/encoder.py', `'node_modules/.cache'`, `/usr/bin/python3`, `test/fixtures/models`, `the shared statistics core`]) {
    assert.ok(!caught(ok), ok);
  }
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats. */
function headingAnchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let fence: string | null = null;
  for (const line of markdown.split('\n')) {
    const f = /^\s*(```|~~~)/.exec(line);
    if (f) {
      fence = fence === null ? f[1]! : fence === f[1] ? null : fence;
      continue;
    }
    if (fence !== null) continue;
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const text = h[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = text.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

test('headingAnchors follows GitHub: punctuation dropped, code fences skipped, repeats numbered', () => {
  const a = headingAnchors('# Methods, metrics and statistics\n```\n# not a heading\n```\n## NPO\n### Image metrics: ToW & MIA\n## NPO\n#### `fixtures/` and [links](x.md)\n');
  assert.deepEqual([...a], ['methods-metrics-and-statistics', 'npo', 'image-metrics-tow--mia', 'npo-1', 'fixtures-and-links']);
});

test('every cited docs/ file and section exists', () => {
  const docsDir = path.join(PROJECT_ROOT, 'docs');
  const docFiles = fs.existsSync(docsDir) ? fs.readdirSync(docsDir).filter((f) => f.endsWith('.md')) : [];
  assert.ok(docFiles.includes('methods.md') && docFiles.includes('architecture.md'), `docs/ holds ${docFiles.join(', ')}`);
  const anchors = new Map(docFiles.map((f) => [f, headingAnchors(fs.readFileSync(path.join(docsDir, f), 'utf8'))]));
  const bad: string[] = [];
  const check = (where: string, file: string, anchor: string | undefined, cite: string) => {
    const a = anchors.get(file);
    if (!a) bad.push(`${where}: ${cite}: docs/${file} does not exist`);
    else if (anchor !== undefined && !a.has(anchor)) bad.push(`${where}: ${cite}: docs/${file} has no section #${anchor}`);
  };
  const sources = [...repoFiles(CODE_DIRS), 'README.md', ...docFiles.map((f) => `docs/${f}`)];
  let cites = 0;
  for (const f of sources) {
    const text = fs.existsSync(path.join(PROJECT_ROOT, f)) ? readText(f) : null;
    if (text === null) continue;
    text.split('\n').forEach((line, i) => {
      const where = `${f}:${i + 1}`;
      for (const m of line.matchAll(/(?<![\w./'"-])docs\/([\w.-]+\.md)(?:#([\w-]+))?/g)) {
        cites++;
        check(where, m[1]!, m[2], m[0]);
      }
      // links between the docs: [text](methods.md#section)
      if (f.startsWith('docs/')) for (const m of line.matchAll(/\]\(([\w.-]+\.md)(?:#([\w-]+))?\)/g)) check(where, m[1]!, m[2], m[0]);
      // a citation of the documents by bare name, without docs/
      if (!f.startsWith('docs/') && f !== 'README.md') {
        for (const m of line.matchAll(/(^|[^\w/.-])((?:methods|architecture)\.md)\b/g)) bad.push(`${where}: '${m[2]}' cited without docs/ (use docs/${m[2]}#section)`);
      }
    });
  }
  assert.ok(cites >= 30, `only ${cites} citations of docs/ found`);
  assert.deepEqual(bad, [], bad.join('\n'));
});
