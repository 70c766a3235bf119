/**
 * Files from the llama.cpp source that node-llama-cpp ships as a git bundle
 * (node_modules/node-llama-cpp/llama/gitRelease.bundle): `src/llama-arch.cpp`, `src/llama-model.cpp`,
 * `convert_hf_to_gguf.py`, `models/ggml-vocab-*.gguf` with their `.inp/.out` tokenizer vectors, ...
 *
 * Tests use them as the trusted reference (the exact llama.cpp our engine's kernels come from), so
 * nothing is copied into the repo: the bundle is cloned once into a cache folder
 * (node_modules/.cache/unlearnkit/llama.cpp-<bundle size>) by src/util/llamacppSource.ts, and files
 * are read from that checkout. Needs `git` (present wherever the repo was cloned); a missing bundle
 * or git is an error, not a skip.
 *
 *   const p = llamaCppSourceFile('models/ggml-vocab-qwen2.gguf');   // absolute path
 *   const text = readLlamaCppSource('src/llama-arch.cpp');
 */
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { llamaCppSourceDir as checkoutIn } from '../../src/util/llamacppSource.ts';

const CACHE_ROOT = path.join(PROJECT_ROOT, 'node_modules', '.cache', 'unlearnkit');

/** The folder of a checkout of the bundled llama.cpp source (cloned on first use). */
export function llamaCppSourceDir(): string {
  return checkoutIn(CACHE_ROOT);
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
