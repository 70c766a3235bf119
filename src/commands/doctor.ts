/**
 * `unlearnkit doctor`: what this machine has and whether the engine works on each device.
 * Reports Node, node-llama-cpp and ggml versions, the CPU variant ggml loaded, why each ggml build
 * of this platform was or was not used (chosen / not installed / no device / failed to load: <the
 * system loader's message>, CUDA 13 and its CUDA 12 fallback separately), every device of every
 * usable build, and runs a tiny forward + backward + AdamW check on each. `--device` picks the
 * build of this process; the other installed builds run in child processes, since one ggml build
 * is loaded per process.
 */
import type { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { getEngine, deviceKind } from '../engine/engine.ts';
import { findBinsDirs, formatBuildStatus, type BuildKind, type BuildLabel, type BuildStatus, type DeviceChoice } from '../engine/loader.ts';
import { selfTest, type SelfTestResult } from '../engine/selftest.ts';
import { nativeKernels } from '../engine/native.ts';
import { Graph } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import { Rng } from '../util/rng.ts';
import { cliArgs } from '../util/self.ts';
import { addDeviceOption, resolveDevice } from './deviceOption.ts';

/** One build of the platform: why it was or was not used, and the checks of its devices. */
interface DoctorBuild {
  build: BuildLabel;
  label: string;
  packageName: string;
  status: BuildStatus['status'];
  reason: string;
  cpuVariant?: string;
  /** The self-tests of the devices of the process that loaded this build (on the entry it chose). */
  devices: SelfTestResult[];
  /** The child process that checks this build failed (its last line). */
  error?: string;
}

interface DoctorReport {
  node: string;
  platform: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  nodeLlamaCpp: string;
  ggml: string;
  /** --device of this process, and the device it computes on. */
  requested: DeviceChoice;
  device: { name: string; description: string; kind: string };
  builds: DoctorBuild[];
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

/** The build labels a build kind reports (CUDA: the CUDA 13 build and its CUDA 12 fallback). */
function labelsOf(kind: BuildKind): BuildLabel[] {
  return kind === 'cuda' ? ['cuda', 'cuda-12'] : [kind];
}

/**
 * This process's build: the engine on `device` (not strict: a GPU that cannot be used is reported,
 * the CPU device still checked), every build's status, and the self-test of each device, attached to
 * the build entry that gave them (the chosen one, else the loaded build's first entry).
 */
function runBuild(device: DeviceChoice): { engine: ReturnType<typeof getEngine>; builds: DoctorBuild[] } {
  const engine = getEngine({ device, strict: false });
  const devices = engine.devices.map((d) => selfTest(engine, d));
  const mine = labelsOf(engine.bins.kind);
  const holder = engine.builds.find((b) => mine.includes(b.build) && b.status === 'chosen')?.build ?? mine[0]!;
  const builds = engine.builds.map((b): DoctorBuild => ({
    ...b,
    devices: b.build === holder ? devices : [],
    ...(b.build === holder ? { cpuVariant: engine.cpuVariant } : {}),
  }));
  return { engine, builds };
}

function doctor(opts: { children?: boolean; device?: DeviceChoice } = {}): DoctorReport {
  const requested = opts.device ?? 'auto';
  const { engine, builds } = runBuild(requested);
  const kernel = checkMatmulKernel();
  if (opts.children !== false) {
    for (const b of findBinsDirs()) {
      if (b.kind === engine.bins.kind) continue;
      const labels = labelsOf(b.kind);
      let child: DoctorBuild[] | null = null;
      let why = '';
      const r = spawnSync(process.execPath, cliArgs('doctor', '--json', '--device', b.kind, '--no-children'), {
        encoding: 'utf8',
        timeout: 120_000,
      });
      try {
        child = (JSON.parse(r.stdout) as DoctorReport).builds.filter((x) => labels.includes(x.build));
      } catch {
        why = (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').slice(-1)[0]!.replace(/^unlearnkit: /, '');
      }
      for (let i = 0; i < builds.length; i++) {
        const e = builds[i]!;
        if (!labels.includes(e.build)) continue;
        const c = child?.find((x) => x.build === e.build);
        // a GPU build that gave no GPU device fell back to its CPU backend: the same CPU code this
        // process checked already, so only a chosen build's devices are shown
        builds[i] = c
          ? c.status === 'chosen'
            ? c
            : { ...c, devices: [], cpuVariant: undefined }
          : { ...e, status: 'failed to load', reason: `the check in a child process failed: ${why}`, error: why };
      }
    }
  }
  const expected = requested === 'auto' || requested === 'cpu' ? null : requested;
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    nodeLlamaCpp: engine.nodeLlamaCpp,
    ggml: `${engine.lib.version} (${engine.lib.commit})`,
    requested,
    device: { name: engine.device.name, description: engine.device.description, kind: deviceKind(engine.device) },
    builds,
    matmulKernel: kernel,
    // the kernel is optional (ggml's mul_mat replaces it), but a built kernel that disagrees is broken;
    // an explicit --device that found none of its devices is not OK either
    ok:
      engine.devices.length > 0 &&
      builds.every((b) => b.devices.every((d) => d.ok)) &&
      (expected === null || deviceKind(engine.device) === expected) &&
      (!kernel.native || kernel.relErrorVsGgml! < 1e-5),
  };
}

function printReport(r: DoctorReport): void {
  const lines = [
    `unlearnkit doctor`,
    `  Node ${r.node} on ${r.platform}, ${r.cpu}, ${r.cores} cores, ${r.memoryGiB} GiB`,
    `  node-llama-cpp ${r.nodeLlamaCpp}, ggml ${r.ggml}`,
    `  --device ${r.requested}: computing on ${r.device.name} (${r.device.description})`,
    `  builds:`,
  ];
  for (const b of r.builds) {
    lines.push(`    ${b.build.padEnd(8)} ${formatBuildStatus(b)}${b.cpuVariant ? ` [CPU variant ${b.cpuVariant}]` : ''}`);
    for (const d of b.devices) {
      const status = d.ok ? `ok: forward + backward + AdamW in ${d.ms.toFixed(0)} ms, gradient vs finite differences ${d.gradRelError?.toExponential(1)}` : `FAILED: ${d.error}`;
      lines.push(`      ${d.device.padEnd(9)} ${d.description.padEnd(28)} ${status}`);
    }
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
  addDeviceOption(
    program
      .command('doctor')
      .description('check Node, node-llama-cpp, ggml, the CPU variant and every device (runs a tiny forward + backward on each)')
      .option('--json', 'print JSON'),
    'the ggml build this process loads: auto | cpu | cuda | vulkan | metal (default: $UNLEARNKIT_DEVICE, else auto); the other installed builds are checked in child processes',
  )
    .option('--no-children', 'do not check the other installed builds in child processes')
    .action((o: { json?: boolean; device?: string; children: boolean }) => {
      const device = resolveDevice(o, { engine: 'set' });
      const r = doctor({ device, children: o.children });
      if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else printReport(r);
      if (!r.ok) process.exitCode = 1;
    });
}
