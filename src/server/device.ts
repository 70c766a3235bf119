/**
 * Device selection for the server: `--device auto|cpu|cuda|vulkan|metal` (the option every command
 * shares, src/commands/deviceOption.ts; `--gpu` is its deprecated alias) maps to node-llama-cpp's
 * `getLlama({ gpu })` (llamaGpuOption). `auto` lets node-llama-cpp pick the best usable backend
 * (CUDA, Vulkan or Metal, else CPU); an explicit GPU that cannot be used falls back to the CPU with
 * a warning, so a server always starts. What actually runs is reported (health, logs, bench reports).
 */
import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp';
import type { GpuChoice } from './options.ts';

export interface DeviceInfo {
  /** What the user asked for. */
  requested: GpuChoice;
  /** The device that computes: 'cuda' | 'vulkan' | 'metal' | 'cpu'. */
  backend: string;
  /** The llama.cpp build loaded ('cpu' or the GPU backend it was built for). */
  build: string;
  /** GPU device names as llama.cpp reports them (empty on the CPU). */
  deviceNames: string[];
  /** Why the requested GPU was not used, when it was not. */
  fallbackReason?: string;
}

/** node-llama-cpp's `gpu` option for a device choice: auto -> 'auto', cpu -> false, cuda / vulkan / metal -> the same name. */
export function llamaGpuOption(choice: GpuChoice): 'auto' | 'cuda' | 'vulkan' | 'metal' | false {
  return choice === 'cpu' ? false : choice;
}

export type LlamaLogSink = (level: 'error' | 'warn' | 'info' | 'debug', message: string) => void;

function toLevel(level: LlamaLogLevel): 'error' | 'warn' | 'info' | 'debug' {
  if (level === LlamaLogLevel.fatal || level === LlamaLogLevel.error) return 'error';
  if (level === LlamaLogLevel.warn) return 'warn';
  if (level === LlamaLogLevel.info) return 'info';
  return 'debug';
}

/**
 * Load llama.cpp for the requested device, falling back to the CPU when that device is unusable.
 * `maxThreads` caps the CPU threads of all contexts together.
 */
export async function loadLlama(requested: GpuChoice, log: LlamaLogSink, maxThreads?: number): Promise<{ llama: Llama; device: DeviceInfo }> {
  const common = {
    // The thread budget shared by all contexts: several contexts evaluating at once must not
    // oversubscribe the cores (llama.cpp's spinning thread pool collapses when they do).
    ...(maxThreads !== undefined ? { maxThreads } : {}),
    logLevel: LlamaLogLevel.warn,
    logger: (level: LlamaLogLevel, message: string) => log(toLevel(level), message.trimEnd()),
    // Never compile llama.cpp at server start: use the prebuilt binaries node-llama-cpp ships.
    build: 'never' as const,
  };
  let llama: Llama;
  let fallbackReason: string | undefined;
  const gpu = llamaGpuOption(requested);
  try {
    llama = await getLlama({ ...common, gpu });
  } catch (e) {
    if (gpu === false) throw e;
    fallbackReason = `${requested} is not usable here: ${(e as Error).message.split('\n')[0]}`;
    log('warn', `${fallbackReason}; falling back to the CPU`);
    llama = await getLlama({ ...common, gpu: false });
  }
  if (requested !== 'auto' && requested !== 'cpu' && llama.gpu !== requested && fallbackReason === undefined) {
    fallbackReason = `${requested} was requested but llama.cpp loaded ${llama.gpu === false ? 'the CPU build' : llama.gpu}`;
    log('warn', fallbackReason);
  }
  const build = llama.gpu === false ? 'cpu' : llama.gpu;
  const deviceNames = llama.gpu === false ? [] : await llama.getGpuDeviceNames().catch(() => [] as string[]);
  // A GPU build that finds no usable device (e.g. Vulkan with only a CPU-type device) computes on the CPU.
  const backend = deviceNames.length === 0 ? 'cpu' : build;
  if (build !== 'cpu' && backend === 'cpu') {
    const why = `the ${build} build found no GPU device; computing on the CPU`;
    if (requested !== 'auto') log('warn', why);
    fallbackReason ??= requested === 'auto' ? undefined : why;
  }
  return { llama, device: { requested, backend, build, deviceNames, ...(fallbackReason ? { fallbackReason } : {}) } };
}

/** One line for logs and reports, e.g. "cuda (NVIDIA H100 80GB HBM3)" or "cpu". */
export function describeDevice(d: DeviceInfo): string {
  if (d.deviceNames.length > 0) return `${d.backend} (${d.deviceNames.join(', ')})`;
  return d.build !== d.backend ? `${d.backend} (${d.build} build, no GPU device)` : d.backend;
}
