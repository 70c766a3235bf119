/**
 * Before/after measurements of an unlearning (docs/methods.md#metrics): per-item mean
 * next-token NLL on the forget (F), retain (R), holdout (H), general (G) and decoy sets, set
 * perplexity exp(token-weighted mean NLL), and optionally ROUGE recall of greedy answers to the
 * forget and retain questions. Comparisons are per item, after vs before: paired t-test (t, df,
 * two-sided p, 95% CI of the mean change, Cohen's d_z and d_av) from src/stats.
 *
 * Result shapes are plain per-item arrays plus summaries, so the report module can take them.
 */
import { generateTokens } from '../model/generate.ts';
import type { Tokenizer } from '../model/tokenizer/index.ts';
import { rouge } from '../eval/rouge.ts';
import { questionPrompt } from '../train/examples.ts';
import { pairedTTest, type PairedTTestResult } from '../stats/index.ts';
import { scoreExamples, type SessionPool } from './sessions.ts';
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

export function measure(pool: SessionPool, ev: EvalSets, opts: { tokenizer?: Tokenizer; maxAnswerTokens?: number; batch?: number } = {}): Measurement {
  const t0 = performance.now();
  const sets: Record<string, SetMeasure> = {};
  for (const [name, ex] of Object.entries(ev.sets)) {
    if (ex.length === 0) continue;
    const s = scoreExamples(pool, ex, opts.batch ?? 8);
    let sum = 0;
    let n = 0;
    for (const it of s) {
      sum -= it.sumLogprob;
      n += it.tokens;
    }
    sets[name] = { ids: s.map((x) => x.id), nll: s.map((x) => x.meanNll), tokens: s.map((x) => x.tokens), meanNll: sum / n, perplexity: Math.exp(sum / n) };
  }
  let rougeOut: Record<string, RougeMeasure> | undefined;
  if (ev.qa && opts.tokenizer) {
    rougeOut = {};
    for (const [name, qa] of Object.entries(ev.qa)) if (qa.length) rougeOut[name] = answerRouge(pool, opts.tokenizer, qa, opts.maxAnswerTokens ?? 16);
  }
  return { sets, rouge: rougeOut, seconds: (performance.now() - t0) / 1000 };
}

/** Greedy answers to `Question: q\nAnswer:` prompts (first line), ROUGE recall against the answers. */
export function answerRouge(pool: SessionPool, tok: Tokenizer, qa: QaItem[], maxTokens: number, batch = 8): RougeMeasure {
  const answers: string[] = [];
  const stop = tok.eos >= 0 ? [tok.eos] : [];
  for (let i = 0; i < qa.length; i += batch) {
    const chunk = qa.slice(i, i + batch);
    const prompts = chunk.map((q) => tok.encode(questionPrompt(q.question), { addBos: true }));
    const outs = generateTokens(pool.model, prompts, { maxTokens, greedy: true, stopIds: stop });
    for (const o of outs) answers.push(tok.decode(o).split('\n')[0]!.trim());
  }
  const scores = qa.map((q, i) => rouge(answers[i]!, q.answer));
  const rougeL = scores.map((s) => s.rougeL.recall);
  return {
    ids: qa.map((q) => q.id),
    answers,
    rougeL,
    rouge1: scores.map((s) => s.rouge1.recall),
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
  test: PairedTTestResult | null;
}

export interface RougeChange {
  set: string;
  n: number;
  meanBefore: number;
  meanAfter: number;
  /** Paired t-test of per-item ROUGE-L recall, after vs before (null when constant). */
  test: PairedTTestResult | null;
}

export interface Comparison {
  sets: SetChange[];
  rouge: RougeChange[];
}

function safePaired(a: number[], b: number[]): PairedTTestResult | null {
  if (a.length < 2) return null;
  const r = pairedTTest(a, b);
  return Number.isFinite(r.p) ? r : null;
}

/** Per-item changes from `before` to `after` (items matched by id). */
export function compareMeasurements(before: Measurement, after: Measurement): Comparison {
  const sets: SetChange[] = [];
  for (const [name, a] of Object.entries(after.sets)) {
    const b = before.sets[name];
    if (!b) continue;
    const bi = new Map(b.ids.map((id, i) => [id, b.nll[i]!]));
    const ids = a.ids.filter((id) => bi.has(id));
    const nb = ids.map((id) => bi.get(id)!);
    const na = ids.map((id) => a.nll[a.ids.indexOf(id)]!);
    const meanChange = ids.length ? nb.reduce((s, v, i) => s + (v - na[i]!), 0) / ids.length : NaN;
    sets.push({
      set: name,
      n: ids.length,
      meanNllBefore: b.meanNll,
      meanNllAfter: a.meanNll,
      perplexityBefore: b.perplexity,
      perplexityAfter: a.perplexity,
      perplexityRatio: a.perplexity / b.perplexity,
      meanLogLikChange: meanChange,
      test: safePaired(na, nb),
    });
  }
  const rougeOut: RougeChange[] = [];
  for (const [name, a] of Object.entries(after.rouge ?? {})) {
    const b = before.rouge?.[name];
    if (!b) continue;
    const bi = new Map(b.ids.map((id, i) => [id, b.rougeL[i]!]));
    const ids = a.ids.filter((id) => bi.has(id));
    const rb = ids.map((id) => bi.get(id)!);
    const ra = ids.map((id) => a.rougeL[a.ids.indexOf(id)]!);
    rougeOut.push({ set: name, n: ids.length, meanBefore: b.meanRougeL, meanAfter: a.meanRougeL, test: safePaired(ra, rb) });
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
