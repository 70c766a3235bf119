/**
 * The CLI as tests run it: the TypeScript sources (src/cli.ts) under tsx, never bin/unlearnkit.js,
 * which runs the built dist/ (a stale build must not hide a bug in the sources under test).
 * test/package/tarball.test.ts checks the built, packed and installed CLI separately.
 *
 *   spawnSync(process.execPath, cliArgs('grads', 'info', dir, '--json'), { encoding: 'utf8' })
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** tsx's loader as an absolute URL, so the child resolves it from any working directory. */
const TSX = import.meta.resolve('tsx');

/** The source CLI entry. */
export const CLI_SOURCE = path.join(REPO_ROOT, 'src', 'cli.ts');

/** Arguments after `process.execPath` that run the source CLI with `args`. */
export function cliArgs(...args: string[]): string[] {
  return ['--import', TSX, CLI_SOURCE, ...args];
}
