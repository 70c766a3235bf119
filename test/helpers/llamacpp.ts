/**
 * llama.cpp (node-llama-cpp) as a reference in tests: per-token log-probabilities of a token
 * sequence for a GGUF, optionally with LoRA adapters. A thin wrapper over
 * src/model/llamacppLogprobs.ts; contexts use 1 thread (node-llama-cpp's default of 4 is very slow
 * on the shared 2-core machines).
 *
 *   const lp = await llamaLogprobs(t, modelPath, tokens);           // null when skipped
 *   const lp = await llamaLogprobs(t, modelPath, tokens, { lora: [{ filePath }] });
 */
import type { TestContext } from 'node:test';
import { type LlamaCppOptions, LlamaCppScorer, type TokenLogprobs, getLlamaCpp } from '../../src/model/llamacppLogprobs.ts';
import { skipLoudly } from './fixtures.ts';

export type { TokenLogprobs } from '../../src/model/llamacppLogprobs.ts';
export { LlamaCppScorer, logSoftmax } from '../../src/model/llamacppLogprobs.ts';

/** True when node-llama-cpp can start here; otherwise skips `t` loudly and returns false. */
export async function needLlamaCpp(t: TestContext): Promise<boolean> {
  try {
    await getLlamaCpp(false);
    return true;
  } catch (e) {
    skipLoudly(t, `node-llama-cpp cannot start on this machine: ${(e as Error).message}`);
    return false;
  }
}

/**
 * Log-probabilities of tokens[1..] under llama.cpp (`logprobs[i-1] = log p(tokens[i] | tokens[<i])`),
 * plus the full log-softmax rows with `full: true`. Returns null (test skipped) when node-llama-cpp
 * cannot run. The model and context are disposed before returning.
 */
export async function llamaLogprobs(
  t: TestContext,
  modelPath: string,
  tokens: readonly number[],
  opts: LlamaCppOptions & { full?: boolean } = {},
): Promise<TokenLogprobs | null> {
  if (!(await needLlamaCpp(t))) return null;
  const scorer = await LlamaCppScorer.open(modelPath, { threads: 1, ...opts });
  try {
    return await scorer.logprobs(tokens, { full: opts.full });
  } finally {
    await scorer.dispose();
  }
}

/** Largest absolute difference between two equally long numeric arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
