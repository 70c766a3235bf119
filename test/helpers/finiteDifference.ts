/**
 * The finite-difference check of a training session's gradients, shared by the backward tests of the
 * model (test/model/llamaBackward.test.ts) and of LoRA (test/train/loraGrad.test.ts).
 */
import assert from 'node:assert/strict';
import type { CausalLM, LMSession } from '../../src/model/model.ts';

/**
 * Central finite difference (h = 1e-2) of the session's loss at the largest entry of tensor `n`'s
 * gradient `g` (where float32 finite differences are most accurate), asserted within 2% (+1e-5) of
 * it; the weight is restored afterwards.
 */
export function checkFiniteDifference(s: LMSession, model: CausalLM, n: string, g: Float32Array | Float64Array, label: string): void {
  let k = 0;
  for (let i = 0; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[k]!)) k = i;
  const w = model.weights.get(n)!.data;
  const orig = w[k]!;
  const h = 1e-2;
  const lossAt = (v: number) => {
    w[k] = v;
    s.uploadWeights([n]);
    return s.backward();
  };
  const fd = (lossAt(orig + h) - lossAt(orig - h)) / (2 * h);
  lossAt(orig);
  assert.ok(Math.abs(fd - g[k]!) <= 0.02 * Math.abs(g[k]!) + 1e-5, `${label} ${n}[${k}]: gradient ${g[k]} vs finite difference ${fd}`);
}
