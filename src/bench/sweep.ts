/**
 * `unlearnkit bench sweep`: sweep throughput in jobs per minute on the embedded model, for the same
 * grid of small unlearning jobs (8 jobs; 4 with --quick) run three ways:
 *   - the local pool with 1 worker process,
 *   - the local pool with 2 worker processes,
 *   - a BullMQ queue on a redis-server this benchmark starts on a loopback port (a random password,
 *     no persistence), with 2 `unlearnkit worker` processes (1 job at a time each).
 * Every run starts from the same fine-tune (run once first, kept in the shared store, and given to
 * each run as a finished job), and jobs use 1 thread each. The time is the grid phase's wall time:
 * it includes starting the local pool's processes and the workers' job processes, not starting the
 * two worker commands themselves. Without redis-server the queue row says why it is missing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../util/paths.ts';
import { cliArgs } from '../util/self.ts';
import { freePort } from '../util/net.ts';

export interface SweepBenchRow {
  setup: string;
  workers: number;
  jobs: number;
  seconds: number;
  jobsPerMinute: number;
}

export interface SweepBenchResult {
  suite: 'sweep';
  machine: { cpu: string; cores: number };
  grid: string;
  rows: SweepBenchRow[];
  /** Why the queue row is missing (no redis-server). */
  queueSkipped: string | null;
  /** 2 local workers / 1, and 2 queue workers / 2 local workers (jobs per minute). */
  ratios: { localTwoVsOne: number | null; queueVsLocal: number | null };
  note: string;
}

/** Start a child and wait until its output matches `ready`. */
async function startUntil(cmd: string, args: string[], ready: RegExp, cwd: string): Promise<ChildProcess> {
  const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  p.stdout!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-8000)));
  p.stderr!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-8000)));
  for (let i = 0; i < 1200; i++) {
    if (ready.test(log)) return p;
    if (p.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  p.kill('SIGKILL');
  throw new Error(`${path.basename(cmd)} ${args[args.length - 1] ?? ''} did not start: ${log.slice(-1500)}`);
}

function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    p.kill('SIGTERM');
  });
}

export async function benchSweep(o: { quick?: boolean; log?: (l: string) => void } = {}): Promise<SweepBenchResult> {
  const { runSweep } = await import('../sweep/run.ts');
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-bench-sweep-'));
  const started: ChildProcess[] = [];
  try {
    const seeds = o.quick ? [0] : [0, 1];
    const spec = {
      name: 'bench',
      model: path.join(PROJECT_ROOT, 'models', 'unlearnkit-base.gguf'),
      data: 'dave',
      finetune: { epochs: 1, lr: 0.003, batch: 8, splits: { forget: 12, retain: 20 }, record: 'first-epoch', recordFilter: 'embedding,block:-1:mlp' },
      grid: { methods: ['first-epoch', 'gradient-ascent'], targets: ['embedding', 'block:-1:mlp'], eta: [1], steps: [1], seeds },
      hyper: { batch: 4 },
      threads: 1,
      eval: { limit: 6 },
    };
    const specFile = path.join(tmp, 'bench.json');
    fs.writeFileSync(specFile, JSON.stringify(spec));
    const store = path.join(tmp, 'store');
    const grid = `first-epoch, gradient-ascent x embedding, block:-1:mlp x ${seeds.length} seed(s) on the embedded model, 6 items per evaluated set, 1 thread per job`;
    log('bench sweep: the fine-tune every run starts from');
    // the same fine-tune (its key depends on the model, data and fine-tune settings only) with a one-job grid
    const warmFile = path.join(tmp, 'warm.json');
    fs.writeFileSync(warmFile, JSON.stringify({ ...spec, grid: { methods: ['first-epoch'], targets: ['embedding'], eta: [1], seeds: [0] } }));
    await runSweep({ specFile: warmFile, out: path.join(tmp, 'warm'), store, workers: 1, log: null });
    const ftKey = fs.readdirSync(path.join(tmp, 'warm', 'results')).find((f) => (JSON.parse(fs.readFileSync(path.join(tmp, 'warm', 'results', f), 'utf8')) as { kind: string }).kind === 'finetune');
    const seed = (out: string) => {
      fs.mkdirSync(path.join(out, 'results'), { recursive: true });
      if (ftKey) fs.copyFileSync(path.join(tmp, 'warm', 'results', ftKey), path.join(out, 'results', ftKey));
    };
    const rows: SweepBenchRow[] = [];
    const measure = async (setup: string, workers: number, extra: { workers?: number; queue?: string }) => {
      const out = path.join(tmp, setup.replace(/\W+/g, '-'));
      seed(out);
      const r = await runSweep({ specFile, out, store, ...extra, log: null, pollMs: 100 });
      const ph = r.phases.find((p) => p.name === 'unlearn')!;
      const row = { setup, workers, jobs: ph.ran, seconds: ph.seconds, jobsPerMinute: (60 * ph.ran) / ph.seconds };
      rows.push(row);
      log(`  ${setup}: ${row.jobs} jobs in ${row.seconds.toFixed(1)} s = ${row.jobsPerMinute.toFixed(1)} jobs/min`);
    };
    await measure('local pool, 1 worker', 1, { workers: 1 });
    await measure('local pool, 2 workers', 2, { workers: 2 });

    let queueSkipped: string | null = null;
    if (spawnSync('redis-server', ['--version']).status !== 0) queueSkipped = 'redis-server is not installed (apt-get install redis-server)';
    else {
      const port = await freePort();
      const password = crypto.randomBytes(12).toString('hex');
      started.push(await startUntil('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--requirepass', password], /Ready to accept connections/, tmp));
      const url = `redis://:${password}@127.0.0.1:${port}`;
      for (const name of ['bench-w1', 'bench-w2']) {
        started.push(await startUntil(process.execPath, cliArgs('worker', '--queue', url, '--store', store, '--concurrency', '1', '--threads', '1', '--name', name), /: ready on /, tmp));
      }
      await measure('queue, 2 workers', 2, { queue: url });
    }
    const per = (s: string) => rows.find((r) => r.setup === s)?.jobsPerMinute ?? null;
    const l1 = per('local pool, 1 worker');
    const l2 = per('local pool, 2 workers');
    const q2 = per('queue, 2 workers');
    return {
      suite: 'sweep',
      machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism() },
      grid,
      rows,
      queueSkipped,
      ratios: { localTwoVsOne: l1 && l2 ? l2 / l1 : null, queueVsLocal: l2 && q2 ? q2 / l2 : null },
      note: 'jobs per minute of the grid phase (8 small unlearning jobs, 4 with --quick); the queue runs Redis and both workers on this machine, so it measures the queue\'s overhead, not more cores',
    };
  } finally {
    for (const p of started.reverse()) await stop(p);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export function printSweepBench(r: SweepBenchResult): void {
  const lines = [`sweep throughput on ${r.machine.cpu} (${r.machine.cores} cores): ${r.grid}`];
  for (const row of r.rows) lines.push(`  ${row.setup.padEnd(24)} ${String(row.jobs).padStart(3)} jobs  ${row.seconds.toFixed(1).padStart(6)} s  ${row.jobsPerMinute.toFixed(1).padStart(6)} jobs/min`);
  if (r.queueSkipped) lines.push(`  queue, 2 workers: not measured: ${r.queueSkipped}`);
  if (r.ratios.localTwoVsOne) lines.push(`  2 local workers / 1: x${r.ratios.localTwoVsOne.toFixed(2)}`);
  if (r.ratios.queueVsLocal) lines.push(`  2 queue workers / 2 local workers: x${r.ratios.queueVsLocal.toFixed(2)}`);
  process.stdout.write(lines.join('\n') + '\n');
}

