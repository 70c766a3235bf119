/**
 * Running one sweep job in this process, with the same library functions the CLI commands call:
 *   finetune  -> train/finetune.ts finetune()            (unlearnkit finetune)
 *   unlearn   -> unlearn/run.ts runUnlearn()              (unlearnkit unlearn), then optionally
 *                eval/evaluate.ts evaluate()              (unlearnkit eval) on the unlearned model
 *   rum-mem   -> rum/memorization.ts trainMemModel()      (one of `unlearnkit rum memorization`'s K models)
 *
 * Inputs come from the store by hash (store.resolve), outputs are built under the store's tmp/ and
 * published atomically to artifacts/<key>/. The result is plain JSON (it travels through the
 * queue); paths in it are relative to the store. The job's log in the store gets a line when the
 * job starts and when it finishes or fails.
 *
 * A process keeps the prepared unlearning run (the fine-tuned model, tokenised sets and the
 * before-measurement) between jobs that share it, as `runUnlearn({ prepared })` allows, so a worker
 * running many seeds x methods of one sweep measures the fine-tuned model once per seed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { getEngine } from '../engine/engine.ts';
import { UserError } from '../util/errors.ts';
import { checkEnvelope, cellId, type FinetuneJob, type JobEnvelope, type RumMemJob, type UnlearnJob } from './jobs.ts';
import { Store, type InputRef } from './store.ts';

export interface JobProgress {
  /** 0..1 of this job. */
  fraction: number;
  /** What it is doing (e.g. "first-epoch step 3/8"). */
  note: string;
}

export interface RunHooks {
  /** Worker name for the store's log. */
  worker: string;
  onProgress?: (p: JobProgress) => void;
  /** Checked at every progress step; false ends this process (its parent, the worker, is gone). */
  alive?: () => boolean;
}

export interface UnlearnJobResult {
  kind: 'unlearn';
  key: string;
  cell: string;
  method: string;
  target: string;
  seed: number;
  settings: Record<string, number | string | boolean>;
  /** Outcome name ("dNll/forget", "dRougeL/forget", "eval:<metric>/<split>/<key>") -> value. */
  outcomes: Record<string, number>;
  forgetCount: number;
  deltaNorm: number;
  changedTensors: string[];
  warnings: string[];
  artifacts: { adapter: string | null; eval: string | null };
  seconds: number;
}

export interface FinetuneJobResult {
  kind: 'finetune';
  key: string;
  run: string;
  items: number;
  epochs: Array<{ epoch: number; meanLoss: number; seconds: number }>;
  trainedTensors: string[];
  recordedTensors: string[];
  seconds: number;
}

export interface RumMemJobResult {
  kind: 'rum-mem';
  key: string;
  seed: number;
  k: number;
  n: number;
  subset: number[];
  /** '0' / '1' per training example: correct after training. */
  correct: string;
  seconds: number;
}

export type JobResult = UnlearnJobResult | FinetuneJobResult | RumMemJobResult;

let checkCtx: { methods: string[]; metrics: string[] } | null = null;

/** Method and metric names a worker accepts (the registries; retain-only is not run in sweeps). */
export async function workerCheckContext(): Promise<{ methods: string[]; metrics: string[] }> {
  if (!checkCtx) {
    const { listMethods } = await import('../unlearn/registry.ts');
    await import('../eval/metrics.ts');
    const { listMetrics } = await import('../eval/registry.ts');
    checkCtx = { methods: listMethods().map((m) => m.name).filter((m) => m !== 'retain-only'), metrics: listMetrics().map((m) => m.name) };
  }
  return checkCtx;
}

/** The thread count this process's engine computes with once `threads` is asked (fixed after the first graph). */
export function engineThreads(threads: number): number {
  return getEngine({ threads }).maxThreads;
}

/** Check `raw` again (checkEnvelope) and run it; see the module comment. */
export async function runJob(store: Store, raw: unknown, hooks: RunHooks): Promise<JobResult> {
  const env = checkEnvelope(raw, await workerCheckContext());
  const t0 = performance.now();
  store.log(env.key, { event: 'start', worker: hooks.worker });
  try {
    engineThreads(env.job.threads);
    const r = await dispatch(store, env, hooks);
    r.seconds = (performance.now() - t0) / 1000;
    store.log(env.key, { event: 'done', worker: hooks.worker, seconds: r.seconds });
    return r;
  } catch (e) {
    store.log(env.key, { event: 'failed', worker: hooks.worker, seconds: (performance.now() - t0) / 1000, error: (e as Error).message?.slice(0, 500) });
    throw e;
  }
}

function progress(hooks: RunHooks): (fraction: number, note: string) => void {
  let last = 0;
  return (fraction, note) => {
    if (hooks.alive && !hooks.alive()) process.exit(1);
    const now = performance.now();
    if (now - last < 250 && fraction < 1) return;
    last = now;
    hooks.onProgress?.({ fraction: Math.max(0, Math.min(1, fraction)), note });
  };
}

function dispatch(store: Store, env: JobEnvelope, hooks: RunHooks): Promise<JobResult> {
  const job = env.job;
  if (job.kind === 'finetune') return runFinetuneJob(store, env.key, job, hooks);
  if (job.kind === 'unlearn') return runUnlearnJob(store, env.key, job, hooks);
  return runRumMemJob(store, env.key, job, hooks);
}

/** A dataset in the store: a folder (Dave format) or a TOFU file. */
function dataPath(store: Store, ref: InputRef): string {
  return store.resolve(ref);
}

async function runFinetuneJob(store: Store, key: string, job: FinetuneJob, hooks: RunHooks): Promise<FinetuneJobResult> {
  const { finetune } = await import('../train/finetune.ts');
  const { factExamples, replayTexts } = await import('../train/examples.ts');
  const { getDataset } = await import('../data/dataset.ts');
  const s = job.settings;
  const ds = getDataset(dataPath(store, job.data));
  const facts = Object.entries(s.splits).flatMap(([split, n]) => {
    const all = ds.facts(split as 'forget');
    return n === null ? all : all.slice(0, n);
  });
  const replay = replayTexts(s.replay, new Set(ds.texts().map((t) => t.text)));
  const items = [...factExamples(facts), ...replay];
  const tmp = store.tmpDir(key);
  const tick = progress(hooks);
  try {
    const r = finetune({
      modelPath: store.resolve(job.model),
      items,
      out: path.join(tmp, 'run'),
      epochs: s.epochs,
      lr: s.lr,
      batch: s.batch,
      optimizer: s.optimizer,
      weightDecay: s.weightDecay,
      filter: s.filter,
      record: s.record,
      recordFilter: s.recordFilter ?? undefined,
      recordDtype: s.recordDtype,
      seed: s.seed,
      quiet: true,
      onStep: (st) => tick(((st.epoch - 1) * st.stepsPerEpoch + st.step) / (s.epochs * st.stepsPerEpoch), `epoch ${st.epoch} step ${st.step}/${st.stepsPerEpoch} loss ${st.loss.toFixed(3)}`),
    });
    store.publish(key, tmp);
    return {
      kind: 'finetune',
      key,
      run: `artifacts/${key}/run`,
      items: items.length,
      epochs: r.epochs.map((e) => ({ epoch: e.epoch, meanLoss: e.meanLoss, seconds: e.seconds })),
      trainedTensors: r.trainedTensors,
      recordedTensors: r.recordedTensors,
      seconds: 0,
    };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Prepared runs kept by this process (see the module comment), most recent last. */
const preparedCache: Array<{ key: string; prepared: import('../unlearn/prepare.ts').Prepared }> = [];

async function preparedFor(from: string, data: string, job: UnlearnJob): Promise<import('../unlearn/prepare.ts').Prepared> {
  const { prepare } = await import('../unlearn/prepare.ts');
  const key = JSON.stringify([from, data, job.seed, job.eval.limit, job.eval.forgetLimit, job.eval.rouge]);
  const hit = preparedCache.find((c) => c.key === key);
  if (hit) return hit.prepared;
  const prepared = prepare({ from, data, forget: 'forget', limit: job.eval.forgetLimit ?? undefined, evalLimit: job.eval.limit, rouge: job.eval.rouge, seed: job.seed });
  preparedCache.push({ key, prepared });
  if (preparedCache.length > 2) preparedCache.shift();
  return prepared;
}

async function runUnlearnJob(store: Store, key: string, job: UnlearnJob, hooks: RunHooks): Promise<UnlearnJobResult> {
  const { runUnlearn } = await import('../unlearn/run.ts');
  const from = store.resolve(job.from);
  const data = dataPath(store, job.data);
  const tick = progress(hooks);
  tick(0, 'preparing');
  const prepared = await preparedFor(from, data, job);
  const wantEval = job.eval.metrics.length > 0;
  const writeAdapter = job.eval.adapter || wantEval;
  const tmp = writeAdapter ? store.tmpDir(key) : null;
  try {
    const r = await runUnlearn({
      from,
      data,
      prepared,
      method: job.method,
      target: job.target,
      hyper: job.hyper,
      seed: job.seed,
      adaptersDir: tmp ?? undefined,
      runId: 'adapter',
      overwrite: true, // the job's own temporary folder (a retried job may find its earlier try)
      noAdapter: !writeAdapter,
      merged: wantEval,
      quiet: true,
      onProgress: (e) => tick(wantEval ? (0.7 * e.step) / Math.max(1, e.total) : e.step / Math.max(1, e.total), `${e.method} step ${e.step}/${e.total}`),
    });
    const outcomes: Record<string, number> = {};
    for (const [set, s] of Object.entries(r.summary)) {
      if (set.startsWith('rougeL:')) outcomes[`dRougeL/${set.slice('rougeL:'.length)}`] = s.meanLogLikChange;
      else outcomes[`dNll/${set}`] = -s.meanLogLikChange;
    }
    let evalDir: string | null = null;
    if (wantEval && tmp) {
      const model = r.adapter?.mergedPath ?? null;
      const { evaluate } = await import('../eval/evaluate.ts');
      tick(0.7, 'evaluating');
      const ev = await evaluate({
        modelPath: prepared.source.checkpoint,
        adapter: model ?? undefined,
        data,
        metrics: job.eval.metrics,
        limit: job.eval.limit > 0 ? job.eval.limit : undefined,
        out: path.join(tmp, 'eval'),
        runId: 'eval',
        label: cellId(job),
        method: job.method,
        target: job.target,
        onProgress: (p) => tick(0.7 + (0.3 * (p.index + (p.phase === 'done' ? 1 : 0))) / Math.max(1, p.total), `eval ${p.metric}`),
      });
      for (const [metric, res] of Object.entries(ev.results)) {
        for (const [split, sp] of Object.entries(res.splits)) {
          for (const [k, v] of Object.entries(sp!.summary)) if (typeof v === 'number' && Number.isFinite(v) && k !== 'n' && k !== 'tokens') outcomes[`eval:${metric}/${split}/${k}`] = v;
        }
        // cross-split numbers: plain numbers, or entries {value, reason?, ...} (TOFU's forget_quality,
        // model_utility, privleak, ...); an entry not computed (value null) is no outcome
        for (const [k, v] of Object.entries(res.summary)) {
          const x = typeof v === 'number' ? v : v !== null && typeof v === 'object' && typeof v.value === 'number' ? v.value : NaN;
          if (Number.isFinite(x)) outcomes[`eval:${metric}/all/${k}`] = x;
        }
      }
      evalDir = `artifacts/${key}/eval`;
    }
    if (tmp) store.publish(key, tmp);
    tick(1, 'done');
    return {
      kind: 'unlearn',
      key,
      cell: cellId(job),
      method: job.method,
      target: job.target,
      seed: job.seed,
      settings: r.settings,
      outcomes,
      forgetCount: r.forget.count,
      deltaNorm: r.deltaNorm,
      changedTensors: r.changedTensors,
      warnings: r.warnings,
      artifacts: { adapter: tmp && r.adapter ? `artifacts/${key}/adapter` : null, eval: evalDir },
      seconds: 0,
    };
  } catch (e) {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

async function runRumMemJob(store: Store, key: string, job: RumMemJob, hooks: RunHooks): Promise<RumMemJobResult> {
  const { experimentSetup } = await import('../rum/experiment.ts');
  const { trainMemModel } = await import('../rum/memorization.ts');
  const tick = progress(hooks);
  const dataArg = 'builtin' in job.data ? job.data.builtin : store.resolve(job.data);
  const over: { baseWidth?: number; blocks?: number[] } = {};
  if (job.width !== null) over.baseWidth = job.width;
  if (job.blocks !== null) over.blocks = job.blocks;
  const { data, config } = experimentSetup(dataArg, { trainSize: job.trainSize, testSize: job.testSize, model: job.model, over });
  if (data.train.n !== job.trainSize) throw new UserError(`the data has ${data.train.n} training images, fewer than trainSize ${job.trainSize}`);
  tick(0, `training model ${job.k + 1}`);
  const m = trainMemModel({ config, train: data.train, recipe: job.recipe, seed: job.seed, fraction: job.fraction, quiet: true }, job.k, { label: `mem model ${job.k + 1}` });
  tick(1, 'done');
  return { kind: 'rum-mem', key, seed: job.seed, k: job.k, n: data.train.n, subset: m.subset, correct: m.correct, seconds: 0 };
}
