/**
 * Differentiable building blocks for ops that have NO backward in the pinned ggml build (norm,
 * gelu, tanh, sigmoid, conv_2d as one op), composed from ops that do, so that
 * ggml_build_backward_expand differentiates them exactly (see autodiff.ts for the list). Every block
 * is checked against central finite differences and a plain TypeScript forward in
 * test/engine/composite.test.ts.
 *
 * Shapes are in ggml ne order: ne[0] is contiguous. Images are [W, H, C, N].
 */
import type { Tensor } from './graph.ts';
import * as op from './ops.ts';
import { shapeStr } from './types.ts';

/** sqrt(2 / pi), the constant of GELU's tanh approximation. */
const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

function contiguous(x: Tensor): Tensor {
  return x.graph.g.ggml_is_contiguous!(x.ptr) ? x : op.cont(x);
}

/**
 * LayerNorm over ne[0] without affine terms (what ggml_norm computes):
 *   y = (x - mean(x)) / sqrt(var(x) + eps),  var(x) = mean((x - mean(x))^2)   (Ba et al., 2016).
 * The mean comes from sumRows / n; the division by sqrt(var + eps) is rms_norm applied to the
 * centred input, since rms_norm(z, eps) = z / sqrt(mean(z^2) + eps) and mean(z^2) = var(x) for
 * z = x - mean(x). rms_norm has a backward and takes eps as an op parameter (no constant tensor).
 */
export function layerNorm(x: Tensor, eps = 1e-5): Tensor {
  if (!(eps >= 0)) throw new RangeError(`layerNorm: eps must be >= 0, got ${eps}`);
  const xc = contiguous(x);
  // x + (-mean): ggml's ADD reduces a broadcast operand's gradient (repeat_back), SUB does not.
  const negMean = op.scale(op.sumRows(xc), -1 / xc.ne[0]);
  return op.rmsNorm(op.add(xc, negMean), eps);
}

/**
 * Logistic sigmoid, 1 / (1 + e^-x), written as exp(-softplus(-x)): softplus and exp have backwards,
 * softplus(-x) >= 0 so exp never sees a large positive argument, and the backward
 * d/dx = sigmoid(-(-x)) * exp(...) stays finite for every x.
 */
export function sigmoid(x: Tensor): Tensor {
  return op.exp(op.neg(op.softplus(op.neg(x))));
}

/**
 * GELU, tanh approximation (Hendrycks & Gimpel, 2016; GPT-2 and llama.cpp's ggml_gelu):
 *   gelu(x) = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3).
 * With 0.5 (1 + tanh(u)) = sigmoid(2u) this is x * sigmoid(2u), and sigmoid is built as above,
 * so the backward is finite everywhere (no tanh, no exp of a large positive number).
 */
export function gelu(x: Tensor): Tensor {
  const x3 = op.mul(op.sqr(x), x);
  const v = op.scale(op.add(x, op.scale(x3, GELU_A)), 2 * GELU_C);
  return op.mul(x, sigmoid(v));
}

export interface Conv2dOptions {
  stride?: number;
  pad?: number;
  dilation?: number;
  /** Per-output-channel bias [OC]. */
  bias?: Tensor;
}

/**
 * 2-D convolution (cross-correlation, as PyTorch's conv2d): kernel [KW, KH, IC, OC], data
 * [W, H, IC, N] -> [OW, OH, OC, N], OW = floor((W + 2 pad - dil (KW - 1) - 1) / stride) + 1.
 * Built as ggml_conv_2d is, from im2col (f32) and one matrix product:
 *   cols = im2col(data) [IC*KH*KW, OW, OH, N] -> [K, OW*OH*N];  kernel -> [K, OC]
 *   mulMat(cols, kernel) = cols^T kernel [OW*OH*N, OC] -> [OW, OH, N, OC] -> permute -> [OW, OH, OC, N].
 * im2col has a backward to the data, mul_mat to both operands, so data and kernel get gradients.
 */
export function conv2d(kernel: Tensor, data: Tensor, o: Conv2dOptions = {}): Tensor {
  if (kernel.graph !== data.graph) throw new TypeError('conv2d: kernel and data belong to different Graphs');
  if (kernel.dtype !== 'f32' || data.dtype !== 'f32') throw new TypeError(`conv2d: kernel and data must be f32, got ${kernel} and ${data}`);
  const [kw, kh, ic, oc] = kernel.ne;
  if (data.ne[2] !== ic) {
    throw new TypeError(`conv2d: kernel ${shapeStr(kernel.ne)} expects ${ic} input channels, data ${shapeStr(data.ne)} has ${data.ne[2]}`);
  }
  const cols = op.im2col(kernel, contiguous(data), o); // [K, OW, OH, N]
  const [k, ow, oh, n] = cols.ne;
  const y = op.mulMat(op.reshape(cols, [k, ow * oh * n]), op.reshape(contiguous(kernel), [kw * kh * ic, oc])); // [OW*OH*N, OC]
  let out = op.cont(op.permute(op.reshape(y, [ow, oh, n, oc]), [0, 1, 3, 2])); // [OW, OH, OC, N]
  if (o.bias) {
    if (o.bias.numel !== oc) throw new TypeError(`conv2d: bias ${o.bias} must have ${oc} entries (one per output channel)`);
    out = op.add(out, op.reshape(contiguous(o.bias), [1, 1, oc, 1]));
  }
  return out;
}

export interface NormAffine {
  /** Per-channel scale gamma [C]. */
  weight?: Tensor;
  /** Per-channel shift beta [C]. */
  bias?: Tensor;
}

function affine(y: Tensor, c: number, a: NormAffine | undefined, what: string): Tensor {
  let out = y;
  for (const [t, f] of [
    [a?.weight, op.mul],
    [a?.bias, op.add],
  ] as const) {
    if (!t) continue;
    if (t.numel !== c) throw new TypeError(`${what}: affine ${t} must have ${c} entries (one per channel)`);
    out = f(out, op.reshape(contiguous(t), [1, 1, c, 1]));
  }
  return out;
}

function need4d(x: Tensor, what: string): void {
  if (x.dtype !== 'f32') throw new TypeError(`${what}: expected an f32 tensor, got ${x}`);
}

/**
 * Batch normalisation in training mode (Ioffe & Szegedy, 2015) of x [W, H, C, N]: each channel c is
 * normalised with the mean and (biased) variance over W, H and the batch N,
 *   y = (x - mu_c) / sqrt(var_c + eps) [* gamma_c + beta_c].
 * Permuting to [W, H, N, C] and flattening to [W*H*N, C] turns it into layerNorm over ne[0].
 */
export function batchNorm(x: Tensor, eps = 1e-5, a?: NormAffine): Tensor {
  need4d(x, 'batchNorm');
  const [w, h, c, n] = x.ne;
  if (w * h * n < 2) throw new TypeError(`batchNorm: ${x} has one value per channel; batch statistics need at least two`);
  const perChannel = op.reshape(op.cont(op.permute(x, [0, 1, 3, 2])), [w * h * n, c]); // [W*H*N, C]
  const y = layerNorm(perChannel, eps);
  const back = op.cont(op.permute(op.reshape(y, [w, h, n, c]), [0, 1, 3, 2])); // [W, H, C, N]
  return affine(back, c, a, 'batchNorm');
}

/**
 * The batch statistics batchNorm uses, per channel of x [W, H, C, N]: mean [C] and biased variance
 * [C] (for running averages used at evaluation time).
 */
export function channelStats(x: Tensor): { mean: Tensor; variance: Tensor } {
  need4d(x, 'channelStats');
  const [w, h, c, n] = x.ne;
  const m = w * h * n;
  const perChannel = op.reshape(op.cont(op.permute(x, [0, 1, 3, 2])), [m, c]);
  const mu = op.scale(op.sumRows(perChannel), 1 / m); // [1, C]
  const variance = op.scale(op.sumRows(op.sqr(op.add(perChannel, op.scale(mu, -1)))), 1 / m);
  return { mean: op.reshape(mu, [c]), variance: op.reshape(variance, [c]) };
}

/**
 * Group normalisation (Wu & He, 2018) of x [W, H, C, N]: the C channels are split into `groups`
 * consecutive groups, and each (group, sample) is normalised over W, H and its C/groups channels:
 *   y = (x - mu_{g,n}) / sqrt(var_{g,n} + eps) [* gamma_c + beta_c].
 * groups = 1 is LayerNorm over (W, H, C); groups = C is instance normalisation.
 */
export function groupNorm(x: Tensor, groups: number, eps = 1e-5, a?: NormAffine): Tensor {
  need4d(x, 'groupNorm');
  const [w, h, c, n] = x.ne;
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new TypeError(`groupNorm: ${c} channels cannot be split into ${groups} groups`);
  }
  const perGroup = op.reshape(contiguous(x), [w * h * (c / groups), groups * n]);
  const y = op.reshape(layerNorm(perGroup, eps), [w, h, c, n]);
  return affine(y, c, a, 'groupNorm');
}
