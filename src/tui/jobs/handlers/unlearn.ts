/**
 * `unlearn` job: the compare-targets action (src/actions/compareTargets.ts, what `unlearnkit
 * compare-targets --adapters-dir` runs): one `runUnlearn` per layer target, the function
 * `unlearnkit unlearn` calls, so each target writes the same adapters/<run-id>/ folder
 * (adapter.gguf, meta.json, result.json, report.md) as the CLI. With several targets the rows are
 * combined (Holm's correction across the targets per set, the Pareto front, the recommendation)
 * and written in compare-targets' format to reports/unlearn/compare-targets-<time>/, so the
 * Compare screen and the CLI read the same file.
 *
 * While a target runs, forget / retain perplexity (and ROUGE) are measured on the current weights
 * at intervals by src/eval/interval.ts's evaluator: runUnlearn's progress callback receives the
 * unlearning context, whose `work` holds the weights being changed.
 *
 * Cancelling throws from the progress callback: runUnlearn writes its adapter only after the method
 * and the measurement finish (atomically), so the interrupted target leaves nothing; finished
 * targets keep their adapters.
 */
import path from 'node:path';
import { prepare } from '../../../unlearn/prepare.ts';
import type { CausalLM } from '../../../model/model.ts';
import type { UnlearnRunResult } from '../../../unlearn/run.ts';
import type { UnlearnHyper } from '../../../unlearn/types.ts';
import { compareTargetsAction, defaultCompareTargetsDir } from '../../../actions/compareTargets.ts';
import { makeIntervalEvaluator, type IntervalPoint } from '../../../eval/interval.ts';
import { UserError } from '../../../util/errors.ts';
import { checkOption, UNLEARN, UNLEARN_DATA, UNLEARN_HYPER } from '../../../options/index.ts';
import { JobCancelled } from '../cancel.ts';
import { compareViewFromRows } from '../../lib/compare.ts';
import type { UnlearnRunView } from '../protocol.ts';
import type { Handler } from './index.ts';

/** Interval points per target when "eval every" is 0 (auto). */
const AUTO_POINTS = 10;

/** The numbers the screen plots from an interval point. */
function pointMetrics(p: IntervalPoint): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [s, v] of Object.entries(p.perplexity)) if (v !== undefined) out[`${s} ppl`] = v;
  for (const [s, v] of Object.entries(p.rouge)) if (v) out[`${s} rougeL`] = v.rougeL;
  return out;
}

function beforeAfter(r: UnlearnRunResult): UnlearnRunView['metrics'] {
  const out: UnlearnRunView['metrics'] = {};
  for (const s of r.comparison.sets) out[`${s.set} ppl`] = { before: s.perplexityBefore, after: s.perplexityAfter };
  for (const x of r.comparison.rouge) out[`${x.set} rougeL`] = { before: x.meanBefore, after: x.meanAfter };
  return out;
}

/** A cheap checksum of some weights (every 61st value, position-weighted), to see whether they moved. */
function fingerprint(m: CausalLM, tensors: string[]): number {
  let h = 0;
  for (const n of tensors) {
    const d = m.weights.get(n)?.data;
    if (!d) continue;
    for (let i = 0; i < d.length; i += 61) h += d[i]! * ((i % 13) + 1);
  }
  return h;
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
  // the settings the CLI declares, checked by the same validator before any work (steps 0 = the default)
  checkOption(UNLEARN_HYPER.eta, p.eta);
  if (p.steps !== 0) checkOption(UNLEARN_HYPER.steps, p.steps);
  if (p.eta === 'auto' && p.steps === 'auto') throw new UserError('only one step can be searched at a time: give "step size" or "steps" a number');
  checkOption(UNLEARN_DATA.seed, p.seed);
  checkOption(UNLEARN.strategy, p.strategy);
  if (!Number.isInteger(p.evalEvery) || p.evalEvery < 0) throw new UserError(`eval every: got ${p.evalEvery}; allowed: an integer >= 0 (0 = ${AUTO_POINTS} points)`);
  if (p.strategy === 'fuzzy' && !('request' in p.forget)) throw new UserError('strategy fuzzy needs a removal request: type one on the Data tab (2, then /)');
  const adaptersDir = p.adaptersDir ?? 'adapters';
  const request = 'request' in p.forget ? p.forget.request : undefined;
  emit({ kind: 'phase', text: 'loading the run, its model and the data' });
  const prepared = prepare({ from: p.from, data: p.data, forget: 'split' in p.forget ? p.forget.split : undefined, request, rouge: p.rouge, seed: p.seed });
  check();
  const hyper: Partial<UnlearnHyper> = { ...(p.eta !== 'auto' ? { eta: p.eta } : {}), ...(typeof p.steps === 'number' && p.steps > 0 ? { steps: p.steps } : {}) };
  const search = p.eta === 'auto' ? 'eta' : p.steps === 'auto' ? 'steps' : undefined;
  // Per target: an interval evaluator on the weights being changed, fed by the progress callback.
  let ev: ReturnType<typeof makeIntervalEvaluator> | undefined;
  let every = 0;
  let work: CausalLM | undefined;
  let lastStep = 0;
  let lastPrint: number | undefined;
  const multi = p.targets.length > 1;
  const { comparison: tc, runs: results, files } = await compareTargetsAction({
    from: p.from,
    data: p.data,
    request,
    rouge: p.rouge,
    seed: p.seed,
    prepared,
    method: p.method,
    targets: p.targets,
    strategy: p.strategy,
    hyper,
    search,
    adaptersDir,
    // the comparison `unlearnkit compare-targets` writes, in its format, when several targets ran
    out: multi ? defaultCompareTargetsDir() : undefined,
    quiet: true,
    onTarget: (target, i, n) => {
      check();
      emit({ kind: 'phase', text: `target ${i + 1}/${n}: ${target} (${p.method}, ${p.strategy})`, target });
      ev = makeIntervalEvaluator({
        data: prepared.dataset,
        metrics: p.rouge ? ['perplexity', 'rouge'] : ['perplexity'],
        splits: ['forget', 'retain'],
        limit: 16,
        maxNewTokens: 16,
        tokenizer: prepared.tokenizer,
        onPoint: (pt) => emit({ kind: 'eval', target, step: pt.step, metrics: pointMetrics(pt) }),
      });
      ev(prepared.model, 0, { force: true });
      every = p.evalEvery;
      work = undefined;
      lastStep = 0;
      lastPrint = undefined;
    },
    onProgress: (target, e, ctx) => {
      emit({ kind: 'step', target, step: e.step, steps: e.total });
      check();
      lastStep = e.step;
      work = ctx.work;
      if (every <= 0) every = Math.max(1, Math.ceil(e.total / AUTO_POINTS));
      // A point only where the weights moved: stored-gradient ascent sums the reversal and applies
      // it once at the end, so its intermediate steps have nothing new to measure.
      if (e.step % every === 0 && e.step < e.total) {
        lastPrint ??= fingerprint(prepared.model, ctx.tensors);
        const fp = fingerprint(ctx.work, ctx.tensors);
        if (fp !== lastPrint) {
          lastPrint = fp;
          ev?.(ctx.work, e.step, { force: true });
        }
      }
    },
    onTargetDone: (target, r) => {
      // The last point: the working weights as the method left them (runUnlearn has returned).
      if (work) ev?.(work, Math.max(1, lastStep), { force: true });
      done.push({ target, runId: r.runId, adapterDir: r.adapter ? path.relative(process.cwd(), r.adapter.dir) || r.adapter.dir : null, metrics: beforeAfter(r) });
    },
  });
  const rows = tc.rows.map((row, i) => ({ target: row.target, runId: results[i]!.runId, comparison: row.comparison, holmP: row.holmP }));
  return { method: p.method, runs: done, comparison: compareViewFromRows(p.method, rows, files?.json) };
};
