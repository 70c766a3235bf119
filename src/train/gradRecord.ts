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
 *                       tensor in index order:
 *                         dense:  numel values
 *                         sparse: u32 nRows, i32 rows[nRows], nRows * rowSize values
 *                       values are fp32 or fp16 (little-endian), per `dtype`.
 *   steps-<e>.bin       AdamW only: per optimiser step, lr / (sqrt(v_hat) + eps) for every recorded
 *                       element (fp32 or fp16); index.json's `steps` give offsets.
 * Embedding gradients are stored sparsely (rows of tokens present in the example only).
 * index.json is rewritten atomically after each epoch; an epoch file that the index does not
 * mention (an interrupted epoch) is overwritten when that epoch is re-run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic, ensureDir, writevAllSync } from '../util/fs.ts';
import { encodeF16, decodeF16 } from '../model/ggufTypes.ts';
import { UserError } from '../util/errors.ts';
import { isSparse, type ExampleGrad } from './perExample.ts';

export const GRAD_RECORD_FORMAT = 'unlearnkit.gradrecord/1';

export type RecordDType = 'f32' | 'f16';

export interface RecordTensor {
  name: string;
  ne: number[];
  storage: 'dense' | 'sparse';
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
  format: typeof GRAD_RECORD_FORMAT;
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

function bytesOf(values: Float32Array, dtype: RecordDType): Uint8Array {
  return dtype === 'f32' ? new Uint8Array(values.buffer, values.byteOffset, values.byteLength) : encodeF16(values);
}

function valuesOf(buf: Uint8Array, n: number, dtype: RecordDType): Float32Array {
  if (dtype === 'f16') return decodeF16(buf, n);
  const copy = new Uint8Array(n * 4);
  copy.set(buf.subarray(0, n * 4));
  return new Float32Array(copy.buffer);
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

  /** Append one example's gradients (all recorded tensors). */
  addExample(id: string, step: number, grads: Map<string, ExampleGrad>, batchWeight: number, tokens: number): void {
    if (this.fd === null) throw new Error('beginEpoch first');
    const parts: Uint8Array[] = [];
    for (const t of this.index.tensors) {
      const g = grads.get(t.name);
      if (!g) throw new Error(`no gradient of ${t.name} for example ${id}`);
      if (t.storage === 'sparse') {
        if (!isSparse(g)) throw new Error(`${t.name} is stored sparsely but a dense gradient was given`);
        const head = new Uint8Array(4 + 4 * g.rows.length);
        const dv = new DataView(head.buffer);
        dv.setUint32(0, g.rows.length, true);
        g.rows.forEach((r, i) => dv.setInt32(4 + 4 * i, r, true));
        parts.push(head, bytesOf(g.values, this.index.dtype));
      } else {
        if (isSparse(g)) throw new Error(`${t.name} is stored densely but a sparse gradient was given`);
        parts.push(bytesOf(g, this.index.dtype));
      }
    }
    const bytes = writevAllSync(this.fd, parts); // one system call per example
    this.pending.push({ id, epoch: this.epoch, step, file: `epoch-${this.epoch}.bin`, offset: this.offset, bytes, batchWeight, tokens });
    this.offset += bytes;
  }

  /** Record an optimiser step; for AdamW, with its per-element step scale (recorded tensors, index order). */
  addStep(step: number, lr: number, batchSize: number, scales?: Float32Array[]): void {
    const entry: StepEntry = { step, epoch: this.epoch, lr, batchSize };
    if (scales && this.stepsFd !== null) {
      let bytes = 0;
      for (const s of scales) {
        const b = bytesOf(s, this.index.dtype);
        fs.writeSync(this.stepsFd, b);
        bytes += b.byteLength;
      }
      entry.scale = { file: `steps-${this.epoch}.bin`, offset: this.stepsOffset, bytes };
      this.stepsOffset += bytes;
    }
    this.pendingSteps.push(entry);
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

export function readIndex(dir: string): RecordIndex {
  const p = path.join(dir, 'index.json');
  if (!fs.existsSync(p)) throw new UserError(`${dir} is not a gradient record (no index.json)`);
  let idx: RecordIndex;
  try {
    idx = JSON.parse(fs.readFileSync(p, 'utf8')) as RecordIndex;
  } catch (e) {
    throw new UserError(`${p} is not valid JSON: ${(e as Error).message}`);
  }
  if (idx.format !== GRAD_RECORD_FORMAT) throw new UserError(`${p}: unknown format '${String(idx.format)}' (expected ${GRAD_RECORD_FORMAT})`);
  return idx;
}

/** Random access to a record folder. */
export class GradRecordReader {
  readonly index: RecordIndex;
  private byKey = new Map<string, RecordEntry>();

  constructor(readonly dir: string) {
    this.index = readIndex(dir);
    for (const e of this.index.entries) this.byKey.set(`${e.id}@${e.epoch}`, e);
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

  /** The example's gradients by tensor name (sparse tensors as SparseRows). */
  read(id: string, epoch = 1): Map<string, ExampleGrad> {
    const e = this.entry(id, epoch);
    const buf = readAt(path.join(this.dir, e.file), e.offset, e.bytes);
    const out = new Map<string, ExampleGrad>();
    const es = this.index.dtype === 'f16' ? 2 : 4;
    let off = 0;
    for (const t of this.index.tensors) {
      if (t.storage === 'sparse') {
        const dv = new DataView(buf.buffer, buf.byteOffset + off);
        const nRows = dv.getUint32(0, true);
        const rows = new Int32Array(nRows);
        for (let i = 0; i < nRows; i++) rows[i] = dv.getInt32(4 + 4 * i, true);
        off += 4 + 4 * nRows;
        const rowSize = t.ne[0]!;
        const n = nRows * rowSize;
        out.set(t.name, { rows, values: valuesOf(buf.subarray(off, off + n * es), n, this.index.dtype), rowSize });
        off += n * es;
      } else {
        const n = t.ne.reduce((a, b) => a * b, 1);
        out.set(t.name, valuesOf(buf.subarray(off, off + n * es), n, this.index.dtype));
        off += n * es;
      }
    }
    if (off !== e.bytes) throw new UserError(`${this.dir}: record of '${id}' is ${e.bytes} bytes but its tensors take ${off}; the record is corrupt`);
    return out;
  }

  /** AdamW per-element step scales at a step (recorded tensors, index order), or null for SGD. */
  stepScales(step: number): Map<string, Float32Array> | null {
    const s = this.index.steps.find((x) => x.step === step);
    if (!s) throw new UserError(`no optimiser step ${step} in ${this.dir}`);
    if (!s.scale) return null;
    const buf = readAt(path.join(this.dir, s.scale.file), s.scale.offset, s.scale.bytes);
    const es = this.index.dtype === 'f16' ? 2 : 4;
    const out = new Map<string, Float32Array>();
    let off = 0;
    for (const t of this.index.tensors) {
      const n = t.ne.reduce((a, b) => a * b, 1);
      out.set(t.name, valuesOf(buf.subarray(off, off + n * es), n, this.index.dtype));
      off += n * es;
    }
    return out;
  }

  step(step: number): StepEntry {
    const s = this.index.steps.find((x) => x.step === step);
    if (!s) throw new UserError(`no optimiser step ${step} in ${this.dir}`);
    return s;
  }

  /** Sizes for `grads info`. */
  info(): { examples: number; epochs: number[]; tensors: RecordTensor[]; dtype: RecordDType; recordBytes: number; stepBytes: number; files: number } {
    let recordBytes = 0;
    let stepBytes = 0;
    for (const e of this.index.entries) recordBytes += e.bytes;
    for (const s of this.index.steps) stepBytes += s.scale?.bytes ?? 0;
    return {
      examples: new Set(this.index.entries.map((e) => e.id)).size,
      epochs: this.index.epochs,
      tensors: this.index.tensors,
      dtype: this.index.dtype,
      recordBytes,
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
