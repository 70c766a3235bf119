/**
 * Per-example gradients of linear layers in factored form (the first-epoch record's compact form,
 * docs/architecture.md#training-and-the-gradient-record).
 *
 * For a weight used as y = W x (ggml ne [d_in, d_out]), an example's gradient is the sum over its
 * n tokens of input x output-gradient,
 *
 *   G = sum_{t < n} x_t dy_t^T,       G[i + d_in o] = sum_t x_t[i] dy_t[o],
 *
 * so keeping the n input vectors x_t and the n output-gradient vectors dy_t (n (d_in + d_out)
 * numbers) is exact, and smaller than G's d_in d_out numbers whenever
 *
 *   d_in d_out / (n (d_in + d_out)) > 1                                           (factoredIsSmaller)
 *
 * (SmolLM2-135M's 576 x 1536 MLP matrices: n < 419 tokens; its tied 576 x 49152 output: n < 569).
 * An example's n is its number of predicted tokens (its length - 1): the last token predicts nothing
 * and, with padding after it and a causal mask, every gradient at its position is exactly zero.
 *
 * Sums of factored gradients, as the stored-gradient ascent needs them (sum_j c_j G_j over forget
 * examples j), are one matrix product: stack every example's tokens, X = [x_t] (N x d_in) and
 * DY = [c_j dy_t] (N x d_out), then sum_j c_j G_j = X^T DY. `outerSums` runs those products on the
 * engine (the native GEMM on CPUs), many tensors in one graph.
 */
import { Graph, type Tensor } from '../engine/graph.ts';
import * as op from '../engine/ops.ts';
import type { SparseRows } from './perExample.ts';

/** One example's gradient of a linear weight as its tokens' inputs and output gradients. */
export interface FactoredGrad {
  kind: 'factored';
  /** Tokens n. */
  nTok: number;
  dIn: number;
  dOut: number;
  /** n x d_in, token-major (token t's input at t * d_in). */
  x: Float32Array;
  /** n x d_out, token-major: the gradient of the example's own mean token loss at the output. */
  dy: Float32Array;
  /** A tied embedding's lookup part (the rows of the example's tokens), added to the product. */
  rows?: SparseRows;
}

export function isFactored(g: unknown): g is FactoredGrad {
  return typeof g === 'object' && g !== null && (g as { kind?: unknown }).kind === 'factored';
}

/** Whether n tokens of a d_in x d_out weight take fewer numbers factored than dense: d_in d_out > n (d_in + d_out). */
export function factoredIsSmaller(nTok: number, dIn: number, dOut: number): boolean {
  return dIn * dOut > nTok * (dIn + dOut);
}

/**
 * The same with a lookup's sparse rows stored beside the factors (a tied embedding, whose rows are
 * d_in long): n (d_in + d_out) + nRows (d_in + 1) + 1 numbers (a row index and a count are one
 * number each) against d_in d_out.
 */
export function factoredWithRowsIsSmaller(nTok: number, dIn: number, dOut: number, nRows: number): boolean {
  return dIn * dOut > nTok * (dIn + dOut) + nRows * (dIn + 1) + 1;
}

/** One term of a sum of factored gradients: coef * sum_t x_t dy_t^T. */
export interface OuterTerm {
  x: Float32Array;
  dy: Float32Array;
  nTok: number;
  coef: number;
}

/** A sum to compute: sum over terms of coef * X^T DY, a [d_in, d_out] matrix (ne order). */
export interface OuterSumJob {
  dIn: number;
  dOut: number;
  terms: OuterTerm[];
}

/** Outputs per graph (bytes): bounds the memory of one outerSums graph. */
const GRAPH_OUTPUT_BYTES = 512 * 2 ** 20;

/**
 * sum_j coef_j X_j^T DY_j for every job, as dense [d_in, d_out] arrays (ne order: i + d_in o), on
 * the engine: per job the terms' tokens are stacked (DY rows scaled by their coef on the host) and
 * multiplied once; jobs are grouped into graphs of at most ~512 MiB of outputs. A job without
 * tokens gives zeros.
 */
export function outerSums(jobs: OuterSumJob[]): Float32Array[] {
  const out: Float32Array[] = new Array(jobs.length);
  let group: number[] = [];
  let groupBytes = 0;
  const flush = () => {
    if (group.length) runGroup(jobs, group, out);
    group = [];
    groupBytes = 0;
  };
  jobs.forEach((job, i) => {
    const n = job.terms.reduce((a, t) => a + t.nTok, 0);
    if (n === 0) {
      out[i] = new Float32Array(job.dIn * job.dOut);
      return;
    }
    const bytes = 4 * job.dIn * job.dOut;
    if (group.length && groupBytes + bytes > GRAPH_OUTPUT_BYTES) flush();
    group.push(i);
    groupBytes += bytes;
  });
  flush();
  return out;
}

function runGroup(jobs: OuterSumJob[], idx: number[], out: Float32Array[]): void {
  const g = new Graph({ maxNodes: 8 * idx.length + 16 });
  try {
    const nodes: Array<{ i: number; X: Tensor; DY: Tensor; G: Tensor; n: number }> = [];
    for (const i of idx) {
      const { dIn, dOut, terms } = jobs[i]!;
      const n = terms.reduce((a, t) => a + t.nTok, 0);
      const X = g.input(`x${i}`, [dIn, n]);
      const DY = g.input(`dy${i}`, [dOut, n]);
      // [n, d_in]^T [n, d_out] -> [d_in, d_out]: the native kernel reads the transposes through their
      // strides; ggml's out_prod computes the same sum of outer products where it is not built
      const G = op.nativeMatMulFor(X) ? op.fastMatMul(op.transpose(X), op.transpose(DY)) : op.outProd(X, DY);
      nodes.push({ i, X, DY, G, n });
    }
    g.build({ outputs: nodes.map((x) => x.G) });
    g.allocate();
    for (const { i, X, DY, n } of nodes) {
      const { dIn, dOut, terms } = jobs[i]!;
      const xs = new Float32Array(n * dIn);
      const dys = new Float32Array(n * dOut);
      let off = 0;
      for (const t of terms) {
        if (t.x.length < t.nTok * dIn || t.dy.length < t.nTok * dOut) throw new RangeError(`outerSums: a term of ${t.nTok} tokens has ${t.x.length} inputs and ${t.dy.length} output gradients for ${dIn} x ${dOut}`);
        xs.set(t.x.subarray(0, t.nTok * dIn), off * dIn);
        const d = dys.subarray(off * dOut, (off + t.nTok) * dOut);
        for (let k = 0; k < d.length; k++) d[k] = t.coef * t.dy[k]!;
        off += t.nTok;
      }
      g.set(X, xs);
      g.set(DY, dys);
    }
    g.compute('forward');
    for (const { i, G } of nodes) out[i] = g.get(G);
  } finally {
    g.dispose();
  }
}

/** The dense [d_in, d_out] gradient of a factored one (its rows part included), on the engine. */
export function factoredToDense(f: FactoredGrad): Float32Array {
  const dense = outerSums([{ dIn: f.dIn, dOut: f.dOut, terms: [{ x: f.x, dy: f.dy, nTok: f.nTok, coef: 1 }] }])[0]!;
  if (f.rows) addRows(dense, f.rows, 1);
  return dense;
}

/** acc += scale * (sparse rows). */
export function addRows(acc: Float32Array, g: SparseRows, scale: number): void {
  const { rows, values, rowSize } = g;
  for (let j = 0; j < rows.length; j++) {
    const base = rows[j]! * rowSize;
    const vb = j * rowSize;
    for (let i = 0; i < rowSize; i++) acc[base + i] = acc[base + i]! + scale * values[vb + i]!;
  }
}
