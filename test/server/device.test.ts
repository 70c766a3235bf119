/**
 * The server's device (`serve --device`, formerly `--gpu`): an explicit GPU either runs (and names
 * its device) or falls back to the CPU with the reason reported, never failing the start; `cpu` is
 * the CPU build. The choice maps to node-llama-cpp's gpu option; `--gpu` still works, with one
 * deprecation warning, and is checked by the same resolver as every command's --device.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { describeDevice, llamaGpuOption, loadLlama } from '../../src/server/device.ts';
import { cliArgs, REPO_ROOT } from '../helpers/cli.ts';

test('--device maps to node-llama-cpp\'s gpu option', () => {
  assert.deepEqual(
    (['auto', 'cpu', 'cuda', 'vulkan', 'metal'] as const).map(llamaGpuOption),
    ['auto', false, 'cuda', 'vulkan', 'metal'],
  );
});

test('serve: --gpu is a deprecated alias of --device, validated by the shared resolver before the model loads', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, cliArgs('serve', '--model', path.join(REPO_ROOT, 'no-such-model.gguf'), ...args), { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  const a = run('--gpu', 'bogus');
  assert.equal(a.status, 2);
  assert.equal(
    a.stderr,
    "unlearnkit serve: --gpu is deprecated; use --device\nunlearnkit: --device: unknown device 'bogus'; choose one of auto, cpu, cuda, vulkan, metal\n",
  );
  const b = run('--device', 'bogus');
  assert.equal(b.status, 2);
  assert.equal(b.stderr, "unlearnkit: --device: unknown device 'bogus'; choose one of auto, cpu, cuda, vulkan, metal\n");
  const c = run('--gpu', 'cpu', '--device', 'cuda');
  assert.equal(c.status, 2);
  assert.match(c.stderr, /--gpu cpu and --device cuda disagree; give --device only\n$/);
  const help = spawnSync(process.execPath, cliArgs('serve', '--help'), { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.match(help.stdout, /--device <device>/);
  assert.doesNotMatch(help.stdout, /--gpu/);
});

test('cuda runs on CUDA or falls back to the CPU with a reason', { timeout: 60_000 }, async () => {
  const warnings: string[] = [];
  const { llama, device } = await loadLlama('cuda', (level, msg) => {
    if (level === 'warn') warnings.push(msg);
  }, 1);
  try {
    assert.equal(device.requested, 'cuda');
    if (device.backend === 'cuda') {
      assert.equal(llama.gpu, 'cuda');
      assert.ok(device.deviceNames.length > 0);
      assert.equal(device.fallbackReason, undefined);
    } else {
      assert.equal(device.backend, 'cpu');
      assert.ok(device.fallbackReason && device.fallbackReason.length > 0);
      assert.ok(warnings.some((w) => w.includes('CPU')), JSON.stringify(warnings));
      assert.match(describeDevice(device), /^cpu/);
    }
    assert.equal(llama.maxThreads, 1);
  } finally {
    await llama.dispose();
  }
});

test('cpu loads the CPU build', async () => {
  const { llama, device } = await loadLlama('cpu', () => {}, 1);
  try {
    assert.equal(llama.gpu, false);
    assert.deepEqual(device, { requested: 'cpu', backend: 'cpu', build: 'cpu', deviceNames: [] });
  } finally {
    await llama.dispose();
  }
});
