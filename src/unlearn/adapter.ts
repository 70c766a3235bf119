/**
 * Every unlearning run writes its change to `adapters/<run-id>/`, atomically (built in a temporary
 * sibling folder and renamed, src/util/fs.ts publishDirAtomic), so the inference server can load it
 * by run id (src/server/adapters.ts). An existing run id is never replaced unless asked
 * (`overwrite`; checked before any work by checkRunOutput).
 *   adapter.gguf  llama.cpp LoRA adapter of the 2-D deltas (src/model/lora.ts: truncated SVD whose
 *                 rank per tensor is the smallest meeting the error budget `maxRelError`, default
 *                 1e-3 relative Frobenius error, at most maxRank; each tensor's rank and achieved
 *                 error are in meta.json), with the base checkpoint's sha256 in its metadata
 *                 (`unlearnkit.base_model.sha256`, as LoRA fine-tunes write it)
 *   merged.gguf   the full unlearned model (base checkpoint + every delta), written when LoRA cannot
 *                 hold the change: a 1-D tensor (a norm weight or bias) changed (llama.cpp adapters
 *                 hold matrices only), or a matrix needs a rank above maxRank to meet the budget;
 *                 or when asked for
 *   meta.json     method, strategy, filter, tensors, settings (step size, steps, ...), sha256 of the
 *                 base checkpoint and of the forget set, summary metrics, the LoRA report, notes,
 *                 and `served`: which file is the unlearned model ('adapter' or 'merged', and why)
 * servedArtifact(dir) is what every consumer (serve, eval --adapter, the TUI, unlearn's own
 * measurement) asks to know which file to apply: the served artifact is the measured one.
 * For a LoRA fine-tune (the model has its adapter attached) the method changed the adapter's own
 * factors: adapter.gguf is then that adapter with the changes (every target, exact, no SVD), to be
 * applied to the run's base model in place of the fine-tune's adapter; meta.json's `base` is the
 * base model and `lora.kind` is 'factors'.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ADAPTER_BASE_SHA256_KEY, attachLoraFile, loraDeltaFromAdapter, saveLoraAdapter, saveMergedModel, writeLoraFactors, type LoraFactors, type LoraTensorReport, type TensorDelta } from '../model/lora.ts';
import { readGguf } from '../model/gguf.ts';
import { CausalLM } from '../model/model.ts';
import { sha256File } from '../train/finetune.ts';
import { checkWritableDir, publishDirAtomic, writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { UserError } from '../util/errors.ts';
import { fileStamp } from '../util/paths.ts';
import type { Deltas } from './deltas.ts';
import type { Example } from './types.ts';

const ADAPTER_META_FORMAT = 'unlearnkit.unlearn-adapter/1';

const RUN_ID_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** sha256 of a forget set: its (id, text) pairs sorted by id, as JSON. */
export function forgetSetSha256(items: Array<{ id: string; text: string }>): string {
  const pairs = items.map((e) => [e.id, e.text]).sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
  return crypto.createHash('sha256').update(JSON.stringify(pairs)).digest('hex');
}

/** A run id like `first-epoch-block-3-mlp-20240501-120000-ab12`. */
export function makeRunId(method: string, filter: string, now = new Date()): string {
  const slug = filter.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'all';
  return `${method}-${slug}-${fileStamp(now)}-${crypto.randomBytes(2).toString('hex')}`;
}

export function checkRunId(id: string): string {
  if (!RUN_ID_RE.test(id)) throw new UserError(`run id '${id}' is not allowed: use letters, digits, '.', '_' and '-' (at most 128, not starting with '.' or '-')`);
  // names of interrupted writes (util/fs.ts cleanStaleTemps removes them) are not run ids
  if (/\.(?:tmp|old)-\d+/.test(id)) throw new UserError(`run id '${id}' is not allowed: '.tmp-<n>' and '.old-<n>' mark unfinished temporary folders`);
  return id;
}

export interface AdapterWriteOptions {
  adaptersDir: string;
  runId: string;
  /** The checkpoint the deltas apply to (the fine-tuned model). */
  baseCheckpoint: string;
  baseSha256: string;
  /** The model the deltas were made on (for tensor shapes). */
  model: CausalLM;
  deltas: Deltas;
  /** Method, strategy, filter, settings, metrics... (merged into meta.json). */
  meta: Record<string, unknown>;
  forget: Example[];
  /** Also write merged.gguf when every change fits the adapter. */
  merged?: boolean;
  /** Largest LoRA rank per tensor (default 64). */
  maxRank?: number;
  /** Error budget per tensor: relative Frobenius reconstruction error (default 1e-3; 0 = exact rank). */
  maxRelError?: number;
  /** Replace an existing run folder of the same id (default: refuse). */
  overwrite?: boolean;
  /** More files for the folder (published with it): name -> JSON value or text. */
  extraFiles?: Record<string, unknown>;
  /**
   * Called once the artifact is written (in the folder before it is published; `served` as in the
   * result, its file under `dir`), before meta.json and the extra files: its `meta` is merged into
   * meta.json and its `files` added. runUnlearn measures the artifact it ships here. `notes`: the
   * writer's notes (why merged.gguf, a method that changed nothing), as the result will carry them.
   */
  finish?: (written: { dir: string; served: AdapterWriteResult['served']; notes: string[] }) => Promise<AdapterFinish> | AdapterFinish;
}

/** What AdapterWriteOptions.finish adds to the folder. */
export interface AdapterFinish {
  meta?: Record<string, unknown>;
  files?: Record<string, unknown>;
}

export interface AdapterWriteResult {
  dir: string;
  runId: string;
  adapterPath: string | null;
  mergedPath: string | null;
  lora: LoraTensorReport[];
  /** Changed 1-D tensors (not in the adapter; in merged.gguf). */
  oneDimensional: string[];
  /** The file that is the unlearned model (servedArtifact); null when nothing changed. */
  served: { kind: 'adapter' | 'merged'; file: string; reason: string | null } | null;
  notes: string[];
  meta: Record<string, unknown>;
}

/** Default error budget of an unlearning adapter: relative reconstruction error per tensor. */
const DEFAULT_ADAPTER_ERROR = 1e-3;

/**
 * Check, before any work, that `<adaptersDir>/<runId>/` can be written: the run id is allowed, an
 * existing run of that id is not replaced without `overwrite`, and the folder is writable
 * (checkWritableDir). Throws a UserError naming the problem.
 */
export function checkRunOutput(adaptersDir: string, runId: string, overwrite = false): string {
  checkRunId(runId);
  const dir = path.join(path.resolve(adaptersDir), runId);
  if (fs.existsSync(dir) && !overwrite) {
    throw new UserError(`run id '${runId}' already exists (${dir}); choose another --run-id or pass --overwrite to replace it`);
  }
  checkWritableDir(adaptersDir, '--adapters-dir');
  return dir;
}

export async function writeUnlearnAdapter(o: AdapterWriteOptions): Promise<AdapterWriteResult> {
  checkRunOutput(o.adaptersDir, o.runId, o.overwrite);
  if (o.model.lora) return writeLoraRunAdapter(o);
  const dir = path.join(o.adaptersDir, o.runId);
  const budget = o.maxRelError ?? DEFAULT_ADAPTER_ERROR;
  if (!(budget >= 0 && budget < 1)) throw new UserError(`--adapter-error must be in [0, 1), got ${budget}`);
  const two: TensorDelta[] = [];
  const one: TensorDelta[] = [];
  for (const [name, delta] of o.deltas) {
    let nz = false;
    for (let i = 0; i < delta.length; i++) if (delta[i] !== 0) { nz = true; break; }
    if (!nz) continue;
    const ne = o.model.weights.get(name)!.ne;
    const dims = ne.filter((n, i) => i === 0 || n !== 1).length;
    (dims >= 2 ? two : one).push({ tensor: name, ne, delta });
  }
  const notes: string[] = [];
  if (two.length + one.length === 0) notes.push('the method changed nothing: no adapter or merged model written');
  if (one.length) {
    notes.push(
      `${one.length} 1-D tensor(s) changed (${one.map((d) => d.tensor).join(', ')}); llama.cpp LoRA adapters hold matrices only, so merged.gguf holds the full result` +
        (two.length ? ' and adapter.gguf only the matrix part' : ' and no adapter was written'),
    );
  }
  let wantMerged = (one.length > 0 || !!o.merged) && two.length + one.length > 0;
  let lora: LoraTensorReport[] = [];
  let alpha: number | null = null;
  const maxRank = o.maxRank ?? 64;
  let meta: Record<string, unknown> = {};
  let served: AdapterWriteResult['served'] = null;
  await publishDirAtomic(dir, async (tmp) => {
    let overBudget: LoraTensorReport[] = [];
    if (two.length) {
      const r = saveLoraAdapter(path.join(tmp, 'adapter.gguf'), { baseGgufPath: o.baseCheckpoint, deltas: two, maxRank, maxRelError: budget, baseSha256: o.baseSha256 });
      lora = r.tensors;
      alpha = r.alpha;
      overBudget = lora.filter((t) => t.withinBudget === false);
      if (overBudget.length) {
        const worst = Math.max(...overBudget.map((t) => t.relError));
        notes.push(
          `${overBudget.length} matri${overBudget.length === 1 ? 'x needs' : 'ces need'} a LoRA rank above --max-rank ${maxRank} to meet the error budget ${budget} ` +
            `(adapter.gguf is a truncation, largest relative error ${worst.toExponential(2)}); merged.gguf holds the full result`,
        );
        wantMerged = true;
      }
    }
    if (wantMerged) saveMergedModel(path.join(tmp, 'merged.gguf'), { baseGgufPath: o.baseCheckpoint, deltas: [...two, ...one] });
    if (two.length + one.length > 0) {
      const reasons: string[] = [];
      if (one.length) reasons.push(`1-D tensor(s) changed (${one.map((d) => d.tensor).slice(0, 3).join(', ')}${one.length > 3 ? ', ...' : ''}), which LoRA adapters cannot hold`);
      if (overBudget.length) reasons.push(`${overBudget.length} matrix change(s) need a rank above ${maxRank} for relative error <= ${budget}`);
      served = reasons.length ? { kind: 'merged', file: 'merged.gguf', reason: reasons.join('; ') } : { kind: 'adapter', file: 'adapter.gguf', reason: null };
    }
    meta = await finishAdapterDir(tmp, o, served, {
      files: { adapter: two.length ? 'adapter.gguf' : null, merged: wantMerged ? 'merged.gguf' : null },
      lora: { maxRank, maxRelError: budget, alpha, tensors: lora },
      oneDimensional: one.map((d) => d.tensor),
      notes,
    });
  });
  return {
    dir,
    runId: o.runId,
    adapterPath: two.length ? path.join(dir, 'adapter.gguf') : null,
    mergedPath: wantMerged ? path.join(dir, 'merged.gguf') : null,
    lora,
    oneDimensional: one.map((d) => d.tensor),
    served,
    notes,
    meta,
  };
}

/**
 * Inside publishDirAtomic: run the caller's `finish`, then write meta.json (the fields every
 * adapter folder has, then `own`'s) and the extra files. Returns the meta written.
 */
async function finishAdapterDir(
  tmp: string,
  o: AdapterWriteOptions,
  served: AdapterWriteResult['served'],
  own: { files: { adapter: string | null; merged: string | null }; lora: Record<string, unknown>; oneDimensional: string[]; notes: string[] },
): Promise<Record<string, unknown>> {
  const fin = o.finish ? await o.finish({ dir: tmp, served, notes: own.notes }) : {};
  const meta = {
    format: ADAPTER_META_FORMAT,
    runId: o.runId,
    createdAt: new Date().toISOString(),
    ...o.meta,
    ...fin.meta,
    base: { checkpoint: path.resolve(o.baseCheckpoint), sha256: o.baseSha256 },
    forgetSet: { count: o.forget.length, sha256: forgetSetSha256(o.forget), ids: o.forget.map((e) => e.id) },
    files: own.files,
    served,
    lora: own.lora,
    oneDimensional: own.oneDimensional,
    notes: own.notes,
  };
  writeJsonAtomic(path.join(tmp, 'meta.json'), meta);
  for (const [name, v] of Object.entries({ ...o.extraFiles, ...fin.files })) {
    if (typeof v === 'string') writeFileAtomic(path.join(tmp, name), v);
    else writeJsonAtomic(path.join(tmp, name), v);
  }
  return meta;
}

/** writeUnlearnAdapter for a LoRA run: the fine-tune's adapter plus the deltas of its factors, written whole. */
async function writeLoraRunAdapter(o: AdapterWriteOptions): Promise<AdapterWriteResult> {
  const lora = o.model.lora!;
  const dir = path.join(o.adaptersDir, o.runId);
  const served = { kind: 'adapter' as const, file: 'adapter.gguf', reason: null };
  const own = new Set(o.model.loraTensorNames);
  const outside = [...o.deltas.keys()].filter((n) => !own.has(n));
  if (outside.length) throw new UserError(`a LoRA run changes its adapter only, but deltas were given for ${outside.slice(0, 3).join(', ')}`);
  if (o.merged) throw new UserError('--merged is not available for a LoRA run: serve or evaluate the base model with the adapter (llama.cpp applies it as trained)');
  const factors = new Map<string, LoraFactors>();
  const changed: string[] = [];
  for (const t of lora.targets) {
    const f = o.model.loraFactors(t);
    const a = f.a.slice();
    const b = f.b.slice();
    for (const [part, arr] of [['lora_a', a], ['lora_b', b]] as const) {
      const d = o.deltas.get(`${t}.${part}`);
      if (!d) continue;
      if (d.length !== arr.length) throw new UserError(`delta for ${t}.${part} has ${d.length} values, the factor ${arr.length}`);
      let nz = false;
      for (let i = 0; i < d.length; i++) {
        if (d[i] !== 0) nz = true;
        arr[i] = arr[i]! + d[i]!;
      }
      if (nz) changed.push(`${t}.${part}`);
    }
    factors.set(t, { a, b, rank: f.rank });
  }
  const notes = changed.length ? [] : ['the method changed nothing: the adapter equals the fine-tune\'s'];
  let meta: Record<string, unknown> = {};
  await publishDirAtomic(dir, async (tmp) => {
    writeLoraFactors(path.join(tmp, 'adapter.gguf'), { arch: o.model.config.arch, alpha: lora.alpha, factors, baseSha256: o.baseSha256, name: `unlearnkit ${o.runId}` });
    meta = await finishAdapterDir(tmp, o, served, {
      files: { adapter: 'adapter.gguf', merged: null },
      lora: { kind: 'factors', alpha: lora.alpha, rank: Math.max(...[...factors.values()].map((f) => f.rank)), targets: lora.targets, changedFactors: changed },
      oneDimensional: [],
      notes,
    });
  });
  return { dir, runId: o.runId, adapterPath: path.join(dir, 'adapter.gguf'), mergedPath: null, lora: [], oneDimensional: [], served, notes, meta };
}

/** Read an unlearning run's meta.json. */
export function readAdapterMeta(dir: string): Record<string, unknown> & { base: { checkpoint: string; sha256: string } } {
  const p = path.join(dir, 'meta.json');
  if (!fs.existsSync(p)) throw new UserError(`${dir} is not an unlearning run folder (no meta.json)`);
  try {
    return JSON.parse(fs.readFileSync(p, 'utf8'));
  } catch (e) {
    throw new UserError(`${p} is not valid JSON: ${(e as Error).message}`);
  }
}

/** The file that is an unlearning run's model, as every consumer applies it. */
export interface ServedArtifact {
  /** 'adapter': adapter.gguf applied to `base`; 'merged': merged.gguf, a whole model used instead. */
  kind: 'adapter' | 'merged';
  /** Absolute path of that file. */
  path: string;
  /** The run folder. */
  dir: string;
  runId: string;
  /** Why the merged model is used (LoRA cannot hold the change); null for an adapter. */
  reason: string | null;
  /** The model the run was made from: the adapter applies to it, the merged model replaces it. */
  base: { checkpoint: string | null; sha256: string | null };
}

/**
 * The unlearning run folder `p` names: `p` itself or the folder of a file in it (adapter.gguf,
 * merged.gguf), when that folder has an unlearning meta.json; null otherwise (a plain adapter or
 * model file).
 */
export function unlearnRunDirOf(p: string): string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    return null;
  }
  const dir = st.isDirectory() ? p : path.dirname(p);
  const metaFile = path.join(dir, 'meta.json');
  if (!fs.existsSync(metaFile)) return null;
  try {
    const m = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as { format?: unknown };
    return m.format === ADAPTER_META_FORMAT ? path.resolve(dir) : null;
  } catch {
    return null;
  }
}

/**
 * Which file of an unlearning run is its model (`adapterDir`: the run folder, or a file in it):
 * adapter.gguf when the adapter holds the whole change within the error budget, else merged.gguf
 * (a 1-D tensor changed, or a matrix needs a rank above --max-rank), with the reason. meta.json's
 * `served` says so for runs written since it exists; older runs are judged from their LoRA report
 * (a changed 1-D tensor, a truncated matrix, or a relative error above DEFAULT_ADAPTER_ERROR).
 * serve, eval --adapter, the TUI and unlearn's own measurement all use this, so what is served is
 * what was measured.
 */
export function servedArtifact(adapterDir: string): ServedArtifact {
  const dir = unlearnRunDirOf(adapterDir);
  if (!dir) throw new UserError(`${adapterDir} is not an unlearning run folder (no unlearnkit meta.json)`);
  const meta = readAdapterMeta(dir) as Record<string, unknown> & { base?: { checkpoint?: string; sha256?: string } };
  const runId = typeof meta.runId === 'string' ? meta.runId : path.basename(dir);
  const base = { checkpoint: meta.base?.checkpoint ?? null, sha256: meta.base?.sha256 ?? null };
  const adapter = path.join(dir, 'adapter.gguf');
  const merged = path.join(dir, 'merged.gguf');
  const has = (f: string) => fs.existsSync(f);
  const served = meta.served as { kind?: string; reason?: string | null } | null | undefined;
  let kind: 'adapter' | 'merged' | null = null;
  let reason: string | null = null;
  if (served && (served.kind === 'adapter' || served.kind === 'merged')) {
    kind = served.kind;
    reason = served.reason ?? null;
  } else {
    const one = Array.isArray(meta.oneDimensional) ? (meta.oneDimensional as string[]) : [];
    const tensors = ((meta.lora as { tensors?: LoraTensorReport[] } | undefined)?.tensors ?? []) as LoraTensorReport[];
    const loose = tensors.filter((t) => t.exact === false || t.relError > DEFAULT_ADAPTER_ERROR);
    if (has(merged) && (one.length || loose.length || !has(adapter))) {
      kind = 'merged';
      reason = [
        one.length ? `1-D tensor(s) changed (${one.slice(0, 3).join(', ')}), which LoRA adapters cannot hold` : '',
        loose.length ? `${loose.length} matrix change(s) truncated (largest relative error ${Math.max(...loose.map((t) => t.relError)).toExponential(2)})` : '',
      ].filter(Boolean).join('; ') || 'the run has no adapter.gguf';
    } else if (has(adapter)) kind = 'adapter';
  }
  if (kind === null) throw new UserError(`unlearning run ${runId} (${dir}) changed nothing: it has no adapter or merged model`);
  const file = kind === 'merged' ? merged : adapter;
  if (!has(file)) throw new UserError(`unlearning run ${runId}: its model file ${file} is missing`);
  return { kind, path: file, dir, runId, reason, base };
}

/** One line saying which artifact of a run is used and why (for the consumers to print). */
function servedArtifactNote(a: ServedArtifact): string {
  return a.kind === 'merged'
    ? `run ${a.runId}: using merged.gguf (the whole unlearned model) instead of the adapter: ${a.reason}`
    : `run ${a.runId}: using adapter.gguf`;
}

/**
 * The sha256 of the model an adapter file was made for: its GGUF key `unlearnkit.base_model.sha256`
 * (LoRA fine-tunes and unlearning adapters write it), else the unlearning run's meta.json
 * `base.sha256`, else a fine-tune run's run.json `baseSha256`; null when none records it.
 */
function adapterBaseSha256(adapterPath: string): string | null {
  try {
    const g = readGguf(adapterPath);
    const v = g.metadata.get(ADAPTER_BASE_SHA256_KEY);
    if (typeof v === 'string' && v) return v;
  } catch {
    /* not a readable GGUF: the loader says so */
  }
  const dir = unlearnRunDirOf(adapterPath);
  if (dir) {
    const sha = (readAdapterMeta(dir).base as { sha256?: unknown } | undefined)?.sha256;
    if (typeof sha === 'string' && sha) return sha;
  }
  return null;
}

const shaCache = new Map<string, string>();

/** sha256 of a file, cached per (path, size, mtime) for the life of the process. */
export function cachedSha256(file: string): string {
  const st = fs.statSync(file);
  const key = `${path.resolve(file)}\0${st.size}\0${st.mtimeMs}`;
  let v = shaCache.get(key);
  if (!v) shaCache.set(key, (v = sha256File(file)));
  return v;
}

/**
 * Provenance check: the adapter at `adapterPath` records the sha256 of the model it was made for;
 * applying it to `modelPath` with another sha256 computes a model nobody trained. Refused with a
 * UserError naming both files and hashes, unless `force` (then a warning through `warn`). Returns
 * the warning or note given, null when the hashes match or nothing is recorded.
 */
function checkAdapterBase(o: { adapterPath: string; modelPath: string; force?: boolean; warn?: (msg: string) => void; what?: string }): string | null {
  const recorded = adapterBaseSha256(o.adapterPath);
  if (!recorded) return null;
  const actual = cachedSha256(o.modelPath);
  if (actual === recorded) return null;
  const msg =
    `${o.what ?? 'adapter'} ${o.adapterPath} was made for a base model with sha256 ${recorded}, ` +
    `but ${o.modelPath} has sha256 ${actual}`;
  if (!o.force) throw new UserError(`${msg}; use the model it was made from, or pass --force to apply it anyway`);
  const w = `warning: ${msg}; applied anyway (--force)`;
  o.warn?.(w);
  return w;
}

/**
 * The unlearned model of a run folder, as it is served (servedArtifact): merged.gguf, or the base
 * checkpoint named in meta.json (its sha256 checked) plus the adapter's effective deltas (scale 1);
 * for a LoRA run the base model with the run's adapter attached.
 */
export function loadUnlearnedModel(dir: string): CausalLM {
  const meta = readAdapterMeta(dir);
  const art = fs.existsSync(path.join(dir, 'adapter.gguf')) || fs.existsSync(path.join(dir, 'merged.gguf')) ? servedArtifact(dir) : null;
  if (art?.kind === 'merged') return CausalLM.load(art.path);
  const base = meta.base?.checkpoint;
  if (!base || !fs.existsSync(base)) throw new UserError(`${dir}: its base checkpoint ${base} is missing`);
  if (sha256File(base) !== meta.base.sha256) throw new UserError(`${dir}: the base checkpoint ${base} changed since the adapter was made (sha256 differs)`);
  const model = CausalLM.load(base);
  const adapterPath = path.join(dir, 'adapter.gguf');
  if (!fs.existsSync(adapterPath)) return model;
  // a LoRA run's adapter is applied as trained (W x + s B (A x)), not merged
  if ((meta.lora as { kind?: string } | undefined)?.kind === 'factors') {
    attachLoraFile(model, adapterPath);
    return model;
  }
  const adapter = readGguf(adapterPath);
  const names = new Set(adapter.tensors.filter((t) => t.name.endsWith('.lora_a')).map((t) => t.name.slice(0, -'.lora_a'.length)));
  for (const name of names) {
    const d = loraDeltaFromAdapter(adapter, name, 1);
    const w = model.weights.get(name);
    if (!w) throw new UserError(`${adapterPath}: adapter tensor ${name} is not in the base model`);
    for (let i = 0; i < d.length; i++) w.data[i] = w.data[i]! + d[i]!;
  }
  return model;
}

/**
 * What `eval --adapter` (and the TUI) apply for an adapter argument on `modelPath`: for an
 * unlearning run (its folder or a file in it) its served artifact (merged.gguf, a whole model used
 * instead, when LoRA cannot hold the change; the note says so), with the run's recorded base
 * checked against `modelPath`; for any other adapter file, its recorded base sha256 checked
 * (checkAdapterBase). A different base is a UserError naming both hashes, or with `force` a warning.
 */
export function resolveAdapterForModel(o: { modelPath: string; adapter: string; adapterScale?: number; force?: boolean; warn?: (msg: string) => void }): {
  adapter: string;
  kind: 'adapter' | 'merged';
  notes: string[];
  artifact: ServedArtifact | null;
} {
  if (!fs.existsSync(o.adapter)) throw new UserError(`adapter not found: ${o.adapter}`);
  const runDir = unlearnRunDirOf(o.adapter);
  const notes: string[] = [];
  if (!runDir) {
    if (fs.statSync(o.adapter).isDirectory()) throw new UserError(`--adapter ${o.adapter} is a folder but not an unlearning run (no unlearnkit meta.json); give the adapter .gguf file`);
    const w = checkAdapterBase({ adapterPath: o.adapter, modelPath: o.modelPath, force: o.force, warn: o.warn });
    if (w) notes.push(w);
    return { adapter: o.adapter, kind: 'adapter', notes, artifact: null };
  }
  const art = servedArtifact(runDir);
  if (art.base.sha256) {
    const actual = cachedSha256(o.modelPath);
    if (actual !== art.base.sha256) {
      const msg = `unlearning run ${art.runId} was made from a model with sha256 ${art.base.sha256} (${art.base.checkpoint ?? 'path not recorded'}), but ${o.modelPath} has sha256 ${actual}`;
      if (!o.force) throw new UserError(`${msg}; use the model it was made from, or pass --force to apply it anyway`);
      const w = `warning: ${msg}; applied anyway (--force)`;
      o.warn?.(w);
      notes.push(w);
    }
  }
  if (art.kind === 'merged') {
    if (o.adapterScale !== undefined && o.adapterScale !== 1) throw new UserError(`run ${art.runId} is used as its merged model (${art.reason}), which has no adapter scale; drop --adapter-scale`);
    notes.push(servedArtifactNote(art));
  }
  return { adapter: art.path, kind: art.kind, notes, artifact: art };
}
