/**
 * RUM, the refined-unlearning meta-algorithm (Zhao et al. 2024, section 5; docs/methods.md#the-rum-meta-algorithm):
 *
 * 1. Refine: split the forget set S by memorization score into low / medium / high thirds
 *    (sorted ascending, sizes differing by at most one).
 * 2. Meta-unlearn: apply an algorithm per subset in sequence low -> medium -> high, each step
 *    starting from the previous step's weights. Step i unlearns S_i with the retain set
 *    D \ (S_1 u ... u S_i): the subsets still to come stay in the retain set until their turn, as
 *    in the authors' code (kairanzhao/RUM, main_forget.py, `--sequential`). This is what makes the
 *    order matter even for algorithms that only look at the retain set (fine-tune).
 *    - RUM: the algorithm per subset comes from a table (given, or selected on held-out runs).
 *    - RUM^F: one algorithm F for all three subsets.
 * 3. Shuffle control: the same three sequential runs on random thirds of S, which separates the
 *    effect of ordering by memorization from that of running in three steps.
 * Vanilla is one run of the algorithm on all of S.
 */
import { UserError } from '../util/errors.ts';
import type { UnlearnAlgorithm, UnlearnTask } from './algorithms.ts';
import type { Weights } from './model.ts';
import { rngFor } from './train.ts';

export const LEVELS = ['low', 'medium', 'high'] as const;
export type Level = (typeof LEVELS)[number];

export type Thirds = Record<Level, Int32Array>;

/** Split `forget` (indices) into thirds by ascending `mem[index]` (ties by index). */
export function refineByMemorization(forget: ArrayLike<number>, mem: ArrayLike<number>): Thirds {
  const items = Array.from(forget);
  for (const i of items) if (!Number.isFinite(mem[i])) throw new UserError(`RUM refine: example ${i} has no memorization score`);
  items.sort((a, b) => mem[a]! - mem[b]! || a - b);
  return splitThirds(items);
}

/** Random thirds of `forget` (the shuffle control). */
export function shuffleThirds(forget: ArrayLike<number>, seed: number): Thirds {
  return splitThirds(rngFor(seed, 53).shuffle(Array.from(forget)));
}

function splitThirds(items: number[]): Thirds {
  if (items.length < 3) throw new UserError(`RUM needs a forget set of at least 3 examples, got ${items.length}`);
  const n = items.length;
  const a = Math.round(n / 3);
  const b = Math.round((2 * n) / 3);
  return { low: Int32Array.from(items.slice(0, a)), medium: Int32Array.from(items.slice(a, b)), high: Int32Array.from(items.slice(b)) };
}

/**
 * Apply algos[l] to subsets[l] in the order low -> medium -> high (or `order`, a permutation of the
 * levels: the paper's subset-order experiment), chaining the weights; step i's retain set is
 * task.retain plus the subsets after i (task.retain = D \ S).
 */
export function runSequence(task: UnlearnTask, start: Weights, subsets: Thirds, algos: Record<Level, UnlearnAlgorithm>, order: readonly Level[] = LEVELS): Weights {
  if (order.length !== LEVELS.length || LEVELS.some((l) => !order.includes(l))) throw new UserError(`RUM subset order must be a permutation of ${LEVELS.join(', ')}, got ${order.join(', ')}`);
  let w = start;
  order.forEach((l, i) => {
    const later = order.slice(i + 1).flatMap((m) => Array.from(subsets[m]));
    const retain = Int32Array.from([...Array.from(task.retain), ...later]).sort();
    w = algos[l].run({ ...task, forget: subsets[l], retain, label: `${task.label ?? 'rum'} ${l}:${algos[l].name}` }, w);
  });
  return w;
}

export type RumTable = Record<Level, string>;

/** Parse "low=finetune,medium=neggrad+,high=salun" (every level required). */
export function parseRumTable(spec: string): RumTable {
  const out: Partial<RumTable> = {};
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(low|medium|high)=([a-z0-9+-]+)$/.exec(part);
    if (!m) throw new UserError(`cannot read RUM table entry '${part}'; write low=ALGO,medium=ALGO,high=ALGO`);
    out[m[1] as Level] = m[2]!;
  }
  for (const l of LEVELS) if (!out[l]) throw new UserError(`RUM table: no algorithm for the ${l}-memorization subset`);
  return out as RumTable;
}
