/**
 * Options of the inference server, their defaults, and the small parsers the CLI shares with it.
 */
import fs from 'node:fs';
import os from 'node:os';
import { UserError } from '../util/errors.ts';
import { adapterScaleDecl } from '../options/declarations.ts';

/** Largest |scale| of an adapter (src/options adapterScaleDecl). */
const ADAPTER_SCALE_LIMIT = adapterScaleDecl.max;

export type GpuChoice = 'auto' | 'cuda' | 'vulkan' | 'metal' | 'cpu';

/** An adapter named on the command line or in a request: a run id or a GGUF file in the adapters dir. */
export interface AdapterRef {
  name: string;
  /** LoRA scale; undefined means "the scale it was loaded with" (1 when loaded without one). */
  scale?: number;
}

export interface ServeOptions {
  /** Path of the base model GGUF. */
  model: string;
  /** Adapters to load at start (same names as POST /v1/adapters). */
  adapters: AdapterRef[];
  /** Folder that adapter names resolve inside. */
  adaptersDir: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  gpu: GpuChoice;
  /** Parallel sequences (requests generating at once). */
  parallel: number;
  /** Requests allowed to wait for a free sequence; more get 429. */
  maxQueue: number;
  /** CPU threads for evaluation; undefined = chosen from the model size and the cores. */
  threads?: number;
  /** Context size per sequence (tokens); undefined = min(train context, 4096). */
  contextSize?: number;
  /** At most this many contexts (one per adapter set in use) stay alive; idle ones are evicted LRU. */
  maxContexts: number;
  /** Bearer token required on every route but /health; undefined = no auth. */
  apiKey?: string;
  /** Largest request body accepted (bytes). */
  bodyLimit: number;
  /** A request (queue wait + work) is cancelled after this long (ms). */
  requestTimeoutMs: number;
  /** Upper bound on max_tokens of one request. */
  maxTokensLimit: number;
  /** On SIGINT/SIGTERM, in-flight requests get this long (ms) to finish before they are cancelled. */
  shutdownGraceMs: number;
  /** Load adapters made for another base model (their recorded sha256 differs) with a warning instead of refusing. */
  force?: boolean;
  /** Logging: 'silent' in tests, 'info' for the CLI. */
  logLevel: 'silent' | 'error' | 'warn' | 'info' | 'debug';
}

export const DEFAULTS = {
  adaptersDir: './adapters',
  host: '127.0.0.1',
  port: 8765,
  gpu: 'auto' as GpuChoice,
  parallel: 2,
  maxQueue: 64,
  maxContexts: 4,
  bodyLimit: 1024 * 1024,
  requestTimeoutMs: 120_000,
  maxTokensLimit: 4096,
  shutdownGraceMs: 10_000,
  logLevel: 'info' as const,
};

export function withDefaults(o: Partial<ServeOptions> & { model: string }): ServeOptions {
  const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<ServeOptions>;
  return { adapters: [], ...DEFAULTS, ...given, model: o.model };
}

/**
 * Parse `name[:scale]` (the `--adapter` flag). The scale is the LoRA multiplier s in W + s * B A
 * (llama.cpp additionally multiplies by alpha / rank when the adapter stores alpha).
 */
export function parseAdapterSpec(spec: string): AdapterRef {
  const m = /^([^:]+)(?::([^:]+))?$/.exec(spec.trim());
  if (!m) throw new UserError(`--adapter "${spec}" is not NAME or NAME:SCALE`);
  const name = m[1]!;
  if (m[2] === undefined) return { name };
  const scale = Number(m[2]);
  if (!Number.isFinite(scale)) throw new UserError(`--adapter "${spec}": scale "${m[2]}" is not a number`);
  if (Math.abs(scale) > ADAPTER_SCALE_LIMIT) throw new UserError(`--adapter "${spec}": scale ${m[2]} is out of range; allowed: a finite number >= -${ADAPTER_SCALE_LIMIT} and <= ${ADAPTER_SCALE_LIMIT}`);
  return { name, scale };
}

/**
 * CPU threads for evaluation. llama.cpp's thread pool spins, so more threads than free cores is
 * far slower, not faster (4 threads on a 2-core machine measured ~800x slower on a tiny model).
 * Tiny models (< 64 MiB) do not benefit from more than one thread; larger ones use every core.
 */
export function chooseThreads(modelPath: string, requested?: number): number {
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 1) throw new UserError(`--threads must be a positive integer, got ${requested}`);
    return requested;
  }
  const cores = Math.max(1, os.availableParallelism());
  let size = 0;
  try {
    size = fs.statSync(modelPath).size;
  } catch {
    /* the model loader reports a missing file */
  }
  return size < 64 * 1024 * 1024 ? 1 : cores;
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
