/**
 * Sequential requests (the paper's open question on long-term stability after many unlearning
 * operations): apply several unlearning requests one after another, each starting from the previous
 * result, and measure after every request how the retain, holdout and general sets drift from the
 * fine-tuned model, and how well each request's own examples stay forgotten.
 *
 * Drift at step k, per set: mean per-item NLL change from step 0 (the fine-tuned model), perplexity
 * ratio, and a paired t-test of per-item NLL (step k vs step 0).
 */
import { pairedById, type PairedComparison } from '../stats/paired.ts';
import { measure, type Measurement } from './measure.ts';
import { makeContext, type Prepared } from './prepare.ts';
import { deltaNorms, addDeltas, type Deltas } from './deltas.ts';
import type { CausalLM } from '../model/model.ts';
import type { Example, UnlearnHyper } from './types.ts';
import { heading, table, toMarkdown } from '../report/document.ts';

export interface SequentialRequest {
  name: string;
  forget: Example[];
}

export interface SetDrift {
  set: string;
  meanNll: number;
  perplexity: number;
  /** Mean per-item NLL change from step 0. */
  nllChange: number;
  perplexityRatio: number;
  /** Paired comparison of per-item NLL, step k (after) vs step 0 (before), paired by item id. */
  test: PairedComparison | null;
}

export interface SequentialStep {
  step: number;
  request: string;
  forgetCount: number;
  seconds: number;
  deltaNorm: number;
  drift: SetDrift[];
  /** Mean NLL of each request's examples so far (earlier ones: do they stay forgotten?). */
  requests: Record<string, number>;
}

export interface SequentialResult {
  method: string;
  filter: string;
  steps: SequentialStep[];
  /** The total change of all requests (for an adapter). */
  deltas: Deltas;
  model: CausalLM;
}

function meanNllOf(m: Measurement, set: string): number {
  return m.sets[set]?.meanNll ?? NaN;
}

export function sequentialUnlearn(
  p: Prepared,
  o: { method: string; filter?: string; hyper?: Partial<UnlearnHyper>; requests: SequentialRequest[]; quiet?: boolean; onStep?: (s: SequentialStep) => void; /** The model at step 0 and after each request (`--eval-every`). */ onModel?: (model: CausalLM, step: number) => void },
): SequentialResult {
  const sets = { ...p.evalSets.sets };
  for (const r of o.requests) sets[`request:${r.name}`] = r.forget;
  const ev = { sets };
  const m0: Measurement = measure(p.model, ev);
  const driftOf = (m: Measurement): SetDrift[] =>
    Object.keys(p.evalSets.sets).map((set) => {
      const a = m.sets[set]!;
      const b = m0.sets[set]!;
      const test = pairedById({ ids: b.ids, values: b.nll }, { ids: a.ids, values: a.nll });
      return {
        set,
        meanNll: a.meanNll,
        perplexity: a.perplexity,
        nllChange: a.nll.reduce((s, v, i) => s + v - b.nll[i]!, 0) / a.nll.length,
        perplexityRatio: a.perplexity / b.perplexity,
        test: test && Number.isFinite(test.p) ? test : null,
      };
    });
  const reqNll = (m: Measurement) => Object.fromEntries(o.requests.map((r) => [r.name, meanNllOf(m, `request:${r.name}`)]));
  const steps: SequentialStep[] = [{ step: 0, request: '(fine-tuned)', forgetCount: 0, seconds: 0, deltaNorm: 0, drift: driftOf(m0), requests: reqNll(m0) }];
  let model: CausalLM = p.model;
  o.onModel?.(model, 0);
  let total: Deltas = new Map();
  o.requests.forEach((r, i) => {
    const { method, ctx } = makeContext(p, { method: o.method, filter: o.filter, hyper: o.hyper, forget: r.forget, start: model, quiet: o.quiet });
    try {
      const out = method.run(ctx);
      const m = measure(ctx.work, ev);
      total = addDeltas(total, out.deltas);
      model = ctx.work;
      const s: SequentialStep = { step: i + 1, request: r.name, forgetCount: r.forget.length, seconds: out.seconds, deltaNorm: deltaNorms(out.deltas).total, drift: driftOf(m), requests: reqNll(m) };
      steps.push(s);
      o.onStep?.(s);
      o.onModel?.(ctx.work, i + 1);
    } finally {
      ctx.pool.dispose();
    }
  });
  return { method: o.method, filter: o.filter ?? 'all', steps, deltas: total, model };
}

/** Markdown: one row per step, the drift of each set and each request's mean NLL (report/document.ts renders it). */
export function sequentialMarkdown(r: SequentialResult): string {
  const sets = r.steps[0]!.drift.map((d) => d.set);
  const reqs = Object.keys(r.steps[0]!.requests);
  const head = ['step', 'request', 'n', ...sets.map((s) => `${s} ppl (x)`), ...reqs.map((q) => `NLL ${q}`)];
  const rows = r.steps.map((s) => [String(s.step), s.request, String(s.forgetCount), ...s.drift.map((d) => `${d.perplexity.toFixed(2)} (x${d.perplexityRatio.toFixed(3)})`), ...reqs.map((q) => s.requests[q]!.toFixed(3))]);
  return toMarkdown([heading(1, `Sequential unlearning with ${r.method} on ${r.filter}`), table({ head, rows })]);
}
