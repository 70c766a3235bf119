/**
 * Seeded pseudo-random numbers. Every stochastic step in unlearnkit (data generation, shuffling,
 * initialisation, augmentation, bootstrap) draws from one of these so that runs are reproducible.
 *
 * Generator: mulberry32 (32-bit state, period 2^32), enough for shuffles and initialisation; normals
 * by Box-Muller.
 */
export class Rng {
  private state: number;
  private spare: number | null = null;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new TypeError(`Rng seed must be a finite number, got ${seed}`);
    this.state = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal N(0, 1). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u = Math.max(this.next(), 1e-300);
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates shuffle in place; returns the array. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = a[i]!;
      a[i] = a[j]!;
      a[j] = tmp;
    }
    return a;
  }

  /** One element chosen uniformly. */
  pick<T>(a: readonly T[]): T {
    if (a.length === 0) throw new RangeError('Rng.pick on an empty array');
    return a[this.int(a.length)]!;
  }

  /**
   * Float32Array of normals scaled by std: the values n calls of normal() * std give (same state
   * after), with the generator and Box-Muller inlined (random models at real shapes draw 1e8+).
   */
  normalArray(n: number, std = 1): Float32Array {
    const out = new Float32Array(n);
    let i = 0;
    if (n > 0 && this.spare !== null) {
      out[i++] = this.spare * std;
      this.spare = null;
    }
    let st = this.state;
    for (; i + 1 < n; i += 2) {
      let t = (st = (st + 0x6d2b79f5) >>> 0);
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      const u = Math.max(((t ^ (t >>> 14)) >>> 0) / 4294967296, 1e-300);
      t = st = (st + 0x6d2b79f5) >>> 0;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      const v = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      const r = Math.sqrt(-2 * Math.log(u));
      out[i] = r * Math.cos(2 * Math.PI * v) * std;
      out[i + 1] = r * Math.sin(2 * Math.PI * v) * std;
    }
    this.state = st;
    if (i < n) out[i] = this.normal() * std;
    return out;
  }
}
