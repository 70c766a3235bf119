/**
 * Fixture lookup for tests. A test that needs a fixture which is absent must skip with a loud
 * reason (never pass silently): use `needFixture(t, ...)` inside a test, which calls `t.skip` and
 * prints a warning to stderr.
 */
import fs from 'node:fs';
import type { TestContext } from 'node:test';
import { fixturePath } from '../../src/util/paths.ts';

/** Returns the absolute path of the fixture, or null after skipping `t` with a loud reason. */
export function needFixture(t: TestContext, ...parts: string[]): string | null {
  const p = fixturePath(...parts);
  if (fs.existsSync(p)) return p;
  const msg = `SKIPPED: fixture ${p} is missing (set UNLEARN_FIXTURES to the shared fixtures folder)`;
  process.stderr.write(`\n*** ${msg} ***\n`);
  t.skip(msg);
  return null;
}

/** Skip `t` loudly with `reason`. */
export function skipLoudly(t: TestContext, reason: string): void {
  process.stderr.write(`\n*** SKIPPED: ${reason} ***\n`);
  t.skip(reason);
}
