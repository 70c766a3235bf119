/**
 * One removal request, two strategies (issue #20; `unlearnkit compare-removal`): the request
 * ("forget everything about Dave Harrowgate") selects the forget set by fuzzy matching (fuzzy.ts),
 * then
 *   fuzzy:     the method runs once on the whole selection (run.ts strategy 'fuzzy'),
 *   iterative: the method runs per group of selected examples until each reaches the target NLL
 *              (iterative.ts: the holdout set's mean NLL, or --stop-nll),
 * both from the same fine-tuned model, measured on the same evaluation sets. One row per strategy:
 * what it selected, precision / recall of the selection against the dataset's forget split where
 * the dataset labels one, and the forget / retain / general perplexity change with its paired test.
 */
import { prepare, type PrepareOptions } from './prepare.ts';
import { runUnlearn, type UnlearnRunResult } from './run.ts';
import type { IterativeOptions } from './iterative.ts';
import type { UnlearnHyper } from './types.ts';
import { UserError } from '../util/errors.ts';
import { fmtP, heading, paragraph, table, toMarkdown } from '../report/document.ts';

export interface RemovalSetChange {
  perplexityBefore: number;
  perplexityAfter: number;
  ratio: number;
  p: number | null;
}

export interface RemovalRow {
  strategy: 'fuzzy' | 'iterative';
  selected: number;
  /** The selected training item ids. */
  ids: string[];
  /** Against the dataset's forget split (null when it labels none). */
  precision: number | null;
  recall: number | null;
  /** Why precision / recall are not computed, when they are not. */
  note: string | null;
  /** forget, retain, general, trueForget (the labelled forget items), holdout: as measured. */
  sets: Record<string, RemovalSetChange>;
  methodCalls: number;
  outcome: UnlearnRunResult['outcome'];
  seconds: number;
}

export interface RemovalComparison {
  request: string;
  method: string;
  target: string;
  rows: RemovalRow[];
}

export interface CompareRemovalOptions extends PrepareOptions {
  request: string;
  method: string;
  target?: string;
  hyper?: Partial<UnlearnHyper>;
  iterative?: Omit<IterativeOptions, 'hyper' | 'holdout'>;
  quiet?: boolean;
  onStrategy?: (s: 'fuzzy' | 'iterative') => void;
}

/** Run both strategies on the request (nothing is written; see the module comment). */
export async function compareRemoval(o: CompareRemovalOptions): Promise<RemovalComparison> {
  if (!o.request?.trim()) throw new UserError('compare-removal needs --request "..." (e.g. "forget everything about Dave Harrowgate")');
  const p = prepare({ ...o, request: o.request });
  const rows: RemovalRow[] = [];
  for (const strategy of ['fuzzy', 'iterative'] as const) {
    o.onStrategy?.(strategy);
    const r = await runUnlearn({ ...o, from: o.from, prepared: p, method: o.method, target: o.target, strategy, hyper: o.hyper, iterative: o.iterative, noAdapter: true, quiet: o.quiet });
    const rep = r.selection!.report;
    const sets: Record<string, RemovalSetChange> = {};
    for (const s of r.comparison.sets) sets[s.set] = { perplexityBefore: s.perplexityBefore, perplexityAfter: s.perplexityAfter, ratio: s.perplexityRatio, p: s.test?.p ?? null };
    rows.push({
      strategy,
      selected: r.forget.count,
      ids: r.forget.ids,
      precision: rep.note ? null : rep.precision,
      recall: rep.note ? null : rep.recall,
      note: rep.note ?? null,
      sets,
      methodCalls: r.iterative ? r.iterative.methodCalls : 1,
      outcome: r.outcome,
      seconds: r.seconds.method,
    });
  }
  return { request: o.request, method: o.method, target: o.target ?? 'all', rows };
}

/** Markdown: one row per strategy (report/document.ts renders it). */
export function removalMarkdown(c: RemovalComparison): string {
  const sets = ['forget', 'trueForget', 'retain', 'general', 'holdout'].filter((s) => c.rows.some((r) => r.sets[s]));
  const f = (x: number | null, d = 3) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(d));
  const head = ['strategy', 'selected', 'precision', 'recall', 'method calls', ...sets.map((s) => `${s} ppl (x, p)`), 'outcome'];
  const rows = c.rows.map((r) => [
    r.strategy,
    String(r.selected),
    f(r.precision),
    f(r.recall),
    String(r.methodCalls),
    ...sets.map((s) => {
      const x = r.sets[s];
      return x ? `${x.perplexityBefore.toFixed(2)} -> ${x.perplexityAfter.toFixed(2)} (x${x.ratio.toFixed(3)}, p ${fmtP(x.p, '-')})` : '-';
    }),
    r.outcome,
  ]);
  const notes = [...new Set(c.rows.map((r) => r.note).filter(Boolean))];
  return toMarkdown([
    heading(1, `"${c.request}": fuzzy vs iterative removal with ${c.method} on ${c.target}`),
    paragraph("Both strategies remove what the request selects (fuzzy matching); fuzzy runs the method once on the selection, iterative per example until it reaches the target NLL. Precision / recall: the selection against the dataset's forget split."),
    table({ head, rows }),
    ...notes.map((n) => paragraph(`precision / recall not computed: ${n}`)),
  ]);
}
