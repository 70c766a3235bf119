/**
 * Layer targets compared (docs/methods.md#layer-targets; the paper's abstract:
 * embedding gradients carried most of the effect, the last blocks none). One method runs under each
 * parameter filter, from the same fine-tuned model (actions/compareTargets.ts runs them, one
 * `runUnlearn` per target), and each result is measured against that model:
 * per set, a paired t-test over items of the per-item NLL after vs before (t, p, Cohen's d_z and
 * d_av, 95% CI), with Holm's correction across the targets for each set (the family of tests that
 * answers "which targets changed set X").
 */
import path from 'node:path';
import { holmFamily } from '../stats/paired.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { listGroups } from '../model/paramGroups.ts';
import type { ModelConfig } from '../model/config.ts';
import type { Comparison, Measurement } from './measure.ts';
import type { UnlearnHyper } from './types.ts';
import { fmtP, heading, paragraph, table, toMarkdown, type Block } from '../report/document.ts';
import { bestWithinBudget, paretoFront, tradeoffOf, tradeoffOrder, DEFAULT_UTILITY_BUDGET } from './pareto.ts';

export interface TargetRow {
  target: string;
  tensors: string[];
  parameters: number;
  seconds: number;
  deltaNorm: number;
  settings: Record<string, number | string | boolean>;
  comparison: Comparison;
  /** Holm-adjusted p of each set's paired test across the targets. */
  holmP: Record<string, number | null>;
  /** ln(forget perplexity ratio) (pareto.ts). */
  forgetEffect?: number;
  /** max(retain, general perplexity ratio) - 1 (pareto.ts). */
  utilityCost?: number;
  /** On the Pareto front of (forget effect, utility cost). */
  pareto?: boolean;
}

export interface TargetComparison {
  method: string;
  hyper: Partial<UnlearnHyper>;
  before: Measurement;
  rows: TargetRow[];
  /** The utility budget the recommendation respects (default 0.05). */
  budget?: number;
  /** The Pareto-optimal target with the largest forget effect within the budget (null: every target breaks it). */
  best?: string | null;
}

/** Default targets: whole model, embedding, every block, final norm, output head. */
export function defaultTargets(c: ModelConfig): string[] {
  const out = ['all', 'embedding'];
  for (let l = 0; l < c.nLayer; l++) out.push(`block:${l}`);
  out.push('final_norm');
  if (listGroups(c).includes('output')) out.push('output');
  return out;
}

/**
 * One comparison from per-target rows (each measured against the same `before`), as
 * `compare-targets` and the TUI's multi-target unlearning both build it: Holm's correction across the
 * targets per set (holmAcrossTargets), each row's trade-off and the recommended target (markTradeoffs).
 */
export function combineTargets(method: string, hyper: Partial<UnlearnHyper>, before: Measurement, rows: TargetRow[], budget = DEFAULT_UTILITY_BUDGET): TargetComparison {
  holmAcrossTargets(rows).forEach((h, i) => (rows[i]!.holmP = h));
  return { method, hyper, before, rows, ...markTradeoffs(rows, budget) };
}

/**
 * Writes `compare-targets.json` (the TargetComparison) and `compare-targets.md` (a title, `intro`,
 * then targetsMarkdown) into `out`, atomically: the files the CLI writes and the TUI's Compare
 * screen reads. Returns the Markdown and the JSON path.
 */
export function writeTargetComparison(out: string, c: TargetComparison, intro: string): { md: string; json: string } {
  const md = toMarkdown([heading(1, `${c.method} across layer targets`), paragraph(intro), ...targetsBlocks(c)]);
  const json = path.join(out, 'compare-targets.json');
  writeJsonAtomic(json, c);
  writeFileAtomic(path.join(out, 'compare-targets.md'), md);
  return { md, json };
}

/**
 * Holm-adjusted p of each set's paired test across the targets (one family per set: "which targets
 * changed set X"; stats/paired.ts holmFamily, which also sets each test's `pHolm`). Per row, set
 * -> adjusted p, null where the row has no test of that set or its p is not finite.
 */
export function holmAcrossTargets(rows: ReadonlyArray<{ comparison: Comparison }>): Array<Record<string, number | null>> {
  const sets = [...new Set(rows.flatMap((r) => r.comparison.sets.map((s) => s.set)))];
  const out = rows.map(() => ({}) as Record<string, number | null>);
  for (const set of sets) {
    const tests = rows.map((r) => r.comparison.sets.find((s) => s.set === set)?.test ?? null);
    holmFamily(tests);
    tests.forEach((t, i) => (out[i]![set] = t && Number.isFinite(t.p) ? t.pHolm : null));
  }
  return out;
}

/**
 * Each row's forget effect, utility cost and Pareto membership (pareto.ts), set on the rows; and
 * the recommended target. Targets are compared on the Pareto front, never by forget effect alone.
 */
export function markTradeoffs(rows: TargetRow[], budget = DEFAULT_UTILITY_BUDGET): { budget: number; best: string | null } {
  const pts = rows.map((r) => tradeoffOf(Object.fromEntries(r.comparison.sets.map((s) => [s.set, s.perplexityRatio]))));
  const front = paretoFront(pts);
  rows.forEach((r, i) => {
    r.forgetEffect = pts[i]!.forgetEffect;
    r.utilityCost = pts[i]!.utilityCost;
    r.pareto = front[i]!;
  });
  const b = bestWithinBudget(pts, budget);
  return { budget, best: b >= 0 ? rows[b]!.target : null };
}

/** The step a row ran at: eta (stored-gradient methods), or learning rate and steps (gradient methods). */
function stepOf(s: TargetRow['settings']): string {
  const n = (x: unknown) => (typeof x === 'number' ? String(Number(x.toPrecision(4))) : String(x));
  if (s.eta !== undefined) return `eta ${n(s.eta)}`;
  if (s.lr !== undefined) return `lr ${n(s.lr)}${s.steps !== undefined ? `, ${n(s.steps)} steps` : ''}`;
  return '-';
}

/**
 * The comparison as report blocks: above the table the recommended target within the budget; one
 * row per target, the Pareto front first (by rising utility cost), then the rest; per target its
 * forget effect, utility cost and front membership, per set the mean NLL change, d_z and
 * Holm-adjusted p.
 */
export function targetsBlocks(c: TargetComparison): Block[] {
  const sets = [...new Set(c.rows.flatMap((r) => r.comparison.sets.map((s) => s.set)))];
  const budget = c.budget ?? DEFAULT_UTILITY_BUDGET;
  if (c.best === undefined || c.rows.some((r) => r.pareto === undefined)) Object.assign(c, markTradeoffs(c.rows, budget));
  const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`);
  const head = ['target', 'Pareto', 'forget ln(ppl x)', 'utility cost', 'params', 'step', ...sets.flatMap((s) => [`${s} dNLL`, `${s} d_z`, `${s} p_holm`]), 'ppl general', 'seconds'];
  const order = tradeoffOrder(c.rows.map((r) => ({ forgetEffect: r.forgetEffect ?? NaN, utilityCost: r.utilityCost ?? NaN })));
  const rows = order.map((i) => c.rows[i]!).map((r) => {
    const cells = [r.target + (r.target === c.best ? ' ★' : ''), r.pareto ? 'yes' : '', r.forgetEffect === undefined || !Number.isFinite(r.forgetEffect) ? '-' : r.forgetEffect.toFixed(4), pct(r.utilityCost), String(r.parameters), stepOf(r.settings)];
    for (const s of sets) {
      const ch = r.comparison.sets.find((x) => x.set === s);
      cells.push(ch ? (-ch.meanLogLikChange).toFixed(4) : '-', ch?.test ? ch.test.dz.toFixed(2) : '-', fmtP(r.holmP[s], '-'));
    }
    const g = r.comparison.sets.find((x) => x.set === 'general');
    cells.push(g ? `${g.perplexityBefore.toFixed(2)} -> ${g.perplexityAfter.toFixed(2)}` : '-', r.seconds.toFixed(2));
    return cells;
  });
  return [
    paragraph('Targets compared on the Pareto front of forget effect (ln of the forget perplexity ratio) against utility cost (the larger rise of retain / general perplexity), never by forget effect alone.'),
    paragraph(
      c.best
        ? `Recommended: **${c.best}**, the Pareto-optimal target with the largest forget effect within the utility budget +${(budget * 100).toFixed(1)}%.`
        : `No target stays within the utility budget +${(budget * 100).toFixed(1)}%; lower the step (--eta, --lr, --steps, or 'auto').`,
    ),
    table({ head, rows }),
  ];
}

/** targetsBlocks as Markdown. */
export function targetsMarkdown(c: TargetComparison): string {
  return toMarkdown(targetsBlocks(c));
}
