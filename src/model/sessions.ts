/**
 * Graph sessions on one model, built once and reused (unlearning, influence; evaluation's
 * scoreSequences takes a pool as its session source). Building a session costs a graph build and
 * an allocation (about half a second even for a tiny model), while unlearning strategies score and
 * step the same shapes many times (iterative removal re-measures after every iteration), so
 * sessions are cached by shape and kind. Sequence lengths are rounded up to a multiple of 16 so that
 * sets of similar lengths share a graph. Every acquire uploads the model's current host weights,
 * because methods change them between calls.
 *
 * Evaluation sessions read 2-D weights in the file's own type (F16, Q8_0 bytes) unless the host
 * copy is F32; a model whose host weights are being changed must therefore be made F32 first
 * (`asF32Model`), or evaluation would silently use the unchanged file bytes.
 *
 * The pool keeps at most MAX_CACHED sessions and about UNLEARNKIT_POOL_BYTES (default 2 GiB) of
 * graph memory (older sessions are disposed before a new one is built, counting the new one as the
 * largest seen): each session of a model holds its own copy of the weights (an evaluation session
 * places them as llama.cpp does), which for a 1B model is ~1 GB.
 */
import { CausalLM, LMSession, type HostTensor } from './model.ts';

const MAX_CACHED = 6;

function poolBytes(): number {
  const v = Number(process.env.UNLEARNKIT_POOL_BYTES);
  return Number.isFinite(v) && v > 0 ? v : 2 * 2 ** 30;
}

/**
 * A copy of `model` whose weights are all F32 host data (file bytes dropped). A model with a LoRA
 * adapter (whose methods change the adapter's factors only) gets copies of the factors and shares
 * its base tensors, which keep their stored type: no F32 copy of the base is made.
 */
export function asF32Model(model: CausalLM): CausalLM {
  const w = new Map<string, HostTensor>();
  const adapter = new Set(model.loraTensorNames);
  for (const [k, v] of model.weights) {
    if (model.lora && !adapter.has(k)) w.set(k, v);
    else w.set(k, { name: v.name, ne: [...v.ne], data: v.data.slice(), fileType: 'f32' });
  }
  const m = new CausalLM(model.config, w, model.source, model.file);
  m.lora = model.lora ? { ...model.lora, targets: [...model.lora.targets] } : null;
  return m;
}

function bucketLength(n: number, nCtx: number): number {
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
  /** Graph bytes of the largest session built so far (evaluation buffers grow at their first compute). */
  private largest = 0;

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
    // make room first: a new session allocates its own copy of the weights (about as much as the largest seen)
    const budget = poolBytes();
    for (const x of this.cache.values()) this.largest = Math.max(this.largest, x.graph.bufferBytes);
    const total = () => [...this.cache.values()].reduce((a, x) => a + x.graph.bufferBytes, 0);
    while (this.cache.size > 0 && (this.cache.size >= MAX_CACHED || total() + this.largest > budget)) {
      const [k, old] = this.cache.entries().next().value as [string, LMSession];
      this.cache.delete(k);
      old.dispose();
    }
    s = make();
    this.cache.set(key, s);
    this.largest = Math.max(this.largest, s.graph.bufferBytes);
    return s;
  }

  dispose(): void {
    for (const s of this.cache.values()) s.dispose();
    this.cache.clear();
  }
}
