/**
 * Runs the TUI's long jobs in child processes, so that the UI thread never blocks (training steps
 * are synchronous native calls) and a native crash in a job cannot take the terminal down with it.
 *
 * Protocol: the child (child.ts, started the way this process runs: util/self.ts) gets
 * `{kind, params, cancelFile}` in the environment variable UNLEARNKIT_TUI_JOB and writes one JSON
 * WireMessage per line to file descriptor 3. The child's stdout and stderr are captured (never shown over the UI); their tail explains a crash.
 *
 * Cancelling creates `cancelFile`: the job's AbortSignal reads it whenever the library checks
 * `signal.aborted` (finetune checks between steps), so the job stops at a safe point, cleans up what
 * it started, and answers `cancelled`. Nothing is killed mid-write. `kill()` is the last resort
 * (quitting the TUI while a job ignores the cancel).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { JobHandle, JobKind, JobOutcome, JobRunner, JobTypes, WireMessage } from './protocol.ts';
import { toUiError } from '../lib/errors.ts';
import { UserError } from '../../util/errors.ts';
import { ownModuleArgs } from '../../util/self.ts';

let counter = 0;

export interface ChildJobRunnerOptions {
  /** Working directory of the jobs (default: this process's). */
  cwd?: string;
  /** Extra environment for the jobs. */
  env?: Record<string, string>;
}

export interface ChildJobHandle<R> extends JobHandle<R> {
  readonly pid: number | undefined;
  /** Stop the process at once (SIGKILL). Only when a cancel was not honoured. */
  kill(): void;
}

export class ChildJobRunner implements JobRunner {
  private readonly running = new Set<ChildJobHandle<unknown>>();

  constructor(private readonly o: ChildJobRunnerOptions = {}) {}

  start<K extends JobKind>(kind: K, params: JobTypes[K]['params'], onProgress: (p: JobTypes[K]['progress']) => void): ChildJobHandle<JobTypes[K]['result']> {
    const cancelFile = path.join(os.tmpdir(), `unlearnkit-job-${process.pid}-${++counter}-${Date.now()}.cancel`);
    const child = spawn(process.execPath, ownModuleArgs('tui/jobs/child'), {
      cwd: this.o.cwd ?? process.cwd(),
      env: { ...process.env, ...this.o.env, UNLEARNKIT_TUI_JOB: JSON.stringify({ kind, params, cancelFile }), FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    let tail = '';
    const keepTail = (b: Buffer) => {
      tail = (tail + b.toString('utf8')).slice(-4000);
    };
    child.stdout!.on('data', keepTail);
    child.stderr!.on('data', keepTail);
    let cancelRequested = false;
    let outcome: JobOutcome<JobTypes[K]['result']> | null = null;
    const done = new Promise<JobOutcome<JobTypes[K]['result']>>((resolve) => {
      readLines(child.stdio[3] as Readable, (line) => {
        let m: WireMessage;
        try {
          m = JSON.parse(line) as WireMessage;
        } catch {
          return;
        }
        if (m.t === 'progress') {
          try {
            onProgress(m.data as JobTypes[K]['progress']);
          } catch {
            /* a rendering problem must not end the job */
          }
        } else if (m.t === 'result') outcome = { status: 'done', result: m.data as JobTypes[K]['result'] };
        else if (m.t === 'cancelled') outcome = { status: 'cancelled', message: m.message };
        else if (m.t === 'error') outcome = { status: 'error', error: toUiError(reviveError(m.error)) };
      });
      child.on('error', (e) => {
        outcome ??= { status: 'error', error: toUiError(e, `could not start the job process (${process.execPath} ${ownModuleArgs('tui/jobs/child').join(' ')})`) };
      });
      child.on('close', (code, signal) => {
        fs.rmSync(cancelFile, { force: true });
        this.running.delete(handle as ChildJobHandle<unknown>);
        if (!outcome) {
          if (cancelRequested) outcome = { status: 'cancelled', message: `${kind} stopped` };
          else {
            const last = tail.trim().split('\n').slice(-3).join(' | ');
            outcome = {
              status: 'error',
              error: toUiError(
                new UserError(`the ${kind} job ended unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`})${last ? `: ${last}` : ''}`),
                'run the same action from the CLI to see its full output, or try again',
              ),
            };
          }
        }
        resolve(outcome);
      });
    });
    const handle: ChildJobHandle<JobTypes[K]['result']> = {
      kind,
      pid: child.pid,
      done,
      cancel: () => {
        if (cancelRequested || child.exitCode !== null) return;
        cancelRequested = true;
        try {
          fs.writeFileSync(cancelFile, 'cancel\n');
        } catch {
          child.kill('SIGKILL');
        }
      },
      kill: () => {
        cancelRequested = true;
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      },
    };
    this.running.add(handle as ChildJobHandle<unknown>);
    return handle;
  }

  /** Jobs still running (to cancel them when the TUI quits). */
  get active(): ReadonlyArray<ChildJobHandle<unknown>> {
    return [...this.running];
  }

  /** Cancel every running job, wait up to `graceMs` for each to stop, then kill what is left. */
  async shutdown(graceMs = 10_000): Promise<void> {
    const jobs = [...this.running];
    for (const j of jobs) j.cancel();
    await Promise.all(
      jobs.map(async (j) => {
        const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
        if ((await Promise.race([j.done, timer])) === 'timeout') j.kill();
      }),
    );
  }
}

function readLines(stream: Readable, onLine: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim()) onLine(line);
    }
  });
  stream.on('error', () => {});
}

/** An error sent over the wire as an Error again (UserError keeps its class). */
function reviveError(e: { name: string; message: string; stack?: string; code?: string }): Error {
  const err = e.name === 'UserError' ? new UserError(e.message) : new Error(e.message);
  if (e.name !== 'UserError') err.name = e.name;
  if (e.stack) err.stack = e.stack;
  if (e.code) (err as NodeJS.ErrnoException).code = e.code;
  return err;
}

export type { ChildProcess };
