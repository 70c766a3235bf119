/**
 * `unlearn` job: unlearn the forget set from a fine-tuning run with one method under one or more
 * layer targets, as `unlearnkit unlearn` / `unlearnkit compare-targets` do, through the same
 * library calls (src/unlearn: prepare, makeContext, the method or iterative removal, measure,
 * compareMeasurements, writeUnlearnAdapter; Holm's correction across targets from src/stats).
 *
 * While a target runs, the forget and retain sets (16 items each) are re-measured every `evalEvery`
 * method steps on a separate graph pool over the working weights, so the screen can plot
 * perplexity and ROUGE as they move. Cancelling stops at the next step: the unfinished target
 * writes nothing (adapters are published atomically, and only after the run); finished targets
 * keep their adapters.
 */
import path from 'node:path';
import { prepare, makeContext, type Prepared } from '../../../unlearn/prepare.ts';
import { measure, compareMeasurements, type Comparison, type EvalSets, type Measurement } from '../../../unlearn/measure.ts';
import { iterativeRemoval } from '../../../unlearn/iterative.ts';
import { writeUnlearnAdapter, makeRunId } from '../../../unlearn/adapter.ts';
import { SessionPool } from '../../../unlearn/sessions.ts';
import { holm } from '../../../stats/index.ts';
import { UserError } from '../../../util/errors.ts';
import { JobCancelled } from '../cancel.ts';
import { compareViewFromRows, type TargetRowLike } from '../../lib/compare.ts';
import type { UnlearnRunView } from '../protocol.ts';
import type { Handler } from './index.ts';

const INTERVAL_ITEMS = 16;

function intervalSets(p: Prepared, rouge: boolean): EvalSets {
  const sets: EvalSets['sets'] = {};
  for (const s of ['forget', 'retain'] as const) if (p.evalSets.sets[s]?.length) sets[s] = p.evalSets.sets[s]!.slice(0, INTERVAL_ITEMS);
  const qa = rouge && p.evalSets.qa ? Object.fromEntries(Object.entries(p.evalSets.qa).map(([k, v]) => [k, v.slice(0, INTERVAL_ITEMS)])) : undefined;
  return { sets, qa };
}

/** The numbers the screen plots: perplexity and mean ROUGE-L of each measured set. */
export function headline(m: Measurement): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m.sets)) out[`${k} ppl`] = v.perplexity;
  for (const [k, v] of Object.entries(m.rouge ?? {})) out[`${k} rougeL`] = v.meanRougeL;
  return out;
}

function beforeAfter(c: Comparison): UnlearnRunView['metrics'] {
  const out: UnlearnRunView['metrics'] = {};
  for (const s of c.sets) out[`${s.set} ppl`] = { before: s.perplexityBefore, after: s.perplexityAfter };
  for (const r of c.rouge) out[`${r.set} rougeL`] = { before: r.meanBefore, after: r.meanAfter };
  return out;
}

export const run: Handler<'unlearn'> = async (p, { signal, emit }) => {
  const done: UnlearnRunView[] = [];
  const check = () => {
    if (signal.aborted) {
      throw new JobCancelled(
        done.length
          ? `unlearning cancelled; the unfinished target wrote nothing, finished ones kept their adapters (${done.map((d) => d.runId).join(', ')})`
          : 'unlearning cancelled; no adapter was written',
      );
    }
  };
  if (p.targets.length === 0) throw new UserError('choose at least one layer target (Enter on "targets")');
  if (p.strategy === 'fuzzy' && !('request' in p.forget)) throw new UserError('strategy fuzzy needs a removal request: type one on the Data tab (2, then /)');
  const adaptersDir = p.adaptersDir ?? 'adapters';
  emit({ kind: 'phase', text: 'loading the run, its model and the data' });
  const prep = prepare({
    from: p.from,
    data: p.data,
    forget: 'split' in p.forget ? p.forget.split : undefined,
    request: 'request' in p.forget ? p.forget.request : undefined,
    rouge: p.rouge,
    seed: p.seed,
  });
  check();
  emit({ kind: 'phase', text: `measuring the fine-tuned model (${Object.keys(prep.evalSets.sets).join(', ')})` });
  const pool0 = new SessionPool(prep.model);
  let before: Measurement;
  try {
    before = measure(pool0, prep.evalSets, { tokenizer: prep.tokenizer });
  } finally {
    pool0.dispose();
  }
  check();
  const small = intervalSets(prep, p.rouge);
  const rows: TargetRowLike[] = [];
  for (const [i, target] of p.targets.entries()) {
    check();
    emit({ kind: 'phase', text: `target ${i + 1}/${p.targets.length}: ${target} (${p.method}, ${p.strategy})`, target });
    let evalPool: SessionPool | null = null;
    const evalNow = (step: number) => {
      evalPool ??= new SessionPool(ctx.work);
      emit({ kind: 'eval', target, step, metrics: headline(measure(evalPool, small, { tokenizer: prep.tokenizer, maxAnswerTokens: 16 })) });
    };
    let lastStep = 0;
    const hyper = { eta: p.eta, ...(p.steps > 0 ? { steps: p.steps } : {}) };
    const { method, ctx } = makeContext(prep, {
      method: p.method,
      filter: target,
      hyper,
      quiet: true,
      seed: p.seed,
      onProgress: (e) => {
        lastStep = e.step;
        emit({ kind: 'step', target, step: e.step, steps: e.total });
        check();
        if (p.evalEvery > 0 && e.step % p.evalEvery === 0 && e.step < e.total) evalNow(e.step);
      },
    });
    try {
      evalNow(0);
      let deltas: Map<string, Float32Array>;
      let settings: Record<string, unknown>;
      if (p.strategy === 'iterative') {
        const r = iterativeRemoval(method, ctx, { holdout: prep.evalSets.sets.holdout, hyper });
        deltas = r.deltas;
        settings = { ...ctx.hyper, target: r.target, groups: r.groups, methodCalls: r.methodCalls, reached: r.perExample.filter((x) => x.reached).length };
      } else {
        const out = method.run(ctx);
        deltas = out.deltas;
        settings = out.settings;
      }
      check();
      evalNow(Math.max(lastStep, 1));
      emit({ kind: 'phase', text: `target ${i + 1}/${p.targets.length}: ${target}: measuring`, target });
      const after = measure(ctx.pool, prep.evalSets, { tokenizer: prep.tokenizer });
      const comparison = compareMeasurements(before, after);
      check();
      const runId = makeRunId(p.method, target);
      const w = await writeUnlearnAdapter({
        adaptersDir,
        runId,
        baseCheckpoint: prep.source.checkpoint,
        baseSha256: prep.source.checkpointSha256,
        model: prep.model,
        deltas,
        meta: {
          method: p.method,
          strategy: p.strategy,
          filter: target,
          settings,
          request: 'request' in p.forget ? p.forget.request : undefined,
          selection: prep.selection ? { precision: prep.selection.report.precision, recall: prep.selection.report.recall, decoysCaught: prep.selection.report.decoys.caught } : undefined,
          metrics: beforeAfter(comparison),
          source: { run: prep.source.dir, checkpoint: prep.source.checkpoint },
          createdBy: 'unlearnkit tui',
        },
        forget: ctx.forget,
      });
      rows.push({ target, runId, comparison });
      done.push({ target, runId, adapterDir: path.relative(process.cwd(), w.dir) || w.dir, metrics: beforeAfter(comparison) });
    } finally {
      (evalPool as SessionPool | null)?.dispose();
      ctx.pool.dispose();
    }
  }
  // Holm's correction across the targets, per set (the family "which targets changed set X").
  const setNames = [...new Set(rows.flatMap((r) => r.comparison.sets.map((s) => s.set)))];
  for (const r of rows) r.holmP = {};
  for (const set of setNames) {
    const idx: number[] = [];
    const ps: number[] = [];
    rows.forEach((r, k) => {
      const t = r.comparison.sets.find((s) => s.set === set)?.test;
      if (t && Number.isFinite(t.p)) {
        idx.push(k);
        ps.push(t.p);
      }
    });
    if (ps.length) holm(ps).adjusted.forEach((adj, k) => (rows[idx[k]!]!.holmP![set] = adj));
  }
  return { method: p.method, runs: done, comparison: compareViewFromRows(p.method, rows) };
};
