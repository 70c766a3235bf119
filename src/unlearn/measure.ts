/**
 * Before/after measurements of an unlearning (docs/methods.md#metrics): per-item mean
 * next-token NLL on the forget (F), retain (R), holdout (H), general (G) and decoy sets, set
 * perplexity exp(token-weighted mean NLL), and optionally ROUGE recall of greedy answers to the
 * forget and retain questions. The numbers are evaluation's own (eval/perplexity.ts scoreSequences
 * with the metrics' batch, eval/answers.ts answerRouge with the one greedy setting) on the items
 * and tokens eval/items.ts selects (prepare.ts builds the sets with it), so `unlearnkit eval` of
 * the same model, split and limit gives the same numbers. Comparisons are per item, after vs
 * before: stats/paired.ts pairedComparison (t, df, two-sided p, 95% CI of the mean change,
 * Cohen's d_z and d_av).
 *
 * Result shapes are plain per-item arrays plus summaries, so the report module can take them.
 */
import type { CausalLM } from '../model/model.ts';
import type { Tokenizer } from '../model/tokenizer/index.ts';
import { scoreSequences, SCORE_BATCH } from '../eval/perplexity.ts';
import { answerRouge as evalAnswerRouge } from '../eval/answers.ts';
import { pairedById, type PairedComparison } from '../stats/paired.ts';
import type { Example } from './types.ts';
export interface QaItem {
  id: string;
  question: string;
  answer: string;
}

export interface EvalSets {
  /** Named example sets (forget, retain, holdout, general, decoy, ...). */
  sets: Record<string, Example[]>;
  /** Question/answer items per set for ROUGE (usually forget and retain). */
  qa?: Record<string, QaItem[]>;
}

export interface SetMeasure {
  ids: string[];
  /** Per item mean next-token NLL. */
  nll: number[];
  /** Per item predicted tokens. */
  tokens: number[];
  /** Token-weighted mean NLL of the set. */
  meanNll: number;
  perplexity: number;
}

export interface RougeMeasure {
  ids: string[];
  answers: string[];
  /** Per item ROUGE-L recall of the reference answer (TOFU's measure). */
  rougeL: number[];
  rouge1: number[];
  meanRougeL: number;
}

export interface Measurement {
  sets: Record<string, SetMeasure>;
  rouge?: Record<string, RougeMeasure>;
  seconds: number;
}

/**
 * Score every set (and, with a tokenizer and `ev.qa`, the greedy-answer ROUGE) under `model` as
 * evaluation does. `model` is scored as it is: a file model in its stored types, or a model whose
 * host weights changed (F32, asF32Model).
 */
export function measure(model: CausalLM, ev: EvalSets, opts: { tokenizer?: Tokenizer } = {}): Measurement {
  const t0 = performance.now();
  const sets: Record<string, SetMeasure> = {};
  for (const [name, ex] of Object.entries(ev.sets)) {
    if (ex.length === 0) continue;
    const s = scoreSequences(model, ex, SCORE_BATCH);
    sets[name] = { ids: s.items.map((x) => x.id), nll: s.items.map((x) => x.meanNll), tokens: s.items.map((x) => x.tokens), meanNll: s.meanNll, perplexity: s.perplexity };
  }
  let rougeOut: Record<string, RougeMeasure> | undefined;
  if (ev.qa && opts.tokenizer) {
    rougeOut = {};
    for (const [name, qa] of Object.entries(ev.qa)) if (qa.length) rougeOut[name] = answerRouge(model, opts.tokenizer, qa);
  }
  return { sets, rouge: rougeOut, seconds: (performance.now() - t0) / 1000 };
}

/** Greedy answers to `Question: q\nAnswer:` prompts and their ROUGE recall against the answers (eval/answers.ts answerRouge). */
export function answerRouge(model: CausalLM, tok: Tokenizer, qa: QaItem[]): RougeMeasure {
  const r = evalAnswerRouge(model, tok, qa);
  const rougeL = r.map((x) => x.scores.rougeL.recall);
  return {
    ids: r.map((x) => x.id),
    answers: r.map((x) => x.answer),
    rougeL,
    rouge1: r.map((x) => x.scores.rouge1.recall),
    meanRougeL: rougeL.reduce((a, b) => a + b, 0) / Math.max(1, rougeL.length),
  };
}

export interface SetChange {
  set: string;
  n: number;
  meanNllBefore: number;
  meanNllAfter: number;
  perplexityBefore: number;
  perplexityAfter: number;
  /** perplexityAfter / perplexityBefore. */
  perplexityRatio: number;
  /** Mean over items of the change in mean token log-likelihood (after - before; negative = forgot). */
  meanLogLikChange: number;
  /** Paired t-test of per-item NLL, after vs before (positive t: NLL rose). */
  test: PairedComparison | null;
}

export interface RougeChange {
  set: string;
  n: number;
  meanBefore: number;
  meanAfter: number;
  /** Paired t-test of per-item ROUGE-L recall, after vs before (null when constant). */
  test: PairedComparison | null;
}

export interface Comparison {
  sets: SetChange[];
  rouge: RougeChange[];
}

/** The paired comparison, or null where it has no finite p (fewer than two pairs, or no spread). */
function tested(c: PairedComparison | null): PairedComparison | null {
  return c && Number.isFinite(c.p) ? c : null;
}

/** Per-item changes from `before` to `after` (items matched by id). */
export function compareMeasurements(before: Measurement, after: Measurement): Comparison {
  const sets: SetChange[] = [];
  for (const [name, a] of Object.entries(after.sets)) {
    const b = before.sets[name];
    if (!b) continue;
    const bi = new Map(b.ids.map((id, i) => [id, b.nll[i]!]));
    const ai = new Map(a.ids.map((id, i) => [id, a.nll[i]!]));
    const ids = a.ids.filter((id) => bi.has(id));
    const c = pairedById({ ids: b.ids, values: b.nll }, { ids: a.ids, values: a.nll });
    sets.push({
      set: name,
      n: ids.length,
      meanNllBefore: b.meanNll,
      meanNllAfter: a.meanNll,
      perplexityBefore: b.perplexity,
      perplexityAfter: a.perplexity,
      perplexityRatio: a.perplexity / b.perplexity,
      meanLogLikChange: ids.length ? ids.reduce((s, id) => s + (bi.get(id)! - ai.get(id)!), 0) / ids.length : NaN,
      test: tested(c),
    });
  }
  const rougeOut: RougeChange[] = [];
  for (const [name, a] of Object.entries(after.rouge ?? {})) {
    const b = before.rouge?.[name];
    if (!b) continue;
    const c = pairedById({ ids: b.ids, values: b.rougeL }, { ids: a.ids, values: a.rougeL });
    rougeOut.push({ set: name, n: a.ids.filter((id) => b.ids.includes(id)).length, meanBefore: b.meanRougeL, meanAfter: a.meanRougeL, test: tested(c) });
  }
  return { sets, rouge: rougeOut };
}

/** A compact one-line-per-set text summary. */
export function formatComparison(c: Comparison): string[] {
  const lines: string[] = [];
  for (const s of c.sets) {
    const t = s.test;
    lines.push(
      `  ${s.set.padEnd(8)} n=${String(s.n).padStart(4)}  ppl ${s.perplexityBefore.toFixed(3)} -> ${s.perplexityAfter.toFixed(3)} (x${s.perplexityRatio.toFixed(3)})  ` +
        `dloglik ${s.meanLogLikChange.toFixed(4)}` +
        (t ? `  t=${t.t.toFixed(2)} p=${t.p.toExponential(2)} dz=${t.dz.toFixed(2)}` : ''),
    );
  }
  for (const r of c.rouge) {
    const t = r.test;
    lines.push(`  rougeL ${r.set.padEnd(8)} ${r.meanBefore.toFixed(3)} -> ${r.meanAfter.toFixed(3)}` + (t ? `  t=${t.t.toFixed(2)} p=${t.p.toExponential(2)}` : ''));
  }
  return lines;
}
