/**
 * ggml tensor element types used by unlearnkit, with their C enum values (ggml.h of the pinned
 * build), and shape helpers. Shapes everywhere in the engine are in ggml's `ne` order: ne[0] is
 * the fastest-varying (contiguous) dimension, so a matrix with ne = [n_in, n_out] has n_out rows of
 * n_in numbers, and `mul_mat(W[n_in, n_out], x[n_in, n_tokens])` gives [n_out, n_tokens].
 */
export type DType = 'f32' | 'f16' | 'bf16' | 'i32' | QuantDType;

/**
 * The block-quantised types the engine evaluates (ggml.h enum ggml_type): their matrix products and
 * row lookups run on the stored blocks, as llama.cpp runs them. Other ggml types (the IQ, TQ and
 * FP4 families, Q1_0/Q2_0) are refused by name where a model is loaded: their parity with llama.cpp
 * is not tested here.
 */
export type QuantDType = 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1' | 'q8_0' | 'q2_k' | 'q3_k' | 'q4_k' | 'q5_k' | 'q6_k';

export const GGML_TYPE: Record<DType, number> = {
  f32: 0,
  f16: 1,
  q4_0: 2,
  q4_1: 3,
  q5_0: 6,
  q5_1: 7,
  q8_0: 8,
  q2_k: 10,
  q3_k: 11,
  q4_k: 12,
  q5_k: 13,
  q6_k: 14,
  i32: 26,
  bf16: 30,
};
const BY_CODE = new Map<number, DType>(Object.entries(GGML_TYPE).map(([k, v]) => [v, k as DType]));

/** The quantised dtypes, in enum order. */
export const QUANT_DTYPES: readonly QuantDType[] = ['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k'];

/** The dtype of a ggml type number, or undefined for a type the engine does not evaluate. */
export function dtypeOfCode(code: number): DType | undefined {
  return BY_CODE.get(code);
}

export function dtypeFromCode(code: number): DType {
  const d = BY_CODE.get(code);
  if (!d) throw new Error(`ggml tensor type ${code} is not supported by unlearnkit (supported: ${[...BY_CODE.values()].join(', ')})`);
  return d;
}

/** Shape in ggml ne order, 1 to 4 dimensions, every entry a positive integer. */
export type Shape = readonly number[];

export function checkShape(shape: Shape, what: string): [number, number, number, number] {
  if (!Array.isArray(shape) || shape.length < 1 || shape.length > 4) {
    throw new TypeError(`${what}: a shape has 1 to 4 dimensions, got ${JSON.stringify(shape)}`);
  }
  for (const n of shape) {
    if (!Number.isInteger(n) || n < 1) throw new TypeError(`${what}: shape entries must be positive integers, got ${JSON.stringify(shape)}`);
  }
  return [shape[0]!, shape[1] ?? 1, shape[2] ?? 1, shape[3] ?? 1];
}

export function numel(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Trim trailing 1s (keeping at least one dimension) for display and comparisons. */
export function trimShape(ne: readonly number[]): number[] {
  const s = [...ne];
  while (s.length > 1 && s[s.length - 1] === 1) s.pop();
  return s;
}

export function shapeStr(shape: Shape): string {
  return `[${trimShape(shape).join(', ')}]`;
}
