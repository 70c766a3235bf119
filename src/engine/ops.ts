/**
 * Typed ggml operations. Each checks shapes and types in TypeScript before calling ggml, because a
 * failed GGML_ASSERT inside native code kills the process; a wrong shape here is a TypeError that
 * names the op and both shapes. Shapes are in ggml ne order (see types.ts).
 *
 * Ops marked "no backward" exist for inference only; autodiff.ts rejects them on a path to the loss.
 */
import type { Tensor } from './graph.ts';
import { GGML_TYPE, shapeStr, type DType } from './types.ts';
import { pointerArray, readTypeTraits, type LoadedNativeKernels } from './ffi.ts';
import { nativeKernels } from './native.ts';

function same(a: Tensor, b: Tensor, op: string): void {
  if (a.graph !== b.graph) throw new TypeError(`${op}: tensors belong to different Graphs`);
}

function ctxOf(a: Tensor): bigint {
  return a.graph.context;
}

function fn(a: Tensor) {
  return a.graph.g;
}

function wrap(a: Tensor, p: unknown, op: string): Tensor {
  return a.graph.wrap(p, op);
}

function needFloat(a: Tensor, op: string): void {
  if (a.dtype === 'i32') throw new TypeError(`${op}: expected a float tensor, got ${a}`);
}

/** b broadcasts into a when every a.ne[i] is a multiple of b.ne[i] (ggml_can_repeat(b, a)). */
function canRepeat(b: Tensor, a: Tensor): boolean {
  return a.ne.every((n, i) => n % b.ne[i]! === 0);
}

function binary(name: 'ggml_add' | 'ggml_sub' | 'ggml_mul' | 'ggml_div', a: Tensor, b: Tensor): Tensor {
  same(a, b, name);
  needFloat(a, name);
  needFloat(b, name);
  if (!canRepeat(b, a)) {
    throw new TypeError(`${name.slice(5)}: shape ${shapeStr(b.ne)} does not broadcast into ${shapeStr(a.ne)} (each dim of a must be a multiple of b's)`);
  }
  return wrap(a, fn(a)[name]!(ctxOf(a), a.ptr, b.ptr), name);
}

/** a + b, b broadcast over a. */
export const add = (a: Tensor, b: Tensor) => binary('ggml_add', a, b);
/** a - b, b broadcast over a. */
export const sub = (a: Tensor, b: Tensor) => binary('ggml_sub', a, b);
/** a * b elementwise, b broadcast over a. */
export const mul = (a: Tensor, b: Tensor) => binary('ggml_mul', a, b);
/** a / b elementwise, b broadcast over a. */
export const div = (a: Tensor, b: Tensor) => binary('ggml_div', a, b);

/** a + s where s is a 1-element tensor. */
export function add1(a: Tensor, s: Tensor): Tensor {
  same(a, s, 'add1');
  if (s.numel !== 1) throw new TypeError(`add1: second argument must have one element, got ${s}`);
  return wrap(a, fn(a).ggml_add1!(ctxOf(a), a.ptr, s.ptr), 'add1');
}

/** a * s for a JS number s. */
export function scale(a: Tensor, s: number): Tensor {
  needFloat(a, 'scale');
  if (!Number.isFinite(s)) throw new RangeError(`scale: factor ${s} is not finite`);
  return wrap(a, fn(a).ggml_scale!(ctxOf(a), a.ptr, s), 'scale');
}

type UnaryName =
  | 'ggml_sqr' | 'ggml_sqrt' | 'ggml_log' | 'ggml_exp' | 'ggml_abs' | 'ggml_neg' | 'ggml_relu' | 'ggml_silu'
  | 'ggml_sgn' | 'ggml_step' | 'ggml_softplus' | 'ggml_sin' | 'ggml_cos' | 'ggml_tanh' | 'ggml_sigmoid' | 'ggml_gelu'
  | 'ggml_sum' | 'ggml_sum_rows' | 'ggml_mean' | 'ggml_cont' | 'ggml_transpose' | 'ggml_soft_max' | 'ggml_argmax' | 'ggml_dup';

function unary(name: UnaryName, a: Tensor): Tensor {
  if (name !== 'ggml_cont' && name !== 'ggml_transpose' && name !== 'ggml_dup') needFloat(a, name);
  return wrap(a, fn(a)[name]!(ctxOf(a), a.ptr), name);
}

export const sqr = (a: Tensor) => unary('ggml_sqr', a);
export const sqrt = (a: Tensor) => unary('ggml_sqrt', a);
export const log = (a: Tensor) => unary('ggml_log', a);
export const exp = (a: Tensor) => unary('ggml_exp', a);
export const abs = (a: Tensor) => unary('ggml_abs', a);
export const neg = (a: Tensor) => unary('ggml_neg', a);
export const relu = (a: Tensor) => unary('ggml_relu', a);
export const silu = (a: Tensor) => unary('ggml_silu', a);
export const sgn = (a: Tensor) => unary('ggml_sgn', a);
export const step = (a: Tensor) => unary('ggml_step', a);
/** log(1 + e^x). */
export const softplus = (a: Tensor) => unary('ggml_softplus', a);
export const sin = (a: Tensor) => unary('ggml_sin', a);
export const cos = (a: Tensor) => unary('ggml_cos', a);
/** tanh; no backward in this ggml build (inference only). */
export const tanh = (a: Tensor) => unary('ggml_tanh', a);
/** sigmoid; no backward in this ggml build (inference only; composite.ts has a differentiable one). */
export const sigmoid = (a: Tensor) => unary('ggml_sigmoid', a);
/** GELU (tanh approximation, as llama.cpp's GPT-2); no backward (composite.ts has a differentiable one). */
export const geluNative = (a: Tensor) => unary('ggml_gelu', a);
/** Sum of all elements -> [1]. */
export const sum = (a: Tensor) => unary('ggml_sum', a);
/** Sum over ne[0] -> [1, ne1, ne2, ne3]. */
export const sumRows = (a: Tensor) => unary('ggml_sum_rows', a);
/** Mean over ne[0] -> [1, ne1, ne2, ne3]. */
export const mean = (a: Tensor) => unary('ggml_mean', a);
/** A contiguous copy (after permute / transpose). */
export const cont = (a: Tensor) => unary('ggml_cont', a);
export const dup = (a: Tensor) => unary('ggml_dup', a);
/** Swap ne[0] and ne[1] (a view; follow with cont for most ops). See contiguousGradSource for the reshape. */
export const transpose = (a: Tensor) => unary('ggml_transpose', contiguousGradSource(a));
/** Softmax over ne[0]. */
export const softMax = (a: Tensor) => unary('ggml_soft_max', a);
/** Index of the max over ne[0] -> i32 [ne1]. */
export const argmax = (a: Tensor) => unary('ggml_argmax', a);

/**
 * Matrix product as ggml defines it: a [K, M, q1, r1], b [K, N, q2, r2] -> [M, N, q2, r2], i.e.
 * result = a^T b per batch, with a broadcast over b's batch dims (q2 % q1 == 0, r2 % r1 == 0).
 * For a weight W with ne = [n_in, n_out] and activations x [n_in, T]: mulMat(W, x) = W x.
 */
export function mulMat(a: Tensor, b: Tensor): Tensor {
  checkMatMulShapes(a, b, 'mulMat');
  needFloat(a, 'mulMat');
  needFloat(b, 'mulMat');
  if (b.dtype !== 'f32') throw new TypeError(`mulMat: the second operand must be f32, got ${b}`);
  return wrap(a, fn(a).ggml_mul_mat!(ctxOf(a), a.ptr, b.ptr), 'mulMat');
}

/** mul_mat's shape rule (shared by mulMat and fastMatMul): equal ne[0], a's batch dims dividing b's. */
function checkMatMulShapes(a: Tensor, b: Tensor, name: string): void {
  same(a, b, name);
  if (a.ne[0] !== b.ne[0]) throw new TypeError(`${name}: inner dimensions differ: ${shapeStr(a.ne)} x ${shapeStr(b.ne)} (ne[0] must match)`);
  if (b.ne[2] % a.ne[2] !== 0 || b.ne[3] % a.ne[3] !== 0) {
    throw new TypeError(`${name}: batch dims of ${shapeStr(a.ne)} do not broadcast into ${shapeStr(b.ne)}`);
  }
}

/** Whether fastMatMul runs unlearnkit's native kernel for tensors of this graph (CPU graphs with the kernels built). */
export function nativeMatMulFor(a: Tensor): boolean {
  return a.graph.device.type === 'cpu' && nativeKernels().kernels !== null;
}

/**
 * mulMat with unlearnkit's packed GEMM (native/matmul.c, see native.ts) on CPU graphs, ggml_mul_mat
 * elsewhere. Same result as mulMat up to float rounding (its own summation order), but a and b may
 * be any strided views: transposes and permutes are read through their strides instead of copied
 * (on the ggml fallback they are made contiguous first). Not differentiable by ggml's autodiff (a
 * custom op): for graphs with a hand-written backward, and for forward graphs that need no
 * bit-parity with llama.cpp (evaluation keeps ggml_mul_mat for that). A 2-D `a` in another type
 * (a frozen F16 / quantised weight) runs weightMatMul: the product with its decoded values, x not
 * rounded to an activation type.
 */
export function fastMatMul(a: Tensor, b: Tensor): Tensor {
  checkMatMulShapes(a, b, 'fastMatMul');
  if (a.dtype !== 'f32' && a.dtype !== 'i32' && b.dtype === 'f32' && a.ne[2] === 1 && a.ne[3] === 1 && nativeWeightKernels(a)) return weightMatMul(a, b);
  const k = a.graph.device.type === 'cpu' ? nativeKernels().kernels : null;
  if (!k || a.dtype !== 'f32' || b.dtype !== 'f32') {
    const contig = (t: Tensor) => (t.graph.g.ggml_is_contiguous!(t.ptr) ? t : cont(t));
    return mulMat(contig(a), contig(b));
  }
  const ne = [a.ne[1]!, b.ne[1]!, b.ne[2]!, b.ne[3]!];
  const p = fn(a).ggml_custom_4d!(ctxOf(a), GGML_TYPE.f32, ne[0], ne[1], ne[2], ne[3], pointerArray([a.ptr, b.ptr]), 2, k.matmulOp, -1, null);
  return wrap(a, p, 'fastMatMul');
}

/**
 * The native kernels when they can run products with the transpose of a weight of `w`'s type
 * (a CPU graph, the kernels built, and ggml's row decoder for the type registered with them).
 */
export function nativeWeightKernels(w: Tensor): LoadedNativeKernels | null {
  if (w.graph.device.type !== 'cpu') return null;
  const k = nativeKernels().kernels;
  if (!k) return null;
  const code = GGML_TYPE[w.dtype];
  if (!k.typeRegistered(code)) {
    const tr = readTypeTraits(w.graph.g, code);
    if (!tr || tr.toFloat === null || !k.registerType(code, tr.toFloat, tr.blockSize, tr.typeSize)) return null;
  }
  return k;
}

/**
 * W^T b for a 2-D weight W [M, K] in its stored type (f32, f16, bf16 or block-quantised) and
 * b [K, N, ...] f32 -> [M, N, ...]: the product a backward pass needs for dX = W^T dY through a
 * frozen y = W x. ggml's mul_mat cannot read a block-quantised matrix transposed; on CPU graphs
 * with the native kernels this runs uk_wtmatmul_op (native/matmul.c: rows of W dequantised in
 * blocks by ggml's own to_float, then the packed f32 GEMM), elsewhere ggml's out_prod(W, b^T) (a
 * row of W dequantised per (row, column of b) pair: correct but ~N times slower) or, for f32 W,
 * mul_mat of the transposed copy.
 */
export function weightTMatMul(W: Tensor, b: Tensor): Tensor {
  same(W, b, 'weightTMatMul');
  if (W.ne[2] !== 1 || W.ne[3] !== 1) throw new TypeError(`weightTMatMul: the weight must be 2-D, got ${shapeStr(W.ne)}`);
  if (b.ne[0] !== W.ne[1]) throw new TypeError(`weightTMatMul: W ${shapeStr(W.ne)} has ${W.ne[1]} rows but b ${shapeStr(b.ne)} has ne[0] = ${b.ne[0]}`);
  if (b.dtype !== 'f32') throw new TypeError(`weightTMatMul: b must be f32, got ${b}`);
  if (W.dtype === 'i32') throw new TypeError(`weightTMatMul: expected a float or quantised weight, got ${W}`);
  if (W.dtype === 'f32') return fastMatMul(transpose(W), b);
  const k = nativeWeightKernels(W);
  if (k) {
    const p = fn(W).ggml_custom_4d!(ctxOf(W), GGML_TYPE.f32, W.ne[0], b.ne[1], b.ne[2], b.ne[3], pointerArray([W.ptr, b.ptr]), 2, k.wtMatmulOp, -1, null);
    return wrap(W, p, 'weightTMatMul');
  }
  if (b.ne[2] !== 1 || b.ne[3] !== 1) throw new TypeError(`weightTMatMul: without the native kernels b must be 2-D, got ${shapeStr(b.ne)}`);
  return outProd(W, transpose(b));
}

/**
 * W x for a 2-D weight W [K, M] in its stored type (f16, bf16, block-quantised) and x [K, N, ...]
 * f32 -> [M, N, ...], on the CPU's native kernels (uk_wmatmul_op): the product of x with W's decoded
 * values in f32. ggml's mul_mat rounds x to the weight type's activation type first (q8_0, q8_K,
 * f16), which llama.cpp's evaluation does and evaluation graphs keep; a training graph computes this
 * smooth function instead, whose exact derivative its backward takes (x through W^T:
 * weightTMatMul). Without the kernels (other devices, no compiler) it is ggml's mul_mat.
 */
export function weightMatMul(W: Tensor, x: Tensor): Tensor {
  checkMatMulShapes(W, x, 'weightMatMul');
  if (W.ne[2] !== 1 || W.ne[3] !== 1) throw new TypeError(`weightMatMul: the weight must be 2-D, got ${shapeStr(W.ne)}`);
  if (x.dtype !== 'f32') throw new TypeError(`weightMatMul: x must be f32, got ${x}`);
  const k = W.dtype === 'f32' || W.dtype === 'i32' ? null : nativeWeightKernels(W);
  if (!k) return mulMat(W, x.graph.g.ggml_is_contiguous!(x.ptr) ? x : cont(x));
  const p = fn(W).ggml_custom_4d!(ctxOf(W), GGML_TYPE.f32, W.ne[1], x.ne[1], x.ne[2], x.ne[3], pointerArray([W.ptr, x.ptr]), 2, k.wMatmulOp, -1, null);
  return wrap(W, p, 'weightMatMul');
}

/** Outer product a [M, K] (x) b [N, K] -> [M, N] (ggml_out_prod). */
export function outProd(a: Tensor, b: Tensor): Tensor {
  same(a, b, 'outProd');
  if (a.ne[1] !== b.ne[1]) throw new TypeError(`outProd: ne[1] differs: ${shapeStr(a.ne)} vs ${shapeStr(b.ne)}`);
  return wrap(a, fn(a).ggml_out_prod!(ctxOf(a), a.ptr, b.ptr), 'outProd');
}

/** RMSNorm over ne[0]: x / sqrt(mean(x^2) + eps) (no weight; multiply by it yourself). */
export function rmsNorm(a: Tensor, eps: number): Tensor {
  needFloat(a, 'rmsNorm');
  return wrap(a, fn(a).ggml_rms_norm!(ctxOf(a), a.ptr, eps), 'rmsNorm');
}

/** LayerNorm over ne[0] without affine terms (ggml_norm); no backward: composite.layerNorm has one. */
export function normNative(a: Tensor, eps: number): Tensor {
  needFloat(a, 'norm');
  return wrap(a, fn(a).ggml_norm!(ctxOf(a), a.ptr, eps), 'norm');
}

/**
 * Write row i of src into row idx[i] of dst (converting to dst's type, e.g. f32 -> f16) and return
 * dst as a view that depends on the write: a KV cache update. dst [n, R], src [n, k], idx i32 [k].
 * No backward.
 */
export function setRows(dst: Tensor, src: Tensor, idx: Tensor): Tensor {
  same(dst, src, 'setRows');
  same(dst, idx, 'setRows');
  if (idx.dtype !== 'i32') throw new TypeError(`setRows: indices must be i32, got ${idx}`);
  if (src.dtype !== 'f32' && src.dtype !== 'f16') throw new TypeError(`setRows: source must be f32 or f16, got ${src}`);
  if (dst.ne[0] !== src.ne[0] || src.ne[1] !== idx.ne[0] || dst.ne[2] !== 1 || dst.ne[3] !== 1 || src.ne[2] !== 1 || src.ne[3] !== 1) {
    throw new TypeError(`setRows: rows of ${shapeStr(src.ne)} at ${shapeStr(idx.ne)} indices do not fit into ${shapeStr(dst.ne)}`);
  }
  return wrap(dst, fn(dst).ggml_set_rows!(ctxOf(dst), dst.ptr, src.ptr, idx.ptr), 'setRows');
}

/** Rows of a [n, rows, ...] picked by i32 indices b [k] -> [n, k]. */
export function getRows(a: Tensor, idx: Tensor): Tensor {
  same(a, idx, 'getRows');
  if (idx.dtype !== 'i32') throw new TypeError(`getRows: indices must be i32, got ${idx}`);
  if (idx.ne[2] !== 1 || idx.ne[3] !== 1 || a.ne[2] !== 1 || a.ne[3] !== 1) {
    if (a.ne[2] !== idx.ne[1]) throw new TypeError(`getRows: batched indices ${shapeStr(idx.ne)} do not match ${shapeStr(a.ne)}`);
  }
  return wrap(a, fn(a).ggml_get_rows!(ctxOf(a), a.ptr, idx.ptr), 'getRows');
}

/**
 * softmax(a * scale + mask) over ne[0]; mask [ne0, >= ne1] (f32 or f16) or null. With maxBias 0 (no
 * ALiBi). The mask's -Infinity entries give causal attention.
 */
export function softMaxExt(a: Tensor, mask: Tensor | null, scale_: number, maxBias = 0): Tensor {
  needFloat(a, 'softMaxExt');
  if (mask) {
    same(a, mask, 'softMaxExt');
    if (mask.ne[0] !== a.ne[0] || mask.ne[1] < a.ne[1]) {
      throw new TypeError(`softMaxExt: mask ${shapeStr(mask.ne)} does not cover scores ${shapeStr(a.ne)}`);
    }
    if (a.ne[2] % mask.ne[2] !== 0 || a.ne[3] % mask.ne[3] !== 0) {
      throw new TypeError(`softMaxExt: mask batch dims ${shapeStr(mask.ne)} do not broadcast into ${shapeStr(a.ne)}`);
    }
  }
  return wrap(a, fn(a).ggml_soft_max_ext!(ctxOf(a), a.ptr, mask ? mask.ptr : null, scale_, maxBias), 'softMaxExt');
}

/** ggml's rope modes: NORMAL rotates adjacent pairs (LLaMA GGUFs), NEOX rotates halves (GPT-NeoX, HF). */
export const ROPE_NORMAL = 0;
export const ROPE_NEOX = 2;

export interface RopeOptions {
  nDims: number;
  mode: number;
  freqBase?: number;
  freqScale?: number;
  nCtxOrig?: number;
  /**
   * f32 [>= nDims / 2]: per-frequency divisors of the rotation angle (ggml_rope_ext's freq_factors:
   * theta_i = p * freqBase^(-2i / nDims) * freqScale / freqFactors[i]), e.g. Llama 3.1's rope_freqs.
   */
  freqFactors?: Tensor;
}

/** Checks RopeOptions.freqFactors against a rope over nDims dimensions. */
export function checkFreqFactors(a: Tensor, o: RopeOptions, name: string): void {
  const f = o.freqFactors;
  if (!f) return;
  same(a, f, name);
  if (f.dtype !== 'f32' || f.ne[0] < o.nDims / 2) throw new TypeError(`${name}: freq factors must be f32 with >= ${o.nDims / 2} entries, got ${f}`);
}

/**
 * Rotary position embedding on a [headDim, nHeads, T, B] tensor with i32 positions [T] (ggml_rope_ext,
 * no YaRN: ext_factor 0, attn_factor 1).
 */
export function ropeExt(a: Tensor, pos: Tensor, o: RopeOptions): Tensor {
  same(a, pos, 'ropeExt');
  if (pos.dtype !== 'i32') throw new TypeError(`ropeExt: positions must be i32, got ${pos}`);
  if (pos.ne[0] !== a.ne[2]) throw new TypeError(`ropeExt: ${pos.ne[0]} positions for ne[2] = ${a.ne[2]} in ${shapeStr(a.ne)}`);
  if (o.nDims > a.ne[0] || o.nDims % 2 !== 0) throw new TypeError(`ropeExt: nDims ${o.nDims} must be even and <= ne[0] = ${a.ne[0]}`);
  checkFreqFactors(a, o, 'ropeExt');
  return wrap(
    a,
    fn(a).ggml_rope_ext!(ctxOf(a), a.ptr, pos.ptr, o.freqFactors?.ptr ?? null, o.nDims, o.mode, o.nCtxOrig ?? 0, o.freqBase ?? 10000, o.freqScale ?? 1, 0, 1, 32, 1),
    'ropeExt',
  );
}

export function reshape(a: Tensor, shape: number[]): Tensor {
  const n = shape.reduce((x, y) => x * y, 1);
  if (n !== a.numel) throw new TypeError(`reshape: ${shapeStr(a.ne)} (${a.numel} elements) cannot become ${shapeStr(shape)} (${n})`);
  const g = fn(a);
  const c = ctxOf(a);
  const p =
    shape.length === 1
      ? g.ggml_reshape_1d!(c, a.ptr, shape[0])
      : shape.length === 2
        ? g.ggml_reshape_2d!(c, a.ptr, shape[0], shape[1])
        : shape.length === 3
          ? g.ggml_reshape_3d!(c, a.ptr, shape[0], shape[1], shape[2])
          : g.ggml_reshape_4d!(c, a.ptr, shape[0], shape[1], shape[2], shape[3]);
  return wrap(a, p, 'reshape');
}

/**
 * A same-shape reshape view of a contiguous tensor, put under permute / transpose: ggml's backward of
 * PERMUTE / TRANSPOSE hands its source a non-contiguous (permuted view) gradient, which is read back
 * in the wrong order for a parameter and fails GGML_ASSERT(ggml_is_contiguous(grad)) when the source
 * is a CONT node; RESHAPE's backward makes the gradient contiguous first. Costs no compute.
 */
function contiguousGradSource(a: Tensor): Tensor {
  if (!fn(a).ggml_is_contiguous!(a.ptr)) return a;
  return wrap(a, fn(a).ggml_reshape_4d!(ctxOf(a), a.ptr, a.ne[0], a.ne[1], a.ne[2], a.ne[3]), 'reshape');
}

/** Permute axes: axis i of a goes to position axes[i] (ggml_permute semantics). */
export function permute(a: Tensor, axes: [number, number, number, number]): Tensor {
  if ([...axes].sort().join() !== '0,1,2,3') throw new TypeError(`permute: axes ${JSON.stringify(axes)} are not a permutation of 0..3`);
  const src = contiguousGradSource(a);
  return wrap(a, fn(a).ggml_permute!(ctxOf(a), src.ptr, axes[0], axes[1], axes[2], axes[3]), 'permute');
}

/**
 * A view of a: `shape` elements starting at byte `offset`, with byte strides nb (nb[0] implicit).
 * Strides default to the contiguous layout of a.
 */
export function view(a: Tensor, shape: number[], offsetBytes: number, strides?: number[]): Tensor {
  const g = fn(a);
  const c = ctxOf(a);
  const es = 4;
  const nb1 = strides?.[0] ?? a.ne[0] * es;
  const nb2 = strides?.[1] ?? nb1 * (shape[1] ?? 1);
  const nb3 = strides?.[2] ?? nb2 * (shape[2] ?? 1);
  let p: unknown;
  if (shape.length === 1) p = g.ggml_view_1d!(c, a.ptr, shape[0], offsetBytes);
  else if (shape.length === 2) p = g.ggml_view_2d!(c, a.ptr, shape[0], shape[1], nb1, offsetBytes);
  else if (shape.length === 3) p = g.ggml_view_3d!(c, a.ptr, shape[0], shape[1], shape[2], nb1, nb2, offsetBytes);
  else p = g.ggml_view_4d!(c, a.ptr, shape[0], shape[1], shape[2], shape[3], nb1, nb2, nb3, offsetBytes);
  const last = offsetBytes + (shape[0]! - 1) * es + ((shape[1] ?? 1) - 1) * nb1 + ((shape[2] ?? 1) - 1) * nb2 + ((shape[3] ?? 1) - 1) * nb3;
  const total = Number(g.ggml_nbytes!(a.ptr));
  if (last + es > total) throw new RangeError(`view: ${shapeStr(shape)} at offset ${offsetBytes} reaches past the end of ${a}`);
  return wrap(a, p, 'view');
}

/** Copy a into b's layout/type (returns the view of b that holds the result). */
export function cpy(a: Tensor, b: Tensor): Tensor {
  same(a, b, 'cpy');
  if (a.numel !== b.numel) throw new TypeError(`cpy: ${a} and ${b} differ in size`);
  return wrap(a, fn(a).ggml_cpy!(ctxOf(a), a.ptr, b.ptr), 'cpy');
}

export function cast(a: Tensor, dtype: DType): Tensor {
  return wrap(a, fn(a).ggml_cast!(ctxOf(a), a.ptr, GGML_TYPE[dtype]), 'cast');
}

/** Repeat a to b's shape (b's ne must be multiples of a's). */
export function repeat(a: Tensor, like: Tensor): Tensor {
  same(a, like, 'repeat');
  if (!canRepeat(a, like)) throw new TypeError(`repeat: ${shapeStr(a.ne)} does not tile into ${shapeStr(like.ne)}`);
  return wrap(a, fn(a).ggml_repeat!(ctxOf(a), a.ptr, like.ptr), 'repeat');
}

/** Sum a back into b's (smaller) shape: the adjoint of repeat. */
export function repeatBack(a: Tensor, like: Tensor): Tensor {
  same(a, like, 'repeatBack');
  if (!canRepeat(like, a)) throw new TypeError(`repeatBack: ${shapeStr(like.ne)} does not tile into ${shapeStr(a.ne)}`);
  return wrap(a, fn(a).ggml_repeat_back!(ctxOf(a), a.ptr, like.ptr), 'repeatBack');
}

/** Concatenate along dimension dim. */
export function concat(a: Tensor, b: Tensor, dim: number): Tensor {
  same(a, b, 'concat');
  for (let i = 0; i < 4; i++) {
    if (i !== dim && a.ne[i] !== b.ne[i]) throw new TypeError(`concat: ${shapeStr(a.ne)} and ${shapeStr(b.ne)} differ outside dim ${dim}`);
  }
  return wrap(a, fn(a).ggml_concat!(ctxOf(a), a.ptr, b.ptr, dim), 'concat');
}

/** Set entries above the diagonal (past n_past) to -inf: causal masking of [Tk, Tq, ...] scores. */
export function diagMaskInf(a: Tensor, nPast = 0): Tensor {
  return wrap(a, fn(a).ggml_diag_mask_inf!(ctxOf(a), a.ptr, nPast), 'diagMaskInf');
}

/**
 * Mean cross-entropy over rows: logits [V, N], labels [V, N] (probabilities, e.g. one-hot) -> [1].
 * loss = -(1/N) * sum_n sum_v labels[v,n] * log_softmax(logits)[v,n].
 */
export function crossEntropyLoss(logits: Tensor, labels: Tensor): Tensor {
  same(logits, labels, 'crossEntropyLoss');
  if (logits.ne.some((n, i) => n !== labels.ne[i])) {
    throw new TypeError(`crossEntropyLoss: logits ${shapeStr(logits.ne)} and labels ${shapeStr(labels.ne)} differ`);
  }
  return wrap(logits, fn(logits).ggml_cross_entropy_loss!(ctxOf(logits), logits.ptr, labels.ptr), 'crossEntropyLoss');
}

/** SwiGLU in the split form that has a backward: silu(gate) * up. */
export function swigluSplit(gate: Tensor, up: Tensor): Tensor {
  same(gate, up, 'swigluSplit');
  if (gate.ne.some((n, i) => n !== up.ne[i])) throw new TypeError(`swigluSplit: ${shapeStr(gate.ne)} vs ${shapeStr(up.ne)}`);
  return wrap(gate, fn(gate).ggml_swiglu_split!(ctxOf(gate), gate.ptr, up.ptr), 'swigluSplit');
}

/**
 * im2col for 2-D convolution: kernel [KW, KH, IC, OC] (only its shape is used), data [W, H, IC, N]
 * -> [IC*KH*KW, OW, OH, N] in f32.
 */
export function im2col(kernel: Tensor, data: Tensor, o: { stride?: number; pad?: number; dilation?: number }): Tensor {
  same(kernel, data, 'im2col');
  if (kernel.ne[2] !== data.ne[2]) throw new TypeError(`im2col: kernel has ${kernel.ne[2]} input channels, data has ${data.ne[2]}`);
  const s = o.stride ?? 1;
  const p = o.pad ?? 0;
  const d = o.dilation ?? 1;
  const ow = Math.floor((data.ne[0] + 2 * p - d * (kernel.ne[0] - 1) - 1) / s) + 1;
  const oh = Math.floor((data.ne[1] + 2 * p - d * (kernel.ne[1] - 1) - 1) / s) + 1;
  if (ow < 1 || oh < 1) throw new TypeError(`im2col: kernel ${shapeStr(kernel.ne)} does not fit data ${shapeStr(data.ne)} with pad ${p}`);
  return wrap(kernel, fn(kernel).ggml_im2col!(ctxOf(kernel), kernel.ptr, data.ptr, s, s, p, p, d, d, true, GGML_TYPE.f32), 'im2col');
}

export const POOL_MAX = 0;
export const POOL_AVG = 1;

/** 2-D pooling over [W, H, C, N]: kernel k, stride s, padding p. */
export function pool2d(a: Tensor, kind: 'max' | 'avg', k: number, s: number = k, p = 0): Tensor {
  needFloat(a, 'pool2d');
  if (k > a.ne[0] + 2 * p || k > a.ne[1] + 2 * p) throw new TypeError(`pool2d: kernel ${k} larger than input ${shapeStr(a.ne)}`);
  return wrap(a, fn(a).ggml_pool_2d!(ctxOf(a), a.ptr, kind === 'max' ? POOL_MAX : POOL_AVG, k, k, s, s, p, p), 'pool2d');
}

/** Zero padding at the end of each dim. */
export function pad(a: Tensor, p0: number, p1 = 0, p2 = 0, p3 = 0): Tensor {
  return wrap(a, fn(a).ggml_pad!(ctxOf(a), a.ptr, p0, p1, p2, p3), 'pad');
}

/**
 * Fused attention as llama.cpp runs it by default on CPU (no backward; evaluation only):
 * q [hd, Tq, H, B] (f32), k and v [hd, Tk, Hkv, B] (f16, v not transposed), mask [Tk, Tq] f16.
 * Returns [hd, H, Tq, B]. Accumulation precision is set to f32, as llama.cpp does.
 */
export function flashAttnExt(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, scale_: number): Tensor {
  same(q, k, 'flashAttnExt');
  same(q, v, 'flashAttnExt');
  same(q, mask, 'flashAttnExt');
  if (k.dtype !== 'f16' || v.dtype !== 'f16' || mask.dtype !== 'f16') throw new TypeError('flashAttnExt: k, v and mask must be f16');
  if (q.ne[0] !== k.ne[0] || k.ne[1] !== v.ne[1] || q.ne[2] % k.ne[2] !== 0 || q.ne[3] !== k.ne[3]) {
    throw new TypeError(`flashAttnExt: shapes q ${shapeStr(q.ne)}, k ${shapeStr(k.ne)}, v ${shapeStr(v.ne)} do not fit`);
  }
  if (mask.ne[0] !== k.ne[1] || mask.ne[1] < q.ne[1]) throw new TypeError(`flashAttnExt: mask ${shapeStr(mask.ne)} does not cover ${k.ne[1]} keys x ${q.ne[1]} queries`);
  const t = wrap(q, fn(q).ggml_flash_attn_ext!(ctxOf(q), q.ptr, k.ptr, v.ptr, mask.ptr, scale_, 0, 0), 'flashAttnExt');
  fn(q).ggml_prec_set_acc!(t.ptr, 10 /* GGML_PREC_F32 */);
  return t;
}
