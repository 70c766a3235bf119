/**
 * Ranks with ties averaged (scipy.stats.rankdata method='average'): the i-th smallest value gets
 * rank i (1-based); a run of t equal values shares the mean of the ranks it spans.
 */

/** Average ranks of `xs` (1-based), plus the sizes of the tie groups (each t > 1). */
export function rankWithTies(xs: readonly number[]): { ranks: number[]; tieSizes: number[] } {
  const n = xs.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => xs[i]! - xs[j]!);
  const ranks = new Array<number>(n);
  const tieSizes: number[] = [];
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && xs[order[j + 1]!] === xs[order[i]!]) j++;
    const r = (i + j) / 2 + 1; // mean of ranks i+1 .. j+1
    for (let k = i; k <= j; k++) ranks[order[k]!] = r;
    if (j > i) tieSizes.push(j - i + 1);
    i = j + 1;
  }
  return { ranks, tieSizes };
}

/** Average ranks (scipy.stats.rankdata default). */
export function rankdata(xs: readonly number[]): number[] {
  return rankWithTies(xs).ranks;
}
