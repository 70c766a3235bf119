/**
 * Influence of training examples on queries before and after unlearning (docs/methods.md#influence-scores:
 * "track the influence of forget examples on forget queries before and after each method; the
 * paper compares methods by paired t-tests on these scores"). For each influence method and each
 * unlearned model, every (query, train) pair is scored on the model before and after; the paired
 * t-test over pairs (after vs before) gives t, p, the 95% CI and Cohen's d_z / d_av, and Holm's
 * correction runs across the unlearned models compared. Pairs whose query and training example are
 * the same fact (the diagonal) are also tested on their own.
 */
import type { CausalLM } from '../model/model.ts';
import type { Example } from '../model/example.ts';
import { holmFamily, pairedComparison, type PairedComparison } from '../stats/paired.ts';
import { UserError } from '../util/errors.ts';
import { activationGradientScores, exampleFactors } from './actGrad.ts';
import { tracinScores } from './tracin.ts';
import { influenceFunctionScores } from './influenceFunction.ts';
import type { LissaOptions } from './hvp.ts';

export type InfluenceMethod = 'tracin' | 'actgrad' | 'if';
export const INFLUENCE_METHODS: InfluenceMethod[] = ['tracin', 'actgrad', 'if'];

export interface InfluencePair {
  query: string;
  train: string;
  /** The query and the training example are the same fact. */
  same: boolean;
}

export interface InfluenceTest {
  model: string;
  /** Every (query, train) pair, after vs before (ids `query|train`); its `pHolm` is Holm across the models. */
  all: PairedComparison | null;
  /** Holm-adjusted p of `all` across the models. */
  holmP: number | null;
  diagonal: PairedComparison | null;
}

export interface InfluenceComparison {
  tensors: string[];
  pairs: InfluencePair[];
  methods: Record<string, { before: number[]; after: Record<string, number[]>; tests: InfluenceTest[]; seconds: number }>;
}

function scoresFor(method: InfluenceMethod, model: CausalLM, tensors: string[], queries: Example[], train: Example[], o: { lr: number; lissa?: LissaOptions; batch?: number }): number[][] {
  if (method === 'tracin') return tracinScores([{ model, lr: o.lr }], tensors, queries, train, o.batch);
  if (method === 'actgrad') {
    const fq = exampleFactors(model, tensors, queries, o.batch);
    const ft = exampleFactors(model, tensors, train, o.batch);
    return activationGradientScores(model, tensors, fq, ft, o.lr);
  }
  if (method === 'if') return influenceFunctionScores(model, tensors, queries, train, { ...o.lissa, batch: o.batch }).scores;
  throw new UserError(`unknown influence method '${String(method)}'; use ${INFLUENCE_METHODS.join(', ')}`);
}

/** The paired comparison of after vs before over the pairs `ids`; null without a finite p. */
function safeTest(ids: string[], after: number[], before: number[]): PairedComparison | null {
  const r = pairedComparison(ids, before, after);
  return r && Number.isFinite(r.p) ? r : null;
}

/**
 * `queryOf[i]` names the fact of query i (to find the diagonal); train ids name their facts.
 */
export function influenceBeforeAfter(o: {
  before: CausalLM;
  afters: Array<{ name: string; model: CausalLM }>;
  tensors: string[];
  queries: Example[];
  queryFacts: string[];
  train: Example[];
  methods: InfluenceMethod[];
  lr?: number;
  lissa?: LissaOptions;
  batch?: number;
  onProgress?: (what: string) => void;
}): InfluenceComparison {
  const pairs: InfluencePair[] = [];
  o.queries.forEach((q, qi) => o.train.forEach((t) => pairs.push({ query: q.id, train: t.id, same: o.queryFacts[qi] === t.id })));
  const flat = (m: number[][]) => m.flatMap((r) => r);
  const methods: InfluenceComparison['methods'] = {};
  for (const m of o.methods) {
    const t0 = performance.now();
    o.onProgress?.(`${m}: before`);
    const args = { lr: o.lr ?? 1, lissa: o.lissa, batch: o.batch };
    const before = flat(scoresFor(m, o.before, o.tensors, o.queries, o.train, args));
    const after: Record<string, number[]> = {};
    for (const a of o.afters) {
      o.onProgress?.(`${m}: after ${a.name}`);
      after[a.name] = flat(scoresFor(m, a.model, o.tensors, o.queries, o.train, args));
    }
    const ids = pairs.map((p) => `${p.query}|${p.train}`);
    const diagIdx = pairs.map((p, i) => (p.same ? i : -1)).filter((i) => i >= 0);
    const tests: InfluenceTest[] = o.afters.map((a) => ({
      model: a.name,
      all: safeTest(ids, after[a.name]!, before),
      holmP: null,
      diagonal: safeTest(
        diagIdx.map((i) => ids[i]!),
        diagIdx.map((i) => after[a.name]![i]!),
        diagIdx.map((i) => before[i]!),
      ),
    }));
    holmFamily(tests.map((t) => t.all));
    for (const t of tests) t.holmP = t.all ? t.all.pHolm : null;
    methods[m] = { before, after, tests, seconds: (performance.now() - t0) / 1000 };
  }
  return { tensors: o.tensors, pairs, methods };
}
