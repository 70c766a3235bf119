/** Assertion helpers for numeric comparisons with scipy reference values. */
import assert from 'node:assert/strict';

/**
 * Asserts |actual - expected| <= max(rtol * |expected|, atol). With the default atol = 0 an
 * expected 0 must be matched exactly.
 */
export function closeRel(actual: number, expected: number, rtol = 1e-6, atol = 0, label = ''): void {
  const tol = Math.max(rtol * Math.abs(expected), atol);
  const ok = actual === expected || Math.abs(actual - expected) <= tol;
  assert.ok(
    ok,
    `${label ? label + ': ' : ''}expected ${expected}, got ${actual} (rel. error ${Math.abs(actual - expected) / Math.abs(expected)}, rtol ${rtol})`,
  );
}

/** closeRel over two arrays of equal length. */
export function closeRelAll(actual: readonly number[], expected: readonly number[], rtol = 1e-6, atol = 0, label = ''): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  actual.forEach((a, i) => closeRel(a, expected[i]!, rtol, atol, `${label}[${i}]`));
}
