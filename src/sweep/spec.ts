/**
 * Sweep specs: what `unlearnkit sweep SPEC` reads (JSON, or the YAML subset of yaml.ts), checked
 * field by field with errors that name the field (`grid.eta[1]: must be a number or "default"`).
 * Unknown fields are errors too (a typo must not silently fall back to a default).
 *
 * Two kinds of sweep:
 *
 *   kind: unlearn (the default): the grid methods x layer targets x step settings x seeds over one
 *   fine-tuned model, which is either given (`finetune: {from: RUN}`) or trained first by the sweep
 *   (`finetune: {epochs: 2, lr: 0.003, ...}`). Step settings reach only the methods that read them
 *   (a method's `uses` in the registry): eta for the stored-gradient methods, lr and steps for the
 *   gradient methods, so a grid over eta x lr does not run first-epoch once per lr.
 *
 *   kind: rum-memorization: RUM's subsampled memorization estimate, one job per model (K models on
 *   random subsets of a fraction p of the training images) and seed.
 *
 * Paths in a spec are read like paths on the command line (relative to the current folder).
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { FACT_SPLITS, type FactSplit } from '../data/types.ts';
import { parseYaml, type YamlValue } from './yaml.ts';

/** A step setting of the grid: a number, or 'default' (the method's own default). */
export type StepValue = number | 'default';

export interface FinetuneSettings {
  epochs: number;
  lr: number;
  batch: number;
  optimizer: 'adamw' | 'sgd';
  weightDecay: number;
  /** Trained tensors (layer target). */
  filter: string;
  record: 'first-epoch' | 'all-epochs' | 'none';
  /** Recorded tensors (default: the train filter). */
  recordFilter: string | null;
  recordDtype: 'f32' | 'f16';
  seed: number;
  /** Fact splits trained on, each with the number of its first facts used (null = all). */
  splits: Partial<Record<FactSplit, number | null>>;
  /** General texts mixed in (the finetune command's --replay). */
  replay: number;
}

export interface UnlearnEvalOptions {
  /** Items per measured set (runUnlearn's evalLimit; 0 = all). */
  limit: number;
  /** Only the first N forget examples are unlearned (null = all). */
  forgetLimit: number | null;
  /** Greedy answers and ROUGE on the forget / retain questions. */
  rouge: boolean;
  /** Also evaluate the unlearned model with these metrics of `unlearnkit eval` (none by default). */
  metrics: string[];
  /** Write each run's adapter folder into the store (default true). */
  adapter: boolean;
}

export interface UnlearnSweepSpec {
  kind: 'unlearn';
  name: string;
  /** The base model a fine-tune run first starts from. */
  model: string | null;
  /** Dataset name or path. */
  data: string;
  finetune: { from: string } | FinetuneSettings;
  grid: {
    methods: string[];
    targets: string[];
    eta: StepValue[];
    lr: StepValue[];
    steps: StepValue[];
    seeds: number[];
  };
  /** Other method settings, the same for every job. */
  hyper: { batch?: number; optimizer?: 'adamw' | 'sgd'; beta?: number; retainWeight?: number };
  /** CPU threads per job. */
  threads: number;
  eval: UnlearnEvalOptions;
  /** The method the paired tests compare the others with (default: the first). */
  baseline: string;
}

export interface RumSweepSpec {
  kind: 'rum-memorization';
  name: string;
  /** 'synthetic' or a CIFAR-10 / CIFAR-100 / MNIST folder. */
  data: string;
  trainSize: number;
  testSize: number;
  /** CNN config name (tiny, small, resnet18). */
  model: string;
  width: number | null;
  blocks: number[] | null;
  recipe: { epochs: number; batch: number; lr: number; momentum: number; weightDecay: number; augment: boolean };
  /** K: models per estimate. */
  models: number;
  /** Training fraction per model. */
  fraction: number;
  seeds: number[];
  threads: number;
}

export type SweepSpec = UnlearnSweepSpec | RumSweepSpec;

/** Collects every problem of a spec, each named by its field path, and throws them together. */
class Problems {
  list: string[] = [];
  add(field: string, msg: string): void {
    this.list.push(`${field}: ${msg}`);
  }
}

type Obj = { [k: string]: YamlValue };

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
}

/** Reads the fields of one mapping; `done()` reports the ones nobody asked for. */
class Fields {
  private readonly seen = new Set<string>();
  constructor(
    readonly data: Obj,
    readonly at: string,
    readonly p: Problems,
  ) {}

  name(k: string): string {
    return this.at ? `${this.at}.${k}` : k;
  }

  has(k: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.data, k) && this.data[k] !== null;
  }

  raw(k: string): YamlValue | undefined {
    this.seen.add(k);
    return this.has(k) ? this.data[k] : undefined;
  }

  num(k: string, o: { def?: number; int?: boolean; min?: number; max?: number; gt?: number; lt?: number } = {}): number {
    const v = this.raw(k);
    if (v === undefined) {
      if (o.def === undefined) {
        this.p.add(this.name(k), 'is required');
        return NaN;
      }
      return o.def;
    }
    return checkNum(v, this.name(k), this.p, o) ?? o.def ?? NaN;
  }

  optNum(k: string, o: { int?: boolean; min?: number; max?: number; gt?: number; lt?: number } = {}): number | null {
    const v = this.raw(k);
    if (v === undefined) return null;
    return checkNum(v, this.name(k), this.p, o);
  }

  str(k: string, o: { def?: string; choices?: readonly string[]; pattern?: RegExp; what?: string } = {}): string {
    const v = this.raw(k);
    if (v === undefined) {
      if (o.def === undefined) {
        this.p.add(this.name(k), 'is required');
        return '';
      }
      return o.def;
    }
    return checkStr(v, this.name(k), this.p, o) ?? o.def ?? '';
  }

  optStr(k: string, o: { choices?: readonly string[]; pattern?: RegExp; what?: string } = {}): string | null {
    const v = this.raw(k);
    if (v === undefined) return null;
    return checkStr(v, this.name(k), this.p, o);
  }

  bool(k: string, def: boolean): boolean {
    const v = this.raw(k);
    if (v === undefined) return def;
    if (typeof v !== 'boolean') {
      this.p.add(this.name(k), `must be true or false, got ${show(v)}`);
      return def;
    }
    return v;
  }

  /** A list (a single value counts as a list of one). */
  list<T>(k: string, item: (v: YamlValue, at: string) => T | null, o: { def?: T[]; min?: number; repeats?: boolean } = {}): T[] {
    const v = this.raw(k);
    if (v === undefined) {
      if (o.def === undefined) {
        this.p.add(this.name(k), 'is required');
        return [];
      }
      return o.def;
    }
    const arr = Array.isArray(v) ? v : [v];
    if (arr.length < (o.min ?? 1)) this.p.add(this.name(k), `needs at least ${o.min ?? 1} value(s)`);
    const out: T[] = [];
    arr.forEach((x, i) => {
      const r = item(x, Array.isArray(v) ? `${this.name(k)}[${i}]` : this.name(k));
      if (r !== null) out.push(r);
    });
    const dup = o.repeats ? undefined : out.map((x) => JSON.stringify(x)).find((x, i, a) => a.indexOf(x) !== i);
    if (dup !== undefined) this.p.add(this.name(k), `lists ${dup} twice`);
    return out;
  }

  obj(k: string): Fields | null {
    const v = this.raw(k);
    if (v === undefined) return null;
    if (!isObj(v)) {
      this.p.add(this.name(k), `must be a mapping (key: value lines), got ${show(v)}`);
      return null;
    }
    return new Fields(v, this.name(k), this.p);
  }

  done(): void {
    for (const k of Object.keys(this.data)) {
      if (!this.seen.has(k)) this.p.add(this.name(k), `unknown field (known here: ${[...this.seen].join(', ')})`);
    }
  }
}

function checkNum(v: YamlValue, at: string, p: Problems, o: { int?: boolean; min?: number; max?: number; gt?: number; lt?: number }): number | null {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    p.add(at, `must be a ${o.int ? 'whole number' : 'finite number'}, got ${show(v)}`);
    return null;
  }
  if (o.int && !Number.isInteger(v)) return p.add(at, `must be a whole number, got ${v}`), null;
  if (o.min !== undefined && v < o.min) return p.add(at, `must be >= ${o.min}, got ${v}`), null;
  if (o.max !== undefined && v > o.max) return p.add(at, `must be <= ${o.max}, got ${v}`), null;
  if (o.gt !== undefined && !(v > o.gt)) return p.add(at, `must be > ${o.gt}, got ${v}`), null;
  if (o.lt !== undefined && !(v < o.lt)) return p.add(at, `must be < ${o.lt}, got ${v}`), null;
  return v;
}

function checkStr(v: YamlValue, at: string, p: Problems, o: { choices?: readonly string[]; pattern?: RegExp; what?: string }): string | null {
  if (typeof v !== 'string' || v === '') {
    p.add(at, `must be ${o.choices ? `one of ${o.choices.join(', ')}` : `a non-empty ${o.what ?? 'string'}`}, got ${show(v)}`);
    return null;
  }
  if (o.choices && !o.choices.includes(v)) return p.add(at, `must be one of ${o.choices.join(', ')}, got ${show(v)}`), null;
  if (o.pattern && !o.pattern.test(v)) return p.add(at, `is not a valid ${o.what ?? 'value'}: ${show(v)}`), null;
  return v;
}

/**
 * Step settings: numbers (> 0 for lr, whole >= 1 for steps) or "default" (the method's default).
 * "auto" (the CLI's step search, `--eta auto`) is refused by name: a sweep is the explicit grid, and a
 * search inside every job would make its cells incomparable.
 */
function stepItem(kind: 'eta' | 'lr' | 'steps', p: Problems) {
  return (v: YamlValue, at: string): StepValue | null => {
    if (v === 'default') return 'default';
    if (v === 'auto') return p.add(at, `"auto" (the step search of \`unlearn --${kind} auto\`) is not available in sweeps: list the values to try, or "default" for the method's default`), null;
    if (typeof v === 'string') return p.add(at, `must be a number or "default", got ${show(v)}`), null;
    return checkNum(v, at, p, kind === 'steps' ? { int: true, min: 1 } : kind === 'lr' ? { gt: 0 } : {}) as StepValue | null;
  };
}

/** Layer targets as `unlearn --target` takes them (resolved against the model by each job). */
export const TARGET_PATTERN = /^[A-Za-z0-9_.:,*\-+ ]{1,200}$/;
/** Sweep names: they become folder names. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function finetuneSettings(f: Fields, p: Problems): FinetuneSettings {
  const splits: Partial<Record<FactSplit, number | null>> = {};
  const raw = f.raw('splits');
  const at = f.name('splits');
  if (raw === undefined) for (const s of ['retain', 'forget', 'decoy'] as FactSplit[]) splits[s] = null;
  else if (Array.isArray(raw) || typeof raw === 'string') {
    for (const [i, s] of (Array.isArray(raw) ? raw : [raw]).entries()) {
      const name = checkStr(s, Array.isArray(raw) ? `${at}[${i}]` : at, p, { choices: FACT_SPLITS });
      if (name) splits[name as FactSplit] = null;
    }
  } else if (isObj(raw)) {
    for (const [s, n] of Object.entries(raw)) {
      if (!(FACT_SPLITS as readonly string[]).includes(s)) p.add(`${at}.${s}`, `unknown split; use ${FACT_SPLITS.join(', ')}`);
      else splits[s as FactSplit] = n === null || n === 'all' ? null : checkNum(n, `${at}.${s}`, p, { int: true, min: 1 });
    }
  } else p.add(at, `must be a list of splits or a mapping split: count, got ${show(raw)}`);
  if (Object.keys(splits).length === 0) p.add(at, 'names no split');
  return {
    epochs: f.num('epochs', { def: 3, int: true, min: 1 }),
    lr: f.num('lr', { def: 1e-3, gt: 0 }),
    batch: f.num('batch', { def: 8, int: true, min: 1 }),
    optimizer: f.str('optimizer', { def: 'adamw', choices: ['adamw', 'sgd'] }) as 'adamw' | 'sgd',
    weightDecay: f.num('weightDecay', { def: 0, min: 0 }),
    filter: f.str('filter', { def: 'all', pattern: TARGET_PATTERN, what: 'layer target' }),
    record: f.str('record', { def: 'first-epoch', choices: ['first-epoch', 'all-epochs', 'none'] }) as FinetuneSettings['record'],
    recordFilter: f.optStr('recordFilter', { pattern: TARGET_PATTERN, what: 'layer target' }),
    recordDtype: f.str('recordDtype', { def: 'f32', choices: ['f32', 'f16'] }) as 'f32' | 'f16',
    seed: f.num('seed', { def: 0, int: true, min: 0 }),
    splits,
    replay: f.num('replay', { def: 0, int: true, min: 0 }),
  };
}

function unlearnSpec(f: Fields, name: string, p: Problems, methods: readonly string[], metrics: readonly string[]): UnlearnSweepSpec {
  const model = f.optStr('model', { what: 'path' });
  const data = f.str('data', { def: 'dave', what: 'dataset name or path' });
  let finetune: UnlearnSweepSpec['finetune'] = { from: '' };
  const ft = f.obj('finetune');
  if (!ft) p.add(f.name('finetune'), 'is required: {from: RUN-FOLDER} or the fine-tune settings to run first (epochs, lr, batch, splits, record, ...)');
  else if (ft.has('from')) {
    finetune = { from: ft.str('from', { what: 'path' }) };
    ft.done();
  } else {
    finetune = finetuneSettings(ft, p);
    ft.done();
  }
  const g = f.obj('grid');
  if (!g) p.add(f.name('grid'), 'is required (methods, targets, eta / lr / steps, seeds)');
  const gf = g ?? new Fields({}, f.name('grid'), new Problems());
  const methodItem = (v: YamlValue, at: string) => {
    const m = checkStr(v, at, p, { what: 'method name' });
    if (m && !methods.includes(m)) return p.add(at, `unknown method ${show(m)}; known: ${methods.join(', ')}`), null;
    if (m === 'retain-only') return p.add(at, 'retain-only is not run in sweeps (it writes its oracle into the run it starts from); run `unlearnkit unlearn --method retain-only` once instead'), null;
    return m;
  };
  const grid = {
    methods: gf.list('methods', methodItem),
    targets: gf.list('targets', (v, at) => checkStr(v, at, p, { pattern: TARGET_PATTERN, what: 'layer target' }), { def: ['all'] }),
    eta: gf.list('eta', stepItem('eta', p), { def: ['default' as StepValue] }),
    lr: gf.list('lr', stepItem('lr', p), { def: ['default' as StepValue] }),
    steps: gf.list('steps', stepItem('steps', p), { def: ['default' as StepValue] }),
    seeds: gf.list('seeds', (v, at) => checkNum(v, at, p, { int: true, min: 0 }), { def: [0] }),
  };
  gf.done();
  const hyper: UnlearnSweepSpec['hyper'] = {};
  const h = f.obj('hyper');
  if (h) {
    const batch = h.optNum('batch', { int: true, min: 1 });
    if (batch !== null) hyper.batch = batch;
    const opt = h.optStr('optimizer', { choices: ['adamw', 'sgd'] });
    if (opt !== null) hyper.optimizer = opt as 'adamw' | 'sgd';
    const beta = h.optNum('beta', { gt: 0 });
    if (beta !== null) hyper.beta = beta;
    const rw = h.optNum('retainWeight', { min: 0 });
    if (rw !== null) hyper.retainWeight = rw;
    h.done();
  }
  const e = f.obj('eval');
  const ef = e ?? new Fields({}, f.name('eval'), p);
  const evalOpts: UnlearnEvalOptions = {
    limit: ef.num('limit', { def: 50, int: true, min: 0 }),
    forgetLimit: ef.optNum('forgetLimit', { int: true, min: 1 }),
    rouge: ef.bool('rouge', false),
    metrics: ef.list(
      'metrics',
      (v, at) => {
        const m = checkStr(v, at, p, { what: 'metric name' });
        if (m && !metrics.includes(m)) return p.add(at, `unknown metric ${show(m)}; known: ${metrics.join(', ')}`), null;
        return m;
      },
      { def: [], min: 0 },
    ),
    adapter: ef.bool('adapter', true),
  };
  ef.done();
  const baseline = f.str('baseline', { def: grid.methods[0] ?? '', what: 'method name' });
  if (grid.methods.length && !grid.methods.includes(baseline)) p.add(f.name('baseline'), `must be one of grid.methods (${grid.methods.join(', ')}), got ${show(baseline)}`);
  return { kind: 'unlearn', name, model, data, finetune, grid, hyper, threads: f.num('threads', { def: 1, int: true, min: 1, max: 256 }), eval: evalOpts, baseline };
}

function rumSpec(f: Fields, name: string, p: Problems): RumSweepSpec {
  const data = f.str('data', { def: 'synthetic', what: "'synthetic' or a dataset folder" });
  const r = f.obj('recipe');
  const rf = r ?? new Fields({}, f.name('recipe'), p);
  const recipe = {
    epochs: rf.num('epochs', { def: 30, int: true, min: 1 }),
    batch: rf.num('batch', { def: 32, int: true, min: 1 }),
    lr: rf.num('lr', { def: 0.05, gt: 0 }),
    momentum: rf.num('momentum', { def: 0.9, min: 0, lt: 1 }),
    weightDecay: rf.num('weightDecay', { def: 5e-4, min: 0 }),
    augment: rf.bool('augment', false),
  };
  rf.done();
  const m = f.obj('memorization');
  const mf = m ?? new Fields({}, f.name('memorization'), p);
  const models = mf.num('models', { def: 16, int: true, min: 2, max: 100000 });
  const fraction = mf.num('fraction', { def: 0.7, gt: 0, lt: 1 });
  const seeds = mf.list('seeds', (v, at) => checkNum(v, at, p, { int: true, min: 0 }), { def: [0] });
  mf.done();
  const blocks = f.raw('blocks') === undefined ? null : f.list('blocks', (v, at) => checkNum(v, at, p, { int: true, min: 1, max: 64 }), { repeats: true });
  return {
    kind: 'rum-memorization',
    name,
    data,
    trainSize: f.num('trainSize', { def: 500, int: true, min: 20 }),
    testSize: f.num('testSize', { def: 10, int: true, min: 1 }),
    model: f.str('model', { def: 'small', choices: ['tiny', 'small', 'resnet18'] }),
    width: f.optNum('width', { int: true, min: 1, max: 1024 }),
    blocks,
    recipe,
    models,
    fraction,
    seeds,
    threads: f.num('threads', { def: 1, int: true, min: 1, max: 256 }),
  };
}

export interface ValidateOptions {
  /** File name used in messages. */
  file?: string;
  /** Name when the spec has none (default: the file name without its extension). */
  defaultName?: string;
  /** Known unlearning methods and evaluation metrics (the registries). */
  methods: readonly string[];
  metrics: readonly string[];
}

/** Check a parsed spec; every problem is listed in one UserError. */
export function validateSpec(raw: unknown, o: ValidateOptions): SweepSpec {
  const file = o.file ?? 'spec';
  if (!isObj(raw)) throw new UserError(`${file}: a sweep spec must be a mapping (kind, model, data, finetune, grid, ...), got ${show(raw)}`);
  const p = new Problems();
  const f = new Fields(raw, '', p);
  const kind = f.str('kind', { def: 'unlearn', choices: ['unlearn', 'rum-memorization'] });
  const name = f.str('name', { def: o.defaultName ?? 'sweep', pattern: NAME_PATTERN, what: 'sweep name (letters, digits, ".", "_", "-")' });
  const spec = kind === 'rum-memorization' ? rumSpec(f, name, p) : unlearnSpec(f, name, p, o.methods, o.metrics);
  f.done();
  if (p.list.length) throw new UserError(`${file}: ${p.list.length === 1 ? p.list[0] : `${p.list.length} problems:\n  ${p.list.join('\n  ')}`}`);
  return spec;
}

/** Parse spec text: JSON when it looks like JSON (or the file ends in .json), else the YAML subset. */
export function parseSpecText(text: string, file: string): unknown {
  const trimmed = text.trimStart();
  if (file.toLowerCase().endsWith('.json') || trimmed.startsWith('{')) {
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new UserError(`${file}: not valid JSON: ${(e as Error).message}`);
    }
  }
  return parseYaml(text, file);
}

/** Read and check a spec file. */
export function readSpecFile(file: string, o: Omit<ValidateOptions, 'file' | 'defaultName'>): SweepSpec {
  if (!fs.existsSync(file)) throw new UserError(`sweep spec ${file} does not exist`);
  if (fs.statSync(file).isDirectory()) throw new UserError(`${file} is a folder; give a sweep spec file (.yaml or .json)`);
  const text = fs.readFileSync(file, 'utf8');
  const base = path.basename(file).replace(/\.(ya?ml|json)$/i, '');
  const defaultName = NAME_PATTERN.test(base) ? base : 'sweep';
  return validateSpec(parseSpecText(text, file), { ...o, file, defaultName });
}
