/**
 * A sweep's progress on disk, `<sweep>/status.json`: every job's state (waiting, running on which
 * worker and how far, done, cached from an earlier run, failed with why) and the counts, rewritten
 * atomically while the sweep runs (at most a few times a second). `unlearnkit sweep status` and the
 * TUI read it back; it is plain JSON for any other tool too.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeJsonAtomic } from '../util/fs.ts';
import { UserError } from '../util/errors.ts';

export type JobState = 'waiting' | 'running' | 'done' | 'cached' | 'failed';

export interface JobStatus {
  key: string;
  label: string;
  phase: string;
  state: JobState;
  worker?: string;
  /** 0..1 while running. */
  progress?: number;
  note?: string;
  /** Times the job was started (more than 1: it was retried after its worker died). */
  starts: number;
  seconds?: number;
  error?: string;
}

export interface SweepStatus {
  format: 1;
  sweep: string;
  dir: string;
  spec: string;
  /** Where the jobs run ("local pool of 2 processes", "queue ... at redis://:***@host:port"). */
  executor: string;
  store: string;
  host: string;
  pid: number;
  state: 'running' | 'done' | 'failed';
  startedAt: string;
  updatedAt: string;
  counts: Record<JobState, number> & { total: number };
  jobs: JobStatus[];
  report: string | null;
  error?: string;
}

const STATUS_FILE = 'status.json';

export class StatusWriter {
  readonly status: SweepStatus;
  private readonly file: string;
  private last = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(init: Omit<SweepStatus, 'format' | 'host' | 'pid' | 'state' | 'startedAt' | 'updatedAt' | 'counts' | 'report'>) {
    const now = new Date().toISOString();
    this.status = { format: 1, host: os.hostname(), pid: process.pid, state: 'running', startedAt: now, updatedAt: now, counts: { total: 0, waiting: 0, running: 0, done: 0, cached: 0, failed: 0 }, report: null, ...init };
    this.file = path.join(init.dir, STATUS_FILE);
    this.flush(true);
  }

  job(key: string): JobStatus | undefined {
    return this.status.jobs.find((j) => j.key === key);
  }

  set(key: string, patch: Partial<JobStatus>): JobStatus {
    const j = this.job(key);
    if (!j) throw new Error(`status: unknown job ${key}`);
    Object.assign(j, patch);
    if (patch.state && patch.state !== 'running') {
      delete j.progress;
      delete j.note;
    }
    this.flush(patch.state !== undefined);
    return j;
  }

  finish(state: 'done' | 'failed', o: { report?: string | null; error?: string } = {}): void {
    this.status.state = state;
    if (o.report !== undefined) this.status.report = o.report;
    if (o.error !== undefined) this.status.error = o.error;
    this.flush(true);
  }

  /** Write now (`force`) or within 300 ms. */
  flush(force = false): void {
    const now = Date.now();
    if (!force && now - this.last < 300) {
      this.timer ??= setTimeout(() => {
        this.timer = null;
        this.flush(true);
      }, 300 - (now - this.last));
      return;
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.last = now;
    const c = { total: this.status.jobs.length, waiting: 0, running: 0, done: 0, cached: 0, failed: 0 };
    for (const j of this.status.jobs) c[j.state]++;
    this.status.counts = c;
    this.status.updatedAt = new Date().toISOString();
    writeJsonAtomic(this.file, this.status);
  }
}

/** Read a sweep's status: from its folder, or from its spec file (the default folder sweeps/<name>). */
export function readStatus(dir: string): SweepStatus {
  const file = path.join(dir, STATUS_FILE);
  if (!fs.existsSync(file)) throw new UserError(`${dir} has no ${STATUS_FILE}: not a sweep folder (or the sweep has not started)`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as SweepStatus;
  } catch (e) {
    throw new UserError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

/** Whether the process that writes a status still runs it (same host: its pid is alive; else a recent update). */
export function isLive(s: SweepStatus, now = Date.now()): boolean {
  if (s.state !== 'running') return false;
  if (s.host === os.hostname()) {
    try {
      process.kill(s.pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  return now - Date.parse(s.updatedAt) < 60_000;
}

/** Sweep folders under `root` (default ./sweeps) with a status, newest first. */
export function listSweeps(root: string): Array<{ dir: string; status: SweepStatus }> {
  if (!fs.existsSync(root)) return [];
  const out: Array<{ dir: string; status: SweepStatus }> = [];
  for (const e of fs.readdirSync(root, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const dir = path.join(root, e.name);
    try {
      out.push({ dir, status: readStatus(dir) });
    } catch {
      /* not a sweep folder */
    }
  }
  return out.sort((a, b) => Date.parse(b.status.updatedAt) - Date.parse(a.status.updatedAt));
}

/** "7/12 done (2 cached), 2 running, 0 failed". */
export function countsLine(s: SweepStatus): string {
  const c = s.counts;
  return `${c.done + c.cached}/${c.total} done${c.cached ? ` (${c.cached} from earlier runs)` : ''}, ${c.running} running, ${c.waiting} waiting, ${c.failed} failed`;
}

/** The status as text: the sweep, its counts, and one line per job. */
export function formatStatus(s: SweepStatus, o: { jobs?: boolean } = {}): string {
  const live = isLive(s);
  const state = s.state === 'running' && !live ? 'stopped (its process is gone; run the sweep again to resume)' : s.state;
  const lines = [
    `sweep ${s.sweep}: ${state} — ${countsLine(s)}`,
    `  ${s.dir}; jobs on ${s.executor}; store ${s.store}; updated ${s.updatedAt}`,
  ];
  if (s.report) lines.push(`  report: ${s.report}`);
  if (s.error) lines.push(`  error: ${s.error}`);
  if (o.jobs !== false) {
    const w = Math.min(60, Math.max(...s.jobs.map((j) => j.label.length), 5));
    for (const j of s.jobs) {
      const what =
        j.state === 'running'
          ? `running${j.worker ? ` on ${j.worker}` : ''} ${j.progress !== undefined ? `${Math.round(100 * j.progress)}%` : ''}${j.note ? ` ${j.note}` : ''}`
          : j.state === 'done'
            ? `done${j.worker ? ` by ${j.worker}` : ''}${j.seconds !== undefined ? ` in ${j.seconds.toFixed(1)} s` : ''}`
            : j.state === 'failed'
              ? `FAILED: ${(j.error ?? '').split('\n')[0]}`
              : j.state;
      lines.push(`  ${j.label.padEnd(w)}  ${j.key.slice(0, 10)}  ${what.trim()}${j.starts > 1 ? ` (started ${j.starts} times)` : ''}`);
    }
  }
  return lines.join('\n');
}
