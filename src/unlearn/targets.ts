/**
 * Layer targets compared (docs/methods.md#layer-targets; the paper's abstract:
 * embedding gradients carried most of the effect, the last blocks none). One method runs under each
 * parameter filter, from the same fine-tuned model, and each result is measured against that model:
 * per set, a paired t-test over items of the per-item NLL after vs before (t, p, Cohen's d_z and
 * d_av, 95% CI), with Holm's correction across the targets for each set (the family of tests that
 * answers "which targets changed set X").
 */
import { holm } from '../stats/index.ts';
import { listGroups } from '../model/paramGroups.ts';
import type { ModelConfig } from '../model/config.ts';
import { measure, compareMeasurements, type Comparison, type Measurement } from './measure.ts';
import { deltaNorms } from './deltas.ts';
import { makeContext, type Prepared } from './prepare.ts';
import { SessionPool } from './sessions.ts';
import type { UnlearnHyper } from './types.ts';

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
}

export interface TargetComparison {
  method: string;
  hyper: Partial<UnlearnHyper>;
  before: Measurement;
  rows: TargetRow[];
}

/** Default targets: whole model, embedding, every block, final norm, output head. */
export function defaultTargets(c: ModelConfig): string[] {
  const out = ['all', 'embedding'];
  for (let l = 0; l < c.nLayer; l++) out.push(`block:${l}`);
  out.push('final_norm');
  if (listGroups(c).includes('output')) out.push('output');
  return out;
}

export function compareTargets(p: Prepared, o: { method: string; targets?: string[]; hyper?: Partial<UnlearnHyper>; quiet?: boolean; onTarget?: (t: string, i: number, n: number) => void }): TargetComparison {
  // a LoRA run compares the targets its adapters cover (the whole adapter, then block by block)
  const targets = o.targets ?? (p.model.lora ? ['all', ...defaultTargets(p.model.config).filter((t) => t.startsWith('block:'))] : defaultTargets(p.model.config));
  const pool0 = new SessionPool(p.model);
  let before: Measurement;
  try {
    before = measure(pool0, p.evalSets, { tokenizer: p.tokenizer });
  } finally {
    pool0.dispose();
  }
  const rows: TargetRow[] = [];
  targets.forEach((target, i) => {
    o.onTarget?.(target, i, targets.length);
    const { method, ctx } = makeContext(p, { method: o.method, filter: target, hyper: o.hyper, quiet: o.quiet });
    try {
      const out = method.run(ctx);
      const after = measure(ctx.pool, p.evalSets, { tokenizer: p.tokenizer });
      rows.push({
        target,
        tensors: ctx.tensors,
        parameters: ctx.tensors.reduce((a, n) => a + ctx.work.weights.get(n)!.data.length, 0),
        seconds: out.seconds,
        deltaNorm: deltaNorms(out.deltas).total,
        settings: out.settings,
        comparison: compareMeasurements(before, after),
        holmP: {},
      });
    } finally {
      ctx.pool.dispose();
    }
  });
  const setNames = [...new Set(rows.flatMap((r) => r.comparison.sets.map((s) => s.set)))];
  for (const set of setNames) {
    const idx: number[] = [];
    const ps: number[] = [];
    rows.forEach((r, i) => {
      const t = r.comparison.sets.find((s) => s.set === set)?.test;
      if (t) {
        idx.push(i);
        ps.push(t.p);
      }
    });
    const adj = ps.length ? holm(ps).adjusted : [];
    rows.forEach((r) => (r.holmP[set] = null));
    idx.forEach((ri, k) => (rows[ri]!.holmP[set] = adj[k]!));
  }
  return { method: o.method, hyper: o.hyper ?? {}, before, rows };
}

function fmtP(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return '-';
  return p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
}

/** Markdown table: one row per target; per set the mean NLL change, d_z and Holm-adjusted p. */
export function targetsMarkdown(c: TargetComparison): string {
  const sets = [...new Set(c.rows.flatMap((r) => r.comparison.sets.map((s) => s.set)))];
  const head = ['target', 'params', ...sets.flatMap((s) => [`${s} dNLL`, `${s} d_z`, `${s} p_holm`]), 'ppl general', 'seconds'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of c.rows) {
    const cells = [r.target, String(r.parameters)];
    for (const s of sets) {
      const ch = r.comparison.sets.find((x) => x.set === s);
      cells.push(ch ? (-ch.meanLogLikChange).toFixed(4) : '-', ch?.test ? ch.test.dz.toFixed(2) : '-', fmtP(r.holmP[s]));
    }
    const g = r.comparison.sets.find((x) => x.set === 'general');
    cells.push(g ? `${g.perplexityBefore.toFixed(2)} -> ${g.perplexityAfter.toFixed(2)}` : '-', r.seconds.toFixed(2));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}
