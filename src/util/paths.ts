/** Where things live: the project root, the shared fixtures (overridable by UNLEARN_FIXTURES). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shared fixtures folder: $UNLEARN_FIXTURES, else ../shared/fixtures beside the project. */
export function fixturesDir(): string {
  return process.env.UNLEARN_FIXTURES ?? path.resolve(PROJECT_ROOT, '..', 'shared', 'fixtures');
}

export function fixturePath(...parts: string[]): string {
  return path.join(fixturesDir(), ...parts);
}
