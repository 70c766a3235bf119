/**
 * safetensors reader and writer (https://github.com/huggingface/safetensors, format section):
 *
 *   u64 little-endian N | N bytes of UTF-8 JSON header | data buffer
 *
 * The header maps each tensor name to `{ dtype, shape, data_offsets: [begin, end] }` (offsets
 * relative to the start of the data buffer, row-major / C order, little-endian), plus an optional
 * `__metadata__` object of string -> string. The reader checks what the reference implementation
 * checks (header size and JSON shape, known dtypes, `end - begin == numel * itemsize`, offsets inside
 * the file, no overlapping tensors) and reports every problem as a UserError naming the file and the
 * tensor. Tensor bytes are read on demand with positional reads, so opening a large shard is cheap.
 *
 * Decoding to float32 supports F32, F16, BF16 and F64 (the float types Hugging Face checkpoints use);
 * the writer (used by tests to build Hugging Face folders) writes F32, F16 and BF16.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { ensureDir } from '../util/fs.ts';
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from './ggufTypes.ts';

/** Bytes per element of every safetensors dtype. */
const ITEM_SIZE: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

/** Largest header the reference implementation accepts (100 MB). */
const MAX_HEADER = 100_000_000;

export interface SafetensorsTensorInfo {
  name: string;
  dtype: string;
  /** Row-major shape as stored (PyTorch order: the last dimension is contiguous). */
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  path: string;
  fileSize: number;
  /** Absolute offset of the data buffer. */
  dataOffset: number;
  tensors: Map<string, SafetensorsTensorInfo>;
  metadata: Record<string, string>;
}

function readExactly(fd: number, buf: Uint8Array, pos: number, file: string, what: string): void {
  let got = 0;
  while (got < buf.length) {
    const n = fs.readSync(fd, buf, got, buf.length - got, pos + got);
    if (n === 0) throw new UserError(`${file}: truncated safetensors file: ${what} ends at byte ${pos + buf.length}, the file has ${pos + got}`);
    got += n;
  }
}

/** Parse a safetensors header (tensor data is read later by `readSafetensorsF32` / `readSafetensorsRaw`). */
export function readSafetensors(file: string): SafetensorsFile {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `safetensors file not found: ${file}` : `cannot open ${file}: ${code ?? (e as Error).message}`);
  }
  try {
    const fileSize = fs.fstatSync(fd).size;
    if (fileSize < 8) throw new UserError(`${file}: not a safetensors file: ${fileSize} bytes, shorter than the 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    readExactly(fd, lenBuf, 0, file, 'header length');
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER)) throw new UserError(`${file}: corrupt safetensors file: header length ${n} is larger than the 100 MB limit (is this a safetensors file?)`);
    const headerLen = Number(n);
    if (8 + headerLen > fileSize) {
      throw new UserError(`${file}: truncated or corrupt safetensors file: the header claims ${headerLen} bytes but only ${fileSize - 8} follow`);
    }
    const hb = Buffer.alloc(headerLen);
    readExactly(fd, hb, 8, file, 'header');
    const text = hb.toString('utf8');
    if (!text.startsWith('{')) throw new UserError(`${file}: corrupt safetensors file: the header is not a JSON object`);
    let header: unknown;
    try {
      header = JSON.parse(text);
    } catch (e) {
      throw new UserError(`${file}: corrupt safetensors file: header is not valid JSON (${(e as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new UserError(`${file}: corrupt safetensors file: the header is not a JSON object`);
    const dataOffset = 8 + headerLen;
    const dataSize = fileSize - dataOffset;
    const tensors = new Map<string, SafetensorsTensorInfo>();
    let metadata: Record<string, string> = {};
    for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string')) {
          throw new UserError(`${file}: corrupt safetensors file: __metadata__ must map strings to strings`);
        }
        metadata = v as Record<string, string>;
        continue;
      }
      const bad = (why: string): never => {
        throw new UserError(`${file}: corrupt safetensors file: tensor '${name}': ${why}`);
      };
      if (typeof v !== 'object' || v === null) bad('entry is not an object');
      const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof e.dtype !== 'string' || !(e.dtype in ITEM_SIZE)) bad(`unknown dtype ${JSON.stringify(e.dtype)} (known: ${Object.keys(ITEM_SIZE).join(', ')})`);
      if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad(`shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`);
      const off = e.data_offsets;
      if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[0] > off[1]) {
        bad(`data_offsets ${JSON.stringify(off)} must be [begin, end] with 0 <= begin <= end`);
      }
      const shape = e.shape as number[];
      const [b, en] = off as [number, number];
      const numel = shape.reduce((a, d) => a * d, 1);
      const want = numel * ITEM_SIZE[e.dtype as string]!;
      if (en - b !== want) bad(`${e.dtype} ${JSON.stringify(shape)} takes ${want} bytes but data_offsets span ${en - b}`);
      if (en > dataSize) {
        throw new UserError(`${file}: truncated safetensors file: tensor '${name}' ends at data byte ${en} but the data section has ${dataSize} bytes`);
      }
      tensors.set(name, { name, dtype: e.dtype as string, shape: [...shape], begin: dataOffset + b, end: dataOffset + en });
    }
    const sorted = [...tensors.values()].sort((a, c) => a.begin - c.begin || a.end - c.end);
    for (let i = 1; i < sorted.length; i++) {
      const p = sorted[i - 1]!;
      const c = sorted[i]!;
      if (c.begin < p.end && c.end > c.begin) throw new UserError(`${file}: corrupt safetensors file: tensors '${p.name}' and '${c.name}' overlap`);
    }
    return { path: file, fileSize, dataOffset, tensors, metadata };
  } finally {
    fs.closeSync(fd);
  }
}

function info(st: SafetensorsFile, name: string): SafetensorsTensorInfo {
  const t = st.tensors.get(name);
  if (!t) throw new UserError(`${st.path}: no tensor named '${name}'`);
  return t;
}

/** The tensor's bytes as stored. */
function readSafetensorsRaw(st: SafetensorsFile, name: string): Uint8Array {
  const t = info(st, name);
  const buf = new Uint8Array(t.end - t.begin);
  const fd = fs.openSync(st.path, 'r');
  try {
    if (fs.fstatSync(fd).size < t.end) throw new UserError(`${st.path}: truncated safetensors file: tensor '${name}' is past the end of the file (was it changed since it was opened?)`);
    readExactly(fd, buf, t.begin, st.path, `tensor '${name}'`);
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

/** Decode raw little-endian bytes of a float dtype to float32. */
function decodeSafetensorsF32(dtype: string, bytes: Uint8Array, n: number, what: string): Float32Array {
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(n);
      new Uint8Array(out.buffer).set(bytes.subarray(0, 4 * n));
      return out;
    }
    case 'F16':
      return decodeF16(bytes, n);
    case 'BF16':
      return decodeBf16(bytes, n);
    case 'F64': {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      return out;
    }
    default:
      throw new UserError(`${what} has dtype ${dtype}; only float tensors (F32, F16, BF16, F64) can be converted`);
  }
}

/** A tensor's values as float32 (row-major, `shape` as stored). */
export function readSafetensorsF32(st: SafetensorsFile, name: string): { shape: number[]; dtype: string; data: Float32Array } {
  const t = info(st, name);
  const n = t.shape.reduce((a, d) => a * d, 1);
  return { shape: [...t.shape], dtype: t.dtype, data: decodeSafetensorsF32(t.dtype, readSafetensorsRaw(st, name), n, `${st.path}: tensor '${name}'`) };
}

export interface SafetensorsWriteTensor {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16';
  /** Row-major shape (PyTorch order). */
  shape: number[];
  data: Float32Array;
}

/**
 * Write a safetensors file: header padded with spaces to a multiple of 8 bytes (as the reference
 * writer does), tensors in the given order, contiguous.
 */
export function writeSafetensors(file: string, tensors: SafetensorsWriteTensor[], metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let off = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, d) => a * d, 1);
    if (n !== t.data.length) throw new UserError(`${file}: tensor '${t.name}': shape ${JSON.stringify(t.shape)} has ${n} elements, data has ${t.data.length}`);
    const bytes =
      t.dtype === 'F32' ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : t.dtype === 'F16' ? encodeF16(t.data) : encodeBf16(t.data);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + bytes.length] };
    blobs.push(bytes);
    off += bytes.length;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  ensureDir(path.dirname(path.resolve(file)));
  fs.writeFileSync(file, Buffer.concat([len, json, ...blobs]));
}
