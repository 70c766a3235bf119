/**
 * The environment recorded with every result and report (src/eval/environment.ts) says what computed
 * it without naming a folder of this machine: the engine's binaries are named relative to the
 * project, in the description and in every build status's reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeEnvironment } from '../../src/eval/environment.ts';
import { getEngine } from '../../src/engine/engine.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

test('the recorded environment holds no absolute path of this machine', () => {
  const binsDir = String(getEngine().describe().binsDir);
  assert.ok(binsDir.startsWith(PROJECT_ROOT), `the engine's binaries under the project (${binsDir})`);
  const env = describeEnvironment({ engine: true });
  const text = JSON.stringify(env);
  assert.ok(!text.includes(PROJECT_ROOT), `no ${PROJECT_ROOT} in ${text}`);
  const chosen = (env.engine!.builds as Array<{ status: string; reason?: string }>).find((b) => b.status === 'chosen');
  assert.match(chosen?.reason ?? '', /^loaded from node_modules\//);
});
