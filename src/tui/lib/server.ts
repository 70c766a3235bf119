/**
 * The TUI's handle on the local inference server (src/server): start one as a child process
 * (`unlearnkit serve --json`, the same command a user runs), or attach to one already running, and
 * talk to it over its HTTP API (GET /health, GET/POST/DELETE /v1/adapters). A server the TUI started
 * is stopped with SIGTERM (the server's graceful shutdown) when asked or when the TUI quits; an
 * attached one is left running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cliArgs } from '../../util/self.ts';
import { UserError } from '../../util/errors.ts';

export interface Health {
  status: string;
  model: { id: string; path: string; architecture: string | null; size_bytes: number };
  device: { backend: string; names: string[]; description: string; fallback_reason?: string };
  threads: number;
  context_size: number;
  adapters: Array<{ name: string; scale: number }>;
  queue: { running: number; queued: number; slots: number };
  uptime_s: number;
}

export interface ServedAdapter {
  name: string;
  scale: number;
  path?: string;
}

export interface StartOptions {
  model: string;
  port: number;
  adaptersDir: string;
  /** `--device` of `unlearnkit serve` (auto|cpu|cuda|vulkan|metal). */
  device?: string;
  apiKey?: string;
  /** `--adapter` names loaded at start (one unlearning run whose model is merged.gguf is served as the model). */
  adapters?: string[];
}

/** A non-2xx answer of the server, with its HTTP status and OpenAI error code. */
export class ServerAnswerError extends UserError {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
  ) {
    super(message);
  }
}

/** What the Model & server screen needs from a server (the real one below; tests inject fakes). */
export interface ServerControl {
  readonly url: string | null;
  /** True when this TUI started the server (and stops it on quit). */
  readonly owned: boolean;
  start(o: StartOptions): Promise<{ url: string }>;
  attach(url: string, apiKey?: string): Promise<Health>;
  /** Stop a server we started, or detach from an attached one. */
  stop(): Promise<void>;
  health(): Promise<Health>;
  adapters(): Promise<ServedAdapter[]>;
  loadAdapter(name: string, scale?: number): Promise<void>;
  unloadAdapter(name: string): Promise<void>;
}

/** The `unlearnkit serve` command line the TUI runs (shown on screen, so users can run it themselves). */
export function serveArgs(o: StartOptions): string[] {
  const a = ['serve', '--model', o.model, '--port', String(o.port), '--adapters-dir', o.adaptersDir, '--json', '--log-level', 'warn'];
  if (o.device && o.device !== 'auto') a.push('--device', o.device);
  for (const n of o.adapters ?? []) a.push('--adapter', n);
  return a;
}

export class HttpServerControl implements ServerControl {
  private child: ChildProcess | null = null;
  private base: string | null = null;
  private key: string | undefined;
  private stderrTail = '';

  get url(): string | null {
    return this.base;
  }

  get owned(): boolean {
    return this.child !== null;
  }

  async start(o: StartOptions): Promise<{ url: string }> {
    if (this.base) throw new UserError(`a server is already ${this.child ? 'running' : 'attached'} at ${this.base}; stop it first (s)`);
    if (!fs.existsSync(o.model)) throw new UserError(`model file ${o.model} does not exist`);
    this.key = o.apiKey;
    const child = spawn(process.execPath, cliArgs(...serveArgs(o)), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    this.child = child;
    this.stderrTail = '';
    child.stderr!.on('data', (b: Buffer) => {
      this.stderrTail = (this.stderrTail + b.toString('utf8')).slice(-2000);
    });
    child.on('exit', () => {
      if (this.child === child) {
        this.child = null;
        this.base = null;
      }
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const onData = (b: Buffer) => {
        out += b.toString('utf8');
        const i = out.indexOf('\n');
        if (i < 0) return;
        child.stdout!.off('data', onData);
        try {
          resolve((JSON.parse(out.slice(0, i)) as { url: string }).url);
        } catch {
          reject(new UserError(`the server printed something unexpected: ${out.slice(0, 200)}`));
        }
      };
      child.stdout!.on('data', onData);
      child.once('exit', (code) => {
        const last = this.stderrTail.trim().split('\n').slice(-2).join(' | ');
        reject(new UserError(`the server exited (code ${code}) before it was ready${last ? `: ${last}` : ''}`));
      });
    });
    this.base = url;
    return { url };
  }

  async attach(url: string, apiKey?: string): Promise<Health> {
    if (this.child) throw new UserError(`this TUI runs a server at ${this.base}; stop it first (s)`);
    let u: URL;
    try {
      u = new URL(/^https?:\/\//.test(url) ? url : `http://${url}`);
    } catch {
      throw new UserError(`"${url}" is not a server address; type e.g. 127.0.0.1:8765`);
    }
    this.key = apiKey;
    const base = u.origin;
    const h = await this.request<Health>('GET', '/health', undefined, base);
    this.base = base;
    return h;
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.base = null;
    if (!child) return;
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.kill('SIGTERM');
    });
    this.child = null;
  }

  health(): Promise<Health> {
    return this.request<Health>('GET', '/health');
  }

  async adapters(): Promise<ServedAdapter[]> {
    const r = await this.request<{ data: Array<{ name: string; scale: number; path?: string }> }>('GET', '/v1/adapters');
    return r.data.map((a) => ({ name: a.name, scale: a.scale, path: a.path }));
  }

  async loadAdapter(name: string, scale = 1): Promise<void> {
    await this.request('POST', '/v1/adapters', { name, scale });
  }

  async unloadAdapter(name: string): Promise<void> {
    await this.request('DELETE', `/v1/adapters/${name.split('/').map(encodeURIComponent).join('/')}`);
  }

  private async request<T>(method: string, route: string, body?: unknown, base = this.base): Promise<T> {
    if (!base) throw new UserError('no server: start one (s) or attach to one (a)');
    let res: Response;
    try {
      res = await fetch(base + route, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(this.key ? { authorization: `Bearer ${this.key}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (e) {
      throw new UserError(`cannot reach the server at ${base} (${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message})`);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    if (!res.ok) {
      const err = (json as { error?: { message?: string; code?: string | null } } | null)?.error;
      const msg = err?.message ?? text.slice(0, 200);
      throw new ServerAnswerError(`server answered ${res.status} to ${method} ${route}: ${msg}`, res.status, err?.code ?? null);
    }
    return json as T;
  }
}

/** Adapters on disk that a server could load: run folders (`<dir>/<id>/*.gguf`) and loose .gguf files. */
export function listAdapterNames(adaptersDir: string): string[] {
  if (!fs.existsSync(adaptersDir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(adaptersDir, { withFileTypes: true })) {
    if (e.name.startsWith('.') || e.name.includes('.tmp-')) continue;
    let isDir = e.isDirectory();
    if (!isDir && e.isSymbolicLink()) {
      try {
        isDir = fs.statSync(path.join(adaptersDir, e.name)).isDirectory(); // a symlinked run folder counts
      } catch {
        continue; // dangling link
      }
    }
    if (isDir) {
      const files = fs.readdirSync(path.join(adaptersDir, e.name)).filter((f) => f.endsWith('.gguf'));
      if (files.length > 0) out.push(e.name);
    } else if (e.name.endsWith('.gguf')) out.push(e.name);
  }
  return out.sort();
}
