/**
 * How to start another unlearnkit process that runs the same code as this one: the same Node
 * binary, the loader flags this process was started with (`--import tsx` when the TypeScript
 * sources run, as in the tests), and our own module beside this one (src/cli.ts from the sources,
 * dist/cli.js from the built package). A child (doctor's per-build checks, the TUI's server and
 * jobs) therefore never runs another copy than its parent: a stale dist/ cannot stand in for the
 * sources under test, and an installed package needs no tsx.
 *
 *   spawn(process.execPath, cliArgs('doctor', '--json'))
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = fileURLToPath(import.meta.url);
/** The root of the running modules: src/ (sources) or dist/ (build); this file is <root>/util/. */
const MODULE_ROOT = path.resolve(path.dirname(HERE), '..');
/** `.ts` when the sources run (through a TypeScript loader), `.js` when the build runs. */
const EXT = path.extname(HERE) === '.ts' ? '.ts' : '.js';

/** Node options that take a value and decide how modules load; the ones passed on to children. */
const LOADER_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader', '--conditions', '-C']);
/** Boolean options passed on as they are (everything else, such as --test or --inspect, is not). */
const KEPT_PREFIXES = ['--no-warnings', '--enable-source-maps', '--experimental-strip-types', '--experimental-transform-types', '--no-experimental-strip-types', '--max-old-space-size', '--stack-size', '--disable-warning'];

/** A loader/preload specifier made independent of the child's working directory. */
function absoluteSpecifier(flag: string, spec: string): string {
  if (flag === '--conditions' || flag === '-C') return spec;
  if (/^(file|data|node):/.test(spec)) return spec;
  if (spec.startsWith('.') || path.isAbsolute(spec)) return flag === '--require' || flag === '-r' ? path.resolve(spec) : pathToFileURL(path.resolve(spec)).href;
  try {
    return flag === '--require' || flag === '-r' ? createRequire(import.meta.url).resolve(spec) : import.meta.resolve(spec);
  } catch {
    return spec;
  }
}

/** This process's module-loading Node options, with bare specifiers (`tsx`) resolved. */
export function nodeLoaderArgs(): string[] {
  const out: string[] = [];
  const a = process.execArgv;
  for (let i = 0; i < a.length; i++) {
    const arg = a[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (LOADER_FLAGS.has(flag)) {
      const value = eq > 0 ? arg.slice(eq + 1) : a[++i];
      if (value !== undefined) out.push(flag, absoluteSpecifier(flag, value));
    } else if (KEPT_PREFIXES.some((p) => flag === p)) {
      out.push(arg);
    }
  }
  // Sources started without a loader flag (tsx registered through its API): add tsx explicitly.
  if (EXT === '.ts' && !out.some((x) => /[\\/]tsx[\\/]/.test(x))) out.unshift('--import', absoluteSpecifier('--import', 'tsx'));
  return out;
}

/** The file of one of our own modules as this process runs them (`'cli'` -> src/cli.ts or dist/cli.js). */
export function ownModulePath(name: string): string {
  return path.join(MODULE_ROOT, ...name.split('/')) + EXT;
}

/** Arguments after `process.execPath` that run our module `name` (see ownModulePath) with `args`. */
export function ownModuleArgs(name: string, ...args: string[]): string[] {
  return [...nodeLoaderArgs(), ownModulePath(name), ...args];
}

/** Arguments after `process.execPath` that run the unlearnkit CLI with `args`, as this process runs. */
export function cliArgs(...args: string[]): string[] {
  return ownModuleArgs('cli', ...args);
}
