/**
 * The engine: the loaded ggml build, its devices, one backend per device in use, and thread
 * settings. One Engine per process (see loader.ts for why); `getEngine()` returns it.
 *
 * Device choice: 'auto' takes the first GPU-type device of the loaded build (CUDA, Vulkan), else the
 * CPU. ggml hides CPU-type Vulkan devices (Mesa's llvmpipe) unless GGML_VK_VISIBLE_DEVICES is set;
 * the tests set it to exercise the GPU code path on machines without a GPU.
 */
import fs from 'node:fs';
import os from 'node:os';
import { loadGgmlLibraries, callSetNThreads, ptrOrNull, withQuietGgmlLog, attachCpuThreadpool, type LoadedGgml, type Ptr } from './ffi.ts';
import { chooseBinsDir, type BinsDir, type DeviceChoice, DEVICE_CHOICES, nodeLlamaCppVersion } from './loader.ts';
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
  device?: DeviceChoice;
  /** CPU threads; default: the machine's available parallelism. */
  threads?: number;
}

export class Engine {
  readonly lib: LoadedGgml;
  readonly g: LoadedGgml['fn'];
  readonly bins: BinsDir;
  readonly devices: DeviceInfo[];
  /** The device graphs run on unless told otherwise. */
  readonly device: DeviceInfo;
  readonly nodeLlamaCpp: string;
  /** The libggml-cpu-<variant>.so ggml picked for this CPU. */
  readonly cpuVariant: string;
  /** Default CPU thread count (from the real core count). */
  readonly maxThreads: number;
  private backends = new Map<number, Ptr>();
  private setThreadsFn = new Map<number, Ptr | null>();
  private currentThreads = new Map<number, number>();

  constructor(opts: EngineOptions = {}) {
    const choice = opts.device ?? (process.env.UNLEARNKIT_DEVICE as DeviceChoice | undefined) ?? 'auto';
    if (!DEVICE_CHOICES.includes(choice)) {
      throw new UserError(`unknown device '${choice}'; choose one of ${DEVICE_CHOICES.join(', ')}`);
    }
    this.bins = chooseBinsDir(choice);
    this.lib = loadGgmlLibraries(this.bins.dir);
    this.g = this.lib.fn;
    withQuietGgmlLog(this.lib, () => this.g.ggml_backend_load_all_from_path!(this.bins.dir));
    this.nodeLlamaCpp = nodeLlamaCppVersion();
    this.cpuVariant = detectCpuVariant();
    const envThreads = Number(process.env.UNLEARNKIT_THREADS); // a number, or 'auto' (see Graph.pickThreads)
    this.maxThreads = Math.max(1, opts.threads ?? (Number.isInteger(envThreads) && envThreads > 0 ? envThreads : os.availableParallelism()));
    this.devices = this.listDevices();
    const want = choice === 'auto' ? undefined : choice;
    const gpuLike = (d: DeviceInfo) => d.type === 'gpu' || d.type === 'igpu';
    let device: DeviceInfo | undefined;
    if (want === 'cpu') device = this.devices.find((d) => d.type === 'cpu');
    else if (want === 'vulkan' || want === 'cuda') {
      const reg = want === 'vulkan' ? 'Vulkan' : 'CUDA';
      device = this.devices.find((d) => d.registry === reg);
      if (!device) {
        throw new UserError(
          `--device ${want}: no ${reg} device found. ` +
            (want === 'vulkan'
              ? "Install a Vulkan driver; on a machine without a GPU, Mesa's software device works with GGML_VK_VISIBLE_DEVICES=0."
              : 'Check the NVIDIA driver (nvidia-smi).'),
        );
      }
    } else device = this.devices.find(gpuLike) ?? this.devices.find((d) => d.type === 'cpu');
    if (!device) throw new Error(`ggml found no usable device in ${this.bins.dir}`);
    this.device = device;
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
      build: this.bins.kind,
      binsDir: this.bins.dir,
      cpuVariant: this.cpuVariant,
      threads: this.maxThreads,
      device: { name: this.device.name, description: this.device.description, type: this.device.type },
      devices: this.devices.map((d) => ({ name: d.name, description: d.description, type: d.type, registry: d.registry, memoryTotal: d.memoryTotal })),
    };
  }
}

/** Which libggml-cpu-<variant>.so ggml's registry loaded (read from the process's memory map). */
function detectCpuVariant(): string {
  try {
    const maps = fs.readFileSync('/proc/self/maps', 'utf8');
    const m = /libggml-cpu-([A-Za-z0-9_]+)\.so/.exec(maps);
    return m ? m[1]! : 'unknown';
  } catch {
    return 'unknown';
  }
}

let theEngine: Engine | null = null;
let theChoice: DeviceChoice | undefined;

/**
 * The process's engine. The first call loads the libraries; later calls with a different explicit
 * device choice fail, since one ggml build is loaded per process.
 */
export function getEngine(opts: EngineOptions = {}): Engine {
  if (theEngine) {
    if (opts.device && opts.device !== 'auto' && theChoice !== opts.device && theEngine.device.registry.toLowerCase() !== opts.device) {
      throw new UserError(
        `the engine is already running on ${theEngine.device.name}; one device build is loaded per process (asked for ${opts.device})`,
      );
    }
    return theEngine;
  }
  theEngine = new Engine(opts);
  theChoice = opts.device;
  return theEngine;
}
