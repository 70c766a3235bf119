/**
 * `unlearnkit sweep SPEC`: read and check the spec, copy its inputs into the store under their
 * content hashes, expand it into keyed jobs, run the jobs that have no result yet (a local pool of
 * worker processes, or a BullMQ queue that `unlearnkit worker`s take jobs from), and write the one
 * aggregated report.
 *
 * The sweep folder (default sweeps/<name>/):
 *   sweep.json            the checked spec and every job (key, label, phase)
 *   status.json           progress per job and overall (status.ts; `unlearnkit sweep status`)
 *   results/<key>.json    each finished job's result; a rerun of the sweep skips these jobs
 *   report/               report.md, report.html, charts/, report.json, aggregate.json
 *   store/                the store, unless --store names another folder (a queue needs one
 *                         that every worker can reach)
 *
 * Jobs run in phases: the fine-tune a sweep runs first, then the grid that starts from it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { outputPath, PROJECT_ROOT } from '../util/paths.ts';
import { readJsonIfExists, writeJsonAtomic } from '../util/fs.ts';
import { readSpecFile, type SweepSpec } from './spec.ts';
import { Store, type InputRef } from './store.ts';
import { expandRum, expandUnlearn, type JobEnvelope, type Phase } from './jobs.ts';
import { defaultPoolSize, LocalPool, type ExecEvents, type Executor } from './local.ts';
import { StatusWriter, countsLine } from './status.ts';
import type { JobResult } from './runner.ts';
import { unlearnkitVersion } from './hash.ts';
import type { SweepAggregate } from './aggregate.ts';

export interface SweepOptions {
  specFile: string;
  /** Sweep folder (default sweeps/<name> under the current folder). */
  out?: string;
  /** Store folder (default <out>/store; required with a queue). */
  store?: string;
  /** redis:// or rediss:// URL: run the jobs on a BullMQ queue instead of the local pool. */
  queue?: string;
  tlsCa?: string;
  queueName?: string;
  /** Local pool size (default: the cores / the spec's threads). */
  workers?: number;
  /** Progress lines (default: stderr); null = none. */
  log?: ((line: string) => void) | null;
  /** Queue polling interval in ms. */
  pollMs?: number;
}

export interface PhaseTiming {
  name: string;
  jobs: number;
  /** Jobs run now (not found finished). */
  ran: number;
  /** Wall time of the phase (s). */
  seconds: number;
}

export interface SweepRunResult {
  name: string;
  dir: string;
  store: string;
  executor: string;
  jobs: number;
  ran: number;
  cached: number;
  phases: PhaseTiming[];
  report: { html: string; markdown: string; json: string; aggregate: string };
  aggregate: SweepAggregate;
  seconds: number;
}

/** The method and metric registries a spec is checked against. */
async function registries(): Promise<{ methods: string[]; metrics: string[]; uses: (m: string) => readonly string[] }> {
  const { listMethods } = await import('../unlearn/registry.ts');
  await import('../eval/metrics.ts');
  const { listMetrics } = await import('../eval/registry.ts');
  const ms = listMethods();
  return { methods: ms.map((m) => m.name), metrics: listMetrics().map((m) => m.name), uses: (name) => ms.find((m) => m.name === name)?.uses ?? [] };
}

/** Read and check a spec (as the sweep command does, without running it). */
async function loadSpec(file: string): Promise<SweepSpec> {
  const r = await registries();
  return readSpecFile(file, { methods: r.methods, metrics: r.metrics });
}

/** The folder a spec's sweep writes to by default. */
function defaultSweepDir(spec: SweepSpec): string {
  return outputPath('sweeps', spec.name);
}

/** Copy a dataset (a Dave-format folder, or a TOFU file) into the store. */
async function putDataset(store: Store, data: string): Promise<InputRef> {
  const { getDataset } = await import('../data/dataset.ts');
  const src = getDataset(data).source;
  return fs.statSync(src).isDirectory() ? store.putTree(src) : store.putFile(src);
}

/** Copy the spec's inputs into the store and expand it into phases of jobs. */
async function planSweep(spec: SweepSpec, store: Store): Promise<Phase[]> {
  if (spec.kind === 'rum-memorization') {
    const data: InputRef = spec.data === 'synthetic' || spec.data === 'fixture' ? { builtin: 'synthetic' } : fs.existsSync(spec.data) && fs.statSync(spec.data).isDirectory() ? store.putTree(spec.data) : badData(spec.data);
    return expandRum(spec, data);
  }
  const data = await putDataset(store, spec.data);
  let from: InputRef | null = null;
  let model: InputRef | null = null;
  if ('from' in spec.finetune) {
    const f = spec.finetune.from;
    if (!fs.existsSync(f)) throw new UserError(`finetune.from: ${f} does not exist`);
    const dir = fs.statSync(f).isDirectory() ? f : path.basename(f) === 'checkpoint.gguf' ? path.dirname(f) : null;
    if (!dir || !fs.existsSync(path.join(dir, 'checkpoint.gguf'))) throw new UserError(`finetune.from: ${f} is not a fine-tune run folder (one with checkpoint.gguf, run.json and grads/, written by unlearnkit finetune)`);
    from = store.putTree(dir, (rel) => rel === 'oracle' || rel === 'optimizer.bin');
  } else {
    const m = spec.model ?? path.join(PROJECT_ROOT, 'models', 'unlearnkit-base.gguf');
    if (!fs.existsSync(m) || !fs.statSync(m).isFile()) throw new UserError(`model: ${m} is not a file`);
    model = store.putFile(m);
  }
  const { uses } = await registries();
  return expandUnlearn(spec, { model, data, from }, uses);
}

function badData(d: string): never {
  throw new UserError(`data: ${d} is neither 'synthetic' nor a CIFAR-10 / CIFAR-100 / MNIST folder`);
}

/** Turns executor events into results on disk, the status file and progress lines. */
class Tracker implements ExecEvents {
  readonly failures: Array<{ key: string; label: string; error: string }> = [];
  private readonly labels = new Map<string, string>();
  private lastLine = 0;
  constructor(
    private readonly dir: string,
    private readonly status: StatusWriter,
    private readonly results: Map<string, JobResult>,
    private readonly log: ((line: string) => void) | null,
    jobs: JobEnvelope[],
  ) {
    for (const j of jobs) this.labels.set(j.key, j.label);
  }

  private say(line: string): void {
    this.log?.(`${line}   [${countsLine(this.status.status)}]`);
  }

  onStart(key: string, worker: string): void {
    const j = this.status.job(key)!;
    this.status.set(key, { state: 'running', worker, starts: j.starts + 1, progress: 0 });
    this.say(`started ${j.label} on ${worker}${j.starts > 1 ? ` (again: start ${j.starts})` : ''}`);
  }

  onProgress(key: string, p: { fraction: number; note: string }): void {
    this.status.set(key, { progress: p.fraction, note: p.note });
    const now = Date.now();
    if (this.log && now - this.lastLine > 5000) {
      this.lastLine = now;
      const running = this.status.status.jobs.filter((j) => j.state === 'running').map((j) => `${j.label} ${Math.round(100 * (j.progress ?? 0))}%`);
      if (running.length) this.say(`running: ${running.join(', ')}`);
    }
  }

  onDone(key: string, result: JobResult, worker: string): void {
    if (this.results.has(key)) return; // reported once
    this.results.set(key, result);
    writeJsonAtomic(path.join(this.dir, 'results', `${key}.json`), result);
    this.status.set(key, { state: 'done', worker, seconds: result.seconds, error: undefined });
    this.say(`done ${this.labels.get(key)} in ${result.seconds.toFixed(1)} s by ${worker}`);
  }

  onFailed(key: string, error: string, worker: string): void {
    const label = this.labels.get(key) ?? key;
    this.failures.push({ key, label, error });
    this.status.set(key, { state: 'failed', worker, error });
    this.say(`FAILED ${label} on ${worker}: ${error.split('\n')[0]}`);
  }
}

function readResult(file: string, key: string): JobResult | null {
  const r = readJsonIfExists<JobResult | null>(file, null);
  return r && typeof r === 'object' && r.key === key ? r : null;
}

/** Run a sweep (see the module comment). */
export async function runSweep(o: SweepOptions): Promise<SweepRunResult> {
  const t0 = performance.now();
  const log = o.log === undefined ? (l: string) => process.stderr.write(l + '\n') : o.log;
  const spec = await loadSpec(o.specFile);
  const dir = path.resolve(o.out ?? defaultSweepDir(spec));
  let target: import('./queue.ts').RedisTarget | null = null;
  if (o.queue) {
    const { parseRedisUrl } = await import('./queue.ts');
    target = parseRedisUrl(o.queue, { tlsCa: o.tlsCa });
    if (o.workers !== undefined) throw new UserError('--workers sizes the local pool; with --queue, start `unlearnkit worker`s instead (--concurrency sets their jobs at once)');
    if (!o.store) throw new UserError('--queue needs --store DIR: a folder every worker can reach (a shared filesystem), where the sweep puts its inputs and the workers their artifacts; start the workers with the same --store');
  } else if (o.tlsCa) throw new UserError('--tls-ca is for --queue rediss://...');
  const store = new Store(o.store ?? path.join(dir, 'store'), { create: true });
  fs.mkdirSync(path.join(dir, 'results'), { recursive: true });
  log?.(`sweep ${spec.name}: copying inputs into the store ${store.root}`);
  const phases = await planSweep(spec, store);
  const all = phases.flatMap((p) => p.jobs);
  writeJsonAtomic(path.join(dir, 'sweep.json'), {
    format: 1,
    unlearnkit: unlearnkitVersion(),
    specFile: path.resolve(o.specFile),
    spec,
    phases: phases.map((p) => ({ name: p.name, jobs: p.jobs.map((j) => ({ key: j.key, label: j.label, job: j.job })) })),
  });

  const results = new Map<string, JobResult>();
  for (const j of all) {
    const r = readResult(path.join(dir, 'results', `${j.key}.json`), j.key);
    if (r) results.set(j.key, r);
  }
  const cached = results.size;
  const toRun = all.length - cached;
  let executor: Executor | null = null;
  const description = target ? `queue ${o.queueName ?? 'unlearnkit-sweep'} at ${target.display}` : `local pool of ${o.workers ?? defaultPoolSize(spec.threads)} process(es)`;
  const status = new StatusWriter({
    sweep: spec.name,
    dir,
    spec: path.resolve(o.specFile),
    executor: description,
    store: store.root,
    jobs: phases.flatMap((p) => p.jobs.map((j) => ({ key: j.key, label: j.label, phase: p.name, state: results.has(j.key) ? ('cached' as const) : ('waiting' as const), starts: 0 }))),
  });
  log?.(`sweep ${spec.name}: ${all.length} jobs (${phases.map((p) => `${p.jobs.length} ${p.name}`).join(', ')}), ${cached} finished earlier, ${toRun} to run${toRun ? ` on ${description}` : ''}`);
  const tracker = new Tracker(dir, status, results, log, all);
  const timings: PhaseTiming[] = [];
  try {
    for (const phase of phases) {
      const pending = phase.jobs.filter((j) => !results.has(j.key));
      const tp = performance.now();
      if (pending.length) {
        if (!executor) {
          if (target) {
            const { QueueExecutor } = await import('./queue.ts');
            executor = await QueueExecutor.open(target, { queueName: o.queueName, pollMs: o.pollMs });
          } else {
            const size = o.workers ?? defaultPoolSize(spec.threads);
            if (!Number.isInteger(size) || size < 1) throw new UserError(`--workers must be a positive integer, got ${size}`);
            executor = new LocalPool(size, store.root, spec.threads);
          }
        }
        log?.(`phase ${phase.name}: ${pending.length} job(s)`);
        await executor.run(pending, tracker);
      }
      timings.push({ name: phase.name, jobs: phase.jobs.length, ran: pending.length, seconds: (performance.now() - tp) / 1000 });
      if (tracker.failures.length) break;
    }
  } catch (e) {
    status.finish('failed', { error: (e as Error).message });
    throw e;
  } finally {
    await executor?.close();
  }
  if (tracker.failures.length) {
    const msg = `${tracker.failures.length} job(s) failed; the sweep's finished jobs are kept and a rerun runs only the rest:\n${tracker.failures
      .slice(0, 10)
      .map((f) => `  ${f.label} [${f.key.slice(0, 12)}]: ${f.error.split('\n').slice(0, 3).join(' | ')}`)
      .join('\n')}`;
    status.finish('failed', { error: msg });
    throw new UserError(msg);
  }

  const reportDir = path.join(dir, 'report');
  const { aggregateRum, aggregateUnlearn } = await import('./aggregate.ts');
  const { writeReport } = await import('../report/write.ts');
  const agg = spec.kind === 'unlearn' ? aggregateUnlearn(spec, all, results) : aggregateRum(spec, all, results);
  const written = await writeReport(agg.input, reportDir);
  const aggregateFile = path.join(reportDir, 'aggregate.json');
  writeJsonAtomic(aggregateFile, { sweep: spec.name, cells: agg.cells, outcomes: agg.outcomes, ...('seeds' in agg ? { seeds: agg.seeds } : {}) });
  status.finish('done', { report: written.html });
  return {
    name: spec.name,
    dir,
    store: store.root,
    executor: description,
    jobs: all.length,
    ran: toRun,
    cached,
    phases: timings,
    report: { html: written.html, markdown: written.markdown, json: written.json, aggregate: aggregateFile },
    aggregate: agg,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** A sweep folder given as a folder or as its spec file (its default folder). */
export async function resolveSweepDir(ref: string | undefined): Promise<string | null> {
  if (!ref) return null;
  if (fs.existsSync(ref) && fs.statSync(ref).isDirectory()) return path.resolve(ref);
  if (fs.existsSync(ref)) return defaultSweepDir(await loadSpec(ref));
  throw new UserError(`${ref} is neither a sweep folder nor a spec file`);
}
