/**
 * Input checks shared by the statistics functions. Every public function in src/stats validates
 * its input here, so that bad data (NaN from a failed evaluation, mismatched per-example arrays,
 * too few seeds) stops with a UserError that names the argument and the problem instead of
 * silently producing NaN p-values.
 */
import { UserError } from '../util/errors.ts';

/** Throws unless `xs` is an array of finite numbers with at least `minLength` elements. */
export function assertFiniteArray(name: string, xs: readonly number[], minLength = 1): void {
  if (!Array.isArray(xs)) throw new UserError(`${name}: expected an array of numbers, got ${typeof xs}`);
  if (xs.length < minLength) {
    throw new UserError(`${name}: needs at least ${minLength} value${minLength === 1 ? '' : 's'}, got ${xs.length}`);
  }
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new UserError(`${name}: element ${i} is ${String(v)}; all values must be finite numbers`);
    }
  }
}

/** Throws unless both arrays have the same length (paired data). */
export function assertSameLength(nameA: string, a: readonly unknown[], nameB: string, b: readonly unknown[]): void {
  if (a.length !== b.length) {
    throw new UserError(
      `${nameA} and ${nameB} must be paired (same length), got ${a.length} and ${b.length} values`,
    );
  }
}

/** Throws unless 0 < confidence < 1. */
export function assertConfidence(confidence: number): void {
  if (!(typeof confidence === 'number' && confidence > 0 && confidence < 1)) {
    throw new UserError(`confidence must be a number strictly between 0 and 1, got ${String(confidence)}`);
  }
}
