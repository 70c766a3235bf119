/**
 * ggml tensor element types used by unlearnkit, with their C enum values (ggml.h of the pinned
 * build), and shape helpers. Shapes everywhere in the engine are in ggml's `ne` order: ne[0] is
 * the fastest-varying (contiguous) dimension, so a matrix with ne = [n_in, n_out] has n_out rows of
 * n_in numbers, and `mul_mat(W[n_in, n_out], x[n_in, n_tokens])` gives [n_out, n_tokens].
 */
export type DType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'i32';

export const GGML_TYPE: Record<DType, number> = { f32: 0, f16: 1, q8_0: 8, i32: 26, bf16: 30 };
const BY_CODE = new Map<number, DType>(Object.entries(GGML_TYPE).map(([k, v]) => [v, k as DType]));

export function dtypeFromCode(code: number): DType {
  const d = BY_CODE.get(code);
  if (!d) throw new Error(`ggml tensor type ${code} is not supported by unlearnkit (supported: f32, f16, bf16, q8_0, i32)`);
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
