/**
 * Exact per-example gradients from one batched backward pass (no backward per example).
 *
 * For a weight used as y = W x on the tokens of a batch, the batch gradient is
 * sum_t x_t dy_t^T; restricting the sum to one example's tokens gives that example's gradient:
 *   matmul:  G_b = sum_{t in b} x_t (dy_t)^T          (one batched mul_mat over [T, n, B]), or
 *            factored: the example's x_t and dy_t themselves (factored.ts), where they take fewer
 *            numbers than G_b (d_in d_out > n_b (d_in + d_out)): the first-epoch record's form
 *   scale:   g_b = sum_{t in b} x_t * dy_t            (norm weights, y = x * w)
 *   bias:    g_b = sum_{t in b} dy_t
 *   rows:    the embedding's gradient is a scatter of dy_t into the row of token t (sparse: only
 *            rows of tokens present in the example), done on the host from dy.
 * A weight used several times (a tied embedding is both looked up and the output projection) sums
 * its uses. dy here is the gradient of the batch loss, whose mean over the batch's n predicted
 * tokens puts a factor 1/n on every token; each example's gradient is rescaled by n / n_b to that
 * of its own mean token loss (dense ones in the graph, the embedding's sparse rows and the factored
 * dy on the host by `readPerExample`), which also reports its weight w_b = n_b / n in the batch
 * gradient (batch gradient = sum_b w_b g_b).
 */
import type { Graph, Tensor } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import type { WeightTap } from './layers.ts';
import { factoredIsSmaller, factoredToDense, factoredWithRowsIsSmaller, isFactored, type FactoredGrad } from './factored.ts';

export interface PerExampleNode {
  name: string;
  kind: WeightTap['kind'];
  /**
   * Dense: [n_in, n_out, B] (matmul) or [d, B] (scale, bias). Rows: dy [d, T*B]. Absent for a
   * matmul use recorded in factored form only.
   */
  tensor?: Tensor;
  /** Rows: the index tensor (tokens [T*B] or positions [T]). */
  ids?: Tensor;
  /** Matmul uses with `factored`: the use's input x [n_in, T*B] and output gradient dy [n_out, T*B] (contiguous). */
  factors?: { x: Tensor; dy: Tensor };
}

/** Sparse gradient of an embedding: the listed rows only. */
export interface SparseRows {
  rows: Int32Array;
  /** rows.length x rowSize values, row-major. */
  values: Float32Array;
  rowSize: number;
}

export type ExampleGrad = Float32Array | SparseRows | FactoredGrad;

export function isSparse(g: ExampleGrad): g is SparseRows {
  return !(g instanceof Float32Array) && !isFactored(g);
}

/** The tensors a graph must compute for these nodes (its `extras`). */
export function perExampleOutputs(nodes: PerExampleNode[]): Tensor[] {
  const out = new Set<Tensor>();
  for (const n of nodes) {
    if (n.tensor) out.add(n.tensor);
    if (n.factors) out.add(n.factors.x).add(n.factors.dy);
  }
  return [...out];
}

/**
 * Build the per-example gradient nodes for the tapped uses of `names`. With `fastMatmul` the
 * products run on op.fastMatMul, which reads the token-major views through their strides (no copies).
 * With `factored`, matmul uses output their x and dy instead (factored.ts); the dense per-example
 * product is built as well only where an example of T - 1 predicted tokens would be smaller dense
 * ((T - 1)(d_in + d_out) >= d_in d_out), so that `readPerExample` can give each example the smaller
 * form.
 */
export function buildPerExampleNodes(
  taps: WeightTap[],
  names: Set<string>,
  gradOf: (t: Tensor) => Tensor,
  T: number,
  B: number,
  opts: {
    fastMatmul?: boolean;
    /** Input [B] holding exampleFactor of each example: the dense nodes come out rescaled by it. */
    exampleScale: Tensor;
    /** Matmul uses in factored form where it is smaller (the first-epoch record). */
    factored?: boolean;
  },
): PerExampleNode[] {
  const fastMatmul = opts.fastMatmul === true;
  const es = opts.exampleScale;
  // [n_in, n_out, B] (matmul) or [d, B] (scale, bias) times each example's factor
  const scaleEach = (t: Tensor): Tensor => op.mul(t, op.reshape(es, t.ne[2] === B ? [1, 1, B] : [1, B]));
  const transposed = new Map<bigint, Tensor>();
  // [n, T*B] -> [T, n, B], cached per source tensor (q, k, v share their input)
  const tokMajor = (t: Tensor): Tensor => {
    let r = transposed.get(t.ptr);
    if (!r) {
      r = op.permute(op.reshape(t, [t.ne[0], T, B]), [1, 0, 2, 3]);
      if (!fastMatmul) r = op.cont(r);
      transposed.set(t.ptr, r);
    }
    return r;
  };
  const matmul = fastMatmul ? op.fastMatMul : op.mulMat;
  // contiguous copies for the factors, one per source tensor (q, k, v share their input)
  const copies = new Map<bigint, Tensor>();
  const contiguous = (t: Tensor): Tensor => {
    if (t.graph.g.ggml_is_contiguous!(t.ptr)) return t;
    let c = copies.get(t.ptr);
    if (!c) copies.set(t.ptr, (c = op.cont(t)));
    return c;
  };
  const out: PerExampleNode[] = [];
  for (const tap of taps) {
    if (!names.has(tap.name)) continue;
    if (tap.kind === 'rows') {
      out.push({ name: tap.name, kind: 'rows', tensor: gradOf(tap.output), ids: tap.input });
      continue;
    }
    const dy = gradOf(tap.output);
    if (tap.kind === 'matmul') {
      const dIn = tap.input.ne[0];
      const dOut = dy.ne[0];
      const factors = opts.factored ? { x: contiguous(tap.input), dy: contiguous(dy) } : undefined;
      const needDense = !factors || !factoredIsSmaller(T - 1, dIn, dOut);
      out.push({ name: tap.name, kind: 'matmul', tensor: needDense ? scaleEach(matmul(tokMajor(tap.input), tokMajor(dy))) : undefined, factors });
    } else {
      const prod = tap.kind === 'scale' ? op.mul(dy, tap.input) : dy;
      const d = prod.ne[0];
      // every position of example b (its tokens, and its heads for a per-head norm of [d, H, T, B])
      const m = prod.numel / (d * B);
      const summed = op.sumRows(op.cont(op.permute(op.reshape(prod, [d, m, B]), [1, 0, 2, 3]))); // [1, d, B]
      out.push({ name: tap.name, kind: tap.kind, tensor: scaleEach(op.reshape(summed, [d, B])) });
    }
  }
  return out;
}

export interface PerExampleResult {
  /** Per example (batch order): tensor name -> gradient of the example's own mean token loss. */
  grads: Array<Map<string, ExampleGrad>>;
  /** Per example: n_b / n, its weight in the batch gradient. */
  weights: number[];
  /** Per example: predicted tokens n_b. */
  tokens: number[];
}

/** n / n_b: from the gradient of the batch's mean token loss (n predicted tokens) to that of example b's own mean (n_b = length - 1); 0 for an example with nothing to predict. */
export function exampleFactor(length: number, n: number): number {
  const nb = Math.max(0, length - 1);
  return nb > 0 ? n / nb : 0;
}

/**
 * Read the per-example gradients after a 'backwardExtras' / 'stepExtras' compute. `seqs` are the
 * batch's token sequences (unpadded), `shapes` the recorded tensors' ne. A matmul use with factors
 * gives example b its factored form when that is smaller for its n_b = length - 1 predicted tokens
 * (factoredIsSmaller), else its dense product; a tensor whose uses end up in different forms is
 * summed densely.
 */
export function readPerExample(
  graph: Graph,
  nodes: PerExampleNode[],
  seqs: number[][],
  T: number,
  shapes: Map<string, number[]>,
  /** Per read tensor, a buffer to read into (reused across steps by callers that consume the result at once). */
  buffers?: Map<Tensor, Float32Array>,
  /** Predicted tokens of the whole batch (gradient accumulation over micro-batches; default: these sequences'). */
  batchTokens?: number,
): PerExampleResult {
  const nPred = seqs.map((s) => Math.max(0, s.length - 1));
  const n = batchTokens || nPred.reduce((a, b) => a + b, 0);
  const grads = seqs.map(() => new Map<string, ExampleGrad>());
  const factor = seqs.map((s) => exampleFactor(s.length, n));
  const fresh = new Map<bigint, Float32Array>();
  /** A tensor's values, read once per call (q, k and v share their input x). */
  const read = (t: Tensor): Float32Array => {
    let data = fresh.get(t.ptr);
    if (data) return data;
    if (buffers) {
      const buf = buffers.get(t) ?? new Float32Array(t.numel);
      buffers.set(t, buf);
      data = graph.get(t, buf);
    } else data = graph.get(t);
    fresh.set(t.ptr, data);
    return data;
  };
  const scaled = new Set<bigint>();
  for (const node of nodes) {
    const ne = shapes.get(node.name)!;
    if (node.kind === 'rows') {
      const data = graph.get(node.tensor!);
      const ids = graph.getI32(node.ids!);
      const d = ne[0]!;
      seqs.forEach((s, b) => {
        const acc = new Map<number, Float32Array>();
        for (let t = 0; t < s.length; t++) {
          const row = ids.length === T ? ids[t]! : ids[b * T + t]!;
          let v = acc.get(row);
          if (!v) acc.set(row, (v = new Float32Array(d)));
          const off = (b * T + t) * d;
          for (let i = 0; i < d; i++) v[i]! += data[off + i]! * factor[b]!;
        }
        const rows = Int32Array.from([...acc.keys()].sort((x, y) => x - y));
        const values = new Float32Array(rows.length * d);
        rows.forEach((r, j) => values.set(acc.get(r)!, j * d));
        merge(grads[b]!, node.name, { rows, values, rowSize: d }, ne);
      });
      continue;
    }
    const size = ne.reduce((a, b) => a * b, 1);
    if (node.factors) {
      const { x, dy } = node.factors;
      const dIn = x.ne[0];
      const dOut = dy.ne[0];
      const xs = read(x);
      const dys = read(dy);
      // dy of the batch loss -> of each example's own mean loss: its predicted tokens times n / n_b
      // (once per tensor read: a dy is read by one use only, but guard anyway)
      if (!scaled.has(dy.ptr)) {
        scaled.add(dy.ptr);
        seqs.forEach((_, b) => {
          const f = factor[b]!;
          const part = dys.subarray(b * T * dOut, (b * T + nPred[b]!) * dOut);
          for (let i = 0; i < part.length; i++) part[i] = part[i]! * f;
        });
      }
      const dense = node.tensor ? read(node.tensor) : null;
      seqs.forEach((_, b) => {
        const nTok = nPred[b]!;
        if (dense && !factoredIsSmaller(nTok, dIn, dOut)) {
          merge(grads[b]!, node.name, dense.subarray(b * size, (b + 1) * size), ne);
          return;
        }
        const f: FactoredGrad = {
          kind: 'factored',
          nTok,
          dIn,
          dOut,
          x: xs.subarray(b * T * dIn, (b * T + nTok) * dIn),
          dy: dys.subarray(b * T * dOut, (b * T + nTok) * dOut),
        };
        merge(grads[b]!, node.name, f, ne);
      });
      continue;
    }
    const data = read(node.tensor!);
    seqs.forEach((_, b) => {
      // views into this read's buffer (ours alone), already rescaled in the graph
      merge(grads[b]!, node.name, data.subarray(b * size, (b + 1) * size), ne);
    });
  }
  return { grads, weights: nPred.map((nb) => (n > 0 ? nb / n : 0)), tokens: nPred };
}

/**
 * Add a gradient contribution for `name`: a factored use and the rows of a lookup stay factored
 * (a tied embedding), factored uses of one tensor are stacked, anything else becomes dense.
 */
function merge(m: Map<string, ExampleGrad>, name: string, g: ExampleGrad, ne: number[]): void {
  const prev = m.get(name);
  if (!prev) {
    m.set(name, g);
    return;
  }
  const rowsOf = (a: ExampleGrad, b: ExampleGrad) => (isSparse(a) ? a : isSparse(b) ? b : null);
  const fac = isFactored(prev) ? prev : isFactored(g) ? g : null;
  const rows = rowsOf(prev, g);
  if (fac && rows && !fac.rows) {
    // a tied embedding: factored with its rows while that is still smaller than dense
    if (factoredWithRowsIsSmaller(fac.nTok, fac.dIn, fac.dOut, rows.rows.length)) m.set(name, { ...fac, rows });
    else m.set(name, factoredToDense({ ...fac, rows }));
    return;
  }
  if (isFactored(prev) && isFactored(g) && !(prev.rows && g.rows) && prev.dIn === g.dIn && prev.dOut === g.dOut) {
    const x = new Float32Array((prev.nTok + g.nTok) * prev.dIn);
    x.set(prev.x);
    x.set(g.x, prev.x.length);
    const dy = new Float32Array((prev.nTok + g.nTok) * prev.dOut);
    dy.set(prev.dy);
    dy.set(g.dy, prev.dy.length);
    m.set(name, { kind: 'factored', nTok: prev.nTok + g.nTok, dIn: prev.dIn, dOut: prev.dOut, x, dy, rows: prev.rows ?? g.rows });
    return;
  }
  const dense = toDense(prev, ne);
  const add = toDense(g, ne);
  for (let i = 0; i < dense.length; i++) dense[i]! += add[i]!;
  m.set(name, dense);
}

/** Dense copy of a (possibly sparse or factored) gradient with shape ne (a dense one itself). */
export function toDense(g: ExampleGrad, ne: number[]): Float32Array {
  if (g instanceof Float32Array) return g;
  if (isFactored(g)) return factoredToDense(g);
  const out = new Float32Array(ne.reduce((a, b) => a * b, 1));
  g.rows.forEach((r, j) => out.set(g.values.subarray(j * g.rowSize, (j + 1) * g.rowSize), r * g.rowSize));
  return out;
}
