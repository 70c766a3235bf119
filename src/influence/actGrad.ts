/**
 * Activation x gradient influence (docs/methods.md#influence-scores): for a linear layer y = W a, an example's
 * weight gradient is G = sum_t delta_t a_t^T (delta_t = dL/dy_t, a_t the input activation at
 * token t), so the gradient dot product of two examples is
 *
 *   <G, G'> = sum_t sum_s (a_t . a'_s) (delta_t . delta'_s)
 *
 * computed from the per-token activations and output gradients without forming either matrix
 * (cost T T' (n_in + n_out) instead of n_in n_out per pair; the factors are what is stored). The
 * other uses of weights are handled in their natural form: an embedding lookup's gradient is the
 * sparse sum of delta_t over the rows of the example's tokens (dot products over shared tokens);
 * norm weights (y = a * w) and biases are vectors (sum_t a_t * delta_t, sum_t delta_t). A tensor
 * used twice (a tied embedding is both looked up and the output projection) has its per-example
 * gradient summed densely from the factors, the one case where a matrix is formed.
 *
 * delta is the gradient of each example's own mean token loss (the batch loss's gradient times
 * n / n_b, as in src/train/perExample.ts). The scores equal the dense per-example gradient dot
 * products (test/influence/scores.test.ts checks it); they are the building block of TracIn.
 *
 * The factors come from a training graph built here with the model's architecture builder and
 * ggml's automatic backward, whose extra outputs are the tapped activations and their gradients.
 */
import { Graph, type Tensor } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import { ARCH_BUILDERS, type CausalLM } from '../model/model.ts';
import { sequenceInputs, setSequenceConstants, type WeightTap } from '../model/layers.ts';
import type { Example } from '../model/example.ts';
import { UserError } from '../util/errors.ts';


/** One use of a weight by one example: per-token factors (row-major [tokens x size]). */
export interface TapFactors {
  kind: WeightTap['kind'];
  /** matmul / scale: input activations [n x nIn]. */
  a?: Float32Array;
  nIn: number;
  /** Output gradients [n x nOut]. */
  d: Float32Array;
  nOut: number;
  /** rows: the looked-up row of each token. */
  rows?: Int32Array;
  /** Tokens (positions) of the example. */
  n: number;
}

export interface ExampleFactors {
  id: string;
  /** Per tensor, its uses. */
  uses: Map<string, TapFactors[]>;
}

interface TapNodes {
  tap: WeightTap;
  a: Tensor | null;
  d: Tensor;
  isPos: boolean;
}

/** Builds the tap graph once for [T, B] and extracts factors of batches of examples. */
export class TapSession {
  private graph: Graph;
  private tokens: Tensor;
  private labels: Tensor;
  private rowMask: Tensor;
  private lossScale: Tensor;
  private lossOffset: Tensor;
  private nodes: TapNodes[] = [];

  constructor(
    readonly model: CausalLM,
    readonly tensors: string[],
    readonly T: number,
    readonly B: number,
  ) {
    const c = model.config;
    const wanted = new Set(tensors);
    for (const n of tensors) if (!model.weights.has(n)) throw new UserError(`unknown tensor '${n}'`);
    const g = new Graph({ maxNodes: Math.max(4096, 6 * (c.nLayer * 160 + 200)) });
    this.graph = g;
    const params = new Map<string, Tensor>();
    const w = (name: string): Tensor => {
      let t = params.get(name);
      if (t) return t;
      const h = model.weights.get(name)!;
      t = wanted.has(name) ? g.param(name, h.ne) : g.input(name, h.ne, 'f32');
      params.set(name, t);
      return t;
    };
    const inp = sequenceInputs(g, T, B);
    this.tokens = inp.tokens;
    const taps: WeightTap[] = [];
    const out = ARCH_BUILDERS[c.arch](c, w, inp, { differentiable: true, tap: (t) => wanted.has(t.name) && taps.push(t) });
    for (const t of taps) {
      // factors are per-token rows: a weight used once per head (qwen3's attn_q_norm / attn_k_norm) has several rows per token
      if (t.output.numel !== t.output.ne[0] * T * B) throw new UserError(`influence factors of ${t.name} (applied per attention head) are not implemented`);
    }
    this.labels = g.input('labels', [c.nVocab, T * B]);
    this.rowMask = g.input('row_mask', [1, T * B]);
    this.lossScale = g.input('loss_scale', [1]);
    this.lossOffset = g.input('loss_offset', [1]);
    const ce = op.crossEntropyLoss(op.mul(out.logits, this.rowMask), this.labels);
    const loss = op.add(op.mul(ce, this.lossScale), this.lossOffset);
    g.build({
      outputs: [out.logits],
      loss,
      backward: true,
      nativeMatmul: true, // ggml's automatic backward, its products on the native kernel (graph.ts)
      extras: (gradOf) => {
        const extra: Tensor[] = [];
        for (const tap of taps) {
          const d = op.cont(gradOf(tap.output));
          const a = tap.kind === 'matmul' || tap.kind === 'scale' ? op.cont(tap.input) : null;
          this.nodes.push({ tap, a, d, isPos: tap.input === inp.pos });
          extra.push(d);
          if (a) extra.push(a);
        }
        return extra;
      },
    });
    g.allocate();
    for (const [name, t] of params) g.set(t, model.weights.get(name)!.data);
    setSequenceConstants(g, inp);
  }

  /** Factors of up to B examples (tokens clipped to T). */
  factors(batch: Example[]): ExampleFactors[] {
    const { T, B } = this;
    const V = this.model.config.nVocab;
    const seqs = batch.map((e) => e.tokens.slice(0, T));
    const tok = new Int32Array(T * B);
    const lab = new Float32Array(V * T * B).fill(1 / V);
    const mask = new Float32Array(T * B);
    let n = 0;
    seqs.forEach((s, b) => {
      s.forEach((id, i) => (tok[b * T + i] = id));
      for (let i = 0; i + 1 < s.length; i++) {
        const row = (b * T + i) * V;
        lab.fill(0, row, row + V);
        lab[row + s[i + 1]!] = 1;
        mask[b * T + i] = 1;
      }
      n += Math.max(0, s.length - 1);
    });
    const g = this.graph;
    g.set(this.tokens, tok);
    g.set(this.labels, lab);
    g.set(this.rowMask, mask);
    const N = T * B;
    g.set(this.lossScale, new Float32Array([n > 0 ? N / n : 0]));
    g.set(this.lossOffset, new Float32Array([n > 0 ? (-(N - n) * Math.log(V)) / n : 0]));
    g.compute('backwardExtras');
    const out: ExampleFactors[] = batch.map((e) => ({ id: e.id, uses: new Map() }));
    for (const node of this.nodes) {
      const d = g.get(node.d);
      const a = node.a ? g.get(node.a) : null;
      const nOut = d.length / (T * B);
      const nIn = a ? a.length / (T * B) : 0;
      seqs.forEach((s, b) => {
        const nb = s.length;
        const f = s.length > 1 ? n / (s.length - 1) : 0;
        const dd = new Float32Array(nb * nOut);
        for (let i = 0; i < nb * nOut; i++) dd[i] = d[b * T * nOut + i]! * f;
        const fac: TapFactors = { kind: node.tap.kind, d: dd, nOut, nIn, n: nb };
        if (a) fac.a = a.slice(b * T * nIn, (b * T + nb) * nIn);
        if (node.tap.kind === 'rows') fac.rows = node.isPos ? Int32Array.from({ length: nb }, (_, i) => i) : Int32Array.from(s);
        const list = out[b]!.uses.get(node.tap.name) ?? [];
        list.push(fac);
        out[b]!.uses.set(node.tap.name, list);
      });
    }
    return out;
  }

  dispose(): void {
    this.graph.dispose();
  }
}

/** Factors of every example, in batches of B. */
export function exampleFactors(model: CausalLM, tensors: string[], examples: Example[], B = 8): ExampleFactors[] {
  if (examples.length === 0) return [];
  const T = Math.min(model.config.nCtx, Math.max(...examples.map((e) => e.tokens.length)));
  const b = Math.min(B, examples.length);
  const s = new TapSession(model, tensors, T, b);
  try {
    const out: ExampleFactors[] = [];
    for (let i = 0; i < examples.length; i += b) out.push(...s.factors(examples.slice(i, i + b)));
    return out;
  } finally {
    s.dispose();
  }
}

function dotRows(x: Float32Array, i: number, y: Float32Array, j: number, n: number): number {
  let s = 0;
  const a = i * n;
  const b = j * n;
  for (let k = 0; k < n; k++) s += x[a + k]! * y[b + k]!;
  return s;
}

/** Vector gradient of a scale / bias use: sum_t a_t * delta_t, or sum_t delta_t. */
function vectorGrad(f: TapFactors): Float64Array {
  const v = new Float64Array(f.nOut);
  for (let t = 0; t < f.n; t++) for (let k = 0; k < f.nOut; k++) v[k] += (f.kind === 'scale' ? f.a![t * f.nIn + k]! : 1) * f.d[t * f.nOut + k]!;
  return v;
}

/** Dense gradient of one use in the weight's layout (ne[1] rows of ne[0]); for multi-use tensors. */
function denseGrad(f: TapFactors, ne: number[]): Float64Array {
  const size = ne.reduce((a, b) => a * b, 1);
  const G = new Float64Array(size);
  if (f.kind === 'matmul') {
    // W ne [nIn, nOut]: G[o * nIn + i] = sum_t d[t, o] a[t, i]
    for (let t = 0; t < f.n; t++) for (let o = 0; o < f.nOut; o++) {
      const dv = f.d[t * f.nOut + o]!;
      if (dv === 0) continue;
      for (let i = 0; i < f.nIn; i++) G[o * f.nIn + i] += dv * f.a![t * f.nIn + i]!;
    }
  } else if (f.kind === 'rows') {
    const d = f.nOut;
    for (let t = 0; t < f.n; t++) for (let k = 0; k < d; k++) G[f.rows![t]! * d + k] += f.d[t * d + k]!;
  } else {
    const v = vectorGrad(f);
    G.set(v);
  }
  return G;
}

/** <G_x, G_y> of one tensor for two examples (see the module comment). */
function tensorDot(fx: TapFactors[], fy: TapFactors[], ne: number[]): number {
  if (fx.length !== 1 || fy.length !== 1) {
    const a = new Float64Array(ne.reduce((p, q) => p * q, 1));
    const b = new Float64Array(a.length);
    for (const f of fx) denseGrad(f, ne).forEach((v, i) => (a[i] += v));
    for (const f of fy) denseGrad(f, ne).forEach((v, i) => (b[i] += v));
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
    return s;
  }
  const x = fx[0]!;
  const y = fy[0]!;
  if (x.kind === 'matmul') {
    let s = 0;
    for (let t = 0; t < x.n; t++) {
      for (let u = 0; u < y.n; u++) {
        const dd = dotRows(x.d, t, y.d, u, x.nOut);
        if (dd === 0) continue;
        s += dd * dotRows(x.a!, t, y.a!, u, x.nIn);
      }
    }
    return s;
  }
  if (x.kind === 'rows') {
    // sum over token pairs with the same row of delta_t . delta'_u
    const byRow = new Map<number, Float64Array>();
    const d = x.nOut;
    for (let t = 0; t < x.n; t++) {
      const r = x.rows![t]!;
      let v = byRow.get(r);
      if (!v) byRow.set(r, (v = new Float64Array(d)));
      for (let k = 0; k < d; k++) v[k] += x.d[t * d + k]!;
    }
    let s = 0;
    for (let u = 0; u < y.n; u++) {
      const v = byRow.get(y.rows![u]!);
      if (!v) continue;
      for (let k = 0; k < d; k++) s += v[k]! * y.d[u * d + k]!;
    }
    return s;
  }
  const a = vectorGrad(x);
  const b = vectorGrad(y);
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k]! * b[k]!;
  return s;
}

/** Activation x gradient scores: scores[q][i] = sum over tensors of <G_q, G_i> (times `lr`, default 1). */
export function activationGradientScores(model: CausalLM, tensors: string[], queries: ExampleFactors[], train: ExampleFactors[], lr = 1): number[][] {
  return queries.map((q) =>
    train.map((t) => {
      let s = 0;
      for (const name of tensors) {
        const fx = q.uses.get(name);
        const fy = t.uses.get(name);
        if (!fx || !fy) continue;
        s += tensorDot(fx, fy, model.weights.get(name)!.ne);
      }
      return lr * s;
    }),
  );
}
