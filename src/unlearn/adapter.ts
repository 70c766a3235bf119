/**
 * Every unlearning run writes its change to `adapters/<run-id>/`, atomically (built in a temporary
 * sibling folder and renamed, src/util/fs.ts publishDirAtomic), so the inference server can load it
 * by run id (src/server/adapters.ts):
 *   adapter.gguf  llama.cpp LoRA adapter of the 2-D deltas (src/model/lora.ts: truncated SVD, exact
 *                 when a delta's rank <= maxRank; each tensor's relative error is in meta.json)
 *   merged.gguf   the full unlearned model (base checkpoint + every delta), written when a 1-D tensor
 *                 (a norm weight or bias) changed, since llama.cpp adapters hold matrices only, or
 *                 when asked for
 *   meta.json     method, strategy, filter, tensors, settings (step size, steps, ...), sha256 of the
 *                 base checkpoint and of the forget set, summary metrics, the LoRA report, and notes
 * For a LoRA fine-tune (the model has its adapter attached) the method changed the adapter's own
 * factors: adapter.gguf is then that adapter with the changes (every target, exact, no SVD), to be
 * applied to the run's base model in place of the fine-tune's adapter; meta.json's `base` is the
 * base model and `lora.kind` is 'factors'.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { attachLoraFile, loraDeltaFromAdapter, saveLoraAdapter, saveMergedModel, writeLoraFactors, type LoraFactors, type LoraTensorReport, type TensorDelta } from '../model/lora.ts';
import { readGguf } from '../model/gguf.ts';
import { CausalLM } from '../model/model.ts';
import { sha256File } from '../train/finetune.ts';
import { publishDirAtomic, writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { UserError } from '../util/errors.ts';
import type { Deltas } from './deltas.ts';
import type { Example } from './types.ts';

export const ADAPTER_META_FORMAT = 'unlearnkit.unlearn-adapter/1';

const RUN_ID_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** sha256 of a forget set: its (id, text) pairs sorted by id, as JSON. */
export function forgetSetSha256(items: Array<{ id: string; text: string }>): string {
  const pairs = items.map((e) => [e.id, e.text]).sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
  return crypto.createHash('sha256').update(JSON.stringify(pairs)).digest('hex');
}

/** A run id like `first-epoch-block-3-mlp-20240501-120000-ab12`. */
export function makeRunId(method: string, filter: string, now = new Date()): string {
  const slug = filter.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'all';
  const ts = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${method}-${slug}-${ts}-${crypto.randomBytes(2).toString('hex')}`;
}

export function checkRunId(id: string): string {
  if (!RUN_ID_RE.test(id)) throw new UserError(`run id '${id}' is not allowed: use letters, digits, '.', '_' and '-' (at most 128, not starting with '.' or '-')`);
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
  /** More files for the folder (published with it): name -> JSON value or text. */
  extraFiles?: Record<string, unknown>;
}

export interface AdapterWriteResult {
  dir: string;
  runId: string;
  adapterPath: string | null;
  mergedPath: string | null;
  lora: LoraTensorReport[];
  /** Changed 1-D tensors (not in the adapter; in merged.gguf). */
  oneDimensional: string[];
  notes: string[];
  meta: Record<string, unknown>;
}

export async function writeUnlearnAdapter(o: AdapterWriteOptions): Promise<AdapterWriteResult> {
  checkRunId(o.runId);
  if (o.model.lora) return writeLoraRunAdapter(o);
  const dir = path.join(o.adaptersDir, o.runId);
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
  const wantMerged = (one.length > 0 || !!o.merged) && two.length + one.length > 0;
  let lora: LoraTensorReport[] = [];
  let alpha: number | null = null;
  const maxRank = o.maxRank ?? 64;
  let meta: Record<string, unknown> = {};
  await publishDirAtomic(dir, (tmp) => {
    if (two.length) {
      const r = saveLoraAdapter(path.join(tmp, 'adapter.gguf'), { baseGgufPath: o.baseCheckpoint, deltas: two, maxRank });
      lora = r.tensors;
      alpha = r.alpha;
      const worst = Math.max(...lora.map((t) => t.relError));
      if (lora.some((t) => !t.exact)) notes.push(`some deltas have rank > ${maxRank}: the adapter is a truncation (largest relative error ${worst.toExponential(2)})`);
    }
    if (wantMerged) saveMergedModel(path.join(tmp, 'merged.gguf'), { baseGgufPath: o.baseCheckpoint, deltas: [...two, ...one] });
    meta = {
      format: ADAPTER_META_FORMAT,
      runId: o.runId,
      createdAt: new Date().toISOString(),
      ...o.meta,
      base: { checkpoint: path.resolve(o.baseCheckpoint), sha256: o.baseSha256 },
      forgetSet: { count: o.forget.length, sha256: forgetSetSha256(o.forget), ids: o.forget.map((e) => e.id) },
      files: { adapter: two.length ? 'adapter.gguf' : null, merged: wantMerged ? 'merged.gguf' : null },
      lora: { maxRank, alpha, tensors: lora },
      oneDimensional: one.map((d) => d.tensor),
      notes,
    };
    writeJsonAtomic(path.join(tmp, 'meta.json'), meta);
    for (const [name, v] of Object.entries(o.extraFiles ?? {})) {
      if (typeof v === 'string') writeFileAtomic(path.join(tmp, name), v);
      else writeJsonAtomic(path.join(tmp, name), v);
    }
  });
  return {
    dir,
    runId: o.runId,
    adapterPath: two.length ? path.join(dir, 'adapter.gguf') : null,
    mergedPath: wantMerged ? path.join(dir, 'merged.gguf') : null,
    lora,
    oneDimensional: one.map((d) => d.tensor),
    notes,
    meta,
  };
}

/** writeUnlearnAdapter for a LoRA run: the fine-tune's adapter plus the deltas of its factors, written whole. */
async function writeLoraRunAdapter(o: AdapterWriteOptions): Promise<AdapterWriteResult> {
  const lora = o.model.lora!;
  const dir = path.join(o.adaptersDir, o.runId);
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
  await publishDirAtomic(dir, (tmp) => {
    writeLoraFactors(path.join(tmp, 'adapter.gguf'), { arch: o.model.config.arch, alpha: lora.alpha, factors, baseSha256: o.baseSha256, name: `unlearnkit ${o.runId}` });
    meta = {
      format: ADAPTER_META_FORMAT,
      runId: o.runId,
      createdAt: new Date().toISOString(),
      ...o.meta,
      base: { checkpoint: path.resolve(o.baseCheckpoint), sha256: o.baseSha256 },
      forgetSet: { count: o.forget.length, sha256: forgetSetSha256(o.forget), ids: o.forget.map((e) => e.id) },
      files: { adapter: 'adapter.gguf', merged: null },
      lora: { kind: 'factors', alpha: lora.alpha, rank: Math.max(...[...factors.values()].map((f) => f.rank)), targets: lora.targets, changedFactors: changed },
      oneDimensional: [],
      notes,
    };
    writeJsonAtomic(path.join(tmp, 'meta.json'), meta);
    for (const [name, v] of Object.entries(o.extraFiles ?? {})) {
      if (typeof v === 'string') writeFileAtomic(path.join(tmp, name), v);
      else writeJsonAtomic(path.join(tmp, name), v);
    }
  });
  return { dir, runId: o.runId, adapterPath: path.join(dir, 'adapter.gguf'), mergedPath: null, lora: [], oneDimensional: [], notes, meta };
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

/**
 * The unlearned model of a run folder: merged.gguf when present, else the base checkpoint named in
 * meta.json (its sha256 checked) plus the adapter's effective deltas (scale 1); for a LoRA run the
 * base model with the run's adapter attached.
 */
export function loadUnlearnedModel(dir: string): CausalLM {
  const meta = readAdapterMeta(dir);
  const merged = path.join(dir, 'merged.gguf');
  if (fs.existsSync(merged)) return CausalLM.load(merged);
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
