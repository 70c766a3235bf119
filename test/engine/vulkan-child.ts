/**
 * Child process of vulkan.test.ts (one ggml build per process, so the Vulkan build is loaded here
 * and not in the test runner). Loads the Vulkan build of node-llama-cpp, runs the same small MLP
 * training step (forward + backward + AdamW) on the Vulkan device and on the CPU device of that
 * build, and prints one JSON line with both results, the device names, and which ops of a wider set
 * the Vulkan backend supports. Prints {"skip": reason} when there is no Vulkan device.
 *
 * Run with GGML_VK_VISIBLE_DEVICES=0 so that ggml also lists CPU-type devices (Mesa's llvmpipe).
 */
import { getEngine, type DeviceInfo, type Engine } from '../../src/engine/engine.ts';
import { Graph, type Tensor } from '../../src/engine/graph.ts';
import * as op from '../../src/engine/ops.ts';
import * as nn from '../../src/engine/composite.ts';
import { Rng } from '../../src/util/rng.ts';

const STEPS = 3;

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

function unsupportedOps(g: Graph, phase: 'forward' | 'backward' | 'step'): string[] {
  const backend = g.engine.backend(g.device);
  const bad = new Set<string>();
  for (const n of g.nodes(phase)) if (!g.g.ggml_backend_supports_op!(backend, n)) bad.add(String(g.g.ggml_op_desc!(n)));
  return [...bad];
}

function runMlp(engine: Engine, device: DeviceInfo): RunResult {
  const rng = new Rng(2024);
  const init: Record<string, Float32Array> = {
    w1: rng.normalArray(16 * 32, 0.3),
    b1: rng.normalArray(32, 0.1),
    w2: rng.normalArray(32 * 24, 0.2),
    w3: rng.normalArray(24 * 10, 0.2),
  };
  const x = rng.normalArray(16 * 8);
  const y = new Float32Array(10 * 8);
  for (let n = 0; n < 8; n++) y[n * 10 + ((n * 3) % 10)] = 1;
  const t0 = performance.now();
  const g = new Graph({ engine, device });
  try {
    const p: Record<string, Tensor> = {
      w1: g.param('w1', [16, 32]),
      b1: g.param('b1', [32]),
      w2: g.param('w2', [32, 24]),
      w3: g.param('w3', [24, 10]),
    };
    // The batch lies in ne[2] (one matrix-vector product per example, weights broadcast): with the
    // batch in ne[1], ggml's MUL_MAT backward for the second operand (the activations) is an
    // OUT_PROD with a transposed, non-contiguous source, which ggml-vulkan does not support
    // (reported by the survey below as mlpBatchInNe1).
    const xt = g.input('x', [16, 1, 8]);
    const yt = g.input('y', [10, 8]);
    const h1 = op.silu(op.add(op.mulMat(p.w1!, xt), p.b1!));
    const h2 = op.relu(op.mulMat(p.w2!, h1));
    const loss = op.crossEntropyLoss(op.reshape(op.mulMat(p.w3!, h2), [10, 8]), yt);
    g.build({ loss, backward: true, optimizer: 'adamw' });
    g.allocate();
    for (const [k, v] of Object.entries(init)) g.set(p[k]!, v);
    g.set(xt, x);
    g.set(yt, y);
    const supportsAll = { forward: g.supportsAll('forward'), backward: g.supportsAll('backward'), step: g.supportsAll('step') };
    const unsupported = [...new Set([...unsupportedOps(g, 'step'), ...unsupportedOps(g, 'forward')])];
    g.compute('backward'); // asserts support on a non-CPU device (no silent fallback)
    const lossValue = g.lossValue();
    const grads: Record<string, number[]> = {};
    for (const k of Object.keys(p)) grads[k] = Array.from(g.grad(p[k]!));
    const stepLosses: number[] = [];
    for (let i = 0; i < STEPS; i++) {
      g.step({ lr: 1e-2, weightDecay: 0.01 });
      stepLosses.push(g.lossValue());
    }
    const weights: Record<string, number[]> = {};
    for (const k of Object.keys(p)) weights[k] = Array.from(g.get(p[k]!));
    return {
      device: device.name,
      supportsAll,
      unsupported,
      opCounts: g.opCounts('step'),
      loss: lossValue,
      grads,
      stepLosses,
      weights,
      ms: performance.now() - t0,
    };
  } finally {
    g.dispose();
  }
}

/** Which ops of a wider set the device supports in forward + backward graphs (no compute). */
function survey(engine: Engine, device: DeviceInfo): Record<string, string[]> {
  const cases: Record<string, (g: Graph) => Tensor> = {
    mlpBatchInNe1: (g) => op.mulMat(g.param('w2', [6, 4]), op.silu(op.mulMat(g.param('w1', [5, 6]), g.input('x', [5, 3])))),
    rmsNorm: (g) => op.rmsNorm(g.param('a', [8, 4]), 1e-5),
    softMaxExtCausal: (g) => op.softMaxExt(g.param('a', [4, 4, 2]), g.input('m', [4, 4]), 0.5),
    ropeNormal: (g) => op.ropeExt(g.param('a', [8, 2, 4]), g.input('p', [4], 'i32'), { nDims: 8, mode: op.ROPE_NORMAL }),
    ropeNeox: (g) => op.ropeExt(g.param('a', [8, 2, 4]), g.input('p', [4], 'i32'), { nDims: 8, mode: op.ROPE_NEOX }),
    getRows: (g) => op.getRows(g.param('a', [8, 6]), g.input('i', [3], 'i32')),
    swigluSplit: (g) => op.swigluSplit(g.param('a', [8, 4]), g.param('b', [8, 4])),
    mulMatBatched: (g) => op.mulMat(g.param('a', [8, 4, 2]), g.param('b', [8, 3, 2])),
    conv2d: (g) => nn.conv2d(g.param('k', [3, 3, 2, 4]), g.param('d', [6, 6, 2, 1]), { pad: 1 }),
    pool2dMax: (g) => op.pool2d(g.param('a', [6, 6, 2, 1]), 'max', 2),
    pool2dAvg: (g) => op.pool2d(g.param('a', [6, 6, 2, 1]), 'avg', 2),
    layerNorm: (g) => nn.layerNorm(g.param('a', [8, 4]), 1e-5),
    gelu: (g) => nn.gelu(g.param('a', [8, 4])),
    batchNorm: (g) => nn.batchNorm(g.param('a', [4, 4, 3, 2]), 1e-5),
    groupNorm: (g) => nn.groupNorm(g.param('a', [4, 4, 4, 2]), 2, 1e-5),
    abs: (g) => op.abs(g.param('a', [8, 4])),
  };
  const out: Record<string, string[]> = {};
  for (const [name, build] of Object.entries(cases)) {
    const g = new Graph({ engine, device, maxNodes: 512 });
    try {
      const y = build(g);
      g.build({ loss: op.sum(op.sqr(y)), backward: true, optimizer: 'adamw' });
      out[name] = unsupportedOps(g, 'step').map((o) => (o === 'OUT_PROD' ? 'OUT_PROD (transposed source)' : o));
    } catch (e) {
      out[name] = [`error: ${(e as Error).message}`];
    } finally {
      g.dispose();
    }
  }
  return out;
}

function main(): void {
  let engine: Engine;
  try {
    engine = getEngine({ device: 'vulkan', threads: 1 });
  } catch (e) {
    console.log(JSON.stringify({ skip: `no Vulkan device: ${(e as Error).message}` }));
    return;
  }
  const vk = engine.device;
  const cpu = engine.devices.find((d) => d.type === 'cpu');
  if (vk.registry !== 'Vulkan' || !cpu) {
    console.log(JSON.stringify({ skip: `the Vulkan build loaded but gave device ${vk.name} and CPU ${cpu?.name ?? 'none'}` }));
    return;
  }
  const vkRun = runMlp(engine, vk);
  const cpuRun = runMlp(engine, cpu);
  console.log(
    JSON.stringify({
      build: engine.bins.kind,
      vulkanDevice: { name: vk.name, description: vk.description, type: vk.type, registry: vk.registry },
      cpuDevice: { name: cpu.name, description: cpu.description },
      vulkan: vkRun,
      cpu: cpuRun,
      survey: survey(engine, vk),
    }),
  );
}

main();
