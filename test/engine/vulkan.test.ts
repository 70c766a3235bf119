/**
 * The GPU code path without a GPU: ggml's Vulkan build on Mesa's software Vulkan device (llvmpipe,
 * visible to ggml only with GGML_VK_VISIBLE_DEVICES=0). A child process (one ggml build per process)
 * runs forward + backward + 3 AdamW steps of a small 3-layer MLP (mulMat, add, silu, relu,
 * crossEntropyLoss) on the Vulkan device and on the CPU device of the same build. Here we check
 * that every node of the step graph is supported by the Vulkan backend (graphs run with
 * ggml_backend_graph_compute on that one backend, so there is no silent CPU fallback), and that
 * loss, gradients and updated weights match the CPU within 1e-2 relative (fp16-ish matmuls).
 * Skips loudly when no Vulkan device exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipLoudly } from '../helpers/fixtures.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

interface RunResult {
  device: string;
  supportsAll: { forward: boolean; backward: boolean; step: boolean };
  unsupported: string[];
  opCounts: Record<string, number>;
  loss: number;
  grads: Record<string, number[]>;
  stepLosses: number[];
  weights: Record<string, number[]>;
  ms: number;
}
interface ChildOut {
  skip?: string;
  vulkanDevice: { name: string; description: string; type: string; registry: string };
  cpuDevice: { name: string; description: string };
  vulkan: RunResult;
  cpu: RunResult;
  survey: Record<string, string[]>;
}

/** ||a - b||_2 / ||b||_2 and max |a - b| */
function diff(a: number[], b: number[]): { rel: number; maxAbs: number; bitwiseDifferent: number } {
  assert.equal(a.length, b.length);
  let d2 = 0;
  let b2 = 0;
  let maxAbs = 0;
  let bitwiseDifferent = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    d2 += d * d;
    b2 += b[i]! * b[i]!;
    maxAbs = Math.max(maxAbs, Number.isNaN(d) ? Infinity : d);
    if (a[i] !== b[i]) bitwiseDifferent++;
  }
  return { rel: Math.sqrt(d2) / Math.max(Math.sqrt(b2), 1e-30), maxAbs, bitwiseDifferent };
}

test('Vulkan (software device): MLP forward + backward + AdamW matches the CPU, every node on Vulkan', (t) => {
  const env: NodeJS.ProcessEnv = { ...process.env, GGML_VK_VISIBLE_DEVICES: process.env.GGML_VK_VISIBLE_DEVICES ?? '0' };
  delete env.UNLEARNKIT_DEVICE;
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'vulkan-child.ts')], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const line = (r.stdout ?? '')
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  assert.ok(line, `the Vulkan child printed no result (exit ${r.status}, signal ${r.signal}):\n${(r.stderr ?? '').slice(-3000)}`);
  const out = JSON.parse(line) as ChildOut;
  if (out.skip) {
    skipLoudly(t, `Vulkan test: ${out.skip.replace(/\.+$/, '')}. Install Mesa's Vulkan driver (apt-get install mesa-vulkan-drivers) to run it.`);
    return;
  }
  assert.equal(r.status, 0, `child exit ${r.status}: ${(r.stderr ?? '').slice(-2000)}`);
  const { vulkan: vk, cpu } = out;
  t.diagnostic(`Vulkan device: ${out.vulkanDevice.name} (${out.vulkanDevice.description}, type ${out.vulkanDevice.type}); CPU: ${out.cpuDevice.description}`);
  assert.equal(out.vulkanDevice.registry, 'Vulkan');
  assert.match(vk.device, /^Vulkan\d+$/);
  assert.equal(cpu.device, 'CPU');

  // every node of the forward, backward and step graphs is supported on Vulkan
  assert.deepEqual(vk.supportsAll, { forward: true, backward: true, step: true }, `unsupported on Vulkan: ${vk.unsupported.join(', ')}`);
  assert.deepEqual(vk.unsupported, []);
  assert.deepEqual(vk.opCounts, cpu.opCounts, 'the same graph ran on both devices');
  for (const o of ['MUL_MAT', 'ADD', 'CROSS_ENTROPY_LOSS', 'CROSS_ENTROPY_LOSS_BACK', 'OUT_PROD', 'OPT_STEP_ADAMW']) {
    assert.ok((vk.opCounts[o] ?? 0) > 0, `the step graph has ${o}`);
  }

  // Results agree with the CPU to the bound the README states: on Mesa's software device (llvmpipe,
  // F32 arithmetic in another order) a relative L2 difference <= 1e-6 (measured 2.1e-7 at most);
  // a hardware GPU's shaders may accumulate in fp16, so there the README states 1e-2 (not measured here).
  const software = /llvmpipe|lavapipe|swiftshader/i.test(out.vulkanDevice.description);
  const bound = software ? 1e-6 : 1e-2;
  const report: string[] = [];
  const check = (what: string, a: number[], b: number[]) => {
    const d = diff(a, b);
    report.push(`${what}: rel ${d.rel.toExponential(2)}, max abs ${d.maxAbs.toExponential(2)}, ${d.bitwiseDifferent}/${a.length} not bit-identical`);
    assert.ok(d.rel <= bound, `${what}: Vulkan vs CPU relative difference ${d.rel} > ${bound} (${software ? 'software device' : 'hardware GPU'})`);
    return d;
  };
  check('loss', [vk.loss], [cpu.loss]);
  check('losses after steps', vk.stepLosses, cpu.stepLosses);
  for (const k of Object.keys(cpu.grads)) check(`grad ${k}`, vk.grads[k]!, cpu.grads[k]!);
  for (const k of Object.keys(cpu.weights)) check(`weights ${k} after ${cpu.stepLosses.length} AdamW steps`, vk.weights[k]!, cpu.weights[k]!);
  assert.ok(cpu.stepLosses[cpu.stepLosses.length - 1]! < cpu.loss, 'AdamW lowers the loss');
  const unsupportedSurvey = Object.entries(out.survey).filter(([, ops]) => ops.length > 0);
  report.push(`Vulkan ${vk.ms.toFixed(0)} ms (incl. shader compilation), CPU ${cpu.ms.toFixed(0)} ms`);
  report.push(
    `ops survey (forward + backward + AdamW graphs): ${
      unsupportedSurvey.length === 0 ? 'all supported' : unsupportedSurvey.map(([k, v]) => `${k}: ${v.join('/')}`).join('; ')
    }`,
  );
  for (const l of report) t.diagnostic(l);
  process.stderr.write(`vulkan: ${out.vulkanDevice.name} (${out.vulkanDevice.description})\n${report.map((l) => `  ${l}`).join('\n')}\n`);
});
