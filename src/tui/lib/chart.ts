/**
 * Text charts for the terminal: a one-line sparkline (block characters) and a multi-line line
 * chart drawn with Braille dots (each character cell holds a 2 x 4 dot grid, so a W x H chart has
 * 2W x 4H points of resolution, as btop and other terminal monitors draw them).
 */

const BLOCKS = '▁▂▃▄▅▆▇█';

/** Mean of each of `n` equal buckets of `values` (n >= values.length returns a copy). */
export function bucketMeans(values: readonly number[], n: number): number[] {
  if (values.length <= n) return values.slice();
  const out: number[] = [];
  for (let b = 0; b < n; b++) {
    const lo = Math.floor((b * values.length) / n);
    const hi = Math.floor(((b + 1) * values.length) / n);
    let s = 0;
    let c = 0;
    for (let i = lo; i < hi; i++) {
      if (Number.isFinite(values[i]!)) {
        s += values[i]!;
        c++;
      }
    }
    out.push(c ? s / c : NaN);
  }
  return out;
}

function finiteRange(values: readonly number[]): { min: number; max: number } | null {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min <= max ? { min, max } : null;
}

/**
 * One character per value (bucket means when there are more values than `width`), scaled from
 * the smallest to the largest value over 8 levels; a flat series sits at the middle level, and a
 * non-finite value is a space.
 */
export function sparkline(values: readonly number[], width: number): string {
  const v = bucketMeans(values, Math.max(1, width));
  const r = finiteRange(v);
  if (!r) return ' '.repeat(v.length);
  const span = r.max - r.min;
  return v
    .map((x) => {
      if (!Number.isFinite(x)) return ' ';
      if (span === 0) return BLOCKS[3]!;
      return BLOCKS[Math.min(7, Math.round(((x - r.min) / span) * 7))]!;
    })
    .join('');
}

// Braille dot bits, indexed [dx][dy] (dx 0..1 left/right, dy 0..3 top to bottom).
const DOT = [
  [0x01, 0x02, 0x04, 0x40],
  [0x08, 0x10, 0x20, 0x80],
];

export interface LineChartResult {
  rows: string[];
  min: number;
  max: number;
}

/**
 * A line chart of `values` in `width` x `height` character cells (Braille). Points are spread over
 * the 2*width dot columns (bucket means when there are more), the smallest value at the bottom dot
 * row and the largest at the top, consecutive points joined by a straight dot line.
 */
export function lineChart(values: readonly number[], width: number, height: number, range?: { min: number; max: number }): LineChartResult {
  const W = Math.max(1, width);
  const H = Math.max(1, height);
  const cols = 2 * W;
  const rowsDots = 4 * H;
  const v = bucketMeans(values, cols);
  const r = range ?? finiteRange(v) ?? { min: 0, max: 0 };
  const grid = Array.from({ length: H }, () => new Array<number>(W).fill(0));
  const set = (x: number, y: number) => {
    if (x < 0 || x >= cols || y < 0 || y >= rowsDots) return;
    grid[Math.floor(y / 4)]![Math.floor(x / 2)]! |= DOT[x % 2]![y % 4]!;
  };
  const span = r.max - r.min;
  const yOf = (x: number) => (span === 0 ? Math.floor((rowsDots - 1) / 2) : Math.round(((r.max - x) / span) * (rowsDots - 1)));
  const xOf = (i: number) => (v.length <= 1 ? 0 : Math.round((i * (cols - 1)) / (v.length - 1)));
  let prev: { x: number; y: number } | null = null;
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i]!)) {
      prev = null;
      continue;
    }
    const p = { x: xOf(i), y: Math.max(0, Math.min(rowsDots - 1, yOf(v[i]!))) };
    if (prev) {
      // Straight line from prev to p, one dot per step along the longer axis.
      const steps = Math.max(Math.abs(p.x - prev.x), Math.abs(p.y - prev.y), 1);
      for (let s = 0; s <= steps; s++) set(Math.round(prev.x + ((p.x - prev.x) * s) / steps), Math.round(prev.y + ((p.y - prev.y) * s) / steps));
    } else set(p.x, p.y);
    prev = p;
  }
  return { rows: grid.map((row) => row.map((b) => String.fromCharCode(0x2800 + b)).join('')), min: r.min, max: r.max };
}

/** A horizontal bar of `width` cells filled to `fraction` (eighth-cell resolution). */
export function progressBar(fraction: number, width: number): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8);
  const rest = eighths % 8;
  const partial = rest ? '▏▎▍▌▋▊▉'[rest - 1]! : '';
  return ('█'.repeat(full) + partial).padEnd(width, '░').slice(0, width);
}
