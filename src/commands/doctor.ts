/**
 * `unlearnkit doctor`: what this machine has and whether the engine works on each device.
 * Reports Node, node-llama-cpp and ggml versions, the CPU variant ggml loaded, every device of
 * every installed ggml build (CPU, Vulkan, CUDA), and runs a tiny forward + backward + AdamW
 * check on each. Other builds run in child processes, since one ggml build is loaded per process.
 */
import type { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { getEngine } from '../engine/engine.ts';
import { findBinsDirs, type DeviceChoice } from '../engine/loader.ts';
import { selfTest, type SelfTestResult } from '../engine/selftest.ts';
import { nativeKernels } from '../engine/native.ts';
import { Graph } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import { Rng } from '../util/rng.ts';
import { PROJECT_ROOT } from '../util/paths.ts';

export interface DoctorReport {
  node: string;
  platform: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  nodeLlamaCpp: string;
  ggml: string;
  builds: Array<{ build: string; cpuVariant?: string; devices: SelfTestResult[]; error?: string }>;
  /** The training matmul kernel (native.ts): built or not and why, and its agreement with ggml's mul_mat. */
  matmulKernel: { native: boolean; reason: string; relErrorVsGgml?: number };
  ok: boolean;
}

/** The native matmul on a transposed 96x80x72 product against ggml's mul_mat (relative L2 difference). */
function checkMatmulKernel(): DoctorReport['matmulKernel'] {
  const st = nativeKernels();
  if (!st.kernels) return { native: false, reason: st.reason };
  const cpu = getEngine().devices.find((d) => d.type === 'cpu');
  if (!cpu) return { native: false, reason: 'this ggml build has no CPU device' };
  const g = new Graph({ maxNodes: 16, device: cpu });
  try {
    const w = g.input('w', [80, 96]);
    const x = g.input('x', [96, 72]);
    const fast = op.fastMatMul(op.transpose(w), x);
    const ref = op.mulMat(op.cont(op.transpose(w)), x);
    g.build({ outputs: [fast, ref] });
    g.allocate();
    const rng = new Rng(1);
    g.set(w, rng.normalArray(w.numel));
    g.set(x, rng.normalArray(x.numel));
    g.compute('forward');
    const a = g.get(fast);
    const b = g.get(ref);
    let num = 0;
    let den = 0;
    for (let i = 0; i < a.length; i++) {
      num += (a[i]! - b[i]!) ** 2;
      den += b[i]! ** 2;
    }
    return { native: true, reason: st.reason, relErrorVsGgml: Math.sqrt(num / den) };
  } finally {
    g.dispose();
  }
}

function runBuild(device: DeviceChoice): DoctorReport['builds'][number] {
  const engine = getEngine({ device });
  const devices = engine.devices.map((d) => selfTest(engine, d));
  return { build: engine.bins.kind, cpuVariant: engine.cpuVariant, devices };
}

export function doctor(opts: { children?: boolean; device?: DeviceChoice } = {}): DoctorReport {
  const main = runBuild(opts.device ?? 'cpu');
  const engine = getEngine();
  const kernel = checkMatmulKernel();
  const builds = [main];
  if (opts.children !== false) {
    for (const b of findBinsDirs()) {
      if (b.kind === engine.bins.kind) continue;
      const r = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'unlearnkit.js'), 'doctor', '--json', '--device', b.kind, '--no-children'], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      try {
        const child = JSON.parse(r.stdout) as DoctorReport;
        builds.push(...child.builds);
      } catch {
        const why = (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').slice(-1)[0]!.replace(/^unlearnkit: /, '');
        builds.push({ build: b.kind, devices: [], error: why });
      }
    }
  }
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    nodeLlamaCpp: engine.nodeLlamaCpp,
    ggml: `${engine.lib.version} (${engine.lib.commit})`,
    builds,
    matmulKernel: kernel,
    // the kernel is optional (ggml's mul_mat replaces it), but a built kernel that disagrees is broken
    ok: main.devices.length > 0 && main.devices.every((d) => d.ok) && (!kernel.native || kernel.relErrorVsGgml! < 1e-5),
  };
}

function printReport(r: DoctorReport): void {
  const lines = [
    `unlearnkit doctor`,
    `  Node ${r.node} on ${r.platform}, ${r.cpu}, ${r.cores} cores, ${r.memoryGiB} GiB`,
    `  node-llama-cpp ${r.nodeLlamaCpp}, ggml ${r.ggml}`,
  ];
  for (const b of r.builds) {
    lines.push(`  ${b.build} build${b.cpuVariant ? ` (CPU variant ${b.cpuVariant})` : ''}${b.error ? `: not usable: ${b.error}` : ''}`);
    for (const d of b.devices) {
      const status = d.ok ? `ok: forward + backward + AdamW in ${d.ms.toFixed(0)} ms, gradient vs finite differences ${d.gradRelError?.toExponential(1)}` : `FAILED: ${d.error}`;
      lines.push(`    ${d.device.padEnd(9)} ${d.description.padEnd(28)} ${status}`);
    }
    if (!b.error && b.devices.length === 0) lines.push('    (no devices)');
  }
  const k = r.matmulKernel;
  lines.push(
    k.native
      ? `  training matmul: native, ${k.reason}; vs ggml mul_mat ${k.relErrorVsGgml!.toExponential(1)}`
      : `  training matmul: ggml mul_mat (${k.reason})`,
  );
  lines.push(r.ok ? 'engine OK' : 'engine NOT OK');
  process.stdout.write(lines.join('\n') + '\n');
}

export function register(program: Command): void {
  program
    .command('doctor')
    .description('check Node, node-llama-cpp, ggml, the CPU variant and every device (runs a tiny forward + backward on each)')
    .option('--json', 'print JSON')
    .option('--device <device>', 'which ggml build to load in this process: cpu | vulkan | cuda', 'cpu')
    .option('--no-children', 'do not check the other installed builds in child processes')
    .action((o: { json?: boolean; device: DeviceChoice; children: boolean }) => {
      const r = doctor({ device: o.device, children: o.children });
      if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else printReport(r);
      if (!r.ok) process.exitCode = 1;
    });
}
