/**
 * Versions of installed packages, found the way Node resolves them from this module (so they are
 * right both in the repo and inside a consumer's node_modules, where the packages sit beside ours,
 * not under our folder).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * The version in an installed package's package.json, or 'unknown' when it is not installed.
 * Packages that do not export their package.json are found by walking up from their main file.
 */
export function installedPackageVersion(name: string): string {
  try {
    return (JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    // not exported: walk up from the entry point
  }
  let dir: string;
  try {
    dir = path.dirname(require.resolve(name));
  } catch {
    return 'unknown';
  }
  while (dir !== path.dirname(dir)) {
    const p = path.join(dir, 'package.json');
    if (fs.existsSync(p)) {
      const j = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (j.name === name && j.version) return j.version;
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}
