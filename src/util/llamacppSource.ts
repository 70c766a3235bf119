/**
 * Files from the llama.cpp source that node-llama-cpp ships as a git bundle
 * (node_modules/node-llama-cpp/llama/gitRelease.bundle, the exact llama.cpp its binaries are built
 * from): `models/ggml-vocab-*.gguf` (the real tokenizers of the model families, for random-weight
 * models at real shapes), `src/llama-arch.cpp`, `convert_hf_to_gguf.py`, ... Nothing is copied into
 * the repo; the bundle is read with `git`:
 *
 *   - extractLlamaCppFile(rel): one file, `git show HEAD:<rel>` from a temporary bare clone, kept in
 *     a cache folder (unlearnkitCacheDir()/llama.cpp-<bundle size>-files/<rel>); what run-time code uses
 *     (`bench eval --shape`);
 *   - llamaCppSourceDir(cacheRoot): a whole checkout, for the tests that read many files
 *     (test/helpers/llamacppSource.ts, in node_modules/.cache/unlearnkit).
 *
 * Where the bundle or git is missing, both throw LlamaCppSourceUnavailable with the reason, so a
 * caller can fall back (and say so) or fail.
 */
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { unlearnkitCacheDir } from './cacheDir.ts';
import { PROJECT_ROOT } from './paths.ts';

/** The bundled llama.cpp source cannot be read here (no bundle, no git, or no such file). */
export class LlamaCppSourceUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LlamaCppSourceUnavailable';
  }
}

/** node-llama-cpp's llama.cpp source bundle: beside the installed node-llama-cpp, else under this package. */
function llamaCppBundlePath(): string {
  const candidates: string[] = [];
  try {
    // dist/index.js -> the package folder
    let dir = path.dirname(createRequire(import.meta.url).resolve('node-llama-cpp'));
    for (let i = 0; i < 4 && !fs.existsSync(path.join(dir, 'package.json')); i++) dir = path.dirname(dir);
    candidates.push(path.join(dir, 'llama', 'gitRelease.bundle'));
  } catch {
    // not resolvable from here: try the project's own node_modules
  }
  candidates.push(path.join(PROJECT_ROOT, 'node_modules', 'node-llama-cpp', 'llama', 'gitRelease.bundle'));
  return candidates.find((p) => fs.existsSync(p)) ?? candidates[0]!;
}

function bundleOrThrow(): { bundle: string; size: number } {
  const bundle = llamaCppBundlePath();
  if (!fs.existsSync(bundle)) throw new LlamaCppSourceUnavailable(`node-llama-cpp's llama.cpp source bundle is not installed (${bundle})`);
  return { bundle, size: fs.statSync(bundle).size };
}

function git(what: string, args: string[]): Buffer {
  try {
    return execFileSync('git', args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === 'ENOENT') throw new LlamaCppSourceUnavailable('git is not installed (needed to read the llama.cpp source bundle)');
    throw new LlamaCppSourceUnavailable(`git could not ${what}: ${String(err.stderr ?? err.message).trim().split('\n')[0]}`);
  }
}

/** Rename `tmp` to `dest`; if another process got there first, keep theirs. */
function publish(tmp: string, dest: string, done: (p: string) => boolean): void {
  try {
    fs.renameSync(tmp, dest);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!done(dest)) throw e;
  }
}

const checkouts = new Map<string, string>();

/**
 * The folder of a whole checkout of the bundled llama.cpp source under `cacheRoot` (cloned on first
 * use into a temporary folder and renamed, so concurrent processes never see half a checkout).
 */
export function llamaCppSourceDir(cacheRoot: string = unlearnkitCacheDir()): string {
  const { bundle, size } = bundleOrThrow();
  const dir = path.join(cacheRoot, `llama.cpp-${size}`);
  const memo = checkouts.get(dir);
  if (memo) return memo;
  const complete = (d: string) => fs.existsSync(path.join(d, '.unlearnkit-complete'));
  if (!complete(dir)) {
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    git(`clone ${bundle}`, ['clone', '--quiet', bundle, tmp]);
    fs.writeFileSync(path.join(tmp, '.unlearnkit-complete'), '');
    publish(tmp, dir, complete);
  }
  checkouts.set(dir, dir);
  return dir;
}

/**
 * One file of the bundled llama.cpp source (a path relative to its root, e.g.
 * 'models/ggml-vocab-qwen2.gguf'), extracted once into `<cacheRoot>/llama.cpp-<bundle size>-files/<rel>`
 * (or read from a whole checkout in the same cache); returns its absolute path.
 */
export function extractLlamaCppFile(rel: string, cacheRoot: string = unlearnkitCacheDir()): string {
  if (path.isAbsolute(rel) || rel.split(/[\\/]/).includes('..')) throw new LlamaCppSourceUnavailable(`${rel} is not a path inside the llama.cpp source`);
  const { bundle, size } = bundleOrThrow();
  const checkout = path.join(cacheRoot, `llama.cpp-${size}`, rel);
  if (fs.existsSync(path.join(cacheRoot, `llama.cpp-${size}`, '.unlearnkit-complete')) && fs.existsSync(checkout)) return checkout;
  const dest = path.join(cacheRoot, `llama.cpp-${size}-files`, rel);
  if (fs.existsSync(dest)) return dest;
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const repo = path.join(cacheRoot, `llama.cpp-${size}.git.tmp-${process.pid}`);
  fs.rmSync(repo, { recursive: true, force: true });
  try {
    git(`clone ${bundle}`, ['clone', '--quiet', '--bare', bundle, repo]);
    const bytes = git(`read ${rel}`, ['--git-dir', repo, 'show', `HEAD:${rel.split(path.sep).join('/')}`]);
    const tmp = `${dest}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, bytes);
    publish(tmp, dest, fs.existsSync);
  } catch (e) {
    if (e instanceof LlamaCppSourceUnavailable && /does not exist|exists on disk, but not in|invalid object name/i.test(e.message)) {
      throw new LlamaCppSourceUnavailable(`${rel} is not in the bundled llama.cpp source (${bundle})`);
    }
    throw e;
  } finally {
    fs.rmSync(repo, { recursive: true, force: true });
  }
  return dest;
}
