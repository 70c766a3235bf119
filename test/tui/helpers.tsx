/**
 * Test doubles for the terminal UI: a job runner whose jobs the test drives by hand (progress,
 * finish, fail; cancel is recorded and answered), a server control that records calls, and small
 * helpers to wait for a frame and to press keys.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import React from 'react';
import { EventEmitter } from 'node:events';
import { render as inkRender } from 'ink';
import { App } from '../../src/tui/app.tsx';
import type { Services, SharedState, TabId } from '../../src/tui/context.tsx';
import type { JobHandle, JobKind, JobOutcome, JobRunner, JobTypes } from '../../src/tui/jobs/protocol.ts';
import type { Health, ServedAdapter, ServerControl, StartOptions } from '../../src/tui/lib/server.ts';
import type { UiError } from '../../src/tui/lib/errors.ts';

export interface FakeJob<K extends JobKind = JobKind> {
  kind: K;
  params: JobTypes[K]['params'];
  progress(p: JobTypes[K]['progress']): void;
  finish(r: JobTypes[K]['result']): void;
  fail(e: UiError): void;
  cancelled: boolean;
  settled: boolean;
}

export class FakeJobRunner implements JobRunner {
  readonly jobs: FakeJob[] = [];
  /** Answer these kinds at once with the given result (e.g. describe). */
  constructor(private readonly auto: Partial<{ [K in JobKind]: JobTypes[K]['result'] }> = {}) {}

  start<K extends JobKind>(kind: K, params: JobTypes[K]['params'], onProgress: (p: JobTypes[K]['progress']) => void): JobHandle<JobTypes[K]['result']> {
    let resolve!: (o: JobOutcome<JobTypes[K]['result']>) => void;
    const done = new Promise<JobOutcome<JobTypes[K]['result']>>((r) => (resolve = r));
    const job: FakeJob<K> = {
      kind,
      params,
      cancelled: false,
      settled: false,
      progress: (p) => onProgress(p),
      finish: (r) => {
        job.settled = true;
        resolve({ status: 'done', result: r });
      },
      fail: (error) => {
        job.settled = true;
        resolve({ status: 'error', error });
      },
    };
    this.jobs.push(job as unknown as FakeJob);
    const auto = this.auto[kind];
    if (auto !== undefined) job.finish(auto as JobTypes[K]['result']);
    return {
      kind,
      done,
      cancel: () => {
        job.cancelled = true;
        if (!job.settled) {
          job.settled = true;
          resolve({ status: 'cancelled', message: `${kind} cancelled` });
        }
      },
    };
  }

  last<K extends JobKind>(kind: K): FakeJob<K> {
    const j = [...this.jobs].reverse().find((x) => x.kind === kind);
    if (!j) throw new Error(`no ${kind} job was started (started: ${this.jobs.map((x) => x.kind).join(', ') || 'none'})`);
    return j as unknown as FakeJob<K>;
  }

  count(kind: JobKind): number {
    return this.jobs.filter((j) => j.kind === kind).length;
  }
}

export class FakeServer implements ServerControl {
  url: string | null = null;
  owned = false;
  calls: string[] = [];
  loaded: ServedAdapter[] = [];
  failStart: Error | null = null;

  async start(o: StartOptions): Promise<{ url: string }> {
    this.calls.push(`start ${o.model} ${o.port}`);
    if (this.failStart) throw this.failStart;
    this.url = 'http://127.0.0.1:9999';
    this.owned = true;
    return { url: this.url };
  }
  async attach(url: string): Promise<Health> {
    this.calls.push(`attach ${url}`);
    this.url = url.startsWith('http') ? url : `http://${url}`;
    return this.health();
  }
  async stop(): Promise<void> {
    this.calls.push('stop');
    this.url = null;
    this.owned = false;
  }
  async health(): Promise<Health> {
    return {
      status: 'ok',
      model: { id: 'm', path: 'm.gguf', architecture: 'llama', size_bytes: 1 },
      device: { backend: 'cpu', names: ['CPU'], description: 'CPU (fake)' },
      threads: 1,
      context_size: 128,
      adapters: this.loaded.map((a) => ({ name: a.name, scale: a.scale })),
      queue: { running: 0, queued: 0, slots: 2 },
      uptime_s: 1,
    };
  }
  async adapters(): Promise<ServedAdapter[]> {
    return [...this.loaded];
  }
  async loadAdapter(name: string, scale = 1): Promise<void> {
    this.calls.push(`load ${name}`);
    this.loaded.push({ name, scale });
  }
  async unloadAdapter(name: string): Promise<void> {
    this.calls.push(`unload ${name}`);
    this.loaded = this.loaded.filter((a) => a.name !== name);
  }
}

export const DESCRIBE = {
  device: { name: 'CPU', description: 'Test CPU', type: 'cpu' },
  devices: [{ name: 'CPU', description: 'Test CPU', type: 'cpu' }],
  cpuVariant: 'haswell',
  threads: 1,
  build: 'cpu',
  ggml: '0.0.1',
  nodeLlamaCpp: '3.22.1',
  memory: { total: 8 * 2 ** 30, free: 4 * 2 ** 30 },
};

export function tempDir(prefix = 'ulk-tui-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A frame as plain words: box drawing removed and whitespace collapsed (for text that wraps). */
export function flat(frame: string): string {
  return frame.replace(/[│╭╮╰╯─║═╔╗╚╝]/g, ' ').replace(/\s+/g, ' ');
}

export interface Harness {
  frame(): string;
  press(...keys: string[]): Promise<void>;
  type(text: string): Promise<void>;
  waitFor(pred: (frame: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  /** Enter on the selected form field, replace its text, Enter again. */
  edit(text: string): Promise<void>;
  unmount(): void;
  jobs: FakeJobRunner | JobRunner;
  server: FakeServer;
  quitCalled: () => boolean;
}

/**
 * ink-testing-library's render, with the terminal's size configurable (that library fixes it at
 * 100 columns, and ink lays the app out within the terminal's width).
 */
function renderSized(tree: React.ReactElement, columns: number, rows: number) {
  class Stdout extends EventEmitter {
    columns = columns;
    rows = rows;
    isTTY = true;
    last: string | undefined;
    write = (frame: string) => {
      this.last = frame;
      return true;
    };
  }
  class Stdin extends EventEmitter {
    isTTY = true;
    data: string | null = null;
    write = (data: string) => {
      this.data = data;
      this.emit('readable');
      this.emit('data', data);
    };
    setEncoding() {}
    setRawMode() {}
    resume() {}
    pause() {}
    ref() {}
    unref() {}
    read = () => {
      const d = this.data;
      this.data = null;
      return d;
    };
  }
  const stdout = new Stdout();
  const stdin = new Stdin();
  const stderr = new Stdout();
  const instance = inkRender(tree, { stdout: stdout as never, stderr: stderr as never, stdin: stdin as never, debug: true, exitOnCtrlC: false, patchConsole: false });
  return { stdin, lastFrame: () => stdout.last, unmount: () => instance.unmount() };
}

export const KEYS = {
  up: '\x1b[A',
  down: '\x1b[B',
  right: '\x1b[C',
  left: '\x1b[D',
  enter: '\r',
  esc: '\x1b',
  tab: '\t',
  shiftTab: '\x1b[Z',
  backspace: '\x7f',
  space: ' ',
};

/** Render the whole app with injected services at a fixed size. */
export function renderApp(o: { jobs?: JobRunner; cwd?: string; initial?: Partial<SharedState>; tab?: TabId; columns?: number; rows?: number; server?: FakeServer; openFile?: Services['openFile'] } = {}): Harness {
  const jobs = o.jobs ?? new FakeJobRunner({ describe: DESCRIBE });
  const server = o.server ?? new FakeServer();
  let quit = false;
  const services: Services = { jobs, server, cwd: o.cwd ?? process.cwd(), openFile: o.openFile ?? (async () => false) };
  const columns = o.columns ?? 80;
  const rows = o.rows ?? 24;
  const r = renderSized(<App services={services} initial={o.initial} initialTab={o.tab} size={{ columns, rows }} onQuit={() => (quit = true)} />, columns, rows);
  const frame = () => r.lastFrame() ?? '';
  const h: Harness = {
    frame,
    jobs,
    server,
    quitCalled: () => quit,
    async press(...keys) {
      for (const k of keys) {
        r.stdin.write(k);
        await sleep(40);
      }
    },
    async type(text) {
      for (const ch of text) {
        r.stdin.write(ch);
        await sleep(5);
      }
      await sleep(40);
    },
    async waitFor(pred, what, timeoutMs = 10_000) {
      const t0 = Date.now();
      for (;;) {
        const f = frame();
        if (pred(f)) return f;
        if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}; last frame:\n${f}`);
        await sleep(25);
      }
    },
    unmount: () => r.unmount(),
    async edit(text) {
      await h.press(KEYS.enter);
      await h.waitFor((f) => f.includes('✎'), 'the field in edit mode');
      await h.press('\x15');
      await h.type(text);
      await h.press(KEYS.enter);
      await h.waitFor((f) => !f.includes('✎'), 'the field closed');
    },
  };
  return h;
}

/** A small Dave-format dataset (test/helpers/fixtures.ts). */
export { tinyDave } from '../helpers/fixtures.ts';
