/**
 * GGUF v2/v3 reader and writer in TypeScript (no native code).
 *
 * Layout (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md, and ggml/src/gguf.cpp):
 *   magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv x (string key, u32 value type, value)          strings are u64 length + UTF-8 bytes
 *   n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset)
 *   padding to `general.alignment` (u32, default 32), then the data section; each tensor's offset
 *   is relative to the data section and aligned; tensors follow each other in order, each padded.
 *
 * Reading parses only the header (chunked positional reads), so opening a multi-GB model is cheap;
 * tensor bytes are read on demand (`readTensorRaw`, `readTensorF32`) unless `loadData` is set.
 * Metadata keeps each value's GGUF type (`GgufMetadata.typeOf`), so a file copied through
 * `writeGguf(out, { metadata: file.metadata, ... })` keeps uint32 as uint32, float32 as float32.
 *
 * Every problem with a file (wrong magic, unsupported version, truncation, unknown tensor type,
 * tensor data past the end) is a UserError naming the file and the problem.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { ensureDir } from '../util/fs.ts';
import { getEngine } from '../engine/engine.ts';
import { ggmlQuantizeRows, ggmlToFloat } from '../engine/ffi.ts';
import {
  GgmlType,
  type GgmlTypeName,
  type GgufScalarTypeName,
  type GgufTypeHint,
  GgufValueType,
  SCALAR_TYPE_IDS,
  SCALAR_TYPE_NAMES,
  decodeBf16,
  decodeF16,
  decodeQ8_0,
  encodeBf16,
  encodeF16,
  encodeQ8_0,
  ggmlTypeFromName,
  ggmlTypeName,
  ggmlTypeTraits,
} from './ggufTypes.ts';

export { GgmlType, GgufValueType, ggmlTypeName } from './ggufTypes.ts';
export type { GgmlTypeName, GgufScalarTypeName, GgufTypeHint } from './ggufTypes.ts';

/** A metadata value: numbers (bigint for 64-bit integers beyond 2^53), booleans, strings, arrays. */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian u32
const DEFAULT_ALIGNMENT = 32;
const GGML_MAX_DIMS = 4;
const GGML_MAX_NAME = 64;

/**
 * Metadata map that remembers the GGUF type of every value. `set(key, value)` keeps the stored
 * type when the new value fits it (so changing `llama.rope.freq_base` to 10000 stays float32),
 * otherwise the type is inferred; `setTyped` sets the type explicitly.
 */
export class GgufMetadata extends Map<string, GgufValue> {
  readonly types = new Map<string, GgufTypeHint>();

  constructor(entries?: Iterable<readonly [string, GgufValue, GgufTypeHint?]> | null) {
    super();
    if (entries) for (const [k, v, t] of entries) t ? this.setTyped(k, v, t) : this.set(k, v);
  }

  override set(key: string, value: GgufValue): this {
    const old = this.types.get(key);
    super.set(key, value);
    this.types.set(key, old && valueFitsType(value, old) ? old : inferType(key, value));
    return this;
  }

  setTyped(key: string, value: GgufValue, type: GgufTypeHint): this {
    parseTypeHint(type); // validates
    super.set(key, value);
    this.types.set(key, type);
    return this;
  }

  override delete(key: string): boolean {
    this.types.delete(key);
    return super.delete(key);
  }

  override clear(): void {
    this.types.clear();
    super.clear();
  }

  /** The GGUF type of a key's value (`'uint32'`, `'array<string>'`), or undefined when absent. */
  typeOf(key: string): GgufTypeHint | undefined {
    return this.has(key) ? this.types.get(key) : undefined;
  }

  /** Entries with their types, ready for `writeGguf`. */
  typedEntries(): Array<[string, GgufValue, GgufTypeHint]> {
    return [...this.keys()].map((k) => [k, this.get(k)!, this.types.get(k)!]);
  }
}

export interface GgufTensorInfo {
  name: string;
  /** ggml type (GgmlType.F32 = 0, F16 = 1, Q8_0 = 8, I32 = 26, BF16 = 30, ...). */
  type: GgmlType;
  /** Shape in ggml order: ne[0] is the fastest-varying (row length). */
  ne: number[];
  /** Absolute byte offset of the tensor data in the file. */
  offset: number;
  nbytes: number;
}

export interface GgufFile {
  path: string;
  version: number;
  metadata: GgufMetadata;
  tensors: GgufTensorInfo[];
  /** Absolute offset of the data section. */
  dataOffset: number;
  alignment: number;
  fileSize: number;
  /** Tensor bytes kept in memory when read with `loadData: true`. */
  data?: Map<string, Uint8Array>;
}

// ---------------------------------------------------------------------------------------------
// Type hints
// ---------------------------------------------------------------------------------------------

interface TypeInfo {
  type: GgufValueType;
  elem?: TypeInfo;
}

function parseTypeHint(hint: string): TypeInfo {
  const m = /^array<(.+)>$/.exec(hint);
  if (m) return { type: GgufValueType.ARRAY, elem: parseTypeHint(m[1]!) };
  const id = SCALAR_TYPE_IDS[hint as GgufScalarTypeName];
  if (id === undefined) throw new UserError(`unknown GGUF value type '${hint}' (use uint8..int64, float32, float64, bool, string or array<...>)`);
  return { type: id };
}

function hintOf(t: TypeInfo): GgufTypeHint {
  return t.type === GgufValueType.ARRAY ? `array<${hintOf(t.elem!)}>` : SCALAR_TYPE_NAMES[t.type]!;
}

/** Keys whose values are float32 in llama.cpp even when integral (e.g. alpha = 16). */
const FLOAT_KEY = /(epsilon|freq_base|freq_scale|\.alpha|\.scale|_scale|\.factor|_factor|logit_softcapping|temperature)$/;

/**
 * Infer a GGUF type for a JS value: strings -> string, booleans -> bool, integers -> uint32
 * (int32 when negative; 64-bit when out of 32-bit range), other numbers -> float32, bigint ->
 * int64 (uint64 above 2^63-1). Integral values of well-known float keys infer float32. Arrays
 * infer from their elements (all integers in int32 range -> int32). Give a hint when in doubt.
 */
function inferType(key: string, value: GgufValue): GgufTypeHint {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'bigint') return value > 0x7fffffffffffffffn ? 'uint64' : 'int64';
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || FLOAT_KEY.test(key)) return 'float32';
    if (value >= 0 && value <= 0xffffffff) return 'uint32';
    if (value < 0 && value >= -0x80000000) return 'int32';
    return value < 0 ? 'int64' : 'uint64';
  }
  if (Array.isArray(value)) {
    if (value.length === 0) throw new UserError(`metadata '${key}': an empty array needs a type hint such as 'array<int32>'`);
    if (value.every((v) => typeof v === 'string')) return 'array<string>';
    if (value.every((v) => typeof v === 'boolean')) return 'array<bool>';
    if (value.every((v) => typeof v === 'number' || typeof v === 'bigint')) {
      if (value.some((v) => typeof v === 'number' && !Number.isInteger(v))) return 'array<float32>';
      if (value.every((v) => typeof v === 'number' && v >= -0x80000000 && v <= 0x7fffffff)) return 'array<int32>';
      return 'array<int64>';
    }
    if (value.every((v) => Array.isArray(v))) return `array<${inferType(key, value[0]!)}>`;
    throw new UserError(`metadata '${key}': an array mixing value kinds cannot be stored in GGUF`);
  }
  throw new UserError(`metadata '${key}': unsupported value ${String(value)}`);
}

const INT_RANGES: Partial<Record<GgufScalarTypeName, [number, number]>> = {
  uint8: [0, 0xff],
  int8: [-0x80, 0x7f],
  uint16: [0, 0xffff],
  int16: [-0x8000, 0x7fff],
  uint32: [0, 0xffffffff],
  int32: [-0x80000000, 0x7fffffff],
};

function valueFitsType(value: GgufValue, hint: GgufTypeHint): boolean {
  try {
    checkValue('', value, parseTypeHint(hint));
    return true;
  } catch {
    return false;
  }
}

/** Throws a UserError when `value` cannot be stored as `t`. */
function badValue(key: string, t: TypeInfo, why: string): never {
  throw new UserError(`metadata '${key}': ${why} (type ${hintOf(t)})`);
}

function checkValue(key: string, value: GgufValue, t: TypeInfo): void {
  const bad = (why: string): never => badValue(key, t, why);
  if (t.type === GgufValueType.ARRAY) {
    if (!Array.isArray(value)) bad(`expected an array, got ${typeof value}`);
    const arr = value as GgufValue[];
    if (t.elem!.type === GgufValueType.STRING) {
      // vocabularies: 100k+ strings, checked without a call per element
      for (let i = 0; i < arr.length; i++) if (typeof arr[i] !== 'string') badValue(key, t.elem!, `expected a string, got ${typeof arr[i]}`);
      return;
    }
    for (const v of arr) checkValue(key, v, t.elem!);
    return;
  }
  const name = SCALAR_TYPE_NAMES[t.type]!;
  if (name === 'string') {
    if (typeof value !== 'string') bad(`expected a string, got ${typeof value}`);
  } else if (name === 'bool') {
    if (typeof value !== 'boolean') bad(`expected a boolean, got ${typeof value}`);
  } else if (name === 'float32' || name === 'float64') {
    if (typeof value !== 'number') bad(`expected a number, got ${typeof value}`);
  } else if (name === 'uint64' || name === 'int64') {
    if (typeof value === 'number') {
      if (!Number.isInteger(value)) bad(`expected an integer, got ${value}`);
    } else if (typeof value !== 'bigint') bad(`expected an integer, got ${typeof value}`);
    const b = BigInt(value as number | bigint);
    if (name === 'uint64' ? b < 0n || b > 0xffffffffffffffffn : b < -0x8000000000000000n || b > 0x7fffffffffffffffn) {
      bad(`value ${b} out of range`);
    }
  } else {
    if (typeof value !== 'number' || !Number.isInteger(value)) bad(`expected an integer, got ${String(value)}`);
    const [lo, hi] = INT_RANGES[name]!;
    if ((value as number) < lo || (value as number) > hi) bad(`value ${String(value)} out of range`);
  }
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/** Sequential little-endian reader over a file, fetching chunks with positional reads. */
class HeaderReader {
  private buf = Buffer.alloc(0);
  private bufStart = 0; // file offset of buf[0]
  pos = 0; // absolute file offset
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  constructor(
    private readonly fd: number,
    readonly fileSize: number,
    private readonly file: string,
  ) {}

  private ensure(n: number, what: string): number {
    const rel = this.pos - this.bufStart;
    if (rel + n <= this.buf.length) return rel;
    if (this.pos + n > this.fileSize) {
      throw new UserError(
        `${this.file}: truncated or corrupt GGUF: reading ${what} needs bytes ${this.pos}..${this.pos + n} but the file has ${this.fileSize} bytes`,
      );
    }
    const want = Math.min(Math.max(n, 1 << 20), this.fileSize - this.pos);
    const b = Buffer.alloc(want);
    let got = 0;
    while (got < want) {
      const r = fs.readSync(this.fd, b, got, want - got, this.pos + got);
      if (r === 0) break;
      got += r;
    }
    if (got < n) throw new UserError(`${this.file}: unexpected end of file while reading ${what}`);
    this.buf = b.subarray(0, got);
    this.bufStart = this.pos;
    return 0;
  }

  u8(what: string): number {
    const r = this.ensure(1, what);
    this.pos += 1;
    return this.buf.readUInt8(r);
  }
  i8(what: string): number {
    const r = this.ensure(1, what);
    this.pos += 1;
    return this.buf.readInt8(r);
  }
  u16(what: string): number {
    const r = this.ensure(2, what);
    this.pos += 2;
    return this.buf.readUInt16LE(r);
  }
  i16(what: string): number {
    const r = this.ensure(2, what);
    this.pos += 2;
    return this.buf.readInt16LE(r);
  }
  u32(what: string): number {
    const r = this.ensure(4, what);
    this.pos += 4;
    return this.buf.readUInt32LE(r);
  }
  i32(what: string): number {
    const r = this.ensure(4, what);
    this.pos += 4;
    return this.buf.readInt32LE(r);
  }
  f32(what: string): number {
    const r = this.ensure(4, what);
    this.pos += 4;
    return this.buf.readFloatLE(r);
  }
  f64(what: string): number {
    const r = this.ensure(8, what);
    this.pos += 8;
    return this.buf.readDoubleLE(r);
  }
  u64big(what: string): bigint {
    const r = this.ensure(8, what);
    this.pos += 8;
    return this.buf.readBigUInt64LE(r);
  }
  i64big(what: string): bigint {
    const r = this.ensure(8, what);
    this.pos += 8;
    return this.buf.readBigInt64LE(r);
  }
  /** u64 that must fit a JS number and the remaining file (a count or a length). */
  count(what: string, minBytesEach: number): number {
    const v = this.u64big(what);
    const remaining = BigInt(this.fileSize - this.pos);
    if (v * BigInt(minBytesEach) > remaining) {
      throw new UserError(`${this.file}: corrupt GGUF: ${what} is ${v}, more than the ${remaining} bytes left in the file`);
    }
    return Number(v);
  }
  str(what: string): string {
    const n = this.count(`length of ${what}`, 1);
    const r = this.ensure(n, what);
    this.pos += n;
    return this.decoder.decode(this.buf.subarray(r, r + n));
  }
}

function maybeNumber(b: bigint): number | bigint {
  return b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(b) : b;
}

const MIN_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 8, 9: 12, 10: 8, 11: 8, 12: 8 };

function readValue(r: HeaderReader, type: number, key: string, depth: number): [GgufValue, TypeInfo] {
  const what = `value of '${key}'`;
  switch (type) {
    case GgufValueType.UINT8:
      return [r.u8(what), { type }];
    case GgufValueType.INT8:
      return [r.i8(what), { type }];
    case GgufValueType.UINT16:
      return [r.u16(what), { type }];
    case GgufValueType.INT16:
      return [r.i16(what), { type }];
    case GgufValueType.UINT32:
      return [r.u32(what), { type }];
    case GgufValueType.INT32:
      return [r.i32(what), { type }];
    case GgufValueType.FLOAT32:
      return [r.f32(what), { type }];
    case GgufValueType.BOOL: {
      const b = r.u8(what);
      return [b !== 0, { type }];
    }
    case GgufValueType.STRING:
      return [r.str(what), { type }];
    case GgufValueType.UINT64:
      return [maybeNumber(r.u64big(what)), { type }];
    case GgufValueType.INT64:
      return [maybeNumber(r.i64big(what)), { type }];
    case GgufValueType.FLOAT64:
      return [r.f64(what), { type }];
    case GgufValueType.ARRAY: {
      if (depth > 8) throw new UserError(`corrupt GGUF: arrays nested too deep in '${key}'`);
      const et = r.u32(`array type of '${key}'`);
      if (MIN_SIZE[et] === undefined) throw new UserError(`corrupt GGUF: key '${key}' has an array of unknown value type ${et}`);
      const n = r.count(`array length of '${key}'`, MIN_SIZE[et]!);
      const out: GgufValue[] = new Array(n);
      let elem: TypeInfo = { type: et as GgufValueType };
      if (et === GgufValueType.ARRAY) {
        // nested arrays: each element carries its own element type; keep the first one's
        for (let i = 0; i < n; i++) {
          const [v, t] = readValue(r, et, key, depth + 1);
          out[i] = v;
          if (i === 0) elem = t;
        }
      } else {
        for (let i = 0; i < n; i++) out[i] = readValue(r, et, key, depth + 1)[0];
      }
      return [out, { type: GgufValueType.ARRAY, elem }];
    }
    default:
      throw new UserError(`corrupt GGUF: key '${key}' has unknown value type ${type}`);
  }
}

/**
 * Read a GGUF file's header: metadata, tensor infos, data offset. Tensor data is read lazily
 * (`readTensorRaw` / `readTensorF32`) unless `loadData` is true.
 */
export function readGguf(file: string, opts: { loadData?: boolean } = {}): GgufFile {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new UserError(`cannot open GGUF file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const fileSize = fs.fstatSync(fd).size;
    const r = new HeaderReader(fd, fileSize, file);
    if (fileSize < 4) throw new UserError(`${file} is not a GGUF file (only ${fileSize} bytes)`);
    const magic = r.u32('magic');
    if (magic !== GGUF_MAGIC) {
      const shown = Buffer.alloc(4);
      shown.writeUInt32LE(magic);
      throw new UserError(`${file} is not a GGUF file (magic ${JSON.stringify(shown.toString('latin1'))}, expected "GGUF")`);
    }
    const version = r.u32('version');
    if (version === 1) throw new UserError(`${file}: GGUF version 1 is not supported (re-convert the model with a current llama.cpp)`);
    if (version !== 2 && version !== 3) {
      const swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
      const hint = swapped === 2 || swapped === 3 ? ' (this looks like a big-endian GGUF, which is not supported)' : '';
      throw new UserError(`${file}: unsupported GGUF version ${version}${hint}; versions 2 and 3 are supported`);
    }
    const nTensors = r.count('tensor count', 24);
    const nKv = r.count('metadata count', 13);

    const metadata = new GgufMetadata();
    for (let i = 0; i < nKv; i++) {
      const key = r.str(`key #${i}`);
      if (key.length === 0) throw new UserError(`${file}: corrupt GGUF: metadata key #${i} is empty`);
      if (metadata.has(key)) throw new UserError(`${file}: corrupt GGUF: duplicate metadata key '${key}'`);
      const type = r.u32(`type of '${key}'`);
      let value: GgufValue;
      let info: TypeInfo;
      try {
        [value, info] = readValue(r, type, key, 0);
      } catch (e) {
        if (e instanceof UserError && !e.message.startsWith(file)) throw new UserError(`${file}: ${e.message}`);
        throw e;
      }
      metadata.setTyped(key, value, hintOf(info));
    }

    let alignment = DEFAULT_ALIGNMENT;
    if (metadata.has('general.alignment')) {
      if (metadata.typeOf('general.alignment') !== 'uint32') {
        throw new UserError(`${file}: corrupt GGUF: general.alignment must be uint32, found ${metadata.typeOf('general.alignment')}`);
      }
      alignment = metadata.get('general.alignment') as number;
      if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
        throw new UserError(`${file}: corrupt GGUF: general.alignment ${alignment} is not a power of 2`);
      }
    }

    const infos: Array<{ name: string; type: GgmlType; ne: number[]; rel: number; nbytes: number }> = [];
    const names = new Set<string>();
    for (let i = 0; i < nTensors; i++) {
      const name = r.str(`tensor name #${i}`);
      if (names.has(name)) throw new UserError(`${file}: corrupt GGUF: duplicate tensor name '${name}'`);
      names.add(name);
      const nDims = r.u32(`n_dims of tensor '${name}'`);
      if (nDims > GGML_MAX_DIMS) throw new UserError(`${file}: corrupt GGUF: tensor '${name}' has ${nDims} dimensions (max ${GGML_MAX_DIMS})`);
      const ne: number[] = [];
      let nel = 1;
      for (let j = 0; j < nDims; j++) {
        const d = r.u64big(`shape of tensor '${name}'`);
        if (d > BigInt(Number.MAX_SAFE_INTEGER)) throw new UserError(`${file}: corrupt GGUF: tensor '${name}' dimension ${j} is ${d}`);
        ne.push(Number(d));
        nel *= Number(d);
      }
      const type = r.u32(`type of tensor '${name}'`);
      const traits = ggmlTypeTraits(type);
      if (!traits) throw new UserError(`${file}: tensor '${name}' has unknown ggml type ${type} (not supported by this reader)`);
      if ((ne[0] ?? 1) % traits.blockSize !== 0) {
        throw new UserError(`${file}: corrupt GGUF: tensor '${name}' of type ${traits.name} has ${ne[0]} elements per row, not a multiple of the block size ${traits.blockSize}`);
      }
      const nbytes = (nel / traits.blockSize) * traits.typeSize;
      if (!Number.isSafeInteger(nbytes)) throw new UserError(`${file}: corrupt GGUF: tensor '${name}' shape ${JSON.stringify(ne)} is too large`);
      const rel = r.u64big(`offset of tensor '${name}'`);
      if (rel > BigInt(fileSize)) throw new UserError(`${file}: truncated GGUF: tensor '${name}' data (offset ${rel} in the data section) is past the end of the file (${fileSize} bytes)`);
      if (Number(rel) % alignment !== 0) throw new UserError(`${file}: corrupt GGUF: tensor '${name}' offset ${rel} is not aligned to ${alignment}`);
      infos.push({ name, type: type as GgmlType, ne, rel: Number(rel), nbytes });
    }
    const dataOffset = nTensors > 0 ? Math.ceil(r.pos / alignment) * alignment : r.pos;
    const tensors: GgufTensorInfo[] = infos.map((t) => ({ name: t.name, type: t.type, ne: t.ne, offset: dataOffset + t.rel, nbytes: t.nbytes }));
    for (const t of tensors) {
      if (t.offset + t.nbytes > fileSize) {
        throw new UserError(
          `${file}: truncated GGUF: tensor '${t.name}' data (bytes ${t.offset}..${t.offset + t.nbytes}) is past the end of the file (${fileSize} bytes)`,
        );
      }
    }
    const out: GgufFile = { path: file, version, metadata, tensors, dataOffset, alignment, fileSize };
    if (opts.loadData) {
      out.data = new Map();
      for (const t of tensors) out.data.set(t.name, readAt(fd, t.offset, t.nbytes, file, t.name));
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

function readAt(fd: number, offset: number, n: number, file: string, name: string): Uint8Array {
  const b = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = fs.readSync(fd, b, got, n - got, offset + got);
    if (r === 0) throw new UserError(`${file}: truncated GGUF: tensor '${name}' data ends at byte ${offset + got}, expected ${offset + n}`);
    got += r;
  }
  return b;
}

/** The tensor info for `name`, or a UserError listing what the file holds. */
export function getTensorInfo(file: GgufFile, name: string): GgufTensorInfo {
  const t = file.tensors.find((x) => x.name === name);
  if (!t) {
    const some = file.tensors.slice(0, 8).map((x) => x.name).join(', ');
    throw new UserError(`${file.path}: no tensor named '${name}' (it has ${file.tensors.length}: ${some}${file.tensors.length > 8 ? ', ...' : ''})`);
  }
  return t;
}

/** Number of elements of a tensor. */
export function tensorNumel(t: { ne: readonly number[] }): number {
  return t.ne.reduce((a, b) => a * b, 1);
}

/** The tensor's bytes as stored in the file (any type). */
export function readTensorRaw(file: GgufFile, name: string): Uint8Array {
  const t = getTensorInfo(file, name);
  const cached = file.data?.get(name);
  if (cached) return cached;
  let fd: number;
  try {
    fd = fs.openSync(file.path, 'r');
  } catch (e) {
    throw new UserError(`cannot open GGUF file ${file.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (t.offset + t.nbytes > size) throw new UserError(`${file.path}: truncated GGUF: tensor '${name}' data is past the end of the file (${size} bytes); was the file changed since it was opened?`);
    return readAt(fd, t.offset, t.nbytes, file.path, name);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The ggml block types decoded and encoded by ggml itself (type_traits.to_float and
 * ggml_quantize_chunk, see ggufTypes.ts for why F16/BF16/Q8_0 keep their TypeScript codecs).
 * Other quantised types (IQ*, TQ*, FP4, Q1_0/Q2_0) are refused by name.
 */
const GGML_CODEC_TYPES: ReadonlySet<number> = new Set([
  GgmlType.Q4_0,
  GgmlType.Q4_1,
  GgmlType.Q5_0,
  GgmlType.Q5_1,
  GgmlType.Q2_K,
  GgmlType.Q3_K,
  GgmlType.Q4_K,
  GgmlType.Q5_K,
  GgmlType.Q6_K,
]);

/** Convert raw tensor bytes of a given type to float32 (F32, F16, BF16, Q8_0, the Q4_0..Q6_K block types through ggml, F64, I8/I16/I32). */
export function decodeToF32(type: number, bytes: Uint8Array, n: number, what = 'tensor'): Float32Array {
  if (GGML_CODEC_TYPES.has(type)) return ggmlToFloat(getEngine().g, type, bytes, n);
  const dv = () => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case GgmlType.F32: {
      const out = new Float32Array(n);
      new Uint8Array(out.buffer).set(bytes.subarray(0, n * 4));
      return out;
    }
    case GgmlType.F16:
      return decodeF16(bytes, n);
    case GgmlType.BF16:
      return decodeBf16(bytes, n);
    case GgmlType.Q8_0:
      return decodeQ8_0(bytes, n);
    case GgmlType.F64: {
      const d = dv();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = d.getFloat64(8 * i, true);
      return out;
    }
    case GgmlType.I8: {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = (bytes[i]! << 24) >> 24;
      return out;
    }
    case GgmlType.I16: {
      const d = dv();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = d.getInt16(2 * i, true);
      return out;
    }
    case GgmlType.I32: {
      const d = dv();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = d.getInt32(4 * i, true);
      return out;
    }
    default:
      throw new UserError(
        `${what} has type ${ggmlTypeName(type)}, which cannot be converted to float32 here ` +
          `(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, F64, I8, I16, I32); ` +
          `requantise the model from its F16/F32 original (unlearnkit quantize, or llama.cpp's llama-quantize)`,
      );
  }
}

/** A tensor's values as float32, dequantising F16, BF16, Q8_0 and the block types of GGML_CODEC_TYPES. */
export function readTensorF32(file: GgufFile, name: string): Float32Array {
  const t = getTensorInfo(file, name);
  return decodeToF32(t.type, readTensorRaw(file, name), tensorNumel(t), `${file.path}: tensor '${name}'`);
}

/** A metadata value, or undefined when absent. The caller states the expected JS type. */
export function getMeta<T extends GgufValue = GgufValue>(file: GgufFile, key: string): T | undefined {
  return file.metadata.get(key) as T | undefined;
}

/** A metadata value that must be present: otherwise a UserError naming the key and the file. */
export function requireMeta<T extends GgufValue = GgufValue>(file: GgufFile, key: string): T {
  if (!file.metadata.has(key)) throw new UserError(`${file.path}: required GGUF metadata key '${key}' is missing`);
  return file.metadata.get(key) as T;
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

export type GgufMetadataSpec =
  | GgufMetadata
  | Map<string, GgufValue>
  | Array<readonly [string, GgufValue] | readonly [string, GgufValue, GgufTypeHint | undefined]>;

export interface GgufTensorSpec {
  name: string;
  /** Target type: 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0' ... 'Q6_K' (encoded from float32 data), or any type for raw bytes. */
  type: GgmlTypeName | GgmlType;
  /** Shape in ggml order (ne[0] fastest). */
  ne: number[];
  /**
   * float32 values (encoded to `type`) or the raw bytes of `type` (length must match); or a function
   * giving them, called when the tensor is written (one tensor's data in memory at a time: large
   * models written from graph values or re-read from another file).
   */
  data: Float32Array | Uint8Array | (() => Float32Array | Uint8Array);
}

export interface GgufWriteSpec {
  metadata: GgufMetadataSpec;
  tensors: GgufTensorSpec[];
  /** Data alignment in bytes (power of 2); default: the metadata's general.alignment, else 32. */
  alignment?: number;
  /** GGUF version to write (default 3). */
  version?: 2 | 3;
}

/** Growable little-endian byte buffer for the header. */
class ByteWriter {
  private buf = Buffer.alloc(1 << 16);
  len = 0;
  private need(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = Buffer.alloc(cap);
    this.buf.copy(b, 0, 0, this.len);
    this.buf = b;
  }
  u8(v: number): void {
    this.need(1);
    this.buf.writeUInt8(v, this.len);
    this.len += 1;
  }
  i8(v: number): void {
    this.need(1);
    this.buf.writeInt8(v, this.len);
    this.len += 1;
  }
  u16(v: number): void {
    this.need(2);
    this.buf.writeUInt16LE(v, this.len);
    this.len += 2;
  }
  i16(v: number): void {
    this.need(2);
    this.buf.writeInt16LE(v, this.len);
    this.len += 2;
  }
  u32(v: number): void {
    this.need(4);
    this.buf.writeUInt32LE(v, this.len);
    this.len += 4;
  }
  i32(v: number): void {
    this.need(4);
    this.buf.writeInt32LE(v, this.len);
    this.len += 4;
  }
  f32(v: number): void {
    this.need(4);
    this.buf.writeFloatLE(v, this.len);
    this.len += 4;
  }
  f64(v: number): void {
    this.need(8);
    this.buf.writeDoubleLE(v, this.len);
    this.len += 8;
  }
  u64(v: number | bigint): void {
    this.need(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.len);
    this.len += 8;
  }
  i64(v: number | bigint): void {
    this.need(8);
    this.buf.writeBigInt64LE(BigInt(v), this.len);
    this.len += 8;
  }
  /** A GGUF string: u64 byte length, then UTF-8 (lone surrogates as U+FFFD, as TextEncoder), encoded in place. */
  str(s: string): void {
    this.need(8 + 3 * s.length); // UTF-8 takes at most 3 bytes per UTF-16 code unit
    const n = this.buf.write(s, this.len + 8, 'utf8');
    this.buf.writeUInt32LE(n, this.len);
    this.buf.writeUInt32LE(0, this.len + 4);
    this.len += 8 + n;
  }
  pad(alignment: number): void {
    const n = (alignment - (this.len % alignment)) % alignment;
    this.need(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

function writeValue(w: ByteWriter, value: GgufValue, t: TypeInfo, withType: boolean): void {
  if (withType) w.u32(t.type);
  switch (t.type) {
    case GgufValueType.UINT8:
      return w.u8(value as number);
    case GgufValueType.INT8:
      return w.i8(value as number);
    case GgufValueType.UINT16:
      return w.u16(value as number);
    case GgufValueType.INT16:
      return w.i16(value as number);
    case GgufValueType.UINT32:
      return w.u32(value as number);
    case GgufValueType.INT32:
      return w.i32(value as number);
    case GgufValueType.FLOAT32:
      return w.f32(value as number);
    case GgufValueType.BOOL:
      return w.u8(value ? 1 : 0);
    case GgufValueType.STRING:
      return w.str(value as string);
    case GgufValueType.UINT64:
      return w.u64(value as number | bigint);
    case GgufValueType.INT64:
      return w.i64(value as number | bigint);
    case GgufValueType.FLOAT64:
      return w.f64(value as number);
    case GgufValueType.ARRAY: {
      const arr = value as GgufValue[];
      w.u32(t.elem!.type);
      w.u64(arr.length);
      for (const v of arr) writeValue(w, v, t.elem!, false);
      return;
    }
  }
}

function normaliseMetadata(spec: GgufMetadataSpec): Array<[string, GgufValue, GgufTypeHint]> {
  if (spec instanceof GgufMetadata) return spec.typedEntries();
  const entries: Array<readonly [string, GgufValue, GgufTypeHint?]> = spec instanceof Map ? [...spec.entries()] : spec;
  const seen = new Set<string>();
  return entries.map(([k, v, hint]) => {
    if (typeof k !== 'string' || k.length === 0) throw new UserError(`metadata keys must be non-empty strings`);
    if (seen.has(k)) throw new UserError(`metadata key '${k}' given twice`);
    seen.add(k);
    return [k, v, hint ?? inferType(k, v)];
  });
}

interface PreparedTensor {
  name: string;
  type: GgmlType;
  ne: number[];
  bytes: Uint8Array;
}

function prepareTensor(t: GgufTensorSpec, file: string): PreparedTensor {
  if (typeof t.data === 'function') return prepareTensor({ ...t, data: t.data() }, file);
  const type = ggmlTypeFromName(t.type as string | number);
  const traits = type === undefined ? undefined : ggmlTypeTraits(type);
  if (type === undefined || !traits) throw new UserError(`${file}: tensor '${t.name}': unknown ggml type ${String(t.type)}`);
  if (typeof t.name !== 'string' || t.name.length === 0) throw new UserError(`${file}: a tensor has an empty name`);
  if (Buffer.byteLength(t.name) >= GGML_MAX_NAME) throw new UserError(`${file}: tensor name '${t.name}' is too long (ggml allows ${GGML_MAX_NAME - 1} bytes)`);
  if (!Array.isArray(t.ne) || t.ne.length < 1 || t.ne.length > GGML_MAX_DIMS || !t.ne.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new UserError(`${file}: tensor '${t.name}': shape ${JSON.stringify(t.ne)} must be 1 to 4 non-negative integers`);
  }
  const n = tensorNumel(t);
  if (t.ne[0]! % traits.blockSize !== 0) {
    throw new UserError(`${file}: tensor '${t.name}': ${traits.name} needs the row length ne[0] (${t.ne[0]}) to be a multiple of ${traits.blockSize}`);
  }
  const nbytes = (n / traits.blockSize) * traits.typeSize;
  let bytes: Uint8Array;
  if (t.data instanceof Float32Array) {
    if (t.data.length !== n) throw new UserError(`${file}: tensor '${t.name}': shape ${JSON.stringify(t.ne)} has ${n} elements but ${t.data.length} values were given`);
    switch (type) {
      case GgmlType.F32:
        bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
        break;
      case GgmlType.F16:
        bytes = encodeF16(t.data);
        break;
      case GgmlType.BF16:
        bytes = encodeBf16(t.data);
        break;
      case GgmlType.Q8_0:
        bytes = encodeQ8_0(t.data);
        break;
      default:
        if (!GGML_CODEC_TYPES.has(type)) {
          throw new UserError(`${file}: tensor '${t.name}': encoding float32 values to ${traits.name} is not supported (use F32, F16, BF16, Q8_0, Q4_0..Q6_K, or pass raw bytes)`);
        }
        bytes = ggmlQuantizeRows(getEngine().g, type, t.data, n / t.ne[0]!, t.ne[0]!);
    }
  } else if (t.data instanceof Uint8Array) {
    if (t.data.length !== nbytes) throw new UserError(`${file}: tensor '${t.name}': ${traits.name} ${JSON.stringify(t.ne)} takes ${nbytes} bytes but ${t.data.length} were given`);
    bytes = t.data;
  } else {
    throw new UserError(`${file}: tensor '${t.name}': data must be a Float32Array or Uint8Array`);
  }
  return { name: t.name, type, ne: t.ne, bytes };
}

/**
 * Write a GGUF (v3 by default) atomically: the file is written to a temporary sibling, fsynced,
 * and renamed over `file`. Metadata is written in the given order with the given (or preserved,
 * or inferred) types; tensors in the given order, each aligned.
 */
export function writeGguf(file: string, spec: GgufWriteSpec): void {
  const version = spec.version ?? 3;
  if (version !== 2 && version !== 3) throw new UserError(`${file}: can only write GGUF version 2 or 3`);
  const meta = normaliseMetadata(spec.metadata);
  const alignIdx = meta.findIndex(([k]) => k === 'general.alignment');
  let alignment = spec.alignment ?? (alignIdx >= 0 ? Number(meta[alignIdx]![1]) : DEFAULT_ALIGNMENT);
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0 || alignment > 0xffffffff) {
    throw new UserError(`${file}: alignment ${alignment} must be a power of 2`);
  }
  if (alignIdx >= 0) meta[alignIdx] = ['general.alignment', alignment, 'uint32'];
  else if (alignment !== DEFAULT_ALIGNMENT) meta.push(['general.alignment', alignment, 'uint32']);

  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(version);
  w.u64(spec.tensors.length);
  w.u64(meta.length);
  for (const [k, v, hint] of meta) {
    const t = parseTypeHint(hint);
    if (t.type === GgufValueType.ARRAY && t.elem!.type === GgufValueType.ARRAY) {
      throw new UserError(`metadata '${k}': arrays of arrays are not readable by llama.cpp and are not written`);
    }
    checkValue(k, v, t);
    w.str(k);
    writeValue(w, v, t, true);
  }

  const names = new Set<string>();
  // lazy tensors (data given as a function) are encoded while writing, from their type and shape here
  const prepared: Array<PreparedTensor | { name: string; type: GgmlType; ne: number[]; nbytes: number; lazy: GgufTensorSpec }> = spec.tensors.map((t) => {
    if (names.has(t.name)) throw new UserError(`${file}: tensor '${t.name}' given twice`);
    names.add(t.name);
    if (typeof t.data !== 'function') return prepareTensor(t, file);
    const type = ggmlTypeFromName(t.type as string | number);
    const traits = type === undefined ? undefined : ggmlTypeTraits(type);
    if (type === undefined || !traits) throw new UserError(`${file}: tensor '${t.name}': unknown ggml type ${String(t.type)}`);
    return { name: t.name, type, ne: t.ne, nbytes: (tensorNumel(t) / traits.blockSize) * traits.typeSize, lazy: t };
  });
  const sizeOf = (t: (typeof prepared)[number]) => ('lazy' in t ? t.nbytes : t.bytes.length);
  let rel = 0;
  for (const t of prepared) {
    w.str(t.name);
    w.u32(t.ne.length);
    for (const d of t.ne) w.u64(d);
    w.u32(t.type);
    w.u64(rel);
    rel += Math.ceil(sizeOf(t) / alignment) * alignment;
  }
  if (prepared.length > 0) w.pad(alignment);

  ensureDir(path.dirname(path.resolve(file)));
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    writeAll(fd, w.bytes());
    const zeros = new Uint8Array(alignment);
    for (const t of prepared) {
      const bytes = 'lazy' in t ? prepareTensor(t.lazy, file).bytes : t.bytes;
      if (bytes.length !== sizeOf(t)) throw new UserError(`${file}: tensor '${t.name}' gave ${bytes.length} bytes, expected ${sizeOf(t)}`);
      writeAll(fd, bytes);
      const padN = (alignment - (bytes.length % alignment)) % alignment;
      if (padN) writeAll(fd, zeros.subarray(0, padN));
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, Math.min(data.length - off, 1 << 30));
}

/**
 * Convenience for "copy this model with some tensors replaced": every tensor of `file` (raw bytes)
 * and its metadata with types preserved, ready to edit and pass to `writeGguf`.
 */
export function ggufToWriteSpec(file: GgufFile): { metadata: GgufMetadata; tensors: GgufTensorSpec[]; alignment: number } {
  const metadata = new GgufMetadata(file.metadata.typedEntries());
  const tensors = file.tensors.map((t) => ({ name: t.name, type: t.type, ne: [...t.ne], data: readTensorRaw(file, t.name) }));
  return { metadata, tensors, alignment: file.alignment };
}
