/**
 * The first-epoch gradient record: for every training example, its gradient at the parameters it
 * met (restricted to the recorded tensors), plus what the optimiser did with it at that step, so
 * that an ascent can reverse the update the example actually caused (Zagardo 2024, first-epoch
 * gradient ascent; docs/methods.md#fine-tuning-and-the-gradient-record).
 *
 * On disk (a folder, default `<run>/grads/`):
 *   index.json          format, tensors (name, ne, storage), dtype, and one entry per
 *                       (example, epoch): file, byte offset, byte length, step, batch weight, tokens
 *   epoch-<e>.bin       the records of epoch e, one after another. One record = for each recorded
 *                       tensor in index order, by its storage:
 *                         dense:        numel values                                (norms, biases)
 *                         sparse:       u32 nRows, i32 rows[nRows], nRows * rowSize values
 *                                                                    (an untied embedding's lookup)
 *                         linear:       u32 n, then either (n = 0xFFFFFFFF) numel values, the dense
 *                                       gradient, or n x d_in inputs and n x d_out output gradients,
 *                                       the factored form (factored.ts: G = sum_t x_t dy_t^T)
 *                         linear+rows:  as linear, and after a factored form the sparse rows of the
 *                                       lookup (u32 nRows, i32 rows, values): a tied embedding
 *                       values are fp32 or fp16 (little-endian), per `dtype`.
 *   steps-<e>.bin       AdamW only: per optimiser step, lr / (sqrt(v_hat) + eps) for every recorded
 *                       element (fp32 or fp16); index.json's `steps` give offsets.
 * A linear tensor is stored factored for an example of n predicted tokens when that takes fewer
 * numbers, d_in d_out > n (d_in + d_out) (factoredIsSmaller; a tied embedding counts its rows too,
 * factoredWithRowsIsSmaller), else dense: the record of a fine-tune
 * on short examples costs about n (d_in + d_out) / (d_in d_out) of the dense one (SmolLM2-135M on
 * the Dave facts: ~1/13 per example; the AdamW step scales, one dense set per step, are then most of
 * it). `estimateRecord` gives the exact size of the .bin files before training from the examples'
 * token sequences.
 *
 * Formats: `unlearnkit.gradrecord/2` (this one) and `unlearnkit.gradrecord/1` (dense and sparse
 * only; still read). index.json is rewritten atomically after each epoch; an epoch file that the
 * index does not mention (an interrupted epoch) is overwritten when that epoch is re-run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic, ensureDir, writevAllSync } from '../util/fs.ts';
import { encodeF16, decodeF16 } from '../model/ggufTypes.ts';
import { UserError } from '../util/errors.ts';
import { isSparse, type ExampleGrad, type SparseRows } from '../model/perExample.ts';
import { factoredIsSmaller, factoredWithRowsIsSmaller, isFactored, type FactoredGrad } from '../model/factored.ts';

export const GRAD_RECORD_FORMAT = 'unlearnkit.gradrecord/2';
/** The first format: dense and sparse tensors only. Read, never written. */
export const GRAD_RECORD_FORMAT_V1 = 'unlearnkit.gradrecord/1';
/** The u32 that marks a linear tensor's dense form. */
const DENSE_FORM = 0xffffffff;

export type RecordDType = 'f32' | 'f16';
export type RecordStorage = 'dense' | 'sparse' | 'linear' | 'linear+rows';

export interface RecordTensor {
  name: string;
  ne: number[];
  storage: RecordStorage;
}

export interface RecordEntry {
  id: string;
  epoch: number;
  /** Global optimiser step (1-based) at which the example was seen. */
  step: number;
  file: string;
  offset: number;
  bytes: number;
  /** The example's weight in its batch gradient (its predicted tokens / the batch's). */
  batchWeight: number;
  /** Predicted tokens n_b (its length - 1). */
  tokens: number;
}

export interface StepEntry {
  step: number;
  epoch: number;
  lr: number;
  batchSize: number;
  /** AdamW step-scale arrays for this step: file, offset, bytes (absent for SGD). */
  scale?: { file: string; offset: number; bytes: number };
}

export interface RecordIndex {
  format: typeof GRAD_RECORD_FORMAT | typeof GRAD_RECORD_FORMAT_V1;
  dtype: RecordDType;
  optimizer: 'adamw' | 'sgd';
  /** AdamW hyper-parameters (for reference). */
  adam?: { beta1: number; beta2: number; eps: number; weightDecay: number };
  baseModelSha256?: string;
  tensors: RecordTensor[];
  epochs: number[];
  entries: RecordEntry[];
  steps: StepEntry[];
}

/**
 * How a recorded tensor is stored: the embeddings' lookups as sparse rows (a tied embedding is also
 * the output projection: linear+rows), other matrices (y = W x) as linear, vectors dense.
 */
export function recordStorage(name: string, ne: number[], tiedOutput: boolean): RecordStorage {
  if (name === 'position_embd.weight') return 'sparse';
  if (name === 'token_embd.weight') return tiedOutput ? 'linear+rows' : 'sparse';
  return ne.length === 2 ? 'linear' : 'dense';
}

const numelOf = (ne: number[]) => ne.reduce((a, b) => a * b, 1);
const elemSize = (dtype: RecordDType) => (dtype === 'f16' ? 2 : 4);

function bytesOf(values: Float32Array, dtype: RecordDType): Uint8Array {
  return dtype === 'f32' ? new Uint8Array(values.buffer, values.byteOffset, values.byteLength) : encodeF16(values);
}

function valuesOf(buf: Uint8Array, n: number, dtype: RecordDType): Float32Array {
  if (dtype === 'f16') return decodeF16(buf, n);
  const copy = new Uint8Array(n * 4);
  copy.set(buf.subarray(0, n * 4));
  return new Float32Array(copy.buffer);
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

function rowsParts(g: SparseRows, dtype: RecordDType): Uint8Array[] {
  const head = new Uint8Array(4 + 4 * g.rows.length);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, g.rows.length, true);
  g.rows.forEach((r, i) => dv.setInt32(4 + 4 * i, r, true));
  return [head, bytesOf(g.values, dtype)];
}

/** The form one tensor takes in one record. */
export type TensorForm = 'dense' | 'sparse' | 'factored';

/** Bytes of one tensor in one record: its form, its tokens n (factored) and rows (sparse parts). */
function tensorRecordBytes(t: RecordTensor, dtype: RecordDType, form: TensorForm, nTok = 0, nRows = 0): number {
  const es = elemSize(dtype);
  const rowsBytes = 4 + 4 * nRows + nRows * t.ne[0]! * es;
  const head = t.storage === 'linear' || t.storage === 'linear+rows' ? 4 : 0;
  if (form === 'dense') return head + numelOf(t.ne) * es;
  if (form === 'sparse') return rowsBytes;
  return head + nTok * (t.ne[0]! + t.ne[1]!) * es + (t.storage === 'linear+rows' ? rowsBytes : 0);
}

/** Writes one epoch's records; call `finishEpoch` to publish them in the index. */
export class GradRecordWriter {
  private index: RecordIndex;
  private fd: number | null = null;
  private stepsFd: number | null = null;
  private offset = 0;
  private stepsOffset = 0;
  private epoch = 0;
  private pending: RecordEntry[] = [];
  private pendingSteps: StepEntry[] = [];

  constructor(
    readonly dir: string,
    init: Omit<RecordIndex, 'format' | 'epochs' | 'entries' | 'steps'>,
  ) {
    ensureDir(dir);
    const existing = path.join(dir, 'index.json');
    if (fs.existsSync(existing)) {
      const idx = readIndex(dir);
      if (idx.format !== GRAD_RECORD_FORMAT) {
        throw new UserError(`${dir} holds a gradient record of format ${idx.format}, which this version reads but does not extend; choose another --out (or delete it) to record in format ${GRAD_RECORD_FORMAT}`);
      }
      const same = JSON.stringify(idx.tensors) === JSON.stringify(init.tensors) && idx.dtype === init.dtype;
      if (!same) throw new UserError(`${dir} holds a gradient record of other tensors or dtype; choose another --out`);
      this.index = idx;
    } else {
      this.index = { format: GRAD_RECORD_FORMAT, ...init, epochs: [], entries: [], steps: [] };
    }
  }

  get tensors(): RecordTensor[] {
    return this.index.tensors;
  }

  /** Start (or restart) epoch e: its files are truncated and its old entries dropped. */
  beginEpoch(e: number): void {
    this.epoch = e;
    this.index.entries = this.index.entries.filter((x) => x.epoch !== e);
    this.index.steps = this.index.steps.filter((x) => x.epoch !== e);
    this.index.epochs = this.index.epochs.filter((x) => x !== e);
    this.fd = fs.openSync(path.join(this.dir, `epoch-${e}.bin`), 'w');
    this.offset = 0;
    if (this.index.optimizer === 'adamw') {
      this.stepsFd = fs.openSync(path.join(this.dir, `steps-${e}.bin`), 'w');
      this.stepsOffset = 0;
    }
    this.pending = [];
    this.pendingSteps = [];
  }

  /** Append one example's gradients (all recorded tensors, in the forms their storage allows). */
  addExample(id: string, step: number, grads: Map<string, ExampleGrad>, batchWeight: number, tokens: number): void {
    if (this.fd === null) throw new Error('beginEpoch first');
    const dtype = this.index.dtype;
    const parts: Uint8Array[] = [];
    for (const t of this.index.tensors) {
      const g = grads.get(t.name);
      if (!g) throw new Error(`no gradient of ${t.name} for example ${id}`);
      const numel = numelOf(t.ne);
      const what = isFactored(g) ? 'a factored' : isSparse(g) ? 'a sparse' : 'a dense';
      const wrong = () => new Error(`${t.name} is stored as ${t.storage} but ${what} gradient was given`);
      if (t.storage === 'sparse') {
        if (!isSparse(g)) throw wrong();
        parts.push(...rowsParts(g, dtype));
      } else if (t.storage === 'dense') {
        if (!(g instanceof Float32Array)) throw wrong();
        if (g.length !== numel) throw new Error(`${t.name}: ${g.length} values for ${numel}`);
        parts.push(bytesOf(g, dtype));
      } else if (g instanceof Float32Array) {
        if (g.length !== numel) throw new Error(`${t.name}: ${g.length} values for ${numel}`);
        parts.push(u32(DENSE_FORM), bytesOf(g, dtype));
      } else if (isFactored(g)) {
        if (g.dIn !== t.ne[0] || g.dOut !== t.ne[1]) throw new Error(`${t.name}: a factored gradient of ${g.dIn} x ${g.dOut} for ne [${t.ne.join(', ')}]`);
        if (g.rows && t.storage !== 'linear+rows') throw wrong();
        parts.push(u32(g.nTok), bytesOf(g.x, dtype), bytesOf(g.dy, dtype));
        if (t.storage === 'linear+rows') parts.push(...rowsParts(g.rows ?? { rows: new Int32Array(0), values: new Float32Array(0), rowSize: t.ne[0]! }, dtype));
      } else throw wrong();
    }
    const bytes = writevAllSync(this.fd, parts); // one system call per example
    this.pending.push({ id, epoch: this.epoch, step, file: `epoch-${this.epoch}.bin`, offset: this.offset, bytes, batchWeight, tokens });
    this.offset += bytes;
  }

  /** Record an optimiser step; for AdamW, with its per-element step scale (recorded tensors, index order). */
  addStep(step: number, lr: number, batchSize: number, scales?: Float32Array[]): void {
    const entry: StepEntry = { step, epoch: this.epoch, lr, batchSize };
    if (scales && this.stepsFd !== null) {
      const bytes = writevAllSync(this.stepsFd, scales.map((s) => bytesOf(s, this.index.dtype)));
      entry.scale = { file: `steps-${this.epoch}.bin`, offset: this.stepsOffset, bytes };
      this.stepsOffset += bytes;
    }
    this.pendingSteps.push(entry);
  }

  /** Bytes written to this epoch's files so far (records and step scales). */
  get epochBytes(): number {
    return this.offset + this.stepsOffset;
  }

  /** Flush the epoch's files and publish its entries in index.json (atomically). */
  finishEpoch(): void {
    for (const fd of [this.fd, this.stepsFd]) {
      if (fd !== null) {
        fs.fsyncSync(fd);
        fs.closeSync(fd);
      }
    }
    this.fd = null;
    this.stepsFd = null;
    this.index.entries.push(...this.pending);
    this.index.steps.push(...this.pendingSteps);
    this.index.epochs = [...new Set([...this.index.epochs, this.epoch])].sort((a, b) => a - b);
    writeJsonAtomic(path.join(this.dir, 'index.json'), this.index);
  }

  /** Abandon an unfinished epoch (its file stays unreferenced and is overwritten by a re-run). */
  abort(): void {
    for (const fd of [this.fd, this.stepsFd]) if (fd !== null) fs.closeSync(fd);
    this.fd = null;
    this.stepsFd = null;
  }
}

function readIndex(dir: string): RecordIndex {
  const p = path.join(dir, 'index.json');
  if (!fs.existsSync(p)) throw new UserError(`${dir} is not a gradient record (no index.json)`);
  let idx: RecordIndex;
  try {
    idx = JSON.parse(fs.readFileSync(p, 'utf8')) as RecordIndex;
  } catch (e) {
    throw new UserError(`${p} is not valid JSON: ${(e as Error).message}`);
  }
  if (idx.format !== GRAD_RECORD_FORMAT && idx.format !== GRAD_RECORD_FORMAT_V1) {
    throw new UserError(`${p}: unknown gradient record format '${String(idx.format)}' (this version reads ${GRAD_RECORD_FORMAT} and ${GRAD_RECORD_FORMAT_V1}; a newer unlearnkit may have written it)`);
  }
  for (const t of idx.tensors) {
    const ok = idx.format === GRAD_RECORD_FORMAT_V1 ? ['dense', 'sparse'] : ['dense', 'sparse', 'linear', 'linear+rows'];
    if (!ok.includes(t.storage)) throw new UserError(`${p}: tensor ${t.name} has storage '${String(t.storage)}', not one of ${ok.join(', ')} (format ${idx.format})`);
  }
  return idx;
}

/** Where each tensor of a record lies: its form, tokens / rows, and byte range in the record. */
export interface TensorLayout {
  form: TensorForm;
  nTok: number;
  nRows: number;
  offset: number;
  bytes: number;
}

/** Per-tensor statistics of a record (`grads info`). */
export interface TensorInfo extends RecordTensor {
  /** Records in each form. */
  forms: Partial<Record<TensorForm, number>>;
  bytes: number;
  /** What the same records would take dense (numel values each). */
  denseBytes: number;
  /** denseBytes / bytes. */
  ratio: number;
}

export interface RecordInfo {
  format: string;
  examples: number;
  epochs: number[];
  tensors: TensorInfo[];
  dtype: RecordDType;
  optimizer: 'adamw' | 'sgd';
  recordBytes: number;
  /** The per-example gradients if every tensor were dense (format 1 without sparse rows). */
  denseRecordBytes: number;
  /** denseRecordBytes / recordBytes. */
  ratio: number;
  stepBytes: number;
  files: number;
}

/** Random access to a record folder. */
export class GradRecordReader {
  readonly index: RecordIndex;
  private byKey = new Map<string, RecordEntry>();
  private stepByNumber = new Map<number, StepEntry>();

  constructor(readonly dir: string) {
    this.index = readIndex(dir);
    for (const e of this.index.entries) this.byKey.set(`${e.id}@${e.epoch}`, e);
    for (const s of this.index.steps) this.stepByNumber.set(s.step, s);
  }

  /** Example ids present for an epoch. */
  ids(epoch = 1): string[] {
    return this.index.entries.filter((e) => e.epoch === epoch).map((e) => e.id);
  }

  entry(id: string, epoch = 1): RecordEntry {
    const e = this.byKey.get(`${id}@${epoch}`);
    if (!e) throw new UserError(`no recorded gradient for example '${id}' in epoch ${epoch} of ${this.dir}`);
    return e;
  }

  /**
   * Walk a record's tensors: `word(off)` reads the u32 at a byte offset of the record. Returns each
   * tensor's layout; the total must be the entry's length.
   */
  private walk(e: RecordEntry, word: (off: number) => number): TensorLayout[] {
    const dtype = this.index.dtype;
    const out: TensorLayout[] = [];
    let off = 0;
    const need = (n: number, at = off) => {
      if (at + n > e.bytes) throw new UserError(`${this.dir}: the record of '${e.id}' (epoch ${e.epoch}) is ${e.bytes} bytes but its tensors need more; the record is corrupt`);
    };
    for (const t of this.index.tensors) {
      let l: TensorLayout;
      if (t.storage === 'dense') l = { form: 'dense', nTok: 0, nRows: 0, offset: off, bytes: tensorRecordBytes(t, dtype, 'dense') };
      else if (t.storage === 'sparse') {
        need(4);
        const nRows = word(off);
        l = { form: 'sparse', nTok: 0, nRows, offset: off, bytes: tensorRecordBytes(t, dtype, 'sparse', 0, nRows) };
      } else {
        need(4);
        const n = word(off);
        if (n === DENSE_FORM) l = { form: 'dense', nTok: 0, nRows: 0, offset: off, bytes: tensorRecordBytes(t, dtype, 'dense') };
        else {
          let nRows = 0;
          if (t.storage === 'linear+rows') {
            const at = off + 4 + n * (t.ne[0]! + t.ne[1]!) * elemSize(dtype);
            need(4, at);
            nRows = word(at);
          }
          l = { form: 'factored', nTok: n, nRows, offset: off, bytes: tensorRecordBytes(t, dtype, 'factored', n, nRows) };
        }
      }
      need(l.bytes);
      out.push(l);
      off += l.bytes;
    }
    if (off !== e.bytes) throw new UserError(`${this.dir}: the record of '${e.id}' (epoch ${e.epoch}) is ${e.bytes} bytes but its tensors take ${off}; the record is corrupt`);
    return out;
  }

  /** Each tensor's form and size in one record, from its headers only (no values read). */
  layout(id: string, epoch = 1): TensorLayout[] {
    const e = this.entry(id, epoch);
    const fd = fs.openSync(path.join(this.dir, e.file), 'r');
    try {
      const b = new Uint8Array(4);
      const dv = new DataView(b.buffer);
      return this.walk(e, (off) => {
        if (fs.readSync(fd, b, 0, 4, e.offset + off) !== 4) throw new UserError(`${path.join(this.dir, e.file)} is truncated`);
        return dv.getUint32(0, true);
      });
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The example's gradients by tensor name: dense arrays, SparseRows, or FactoredGrad (factored.ts). */
  read(id: string, epoch = 1): Map<string, ExampleGrad> {
    const e = this.entry(id, epoch);
    const buf = readAt(path.join(this.dir, e.file), e.offset, e.bytes);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const layout = this.walk(e, (off) => dv.getUint32(off, true));
    const dtype = this.index.dtype;
    const es = elemSize(dtype);
    const vals = (off: number, n: number) => valuesOf(buf.subarray(off, off + n * es), n, dtype);
    const rowsAt = (off: number, rowSize: number): SparseRows => {
      const nRows = dv.getUint32(off, true);
      const rows = new Int32Array(nRows);
      for (let i = 0; i < nRows; i++) rows[i] = dv.getInt32(off + 4 + 4 * i, true);
      return { rows, values: vals(off + 4 + 4 * nRows, nRows * rowSize), rowSize };
    };
    const out = new Map<string, ExampleGrad>();
    this.index.tensors.forEach((t, i) => {
      const l = layout[i]!;
      const head = t.storage === 'linear' || t.storage === 'linear+rows' ? 4 : 0;
      if (l.form === 'dense') out.set(t.name, vals(l.offset + head, numelOf(t.ne)));
      else if (l.form === 'sparse') out.set(t.name, rowsAt(l.offset, t.ne[0]!));
      else {
        const [dIn, dOut] = [t.ne[0]!, t.ne[1]!];
        const xAt = l.offset + 4;
        const dyAt = xAt + l.nTok * dIn * es;
        const f: FactoredGrad = { kind: 'factored', nTok: l.nTok, dIn, dOut, x: vals(xAt, l.nTok * dIn), dy: vals(dyAt, l.nTok * dOut) };
        if (t.storage === 'linear+rows') f.rows = rowsAt(dyAt + l.nTok * dOut * es, t.ne[0]!);
        out.set(t.name, f);
      }
    });
    return out;
  }

  /** AdamW per-element step scales at a step (recorded tensors, index order), or null for SGD. */
  stepScales(step: number): Map<string, Float32Array> | null {
    const s = this.step(step);
    if (!s.scale) return null;
    const buf = readAt(path.join(this.dir, s.scale.file), s.scale.offset, s.scale.bytes);
    const es = elemSize(this.index.dtype);
    const out = new Map<string, Float32Array>();
    let off = 0;
    for (const t of this.index.tensors) {
      const n = numelOf(t.ne);
      out.set(t.name, valuesOf(buf.subarray(off, off + n * es), n, this.index.dtype));
      off += n * es;
    }
    return out;
  }

  step(step: number): StepEntry {
    const s = this.stepByNumber.get(step);
    if (!s) throw new UserError(`no optimiser step ${step} in ${this.dir}`);
    return s;
  }

  /** Sizes for `grads info`: per tensor, the forms its records take and their size against dense (headers read, not values). */
  info(): RecordInfo {
    const dtype = this.index.dtype;
    const es = elemSize(dtype);
    const per = this.index.tensors.map((t) => ({ ...t, forms: {} as Partial<Record<TensorForm, number>>, bytes: 0, denseBytes: 0, ratio: 1 }));
    let recordBytes = 0;
    let stepBytes = 0;
    for (const e of this.index.entries) {
      recordBytes += e.bytes;
      this.layout(e.id, e.epoch).forEach((l, i) => {
        const p = per[i]!;
        p.forms[l.form] = (p.forms[l.form] ?? 0) + 1;
        p.bytes += l.bytes;
        p.denseBytes += numelOf(p.ne) * es;
      });
    }
    for (const p of per) p.ratio = p.bytes > 0 ? p.denseBytes / p.bytes : 1;
    for (const s of this.index.steps) stepBytes += s.scale?.bytes ?? 0;
    const denseRecordBytes = per.reduce((a, p) => a + p.denseBytes, 0);
    return {
      format: this.index.format,
      examples: new Set(this.index.entries.map((e) => e.id)).size,
      epochs: this.index.epochs,
      tensors: per,
      dtype,
      optimizer: this.index.optimizer,
      recordBytes,
      denseRecordBytes,
      ratio: recordBytes > 0 ? denseRecordBytes / recordBytes : 1,
      stepBytes,
      files: fs.readdirSync(this.dir).length,
    };
  }
}

function readAt(file: string, offset: number, bytes: number): Uint8Array {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = new Uint8Array(bytes);
    const n = fs.readSync(fd, buf, 0, bytes, offset);
    if (n !== bytes) throw new UserError(`${file} is truncated (wanted ${bytes} bytes at ${offset}, got ${n})`);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// The size of a record before it is written

export interface RecordEstimate {
  dtype: RecordDType;
  optimizer: 'adamw' | 'sgd';
  examples: number;
  /** Epochs recorded (1 for first-epoch). */
  epochs: number;
  /** Optimiser steps recorded (all recorded epochs). */
  steps: number;
  /** Per-example gradients, all recorded epochs (epoch-<e>.bin). */
  exampleBytes: number;
  /** The same with every tensor dense (numel values): what format 1 would take without sparse rows. */
  denseExampleBytes: number;
  /** AdamW step scales (steps-<e>.bin); 0 for SGD. */
  stepBytes: number;
  /** exampleBytes + stepBytes: the .bin files exactly (index.json comes on top). */
  totalBytes: number;
  /** denseExampleBytes + stepBytes. */
  denseTotalBytes: number;
  /** Per tensor: records in each form, and bytes. */
  tensors: Array<{ name: string; storage: RecordStorage; forms: Partial<Record<TensorForm, number>>; bytes: number; denseBytes: number }>;
}

/**
 * The exact size of a record's .bin files before training, from the recorded tensors, the dtype,
 * the optimiser and the examples' token sequences (after clipping): every example is recorded once
 * per recorded epoch, in the form readPerExample gives it (linear tensors factored when smaller for
 * its length - 1 predicted tokens), with sparse rows for the distinct tokens it looks up (positions
 * for position_embd); AdamW adds one dense set of step scales per optimiser step, ceil(N / B) per
 * epoch.
 */
export function estimateRecord(o: {
  tensors: RecordTensor[];
  dtype: RecordDType;
  optimizer: 'adamw' | 'sgd';
  sequences: number[][];
  batch: number;
  epochs: number;
}): RecordEstimate {
  const es = elemSize(o.dtype);
  const N = o.sequences.length;
  const B = Math.max(1, Math.min(o.batch, N));
  const steps = N === 0 ? 0 : Math.ceil(N / B) * o.epochs;
  const per = o.tensors.map((t) => ({ name: t.name, storage: t.storage, forms: {} as Partial<Record<TensorForm, number>>, bytes: 0, denseBytes: 0 }));
  for (const s of o.sequences) {
    const nTok = Math.max(0, s.length - 1);
    const distinct = new Set(s).size;
    o.tensors.forEach((t, i) => {
      const nRows = t.name === 'position_embd.weight' ? s.length : distinct;
      let form: TensorForm;
      if (t.storage === 'dense') form = 'dense';
      else if (t.storage === 'sparse') form = 'sparse';
      else {
        const [dIn, dOut] = [t.ne[0]!, t.ne[1]!];
        const smaller = factoredIsSmaller(nTok, dIn, dOut) && (t.storage === 'linear' || factoredWithRowsIsSmaller(nTok, dIn, dOut, nRows));
        form = smaller ? 'factored' : 'dense';
      }
      const p = per[i]!;
      p.forms[form] = (p.forms[form] ?? 0) + o.epochs;
      p.bytes += o.epochs * tensorRecordBytes(t, o.dtype, form, nTok, nRows);
      p.denseBytes += o.epochs * numelOf(t.ne) * es;
    });
  }
  const exampleBytes = per.reduce((a, p) => a + p.bytes, 0);
  const denseExampleBytes = per.reduce((a, p) => a + p.denseBytes, 0);
  const stepBytes = o.optimizer === 'adamw' ? steps * o.tensors.reduce((a, t) => a + numelOf(t.ne), 0) * es : 0;
  return {
    dtype: o.dtype,
    optimizer: o.optimizer,
    examples: N,
    epochs: o.epochs,
    steps,
    exampleBytes,
    denseExampleBytes,
    stepBytes,
    totalBytes: exampleBytes + stepBytes,
    denseTotalBytes: denseExampleBytes + stepBytes,
    tensors: per,
  };
}

/** Bytes as GB (10^9) with 2 decimals, or MB below 1 GB. */
export function formatBytes(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}

/** The most a record may take: --max-record-gb, else a quarter of the free space where it is written. */
export interface RecordLimit {
  bytes: number;
  from: 'option' | 'free-space' | 'none';
  /** Free bytes on the record's filesystem (fs.statfs), when known. */
  freeBytes?: number;
  dir: string;
}

/** Share of the free space a record may take by default. */
const DEFAULT_RECORD_SHARE = 0.25;

/**
 * The record size limit for a record written under `dir` (an existing folder): `maxGb` (10^9
 * bytes) when given, else 25% of the free space on its filesystem (fs.statfs: blocks available to
 * this user), else (no statfs) none.
 */
export function recordLimit(dir: string, maxGb?: number): RecordLimit {
  let freeBytes: number | undefined;
  try {
    const st = fs.statfsSync(dir);
    freeBytes = Number(st.bavail) * Number(st.bsize);
  } catch {
    freeBytes = undefined;
  }
  if (maxGb !== undefined) {
    if (!(maxGb >= 0) || !Number.isFinite(maxGb)) throw new UserError(`--max-record-gb must be a non-negative number, got ${maxGb}`);
    return { bytes: maxGb * 1e9, from: 'option', freeBytes, dir };
  }
  if (freeBytes === undefined) return { bytes: Infinity, from: 'none', dir };
  return { bytes: DEFAULT_RECORD_SHARE * freeBytes, from: 'free-space', freeBytes, dir };
}

/** One line: the estimate, its parts and the limit. */
export function describeRecordEstimate(e: RecordEstimate, limit?: RecordLimit): string {
  const ratio = e.exampleBytes > 0 ? e.denseExampleBytes / e.exampleBytes : 1;
  const parts = [
    `per-example gradients ${formatBytes(e.exampleBytes)} for ${e.examples} examples x ${e.epochs} epoch${e.epochs === 1 ? '' : 's'} (${ratio.toFixed(1)}x smaller than dense, ${formatBytes(e.denseExampleBytes)})`,
  ];
  if (e.optimizer === 'adamw') parts.push(`AdamW step scales ${formatBytes(e.stepBytes)} for ${e.steps} steps`);
  let line = `gradient record: ${formatBytes(e.totalBytes)} to write, ${e.dtype} (${parts.join('; ')})`;
  if (limit) line += `; limit ${limitText(limit)}`;
  return line;
}

function limitText(l: RecordLimit): string {
  const free = l.freeBytes !== undefined ? `${formatBytes(l.freeBytes)} free on ${l.dir}` : `free space of ${l.dir} unknown`;
  if (l.from === 'option') return `${formatBytes(l.bytes)} (--max-record-gb; ${free})`;
  if (l.from === 'free-space') return `${formatBytes(l.bytes)} (${Math.round(DEFAULT_RECORD_SHARE * 100)}% of the ${free}; --max-record-gb sets it)`;
  return `none (${free}; --max-record-gb sets one)`;
}

/** Refuses (UserError, before any training) a record larger than the limit, with the numbers and what makes it smaller. */
export function checkRecordFits(e: RecordEstimate, limit: RecordLimit): void {
  if (e.totalBytes <= limit.bytes) return;
  const parts = [`per-example gradients ${formatBytes(e.exampleBytes)} for ${e.examples} examples x ${e.epochs} epoch${e.epochs === 1 ? '' : 's'}`];
  if (e.optimizer === 'adamw') parts.push(`AdamW step scales ${formatBytes(e.stepBytes)} for ${e.steps} steps`);
  throw new UserError(
    `the gradient record would take ${formatBytes(e.totalBytes)} (${parts.join(', ')}; ${e.dtype}), above the limit of ${limitText(limit)}. ` +
      `Make it smaller with --record-filter (record fewer tensors, e.g. embedding or block:-1), --record-dtype f16 (half the bytes), ` +
      `--lora r (train and record low-rank adapters only)${e.optimizer === 'adamw' ? ', --optimizer sgd (no step scales)' : ''} or --record none; or raise --max-record-gb.`,
  );
}
