/**
 * The job handlers, one module per kind, loaded only in the job process that runs them. Each calls
 * the same library code as the matching CLI command.
 */
import type { JobKind, JobTypes } from '../protocol.ts';

export interface JobContext<P> {
  /** Fires when the user cancels (Esc); handlers pass it to the library and throw when it stops early. */
  signal: AbortSignal;
  emit(progress: P): void;
}

export type Handler<K extends JobKind> = (params: JobTypes[K]['params'], ctx: JobContext<JobTypes[K]['progress']>) => Promise<JobTypes[K]['result']>;

export const HANDLERS: { [K in JobKind]: () => Promise<{ run: Handler<K> }> } = {
  describe: () => import('./describe.ts'),
  finetune: () => import('./finetune.ts'),
  unlearn: () => import('./unlearn.ts'),
  report: () => import('./report.ts'),
  fuzzy: () => import('./fuzzy.ts'),
  rum: () => import('./rum.ts'),
  convert: () => import('./convert.ts'),
};
