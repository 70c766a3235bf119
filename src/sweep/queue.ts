/**
 * Distributed sweeps on BullMQ (a Redis-backed job queue): `sweep --queue redis://HOST:PORT` puts
 * the jobs on a queue, `unlearnkit worker --queue ...` on any machine takes them.
 *
 * bullmq and ioredis are optional peer dependencies: this is the only module that imports them,
 * and only when a queue is used (dynamic import), so the rest of the CLI neither needs nor loads
 * them; without them, --queue fails with how to install them.
 *
 * Jobs. Each sweep job is one BullMQ job whose id is the job key: adding a job that is already in
 * the queue is a no-op, a finished one is not run again, and a rerun of the sweep finds the results
 * of jobs that finished while it was away (their return values). Results (JSON) travel through the
 * queue; artifacts go to the shared store (store.ts).
 *
 * Workers. A worker runs each job in a child process (BullMQ's sandboxed processor, processor.ts):
 * our ggml calls are synchronous and would otherwise block the worker's event loop, and with it
 * the renewal of the job's lock. Renewal runs every lockDuration / 2 in the worker's main process,
 * which does no computing, so lockDuration only has to outlast a pause of that process or of
 * Redis, not the job: a job of any length keeps its lock while its worker lives. It also bounds how
 * soon a dead worker's job is noticed: a worker that is killed stops renewing, the lock expires,
 * and the stalled-job check of any other worker (every stalledInterval) puts the job back in the
 * waiting list, where another worker takes it (maxStalledCount times at most, then it fails).
 *
 * Security. `redis://[user:password@]host:port[/db]` and `rediss://` (TLS; --tls-ca for a private
 * CA) URLs; the password can also come from UNLEARNKIT_REDIS_PASSWORD so that it stays out of
 * process listings, and it is never printed (URLs are shown as redis://:***@host). Neither the
 * sweep nor a worker listens on any port: both only connect out to Redis. A worker checks every job
 * again before running it (jobs.ts checkEnvelope), reads and writes only inside its --store by
 * content hash, and never runs a command a job names.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import type { Job as BullJob, Queue as BullQueue, Worker as BullWorker, ConnectionOptions } from 'bullmq';
import { UserError } from '../util/errors.ts';
import { ownModulePath } from '../util/self.ts';
import { Store } from './store.ts';
import type { JobEnvelope } from './jobs.ts';
import type { ExecEvents, Executor } from './local.ts';
import type { JobProgress, JobResult } from './runner.ts';

const DEFAULT_QUEUE_NAME = 'unlearnkit-sweep';
const PASSWORD_ENV = 'UNLEARNKIT_REDIS_PASSWORD';
/** Finished jobs (and their results) stay in Redis a week, for a sweep that is rerun after it was stopped. */
const KEEP_FINISHED_S = 7 * 24 * 3600;

type BullModule = typeof import('bullmq');
interface RedisClient {
  connect(): Promise<void>;
  ping(): Promise<string>;
  info(section: string): Promise<string>;
  disconnect(): void;
  on(ev: string, fn: (...a: unknown[]) => void): unknown;
}
type RedisCtor = new (opts: Record<string, unknown>) => RedisClient;

export interface QueueLibs {
  bullmq: BullModule;
  Redis: RedisCtor;
}

const INSTALL_HINT = 'npm install bullmq@^6.7.6 ioredis@^5.10.1 (optional peer dependencies of unlearnkit, needed only for --queue and `unlearnkit worker`)';

/** Import bullmq and ioredis; a missing one is a UserError that says how to install it. */
export async function loadQueueLibs(importer: (name: string) => Promise<unknown> = (n) => import(n)): Promise<QueueLibs> {
  const load = async (name: string): Promise<Record<string, unknown>> => {
    try {
      return (await importer(name)) as Record<string, unknown>;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND' || /Cannot find (package|module)/.test(String(err?.message))) {
        throw new UserError(`the queue needs the package '${name}', which is not installed: ${INSTALL_HINT}`);
      }
      throw e;
    }
  };
  const bull = await load('bullmq');
  const io = await load('ioredis');
  const bullmq = ((bull.Queue ? bull : bull.default) ?? bull) as unknown as BullModule;
  const Redis = (io.default as { default?: unknown } | undefined)?.default ?? io.default ?? io.Redis;
  if (typeof bullmq.Queue !== 'function' || typeof Redis !== 'function') throw new UserError(`bullmq or ioredis did not load as expected (need bullmq 6, ioredis 5): ${INSTALL_HINT}`);
  return { bullmq, Redis: Redis as RedisCtor };
}

/** Where Redis is and how to talk to it. */
export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  /** PEM of the CA that signed the server's certificate (rediss:// with a private CA). */
  ca?: Buffer;
  /** The URL with the password masked, for messages. */
  display: string;
}

/** Parse a redis:// or rediss:// URL (see the module comment). */
export function parseRedisUrl(url: string, o: { tlsCa?: string; env?: Record<string, string | undefined> } = {}): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`--queue '${url.replace(/\/\/([^@/]*)@/, '//***@')}' is not a URL; use redis://[:PASSWORD@]HOST:PORT or rediss://... for TLS`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UserError(`--queue must be a redis:// or rediss:// URL, got ${u.protocol}//...`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new UserError('--queue: the URL names no host');
  const port = u.port ? Number(u.port) : 6379;
  const dbText = u.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new UserError(`--queue: database '${dbText}' must be a number (redis://host:port/0)`);
  if (u.search || u.hash) throw new UserError('--queue: options in the URL (?...) are not supported; use --tls-ca for a CA certificate');
  const username = u.username ? decodeURIComponent(u.username) : undefined;
  const password = u.password ? decodeURIComponent(u.password) : ((o.env ?? process.env)[PASSWORD_ENV] || undefined);
  const tls = u.protocol === 'rediss:';
  let ca: Buffer | undefined;
  if (o.tlsCa) {
    if (!tls) throw new UserError('--tls-ca is for rediss:// (TLS) URLs');
    if (!fs.existsSync(o.tlsCa)) throw new UserError(`--tls-ca ${o.tlsCa} does not exist`);
    ca = fs.readFileSync(o.tlsCa);
  }
  const who = username ? `${username}${password ? ':***' : ''}@` : password ? ':***@' : '';
  const display = `${u.protocol}//${who}${host.includes(':') ? `[${host}]` : host}:${port}${db ? `/${db}` : ''}`;
  return { host, port, db, username, password, tls, ca, display };
}

/** ioredis options for a target (BullMQ's workers need maxRetriesPerRequest null). */
function redisOptions(t: RedisTarget): Record<string, unknown> {
  return {
    host: t.host,
    port: t.port,
    db: t.db,
    ...(t.username ? { username: t.username } : {}),
    ...(t.password ? { password: t.password } : {}),
    ...(t.tls ? { tls: { ...(t.ca ? { ca: t.ca } : {}), ...(net.isIP(t.host) ? {} : { servername: t.host }) } } : {}),
    maxRetriesPerRequest: null,
  };
}

/** A Redis error as a message a user can act on. */
function explainRedisError(e: unknown, t: RedisTarget): UserError {
  const msg = String((e as Error)?.message ?? e);
  const code = (e as NodeJS.ErrnoException)?.code;
  if (/WRONGPASS|invalid password|invalid username-password/i.test(msg)) return new UserError(`Redis at ${t.display} refused the password (${msg.trim()}); check the password in the URL (redis://:PASSWORD@host:port) or ${PASSWORD_ENV}`);
  if (/NOAUTH/i.test(msg)) return new UserError(`Redis at ${t.display} needs a password (${msg.trim()}); give it in the URL (redis://:PASSWORD@host:port) or in ${PASSWORD_ENV}`);
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(msg)) return new UserError(`cannot connect to Redis at ${t.display}: connection refused (is redis-server running there, on that port?)`);
  if (code === 'ENOTFOUND' || /ENOTFOUND|EAI_AGAIN/.test(msg)) return new UserError(`cannot connect to Redis at ${t.display}: unknown host ${t.host}`);
  if (/certificate|self[- ]signed|SSL|TLS|handshake|wrong version number/i.test(msg) || /^ERR_TLS|^ERR_SSL|CERT/.test(String(code ?? ''))) {
    return new UserError(`TLS connection to Redis at ${t.display} failed: ${msg.trim()}${t.tls ? ' (give the CA that signed the server certificate with --tls-ca FILE)' : ' (the server may expect TLS: use rediss://)'}`);
  }
  if (/ETIMEDOUT|timed? ?out/i.test(msg)) return new UserError(`no answer from Redis at ${t.display} (timed out)${t.tls ? '' : '; if the server expects TLS, use rediss://'}`);
  if (/Connection is closed|ECONNRESET|socket/i.test(msg)) return new UserError(`Redis at ${t.display} closed the connection (${msg.trim()})${t.tls ? '' : '; if the server expects TLS, use rediss://'}`);
  return new UserError(`Redis at ${t.display}: ${msg.trim()}`);
}

/** Connect once, authenticate and PING, so that a wrong URL, password or CA fails at once with a clear message. */
async function checkRedis(libs: QueueLibs, t: RedisTarget): Promise<{ version: string }> {
  const client = new libs.Redis({ ...redisOptions(t), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, connectTimeout: 5000, reconnectOnError: () => false });
  let last: unknown = null;
  client.on('error', (e) => (last = e));
  try {
    await client.connect();
    await client.ping();
    const info = await client.info('server');
    const version = /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? 'unknown';
    return { version };
  } catch (e) {
    throw explainRedisError(last && !/Connection is closed/.test(String((last as Error).message)) ? last : e, t);
  } finally {
    client.disconnect();
  }
}

function connection(t: RedisTarget): ConnectionOptions {
  return redisOptions(t) as ConnectionOptions;
}

/** A result as a worker returned it, checked before the sweep uses it. */
function checkResult(v: unknown, key: string): JobResult {
  const r = v as JobResult | null;
  if (!r || typeof r !== 'object' || r.key !== key || !['unlearn', 'finetune', 'rum-mem'].includes(r.kind)) throw new Error(`job ${key.slice(0, 12)} returned an unexpected result`);
  return r;
}

/** Runs a sweep's jobs on a BullMQ queue (see the module comment) and follows them by polling. */
export class QueueExecutor implements Executor {
  readonly description: string;
  private constructor(
    private readonly queue: BullQueue,
    private readonly target: RedisTarget,
    private readonly pollMs: number,
  ) {
    this.description = `queue ${queue.name} at ${target.display}`;
  }

  static async open(t: RedisTarget, o: { queueName?: string; pollMs?: number; libs?: QueueLibs } = {}): Promise<QueueExecutor> {
    const libs = o.libs ?? (await loadQueueLibs());
    await checkRedis(libs, t);
    const queue = new libs.bullmq.Queue(o.queueName ?? DEFAULT_QUEUE_NAME, { connection: connection(t) });
    queue.on('error', () => {});
    return new QueueExecutor(queue, t, o.pollMs ?? 500);
  }

  async run(jobs: JobEnvelope[], ev: ExecEvents): Promise<void> {
    const open = new Map(jobs.map((j) => [j.key, { started: -1, progress: '' }]));
    // Redis round trips go out in batches (ioredis pipelines concurrent commands on one connection)
    const batched = async <T>(items: T[], f: (x: T) => Promise<void>) => {
      for (let i = 0; i < items.length; i += 200) await Promise.all(items.slice(i, i + 200).map(f));
    };
    await batched(jobs, async (env) => {
      const existing = await this.queue.getJob(env.key);
      if (!existing) await this.queue.add(env.job.kind, env, { jobId: env.key, attempts: 1, removeOnComplete: { age: KEEP_FINISHED_S }, removeOnFail: { age: KEEP_FINISHED_S } });
      else if ((await existing.getState()) === 'failed') await existing.retry('failed');
    });
    while (open.size > 0) {
      await batched([...open], async ([key, seen]) => {
        const job = (await this.queue.getJob(key)) as BullJob | undefined;
        if (!job) {
          open.delete(key);
          ev.onFailed(key, `the job was removed from the queue ${this.queue.name} while the sweep waited for it`, '?');
          return;
        }
        const state = await job.getState();
        // The job's fields were read before its state: a job that finished in between has a stale
        // (empty) return value / reason here, so a finished job is read again.
        const final = state === 'completed' || state === 'failed' ? (((await this.queue.getJob(key)) as BullJob | undefined) ?? job) : job;
        const worker = final.processedBy ?? 'a worker';
        if (state === 'completed') {
          open.delete(key);
          try {
            ev.onDone(key, checkResult(final.returnvalue, key), worker);
          } catch (e) {
            ev.onFailed(key, (e as Error).message, worker);
          }
        } else if (state === 'failed') {
          open.delete(key);
          ev.onFailed(key, final.failedReason || 'failed', worker);
        } else if (state === 'active') {
          if (seen.started !== job.attemptsStarted) {
            seen.started = job.attemptsStarted;
            ev.onStart(key, worker);
          }
          const p = job.progress as JobProgress | number | undefined;
          const text = JSON.stringify(p ?? null);
          if (p && typeof p === 'object' && text !== seen.progress) {
            seen.progress = text;
            ev.onProgress(key, p);
          }
        }
      });
      // poll less often when thousands of jobs are waiting (2 ms per open job, at most 10 s)
      if (open.size > 0) await new Promise((r) => setTimeout(r, Math.max(this.pollMs, Math.min(10_000, 2 * open.size))));
    }
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

export interface WorkerOptions {
  target: RedisTarget;
  store: string;
  queueName?: string;
  /** Jobs at once (default: the cores / threads). */
  concurrency: number;
  /** CPU threads of each job process. */
  threads: number;
  /** Lock duration in ms (default 30000); see the module comment. */
  lockDuration?: number;
  /** Stalled-job check interval in ms (default: half the lock duration, at most 30 s). */
  stalledInterval?: number;
  /** How often a job may stall (its worker died) and be retried before it fails (default 2). */
  maxStalledCount?: number;
  name?: string;
  log?: (line: string) => void;
  /** Stop after this many finished jobs (tests, benchmarks). */
  maxJobs?: number;
}

export interface WorkerHandle {
  name: string;
  /** Resolves once the worker has stopped. */
  closed: Promise<void>;
  /** Finish the running jobs and stop (force: stop at once; the running jobs stall and are retried elsewhere). */
  close(force?: boolean): Promise<void>;
}

/** Start a worker (see the module comment). */
export async function startWorker(o: WorkerOptions): Promise<WorkerHandle> {
  const libs = await loadQueueLibs();
  const store = new Store(o.store);
  const info = await checkRedis(libs, o.target);
  const name = o.name ?? `${os.hostname()}-${process.pid}`;
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const lockDuration = o.lockDuration ?? 30_000;
  const worker: BullWorker = new libs.bullmq.Worker(o.queueName ?? DEFAULT_QUEUE_NAME, ownModulePath('sweep/processor'), {
    connection: connection(o.target),
    name,
    concurrency: o.concurrency,
    lockDuration,
    stalledInterval: o.stalledInterval ?? Math.min(30_000, Math.max(250, Math.floor(lockDuration / 2))),
    maxStalledCount: o.maxStalledCount ?? 2,
    autorun: false,
    workerForkOptions: { env: { ...process.env, UNLEARNKIT_SWEEP_STORE: store.root, UNLEARNKIT_SWEEP_WORKER: name, UNLEARNKIT_THREADS: String(o.threads) } },
  });
  let finished = 0;
  const t0 = new Map<string, number>();
  const label = (j: BullJob | undefined) => (j?.data as JobEnvelope | undefined)?.label ?? j?.id ?? '?';
  worker.on('active', (j) => {
    t0.set(j.id!, performance.now());
    log(`${name}: started ${label(j)} [${j.id?.slice(0, 12)}]${j.attemptsStarted > 1 ? ` (attempt ${j.attemptsStarted})` : ''}`);
  });
  worker.on('completed', (j) => {
    log(`${name}: done ${label(j)} in ${((performance.now() - (t0.get(j.id!) ?? performance.now())) / 1000).toFixed(1)} s`);
    if (o.maxJobs !== undefined && ++finished >= o.maxJobs) void worker.close();
  });
  worker.on('failed', (j, err) => {
    log(`${name}: FAILED ${label(j)}: ${String(err?.message ?? err).split('\n')[0]}`);
    if (o.maxJobs !== undefined && ++finished >= o.maxJobs) void worker.close();
  });
  worker.on('stalled', (id) => log(`${name}: job ${id.slice(0, 12)} stalled (its worker stopped renewing the lock); it goes back to the queue`));
  worker.on('error', (e) => log(`${name}: ${explainRedisError(e, o.target).message}`));
  const closed = worker.run();
  await worker.waitUntilReady();
  log(`${name}: ready on ${o.target.display} (Redis ${info.version}), queue ${worker.name}, store ${store.root}, ${o.concurrency} job(s) at once, ${o.threads} thread(s) each, lock ${lockDuration} ms`);
  return {
    name,
    closed: closed.then(() => undefined),
    close: (force) => worker.close(force),
  };
}
