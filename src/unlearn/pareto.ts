/**
 * Choosing among layer targets (issue #20): never by forget effect alone. Each target's run is a
 * point (forget effect, utility cost),
 *
 *   forget effect = ln(ppl_forget after / before)             (the forget set's mean token NLL rise),
 *   utility cost  = max over S in {retain, general} of ppl_S after / before - 1
 *                   (the same cost the step search's --utility-budget bounds, stepSearch.ts),
 *
 * and the comparison shows the Pareto front: a target is on it when no other target has at least its
 * forget effect at no more utility cost, one of the two strictly. The recommended ("best") target is
 * the front's target with the largest forget effect among those whose cost is within the budget
 * (none when every target breaks it). Pure functions: the CLI's compare-targets and the TUI's
 * Compare screen both use them.
 */

import { DEFAULT_UTILITY_BUDGET } from './defaults.ts';
export { DEFAULT_UTILITY_BUDGET };

export interface TradeoffPoint {
  forgetEffect: number;
  utilityCost: number;
}

/** The two coordinates from per-set perplexity ratios (absent sets: NaN effect / no cost term). */
export function tradeoffOf(ratios: Record<string, number | undefined>): TradeoffPoint {
  const f = ratios.forget;
  const costs = ['retain', 'general'].map((s) => ratios[s]).filter((x): x is number => x !== undefined && Number.isFinite(x)).map((r) => r - 1);
  return { forgetEffect: f !== undefined && f > 0 ? Math.log(f) : NaN, utilityCost: costs.length ? Math.max(...costs) : NaN };
}

const usable = (p: TradeoffPoint) => Number.isFinite(p.forgetEffect) && Number.isFinite(p.utilityCost);

/** Whether each point is on the Pareto front (more forget effect, less utility cost); unusable points are not. */
export function paretoFront(points: TradeoffPoint[]): boolean[] {
  return points.map((p, i) => {
    if (!usable(p)) return false;
    return !points.some((q, j) => j !== i && usable(q) && q.forgetEffect >= p.forgetEffect && q.utilityCost <= p.utilityCost && (q.forgetEffect > p.forgetEffect || q.utilityCost < p.utilityCost));
  });
}

/** Index of the Pareto-optimal point with the largest forget effect within the utility budget (-1: none). */
export function bestWithinBudget(points: TradeoffPoint[], budget: number): number {
  const front = paretoFront(points);
  let best = -1;
  points.forEach((p, i) => {
    if (!front[i] || p.utilityCost > budget) return;
    if (best < 0 || p.forgetEffect > points[best]!.forgetEffect) best = i;
  });
  return best;
}

/** Row order for display: the front by rising utility cost, then the rest by rising utility cost. */
export function tradeoffOrder(points: TradeoffPoint[]): number[] {
  const front = paretoFront(points);
  const cost = (i: number) => (Number.isFinite(points[i]!.utilityCost) ? points[i]!.utilityCost : Infinity);
  return points.map((_, i) => i).sort((a, b) => Number(front[b]) - Number(front[a]) || cost(a) - cost(b) || a - b);
}
