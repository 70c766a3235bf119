/**
 * Safe step sizes (issue #20): `--eta auto` (stored-gradient methods) and `--lr auto` / `--steps auto`
 * (gradient methods) search the LARGEST step whose utility cost stays within a budget,
 *
 *   cost(v)  = max over S in {retain, general} of  ppl_S(model after the method at step v) / ppl_S(model before) - 1,
 *   bound(v) = max over S of  exp(D_S + z SE_S) - 1,  z = 1.645 (one-sided 95 %),
 *   chosen   = max { v tried : bound(v) <= budget }          (budget default 0.05, i.e. +5 %),
 *
 * where D_S = ln(ppl ratio) is the token-weighted mean of the per-item changes d_i of mean NLL
 * (weights w_i = the item's predicted tokens) and SE_S = sqrt(sum w_i^2 (d_i - D_S)^2) / sum w_i its
 * standard error (the sandwich estimator of a weighted mean). The bound, not the point estimate, must
 * stay within the budget: the reported sets are other items, and on the Dave demo a step whose
 * validation cost was +4.7 % (point estimate) cost +5.4 % on the reported retain set.
 *
 * measured on a VALIDATION part of the retain and general data that the reported numbers do not use
 * (so the step is not tuned on the items the run then reports). The validation part is split off
 * deterministically (`splitValidation`: a seeded shuffle of the items no reported set uses; where
 * those are too few, items are moved out of the reported sets, which then report on the rest) and
 * recorded with the search.
 *
 * Search: start at the method's default value v0 (registry.ts resolveHyper); while within budget,
 * double (at most 6 times); while over budget, halve (at most 10 times); then bisect the bracket
 * [largest within, smallest over] 3 times (geometrically; integers for --steps). This assumes the
 * cost grows with the step, which holds for ascent on the forget loss in practice; every tried step
 * and its cost is reported, so a non-monotone case is visible. When no tried step is within budget
 * the smallest one is used and the search says so (the run's summary then says the budget is broken).
 *
 * Stored-gradient ascent is linear in eta (storedAscent.ts: delta = eta * sum_i s_i g_i, the AdamW
 * clip applied before eta), so its search runs the method once at eta = 1 and measures
 * w0 + v * delta for each v; the gradient methods rerun from the fine-tuned model for each v.
 */
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { makeContext, type Prepared } from './prepare.ts';
import { measure, type Measurement, type SetMeasure } from './measure.ts';
import { getMethod, resolveHyper } from './registry.ts';
import { toExamples } from './source.ts';
import type { Example, UnlearnHyper } from './types.ts';
import type { CausalLM } from '../model/model.ts';

import { DEFAULT_UTILITY_BUDGET } from './pareto.ts';
export { DEFAULT_UTILITY_BUDGET };

export type SearchParam = 'eta' | 'lr' | 'steps';
export const SEARCH_PARAMS: readonly SearchParam[] = ['eta', 'lr', 'steps'];

/** The utility sets: their perplexity may rise by at most the budget. */
const UTILITY_SETS = ['retain', 'general'] as const;

export interface ValidationSplit {
  /** Seed of the shuffle that picked the items. */
  seed: number;
  /** Share of each set's items aimed for (clamped to [min, max] items). */
  fraction: number;
  /** Validation examples per utility set (absent sets: the data has none). */
  sets: Record<string, Example[]>;
  /** Ids per set (recorded in the run). */
  ids: Record<string, string[]>;
  /** Items moved out of each reported set (0 where the unused items sufficed). */
  takenFromReported: Record<string, number>;
}

export interface StepTry {
  value: number;
  /** Perplexity ratio - 1 per validation set (null where the set is absent). */
  retain: number | null;
  general: number | null;
  /** max of the above. */
  cost: number;
  /** One-sided 95 % upper bound of the cost (module comment); `within` compares it with the budget. */
  costUpper: number;
  within: boolean;
  /** Forget perplexity ratio on (up to 32 of) the forget examples, for orientation. */
  forgetRatio: number;
}

export interface StepSearchResult {
  param: SearchParam;
  budget: number;
  /** The value the method's default would have used. */
  start: number;
  chosen: number;
  /** Whether the chosen value is within budget on the validation part. */
  within: boolean;
  tries: StepTry[];
  validation: { seed: number; fraction: number; ids: Record<string, string[]>; takenFromReported: Record<string, number> };
  seconds: number;
}

const VALIDATION = { fraction: 0.2, min: 4, max: 32 };
const cache = new WeakMap<Prepared, ValidationSplit>();

/** Exact set measurement without some items (token-weighted mean NLL recomputed from the per-item values). */
function dropFromSet(s: SetMeasure, drop: Set<string>): SetMeasure {
  const keep = s.ids.map((id, i) => (drop.has(id) ? -1 : i)).filter((i) => i >= 0);
  let sum = 0;
  let n = 0;
  for (const i of keep) {
    sum += s.nll[i]! * s.tokens[i]!;
    n += s.tokens[i]!;
  }
  return { ids: keep.map((i) => s.ids[i]!), nll: keep.map((i) => s.nll[i]!), tokens: keep.map((i) => s.tokens[i]!), meanNll: sum / n, perplexity: Math.exp(sum / n) };
}

/**
 * The validation part of `p`'s retain and general data (computed once per Prepared; see the module
 * comment). Moves items out of p.evalSets (and p.before, exactly) when the unused ones are too few.
 */
export function splitValidation(p: Prepared): ValidationSplit {
  const have = cache.get(p);
  if (have) return have;
  const seed = p.seed + 1009;
  const pools: Record<string, Example[]> = {
    retain: p.retain.filter((e) => p.facts.get(e.id)?.split === 'retain'),
    general: toExamples(p.dataset.texts().map((t) => ({ id: t.id, text: t.text })), p.tokenizer, p.maxLen),
  };
  const v: ValidationSplit = { seed, fraction: VALIDATION.fraction, sets: {}, ids: {}, takenFromReported: {} };
  for (const name of UTILITY_SETS) {
    const pool = pools[name]!.filter((e) => e.tokens.length >= 2);
    if (pool.length < 2) continue;
    const reported = p.evalSets.sets[name] ?? [];
    const inReport = new Set(reported.map((e) => e.id));
    const want = Math.min(VALIDATION.max, Math.max(VALIDATION.min, Math.ceil(VALIDATION.fraction * pool.length)), pool.length - 1);
    const unused = new Rng(seed).shuffle(pool.filter((e) => !inReport.has(e.id)));
    let chosen = unused.slice(0, want);
    let taken = 0;
    if (chosen.length < want && reported.length > 2) {
      // too few unused items: move some out of the reported set (it keeps at least 2)
      const move = new Rng(seed + 1).shuffle(reported.slice()).slice(0, Math.min(want - chosen.length, reported.length - 2));
      taken = move.length;
      chosen = [...chosen, ...move];
      const moved = new Set(move.map((e) => e.id));
      p.evalSets.sets[name] = reported.filter((e) => !moved.has(e.id));
      if (p.evalSets.qa?.[name]) p.evalSets.qa[name] = p.evalSets.qa[name]!.filter((q) => !moved.has(q.id));
      if (p.before?.sets[name]) p.before.sets[name] = dropFromSet(p.before.sets[name]!, moved);
      if (p.before?.rouge?.[name]) {
        const r = p.before.rouge[name]!;
        const keep = r.ids.map((id, i) => (moved.has(id) ? -1 : i)).filter((i) => i >= 0);
        const rl = keep.map((i) => r.rougeL[i]!);
        p.before.rouge[name] = { ids: keep.map((i) => r.ids[i]!), answers: keep.map((i) => r.answers[i]!), rougeL: rl, rouge1: keep.map((i) => r.rouge1[i]!), meanRougeL: rl.reduce((a, b) => a + b, 0) / Math.max(1, rl.length) };
      }
    }
    if (chosen.length === 0) continue;
    v.sets[name] = chosen;
    v.ids[name] = chosen.map((e) => e.id);
    v.takenFromReported[name] = taken;
  }
  cache.set(p, v);
  return v;
}

export interface StepSearchOptions {
  method: string;
  filter?: string;
  /** The other settings (the searched one is ignored). */
  hyper?: Partial<UnlearnHyper>;
  param: SearchParam;
  /** Allowed relative perplexity rise (default DEFAULT_UTILITY_BUDGET). */
  budget?: number;
  onTry?: (t: StepTry, i: number) => void;
}

/** Check that `param` can be searched for `method` (the method must read it). */
function checkSearchable(method: string, param: SearchParam): void {
  const m = getMethod(method);
  if (!m.uses.includes(param)) {
    const can = SEARCH_PARAMS.filter((q) => m.uses.includes(q));
    throw new UserError(`--${param} auto: ${method} does not use --${param}${can.length ? `; it can search ${can.map((q) => `--${q} auto`).join(' or ')}` : '; it has no step to search'}`);
  }
}

/** One-sided 95 % upper bound of ppl ratio - 1 from the per-item changes (module comment); null when the set is absent. */
function upperChange(after: Measurement, before: Measurement, set: string): number | null {
  const a = after.sets[set];
  const b = before.sets[set];
  if (!a || !b) return null;
  const bi = new Map(b.ids.map((id, i) => [id, i]));
  const d: number[] = [];
  const w: number[] = [];
  a.ids.forEach((id, i) => {
    const j = bi.get(id);
    if (j === undefined) return;
    d.push(a.nll[i]! - b.nll[j]!);
    w.push(a.tokens[i]!);
  });
  const W = w.reduce((x, y) => x + y, 0);
  const D = d.reduce((x, v, i) => x + w[i]! * v, 0) / W;
  const se = Math.sqrt(d.reduce((x, v, i) => x + w[i]! * w[i]! * (v - D) * (v - D), 0)) / W;
  return Math.exp(D + 1.645 * se) - 1;
}

function ratio(after: Measurement, before: Measurement, set: string): number | null {
  const a = after.sets[set];
  const b = before.sets[set];
  return a && b ? a.perplexity / b.perplexity : null;
}

/**
 * Every set scored in ONE evaluation pass (one graph per length bucket instead of one per set),
 * then split back into sets with their token-weighted perplexities.
 */
function measureSets(model: CausalLM, sets: Record<string, Example[]>): Measurement {
  const SEP = '\u0000';
  const all = Object.entries(sets).flatMap(([name, ex]) => ex.map((e) => ({ ...e, id: `${name}${SEP}${e.id}` })));
  const m = measure(model, { sets: { all } }).sets.all!;
  const out: Measurement = { sets: {}, seconds: 0 };
  for (const name of Object.keys(sets)) {
    const idx = m.ids.map((id, i) => (id.startsWith(name + SEP) ? i : -1)).filter((i) => i >= 0);
    let sum = 0;
    let n = 0;
    for (const i of idx) {
      sum += m.nll[i]! * m.tokens[i]!;
      n += m.tokens[i]!;
    }
    if (n > 0) out.sets[name] = { ids: idx.map((i) => m.ids[i]!.slice(name.length + 1)), nll: idx.map((i) => m.nll[i]!), tokens: idx.map((i) => m.tokens[i]!), meanNll: sum / n, perplexity: Math.exp(sum / n) };
  }
  return out;
}

/** Search the largest within-budget step (see the module comment). */
export function searchStep(p: Prepared, o: StepSearchOptions): StepSearchResult {
  const t0 = performance.now();
  const budget = o.budget ?? DEFAULT_UTILITY_BUDGET;
  if (!(budget > 0) || !Number.isFinite(budget)) throw new UserError(`--utility-budget must be a positive number (0.05 = +5 % perplexity), got ${budget}`);
  checkSearchable(o.method, o.param);
  const val = splitValidation(p);
  if (!Object.keys(val.sets).length) {
    throw new UserError(`--${o.param} auto needs retain or general items for its validation part; ${p.dataset.name} has no retain items outside the forget set and no general texts (give --${o.param} a number)`);
  }
  const given: Partial<UnlearnHyper> = { ...(o.hyper ?? {}) };
  delete given[o.param];
  const start = resolveHyper(given, p.source, p.forget.length, o.method)[o.param] as number;
  const sets: Record<string, Example[]> = { ...val.sets, forget: p.forget.slice(0, 32) };
  const base = measureSets(p.model, sets);
  const isInt = o.param === 'steps';
  const tries: StepTry[] = [];
  const score = (value: number, after: Measurement): StepTry => {
    const r = ratio(after, base, 'retain');
    const g = ratio(after, base, 'general');
    const cost = Math.max(...[r, g].filter((x): x is number => x !== null).map((x) => x - 1));
    const costUpper = Math.max(...UTILITY_SETS.map((set) => upperChange(after, base, set)).filter((x): x is number => x !== null));
    const t: StepTry = { value, retain: r === null ? null : r - 1, general: g === null ? null : g - 1, cost, costUpper, within: costUpper <= budget, forgetRatio: ratio(after, base, 'forget') ?? NaN };
    tries.push(t);
    o.onTry?.(t, tries.length - 1);
    return t;
  };

  let tryAt: (v: number) => StepTry;
  let cleanup = () => {};
  if (o.param === 'eta') {
    // linear in eta: one run at eta = 1, then w0 + v * delta
    const { method, ctx } = makeContext(p, { method: o.method, filter: o.filter, hyper: { ...given, eta: 1 }, quiet: true });
    cleanup = () => ctx.pool.dispose();
    try {
      const out = method.run(ctx);
      const w0 = new Map([...out.deltas.keys()].map((n) => { const w = ctx.work.weights.get(n)!.data; const d = out.deltas.get(n)!; const b = new Float32Array(w.length); for (let i = 0; i < w.length; i++) b[i] = w[i]! - d[i]!; return [n, b] as const; }));
      tryAt = (v) => {
        for (const [n, d] of out.deltas) {
          const w = ctx.work.weights.get(n)!.data;
          const b = w0.get(n)!;
          for (let i = 0; i < w.length; i++) w[i] = b[i]! + v * d[i]!;
        }
        return score(v, measureSets(ctx.work, sets));
      };
    } catch (e) {
      cleanup();
      throw e;
    }
  } else {
    tryAt = (v) => {
      const { method, ctx } = makeContext(p, { method: o.method, filter: o.filter, hyper: { ...given, [o.param]: v }, quiet: true });
      try {
        method.run(ctx);
        return score(v, measureSets(ctx.work, sets));
      } finally {
        ctx.pool.dispose();
      }
    };
  }
  try {
    let lo: number | null = null; // largest within
    let hi: number | null = null; // smallest over
    const first = tryAt(start);
    if (first.within) {
      lo = start;
      for (let k = 0, v = start; k < 6; k++) {
        v = v * 2;
        if (tryAt(v).within) lo = v;
        else {
          hi = v;
          break;
        }
      }
    } else {
      hi = start;
      for (let k = 0, v = start; k < 10; k++) {
        v = isInt ? Math.floor(v / 2) : v / 2;
        if (v <= 0 || (isInt && v < 1)) break;
        if (tryAt(v).within) {
          lo = v;
          break;
        }
        hi = v;
      }
    }
    if (lo !== null && hi !== null) {
      let a: number = lo;
      let b: number = hi;
      for (let k = 0; k < 3; k++) {
        const mid: number = isInt ? Math.floor((a + b) / 2) : Math.sqrt(a * b);
        if (isInt && (mid <= a || mid >= b)) break;
        if (tryAt(mid).within) a = mid;
        else b = mid;
      }
      lo = a;
    }
    const within = lo !== null;
    const chosen = lo ?? Math.min(...tries.map((t) => t.value));
    return {
      param: o.param,
      budget,
      start,
      chosen,
      within,
      tries,
      validation: { seed: val.seed, fraction: val.fraction, ids: val.ids, takenFromReported: val.takenFromReported },
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    cleanup();
  }
}

/** The utility cost of a finished run on its reported sets, against the budget. */
export interface UtilityCheck {
  budget: number;
  /** Perplexity ratio - 1 per utility set present in the run's comparison. */
  change: Record<string, number>;
  cost: number;
  within: boolean;
}

export function utilityCheck(sets: Array<{ set: string; perplexityRatio: number }>, budget = DEFAULT_UTILITY_BUDGET): UtilityCheck | null {
  const change: Record<string, number> = {};
  for (const s of sets) if ((UTILITY_SETS as readonly string[]).includes(s.set)) change[s.set] = s.perplexityRatio - 1;
  const vals = Object.values(change);
  if (!vals.length) return null;
  const cost = Math.max(...vals);
  return { budget, change, cost, within: cost <= budget };
}

const pct = (x: number | null) => (x === null ? '-' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`);

/** Lines for the terminal summary and report.md: every tried step and its utility change. */
export function searchLines(s: StepSearchResult): string[] {
  const v = Object.entries(s.validation.ids).map(([k, ids]) => `${ids.length} ${k}${s.validation.takenFromReported[k] ? ` (${s.validation.takenFromReported[k]} moved out of the reported set)` : ''}`).join(', ');
  const lines = [`--${s.param} auto: ${s.within ? 'largest' : 'NO'} step within the utility budget +${(s.budget * 100).toFixed(1)}% on the validation part (${v}): ${s.param} = ${fmtV(s.chosen)}${s.within ? '' : ' (smallest tried; over budget)'}`];
  for (const t of s.tries) lines.push(`    ${s.param} ${fmtV(t.value).padEnd(10)} retain ${pct(t.retain).padEnd(9)} general ${pct(t.general).padEnd(9)} (95% bound ${pct(t.costUpper).padEnd(9)}) forget ppl x${t.forgetRatio.toPrecision(4)}  ${t.within ? 'within' : 'over'}${t.value === s.chosen ? '  <- chosen' : ''}`);
  return lines;
}

function fmtV(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

/** A note when a finished run broke the budget (null when it did not). */
export function budgetWarning(u: UtilityCheck | null): string | null {
  if (!u || u.within) return null;
  return `utility budget broken: ${Object.entries(u.change).map(([k, x]) => `${k} perplexity ${pct(x)}`).join(', ')} (budget +${(u.budget * 100).toFixed(1)}%)`;
}
