/**
 * The language model's training objective over a parameter filter, as an Objective:
 *
 *   J(theta) = sum_{i active} c_i L_i(theta) + (l2 / 2) ||theta||^2,   c_i = n_i / N
 *
 * with L_i example i's mean next-token loss, n_i its predicted tokens and N those of all training
 * examples (so J is the token-mean loss of the set, the fine-tuning objective), theta the filtered
 * tensors flattened (other weights fixed). Gradients come from pooled training sessions (one
 * batched backward per batch); query losses are float64 log-softmaxes of the same graph's logits,
 * so that small differences between parameter settings are not drowned by graph differences.
 * The model's host weights of the filtered tensors are changed by setParams.
 */
import type { CausalLM } from '../model/model.ts';
import { logSoftmaxAt } from '../model/model.ts';
import { SessionPool } from '../model/sessions.ts';
import type { Example } from '../model/example.ts';
import { UserError } from '../util/errors.ts';
import type { Objective } from './objective.ts';
import { ParamSpace } from './vectors.ts';

export class LmObjective implements Objective {
  readonly space: ParamSpace;
  readonly dim: number;
  readonly n: number;
  readonly nQueries: number;
  readonly pool: SessionPool;
  private readonly B: number;
  private readonly T: number;
  private readonly counts: number[];
  private readonly total: number;
  private active: number[] | null = null;

  constructor(
    readonly model: CausalLM,
    readonly tensors: string[],
    readonly train: Example[],
    readonly queries: Example[],
    readonly o: { l2?: number; batch?: number } = {},
  ) {
    if (train.length === 0) throw new UserError('influence: no training examples');
    this.space = new ParamSpace(model, tensors);
    this.dim = this.space.size;
    this.n = train.length;
    this.nQueries = queries.length;
    this.pool = new SessionPool(model);
    this.B = Math.min(o.batch ?? 8, train.length);
    this.T = Math.max(...train.map((e) => e.tokens.length), ...queries.map((e) => e.tokens.length));
    this.counts = train.map((e) => Math.max(0, Math.min(e.tokens.length, model.config.nCtx) - 1));
    this.total = this.counts.reduce((a, b) => a + b, 0);
  }

  private session() {
    return this.pool.train({ T: this.T, B: this.B, tensors: this.tensors });
  }

  get l2(): number {
    return this.o.l2 ?? 0;
  }

  getParams(): Float32Array {
    return this.space.read(this.model);
  }

  setParams(theta: Float32Array): void {
    this.space.write(this.model, theta);
  }

  setActive(indices: number[] | null): void {
    this.active = indices;
  }

  exampleWeight(i: number): number {
    return this.counts[i]! / this.total;
  }

  private activeIndices(): number[] {
    return this.active ?? this.train.map((_, i) => i);
  }

  /** Gradient of sum_{i in idx} (n_i / N) L_i, i.e. of the token-summed loss / N. */
  private dataGradient(idx: number[]): Float32Array {
    const s = this.session();
    const out = new Float32Array(this.dim);
    for (let k = 0; k < idx.length; k += this.B) {
      const chunk = idx.slice(k, k + this.B);
      const nPred = s.setBatch(chunk.map((i) => this.train[i]!.tokens.slice(0, s.T)));
      if (nPred === 0) continue;
      s.backward();
      const w = nPred / this.total;
      for (const name of this.tensors) {
        const g = s.gradOf(name);
        const off = this.space.offsets.get(name)!;
        for (let j = 0; j < g.length; j++) out[off + j] += w * g[j]!;
      }
    }
    return out;
  }

  gradient(): Float32Array {
    const g = this.dataGradient(this.activeIndices());
    if (this.l2) {
      const th = this.getParams();
      for (let j = 0; j < g.length; j++) g[j] += this.l2 * th[j]!;
    }
    return g;
  }

  /** Sum of log p over predicted tokens of each sequence, from one forward pass per batch (float64). */
  private logLiks(seqs: number[][]): number[] {
    const s = this.session();
    const V = this.model.config.nVocab;
    const out: number[] = [];
    for (let k = 0; k < seqs.length; k += this.B) {
      const chunk = seqs.slice(k, k + this.B).map((t) => t.slice(0, s.T));
      s.setBatch(chunk);
      s.forward();
      const logits = s.readLogits();
      chunk.forEach((seq, b) => {
        let sum = 0;
        for (let i = 0; i + 1 < seq.length; i++) sum += logSoftmaxAt(logits, (b * s.T + i) * V, V, seq[i + 1]!);
        out.push(sum);
      });
    }
    return out;
  }

  value(): number {
    const idx = this.activeIndices();
    const ll = this.logLiks(idx.map((i) => this.train[i]!.tokens));
    let v = -ll.reduce((a, b) => a + b, 0) / this.total;
    if (this.l2) {
      const th = this.getParams();
      let s = 0;
      for (let j = 0; j < th.length; j++) s += th[j]! * th[j]!;
      v += (this.l2 / 2) * s;
    }
    return v;
  }

  private singleGradient(ex: Example): Float32Array {
    const s = this.session();
    s.setBatch([ex.tokens.slice(0, s.T)]);
    s.backward();
    const out = new Float32Array(this.dim);
    for (const name of this.tensors) out.set(s.gradOf(name), this.space.offsets.get(name)!);
    return out;
  }

  exampleGradient(i: number): Float32Array {
    return this.singleGradient(this.train[i]!);
  }

  /** Mean next-token NLL of query q. */
  queryLoss(q: number): number {
    const ex = this.queries[q]!;
    const ll = this.logLiks([ex.tokens])[0]!;
    return -ll / Math.max(1, Math.min(ex.tokens.length, this.T) - 1);
  }

  queryGradient(q: number): Float32Array {
    return this.singleGradient(this.queries[q]!);
  }

  dispose(): void {
    this.pool.dispose();
  }
}
