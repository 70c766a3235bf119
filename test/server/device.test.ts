/**
 * `--gpu` selection: an explicit GPU either runs (and names its device) or falls back to the CPU
 * with the reason reported, never failing the start; `cpu` is the CPU build.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeDevice, loadLlama } from '../../src/server/device.ts';

test('--gpu cuda runs on CUDA or falls back to the CPU with a reason', { timeout: 60_000 }, async () => {
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

test('--gpu cpu loads the CPU build', async () => {
  const { llama, device } = await loadLlama('cpu', () => {}, 1);
  try {
    assert.equal(llama.gpu, false);
    assert.deepEqual(device, { requested: 'cpu', backend: 'cpu', build: 'cpu', deviceNames: [] });
  } finally {
    await llama.dispose();
  }
});
