/**
 * Sweep jobs: the unit a worker runs. A job is plain JSON (settings and the store references of
 * its inputs); its key is sha256 over the canonical JSON of the job and the unlearnkit version, so
 * the key changes exactly when the settings, the content of an input, or the code version do. A
 * job whose key already has a result is never run again.
 *
 * `expandSpec` turns a spec into phases of jobs (a fine-tune to run first, then the grid; or RUM's
 * K models per seed); `checkEnvelope` is what a worker runs on whatever it took from a queue
 * before doing anything: every field of the job is checked again, references are hashes only, and
 * the key must match the job.
 */
import { UserError } from '../util/errors.ts';
import { FACT_SPLITS } from '../data/types.ts';
import type { UnlearnHyper } from '../unlearn/types.ts';
import { canonicalJson, HEX64, sha256, unlearnkitVersion } from './hash.ts';
import { ARTIFACT_PATH, EXT_PATTERN, type InputRef } from './store.ts';
import { NAME_PATTERN, TARGET_PATTERN, type FinetuneSettings, type RumSweepSpec, type UnlearnEvalOptions, type UnlearnSweepSpec } from './spec.ts';

export interface FinetuneJob {
  kind: 'finetune';
  model: InputRef;
  data: InputRef;
  settings: FinetuneSettings;
  threads: number;
}

export interface UnlearnJob {
  kind: 'unlearn';
  /** The fine-tune run folder. */
  from: InputRef;
  data: InputRef;
  method: string;
  target: string;
  /** Only the settings the method reads; absent = the method's default. */
  hyper: Partial<UnlearnHyper>;
  seed: number;
  eval: UnlearnEvalOptions;
  threads: number;
}

export interface RumMemJob {
  kind: 'rum-mem';
  data: InputRef;
  trainSize: number;
  testSize: number;
  model: string;
  width: number | null;
  blocks: number[] | null;
  recipe: RumSweepSpec['recipe'];
  fraction: number;
  seed: number;
  /** Which of the K models. */
  k: number;
  threads: number;
}

export type JobSpec = FinetuneJob | UnlearnJob | RumMemJob;

/** A job with its key, as it travels to a worker. */
export interface JobEnvelope {
  key: string;
  /** Short human description (logs, status). */
  label: string;
  sweep: string;
  job: JobSpec;
}

/** The key of a job: sha256 of its canonical JSON and the unlearnkit version. */
export function jobKey(job: JobSpec): string {
  return sha256(canonicalJson({ unlearnkit: unlearnkitVersion(), job }));
}

function envelope(sweep: string, job: JobSpec, label: string): JobEnvelope {
  return { key: jobKey(job), label, sweep, job };
}

/** Settings of a step grid point in the order they are shown. */
const STEP_KEYS = ['eta', 'lr', 'steps'] as const;

/** "eta=1 lr=0.003" for the step settings a job sets explicitly. */
function settingsLabel(h: Partial<UnlearnHyper>): string {
  return STEP_KEYS.filter((k) => h[k] !== undefined)
    .map((k) => `${k}=${h[k]}`)
    .join(' ');
}

/** A grid cell: method, target and step settings (every seed of it). */
export function cellId(j: UnlearnJob): string {
  const s = settingsLabel(j.hyper);
  return `${j.method}@${j.target}${s ? ` ${s}` : ''}`;
}

export interface Phase {
  name: string;
  jobs: JobEnvelope[];
}

export interface UnlearnInputs {
  /** The base model (when the sweep fine-tunes first). */
  model: InputRef | null;
  data: InputRef;
  /** The run to unlearn from (when given by `finetune.from`). */
  from: InputRef | null;
}

/**
 * The jobs of an unlearning sweep: [fine-tune,] then methods x targets x (the step settings each
 * method uses) x seeds. `uses` gives each method's settings (the registry's `uses`).
 */
export function expandUnlearn(spec: UnlearnSweepSpec, inputs: UnlearnInputs, uses: (method: string) => readonly string[]): Phase[] {
  const phases: Phase[] = [];
  let from: InputRef;
  if ('from' in spec.finetune) {
    if (!inputs.from) throw new Error('expandUnlearn: the run to start from is not in the store');
    from = inputs.from;
  } else {
    if (!inputs.model) throw new Error('expandUnlearn: the base model is not in the store');
    const ft: FinetuneJob = { kind: 'finetune', model: inputs.model, data: inputs.data, settings: spec.finetune, threads: spec.threads };
    const env = envelope(spec.name, ft, 'finetune');
    phases.push({ name: 'finetune', jobs: [env] });
    from = { artifact: env.key, path: 'run' };
  }
  const jobs: JobEnvelope[] = [];
  const seen = new Set<string>();
  for (const method of spec.grid.methods) {
    const u = new Set(uses(method));
    const hypers: Array<Partial<UnlearnHyper>> = [];
    for (const eta of u.has('eta') ? spec.grid.eta : ['default' as const]) {
      for (const lr of u.has('lr') ? spec.grid.lr : ['default' as const]) {
        for (const steps of u.has('steps') ? spec.grid.steps : ['default' as const]) {
          const h: Partial<UnlearnHyper> = {};
          if (eta !== 'default') h.eta = eta;
          if (lr !== 'default') h.lr = lr;
          if (steps !== 'default') h.steps = steps;
          for (const [k, v] of Object.entries(spec.hyper)) if (u.has(k)) (h as Record<string, unknown>)[k] = v;
          hypers.push(h);
        }
      }
    }
    for (const target of spec.grid.targets) {
      for (const hyper of hypers) {
        for (const seed of spec.grid.seeds) {
          const job: UnlearnJob = { kind: 'unlearn', from, data: inputs.data, method, target, hyper, seed, eval: spec.eval, threads: spec.threads };
          const env = envelope(spec.name, job, `${cellId(job)} seed=${seed}`);
          if (seen.has(env.key)) continue;
          seen.add(env.key);
          jobs.push(env);
        }
      }
    }
  }
  phases.push({ name: 'unlearn', jobs });
  return phases;
}

/** The jobs of a RUM memorization sweep: K models per seed. */
export function expandRum(spec: RumSweepSpec, data: InputRef): Phase[] {
  const jobs: JobEnvelope[] = [];
  for (const seed of spec.seeds) {
    for (let k = 0; k < spec.models; k++) {
      const job: RumMemJob = {
        kind: 'rum-mem',
        data,
        trainSize: spec.trainSize,
        testSize: spec.testSize,
        model: spec.model,
        width: spec.width,
        blocks: spec.blocks,
        recipe: spec.recipe,
        fraction: spec.fraction,
        seed,
        k,
        threads: spec.threads,
      };
      jobs.push(envelope(spec.name, job, `memorization seed=${seed} model ${k + 1}/${spec.models}`));
    }
  }
  return [{ name: 'memorization', jobs }];
}

// --- the worker's check of a job it was given ------------------------------------------------

type J = Record<string, unknown>;

function bad(field: string, msg: string): never {
  throw new UserError(`rejected job: ${field} ${msg}`);
}

function obj(v: unknown, field: string): J {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(field, 'must be an object');
  return v as J;
}

function only(o: J, field: string, keys: readonly string[]): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) bad(`${field}.${k}`, 'is not a known field');
}

function num(v: unknown, field: string, o: { int?: boolean; min?: number; max?: number; gt?: number; lt?: number } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(field, 'must be a finite number');
  if (o.int && !Number.isInteger(v)) bad(field, 'must be a whole number');
  if (o.min !== undefined && v < o.min) bad(field, `must be >= ${o.min}`);
  if (o.max !== undefined && v > o.max) bad(field, `must be <= ${o.max}`);
  if (o.gt !== undefined && !(v > o.gt)) bad(field, `must be > ${o.gt}`);
  if (o.lt !== undefined && !(v < o.lt)) bad(field, `must be < ${o.lt}`);
  return v;
}

function str(v: unknown, field: string, o: { choices?: readonly string[]; pattern?: RegExp } = {}): string {
  if (typeof v !== 'string') bad(field, 'must be a string');
  if (o.choices && !o.choices.includes(v)) bad(field, `must be one of ${o.choices.join(', ')}`);
  if (o.pattern && !o.pattern.test(v)) bad(field, 'has characters or a length not allowed here');
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') bad(field, 'must be true or false');
  return v;
}

function ref(v: unknown, field: string, kinds: ReadonlyArray<'blob' | 'tree' | 'artifact' | 'builtin'>): InputRef {
  const o = obj(v, field);
  if ('blob' in o && kinds.includes('blob')) {
    only(o, field, ['blob', 'ext']);
    return { blob: str(o.blob, `${field}.blob`, { pattern: HEX64 }), ext: str(o.ext, `${field}.ext`, { pattern: EXT_PATTERN }) };
  }
  if ('tree' in o && kinds.includes('tree')) {
    only(o, field, ['tree']);
    return { tree: str(o.tree, `${field}.tree`, { pattern: HEX64 }) };
  }
  if ('artifact' in o && kinds.includes('artifact')) {
    only(o, field, ['artifact', 'path']);
    return { artifact: str(o.artifact, `${field}.artifact`, { pattern: HEX64 }), path: str(o.path, `${field}.path`, { pattern: ARTIFACT_PATH }) };
  }
  if ('builtin' in o && kinds.includes('builtin')) {
    only(o, field, ['builtin']);
    return { builtin: str(o.builtin, `${field}.builtin`, { choices: ['synthetic'] }) as 'synthetic' };
  }
  return bad(field, `must reference the store by hash (${kinds.join(' | ')})`);
}

function finetuneSettings(v: unknown, f: string): FinetuneSettings {
  const o = obj(v, f);
  only(o, f, ['epochs', 'lr', 'batch', 'optimizer', 'weightDecay', 'filter', 'record', 'recordFilter', 'recordDtype', 'seed', 'splits', 'replay']);
  const splits = obj(o.splits, `${f}.splits`);
  const sp: FinetuneSettings['splits'] = {};
  for (const [s, n] of Object.entries(splits)) {
    str(s, `${f}.splits key`, { choices: FACT_SPLITS });
    sp[s as keyof typeof sp] = n === null ? null : num(n, `${f}.splits.${s}`, { int: true, min: 1 });
  }
  if (Object.keys(sp).length === 0) bad(`${f}.splits`, 'names no split');
  return {
    epochs: num(o.epochs, `${f}.epochs`, { int: true, min: 1, max: 10000 }),
    lr: num(o.lr, `${f}.lr`, { gt: 0 }),
    batch: num(o.batch, `${f}.batch`, { int: true, min: 1, max: 65536 }),
    optimizer: str(o.optimizer, `${f}.optimizer`, { choices: ['adamw', 'sgd'] }) as 'adamw' | 'sgd',
    weightDecay: num(o.weightDecay, `${f}.weightDecay`, { min: 0 }),
    filter: str(o.filter, `${f}.filter`, { pattern: TARGET_PATTERN }),
    record: str(o.record, `${f}.record`, { choices: ['first-epoch', 'all-epochs', 'none'] }) as FinetuneSettings['record'],
    recordFilter: o.recordFilter === null ? null : str(o.recordFilter, `${f}.recordFilter`, { pattern: TARGET_PATTERN }),
    recordDtype: str(o.recordDtype, `${f}.recordDtype`, { choices: ['f32', 'f16'] }) as 'f32' | 'f16',
    seed: num(o.seed, `${f}.seed`, { int: true, min: 0 }),
    splits: sp,
    replay: num(o.replay, `${f}.replay`, { int: true, min: 0, max: 1e6 }),
  };
}

const HYPER_KEYS = ['eta', 'lr', 'steps', 'batch', 'optimizer', 'beta', 'retainWeight'] as const;

function hyper(v: unknown, f: string): Partial<UnlearnHyper> {
  const o = obj(v, f);
  only(o, f, HYPER_KEYS);
  const h: Partial<UnlearnHyper> = {};
  if (o.eta !== undefined) h.eta = num(o.eta, `${f}.eta`);
  if (o.lr !== undefined) h.lr = num(o.lr, `${f}.lr`, { gt: 0 });
  if (o.steps !== undefined) h.steps = num(o.steps, `${f}.steps`, { int: true, min: 1, max: 1e7 });
  if (o.batch !== undefined) h.batch = num(o.batch, `${f}.batch`, { int: true, min: 1, max: 65536 });
  if (o.optimizer !== undefined) h.optimizer = str(o.optimizer, `${f}.optimizer`, { choices: ['adamw', 'sgd'] }) as 'adamw' | 'sgd';
  if (o.beta !== undefined) h.beta = num(o.beta, `${f}.beta`, { gt: 0 });
  if (o.retainWeight !== undefined) h.retainWeight = num(o.retainWeight, `${f}.retainWeight`, { min: 0 });
  return h;
}

function evalOptions(v: unknown, f: string, metrics: readonly string[]): UnlearnEvalOptions {
  const o = obj(v, f);
  only(o, f, ['limit', 'forgetLimit', 'rouge', 'metrics', 'adapter']);
  if (!Array.isArray(o.metrics)) bad(`${f}.metrics`, 'must be a list');
  return {
    limit: num(o.limit, `${f}.limit`, { int: true, min: 0, max: 1e7 }),
    forgetLimit: o.forgetLimit === null ? null : num(o.forgetLimit, `${f}.forgetLimit`, { int: true, min: 1 }),
    rouge: bool(o.rouge, `${f}.rouge`),
    metrics: (o.metrics as unknown[]).map((m, i) => str(m, `${f}.metrics[${i}]`, { choices: metrics })),
    adapter: bool(o.adapter, `${f}.adapter`),
  };
}

export interface CheckContext {
  /** Method names a worker runs (the registry, without retain-only). */
  methods: readonly string[];
  /** Evaluation metric names (the registry). */
  metrics: readonly string[];
}

/** Check a job taken from a queue (see the module comment); returns it rebuilt from checked fields only. */
function checkJob(v: unknown, ctx: CheckContext): JobSpec {
  const o = obj(v, 'job');
  const kind = str(o.kind, 'job.kind', { choices: ['finetune', 'unlearn', 'rum-mem'] });
  const threads = () => num(o.threads, 'job.threads', { int: true, min: 1, max: 256 });
  if (kind === 'finetune') {
    only(o, 'job', ['kind', 'model', 'data', 'settings', 'threads']);
    return { kind, model: ref(o.model, 'job.model', ['blob']), data: ref(o.data, 'job.data', ['tree', 'blob']), settings: finetuneSettings(o.settings, 'job.settings'), threads: threads() };
  }
  if (kind === 'unlearn') {
    only(o, 'job', ['kind', 'from', 'data', 'method', 'target', 'hyper', 'seed', 'eval', 'threads']);
    return {
      kind,
      from: ref(o.from, 'job.from', ['tree', 'artifact']),
      data: ref(o.data, 'job.data', ['tree', 'blob']),
      method: str(o.method, 'job.method', { choices: ctx.methods }),
      target: str(o.target, 'job.target', { pattern: TARGET_PATTERN }),
      hyper: hyper(o.hyper, 'job.hyper'),
      seed: num(o.seed, 'job.seed', { int: true, min: 0, max: 2 ** 31 }),
      eval: evalOptions(o.eval, 'job.eval', ctx.metrics),
      threads: threads(),
    };
  }
  only(o, 'job', ['kind', 'data', 'trainSize', 'testSize', 'model', 'width', 'blocks', 'recipe', 'fraction', 'seed', 'k', 'threads']);
  const r = obj(o.recipe, 'job.recipe');
  only(r, 'job.recipe', ['epochs', 'batch', 'lr', 'momentum', 'weightDecay', 'augment']);
  return {
    kind: 'rum-mem',
    data: ref(o.data, 'job.data', ['tree', 'builtin']),
    trainSize: num(o.trainSize, 'job.trainSize', { int: true, min: 20, max: 1e7 }),
    testSize: num(o.testSize, 'job.testSize', { int: true, min: 1, max: 1e7 }),
    model: str(o.model, 'job.model', { choices: ['tiny', 'small', 'resnet18'] }),
    width: o.width === null ? null : num(o.width, 'job.width', { int: true, min: 1, max: 1024 }),
    blocks: o.blocks === null ? null : (Array.isArray(o.blocks) ? o.blocks : bad('job.blocks', 'must be a list')).map((b, i) => num(b, `job.blocks[${i}]`, { int: true, min: 1, max: 64 })),
    recipe: {
      epochs: num(r.epochs, 'job.recipe.epochs', { int: true, min: 1, max: 100000 }),
      batch: num(r.batch, 'job.recipe.batch', { int: true, min: 1, max: 65536 }),
      lr: num(r.lr, 'job.recipe.lr', { gt: 0 }),
      momentum: num(r.momentum, 'job.recipe.momentum', { min: 0, lt: 1 }),
      weightDecay: num(r.weightDecay, 'job.recipe.weightDecay', { min: 0 }),
      augment: bool(r.augment, 'job.recipe.augment'),
    },
    fraction: num(o.fraction, 'job.fraction', { gt: 0, lt: 1 }),
    seed: num(o.seed, 'job.seed', { int: true, min: 0, max: 2 ** 31 }),
    k: num(o.k, 'job.k', { int: true, min: 0, max: 1e6 }),
    threads: threads(),
  };
}

/** Check an envelope from a queue: the job (checkJob), its label, and that the key is the job's key. */
export function checkEnvelope(v: unknown, ctx: CheckContext): JobEnvelope {
  const o = obj(v, 'envelope');
  only(o, 'envelope', ['key', 'label', 'sweep', 'job']);
  const key = str(o.key, 'envelope.key', { pattern: HEX64 });
  const label = str(o.label, 'envelope.label', { pattern: /^[^\u0000-\u001f]{1,300}$/ });
  const sweep = str(o.sweep, 'envelope.sweep', { pattern: NAME_PATTERN });
  const job = checkJob(o.job, ctx);
  const want = jobKey(job);
  if (want !== key) bad('envelope.key', `does not match the job (expected ${want.slice(0, 12)}..., a job made by another unlearnkit version or changed on the way)`);
  return { key, label, sweep, job };
}
