/**
 * Sweeps (src/sweep):
 *   unlearnkit sweep SPEC [--queue redis://HOST:PORT --store DIR] [--workers N]   run a grid, one report
 *   unlearnkit sweep status [SWEEP]                                               progress of a sweep
 *   unlearnkit worker --queue redis://HOST:PORT --store DIR                       take jobs from a queue
 * Without --queue the jobs run in a pool of processes on this machine; bullmq and ioredis are
 * loaded only with --queue and by `worker`.
 */
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../util/errors.ts';
import { outputPath } from '../util/paths.ts';
import { deviceOption, resolveDevice } from './deviceOption.ts';

function int(v: unknown, what: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UserError(`${what} must be a whole number >= ${min}, got '${String(v)}'`);
  return n;
}

export function register(program: Command): void {
  const sweep = program
    .command('sweep')
    .description('run a grid of unlearning runs (methods x layer targets x step settings x seeds) or RUM memorization models from a spec file, locally or on a Redis queue, into one report')
    .argument('[spec]', 'sweep spec (.yaml or .json); see the README section "Sweeps"')
    .option('--queue <url>', 'run the jobs on a BullMQ queue in Redis (redis://[:PASSWORD@]HOST:PORT, rediss:// for TLS) that `unlearnkit worker`s take them from')
    .option('--store <dir>', 'folder for inputs and artifacts by content hash (default <sweep>/store; with --queue a folder every worker can reach)')
    .option('--out <dir>', 'sweep folder: status, results, report (default sweeps/<name>)')
    .option('--workers <n>', 'local pool: processes (default: cores / the spec\'s threads)')
    .option('--tls-ca <pem>', 'rediss://: the CA certificate that signed the Redis server\'s certificate')
    .option('--queue-name <name>', 'BullMQ queue name', 'unlearnkit-sweep')
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress lines')
    .addOption(deviceOption('compute device of the local pool\'s jobs (queue workers use their own --device)'))
    .action(async (specFile: string | undefined, o: Record<string, string | boolean | undefined>) => {
      if (!specFile) throw new UserError('give a sweep spec file (unlearnkit sweep SPEC), or `unlearnkit sweep status [SWEEP]`');
      resolveDevice(o, { engine: 'none' });
      const { runSweep } = await import('../sweep/run.ts');
      const { cellsText } = await import('../sweep/aggregate.ts');
      const quiet = !!o.quiet || !!o.json;
      const r = await runSweep({
        specFile,
        out: o.out as string | undefined,
        store: o.store as string | undefined,
        queue: o.queue as string | undefined,
        tlsCa: o.tlsCa as string | undefined,
        queueName: o.queueName as string | undefined,
        workers: int(o.workers, '--workers', 1),
        log: quiet ? null : undefined,
      });
      if (o.json) {
        const { aggregate, ...rest } = r;
        return void process.stdout.write(JSON.stringify({ ...rest, cells: aggregate.cells, outcomes: aggregate.outcomes }, null, 2) + '\n');
      }
      process.stdout.write(
        [
          `sweep ${r.name}: ${r.jobs} jobs, ${r.ran} run now, ${r.cached} finished earlier (${r.seconds.toFixed(1)} s; ${r.executor})`,
          '',
          cellsText(r.aggregate),
          '',
          `report: ${path.relative(process.cwd(), r.report.html)}`,
          `        ${path.relative(process.cwd(), r.report.markdown)}`,
        ].join('\n') + '\n',
      );
    });

  sweep
    .command('status')
    .description('progress of a sweep: every job\'s state (waiting, running where and how far, done, failed) and the counts')
    .argument('[sweep]', 'sweep folder or its spec file (default: every sweep under sweeps/)')
    .option('--json', 'print status.json')
    .option('--no-jobs', 'only the counts')
    .action(async (ref: string | undefined, _o: unknown, cmd: Command) => {
      // `sweep` has a --json of its own: read the options of both levels
      const o = cmd.optsWithGlobals<{ json?: boolean; jobs?: boolean }>();
      const { formatStatus, listSweeps, readStatus } = await import('../sweep/status.ts');
      const { resolveSweepDir } = await import('../sweep/run.ts');
      const dir = await resolveSweepDir(ref);
      const all = dir ? [{ dir, status: readStatus(dir) }] : listSweeps(outputPath('sweeps'));
      if (all.length === 0) throw new UserError(`no sweeps under ${outputPath('sweeps')}; give a sweep folder or spec file`);
      if (o.json) return void process.stdout.write(JSON.stringify(dir ? all[0]!.status : all.map((s) => s.status), null, 2) + '\n');
      process.stdout.write(all.map((s) => formatStatus(s.status, { jobs: o.jobs !== false && (!!dir || all.length === 1) })).join('\n\n') + '\n');
    });

  program
    .command('worker')
    .description('take sweep jobs from a Redis queue and run each in a child process; results go back through the queue, artifacts to the shared --store')
    .requiredOption('--queue <url>', 'redis://[:PASSWORD@]HOST:PORT (rediss:// for TLS); the password can also come from UNLEARNKIT_REDIS_PASSWORD')
    .requiredOption('--store <dir>', 'the store folder the sweep was started with (a shared filesystem)')
    .option('--concurrency <n>', 'jobs at once (default: cores / --threads)')
    .option('--threads <n>', 'CPU threads per job process (a job asking for another count gets its own process)', '1')
    .option('--lock-duration <ms>', 'job lock; renewed every half of it while the job runs, so it only bounds how soon a dead worker\'s job is retried', '30000')
    .option('--stalled-interval <ms>', 'how often to look for jobs whose worker died (default: half the lock duration, at most 30 s)')
    .option('--max-stalled <n>', 'times a job may lose its worker and be retried before it fails', '2')
    .option('--name <name>', 'worker name in logs and the store (default <host>-<pid>)')
    .option('--queue-name <name>', 'BullMQ queue name', 'unlearnkit-sweep')
    .option('--tls-ca <pem>', 'rediss://: the CA certificate that signed the Redis server\'s certificate')
    .option('--max-jobs <n>', 'stop after this many jobs')
    .addOption(deviceOption())
    .action(async (o: Record<string, string | boolean | undefined>) => {
      resolveDevice(o, { engine: 'none' });
      const { parseRedisUrl, startWorker } = await import('../sweep/queue.ts');
      const target = parseRedisUrl(String(o.queue), { tlsCa: o.tlsCa as string | undefined });
      const threads = int(o.threads, '--threads', 1)!;
      const h = await startWorker({
        target,
        store: String(o.store),
        queueName: String(o.queueName),
        concurrency: int(o.concurrency, '--concurrency', 1) ?? Math.max(1, Math.floor(os.availableParallelism() / threads)),
        threads,
        lockDuration: int(o.lockDuration, '--lock-duration', 100),
        stalledInterval: int(o.stalledInterval, '--stalled-interval', 50),
        maxStalledCount: int(o.maxStalled, '--max-stalled', 0),
        name: o.name as string | undefined,
        maxJobs: int(o.maxJobs, '--max-jobs', 1),
      });
      let stopping = false;
      const stop = () => {
        if (stopping) {
          process.stderr.write(`${h.name}: stopping now; running jobs go back to the queue when their lock expires\n`);
          void h.close(true);
          return;
        }
        stopping = true;
        process.stderr.write(`${h.name}: finishing the running jobs, then stopping (again to stop at once)\n`);
        void h.close();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      await h.closed;
      process.stderr.write(`${h.name}: stopped\n`);
    });
}
