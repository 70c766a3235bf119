/**
 * Sweeps end to end on the embedded model, with a real redis-server (Debian's package; .ci/run
 * installs it) on loopback ports this test picks:
 *
 *   1. a sweep of 8 small unlearning jobs (+ the fine-tune it runs first) on the local pool of 2
 *      processes; the process that coordinates never loads bullmq or ioredis;
 *   2. the same spec on a password-protected Redis with two `unlearnkit worker`s, one of them
 *      killed with SIGKILL in the middle of a job: the sweep completes, every job finished exactly
 *      once (the store's job log), the killed job was taken over by the other worker, and the
 *      aggregated report is the local pool's, number for number;
 *   3. the same sweep again: no job runs (nothing starts, in the store's log either);
 *   4. a wrong password: a clear error naming the problem (exit 2), the password never printed;
 *   5. TLS (rediss://, a throwaway CA and certificate made with openssl) where this redis-server
 *      build supports it: a RUM memorization sweep whose jobs each outlast the workers' lock
 *      duration several times, and each runs exactly once.
 * Jobs use 1 thread, so the numbers are bit-reproducible and the local and queue runs agree.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cliArgs, REPO_ROOT } from '../helpers/cli.ts';
import { skipLoudly } from '../helpers/fixtures.ts';
import { memSubset } from '../../src/rum/memorization.ts';
import { freePort } from '../../src/util/net.ts';

const TRACE = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'trace-queue-libs.mjs')).href;
const HAVE_REDIS = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;
const HAVE_OPENSSL = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;
const NO_REDIS = 'redis-server is not installed (apt-get install redis-server; .ci/run installs it)';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-sweep-'));
const PASSWORD = crypto.randomBytes(12).toString('hex');
const started: ChildProcess[] = [];

const SPEC = {
  name: 'tiny-grid',
  model: path.join(REPO_ROOT, 'models', 'unlearnkit-base.gguf'),
  data: 'dave',
  finetune: { epochs: 1, lr: 0.003, batch: 8, splits: { forget: 12, retain: 20 }, record: 'first-epoch', recordFilter: 'embedding,block:-1:mlp' },
  grid: { methods: ['first-epoch', 'gradient-ascent'], targets: ['embedding', 'block:-1:mlp'], eta: [1], steps: [1], seeds: [0, 1] },
  hyper: { batch: 4 },
  threads: 1,
  eval: { limit: 6 },
};
const SPEC_FILE = path.join(tmp, 'tiny-grid.json');
fs.writeFileSync(SPEC_FILE, JSON.stringify(SPEC, null, 2));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the source CLI (optionally with extra Node flags) in the temp folder. */
function cli(args: string[], o: { node?: string[]; env?: Record<string, string> } = {}): Promise<Run> {
  const [imp, tsx, ...rest] = cliArgs(...args);
  const child = spawn(process.execPath, [imp!, tsx!, ...(o.node ?? []), ...rest], { cwd: tmp, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

/** Start redis-server in the foreground on loopback; null when it does not come up (e.g. no TLS in this build). */
async function startRedis(args: string[]): Promise<{ proc: ChildProcess; log: () => string } | null> {
  const proc = spawn('redis-server', ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', PASSWORD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(proc);
  let log = '';
  proc.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  for (let i = 0; i < 100; i++) {
    if (/Ready to accept connections/.test(log)) return { proc, log: () => log };
    if (proc.exitCode !== null) return null;
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill('SIGKILL');
  return null;
}

/** Start `unlearnkit worker` and wait until it says it is ready. */
async function startWorker(args: string[]): Promise<{ proc: ChildProcess; log: () => string }> {
  const [imp, tsx, ...rest] = cliArgs('worker', ...args);
  const proc = spawn(process.execPath, [imp!, tsx!, ...rest], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(proc);
  let log = '';
  proc.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  for (let i = 0; i < 1200; i++) {
    if (/: ready on /.test(log)) return { proc, log: () => log };
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`worker did not start: ${log}`);
}

function stop(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
    p.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    p.kill(signal);
  });
}

interface LogLine {
  event: 'start' | 'done' | 'failed';
  worker: string;
  seconds?: number;
}

function storeLog(store: string): Map<string, LogLine[]> {
  const out = new Map<string, LogLine[]>();
  const dir = path.join(store, 'log');
  if (!fs.existsSync(dir)) return out;
  for (const f of fs.readdirSync(dir)) {
    out.set(
      f.replace(/\.jsonl$/, ''),
      fs
        .readFileSync(path.join(dir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as LogLine),
    );
  }
  return out;
}

/** report.md without the line that holds the time it was written. */
function reportText(dir: string): string {
  return fs
    .readFileSync(path.join(dir, 'report', 'report.md'), 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('Generated '))
    .join('\n');
}

let redis: { proc: ChildProcess; port: number } | null = null;
let localReport = '';
const QSTORE = path.join(tmp, 'shared-store');
const QOUT = path.join(tmp, 'sweeps', 'queued');

before(async () => {
  if (!HAVE_REDIS) return;
  const port = await freePort();
  const r = await startRedis(['--port', String(port)]);
  if (!r) throw new Error('redis-server did not start');
  redis = { proc: r.proc, port };
  fs.mkdirSync(QSTORE);
});

after(async () => {
  for (const p of started.reverse()) await stop(p);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function need(t: TestContext): boolean {
  if (!HAVE_REDIS) {
    skipLoudly(t, NO_REDIS);
    return false;
  }
  return true;
}

test('a sweep of 8 unlearning jobs on the local pool, without loading bullmq or ioredis', { timeout: 180_000 }, async (t) => {
  if (!need(t)) return;
  const r = await cli(['sweep', SPEC_FILE, '--workers', '2', '--out', path.join(tmp, 'sweeps', 'local'), '--json'], { node: ['--import', TRACE] });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { jobs: number; ran: number; cached: number; cells: Array<{ id: string; stats: Record<string, { n: number; mean: number }> }> };
  assert.deepEqual([out.jobs, out.ran, out.cached], [9, 9, 0]);
  assert.equal(out.cells.length, 4);
  for (const c of out.cells) assert.equal(c.stats['dNll/forget']!.n, 2, c.id);
  // gradient ascent raises the forget set's NLL on both targets
  for (const c of out.cells.filter((x) => x.id.startsWith('gradient-ascent'))) assert.ok(c.stats['dNll/forget']!.mean > 0, `${c.id}: ${c.stats['dNll/forget']!.mean}`);
  assert.doesNotMatch(r.stderr, /QUEUE_LIB_LOADED/, 'the local sweep loaded bullmq or ioredis');
  localReport = reportText(path.join(tmp, 'sweeps', 'local'));
  assert.match(localReport, /\*\*ΔNLL forget: ΔNLL forget\*\*/);
  assert.match(localReport, /\| first-epoch@embedding eta=1 → gradient-ascent@embedding steps=1 \| forget \|/);
  for (const f of ['report.html', 'charts/effect-sizes.svg', 'charts/layer-heatmap.svg', 'aggregate.json']) assert.ok(fs.existsSync(path.join(tmp, 'sweeps', 'local', 'report', f)), f);
});

let killedKey = '';

test('the same sweep on a password-protected Redis queue, one of two workers killed mid-job: each job finishes once and the report is the same', { timeout: 240_000 }, async (t) => {
  if (!need(t)) return;
  assert.ok(localReport, 'the local-pool test must run first');
  const url = `redis://:${PASSWORD}@127.0.0.1:${redis!.port}`;
  const common = ['--queue', url, '--store', QSTORE, '--concurrency', '1', '--lock-duration', '2000', '--stalled-interval', '500'];
  const [wa, wb] = await Promise.all([startWorker([...common, '--name', 'wA']), startWorker([...common, '--name', 'wB'])]);
  assert.doesNotMatch(wa.log() + wb.log(), new RegExp(PASSWORD), 'a worker printed the password');
  const sweep = cli(['sweep', SPEC_FILE, '--queue', url, '--store', QSTORE, '--out', QOUT, '--json'], { node: ['--import', TRACE] });

  // kill wA as soon as its job process has started a job (the store's log says so), before it ends
  for (let i = 0; i < 2400 && !killedKey; i++) {
    for (const [key, lines] of storeLog(QSTORE)) {
      if (lines.some((l) => l.event === 'start' && l.worker === 'wA') && !lines.some((l) => l.event === 'done')) {
        killedKey = key;
        wa.proc.kill('SIGKILL');
        break;
      }
    }
    if (!killedKey) await new Promise((r) => setTimeout(r, 25));
  }
  assert.ok(killedKey, `worker wA never started a job:\n${wa.log()}`);
  const r = await sweep;
  assert.equal(r.code, 0, `${r.stderr}\n--- wB:\n${wb.log()}`);
  assert.match(r.stderr, /QUEUE_LIB_LOADED .*bullmq/, 'the trace hook saw no bullmq in a queue run');
  const out = JSON.parse(r.stdout) as { jobs: number; ran: number };
  assert.deepEqual([out.jobs, out.ran], [9, 9]);
  assert.equal(fs.readdirSync(path.join(QOUT, 'results')).length, 9);

  const log = storeLog(QSTORE);
  assert.equal(log.size, 9);
  for (const [key, lines] of log) {
    const done = lines.filter((l) => l.event === 'done');
    assert.equal(done.length, 1, `job ${key} finished ${done.length} times: ${JSON.stringify(lines)}`);
    assert.ok(!lines.some((l) => l.event === 'failed'), JSON.stringify(lines));
    if (key === killedKey) {
      assert.deepEqual(lines.map((l) => `${l.event}:${l.worker}`), ['start:wA', 'start:wB', 'done:wB'], 'the killed job is taken over by the other worker');
    } else {
      assert.equal(lines.filter((l) => l.event === 'start').length, 1, `job ${key} started more than once: ${JSON.stringify(lines)}`);
    }
  }
  assert.match(wb.log(), new RegExp(`job ${killedKey.slice(0, 12)} stalled`));
  assert.equal(reportText(QOUT), localReport, 'the queue sweep report differs from the local pool one');
  // its artifacts (the fine-tune run, or an adapter) were published once, complete
  const art = path.join(QSTORE, 'artifacts', killedKey);
  assert.ok(fs.existsSync(path.join(art, 'adapter', 'meta.json')) || fs.existsSync(path.join(art, 'run', 'checkpoint.gguf')), `artifacts of the killed job: ${fs.existsSync(art) ? fs.readdirSync(art).join(', ') : 'none'}`);
  await stop(wb.proc);
});

test('the same sweep run twice does no work the second time', { timeout: 120_000 }, async (t) => {
  if (!need(t)) return;
  assert.ok(killedKey, 'the queue test must run first');
  const before = JSON.stringify([...storeLog(QSTORE)]);
  const url = `redis://:${PASSWORD}@127.0.0.1:${redis!.port}`;
  const r = await cli(['sweep', SPEC_FILE, '--queue', url, '--store', QSTORE, '--out', QOUT, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { jobs: number; ran: number; cached: number };
  assert.deepEqual([out.jobs, out.ran, out.cached], [9, 0, 9]);
  assert.equal(JSON.stringify([...storeLog(QSTORE)]), before, 'a job started again');
  assert.equal(reportText(QOUT), localReport);
  const st = await cli(['sweep', 'status', QOUT, '--json']);
  assert.equal(st.code, 0, st.stderr);
  const s = JSON.parse(st.stdout) as { state: string; counts: { cached: number; total: number } };
  assert.deepEqual([s.state, s.counts.cached, s.counts.total], ['done', 9, 9]);
});

test('a wrong password is a clear error, and the password is not printed', { timeout: 60_000 }, async (t) => {
  if (!need(t)) return;
  const wrong = 'not-the-password-42';
  const r = await cli(['sweep', SPEC_FILE, '--queue', `redis://:${wrong}@127.0.0.1:${redis!.port}`, '--store', QSTORE, '--out', path.join(tmp, 'sweeps', 'wrong'), '--json']);
  assert.equal(r.code, 2, r.stderr);
  const e = JSON.parse(r.stdout) as { error: { message: string; kind: string } };
  assert.equal(e.error.kind, 'user');
  assert.match(e.error.message, new RegExp(`^Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis!.port} refused the password \\(WRONGPASS`));
  assert.ok(!(r.stdout + r.stderr).includes(wrong));
  const w = await cli(['worker', '--queue', `redis://127.0.0.1:${redis!.port}`, '--store', QSTORE]);
  assert.equal(w.code, 2);
  assert.match(w.stderr, /needs a password \(NOAUTH/);
});

test('over TLS where redis-server supports it: RUM memorization jobs longer than the lock run once each', { timeout: 180_000 }, async (t) => {
  if (!need(t)) return;
  let url: string;
  let tlsArgs: string[] = [];
  const port = await freePort();
  let tls: Awaited<ReturnType<typeof startRedis>> = null;
  if (HAVE_OPENSSL) {
    const d = path.join(tmp, 'tls');
    fs.mkdirSync(d);
    const ssl = (...a: string[]) => {
      const r = spawnSync('openssl', a, { cwd: d, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=unlearnkit test CA');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    fs.writeFileSync(path.join(d, 'san.cnf'), 'subjectAltName=IP:127.0.0.1\n');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'san.cnf');
    tls = await startRedis(['--port', '0', '--tls-port', String(port), '--tls-cert-file', path.join(d, 'server.crt'), '--tls-key-file', path.join(d, 'server.key'), '--tls-ca-cert-file', path.join(d, 'ca.crt'), '--tls-auth-clients', 'no']);
    if (tls) tlsArgs = ['--tls-ca', path.join(d, 'ca.crt')];
  }
  if (tls) url = `rediss://:${PASSWORD}@127.0.0.1:${port}`;
  else {
    process.stderr.write(`\n*** this redis-server build has no TLS${HAVE_OPENSSL ? '' : ' (or openssl is missing)'}: the long-job check runs over plain TCP ***\n`);
    url = `redis://:${PASSWORD}@127.0.0.1:${redis!.port}`;
  }
  const file = path.join(tmp, 'mem.yaml');
  fs.writeFileSync(
    file,
    [
      '# RUM memorization: K = 2 models on 70% subsets of 40 synthetic images, one seed',
      'kind: rum-memorization',
      'name: mem',
      'data: synthetic',
      'trainSize: 40',
      'testSize: 4',
      'model: tiny',
      'recipe: {epochs: 80, batch: 16, lr: 0.05}',
      'memorization:',
      '  models: 2',
      '  fraction: 0.7',
      '  seeds: [3]',
      '',
    ].join('\n'),
  );
  const store = path.join(tmp, 'tls-store');
  fs.mkdirSync(store);
  const LOCK_MS = 800;
  const w = await startWorker(['--queue', url, '--store', store, '--concurrency', '1', '--lock-duration', String(LOCK_MS), '--stalled-interval', '300', '--name', 'wT', ...tlsArgs]);
  const r = await cli(['sweep', file, '--queue', url, '--store', store, '--out', path.join(tmp, 'sweeps', 'mem'), '--json', ...tlsArgs]);
  assert.equal(r.code, 0, `${r.stderr}\n--- worker:\n${w.log()}`);
  const log = storeLog(store);
  assert.equal(log.size, 2);
  for (const [key, lines] of log) {
    assert.deepEqual(lines.map((l) => `${l.event}:${l.worker}`), ['start:wT', 'done:wT'], `job ${key}`);
    const s = lines[1]!.seconds!;
    assert.ok(s > 2 * (LOCK_MS / 1000), `job ${key} took ${s} s, not longer than twice the ${LOCK_MS} ms lock: the check would prove nothing`);
  }
  assert.doesNotMatch(w.log(), /stalled/);
  const agg = JSON.parse(fs.readFileSync(path.join(tmp, 'sweeps', 'mem', 'report', 'aggregate.json'), 'utf8')) as { seeds: Array<{ seed: number; models: number; scores: number[] }> };
  assert.deepEqual([agg.seeds.length, agg.seeds[0]!.seed, agg.seeds[0]!.models, agg.seeds[0]!.scores.length], [1, 3, 2, 40]);
  for (const f of fs.readdirSync(path.join(tmp, 'sweeps', 'mem', 'results'))) {
    const res = JSON.parse(fs.readFileSync(path.join(tmp, 'sweeps', 'mem', 'results', f), 'utf8')) as { k: number; subset: number[]; correct: string };
    assert.deepEqual(res.subset, memSubset(40, 0.7, 3, res.k));
    assert.match(res.correct, /^[01]{40}$/);
  }
  await stop(w.proc);
  if (tls) await stop(tls.proc);
});
