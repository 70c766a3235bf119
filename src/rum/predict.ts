/**
 * Per-example predictions of a model: softmax probabilities and penultimate embeddings, computed
 * in fixed-size batches (the last one padded with zeros and its padding discarded). With GroupNorm
 * an example's output does not depend on its batch-mates, so predictions are exactly per-example.
 */
import type { ImageSet } from '../data/images.ts';
import { EvalGraph } from './graphs.ts';
import { embeddingDim, type CnnConfig, type Weights } from './model.ts';

export interface Predictions {
  n: number;
  classes: number;
  /** Softmax probabilities, n x classes (row-major). */
  probs: Float32Array;
  /** True labels of the examples. */
  labels: Int32Array;
  /** Penultimate embeddings, n x dim (when asked for). */
  embeddings?: Float32Array;
  dim: number;
}

const EVAL_BATCH = 100;
const evalCache = new Map<string, EvalGraph>();

function evalGraph(config: CnnConfig): EvalGraph {
  const key = JSON.stringify(config);
  let g = evalCache.get(key);
  if (!g) {
    g = new EvalGraph(config, EVAL_BATCH);
    evalCache.set(key, g);
  }
  return g;
}

/** Predictions of `weights` on the examples `indices` of `set` (default: all). */
export function predict(config: CnnConfig, weights: Weights, set: ImageSet, indices?: ArrayLike<number>, opts: { embeddings?: boolean } = {}): Predictions {
  const idx = indices ?? Array.from({ length: set.n }, (_, i) => i);
  const n = idx.length;
  const K = config.classes;
  const dim = embeddingDim(config);
  const per = set.c * set.h * set.w;
  if (set.c !== config.inChannels || set.h !== config.height || set.w !== config.width) {
    throw new TypeError(`predict: images are ${set.c}x${set.h}x${set.w}, the model takes ${config.inChannels}x${config.height}x${config.width}`);
  }
  const g = evalGraph(config);
  g.load(weights);
  const probs = new Float32Array(n * K);
  const labels = new Int32Array(n);
  const embeddings = opts.embeddings ? new Float32Array(n * dim) : undefined;
  const batch = new Float32Array(EVAL_BATCH * per);
  for (let s = 0; s < n; s += EVAL_BATCH) {
    const m = Math.min(EVAL_BATCH, n - s);
    batch.fill(0);
    for (let k = 0; k < m; k++) {
      const i = idx[s + k]!;
      batch.set(set.images.subarray(i * per, (i + 1) * per), k * per);
      labels[s + k] = set.labels[i]!;
    }
    const r = g.run(batch);
    for (let k = 0; k < m; k++) softmaxInto(r.logits, k * K, K, probs, (s + k) * K);
    if (embeddings) embeddings.set(r.embedding.subarray(0, m * dim), s * dim);
  }
  return { n, classes: K, probs, labels, embeddings, dim };
}

/** Numerically stable softmax of src[off .. off+k) into dst[dOff ..). */
export function softmaxInto(src: ArrayLike<number>, off: number, k: number, dst: Float32Array, dOff: number): void {
  let mx = -Infinity;
  for (let j = 0; j < k; j++) mx = Math.max(mx, src[off + j]!);
  let z = 0;
  for (let j = 0; j < k; j++) z += Math.exp(src[off + j]! - mx);
  for (let j = 0; j < k; j++) dst[dOff + j] = Math.exp(src[off + j]! - mx) / z;
}

/** Whether each example is classified correctly (argmax = label). */
export function correctness(p: Predictions): Uint8Array {
  const out = new Uint8Array(p.n);
  for (let i = 0; i < p.n; i++) {
    let best = 0;
    for (let j = 1; j < p.classes; j++) if (p.probs[i * p.classes + j]! > p.probs[i * p.classes + best]!) best = j;
    out[i] = best === p.labels[i] ? 1 : 0;
  }
  return out;
}

/** Share of examples classified correctly. */
export function accuracy(p: Predictions): number {
  if (p.n === 0) return NaN;
  const c = correctness(p);
  let s = 0;
  for (let i = 0; i < c.length; i++) s += c[i]!;
  return s / p.n;
}

/** Probability of the true label per example. */
export function trueLabelProbs(p: Predictions): Float64Array {
  const out = new Float64Array(p.n);
  for (let i = 0; i < p.n; i++) out[i] = p.probs[i * p.classes + p.labels[i]!]!;
  return out;
}
