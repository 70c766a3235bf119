/**
 * Iterative removal (Zagardo 2024, "iterative removal approach"; docs/methods.md#removal-strategies): unlearn the
 * forget examples one at a time (or in small groups), re-measure after every iteration, and stop for
 * each example once its criterion holds, so that no example is pushed further than needed:
 *
 *   target = mean per-item NLL of the holdout set under the model before unlearning
 *            (the loss of facts the model never saw; or a number given by the caller)
 *   for each group G of `groupSize` forget examples:
 *     active = G
 *     repeat up to maxIterations: run the method on `active` (one call: e.g. one stored-gradient
 *       reversal, or one pass of gradient ascent), score every example of G, log it, and drop from
 *       `active` each example whose mean NLL >= target
 *
 * Any registered method can be the step (stored-gradient methods re-apply the recorded reversal
 * each iteration). NPO's reference stays the model before unlearning. Every iteration is logged
 * (ids, losses, which reached the target, seconds).
 */
import { UserError } from '../util/errors.ts';
import { scoreSequences } from '../eval/perplexity.ts';
import { resolveHyper } from './registry.ts';
import { snapshot, diffSince } from './deltas.ts';
import type { Example, UnlearnContext, UnlearnHyper, UnlearnMethod } from './types.ts';

export interface IterativeOptions {
  /** Forget examples per group (default 1). */
  groupSize?: number;
  /** Method calls per group at most (default 10). */
  maxIterations?: number;
  /** The stopping level of mean NLL; default: the holdout set's mean per-item NLL at the start. */
  target?: number;
  /** Holdout examples (needed unless `target` is given). */
  holdout?: Example[];
  /** Hyper-parameters as the user gave them (steps default per call: one pass over the active examples). */
  hyper?: Partial<UnlearnHyper>;
}

export interface IterationLog {
  group: number;
  iteration: number;
  /** Examples the method ran on in this iteration. */
  active: string[];
  /** Mean NLL of every example of the group after this iteration. */
  nll: Record<string, number>;
  /** Examples that reached the target in this iteration. */
  reached: string[];
  seconds: number;
}

export interface IterativeResult {
  target: number;
  targetSource: 'holdout' | 'given';
  groups: number;
  /**
   * Per forget example: NLL before, when its group stopped, and at the end (later groups move the
   * model too), iterations it was active, whether it reached the target in its group and at the end.
   */
  perExample: Array<{ id: string; nllBefore: number; nllAtStop: number; nllAfter: number; iterations: number; reached: boolean; atTargetAtEnd: boolean }>;
  log: IterationLog[];
  /** The total change (after - before) on the filtered tensors. */
  deltas: Map<string, Float32Array>;
  methodCalls: number;
  seconds: number;
}

export function iterativeRemoval(method: UnlearnMethod, ctx: UnlearnContext, o: IterativeOptions = {}): IterativeResult {
  const t0 = performance.now();
  const groupSize = o.groupSize ?? 1;
  const maxIterations = o.maxIterations ?? 10;
  if (!Number.isInteger(groupSize) || groupSize < 1) throw new UserError(`--group-size must be a positive integer, got ${groupSize}`);
  if (!Number.isInteger(maxIterations) || maxIterations < 1) throw new UserError(`--max-iterations must be a positive integer, got ${maxIterations}`);
  let target: number;
  let targetSource: IterativeResult['targetSource'];
  if (o.target !== undefined) {
    if (!Number.isFinite(o.target)) throw new UserError(`--stop-nll must be a number, got ${o.target}`);
    target = o.target;
    targetSource = 'given';
  } else {
    if (!o.holdout?.length) throw new UserError('iterative removal stops each example at the holdout set\'s mean NLL, and this dataset has no holdout split: give the level with --stop-nll X (a mean NLL per token), or add a holdout split to the dataset');
    const h = scoreSequences(ctx.pool.model, o.holdout, 8, ctx.pool).items;
    target = h.reduce((a, s) => a + s.meanNll, 0) / h.length;
    targetSource = 'holdout';
  }
  const all = ctx.forget;
  const start = new Map(scoreSequences(ctx.pool.model, all, 8, ctx.pool).items.map((s) => [s.id, s]));
  ctx.refLogLik = new Map([...start].map(([id, s]) => [id, s.sumLogprob]));
  const before = snapshot(ctx.work, ctx.tensors);
  const iterations = new Map(all.map((e) => [e.id, 0]));
  const finalNll = new Map(all.map((e) => [e.id, start.get(e.id)!.meanNll]));
  const reached = new Set(all.filter((e) => start.get(e.id)!.meanNll >= target).map((e) => e.id));
  const log: IterationLog[] = [];
  let calls = 0;
  const groups = Math.ceil(all.length / groupSize);
  for (let g = 0; g < groups; g++) {
    const group = all.slice(g * groupSize, (g + 1) * groupSize);
    let active = group.filter((e) => !reached.has(e.id));
    for (let it = 1; it <= maxIterations && active.length > 0; it++) {
      const ti = performance.now();
      ctx.forget = active;
      ctx.hyper = resolveHyper(o.hyper ?? {}, ctx.source, active.length, method.name);
      method.run(ctx);
      calls++;
      for (const e of active) iterations.set(e.id, iterations.get(e.id)! + 1);
      const scores = scoreSequences(ctx.pool.model, group, 8, ctx.pool).items;
      const nll: Record<string, number> = {};
      const now: string[] = [];
      for (const s of scores) {
        nll[s.id] = s.meanNll;
        finalNll.set(s.id, s.meanNll);
        if (!reached.has(s.id) && s.meanNll >= target) {
          reached.add(s.id);
          now.push(s.id);
        }
      }
      log.push({ group: g + 1, iteration: it, active: active.map((e) => e.id), nll, reached: now, seconds: (performance.now() - ti) / 1000 });
      ctx.onProgress?.({ method: `iterative/${method.name}`, step: g + 1, total: groups, note: `group ${g + 1} iteration ${it}: ${reached.size}/${all.length} at target` });
      active = active.filter((e) => !reached.has(e.id));
    }
  }
  ctx.forget = all;
  // later groups move the model too: the final losses are measured once more at the end
  const end = new Map(scoreSequences(ctx.pool.model, all, 8, ctx.pool).items.map((s) => [s.id, s.meanNll]));
  return {
    target,
    targetSource,
    groups,
    perExample: all.map((e) => ({
      id: e.id,
      nllBefore: start.get(e.id)!.meanNll,
      nllAtStop: finalNll.get(e.id)!,
      nllAfter: end.get(e.id)!,
      iterations: iterations.get(e.id)!,
      reached: reached.has(e.id),
      atTargetAtEnd: end.get(e.id)! >= target,
    })),
    log,
    deltas: diffSince(ctx.work, before),
    methodCalls: calls,
    seconds: (performance.now() - t0) / 1000,
  };
}
