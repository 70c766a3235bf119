/**
 * Paired comparisons: the one function every before/after comparison of per-item values goes
 * through (evaluation reports, unlearning runs, layer-target and influence comparisons, the TUI),
 * and its one result type.
 *
 * For pairs (b_i, a_i) with finite values, d_i = a_i - b_i:
 *   t = mean(d) / (sd(d) / sqrt(n)), df = n - 1, two-sided p (Student's t; scipy.stats.ttest_rel(a, b)),
 *   95% CI of mean(d) = mean(d) +- t_{0.975, n-1} sd(d) / sqrt(n),
 *   Cohen's d_z = mean(d) / sd(d), d_av = mean(d) / ((sd(a) + sd(b)) / 2) (Lakens 2013),
 *   a 95% percentile-bootstrap interval of d_z (2000 resamples of the pairs, seed 0).
 * A family of comparisons (the same measure tested for several methods or layer targets) is
 * Holm-corrected together (holmFamily: Holm 1979, adjusted p in `pHolm`).
 */
import { pairedTTest } from './ttest.ts';
import { holm } from './holm.ts';
import { bootstrapCI } from './bootstrap.ts';
import { UserError } from '../util/errors.ts';

export interface PairedComparison {
  /** Item ids of the pairs used (finite on both sides). */
  ids: string[];
  n: number;
  /** Items left out: no partner on the other side, or a non-finite value. */
  unmatched: number;
  valuesBefore: number[];
  valuesAfter: number[];
  meanBefore: number;
  meanAfter: number;
  /** mean(after - before). */
  meanDiff: number;
  /** sd(after - before), ddof = 1. */
  sdDiff: number;
  /** 95% t interval of mean(after - before). */
  ci95: [number, number];
  t: number;
  df: number;
  /** Two-sided p; NaN when the differences have no spread. */
  p: number;
  /** Holm-adjusted p within its family (holmFamily); = p until adjusted. */
  pHolm: number;
  /** Cohen's d_z = mean(d) / sd(d). */
  dz: number;
  /** Cohen's d_av = mean(d) / ((sd(before) + sd(after)) / 2). */
  dav: number;
  /** 95% percentile-bootstrap interval of d_z (null where a resample has no spread). */
  dzCi95: [number, number] | null;
}

/** Cohen's d_z of differences: mean(d) / sd(d) (ddof 1). */
export function dzOfDifferences(d: readonly number[]): number {
  const n = d.length;
  let m = 0;
  for (const x of d) m += x;
  m /= n;
  let v = 0;
  for (const x of d) v += (x - m) * (x - m);
  return m / Math.sqrt(v / (n - 1));
}

/**
 * Paired comparison of `after` vs `before` on the same items (position i of each is item ids[i]);
 * pairs with a non-finite value are left out. Null when fewer than two pairs remain.
 */
export function pairedComparison(ids: readonly string[], before: readonly number[], after: readonly number[], opts: { unmatched?: number } = {}): PairedComparison | null {
  if (ids.length !== before.length || ids.length !== after.length) throw new UserError('pairedComparison: ids, before and after must have the same length');
  const keep = ids.map((_, i) => i).filter((i) => Number.isFinite(before[i]) && Number.isFinite(after[i]));
  if (keep.length < 2) return null;
  const b = keep.map((i) => before[i]!);
  const a = keep.map((i) => after[i]!);
  const tt = pairedTTest(a, b);
  let dzCi95: [number, number] | null = null;
  if (Number.isFinite(tt.dz)) {
    try {
      const r = bootstrapCI(a.map((x, i) => x - b[i]!), dzOfDifferences, { resamples: 2000, seed: 0 });
      dzCi95 = [r.lo, r.hi];
    } catch {
      dzCi95 = null; // a resample without spread: d_z undefined there
    }
  }
  return {
    ids: keep.map((i) => ids[i]!),
    n: keep.length,
    unmatched: (opts.unmatched ?? 0) + (ids.length - keep.length),
    valuesBefore: b,
    valuesAfter: a,
    meanBefore: tt.meanB,
    meanAfter: tt.meanA,
    meanDiff: tt.meanDiff,
    sdDiff: tt.sdDiff,
    ci95: tt.ci95,
    t: tt.t,
    df: tt.df,
    p: tt.p,
    pHolm: tt.p,
    dz: tt.dz,
    dav: tt.dav,
    dzCi95,
  };
}

/** Pair two per-item lists by id (in `after`'s order) and compare them (pairedComparison). */
export function pairedById(
  before: { ids: readonly string[]; values: readonly number[] },
  after: { ids: readonly string[]; values: readonly number[] },
): PairedComparison | null {
  const bi = new Map(before.ids.map((id, i) => [id, before.values[i]!]));
  const ids = after.ids.filter((id) => bi.has(id));
  const ai = new Map(after.ids.map((id, i) => [id, after.values[i]!]));
  const unmatched = before.ids.length + after.ids.length - 2 * ids.length;
  return pairedComparison(ids, ids.map((id) => bi.get(id)!), ids.map((id) => ai.get(id)!), { unmatched });
}

/** Holm-adjust the p-values of one family of comparisons in place (`pHolm`); members without a finite p keep pHolm = p. */
export function holmFamily<T extends { p: number; pHolm: number }>(family: ReadonlyArray<T | null | undefined>): void {
  const finite = family.filter((c): c is T => !!c && Number.isFinite(c.p));
  for (const c of family) if (c) c.pHolm = c.p;
  if (finite.length < 2) return;
  const h = holm(finite.map((c) => c.p));
  finite.forEach((c, i) => (c.pHolm = h.adjusted[i]!));
}
