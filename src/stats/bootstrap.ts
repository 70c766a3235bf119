/**
 * Percentile bootstrap confidence intervals (Efron & Tibshirani 1993, ch. 13) with a seeded Rng,
 * so that a report regenerates the same interval.
 *
 * For b = 1..B: draw n indices uniformly with replacement (rng.int(n), in order), evaluate the
 * statistic on that resample -> theta*_b. The interval is the (1-c)/2 and (1+c)/2 quantiles of the
 * theta*_b (linear interpolation, numpy's default); `se` is their sd (ddof = 1); `estimate` is the
 * statistic on the original data. Paired data: pass the pairs as items. Two independent samples
 * (e.g. members vs non-members for an AUC): `bootstrapTwoSampleCI` resamples each separately
 * (stratified), drawing all of a's indices then all of b's per replicate.
 */
import { Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';
import { assertConfidence } from './validate.ts';
import { quantileSorted, sum } from './descriptive.ts';

export interface BootstrapOptions {
  /** Number of resamples B (default 2000). */
  resamples?: number;
  /** Confidence level (default 0.95). */
  confidence?: number;
  /** Seed for a fresh Rng (default 0), ignored when `rng` is given. */
  seed?: number;
  /** Generator to draw from (advances it). */
  rng?: Rng;
}

export interface BootstrapResult {
  estimate: number;
  lo: number;
  hi: number;
  /** Bootstrap standard error: sd of the replicates. */
  se: number;
  resamples: number;
  confidence: number;
}

function setup(opts: BootstrapOptions): { B: number; confidence: number; rng: Rng } {
  const B = opts.resamples ?? 2000;
  if (!Number.isInteger(B) || B < 2) throw new UserError(`bootstrap: resamples must be an integer >= 2, got ${B}`);
  const confidence = opts.confidence ?? 0.95;
  assertConfidence(confidence);
  return { B, confidence, rng: opts.rng ?? new Rng(opts.seed ?? 0) };
}

function resample<T>(items: readonly T[], rng: Rng): T[] {
  const n = items.length;
  const out = new Array<T>(n);
  for (let i = 0; i < n; i++) out[i] = items[rng.int(n)]!;
  return out;
}

function finish(estimate: number, reps: Float64Array, confidence: number): BootstrapResult {
  const bad = reps.filter((v) => !Number.isFinite(v)).length;
  if (bad > 0) {
    throw new UserError(
      `bootstrap: the statistic was not finite on ${bad} of ${reps.length} resamples ` +
        '(e.g. a standard deviation of 0 in a resample); use a statistic defined on every resample',
    );
  }
  reps.sort();
  const m = sum(Array.from(reps)) / reps.length;
  const se = Math.sqrt(sum(Array.from(reps, (v) => (v - m) * (v - m))) / (reps.length - 1));
  return {
    estimate,
    lo: quantileSorted(reps, (1 - confidence) / 2),
    hi: quantileSorted(reps, (1 + confidence) / 2),
    se,
    resamples: reps.length,
    confidence,
  };
}

/** Percentile bootstrap interval of `statistic(items)`. */
export function bootstrapCI<T>(
  items: readonly T[],
  statistic: (sample: T[]) => number,
  opts: BootstrapOptions = {},
): BootstrapResult {
  if (!Array.isArray(items) || items.length < 1) throw new UserError('bootstrapCI: needs at least 1 item');
  const { B, confidence, rng } = setup(opts);
  const reps = new Float64Array(B);
  for (let b = 0; b < B; b++) reps[b] = statistic(resample(items, rng));
  return finish(statistic([...items]), reps, confidence);
}

/** Percentile bootstrap interval of `statistic(a, b)`, resampling a and b independently. */
export function bootstrapTwoSampleCI<A, B>(
  a: readonly A[],
  b: readonly B[],
  statistic: (sampleA: A[], sampleB: B[]) => number,
  opts: BootstrapOptions = {},
): BootstrapResult {
  if (!Array.isArray(a) || a.length < 1) throw new UserError('bootstrapTwoSampleCI: sample a needs at least 1 item');
  if (!Array.isArray(b) || b.length < 1) throw new UserError('bootstrapTwoSampleCI: sample b needs at least 1 item');
  const { B: nRep, confidence, rng } = setup(opts);
  const reps = new Float64Array(nRep);
  for (let r = 0; r < nRep; r++) {
    const sa = resample(a, rng);
    const sb = resample(b, rng);
    reps[r] = statistic(sa, sb);
  }
  return finish(statistic([...a], [...b]), reps, confidence);
}
