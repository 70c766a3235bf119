/**
 * The CLI as tests run it: the TypeScript sources (src/cli.ts) under tsx, never bin/unlearnkit.js,
 * which runs the built dist/ (a stale build must not hide a bug in the sources under test).
 * test/package/tarball.test.ts checks the built, packed and installed CLI separately.
 *
 *   spawnSync(process.execPath, cliArgs('grads', 'info', dir, '--json'), { encoding: 'utf8' })
 */
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
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

const execFileAsync = promisify(execFile);

/**
 * Runs the source CLI in `cwd` with one engine thread (tests use tiny models) and resolves to its
 * output; a non-zero exit rejects with an Error naming the command, its exit code and both streams
 * (the child's stderr also as the error's `stderr`).
 */
export async function runCli(cwd: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileAsync(process.execPath, cliArgs(...args), { cwd, env: { ...process.env, UNLEARNKIT_THREADS: '1' }, maxBuffer: 64 << 20, timeout: 300_000 });
  } catch (e) {
    const x = e as { code?: number; stderr?: string; stdout?: string };
    throw Object.assign(new Error(`unlearnkit ${args.join(' ')} exited ${x.code}:\n${x.stderr}\n${x.stdout}`), { stderr: x.stderr ?? '' });
  }
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the source CLI in `cwd` on the CPU device and resolves to its exit code and both streams,
 * whatever the exit (async, so that independent cases overlap).
 */
export function spawnCli(cwd: string, ...args: string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cliArgs(...args), { cwd, env: { ...process.env, UNLEARNKIT_DEVICE: 'cpu' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
