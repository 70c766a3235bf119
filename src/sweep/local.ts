/**
 * The local pool: worker processes on this machine (no queue, nothing to install). Each is a job
 * process (jobProcess.ts) started with the same Node loader flags as this one, kept for the whole
 * sweep and fed one job at a time over its IPC channel; the ggml work runs there, never in the
 * process that coordinates. Size: the cores divided by the threads each job uses (at least 1), or
 * what the caller asks.
 *
 * A job process that dies (a native crash, a kill) fails the job it was running with its exit
 * code and stderr tail, and is replaced for the jobs still waiting.
 */
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { nodeLoaderArgs, ownModulePath } from '../util/self.ts';
import type { JobEnvelope } from './jobs.ts';
import type { FromJobProcess, ToJobProcess } from './jobProcess.ts';
import type { JobProgress, JobResult } from './runner.ts';

export interface ExecEvents {
  onStart(key: string, worker: string): void;
  onProgress(key: string, p: JobProgress): void;
  onDone(key: string, result: JobResult, worker: string): void;
  onFailed(key: string, error: string, worker: string): void;
}

/** Where a sweep's jobs run: the local pool or a queue. */
export interface Executor {
  /** e.g. "local pool of 2 processes" (for the status). */
  readonly description: string;
  /** Run the jobs; resolves when each has finished or failed. */
  run(jobs: JobEnvelope[], ev: ExecEvents): Promise<void>;
  close(): Promise<void>;
}

/** Processes a machine runs at once for jobs of `threads` threads each. */
export function defaultPoolSize(threads: number): number {
  return Math.max(1, Math.floor(os.availableParallelism() / Math.max(1, threads)));
}

interface Slot {
  name: string;
  child: ChildProcess;
  ready: Promise<void>;
  /** Key of the job it runs. */
  busy: string | null;
  stderr: () => string;
  exited: boolean;
}

/** Start a job process; `env` is added to this process's environment. */
function startJobProcess(env: Record<string, string>): { child: ChildProcess; ready: Promise<void>; stderr: () => string } {
  let stderr = '';
  const child = fork(ownModulePath('sweep/jobProcess'), [], {
    execArgv: nodeLoaderArgs(),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const keep = (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const ready = new Promise<void>((resolve, reject) => {
    const onMsg = (m: FromJobProcess) => {
      if (m.type === 'ready') {
        child.off('message', onMsg);
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null, sig: string | null) => reject(new Error(`job process exited before it was ready (${sig ?? `code ${code}`}): ${stderr.trim().slice(-1500)}`));
    child.on('message', onMsg);
    child.once('exit', onExit);
  });
  return { child, ready, stderr: () => stderr };
}

/** Run one job in a fresh job process (the sandboxed processor's path for another thread count). */
export async function runInFreshProcess(storeDir: string, envelope: JobEnvelope | unknown, worker: string, threads: number, onProgress?: (p: JobProgress) => void): Promise<JobResult> {
  const p = startJobProcess({ UNLEARNKIT_THREADS: String(threads) });
  try {
    await p.ready;
    return await new Promise<JobResult>((resolve, reject) => {
      p.child.on('message', (m: FromJobProcess) => {
        if (m.type === 'progress') onProgress?.(m.progress);
        else if (m.type === 'done') resolve(m.result);
        else if (m.type === 'failed') reject(new Error(m.error.message));
      });
      p.child.once('exit', (code, sig) => reject(new Error(`job process exited (${sig ?? `code ${code}`}): ${p.stderr().trim().slice(-1500)}`)));
      p.child.send({ type: 'run', store: storeDir, envelope, worker } satisfies ToJobProcess);
    });
  } finally {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.send({ type: 'exit' } satisfies ToJobProcess, () => {});
      setTimeout(() => p.child.kill('SIGKILL'), 5000).unref();
    }
  }
}

/** What a pool does with its processes' messages while one run() is in progress. */
interface RunState {
  queue: JobEnvelope[];
  ev: ExecEvents;
  finish: () => void;
}

export class LocalPool implements Executor {
  readonly description: string;
  private readonly slots: Slot[] = [];
  private counter = 0;
  private current: RunState | null = null;

  constructor(
    private readonly size: number,
    private readonly storeDir: string,
    private readonly threads: number,
    private readonly namePrefix = 'local',
  ) {
    this.description = `local pool of ${size} process${size === 1 ? '' : 'es'} (${threads} thread${threads === 1 ? '' : 's'} each)`;
  }

  /** Give `slot` the next waiting job, if it is free. */
  private feed(slot: Slot): void {
    const run = this.current;
    if (!run || slot.exited || slot.busy) return;
    const env = run.queue.shift();
    if (!env) return;
    slot.busy = env.key;
    run.ev.onStart(env.key, slot.name);
    slot.child.send({ type: 'run', store: this.storeDir, envelope: env, worker: slot.name } satisfies ToJobProcess);
  }

  private spawn(): Slot {
    const name = `${this.namePrefix}-${++this.counter}`;
    const p = startJobProcess({ UNLEARNKIT_THREADS: String(this.threads) });
    const slot: Slot = { name, child: p.child, ready: p.ready, busy: null, stderr: p.stderr, exited: false };
    this.slots.push(slot);
    p.child.on('message', (m: FromJobProcess) => {
      const run = this.current;
      if (!run || !slot.busy) return;
      if (m.type === 'progress') run.ev.onProgress(slot.busy, m.progress);
      else if (m.type === 'done' || m.type === 'failed') {
        const key = slot.busy;
        slot.busy = null;
        if (m.type === 'done') run.ev.onDone(key, m.result, slot.name);
        else run.ev.onFailed(key, m.error.message, slot.name);
        run.finish();
        this.feed(slot);
      }
    });
    p.child.once('exit', (code, sig) => {
      slot.exited = true;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      const run = this.current;
      if (run && slot.busy) {
        const key = slot.busy;
        slot.busy = null;
        run.ev.onFailed(key, `job process ${slot.name} exited (${sig ?? `code ${code}`}) while running this job: ${slot.stderr().trim().slice(-1500)}`, slot.name);
        run.finish();
      }
      if (run && run.queue.length > 0 && !this.closing) this.start();
    });
    return slot;
  }

  private start(): void {
    const slot = this.spawn();
    slot.ready.then(
      () => this.feed(slot),
      (e: Error) => {
        // the process could not even start: fail what is waiting rather than start more
        const run = this.current;
        if (!run) return;
        for (const env of run.queue.splice(0)) {
          run.ev.onFailed(env.key, e.message, slot.name);
          run.finish();
        }
      },
    );
  }

  private closing = false;

  run(jobs: JobEnvelope[], ev: ExecEvents): Promise<void> {
    if (this.current) throw new Error('LocalPool.run: a run is already in progress');
    if (jobs.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let open = jobs.length;
      this.current = {
        queue: [...jobs],
        ev,
        finish: () => {
          open--;
          if (open === 0) {
            this.current = null;
            resolve();
          }
        },
      };
      for (const s of [...this.slots]) void s.ready.then(() => this.feed(s), () => {});
      while (this.slots.length < Math.min(this.size, jobs.length)) this.start();
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.slots.splice(0).map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.exited) return resolve();
            s.child.once('exit', () => resolve());
            try {
              s.child.send({ type: 'exit' } satisfies ToJobProcess);
            } catch {
              s.child.kill('SIGKILL');
            }
            setTimeout(() => s.child.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
  }
}
