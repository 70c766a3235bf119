/**
 * Entry of a job process: a child that runs sweep jobs sent over its IPC channel, one at a time,
 * with runJob (runner.ts). The local pool (local.ts) keeps several alive for a whole sweep; the
 * queue worker's sandboxed processor (processor.ts) starts one for a single job when the job asks
 * for another thread count than its own process computes with.
 *
 * Messages in:  { type: 'run', store, envelope, worker }   { type: 'exit' }
 * Messages out: { type: 'ready' } { type: 'progress', key, progress } { type: 'done', key, result }
 *               { type: 'failed', key, error: { message, user } }
 *
 * The process exits when its parent goes away (IPC disconnect, or a changed parent pid seen at a
 * progress step), so a killed worker leaves no job running behind it.
 */
import { Store } from './store.ts';
import { runJob, type JobProgress, type JobResult } from './runner.ts';
import { UserError } from '../util/errors.ts';

export type ToJobProcess = { type: 'run'; store: string; envelope: unknown; worker: string } | { type: 'exit' };
export type FromJobProcess =
  | { type: 'ready' }
  | { type: 'progress'; key: string; progress: JobProgress }
  | { type: 'done'; key: string; result: JobResult }
  | { type: 'failed'; key: string; error: { message: string; user: boolean } };

const parent = process.ppid;
const alive = () => process.ppid === parent && process.connected;
const send = (m: FromJobProcess) => {
  if (process.connected) process.send!(m);
};

process.on('disconnect', () => process.exit(1));
const stores = new Map<string, Store>();

process.on('message', (m: ToJobProcess) => {
  if (m.type === 'exit') return void process.exit(0);
  if (m.type !== 'run') return;
  const key = typeof (m.envelope as { key?: unknown })?.key === 'string' ? String((m.envelope as { key: string }).key) : '?';
  void (async () => {
    try {
      let store = stores.get(m.store);
      if (!store) stores.set(m.store, (store = new Store(m.store)));
      const result = await runJob(store, m.envelope, { worker: m.worker, alive, onProgress: (progress) => send({ type: 'progress', key, progress }) });
      send({ type: 'done', key, result });
    } catch (e) {
      const err = e as Error;
      send({ type: 'failed', key, error: { message: err instanceof UserError ? err.message : `${err.name}: ${err.message}\n${err.stack ?? ''}`, user: err instanceof UserError } });
    }
  })();
});

send({ type: 'ready' });
