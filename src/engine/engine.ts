/**
 * The engine: the loaded ggml build, its devices, one backend per device in use, and thread
 * settings. One Engine per process (see loader.ts for why); `getEngine()` returns it.
 *
 * Device choice (`--device`, UNLEARNKIT_DEVICE, setEngineDevice): loader.ts picks the build
 * folder; its backends load as node-llama-cpp loads them (CUDA 13, then the CUDA 12 fallback),
 * with each build's outcome recorded in `builds` (chosen / not installed / no device / failed to
 * load: <loader message>). 'auto' takes the first GPU-type device of the loaded build, else the CPU,
 * and says on stderr why when a GPU build it picked found no device. An explicit GPU that finds no
 * device is a UserError listing why each build was not used. ggml hides CPU-type Vulkan devices
 * (Mesa's llvmpipe) unless GGML_VK_VISIBLE_DEVICES is set; the tests set it to exercise the GPU
 * code path on machines without a GPU.
 */
import fs from 'node:fs';
import os from 'node:os';
import { loadGgmlLibraries, callSetNThreads, ptrOrNull, captureGgmlLog, probeLibrary, attachCpuThreadpool, type LoadedGgml, type Ptr } from './ffi.ts';
import {
  chooseBinsDir,
  loadBackends,
  describeBuilds,
  formatBuildStatus,
  REGISTRY_NAME,
  type BinsDir,
  type BuildLabel,
  type BuildStatus,
  type DeviceChoice,
  type LoaderHost,
  DEVICE_CHOICES,
  nodeLlamaCppVersion,
} from './loader.ts';
import { UserError } from '../util/errors.ts';

export type DeviceType = 'cpu' | 'gpu' | 'igpu' | 'accel' | 'meta';
const DEVICE_TYPES: DeviceType[] = ['cpu', 'gpu', 'igpu', 'accel', 'meta'];

export interface DeviceInfo {
  index: number;
  /** ggml device name, e.g. "CPU", "Vulkan0", "CUDA0". */
  name: string;
  description: string;
  type: DeviceType;
  memoryFree: number;
  memoryTotal: number;
  /** Which backend registry it belongs to, e.g. "CPU", "Vulkan", "CUDA". */
  registry: string;
  ptr: Ptr;
}

export interface EngineOptions {
  /** Default: what setEngineDevice set, else UNLEARNKIT_DEVICE, else 'auto'. */
  device?: DeviceChoice;
  /** CPU threads; default: the machine's available parallelism. */
  threads?: number;
  /**
   * false: an explicit GPU device that finds no device falls back to the CPU device of the loaded
   * build instead of failing (`doctor`, which reports why); default true.
   */
  strict?: boolean;
  /** The machine as the loader sees it (platform, packages, GPU presence); tests replace parts. */
  host?: Partial<LoaderHost>;
}

/** The device kind a ggml device belongs to: cpu, cuda, vulkan, metal (or its registry name). */
export function deviceKind(d: Pick<DeviceInfo, 'registry' | 'type'>): string {
  if (d.type === 'cpu') return 'cpu';
  const k = Object.entries(REGISTRY_NAME).find(([, r]) => r === d.registry);
  return k ? k[0] : d.registry.toLowerCase();
}

export class Engine {
  readonly lib: LoadedGgml;
  readonly g: LoadedGgml['fn'];
  readonly bins: BinsDir;
  /** What was asked for ('auto' or an explicit device). */
  readonly choice: DeviceChoice;
  /** Why each build of this platform was or was not used (loader.ts BuildStatus). */
  readonly builds: BuildStatus[];
  /** The GPU build whose backend gave this process its GPU devices (cuda, cuda-12, vulkan, metal), or null. */
  readonly gpuBuild: BuildLabel | null;
  /** ggml's log while loading the backends (which modules loaded, why a GPU found no device). */
  readonly loadLog: string[];
  readonly devices: DeviceInfo[];
  /** The device graphs run on unless told otherwise. */
  readonly device: DeviceInfo;
  readonly nodeLlamaCpp: string;
  /** The libggml-cpu-<variant> module ggml picked for this CPU. */
  readonly cpuVariant: string;
  /** Default CPU thread count (from the real core count); settable until a backend exists. */
  maxThreads: number;
  private backends = new Map<number, Ptr>();
  private setThreadsFn = new Map<number, Ptr | null>();
  private currentThreads = new Map<number, number>();

  constructor(opts: EngineOptions = {}) {
    const choice = (opts.device ?? configuredDevice ?? (process.env.UNLEARNKIT_DEVICE || undefined) ?? 'auto') as DeviceChoice;
    if (!DEVICE_CHOICES.includes(choice)) {
      throw new UserError(`unknown device '${choice}'; choose one of ${DEVICE_CHOICES.join(', ')}`);
    }
    this.choice = choice;
    this.bins = chooseBinsDir(choice, opts.host);
    this.lib = loadGgmlLibraries(this.bins.dir);
    this.g = this.lib.fn;
    const loaded = loadBackends(this.bins, {
      open: probeLibrary,
      loadAll: (dir) => captureGgmlLog(this.lib, () => this.g.ggml_backend_load_all_from_path!(dir)).log.map((l) => l.text),
      deviceCount: (registry) => this.listDevices().filter((d) => d.registry === registry).length,
    }, opts.host);
    this.loadLog = loaded.log;
    this.gpuBuild = loaded.gpu;
    this.builds = describeBuilds(this.bins, loaded.statuses, opts.host);
    this.nodeLlamaCpp = nodeLlamaCppVersion();
    this.cpuVariant = detectCpuVariant(this.loadLog);
    const envThreads = Number(process.env.UNLEARNKIT_THREADS); // a number, or 'auto' (see Graph.pickThreads)
    this.maxThreads = Math.max(1, opts.threads ?? (Number.isInteger(envThreads) && envThreads > 0 ? envThreads : os.availableParallelism()));
    this.devices = this.listDevices();
    const gpuLike = (d: DeviceInfo) => d.type === 'gpu' || d.type === 'igpu';
    const cpu = this.devices.find((d) => d.type === 'cpu');
    let device: DeviceInfo | undefined;
    if (choice === 'cpu') device = cpu;
    else if (choice === 'auto') {
      device = this.devices.find(gpuLike) ?? cpu;
      if (this.bins.kind !== 'cpu' && !this.devices.some(gpuLike)) {
        // auto picked a GPU build (the machine shows that GPU) that gave no GPU device: say why once
        const vk = this.bins.kind === 'cuda' && this.builds.some((b) => b.build === 'vulkan' && b.status !== 'not installed');
        process.stderr.write(
          `unlearnkit: computing on the CPU: ${this.whyNoGpu()}` +
            `('unlearnkit doctor' shows every build; --device cpu skips the GPU builds${vk ? ', --device vulkan tries the Vulkan build' : ''})\n`,
        );
      }
    } else {
      device = this.devices.find((d) => d.registry === REGISTRY_NAME[choice]);
      if (!device) {
        if (opts.strict !== false) {
          throw new UserError(
            `--device ${choice}: ${this.whyNoGpu()}` +
              (choice === 'vulkan'
                ? "Install a Vulkan driver; on a machine without a GPU, Mesa's software device works with GGML_VK_VISIBLE_DEVICES=0."
                : choice === 'cuda'
                  ? 'Check the NVIDIA driver (nvidia-smi) and that the CUDA 13 or 12 runtime (libcudart, libcublas) is on the library path.'
                  : '') +
              ` 'unlearnkit doctor --device ${choice}' prints the details.`,
          );
        }
        device = cpu;
      }
    }
    if (!device) throw new Error(`ggml found no usable device in ${this.bins.dir}`);
    this.device = device;
  }

  /** Why the loaded GPU build gave no GPU device: its builds' statuses, one clause each. */
  private whyNoGpu(): string {
    const mine = this.builds.filter((b) => b.build === this.bins.kind || (this.bins.kind === 'cuda' && b.build === 'cuda-12'));
    const name = { cpu: 'CPU', cuda: 'CUDA', vulkan: 'Vulkan', metal: 'Metal' }[this.bins.kind];
    return `no ${name} device could be used:\n${mine.map((b) => `  ${formatBuildStatus(b)}`).join('\n')}\n`;
  }

  /** Set the default CPU thread count while no backend exists yet (later, it is fixed). */
  presetThreads(n: number): void {
    if (this.backends.size === 0) this.maxThreads = Math.max(1, Math.floor(n));
  }

  private listDevices(): DeviceInfo[] {
    const g = this.g;
    const n = Number(g.ggml_backend_dev_count!());
    const out: DeviceInfo[] = [];
    for (let i = 0; i < n; i++) {
      const d = g.ggml_backend_dev_get!(i) as Ptr;
      const free = [0];
      const total = [0];
      g.ggml_backend_dev_memory!(d, free, total);
      const reg = g.ggml_backend_dev_backend_reg!(d) as Ptr;
      out.push({
        index: i,
        name: String(g.ggml_backend_dev_name!(d)),
        description: String(g.ggml_backend_dev_description!(d)),
        type: DEVICE_TYPES[Number(g.ggml_backend_dev_type!(d))] ?? 'accel',
        memoryFree: Number(free[0]),
        memoryTotal: Number(total[0]),
        registry: String(g.ggml_backend_reg_name!(reg)),
        ptr: d,
      });
    }
    return out;
  }

  /** A device by name ("CPU", "Vulkan0") or the engine's default. */
  deviceByName(name?: string): DeviceInfo {
    if (name === undefined) return this.device;
    const d = this.devices.find((x) => x.name === name || x.registry.toLowerCase() === name.toLowerCase());
    if (!d) throw new UserError(`no device '${name}'; found: ${this.devices.map((x) => x.name).join(', ')}`);
    return d;
  }

  /** The (cached) backend of a device, initialised on first use. */
  backend(device: DeviceInfo = this.device): Ptr {
    let b = this.backends.get(device.index);
    if (b === undefined) {
      const p = ptrOrNull(this.g.ggml_backend_dev_init!(device.ptr, null));
      if (p === null) throw new Error(`ggml could not initialise device ${device.name} (${device.description})`);
      b = p;
      this.backends.set(device.index, b);
      const reg = this.g.ggml_backend_dev_backend_reg!(device.ptr) as Ptr;
      this.setThreadsFn.set(device.index, ptrOrNull(this.g.ggml_backend_reg_get_proc_address!(reg, 'ggml_backend_set_n_threads')));
      if (device.type === 'cpu' && this.maxThreads > 1) {
        // A persistent threadpool instead of ggml's per-compute one (which starts and joins its
        // workers on every graph compute): measured 2-3x faster steps on small models. Polling
        // level 50 (ggml's default); 0 (sleeping workers) was 9x slower in the same measurement.
        const poll = Number(process.env.UNLEARNKIT_POLL ?? 50);
        attachCpuThreadpool(this.lib, reg, b, this.maxThreads, Number.isFinite(poll) ? poll : 50);
      }
      this.setThreads(this.maxThreads, device);
    }
    return b;
  }

  /**
   * Set the CPU thread count of a device's backend (no-op for GPU backends). node-llama-cpp's and
   * ggml's default of 4 threads is far slower than 1-2 on 2-core machines.
   */
  setThreads(n: number, device: DeviceInfo = this.device): void {
    const fn = this.setThreadsFn.get(device.index);
    const b = this.backends.get(device.index);
    if (!fn || b === undefined) return;
    const k = Math.max(1, Math.min(Math.floor(n), this.maxThreads));
    if (this.currentThreads.get(device.index) === k) return;
    callSetNThreads(fn, b, k);
    this.currentThreads.set(device.index, k);
  }

  /** Threads worth using for a graph of about `flops` floating-point operations per compute. */
  threadsForWork(flops: number): number {
    // ggml's worker threads meet at a spinning barrier after every node; for graphs of many small
    // nodes (below ~200 MFLOP, i.e. ~2 ms of work) those barriers cost more than the second thread
    // saves, and under load (other processes on the cores) they collapse by orders of magnitude.
    return flops < 2e8 ? 1 : this.maxThreads;
  }

  describe(): Record<string, unknown> {
    return {
      nodeLlamaCpp: this.nodeLlamaCpp,
      ggmlVersion: this.lib.version,
      ggmlCommit: this.lib.commit,
      requested: this.choice,
      build: this.bins.kind,
      gpuBuild: this.gpuBuild,
      binsDir: this.bins.dir,
      cpuVariant: this.cpuVariant,
      threads: this.maxThreads,
      device: { name: this.device.name, description: this.device.description, type: this.device.type },
      devices: this.devices.map((d) => ({ name: d.name, description: d.description, type: d.type, registry: d.registry, memoryTotal: d.memoryTotal })),
      builds: this.builds,
    };
  }
}

/**
 * Which libggml-cpu-<variant> module ggml's registry loaded: from its log line "load_backend:
 * loaded CPU backend from .../libggml-cpu-<variant>.so" (any platform), else from the process's
 * memory map (Linux). 'generic' for a build with one CPU module (libggml-cpu.so).
 */
function detectCpuVariant(log: string[]): string {
  const fromName = (s: string): string | null => {
    const m = /(?:^|[\\/])(?:lib)?ggml-cpu(?:-([^\\/]+?))?\.(?:so|dll|dylib)\b/.exec(s);
    return m ? (m[1] ?? 'generic') : null;
  };
  for (const line of log) {
    if (!/loaded CPU backend from/.test(line)) continue;
    const v = fromName(line.slice(line.indexOf(' from ') + 6).trim());
    if (v) return v;
  }
  try {
    for (const line of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) {
      const v = line.includes('ggml-cpu') ? fromName(line.trim().split(/\s+/).pop() ?? '') : null;
      if (v) return v;
    }
  } catch {
    // not Linux
  }
  return 'unknown';
}

let theEngine: Engine | null = null;
/** The device the CLI asked for (--device), used by the engine when it is created. */
let configuredDevice: DeviceChoice | undefined;

/** Whether an engine computes on what `choice` asks for. */
function engineMatches(e: Engine, choice: DeviceChoice): boolean {
  return choice === 'auto' || e.choice === choice || deviceKind(e.device) === choice;
}

/**
 * Set the device the process's engine uses (the CLI's --device), before any work. When the engine
 * exists already on another device this is an error: one ggml build is loaded per process.
 */
export function setEngineDevice(choice: DeviceChoice): void {
  if (theEngine && !engineMatches(theEngine, choice)) {
    throw new UserError(`the engine is already running on ${theEngine.device.name}; one device build is loaded per process (asked for ${choice})`);
  }
  configuredDevice = choice;
}

/**
 * The process's engine. The first call loads the libraries; later calls with a different explicit
 * device choice fail, since one ggml build is loaded per process. A thread count given before any
 * backend was created still applies.
 */
export function getEngine(opts: EngineOptions = {}): Engine {
  if (theEngine) {
    if (opts.device && !engineMatches(theEngine, opts.device)) {
      throw new UserError(
        `the engine is already running on ${theEngine.device.name}; one device build is loaded per process (asked for ${opts.device})`,
      );
    }
    if (opts.threads !== undefined) theEngine.presetThreads(opts.threads);
    return theEngine;
  }
  theEngine = new Engine(opts);
  return theEngine;
}
