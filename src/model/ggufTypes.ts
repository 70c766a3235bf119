/**
 * The ggml tensor types and GGUF metadata value types, with the element codecs the GGUF reader and
 * writer need: IEEE half (F16), bfloat16 (BF16) and ggml's Q8_0 block quantisation.
 *
 * Why these three stay in TypeScript while every other block type (Q4_0 ... Q6_K) is decoded and
 * encoded by ggml itself (gguf.ts decodeToF32 / writeGguf through ffi.ts ggmlToFloat and
 * ggmlQuantizeRows, i.e. type_traits.to_float and ggml_quantize_chunk): the GGUF reader and writer
 * are used without the native libraries (the TUI's model info, `inspect`'s header, converting a
 * Hugging Face folder to F16/BF16/Q8_0, saving a fine-tune), these three are short and exact
 * (test/model/quantCodecs.test.ts checks them bit for bit against ggml's codecs), and the K-quants
 * would mean transcribing thousands of lines of ggml-quants.c that must never drift from the kernels.
 *
 * Numbers and block layouts follow ggml (ggml/include/ggml.h, ggml/src/ggml-common.h,
 * ggml/src/ggml-quants.c in llama.cpp). Codecs reproduce ggml bit for bit:
 *   - F16: round to nearest, ties to even; NaN -> 0x7E00 (sign kept); overflow -> +-inf.
 *   - BF16: `(u + 0x7fff + ((u >> 16) & 1)) >> 16` (nearest-even), NaN -> `(u >> 16) | 64`.
 *   - Q8_0: blocks of 32 values, `d = max|x| / 127` (stored as F16), `q = roundf(x / d)` in int8
 *     (`quantize_row_q8_0_ref`); decoding is `q * d` in float32.
 */

/** ggml tensor types as stored in GGUF (enum ggml_type). */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
  NVFP4: 40,
  Q1_0: 41,
  Q2_0: 42,
} as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];
export type GgmlTypeName = keyof typeof GgmlType;

/** Elements per block and bytes per block of each ggml type (ggml `type_traits`). */
const TRAITS: Record<number, { name: GgmlTypeName; blockSize: number; typeSize: number }> = {};
function trait(name: GgmlTypeName, blockSize: number, typeSize: number): void {
  TRAITS[GgmlType[name]] = { name, blockSize, typeSize };
}
trait('F32', 1, 4);
trait('F16', 1, 2);
trait('Q4_0', 32, 18);
trait('Q4_1', 32, 20);
trait('Q5_0', 32, 22);
trait('Q5_1', 32, 24);
trait('Q8_0', 32, 34);
trait('Q8_1', 32, 36);
trait('Q2_K', 256, 84);
trait('Q3_K', 256, 110);
trait('Q4_K', 256, 144);
trait('Q5_K', 256, 176);
trait('Q6_K', 256, 210);
trait('Q8_K', 256, 292);
trait('IQ2_XXS', 256, 66);
trait('IQ2_XS', 256, 74);
trait('IQ3_XXS', 256, 98);
trait('IQ1_S', 256, 50);
trait('IQ4_NL', 32, 18);
trait('IQ3_S', 256, 110);
trait('IQ2_S', 256, 82);
trait('IQ4_XS', 256, 136);
trait('I8', 1, 1);
trait('I16', 1, 2);
trait('I32', 1, 4);
trait('I64', 1, 8);
trait('F64', 1, 8);
trait('IQ1_M', 256, 56);
trait('BF16', 1, 2);
trait('TQ1_0', 256, 54);
trait('TQ2_0', 256, 66);
trait('MXFP4', 32, 17);
trait('NVFP4', 64, 36);
trait('Q1_0', 128, 18);
trait('Q2_0', 64, 18);

/** Block size and bytes per block of a ggml type, or undefined for a type this code does not know. */
export function ggmlTypeTraits(type: number): { name: GgmlTypeName; blockSize: number; typeSize: number } | undefined {
  return TRAITS[type];
}

/** The ggml name of a type ("Q8_0"), or `type#<n>` for an unknown one. */
export function ggmlTypeName(type: number): string {
  return TRAITS[type]?.name ?? `type#${type}`;
}

/** Resolve a type given by name ("F16") or number; undefined when unknown. */
export function ggmlTypeFromName(t: GgmlTypeName | number | string): GgmlType | undefined {
  if (typeof t === 'number') return TRAITS[t] ? (t as GgmlType) : undefined;
  const v = (GgmlType as Record<string, number>)[t.toUpperCase()];
  return v === undefined ? undefined : (v as GgmlType);
}

/** GGUF metadata value types (enum gguf_type). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

/** Scalar GGUF type names, used in type hints: `'uint32'`, `'float32'`, `'array<int32>'`, ... */
export type GgufScalarTypeName =
  | 'uint8'
  | 'int8'
  | 'uint16'
  | 'int16'
  | 'uint32'
  | 'int32'
  | 'float32'
  | 'bool'
  | 'string'
  | 'uint64'
  | 'int64'
  | 'float64';

/**
 * A GGUF value type written as text: a scalar name or `array<...>` around another type
 * (`'array<string>'`, `'array<array<int32>>'`).
 */
export type GgufTypeHint = GgufScalarTypeName | `array<${string}>`;

export const SCALAR_TYPE_IDS: Record<GgufScalarTypeName, GgufValueType> = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  uint64: 10,
  int64: 11,
  float64: 12,
};

export const SCALAR_TYPE_NAMES: Record<number, GgufScalarTypeName> = Object.fromEntries(
  Object.entries(SCALAR_TYPE_IDS).map(([k, v]) => [v, k as GgufScalarTypeName]),
);

// ---------------------------------------------------------------------------------------------
// Element codecs
// ---------------------------------------------------------------------------------------------

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** float32 -> IEEE binary16 bits, round to nearest even (what ggml_compute_fp32_to_fp16 computes). */
export function f32ToF16Bits(value: number): number {
  f32buf[0] = value;
  const x = u32buf[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | (mant !== 0 ? 0x7e00 : 0x7c00);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // half subnormal: value = m * 2^-24, m = (1.mant) * 2^(exp-126) with the implicit bit.
    const shift = 126 - exp;
    if (shift >= 25 || exp === 0) return sign; // below half the smallest subnormal (f32 subnormals too)
    const full = mant | 0x800000;
    let q = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (q & 1) === 1)) q++;
    return sign | q;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is right (may give inf)
  return sign | h;
}

/** IEEE binary16 bits -> number (exact). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float32 -> bfloat16 bits exactly as ggml_compute_fp32_to_bf16 (nearest even, quiet NaN). */
export function f32ToBf16Bits(value: number): number {
  f32buf[0] = value;
  const u = u32buf[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 64) & 0xffff;
  return ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16) & 0xffff;
}

/** bfloat16 bits -> number (exact: the upper half of a float32). */
export function bf16BitsToF32(b: number): number {
  u32buf[0] = (b & 0xffff) << 16;
  return f32buf[0]!;
}

/** Encode float32 values to F16 bytes (little-endian). */
export function encodeF16(src: Float32Array): Uint8Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16Bits(src[i]!);
  return new Uint8Array(out.buffer);
}

/** Encode float32 values to BF16 bytes (little-endian). */
export function encodeBf16(src: Float32Array): Uint8Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToBf16Bits(src[i]!);
  return new Uint8Array(out.buffer);
}

const QK8_0 = 32;

/** C `roundf`: round half away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/**
 * Quantise to Q8_0 exactly as ggml's `quantize_row_q8_0_ref`: per block of 32, `amax = max|x|`,
 * `d = amax/127`, `id = d ? 1/d : 0`, `q_j = roundf(x_j * id)`, all in float32; `d` stored as F16.
 */
export function encodeQ8_0(src: Float32Array): Uint8Array {
  if (src.length % QK8_0 !== 0) throw new Error(`Q8_0 needs a multiple of ${QK8_0} values, got ${src.length}`);
  const nb = src.length / QK8_0;
  const out = new Uint8Array(nb * 34);
  const dv = new DataView(out.buffer);
  const fr = Math.fround;
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    const base = b * QK8_0;
    for (let j = 0; j < QK8_0; j++) {
      const a = Math.abs(src[base + j]!);
      if (a > amax) amax = a;
    }
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    dv.setUint16(b * 34, f32ToF16Bits(d), true);
    for (let j = 0; j < QK8_0; j++) {
      const x0 = fr(src[base + j]! * id);
      dv.setInt8(b * 34 + 2 + j, roundf(x0));
    }
  }
  return out;
}

/** Decode Q8_0 blocks to float32 (`dequantize_row_q8_0`: y = q * d). */
export function decodeQ8_0(bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nb = n / QK8_0;
  for (let b = 0; b < nb; b++) {
    const d = f16BitsToF32(dv.getUint16(b * 34, true));
    for (let j = 0; j < QK8_0; j++) out[b * QK8_0 + j] = dv.getInt8(b * 34 + 2 + j) * d;
  }
  return out;
}

/** Decode F16 bytes to float32. */
export function decodeF16(bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // a 64K lookup table is cheaper than decoding each value for large tensors
  const lut = n > 1 << 16 ? f16Table() : null;
  for (let i = 0; i < n; i++) {
    const h = dv.getUint16(2 * i, true);
    out[i] = lut ? lut[h]! : f16BitsToF32(h);
  }
  return out;
}

let F16_LUT: Float32Array | null = null;
function f16Table(): Float32Array {
  if (!F16_LUT) {
    F16_LUT = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) F16_LUT[h] = f16BitsToF32(h);
  }
  return F16_LUT;
}

/** Decode BF16 bytes to float32. */
export function decodeBf16(bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const u = new Uint32Array(out.buffer);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) u[i] = dv.getUint16(2 * i, true) << 16;
  return out;
}
