/**
 * The image classifier of the RUM side: a ResNet-style CNN (He et al. 2016, "Deep Residual
 * Learning") built from the engine's differentiable ops, with configurable width and depth.
 *
 *   stem:   conv3x3(C_in -> w), stride `stemStride`, norm, relu (one padded GEMM, see stemRows)
 *   stage s (s = 0..S-1), width w * 2^s, `blocks[s]` BasicBlocks; the first block of stage s
 *           downsamples (stride 2) when s > 0 or `downsampleFirst`:
 *           y = relu( norm(conv3x3(relu(norm(conv3x3(x, stride))))) + shortcut(x) ),
 *           shortcut = x, or norm(conv1x1(x, stride)) when the shape changes
 *   head:   global average pool -> embedding phi [C_last] (the penultimate layer used by the
 *           entanglement score) -> fully connected -> logits [classes]
 *
 * Normalisation: GroupNorm (Wu & He 2018) with affine terms, or none. BatchNorm would need running
 * statistics for evaluation and makes one example's prediction depend on its batch-mates; the
 * memorization estimator and the MIA read per-example predictions, and GroupNorm normalises each
 * example on its own, identically in training and evaluation. Convolutions carry no bias (the
 * norm's shift replaces it); with norm 'none' they do.
 *
 * Convolutions: the stem is an im2col GEMM on the image (zero padding); the others are gather
 * convolutions with replicate padding on channel-innermost activations (conv.ts explains why:
 * ggml's im2col backward is slow on CPU).
 *
 * Tensors are in ggml ne order: images [W, H, C, N] (host NCHW has this memory layout), hidden
 * activations [C, W*H*N], conv weights [k*k*IC, OC] (stem: [stemRows, OC]), the FC weight
 * [C_last, classes].
 */
import type { Graph, Tensor } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import * as nn from '../engine/composite.ts';
import { GraphConstants, gatherConv } from './conv.ts';
import { Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';

export type NormKind = 'group' | 'none';

export interface CnnConfig {
  /** Input channels and spatial size (CIFAR: 3, 32, 32). */
  inChannels: number;
  height: number;
  width: number;
  classes: number;
  /** Channels of the stem and of stage 0; stage s has baseWidth * 2^s. */
  baseWidth: number;
  /** BasicBlocks per stage (its length is the number of stages). */
  blocks: number[];
  /** Stride of the stem convolution (1 for CIFAR ResNets). */
  stemStride: number;
  /** Whether stage 0 also downsamples (stride 2) in its first block. */
  downsampleFirst: boolean;
  norm: NormKind;
  /** GroupNorm groups (clipped to the channel count; must divide it). */
  groups: number;
  /**
   * Start every residual branch at zero: the scale of each block's last norm is initialised to 0
   * (Goyal et al. 2017, "Accurate, large minibatch SGD"), so a deep net starts close to its
   * shortcut path and its initial logits stay small (ResNet-18 without it: initial loss ~17).
   */
  zeroInitResidual?: boolean;
}

/**
 * The default fixture-scale model (78k parameters, 6.3 MFLOP of GEMMs forward per 32x32 image): a stride-2
 * stem to 16x16 x 16, then 3 stages of one BasicBlock, 16x16 x 16 -> 8x8 x 32 -> 4x4 x 64. Sized so
 * that one model trains in about a minute on one contended core (see the RUM notes in
 * src/rum/README.md); GroupNorm with 4 groups.
 */
const SMALL_CNN: CnnConfig = {
  inChannels: 3,
  height: 32,
  width: 32,
  classes: 10,
  baseWidth: 16,
  blocks: [1, 1, 1],
  stemStride: 2,
  downsampleFirst: false,
  norm: 'group',
  groups: 4,
};

/** ResNet-18 for CIFAR (the RUM paper's model): widths 64..512, [2, 2, 2, 2] BasicBlocks, 3x3 stem. */
const RESNET18: CnnConfig = {
  inChannels: 3,
  height: 32,
  width: 32,
  classes: 10,
  baseWidth: 64,
  blocks: [2, 2, 2, 2],
  stemStride: 1,
  downsampleFirst: false,
  norm: 'group',
  groups: 32,
  zeroInitResidual: true,
};

/** A tiny config for tests and gradient checks. */
const TINY_CNN: CnnConfig = {
  inChannels: 3,
  height: 8,
  width: 8,
  classes: 4,
  baseWidth: 4,
  blocks: [1, 1],
  stemStride: 1,
  downsampleFirst: false,
  norm: 'group',
  groups: 2,
};

export const NAMED_CONFIGS: Record<string, CnnConfig> = { small: SMALL_CNN, resnet18: RESNET18, tiny: TINY_CNN };

/** A named config with overrides, checked. */
export function resolveConfig(name: string, over: Partial<CnnConfig> = {}): CnnConfig {
  const base = NAMED_CONFIGS[name];
  if (!base) throw new UserError(`unknown model config '${name}'; known: ${Object.keys(NAMED_CONFIGS).join(', ')}`);
  const cfg = { ...base, ...over, blocks: [...(over.blocks ?? base.blocks)] };
  validateConfig(cfg);
  return cfg;
}

function validateConfig(c: CnnConfig): void {
  const pos = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 1) throw new UserError(`model config: ${what} must be a positive integer, got ${v}`);
  };
  pos(c.inChannels, 'inChannels');
  pos(c.height, 'height');
  pos(c.width, 'width');
  pos(c.classes, 'classes');
  pos(c.baseWidth, 'baseWidth');
  pos(c.groups, 'groups');
  if (c.classes < 2) throw new UserError('model config: classes must be >= 2');
  if (c.blocks.length === 0) throw new UserError('model config: blocks needs at least one stage');
  c.blocks.forEach((b, i) => pos(b, `blocks[${i}]`));
  if (c.stemStride !== 1 && c.stemStride !== 2) throw new UserError(`model config: stemStride must be 1 or 2`);
  if (c.norm !== 'group' && c.norm !== 'none') throw new UserError(`model config: norm must be 'group' or 'none', got ${String(c.norm)}`);
  for (const w of stageWidths(c)) {
    const g = Math.min(c.groups, w);
    if (w % g !== 0) throw new UserError(`model config: ${w} channels cannot be split into ${g} groups`);
  }
  let s = Math.floor((c.height - 1) / c.stemStride) + 1;
  for (let i = 0; i < c.blocks.length; i++) if (i > 0 || c.downsampleFirst) s = Math.floor((s - 1) / 2) + 1;
  if (s < 1) throw new UserError('model config: the input is too small for this many downsampling stages');
}

function stageWidths(c: CnnConfig): number[] {
  return c.blocks.map((_, s) => c.baseWidth * 2 ** s);
}

/**
 * Rows of the stem's GEMM weight [rows, OC]: 9 * inChannels rounded up to a multiple of 16.
 * ggml's fast f32 GEMM path needs the contraction length to be a multiple of the SIMD width; at
 * 27 (3 x 3 x RGB) it falls back to short dot products and runs at ~6 GFLOP/s instead of ~30
 * (measured on the 2-core Zen 4 dev machine). The image's im2col columns are padded with zero
 * rows (the image needs no gradient, so ggml's non-differentiable PAD is fine there), and the
 * weight rows beyond 9 * inChannels start at zero and stay zero: their gradient is zero and weight
 * decay keeps them there. Row r < 9 IC is (ic, kh, kw) = im2col's order, r = (ic * 3 + kh) * 3 + kw.
 */
export function stemRows(c: CnnConfig): number {
  return Math.ceil((9 * c.inChannels) / 16) * 16;
}

export interface ParamSpec {
  name: string;
  /** ggml ne order. */
  shape: number[];
  kind: 'conv' | 'norm-weight' | 'norm-bias' | 'fc-weight' | 'fc-bias' | 'conv-bias';
  /** Fan-in for initialisation (conv / fc). */
  fanIn: number;
}

interface ConvSpec {
  name: string;
  k: number;
  ic: number;
  oc: number;
  stride: number;
}

interface Layout {
  stem: ConvSpec;
  blocks: Array<{ conv1: ConvSpec; conv2: ConvSpec; shortcut: ConvSpec | null }>;
  outChannels: number;
}

function layout(c: CnnConfig): Layout {
  const widths = stageWidths(c);
  const stem: ConvSpec = { name: 'stem', k: 3, ic: c.inChannels, oc: c.baseWidth, stride: c.stemStride };
  const blocks: Layout['blocks'] = [];
  let ch = c.baseWidth;
  c.blocks.forEach((n, s) => {
    for (let b = 0; b < n; b++) {
      const stride = b === 0 && (s > 0 || c.downsampleFirst) ? 2 : 1;
      const oc = widths[s]!;
      const p = `s${s}.b${b}`;
      blocks.push({
        conv1: { name: `${p}.conv1`, k: 3, ic: ch, oc, stride },
        conv2: { name: `${p}.conv2`, k: 3, ic: oc, oc, stride: 1 },
        shortcut: stride !== 1 || ch !== oc ? { name: `${p}.short`, k: 1, ic: ch, oc, stride } : null,
      });
      ch = oc;
    }
  });
  return { stem, blocks, outChannels: ch };
}

/** Every parameter of the model, in a fixed order (the order of checkpoints). */
export function paramSpecs(c: CnnConfig): ParamSpec[] {
  validateConfig(c);
  const L = layout(c);
  const out: ParamSpec[] = [];
  const conv = (s: ConvSpec, stem = false) => {
    const k = s.k * s.k * s.ic;
    const shape = stem ? [stemRows(c), s.oc] : [k, s.oc];
    out.push({ name: `${s.name}.w`, shape, kind: 'conv', fanIn: k });
    if (c.norm === 'group') {
      out.push({ name: `${s.name}.gn.w`, shape: [s.oc], kind: 'norm-weight', fanIn: 0 });
      out.push({ name: `${s.name}.gn.b`, shape: [s.oc], kind: 'norm-bias', fanIn: 0 });
    } else out.push({ name: `${s.name}.b`, shape: [s.oc], kind: 'conv-bias', fanIn: 0 });
  };
  conv(L.stem, true);
  for (const b of L.blocks) {
    conv(b.conv1);
    conv(b.conv2);
    if (b.shortcut) conv(b.shortcut);
  }
  out.push({ name: 'fc.w', shape: [L.outChannels, c.classes], kind: 'fc-weight', fanIn: L.outChannels });
  out.push({ name: 'fc.b', shape: [c.classes], kind: 'fc-bias', fanIn: 0 });
  return out;
}

export function paramCount(c: CnnConfig): number {
  return paramSpecs(c).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
}

export function embeddingDim(c: CnnConfig): number {
  return layout(c).outChannels;
}

/** Model weights by parameter name (host copies, f32). */
export type Weights = Map<string, Float32Array>;

/**
 * Seeded initialisation: convolutions He-normal, std = sqrt(2 / fan_in) (He et al. 2015, for ReLU);
 * the FC layer N(0, 1 / fan_in); norm scales 1 (0 for the last norm of each residual branch when
 * `zeroInitResidual`), shifts and biases 0.
 */
export function initWeights(c: CnnConfig, seed: number): Weights {
  const rng = new Rng(seed);
  const w: Weights = new Map();
  for (const p of paramSpecs(c)) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    let v: Float32Array;
    switch (p.kind) {
      case 'conv':
        v = rng.normalArray(n, Math.sqrt(2 / p.fanIn));
        if (p.name === 'stem.w') {
          // zero the padding rows (see stemRows)
          const rows = p.shape[0]!;
          for (let i = 0; i < n; i++) if (i % rows >= p.fanIn) v[i] = 0;
        }
        break;
      case 'fc-weight':
        v = rng.normalArray(n, Math.sqrt(1 / p.fanIn));
        break;
      case 'norm-weight':
        v = new Float32Array(n).fill(c.zeroInitResidual && /\.conv2\.gn\.w$/.test(p.name) ? 0 : 1);
        break;
      default:
        v = new Float32Array(n);
    }
    w.set(p.name, v);
  }
  return w;
}

export function cloneWeights(w: Weights): Weights {
  return new Map([...w].map(([k, v]) => [k, Float32Array.from(v)]));
}

/** Checks that weights fit a config (names and sizes), e.g. after loading a checkpoint. */
export function checkWeights(c: CnnConfig, w: Weights, where: string): void {
  for (const p of paramSpecs(c)) {
    const v = w.get(p.name);
    const n = p.shape.reduce((a, b) => a * b, 1);
    if (!v) throw new UserError(`${where}: missing parameter ${p.name}`);
    if (v.length !== n) throw new UserError(`${where}: parameter ${p.name} has ${v.length} values, the config needs ${n}`);
  }
}

export interface CnnTensors {
  params: Map<string, Tensor>;
  logits: Tensor;
  /** Penultimate-layer embedding [C_last, N]. */
  embedding: Tensor;
  /** Constant inputs (gather indices) to set after Graph.allocate. */
  constants: GraphConstants;
}

/**
 * GroupNorm of a channel-innermost activation x [C, W*H*N]: each (group, sample) is normalised
 * over its C/G channels and W*H pixels (composite.layerNorm), then scaled and shifted per channel.
 * For G > 1 the group's values are made contiguous by a permute; G = 1 needs only reshapes.
 */
function groupNormCP(x: Tensor, groups: number, wh: number, n: number, weight: Tensor, bias: Tensor): Tensor {
  const c = x.ne[0];
  const cg = c / groups;
  let y: Tensor;
  if (groups === 1) {
    y = op.reshape(nn.layerNorm(op.reshape(x, [c * wh, n]), 1e-5), [c, wh * n]);
  } else {
    const grouped = op.cont(op.permute(op.reshape(x, [cg, groups, wh, n]), [0, 2, 1, 3])); // [C/G, WH, G, N]
    const normed = nn.layerNorm(op.reshape(grouped, [cg * wh, groups * n]), 1e-5);
    y = op.reshape(op.cont(op.permute(op.reshape(normed, [cg, wh, groups, n]), [0, 2, 1, 3])), [c, wh * n]);
  }
  return op.add(op.mul(y, op.reshape(weight, [c, 1])), op.reshape(bias, [c, 1]));
}

/**
 * Build the forward graph of the model on images x [W, H, C, N] (host NCHW): creates one
 * Graph.param per parameter (or a Graph.input when `trainable` is false, for evaluation graphs)
 * and returns the logits [classes, N] and the embedding [C_last, N].
 *
 * The stem is im2col of the image (zero padding at the border; the image needs no gradient, so
 * ggml's slow IM2COL_BACK never runs), zero rows up to `stemRows`, one GEMM. Every other
 * convolution is a gather conv on channel-innermost activations (conv.ts; replicate padding).
 */
export function buildCnn(
  g: Graph,
  c: CnnConfig,
  x: Tensor,
  opts: {
    trainable?: boolean;
    /** The graph will be built with BuildOptions.nativeMatmul (its products on the native kernel). */
    nativeMatmul?: boolean;
  } = {},
): CnnTensors {
  const trainable = opts.trainable ?? true;
  const specs = paramSpecs(c);
  const params = new Map<string, Tensor>();
  for (const p of specs) params.set(p.name, trainable ? g.param(p.name, p.shape) : g.input(p.name, p.shape));
  const P = (name: string) => params.get(name)!;
  const consts = new GraphConstants();
  const L = layout(c);
  const n = x.ne[3];
  if (x.ne[0] !== c.width || x.ne[1] !== c.height || x.ne[2] !== c.inChannels) {
    throw new TypeError(`buildCnn: images ${x} do not match the config (${c.width}x${c.height}x${c.inChannels})`);
  }
  const norm = (y: Tensor, s: ConvSpec, wh: number): Tensor => {
    if (c.norm === 'none') return op.add(y, op.reshape(P(`${s.name}.b`), [s.oc, 1]));
    return groupNormCP(y, Math.min(c.groups, s.oc), wh, n, P(`${s.name}.gn.w`), P(`${s.name}.gn.b`));
  };
  // stem
  const shapeOnly = g.input('stem.kshape', [3, 3, c.inChannels, 1]);
  const cols = op.im2col(shapeOnly, x, { stride: L.stem.stride, pad: 1 }); // [9 IC, OW, OH, N]
  const [k0, w0, h0] = cols.ne;
  const rows = stemRows(c);
  const flat = op.reshape(cols, [k0, w0 * h0 * n]);
  // With the native matmul (graphs built with nativeMatmul on the CPU) any contraction length is
  // fast, so the weight's first k0 rows are used through a view instead of padding the columns
  // (the PAD was 6% of a training step); ggml's kernel gets the padded, aligned product.
  const stemY =
    rows > k0 && opts.nativeMatmul && op.nativeMatMulFor(x)
      ? op.mulMat(op.view(P('stem.w'), [k0, L.stem.oc], 0, [rows * 4]), flat)
      : op.mulMat(P('stem.w'), rows > k0 ? op.pad(flat, rows - k0) : flat); // [OC, P]
  let h = op.relu(norm(stemY, L.stem, w0 * h0));
  let W = w0;
  let H = h0;
  const conv = (s: ConvSpec, input: Tensor, w: number, hh: number) =>
    gatherConv(consts, P(`${s.name}.w`), input, { w, h: hh, n, k: s.k, stride: s.stride });
  for (const b of L.blocks) {
    const c1 = conv(b.conv1, h, W, H);
    const a1 = op.relu(norm(c1.y, b.conv1, c1.ow * c1.oh));
    const c2 = conv(b.conv2, a1, c1.ow, c1.oh);
    const y = norm(c2.y, b.conv2, c2.ow * c2.oh);
    let sc = h;
    if (b.shortcut) {
      const cs = conv(b.shortcut, h, W, H);
      sc = norm(cs.y, b.shortcut, cs.ow * cs.oh);
    }
    h = op.relu(op.add(y, sc));
    W = c1.ow;
    H = c1.oh;
  }
  const ch = h.ne[0];
  // global average pool: [C, WH, N] -> [WH, C, N] -> row sums / WH -> [C, N]
  const pooled = op.sumRows(op.cont(op.permute(op.reshape(h, [ch, W * H, n]), [1, 0, 2, 3])));
  const embedding = op.reshape(op.scale(pooled, 1 / (W * H)), [ch, n]);
  const logits = op.add(op.mulMat(P('fc.w'), embedding), op.reshape(P('fc.b'), [c.classes, 1]));
  return { params, logits, embedding, constants: consts };
}

/**
 * Forward FLOPs per image of the matrix products (convolutions as im2col GEMMs and the FC layer),
 * 2 * K * OC * OW * OH per convolution; the usual training estimate is 3x this (forward + the two
 * backward products).
 */
export function forwardGemmFlops(c: CnnConfig): number {
  const L = layout(c);
  let hw: [number, number] = [c.width, c.height];
  const out = (s: ConvSpec, inHw: [number, number]): [number, number] => {
    const pad = s.k === 3 ? 1 : 0;
    return [Math.floor((inHw[0] + 2 * pad - s.k) / s.stride) + 1, Math.floor((inHw[1] + 2 * pad - s.k) / s.stride) + 1];
  };
  let flops = 0;
  const conv = (s: ConvSpec, inHw: [number, number]) => {
    const o = out(s, inHw);
    flops += 2 * s.k * s.k * s.ic * s.oc * o[0] * o[1];
    return o;
  };
  hw = conv(L.stem, hw);
  for (const b of L.blocks) {
    const o = conv(b.conv1, hw);
    conv(b.conv2, o);
    if (b.shortcut) conv(b.shortcut, hw);
    hw = o;
  }
  flops += 2 * L.outChannels * c.classes;
  return flops;
}
