/** Where things live: the project root and the test fixtures (overridable by UNLEARN_FIXTURES). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The test fixtures folder: $UNLEARN_FIXTURES when set (non-empty), else the repo's own
 * test/fixtures (what each file is and where it comes from: test/fixtures/README.md). Fixtures are
 * test data: runtime code takes its data paths from the user, not from here.
 */
function fixturesDir(): string {
  const env = process.env.UNLEARN_FIXTURES;
  return env ? path.resolve(env) : path.join(PROJECT_ROOT, 'test', 'fixtures');
}

/** A file or folder under fixturesDir(). */
export function fixturePath(...parts: string[]): string {
  return path.join(fixturesDir(), ...parts);
}

/**
 * The embedded default model (models/unlearnkit-base.gguf, trained by `unlearnkit pretrain`, shipped
 * with the package): what the demo, the benchmarks and the TUI open when no model is named.
 */
export function embeddedModelPath(): string {
  return path.join(PROJECT_ROOT, 'models', 'unlearnkit-base.gguf');
}

/**
 * Where a command writes by default (runs/, reports/, adapters/): under the current directory,
 * never under PROJECT_ROOT, which is the package folder inside node_modules once installed.
 */
export function outputPath(...parts: string[]): string {
  return path.resolve(process.cwd(), ...parts);
}

/** A UTC time for default file and folder names, to the second: `20261207-051530`. */
export function fileStamp(now = new Date()): string {
  return now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}
