/**
 * Graph sessions on one model, built once and reused. Building a session costs a graph build and
 * an allocation (about half a second even for a tiny model), while unlearning strategies score and
 * step the same shapes many times (iterative removal re-measures after every iteration), so
 * sessions are cached by shape and kind. Sequence lengths are rounded up to a multiple of 16 so that
 * sets of similar lengths share a graph. Every acquire uploads the model's current host weights,
 * because methods change them between calls.
 *
 * Evaluation sessions read 2-D weights in the file's own type (F16, Q8_0 bytes) unless the host
 * copy is F32; a model whose host weights are being changed must therefore be made F32 first
 * (`asF32Model`), or evaluation would silently use the unchanged file bytes.
 */
import { CausalLM, LMSession, type HostTensor } from '../model/model.ts';
import type { Example } from './types.ts';

const MAX_CACHED = 6;

/** A copy of `model` whose weights are all F32 host data (file bytes dropped). */
export function asF32Model(model: CausalLM): CausalLM {
  const w = new Map<string, HostTensor>();
  for (const [k, v] of model.weights) w.set(k, { name: v.name, ne: [...v.ne], data: v.data.slice(), fileType: 'f32' });
  return new CausalLM(model.config, w, model.source, model.file);
}

export function bucketLength(n: number, nCtx: number): number {
  return Math.min(nCtx, Math.max(2, Math.ceil(n / 16) * 16));
}

export interface TrainSessionOptions {
  T: number;
  B: number;
  tensors: string[];
  /** Compute per-example gradients of all `tensors` (perExample()). */
  record?: boolean;
}

export class SessionPool {
  private cache = new Map<string, LMSession>();

  constructor(readonly model: CausalLM) {}

  /** A training session (no optimiser: methods update host weights themselves), weights uploaded. */
  train(o: TrainSessionOptions): LMSession {
    const T = bucketLength(o.T, this.model.config.nCtx);
    const key = `train:${T}:${o.B}:${o.record ? 1 : 0}:${o.tensors.join(',')}`;
    return this.get(key, () => new LMSession(this.model, { T, B: o.B, mode: 'train', trainable: o.tensors, record: o.record ? o.tensors : undefined }));
  }

  /** An evaluation session for sequences up to T tokens, weights uploaded. */
  eval(T: number, B: number): LMSession {
    const Tb = bucketLength(T, this.model.config.nCtx);
    return this.get(`eval:${Tb}:${B}`, () => new LMSession(this.model, { T: Tb, B, mode: 'eval' }));
  }

  private get(key: string, make: () => LMSession): LMSession {
    let s = this.cache.get(key);
    if (s) {
      this.cache.delete(key);
      this.cache.set(key, s);
      s.uploadWeights();
      return s;
    }
    s = make();
    this.cache.set(key, s);
    while (this.cache.size > MAX_CACHED) {
      const [k, old] = this.cache.entries().next().value as [string, LMSession];
      this.cache.delete(k);
      old.dispose();
    }
    return s;
  }

  dispose(): void {
    for (const s of this.cache.values()) s.dispose();
    this.cache.clear();
  }
}

export interface ItemLoss {
  id: string;
  /** Sum of log p over predicted tokens. */
  sumLogprob: number;
  tokens: number;
  /** Mean next-token negative log-likelihood. */
  meanNll: number;
}

/** Per-example log-likelihoods under the pool's model (current host weights), in batches of `batch`. */
export function scoreExamples(pool: SessionPool, examples: Example[], batch = 8): ItemLoss[] {
  const valid = examples.filter((e) => e.tokens.length >= 2);
  if (valid.length === 0) return [];
  const nCtx = pool.model.config.nCtx;
  const T = Math.min(nCtx, Math.max(...valid.map((e) => e.tokens.length)));
  const B = Math.min(batch, valid.length);
  const s = pool.eval(T, B);
  const out: ItemLoss[] = [];
  for (let i = 0; i < valid.length; i += B) {
    const chunk = valid.slice(i, i + B);
    s.setBatch(chunk.map((e) => e.tokens.slice(0, s.T)));
    const lps = s.tokenLogprobs();
    chunk.forEach((e, b) => {
      const lp = lps[b]!;
      let sum = 0;
      for (const v of lp) sum += v;
      out.push({ id: e.id, sumLogprob: sum, tokens: lp.length, meanNll: -sum / lp.length });
    });
  }
  return out;
}
