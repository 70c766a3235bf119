/**
 * Files from the llama.cpp source that node-llama-cpp ships as a git bundle
 * (node_modules/node-llama-cpp/llama/gitRelease.bundle): `src/llama-arch.cpp`, `src/llama-model.cpp`,
 * `convert_hf_to_gguf.py`, `models/ggml-vocab-*.gguf` with their `.inp/.out` tokenizer vectors, ...
 *
 * Tests use them as the trusted reference (the exact llama.cpp our engine's kernels come from), so
 * nothing is copied into the repo: the bundle is cloned once into a cache folder
 * (node_modules/.cache/unlearnkit/llama.cpp-<bundle size>) and files are read from that checkout.
 * Needs `git` (present wherever the repo was cloned); a missing bundle or git is an error, not a skip.
 *
 *   const p = llamaCppSourceFile('models/ggml-vocab-qwen2.gguf');   // absolute path
 *   const text = readLlamaCppSource('src/llama-arch.cpp');
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

const BUNDLE = path.join(PROJECT_ROOT, 'node_modules', 'node-llama-cpp', 'llama', 'gitRelease.bundle');

let checkout: string | null = null;

/** The folder of a checkout of the bundled llama.cpp source (cloned on first use). */
export function llamaCppSourceDir(): string {
  if (checkout) return checkout;
  if (!fs.existsSync(BUNDLE)) throw new Error(`llama.cpp source bundle not found at ${BUNDLE} (run npm ci)`);
  const size = fs.statSync(BUNDLE).size;
  const dir = path.join(PROJECT_ROOT, 'node_modules', '.cache', 'unlearnkit', `llama.cpp-${size}`);
  if (!fs.existsSync(path.join(dir, '.unlearnkit-complete'))) {
    // clone into a temporary folder and rename, so concurrent test processes never see half a checkout
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    execFileSync('git', ['clone', '--quiet', BUNDLE, tmp], { stdio: ['ignore', 'ignore', 'pipe'] });
    fs.writeFileSync(path.join(tmp, '.unlearnkit-complete'), '');
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      // another process finished first
      fs.rmSync(tmp, { recursive: true, force: true });
      if (!fs.existsSync(path.join(dir, '.unlearnkit-complete'))) throw e;
    }
  }
  checkout = dir;
  return dir;
}

/** Absolute path of a file in the llama.cpp checkout; throws when the file does not exist there. */
export function llamaCppSourceFile(rel: string): string {
  const p = path.join(llamaCppSourceDir(), rel);
  if (!fs.existsSync(p)) throw new Error(`${rel} is not in the bundled llama.cpp source (${llamaCppSourceDir()})`);
  return p;
}

/** Text of a file in the llama.cpp checkout. */
export function readLlamaCppSource(rel: string): string {
  return fs.readFileSync(llamaCppSourceFile(rel), 'utf8');
}
