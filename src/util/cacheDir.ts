/**
 * Where unlearnkit keeps what it can rebuild (files extracted from node-llama-cpp's llama.cpp
 * source, random-weight benchmark models): $UNLEARNKIT_CACHE, else the user's cache folder
 * ($XDG_CACHE_HOME or ~/.cache, /unlearnkit), else the system temp folder. Never the package's own
 * folder: once installed it sits in a consumer's node_modules, which is not ours to write.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The cache folder (created), or the first candidate when none is writable (the caller's write then fails with its path). */
export function unlearnkitCacheDir(...parts: string[]): string {
  const env = process.env.UNLEARNKIT_CACHE;
  const candidates = env
    ? [path.resolve(env)]
    : [path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'unlearnkit'), path.join(os.tmpdir(), `unlearnkit-cache-${os.userInfo().uid}`)];
  for (const c of candidates) {
    const dir = path.join(c, ...parts);
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
      return dir;
    } catch {
      // try the next one
    }
  }
  return path.join(candidates[0]!, ...parts);
}
