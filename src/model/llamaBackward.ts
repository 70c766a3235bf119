/**
 * A hand-written backward pass for the training graphs of the llama-like families (llama, qwen2,
 * qwen3: the forward of llama.ts, and the masked cross-entropy loss of model.ts LMSession), built
 * from mul_mat, transposes and ggml's per-op backward kernels instead of ggml_build_backward_expand.
 *
 * Why: ggml's automatic backward differentiates y = W x into OUT_PROD nodes, which run at about
 * half the speed of mul_mat on CPUs (docs/architecture.md#why-ggml: 395 ms vs 258 ms per step on the reference
 * config). Here every weight gradient is a mul_mat of token-major copies,
 *   y = W x  (W ne [n_in, n_out], x [n_in, N]):
 *     dW = x dy^T = mul_mat(x^T [N, n_in], dy^T [N, n_out])          -> [n_in, n_out]
 *     dx = W dy   = mul_mat(W^T [n_out, n_in], dy [n_out, N])         -> [n_in, N]
 * with each transpose made once and shared (q, k, v read the same h; gate and up the same h2).
 *
 * The rest, per block (p = softmax(K^T Q s + mask), s = 1/sqrt(hd), o = V p):
 *   dp  = V^T dO                      out_prod(V^T [Tk, hd], dO^T [Tq, hd]) (mul_mat with hd = 32
 *                                     as the inner dimension runs at a third of its speed)
 *   dS  = soft_max_ext_back(dp, p, s) (includes the scale s)
 *   dQ  = K dS                        mul_mat(K^T [Tk, hd], dS)
 *   dK^T = dS Q^T, dV^T = p dO^T      out_prod over the query axis: no T x T transposes, which
 *                                     cost more than out_prod's slower kernel here
 *   rope: rope_ext_back; GQA: the query heads' dK, dV summed per KV head (repeat_back)
 *   RMSNorm y = rms_norm(x) * w:  dw = sum_tokens(dy * rms_norm(x)),  dx = rms_norm_back(dy * w, x)
 *   SwiGLU a = silu(g) * u:       du = silu(g) * da,  dg = da * u * silu'(g) (vectorised, see swigluBack)
 *   loss = ce(logits * m, labels) * scale + offset:
 *     dlogits = cross_entropy_loss_back(scale, logits * m, labels) * m
 *   embedding: get_rows_back; a tied output adds its mul_mat gradient to the embedding's.
 * The llama-like families' extras (llama.ts DecoderVariant, config):
 *   bias y = W x + b (qwen2):            db = sum over tokens of dy (repeat_back), the gradient at W x is dy
 *   per-head RMSNorm y = rms_norm(x) w (qwen3 q, k; x [hd, heads, T, B]):
 *                                        dw = sum over heads and tokens of dy * rms_norm(x), dx = rms_norm_back(dy * w, x)
 *   rope freq factors (rope_freqs.weight) and freq_scale (linear scaling), NEOX mode: rope_ext_back
 *                                        with the forward's own options (the adjoint of the same rotation)
 *   head size != n_embd / n_head:        only the shapes change (W_q, W_o are [d, hd * H] / [hd * H, d])
 * Why one hand-written backward for llama, qwen2 and qwen3 rather than ggml's automatic one for the
 * Qwen families: the extras above are a few nodes per block, while the automatic backward runs
 * every weight gradient as OUT_PROD (about half mul_mat's speed) and cannot use the native kernel,
 * ~3.5x slower steps (reference config: 395 ms per step automatic vs ~110 ms manual on the native
 * kernel, `bench train --reference`), and it lacks Vulkan kernels.
 * These are the formulas ggml's automatic backward uses for the same ops (SwiGLU's rearranged onto
 * vectorised kernels), so the two agree to float rounding (test/model/llamaBackward.test.ts).
 * Transposes and axis permutations are copies through ggml's CONCAT kernel on CPU (permutedCopy).
 *
 * On CPU graphs with unlearnkit's native kernel built (`fastMatmul`, see src/engine/native.ts), every
 * product above (the out_prods included, as products of transposed views) runs on op.fastMatMul,
 * which reads transposed and permuted operands through their strides: the transposed copies, the
 * dV^T copy and the K/V head tiling disappear, and the products run ~3x faster than ggml's mul_mat
 * (reference config: 286 -> ~110 ms per step, `bench train --reference`).
 * The graph has no op without a Vulkan kernel (OUT_PROD only with contiguous sources), so unlike the
 * automatic backward it also trains on ggml's Vulkan devices.
 *
 * Frozen weights in their stored type (F16, BF16, Q8_0, K-quants: model.ts frozenWeightType):
 *   dx = W^T dy with op.weightTMatMul (the native kernel decodes W's rows in blocks; ggml's mul_mat
 *   cannot read a block-quantised matrix transposed).
 * LoRA (y = W x + s z, z = B u, u = A x; model.ts loraHook), per adapted weight:
 *   dz = s dy,  dB = u dz^T  (mul_mat(u^T, dz^T) [r, n_out]),  du = B^T dz,
 *   dA = x du^T ([n_in, r]),  dx = W^T dy + A^T du
 * so a LoRA step differentiates through the frozen base once per matrix (dx) and costs only rank-r
 * products for the adapter's own gradients.
 *
 * Only what a trainable tensor needs is built: gradients of frozen weights are skipped, and the
 * backward stops below the lowest trainable tensor (or adapter). The gradients of the tapped weight
 * outputs (for per-example gradients, src/train/perExample.ts; the adapter's u and z included) are
 * returned in `nodes`.
 */
import type { Tensor } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import { shapeStr } from '../engine/types.ts';
import { headDim, type ModelConfig } from './arch/types.ts';
import { attnScale, type SequenceInputs } from './layers.ts';
import { hasAttnBias, type LlamaTrace } from './llama.ts';
import type { LoraUse } from './model.ts';

/** The loss of an LMSession training graph: loss = ce(maskedLogits, labels) * lossScale + offset. */
export interface LlamaLossInputs {
  /** logits * rowMask [V, N], the input of cross_entropy_loss. */
  maskedLogits: Tensor;
  /** [V, N] label distributions. */
  labels: Tensor;
  /** [1, N] 1 for predicted rows, 0 for padding. */
  rowMask: Tensor;
  /** [1] the factor d loss / d ce. */
  lossScale: Tensor;
}

export interface LlamaBackwardInputs {
  config: ModelConfig;
  trace: LlamaTrace;
  logits: Tensor;
  /** Every weight of the graph by name (trainable parameters and frozen inputs). */
  weights: Map<string, Tensor>;
  /** Names of the trainable tensors (those that need a gradient). */
  trainable: Set<string>;
  inp: SequenceInputs;
  loss: LlamaLossInputs;
  /** Build the products with op.fastMatMul (the forward was built with BuildMode.fastMatmul). */
  fastMatmul?: boolean;
  /** LoRA adapters of the graph by base weight name (model.ts loraHook); their A, B are in `weights`. */
  lora?: Map<string, LoraUse>;
}

export interface ManualGradients {
  /** Gradient of every trainable tensor. */
  params: Map<Tensor, Tensor>;
  /** Gradients of intermediate nodes: every tapped weight output whose gradient was built. */
  nodes: Map<Tensor, Tensor>;
  /**
   * Every part of a parameter's gradient (a tied embedding gets one from its lookup and one from the
   * output product) in the order the backward produces them, for graphs that accumulate gradients:
   * each part can be added to its accumulator as soon as it exists and then freed.
   */
  parts: Array<[Tensor, Tensor]>;
}

// ---------------------------------------------------------------------------------------------
// Backward ops ggml provides as kernels (shape-checked here: a failed GGML_ASSERT kills the process)

function sameShape(a: Tensor, b: Tensor, what: string): void {
  if (a.graph !== b.graph) throw new TypeError(`${what}: tensors belong to different Graphs`);
  if (a.ne.some((n, i) => n !== b.ne[i])) throw new TypeError(`${what}: shapes ${shapeStr(a.ne)} and ${shapeStr(b.ne)} differ`);
}

/** d/dx of rms_norm(x) given dy (ggml_rms_norm_back). */
function rmsNormBack(dy: Tensor, x: Tensor, eps: number): Tensor {
  sameShape(dy, x, 'rmsNormBack');
  return dy.graph.wrap(dy.graph.g.ggml_rms_norm_back!(dy.graph.context, dy.ptr, x.ptr, eps), 'rmsNormBack');
}

type InplaceName = 'ggml_add_inplace' | 'ggml_sub_inplace' | 'ggml_mul_inplace';

/** a op b (b broadcast over a) written into a's memory: only for an `a` nothing else reads later. */
function inplace(name: InplaceName, a: Tensor, b: Tensor): Tensor {
  if (a.graph !== b.graph || a.ne.some((n, i) => n % b.ne[i]! !== 0)) {
    throw new TypeError(`${name}: ${shapeStr(b.ne)} does not broadcast into ${shapeStr(a.ne)}`);
  }
  return a.graph.wrap(a.graph.g[name]!(a.graph.context, a.ptr, b.ptr), name);
}

/** a * s + b for numbers s, b (ggml_scale_bias). */
function scaleBias(a: Tensor, s: number, b: number): Tensor {
  return a.graph.wrap(a.graph.g.ggml_scale_bias!(a.graph.context, a.ptr, s, b), 'scaleBias');
}

/**
 * Backward of a = silu(g) * u given da, from vectorised kernels (ggml's silu_back evaluates expf
 * per element in scalar code, about 15x slower than its SIMD silu):
 *   du = silu(g) da                                    (the swiglu kernel, one pass)
 *   dg = da u silu'(g),  silu'(g) = s + silu(g) (1 - s),  s = sigmoid(g) = silu(g) / g
 * written as dg = s (y - p) + p with y = da u, p = y silu(g). g is shifted by 1e-30 so that g = 0
 * gives s = 1/2 rather than 0/0; the shift changes no float32 g with |g| > 2e-23 at all, and
 * smaller ones by a negligible amount (s and silu are smooth there).
 */
function swigluBack(da: Tensor, g: Tensor, u: Tensor): { dg: Tensor; du: Tensor } {
  sameShape(da, g, 'swigluBack');
  sameShape(da, u, 'swigluBack');
  const du = op.swigluSplit(g, da);
  const y = op.mul(da, u);
  const gs = scaleBias(g, 1, 1e-30);
  const si = op.silu(gs);
  const s = op.div(si, gs);
  const p = op.mul(y, si);
  // y, s and their products are read by nothing else: update them in place
  const dg = inplace('ggml_add_inplace', inplace('ggml_mul_inplace', s, inplace('ggml_sub_inplace', y, p)), p);
  return { dg, du };
}

/** d/dscores of softmax(scores * scale + mask) given dy and the softmax output y, written over dy. */
function softMaxExtBackInplace(dy: Tensor, y: Tensor, scale: number): Tensor {
  sameShape(dy, y, 'softMaxExtBack');
  return dy.graph.wrap(dy.graph.g.ggml_soft_max_ext_back_inplace!(dy.graph.context, dy.ptr, y.ptr, scale, 0), 'softMaxExtBack');
}

/** The adjoint of ropeExt (rotation by minus the angle, same freq factors and scale); a may be a permuted view with ne0 contiguous. */
function ropeExtBack(a: Tensor, pos: Tensor, o: op.RopeOptions): Tensor {
  if (pos.ne[0] !== a.ne[2]) throw new TypeError(`ropeExtBack: ${pos.ne[0]} positions for ne[2] = ${a.ne[2]} in ${shapeStr(a.ne)}`);
  op.checkFreqFactors(a, o, 'ropeExtBack');
  return a.graph.wrap(
    a.graph.g.ggml_rope_ext_back!(a.graph.context, a.ptr, pos.ptr, o.freqFactors?.ptr ?? null, o.nDims, o.mode, o.nCtxOrig ?? 0, o.freqBase ?? 10000, o.freqScale ?? 1, 0, 1, 32, 1),
    'ropeExtBack',
  );
}

/** d/dlogits of dLoss * cross_entropy_loss(logits, labels): dLoss * (softmax(logits) - labels) / rows. */
function crossEntropyLossBack(dLoss: Tensor, logits: Tensor, labels: Tensor): Tensor {
  if (dLoss.numel !== 1) throw new TypeError(`crossEntropyLossBack: the loss gradient must be a scalar, got ${shapeStr(dLoss.ne)}`);
  sameShape(logits, labels, 'crossEntropyLossBack');
  return logits.graph.wrap(logits.graph.g.ggml_cross_entropy_loss_back!(logits.graph.context, dLoss.ptr, logits.ptr, labels.ptr), 'crossEntropyLossBack');
}

/** Scatter-add of dy [d, n] into the rows ids [n] of a [d, rows] table shaped like `like`. */
function getRowsBack(dy: Tensor, ids: Tensor, like: Tensor): Tensor {
  if (ids.dtype !== 'i32' || ids.numel !== dy.ne[1] || dy.ne[0] !== like.ne[0] || dy.ne[2] !== 1 || like.ne[2] !== 1) {
    throw new TypeError(`getRowsBack: dy ${shapeStr(dy.ne)}, ids ${shapeStr(ids.ne)} and table ${shapeStr(like.ne)} do not fit`);
  }
  return dy.graph.wrap(dy.graph.g.ggml_get_rows_back!(dy.graph.context, dy.ptr, ids.ptr, like.ptr), 'getRowsBack');
}

// ---------------------------------------------------------------------------------------------
// Element-wise copies (transposes and axis permutations)

/**
 * A contiguous copy of a permuted view `v` of the contiguous tensor `base`, for CPU graphs through
 * ggml's CONCAT kernel instead of CONT: CONT copies a non-contiguous source with a memcpy call per
 * element, CONCAT with a plain load and store, which measured 1.4-1.7x faster for the transposes
 * here. CONCAT appends a slab along the outermost dimension (a view of `base`, so no extra tensor)
 * that the returned prefix view leaves out; it costs 1/ne of the copy and spreads the slabs over the
 * threads. Other devices (and shapes without a large enough outer dimension) use CONT.
 */
function permutedCopy(v: Tensor, base: Tensor, cpu: boolean): Tensor {
  const [a, b, c, d] = v.ne;
  const contiguousBase = base.graph.g.ggml_is_contiguous!(base.ptr) && base.numel === v.numel;
  if (cpu && contiguousBase && d >= 4) {
    const slab = op.reshape(op.view(base, [a * b * c], 0), [a, b, c, 1]);
    return op.view(op.concat(v, slab, 3), [a, b, c, d], 0);
  }
  if (cpu && contiguousBase && d === 1 && c >= 4) {
    const slab = op.reshape(op.view(base, [a * b], 0), [a, b, 1]);
    return op.view(op.concat(v, slab, 2), [a, b, c], 0);
  }
  return op.cont(v);
}

/** Divisor of m used to split a transposed matrix into slabs: an odd one near 16 (even slab count for 2 threads), else near 16. */
function slabSplit(m: number): number {
  const divs: number[] = [];
  for (let k = 4; k <= Math.min(m, 64); k++) if (m % k === 0) divs.push(k);
  if (divs.length === 0) return 1;
  const score = (k: number) => Math.abs(Math.log2(k / 16)) + (k % 2 === 1 ? 0 : 0.5);
  return divs.reduce((best, k) => (score(k) < score(best) ? k : best));
}

/** x^T for a contiguous 2-D x [M, N] -> [N, M] (see permutedCopy). */
function transposeCopy(x: Tensor, cpu: boolean): Tensor {
  const [M, N] = x.ne;
  const m2 = slabSplit(M);
  if (!cpu || m2 < 4 || x.ne[2] !== 1 || x.ne[3] !== 1 || !x.graph.g.ggml_is_contiguous!(x.ptr)) return op.cont(op.transpose(x));
  const m1 = M / m2;
  // x as [m1, m2, N], viewed as [N, m1, m2]: element (n, i1, i2) = x[i1 + m1 * i2, n]
  const v = op.permute(op.reshape(x, [m1, m2, N]), [1, 2, 0, 3]);
  return op.reshape(permutedCopy(v, x, true), [N, M]);
}

// ---------------------------------------------------------------------------------------------

/**
 * Build the gradients of the LMSession loss with respect to every trainable weight of a LLaMA
 * training graph (see the module comment for the formulas).
 */
export function buildLlamaBackward(o: LlamaBackwardInputs): ManualGradients {
  const { config: c, trace, inp, loss } = o;
  const { T, B } = inp;
  const H = c.nHead;
  const Hkv = c.nHeadKv;
  const hd = headDim(c);
  const dkv = hd * Hkv;
  const N = T * B;
  const scale = attnScale(hd);
  // the forward's own rope (mode, freq_scale, rope_freqs factors), and its variant's extras
  const ropeOpts = trace.rope;
  const bias = hasAttnBias(c, trace.variant);
  const qkNorm = trace.variant.qkNorm;
  const isTrainable = (name: string) => o.trainable.has(name);
  /** A weight whose product needs a gradient: trainable itself, or with a trainable adapter. */
  const needsGrad = (name: string) => isTrainable(name) || (o.lora?.has(name) === true && (isTrainable(`${name}.lora_a`) || isTrainable(`${name}.lora_b`)));
  const W = (name: string): Tensor => {
    const t = o.weights.get(name);
    if (!t) throw new Error(`llama backward: no tensor ${name} in the graph`);
    return t;
  };

  const params = new Map<Tensor, Tensor>();
  const nodes = new Map<Tensor, Tensor>();
  const parts: Array<[Tensor, Tensor]> = [];
  const addParamGrad = (name: string, g: Tensor) => {
    const p = W(name);
    const prev = params.get(p);
    params.set(p, prev ? op.add(prev, g) : g);
    parts.push([p, g]);
  };

  // token-major copies [n, N] -> [N, n] (and transposed weights), made once per tensor
  const cpu = o.logits.graph.device.type === 'cpu';
  /** Matrix products on unlearnkit's native kernel (o.fastMatmul and a CPU graph with the kernels built). */
  const fast = o.fastMatmul === true && op.nativeMatMulFor(o.logits);
  const transposed = new Map<bigint, Tensor>();
  const tr = (t: Tensor): Tensor => {
    let r = transposed.get(t.ptr);
    if (!r) {
      r = transposeCopy(t, cpu);
      transposed.set(t.ptr, r);
    }
    return r;
  };

  /**
   * Backward of y = W x: the weight gradient when W is trainable, and dx when `needDx`.
   * `dyT` may give dy^T when it is cheaper to make than a transpose of dy.
   */
  const linearBack = (name: string, x: Tensor, dy: Tensor, needDx: boolean, dyT?: Tensor): Tensor | null => {
    const loraDx = loraBack(name, x, dy, needDx);
    let dx: Tensor | null = null;
    const w = W(name);
    if (fast) {
      // the native kernel reads the transposes through their strides: no copies
      if (isTrainable(name)) addParamGrad(name, op.fastMatMul(op.transpose(x), op.transpose(dy)));
      if (needDx) dx = w.dtype === 'f32' ? op.fastMatMul(op.transpose(w), dy) : op.weightTMatMul(w, dy);
    } else {
      if (isTrainable(name)) addParamGrad(name, op.mulMat(tr(x), dyT ?? tr(dy)));
      if (needDx) dx = w.dtype === 'f32' ? op.mulMat(tr(w), dy) : op.weightTMatMul(w, dy);
    }
    return dx && loraDx ? inplace('ggml_add_inplace', dx, loraDx) : dx;
  };
  /** a^T b for a [K, M], b [K, N] given as contiguous tensors (transposes read by the native kernel or copied). */
  const tt = (a: Tensor, b: Tensor): Tensor => (fast ? op.fastMatMul(op.transpose(a), op.transpose(b)) : op.mulMat(tr(a), tr(b)));
  /** a^T b for a contiguous a [M, K] and b [M, N]. */
  const tn = (a: Tensor, b: Tensor): Tensor => (fast ? op.fastMatMul(op.transpose(a), b) : op.mulMat(tr(a), b));
  /** The adapter's part of the backward of y = W x + s B (A x) (see the module comment); returns A^T du when `needDx`. */
  const loraBack = (name: string, x: Tensor, dy: Tensor, needDx: boolean): Tensor | null => {
    const use = o.lora?.get(name);
    if (!use) return null;
    const aName = `${name}.lora_a`;
    const bName = `${name}.lora_b`;
    const dz = op.scale(dy, use.scale); // [n_out, N]
    nodes.set(use.z, dz);
    if (isTrainable(bName)) addParamGrad(bName, tt(use.u, dz)); // [r, n_out]
    if (!isTrainable(aName) && !needDx) return null;
    const du = tn(W(bName), dz); // B^T dz [r, N]
    nodes.set(use.u, du);
    if (isTrainable(aName)) addParamGrad(aName, tt(x, du)); // [n_in, r]
    return needDx ? tn(W(aName), du) : null; // A^T du [n_in, N]
  };
  /** out_prod(a, b) = a b^T per batch (a [M, K], b [N, K] -> [M, N]); on the native kernel a product of transposed views. */
  const outer = (a: Tensor, b: Tensor): Tensor => (fast ? op.fastMatMul(op.transpose(a), op.transpose(b)) : op.outProd(a, b));

  /** Backward of y = rms_norm(x) * w: the weight gradient when trainable, and dx when `needDx`. */
  const normBack = (name: string, r: Tensor, x: Tensor, dy: Tensor, needDx: boolean): Tensor | null => {
    if (isTrainable(name)) addParamGrad(name, op.repeatBack(op.mul(r, dy), W(name)));
    return needDx ? rmsNormBack(op.mul(dy, W(name)), x, c.normEps) : null;
  };

  /** Sum per-query-head gradients [X, Y, H, B] over each KV head's group -> [X, Y, Hkv, B]. */
  const groupSum = (t: Tensor, like: Tensor): Tensor => {
    if (H === Hkv) return t;
    const [X, Y] = t.ne;
    const target = op.reshape(like, [X * Y, 1, Hkv, B]);
    return op.reshape(op.repeatBack(op.reshape(t, [X * Y, H / Hkv, Hkv, B]), target), [X, Y, Hkv, B]);
  };

  // which parts need gradients flowing into them: a trainable tensor at or before each point
  const attnExtras = [...(bias ? ['attn_q.bias', 'attn_k.bias', 'attn_v.bias'] : []), ...(qkNorm ? ['attn_q_norm.weight', 'attn_k_norm.weight'] : [])];
  const blockNames = (l: number, part: 'attn' | 'ffn') =>
    (part === 'attn'
      ? [...['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output'].map((s) => `${s}.weight`), ...attnExtras]
      : ['ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'].map((s) => `${s}.weight`)
    ).map((s) => `blk.${l}.${s}`);
  const trainableBefore: boolean[] = []; // index 2l: before block l's attention; 2l+1: before its FFN
  let seen = isTrainable('token_embd.weight');
  for (let l = 0; l < c.nLayer; l++) {
    trainableBefore.push(seen);
    seen ||= blockNames(l, 'attn').some(needsGrad);
    trainableBefore.push(seen);
    seen ||= blockNames(l, 'ffn').some(needsGrad);
  }
  const anyBeforeHead = seen;

  // loss and output head
  const dMasked = crossEntropyLossBack(loss.lossScale, loss.maskedLogits, loss.labels);
  const dLogits = inplace('ggml_mul_inplace', dMasked, loss.rowMask);
  nodes.set(o.logits, dLogits);
  const outName = c.tiedOutput ? 'token_embd.weight' : 'output.weight';
  const needHF = anyBeforeHead || isTrainable('output_norm.weight');
  const dHF = linearBack(outName, trace.hF, dLogits, needHF);
  let dx: Tensor | null = null;
  if (dHF) {
    nodes.set(trace.hF, dHF);
    dx = normBack('output_norm.weight', trace.rF, trace.xFinal, dHF, anyBeforeHead);
  }

  for (let l = c.nLayer - 1; l >= 0 && dx; l--) {
    const s = trace.layers[l]!;
    const n = (x: string) => `blk.${l}.${x}.weight`;

    // FFN: x_out = x_mid + W_down (silu(W_gate h2) * W_up h2), h2 = rms_norm(x_mid) * ffn_norm
    const ffnIn = trainableBefore[2 * l + 1]!;
    nodes.set(s.fo, dx);
    const needH2 = ffnIn || isTrainable(n('ffn_norm'));
    const needA = needH2 || needsGrad(n('ffn_gate')) || needsGrad(n('ffn_up'));
    const da = linearBack(n('ffn_down'), s.a, dx, needA);
    if (da) {
      const { dg: dGate, du: dUp } = swigluBack(da, s.gp, s.up);
      nodes.set(s.gp, dGate);
      nodes.set(s.up, dUp);
      const dh2Gate = linearBack(n('ffn_gate'), s.h2, dGate, needH2);
      const dh2Up = linearBack(n('ffn_up'), s.h2, dUp, needH2);
      if (dh2Gate && dh2Up) {
        const dh2 = inplace('ggml_add_inplace', dh2Up, dh2Gate);
        nodes.set(s.h2, dh2);
        const dxNorm = normBack(n('ffn_norm'), s.r2, s.xmid, dh2, ffnIn);
        if (dxNorm) dx = inplace('ggml_add_inplace', dxNorm, dx);
      }
    }
    if (!ffnIn) break;

    // attention: x_mid = x_in + W_o attn(rope(nq(W_q h + b_q)), rope(nk(W_k h + b_k)), W_v h + b_v),
    // h = rms_norm(x_in) * attn_norm; biases and the per-head norms nq, nk as the variant has them
    const attnIn = trainableBefore[2 * l]!;
    nodes.set(s.ao, dx);
    const b = (x: string) => `blk.${l}.${x}.bias`;
    const needH = attnIn || isTrainable(n('attn_norm'));
    const needQ = needH || needsGrad(n('attn_q')) || (bias && isTrainable(b('attn_q'))) || (qkNorm && isTrainable(n('attn_q_norm')));
    const needK = needH || needsGrad(n('attn_k')) || (bias && isTrainable(b('attn_k'))) || (qkNorm && isTrainable(n('attn_k_norm')));
    const needV = needH || needsGrad(n('attn_v')) || (bias && isTrainable(b('attn_v')));
    /** Bias gradient (the sum over tokens of dy) when the bias is trainable. */
    const biasBack = (name: string, dy: Tensor) => {
      if (bias && isTrainable(name)) addParamGrad(name, op.repeatBack(dy, W(name)));
    };
    /**
     * From the gradient at what rope read ([hd, heads, T, B]) to the gradient at the projection
     * (with its bias) [hd * heads, N]: through the per-head RMSNorm when the variant has one.
     */
    const headsBack = (dn: Tensor, norm: string, r: Tensor | null, xh: Tensor, xp: Tensor, xn: Tensor): Tensor => {
      let dxh = dn;
      if (qkNorm) {
        nodes.set(xn, dn);
        dxh = normBack(norm, r!, xh, dn, true)!;
      }
      return op.reshape(dxh, [xp.ne[0], N]);
    };
    const do2 = linearBack(n('attn_output'), s.o2, dx, needQ || needK || needV);
    if (do2) {
      const dOview = op.permute(op.reshape(do2, [hd, H, T, B]), [0, 2, 1, 3]); // [hd, Tq, H, B]
      const dO = fast ? dOview : op.cont(dOview);
      const dh: Tensor[] = [];
      if (needV) {
        // dV^T [Tk, hd] = p dO^T, summed over the query heads of each KV head
        const dVt = groupSum(outer(s.p, dO), s.v); // [Tk, hd, Hkv, B]
        const dv = op.reshape(permutedCopy(op.permute(dVt, [2, 0, 1, 3]), dVt, cpu), [dkv, N]); // [hd, Hkv, T, B]
        const dvT = !fast && isTrainable(n('attn_v')) ? op.reshape(op.cont(op.permute(dVt, [0, 2, 3, 1])), [N, dkv]) : undefined; // [T, B, hd, Hkv]
        nodes.set(s.vp, dv);
        nodes.set(s.vl, dv);
        biasBack(b('attn_v'), dv);
        const x = linearBack(n('attn_v'), s.h, dv, needH, dvT);
        if (x) dh.push(x);
      }
      if (needQ || needK) {
        // dp = V^T dO as an out_prod over hd of V^T [Tk, hd] and dO^T [Tq, hd] (query head h reads
        // KV head h / (H / Hkv)): with hd as the inner dimension mul_mat runs at a third of its speed
        const dp = fast
          ? op.fastMatMul(op.transpose(s.Vt), dO) // V^T [hd, Tk, Hkv, B] x dO [hd, Tq, H, B], KV heads broadcast
          : op.outProd(s.Vt, permutedCopy(op.permute(op.reshape(do2, [hd, H, T, B]), [1, 2, 0, 3]), do2, cpu)); // dO^T [Tq, hd, H, B]
        const dS = softMaxExtBackInplace(dp, s.p, scale); // [Tk, Tq, H, B]
        if (needK) {
          // dK^T [Tk, hd] = dS Q^T, summed per KV head, then back to [hd, Hkv, T, B] for rope
          const dKt = groupSum(outer(dS, s.Q), s.k); // [Tk, hd, Hkv, B]
          const dkn = ropeExtBack(permutedCopy(op.permute(dKt, [2, 0, 1, 3]), dKt, cpu), inp.pos, ropeOpts);
          const dk = headsBack(dkn, n('attn_k_norm'), s.kr, s.kh, s.kp, s.kn);
          nodes.set(s.kp, dk);
          nodes.set(s.kl, dk);
          biasBack(b('attn_k'), dk);
          const x = linearBack(n('attn_k'), s.h, dk, needH);
          if (x) dh.push(x);
        }
        if (needQ) {
          const KtView = op.permute(s.k, [1, 2, 0, 3]); // [Tk, hd, Hkv, B]
          const dQ = fast ? op.fastMatMul(KtView, dS) : op.mulMat(permutedCopy(KtView, s.k, cpu), dS); // [hd, Tq, H, B]
          const dqn = ropeExtBack(op.permute(dQ, [0, 2, 1, 3]), inp.pos, ropeOpts); // [hd, H, T, B]
          const dqp = headsBack(dqn, n('attn_q_norm'), s.qr, s.qh, s.qp, s.qn);
          nodes.set(s.qp, dqp);
          nodes.set(s.ql, dqp);
          biasBack(b('attn_q'), dqp);
          const x = linearBack(n('attn_q'), s.h, dqp, needH);
          if (x) dh.push(x);
        }
      }
      if (needH) {
        const dH = dh.reduce((acc, t) => inplace('ggml_add_inplace', acc, t));
        nodes.set(s.h, dH);
        const dxNorm = normBack(n('attn_norm'), s.r1, s.xin, dH, attnIn);
        dx = dxNorm ? inplace('ggml_add_inplace', dxNorm, dx) : null;
      } else dx = null;
    } else dx = null;
    if (!attnIn) dx = null;
  }

  if (dx && isTrainable('token_embd.weight')) {
    nodes.set(trace.x0, dx);
    addParamGrad('token_embd.weight', getRowsBack(dx, inp.tokens, W('token_embd.weight')));
  }
  for (const name of o.trainable) {
    if (!params.has(W(name))) throw new Error(`llama backward: no gradient was built for ${name}`);
  }
  return { params, nodes, parts };
}
