/**
 * BullMQ's sandboxed processor for `unlearnkit worker`: BullMQ forks a child process that imports
 * this module and calls its default export for each job (the worker's own process only renews
 * locks and talks to Redis; see queue.ts). The store and the worker's name come from the worker
 * (UNLEARNKIT_SWEEP_STORE, UNLEARNKIT_SWEEP_WORKER in the child's environment), never from the job.
 *
 * The job is checked again before anything runs (runner.ts runJob -> jobs.ts checkEnvelope). A
 * process computes with the thread count of its first job; a job that asks for another count runs
 * in a fresh job process (local.ts runInFreshProcess) so that it gets exactly what it asked for.
 * If the worker dies, this child exits at the next progress step instead of finishing a job
 * another worker will redo.
 */
import type { SandboxedJob } from 'bullmq';
import { Store } from './store.ts';
import { engineThreads, runJob, workerCheckContext, type JobProgress, type JobResult } from './runner.ts';
import { checkEnvelope } from './jobs.ts';
import { runInFreshProcess } from './local.ts';

const parent = process.ppid;
const alive = () => process.ppid === parent && process.connected !== false;
process.on('disconnect', () => process.exit(1));

let store: Store | null = null;

export default async function sweepProcessor(job: SandboxedJob): Promise<JobResult> {
  const root = process.env.UNLEARNKIT_SWEEP_STORE;
  if (!root) throw new Error('UNLEARNKIT_SWEEP_STORE is not set: this processor runs inside `unlearnkit worker`');
  store ??= new Store(root);
  const worker = process.env.UNLEARNKIT_SWEEP_WORKER ?? `worker-${parent}`;
  const onProgress = (p: JobProgress) => void job.updateProgress(p as unknown as Record<string, unknown>).catch(() => {});
  const env = checkEnvelope(job.data, await workerCheckContext());
  if (engineThreads(env.job.threads) !== env.job.threads) return runInFreshProcess(store.root, job.data, worker, env.job.threads, onProgress);
  return runJob(store, job.data, { worker, alive, onProgress });
}
