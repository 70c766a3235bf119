/**
 * Stored-gradient ascent, the core of the first-epoch method (Zagardo 2024, "A More Practical
 * Approach to Machine Unlearning"; docs/methods.md#first-epoch-gradient-ascent): undo the update each forget example
 * caused during fine-tuning, from the gradient recorded when it was seen,
 *
 *   theta <- theta + eta * sum_{i in F} sum_{e in epochs} s_{i,e} * g_{i,e}
 *
 * with g_{i,e} the gradient of example i's own mean token loss at the parameters it met in epoch e
 * and s_{i,e} the optimiser's step scale at that step:
 *
 *   SGD (ggml: w <- w (1 - lr wd) - lr g_batch): s = lr * w_i, with w_i = n_i / n the example's
 *     weight in its batch gradient (token share; lr / batch size when all examples have the same
 *     length, as docs/methods.md#first-epoch-gradient-ascent writes it). The recorded update was -lr * sum_b w_b g_b, so eta = 1
 *     reverses example i's part of it exactly; a fine-tune of forget-only batches is undone to float
 *     rounding (test/unlearn/reversal.test.ts). Weight decay is not attributed to examples and is not
 *     reversed.
 *
 *   AdamW (ggml: w <- w (1 - lr wd) - lr_k m_hat_k / (sqrt(v_hat_k) + eps), m_hat_k = m_k / (1 - b1^k)):
 *     the per-element scale s_k = lr_k / (sqrt(v_hat_k) + eps) (docs/methods.md#first-epoch-gradient-ascent), recorded at every step k,
 *     with momentum taken into account. Step t's batch gradient enters every later m_k with weight
 *     (1 - b1) b1^(k - t), so with v_hat_k taken as recorded the total move it caused is
 *       C_t * g_t,   C_t = sum_{k >= t} (1 - b1) b1^(k - t) / (1 - b1^k) * s_k      (elementwise)
 *     (computed backwards over the recorded steps: R_t = s_t / (1 - b1^t) + b1 R_{t+1},
 *     C_t = (1 - b1) R_t). The forget examples of step t contribute D_t = sum_{i in F at t} w_i g_i
 *     to g_t, and the reversal adds C_t * D_t. For a fine-tune whose batches are all forget examples
 *     this is the exact inverse of the recorded AdamW updates (the test checks it). Momentum carried
 *     past the last recorded step (first-epoch: into epoch 2) is not reversed.
 *     Where the forget part of a batch gradient is large but cancelled by the rest of the batch,
 *     v_hat (an average of squared *batch* gradients) is tiny and C_t D_t huge: the share of an
 *     update one cannot attribute to examples. So each step's reversal is clipped elementwise to
 *     +-rho * sum_k (1 - b1) b1^(k - t) / (1 - b1^k) lr_k, the most AdamW can move a parameter
 *     for one step's gradient, rho = max(1, (1 - b1) / sqrt(1 - b2)) (Kingma and Ba 2015, sec. 2.1:
 *     |m_hat / sqrt(v_hat)| <= rho). Without it, eta = 1 on a 40-fact fine-tune (forget and retain
 *     mixed in batches) raised every set's perplexity to 1e127. The clipped fraction of elements is
 *     reported in the settings. Reading all recorded step scales is one pass over steps-<e>.bin.
 *
 * The change is restricted to the parameter filter; the filter's tensors must have been recorded.
 *
 * Records of linear layers in factored form (src/train/factored.ts: an example's x_t and dy_t, with
 * G = sum_t x_t dy_t^T) are summed without expanding them one by one: every factored term of a
 * tensor in a sum (SGD: all forget records; AdamW: one step's) is stacked, and the sum is one matrix
 * product on the engine (outerSums), X^T (C DY) with C the terms' coefficients.
 */
import { UserError } from '../util/errors.ts';
import type { GradRecordReader, RecordEntry } from '../train/gradRecord.ts';
import type { ExampleGrad } from '../model/perExample.ts';
import { addRows, isFactored, outerSums, type OuterTerm } from '../model/factored.ts';
import { addScaled, applyDeltas, type Deltas } from './deltas.ts';
import type { UnlearnContext, UnlearnOutcome } from './types.ts';

/** Factor bytes held before a GradientSum multiplies them out. */
const PENDING_BYTES = 256 * 2 ** 20;

/**
 * sum_j c_j g_j per tensor into `into` (dense arrays of the tensors' sizes): dense and sparse
 * records are added as they come, factored ones (their rows part at once) are held and multiplied
 * out together on the engine when ~256 MiB of factors are pending and at flush().
 */
class GradientSum {
  private pending = new Map<string, { dIn: number; dOut: number; terms: OuterTerm[] }>();
  private pendingBytes = 0;

  constructor(readonly into: Deltas) {}

  add(name: string, g: ExampleGrad, coef: number): void {
    const acc = this.into.get(name);
    if (!acc) throw new Error(`GradientSum: no accumulator for ${name}`);
    if (!isFactored(g)) return addScaled(acc, g, coef);
    if (g.rows) addRows(acc, g.rows, coef);
    if (g.nTok === 0 || coef === 0) return;
    let p = this.pending.get(name);
    if (!p) this.pending.set(name, (p = { dIn: g.dIn, dOut: g.dOut, terms: [] }));
    p.terms.push({ x: g.x, dy: g.dy, nTok: g.nTok, coef });
    this.pendingBytes += 4 * (g.x.length + g.dy.length);
    if (this.pendingBytes > PENDING_BYTES) this.flush();
  }

  /** Multiply out what is pending (one engine graph) and add it to the accumulators. */
  flush(): void {
    if (this.pending.size === 0) return;
    const names = [...this.pending.keys()];
    const sums = outerSums(names.map((n) => this.pending.get(n)!));
    names.forEach((n, i) => {
      const acc = this.into.get(n)!;
      const s = sums[i]!;
      for (let k = 0; k < acc.length; k++) acc[k] = acc[k]! + s[k]!;
    });
    this.pending.clear();
    this.pendingBytes = 0;
  }
}

function requireRecord(ctx: UnlearnContext, which: 'first-epoch' | 'all-epochs'): GradRecordReader {
  const rec = ctx.source.record;
  if (!rec) {
    throw new UserError(
      `${ctx.source.dir ?? ctx.source.checkpoint} has no gradient record; stored-gradient methods need a fine-tune run folder made with --record ${which}`,
    );
  }
  const recorded = new Set(rec.index.tensors.map((t) => t.name));
  const missing = ctx.tensors.filter((t) => !recorded.has(t));
  if (missing.length) {
    throw new UserError(
      `the gradient record holds ${recorded.size} tensors but layer target '${ctx.filter}' asks for ${missing.length} that were not recorded (${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', ...' : ''}); choose a target within the record's filter`,
    );
  }
  return rec;
}

export function storedGradientAscent(ctx: UnlearnContext, method: string, which: 'first-epoch' | 'all-epochs'): UnlearnOutcome {
  const t0 = performance.now();
  const rec = requireRecord(ctx, which);
  const epochs = which === 'first-epoch' ? [1] : rec.index.epochs;
  if (!epochs.includes(1)) throw new UserError(`the gradient record of ${rec.dir} has no epoch 1`);
  if (which === 'all-epochs') {
    const trained = ctx.source.options?.epochs;
    if (trained !== undefined && epochs.length < trained) {
      throw new UserError(
        `the gradient record holds epoch(s) ${epochs.join(', ')} of a ${trained}-epoch fine-tune; all-epochs ascent needs a run made with --record all-epochs`,
      );
    }
  }
  const { eta } = ctx.hyper;
  if (!Number.isFinite(eta)) throw new UserError(`--eta must be a number, got ${eta}`);
  const sgd = rec.index.optimizer === 'sgd';
  const wanted = new Set(ctx.tensors);
  const sizeOf = (n: string) => ctx.work.weights.get(n)!.data.length;
  const deltas: Deltas = new Map(ctx.tensors.map((n) => [n, new Float32Array(sizeOf(n))]));
  const entries: RecordEntry[] = [];
  for (const ex of ctx.forget) for (const e of epochs) entries.push(rec.entry(ex.id, e));
  entries.sort((a, b) => b.step - a.step || (a.id < b.id ? -1 : 1));
  const log: UnlearnOutcome['log'] = entries.map((e) => ({ id: e.id, epoch: e.epoch, step: e.step, lr: rec.step(e.step).lr, batchWeight: e.batchWeight }));
  let done = 0;
  const progress = () => ctx.onProgress?.({ method, step: ++done, total: entries.length });
  if (sgd) {
    const sum = new GradientSum(deltas);
    for (const entry of entries) {
      const lr = rec.step(entry.step).lr;
      for (const [name, g] of rec.read(entry.id, entry.epoch)) if (wanted.has(name)) sum.add(name, g, eta * lr * entry.batchWeight);
      progress();
    }
    sum.flush();
    applyDeltas(ctx.work, deltas);
    return { method, tensors: ctx.tensors, deltas, settings: { eta, epochs: epochs.join(','), optimizer: 'sgd', recordDtype: rec.index.dtype, examples: ctx.forget.length, records: entries.length }, log, seconds: (performance.now() - t0) / 1000 };
  }
  // AdamW: walk the recorded steps backwards, keeping R_t = s_t / (1 - b1^t) + b1 R_{t+1} and the
  // scalar L_t = lr_t / (1 - b1^t) + b1 L_{t+1} (its clip bound), and reverse each step's forget part.
  const b1 = rec.index.adam?.beta1 ?? 0.9;
  const b2 = rec.index.adam?.beta2 ?? 0.999;
  const rho = Math.max(1, (1 - b1) / Math.sqrt(1 - b2));
  const recordedEpochs = new Set(epochs);
  const steps = rec.index.steps.filter((s) => recordedEpochs.has(s.epoch)).sort((a, b) => b.step - a.step);
  const R = new Map(ctx.tensors.map((n) => [n, new Float64Array(sizeOf(n))]));
  let L = 0;
  let prevStep = Infinity;
  let clipped = 0;
  let elements = 0;
  let k = 0;
  for (const st of steps) {
    // momentum does not carry across a gap in the recorded steps (e.g. an unrecorded epoch)
    const carry = st.step === prevStep - 1 ? b1 : 0;
    prevStep = st.step;
    const bc = 1 / (1 - b1 ** st.step);
    const scales = rec.stepScales(st.step)!;
    for (const n of ctx.tensors) {
      const r = R.get(n)!;
      const sc = scales.get(n)!;
      for (let i = 0; i < r.length; i++) r[i] = sc[i]! * bc + carry * r[i]!;
    }
    L = st.lr * bc + carry * L;
    const here: RecordEntry[] = [];
    while (k < entries.length && entries[k]!.step === st.step) here.push(entries[k++]!);
    if (!here.length) continue;
    const limit = rho * (1 - b1) * L;
    // D_t = sum_{i in F at t} w_i g_i for every tensor (factored records multiplied out together)
    const Ds: Deltas = new Map(ctx.tensors.map((n) => [n, new Float32Array(sizeOf(n))]));
    const sum = new GradientSum(Ds);
    for (const entry of here) {
      const g = rec.read(entry.id, entry.epoch);
      for (const n of ctx.tensors) sum.add(n, g.get(n)!, entry.batchWeight);
    }
    sum.flush();
    for (const n of ctx.tensors) {
      const D = Ds.get(n)!;
      const r = R.get(n)!;
      const acc = deltas.get(n)!;
      for (let i = 0; i < D.length; i++) {
        if (D[i] === 0) continue;
        let x = (1 - b1) * r[i]! * D[i]!;
        elements++;
        if (x > limit) {
          x = limit;
          clipped++;
        } else if (x < -limit) {
          x = -limit;
          clipped++;
        }
        acc[i] = acc[i]! + eta * x;
      }
    }
    for (const _ of here) progress();
  }
  if (k < entries.length) throw new UserError(`${rec.dir}: no AdamW step scales recorded for step ${entries[k]!.step}`);
  applyDeltas(ctx.work, deltas);
  return {
    method,
    tensors: ctx.tensors,
    deltas,
    settings: { eta, epochs: epochs.join(','), optimizer: 'adamw', recordDtype: rec.index.dtype, examples: ctx.forget.length, records: entries.length, clipRho: rho, clippedFraction: elements ? clipped / elements : 0 },
    log,
    seconds: (performance.now() - t0) / 1000,
  };
}
