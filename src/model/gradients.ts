/**
 * Gradients of the current weights for the gradient-based methods, from pooled training sessions:
 * the batch gradient of the mean next-token loss, or exact per-example gradients (one batched
 * backward, perExample.ts) with each example's own log-likelihood.
 */
import { logSoftmaxAt } from './model.ts';
import type { ExampleGrad } from './perExample.ts';
import { Rng } from '../util/rng.ts';
import type { SessionPool } from './sessions.ts';
import type { Example } from './example.ts';

export interface BatchGradient {
  /** Mean next-token loss of the batch. */
  loss: number;
  /** Gradient of that loss, per tensor (dense). */
  grads: Map<string, Float32Array>;
  /** Predicted tokens in the batch. */
  tokens: number;
}

function maxLen(ex: Example[]): number {
  return Math.max(...ex.map((e) => e.tokens.length));
}

/** Gradient of the batch's mean token loss w.r.t. `tensors`, at the pool model's host weights. */
export function batchGradient(pool: SessionPool, batch: Example[], tensors: string[], B = batch.length, T = maxLen(batch)): BatchGradient {
  const s = pool.train({ T, B, tensors });
  const tokens = s.setBatch(batch.map((e) => e.tokens.slice(0, s.T)));
  const loss = s.backward();
  const grads = new Map<string, Float32Array>();
  for (const n of tensors) grads.set(n, s.gradOf(n));
  return { loss, grads, tokens };
}

export interface PerExampleGradients {
  /** Batch mean token loss. */
  loss: number;
  /** Per example: gradient of its own mean token loss (embedding rows may be sparse). */
  grads: Array<Map<string, ExampleGrad>>;
  /** Per example: predicted tokens n_i. */
  tokens: number[];
  /** Per example: log p(sequence) = sum of its token log-probabilities (float64 log-softmax). */
  logLik: number[];
}

/** Exact per-example gradients and sequence log-likelihoods of a batch. */
export function perExampleGradients(pool: SessionPool, batch: Example[], tensors: string[], B = batch.length, T = maxLen(batch)): PerExampleGradients {
  const s = pool.train({ T, B, tensors, record: true });
  const seqs = batch.map((e) => e.tokens.slice(0, s.T));
  s.setBatch(seqs);
  const loss = s.backwardRecord();
  const pe = s.perExample();
  const logits = s.readLogits();
  const V = pool.model.config.nVocab;
  const logLik = seqs.map((seq, b) => {
    let sum = 0;
    for (let i = 0; i + 1 < seq.length; i++) sum += logSoftmaxAt(logits, (b * s.T + i) * V, V, seq[i + 1]!);
    return sum;
  });
  return { loss, grads: pe.grads, tokens: pe.tokens, logLik };
}

/**
 * `steps` batches of up to `size` examples: passes over a seeded shuffle of `examples`, reshuffled
 * each pass (the last batch of a pass may be smaller).
 */
export function batchSchedule<T>(examples: T[], size: number, steps: number, seed: number): T[][] {
  if (examples.length === 0) return [];
  const out: T[][] = [];
  let pass = 0;
  let order: T[] = [];
  let pos = 0;
  while (out.length < steps) {
    if (pos >= order.length) {
      order = new Rng(seed * 7919 + pass++).shuffle(examples.slice());
      pos = 0;
    }
    out.push(order.slice(pos, pos + size));
    pos += size;
  }
  return out;
}
