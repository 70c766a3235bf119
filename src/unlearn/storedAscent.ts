/**
 * Stored-gradient ascent, the core of the first-epoch method (Zagardo 2024, "A More Practical
 * Approach to Machine Unlearning"; methods.md section 1): undo the update each forget example
 * caused during fine-tuning, from the gradient recorded when it was seen,
 *
 *   theta <- theta + eta * sum_{i in F} sum_{e in epochs} s_{i,e} * g_{i,e}
 *
 * with g_{i,e} the gradient of example i's own mean token loss at the parameters it met in epoch e
 * and s_{i,e} the optimiser's step scale at that step:
 *   SGD:   s = lr * w_i, with w_i = n_i / n the example's weight in its batch gradient (token share;
 *          lr / batch size when all examples have the same length, as methods.md writes it). The
 *          recorded SGD update was -lr * sum_b w_b g_b, so eta = 1 reverses example i's part of it
 *          exactly; a fine-tune of forget-only batches is then undone to float rounding
 *          (test/unlearn/reversal.test.ts). Weight decay is not attributed to examples and is not
 *          reversed.
 *   AdamW: s = w_i * lr / (sqrt(v_hat) + eps) per element, the recorded step scale. AdamW's update
 *          is lr * m_hat / (sqrt(v_hat) + eps), and m_hat mixes this step's gradient with earlier
 *          ones (momentum), so treating the step as scale * g reverses the update only
 *          approximately: the part that momentum carried into later steps is not undone, and m_hat's
 *          bias correction (1 - beta1) / (1 - beta1^t) is taken as 1 (summed over the later steps that
 *          momentum carries it into, the coefficients of g_t add up to about 1, so scale * g is the
 *          step's whole effect when v_hat changes slowly).
 *          One example's share can be far larger than the step itself: where its gradient and another
 *          example's cancel in the batch gradient, v_hat (an average of squared *batch* gradients) is
 *          tiny and lr / sqrt(v_hat) huge (on a 40-fact fine-tune, unclipped eta = 1 ascent raised
 *          every set's perplexity to 1e127). So each example's per-element reversal is clipped to
 *          [-eta lr, eta lr], the size of one AdamW step for a steady gradient (|m_hat| <= sqrt(v_hat));
 *          how many elements were clipped is reported in the settings.
 * The change is restricted to the parameter filter; the filter's tensors must have been recorded.
 */
import { UserError } from '../util/errors.ts';
import type { GradRecordReader, RecordEntry } from '../train/gradRecord.ts';
import { isSparse } from '../train/perExample.ts';
import { addScaled, addScaledElementwise, applyDeltas, type Deltas } from './deltas.ts';
import type { UnlearnContext, UnlearnOutcome } from './types.ts';

export function requireRecord(ctx: UnlearnContext, which: 'first-epoch' | 'all-epochs'): GradRecordReader {
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
  const deltas: Deltas = new Map(ctx.tensors.map((n) => [n, new Float32Array(ctx.work.weights.get(n)!.data.length)]));
  // Read in step order so that each step's AdamW scales are loaded once.
  const entries: RecordEntry[] = [];
  for (const ex of ctx.forget) for (const e of epochs) entries.push(rec.entry(ex.id, e));
  entries.sort((a, b) => a.step - b.step);
  let scalesStep = -1;
  let scales: Map<string, Float32Array> | null = null;
  let clipped = 0;
  let elements = 0;
  const log: UnlearnOutcome['log'] = [];
  entries.forEach((entry, k) => {
    const step = rec.step(entry.step);
    const grads = rec.read(entry.id, entry.epoch);
    if (!sgd && scalesStep !== entry.step) {
      scales = rec.stepScales(entry.step);
      scalesStep = entry.step;
    }
    for (const [name, g] of grads) {
      if (!wanted.has(name)) continue;
      const acc = deltas.get(name)!;
      if (sgd) addScaled(acc, g, eta * step.lr * entry.batchWeight);
      else {
        clipped += addScaledElementwise(acc, g, scales!.get(name)!, eta * entry.batchWeight, Math.abs(eta) * step.lr);
        elements += isSparse(g) ? g.values.length : g.length;
      }
    }
    log.push({ id: entry.id, epoch: entry.epoch, step: entry.step, lr: step.lr, batchWeight: entry.batchWeight });
    ctx.onProgress?.({ method, step: k + 1, total: entries.length, note: entry.id });
  });
  applyDeltas(ctx.work, deltas);
  return {
    method,
    tensors: ctx.tensors,
    deltas,
    settings: {
      eta,
      epochs: epochs.join(','),
      optimizer: rec.index.optimizer,
      recordDtype: rec.index.dtype,
      examples: ctx.forget.length,
      records: entries.length,
      ...(sgd ? {} : { clippedFraction: elements ? clipped / elements : 0 }),
    },
    log,
    seconds: (performance.now() - t0) / 1000,
  };
}
