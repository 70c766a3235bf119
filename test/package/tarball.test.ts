/**
 * The package as a user gets it: `npm pack` (which builds dist/ through "prepare"), then
 * `npm install <tgz>` into a fresh folder outside the repo, as a consumer without devDependencies
 * (no tsx, no TypeScript of its own), then:
 *   - plain Node imports each export (., ./stats, ./eval, ./report, ./engine, ./package.json);
 *     pairedTTest gives scipy's p-value;
 *   - a TypeScript consumer (module/moduleResolution NodeNext, skipLibCheck off, so our .d.ts files
 *     are checked too) type-checks with the repo's tsc;
 *   - `npx unlearnkit --version`, `npx unlearnkit doctor --json` (ok), and `npx unlearnkit demo
 *     --tiny`, which writes under the consumer's folder and nothing into the installed package
 *     (besides the native kernel's build cache, node_modules/.cache);
 *   - the install printed no warnings (EBADENGINE, deprecations, unknown config, install scripts).
 *
 * The consumer declares the allowScripts policy the README recommends (koffi's and
 * node-llama-cpp's install scripts denied: prebuilt binaries come as optional packages), and denies
 * the tarball's own `prepare`, which npm lists for a local tarball (it never runs it there; a
 * registry install does not list it). The install uses the npm cache that the repo's `npm ci`
 * filled (--prefer-offline); CI has the registry besides. Nothing here skips.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT } from '../helpers/cli.ts';

const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** scipy.stats.ttest_rel([1, 2, 3], [1, 1, 1]).pvalue (scipy 1.10+): t = sqrt(3), df = 2. */
const SCIPY_P = 0.22540333075851665;

const work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'uk-tarball-')));
const consumer = path.join(work, 'consumer');
const pkgDir = path.join(consumer, 'node_modules', 'unlearnkit');
let installOutput = '';

/**
 * The environment for nested npm and node runs: without the `npm_*` variables an enclosing
 * `npm test` exports (its package, lifecycle and config, such as npm_config_local_prefix), so the
 * consumer is installed as a user would install it.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('npm_') && k !== 'UNLEARNKIT_TEST') env[k] = v;
  return env;
}

function run(cmd: string, args: string[], o: SpawnSyncOptions & { timeout: number }): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: cleanEnv(), ...o });
  if (r.error) throw r.error;
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Every file under a folder, relative to it, skipping one sub-path. */
function listFiles(dir: string, skip: string): string[] {
  const out: string[] = [];
  (function walk(d: string) {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      if (rel === skip) continue;
      if (e.isDirectory()) walk(p);
      else out.push(rel);
    }
  })(dir);
  return out.sort();
}

before(() => {
  const pack = run('npm', ['pack', '--pack-destination', work], { cwd: REPO_ROOT, timeout: 240_000 });
  assert.equal(pack.status, 0, `npm pack failed:\n${pack.stdout}\n${pack.stderr}`);
  const tgz = path.join(work, `unlearnkit-${VERSION}.tgz`);
  assert.ok(fs.existsSync(tgz), `npm pack did not write ${tgz}:\n${pack.stdout}`);

  fs.mkdirSync(consumer);
  fs.writeFileSync(
    path.join(consumer, 'package.json'),
    JSON.stringify({ name: 'unlearnkit-consumer', version: '1.0.0', private: true, type: 'module', allowScripts: { koffi: false, 'node-llama-cpp': false, [`file:${tgz}`]: false } }, null, 2),
  );
  const install = run('npm', ['install', tgz, '--prefer-offline', '--no-audit', '--no-fund'], { cwd: consumer, timeout: 300_000 });
  installOutput = install.stdout + install.stderr;
  assert.equal(install.status, 0, `npm install of the tarball failed:\n${installOutput}`);
});

after(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

test('the install prints no warnings and installs no devDependencies', () => {
  const warnings = installOutput.split('\n').filter((l) => /^npm (warn|WARN|error|ERR)/.test(l));
  assert.deepEqual(warnings, [], installOutput);
  assert.doesNotMatch(installOutput, /EBADENGINE|deprecated|Unknown (project|user|builtin) config/i);
  for (const dev of ['tsx', 'typescript', '@types/node', 'puppeteer-core']) assert.ok(!fs.existsSync(path.join(consumer, 'node_modules', dev)), `${dev} was installed`);
  for (const f of ['dist/cli.js', 'dist/index.d.ts', 'dist/engine/index.js', 'native/matmul.c', 'models/unlearnkit-base.gguf', 'datasets/dave/forget.jsonl']) assert.ok(fs.existsSync(path.join(pkgDir, f)), `the package lacks ${f}`);
});

test('plain Node imports every export; pairedTTest gives scipy\'s p-value', () => {
  const script = `
    const root = await import('unlearnkit');
    const stats = await import('unlearnkit/stats');
    const evaluation = await import('unlearnkit/eval');
    const report = await import('unlearnkit/report');
    const engine = await import('unlearnkit/engine');
    const pkg = (await import('unlearnkit/package.json', { with: { type: 'json' } })).default;
    console.log(JSON.stringify({
      p: stats.pairedTTest([1, 2, 3], [1, 1, 1]).p,
      rootP: root.stats.pairedTTest([1, 2, 3], [1, 1, 1]).p,
      kinds: [typeof root.evaluate, typeof root.UserError, typeof evaluation.evaluate, typeof evaluation.makeIntervalEvaluator,
              typeof report.writeRunReport, typeof report.comparePaired, typeof engine.getEngine, typeof engine.Graph, typeof engine.ops.mulMat],
      version: pkg.version,
    }));`;
  const r = run(process.execPath, ['--input-type=module', '-e', script], { cwd: consumer, timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { p: number; rootP: number; kinds: string[]; version: string };
  assert.ok(Math.abs(out.p - SCIPY_P) < 1e-14, `p ${out.p} vs scipy ${SCIPY_P}`);
  assert.equal(out.rootP, out.p);
  assert.deepEqual(out.kinds, Array(out.kinds.length).fill('function'));
  assert.equal(out.version, VERSION);

  // The one-liner from the README.
  const one = run(process.execPath, ['-e', "import('unlearnkit/stats').then(m => console.log(m.pairedTTest([1,2,3],[1,1,1]).p))"], { cwd: consumer, timeout: 60_000 });
  assert.equal(one.status, 0, one.stderr);
  assert.ok(Math.abs(Number(one.stdout.trim()) - SCIPY_P) < 1e-14, one.stdout);
});

test('a NodeNext TypeScript consumer type-checks against the shipped declarations', () => {
  fs.writeFileSync(
    path.join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [path.join(REPO_ROOT, 'node_modules', '@types')],
      },
      files: ['check.ts'],
    }),
  );
  fs.writeFileSync(
    path.join(consumer, 'check.ts'),
    `import { pairedTTest, type PairedTTestResult } from 'unlearnkit/stats';
import { evaluate, type EvaluateOptions } from 'unlearnkit/eval';
import { writeRunReport, type ReportInput } from 'unlearnkit/report';
import { getEngine, Graph, ops, type DType } from 'unlearnkit/engine';
import { stats, UserError, CausalLM } from 'unlearnkit';
const r: PairedTTestResult = pairedTTest([1, 2, 3], [1, 1, 1]);
const p: number = r.p;
// @ts-expect-error: p is a number (the declarations are real types, not any)
const wrong: string = r.p;
const o: EvaluateOptions = { modelPath: 'm.gguf', data: 'dave', out: 'reports/x' };
const d: DType = 'f32';
export const used: unknown[] = [p, wrong, o, d, evaluate, writeRunReport, getEngine, Graph, ops.mulMat, stats.holm, UserError, CausalLM, null as ReportInput | null];
`,
  );
  const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = run(process.execPath, [tsc, '-p', consumer], { cwd: consumer, timeout: 120_000 });
  assert.equal(r.status, 0, `tsc:\n${r.stdout}${r.stderr}`);
});

// `npx --no -- unlearnkit ...`: the installed bin, never a download (`--no`), and `--` so npx
// does not read `--version` as its own option.
test('npx unlearnkit --version and doctor --json from the installed package', () => {
  const v = run('npx', ['--no', '--', 'unlearnkit', '--version'], { cwd: consumer, timeout: 60_000 });
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stdout.trim(), VERSION);

  const d = run('npx', ['--no', '--', 'unlearnkit', 'doctor', '--json'], { cwd: consumer, timeout: 180_000 });
  assert.equal(d.status, 0, d.stderr);
  const report = JSON.parse(d.stdout) as { ok: boolean; builds: Array<{ build: string; devices: unknown[] }> };
  assert.equal(report.ok, true, d.stdout);
  assert.ok(report.builds[0]!.devices.length > 0, d.stdout);
});

test('npx unlearnkit demo --tiny writes under the current folder, never into the package', () => {
  const before = listFiles(pkgDir, path.join('node_modules', '.cache'));
  const r = run('npx', ['--no', '--', 'unlearnkit', 'demo', '--tiny', '--quiet'], { cwd: consumer, timeout: 420_000 });
  assert.equal(r.status, 0, r.stderr);
  const runDir = path.join(consumer, 'runs', 'demo-tiny');
  const res = JSON.parse(fs.readFileSync(path.join(runDir, 'demo.json'), 'utf8')) as { runDir: string; report: string; model: string; unlearning: unknown[] };
  assert.equal(res.runDir, runDir);
  assert.ok(res.report.startsWith(runDir + path.sep) && fs.existsSync(res.report), res.report);
  assert.equal(res.model, path.join(pkgDir, 'models', 'unlearnkit-base.gguf'));
  assert.equal(res.unlearning.length, 4);
  assert.match(r.stdout, /report: runs\/demo-tiny\/report\/report\.html/);
  assert.deepEqual(listFiles(pkgDir, path.join('node_modules', '.cache')), before, 'the demo wrote into the installed package');
});
