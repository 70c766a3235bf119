/**
 * The optimiser of the gradient-based unlearning methods, on host weights (the methods combine
 * gradients on the host: forget and retain batches, per-example NPO weights), minimising the
 * method's objective L:
 *   sgd:   theta <- theta - lr * grad L
 *   adamw: m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
 *          theta <- theta - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 *          (Loshchilov and Hutter 2019; no weight decay: unlearning should not shrink weights)
 * Gradient ascent on a loss is descent on its negative, so ascent methods pass -grad.
 */
import type { CausalLM } from '../model/model.ts';
import type { OptimizerKind } from '../engine/graph.ts';
import { UserError } from '../util/errors.ts';

export class HostOptimizer {
  private m = new Map<string, Float32Array>();
  private v = new Map<string, Float32Array>();
  private t = 0;

  constructor(
    readonly kind: OptimizerKind,
    readonly lr: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly eps = 1e-8,
  ) {}

  /** One step on the model's host weights with the objective's gradient per tensor. */
  step(model: CausalLM, grads: Map<string, Float32Array>): void {
    this.t++;
    const { lr } = this;
    for (const [name, g] of grads) {
      const w = model.weights.get(name)!.data;
      if (this.kind === 'sgd') {
        for (let i = 0; i < g.length; i++) w[i] = w[i]! - lr * g[i]!;
        continue;
      }
      let m = this.m.get(name);
      let v = this.v.get(name);
      if (!m || !v) {
        m = new Float32Array(g.length);
        v = new Float32Array(g.length);
        this.m.set(name, m);
        this.v.set(name, v);
      }
      const b1 = this.beta1;
      const b2 = this.beta2;
      const c1 = 1 / (1 - b1 ** this.t);
      const c2 = 1 / (1 - b2 ** this.t);
      for (let i = 0; i < g.length; i++) {
        const gi = g[i]!;
        const mi = (m[i] = b1 * m[i]! + (1 - b1) * gi);
        const vi = (v[i] = b2 * v[i]! + (1 - b2) * gi * gi);
        w[i] = w[i]! - (lr * (mi * c1)) / (Math.sqrt(vi * c2) + this.eps);
      }
    }
    // stop at the first non-finite gradient or weight: nothing downstream (measures, adapters) can use it
    for (const [name, g] of grads) {
      const w = model.weights.get(name)!.data;
      const bad = g.findIndex((x) => !Number.isFinite(x)) >= 0 ? 'gradient' : w.findIndex((x) => !Number.isFinite(x)) >= 0 ? 'weight' : null;
      if (!bad) continue;
      const fmt = (x: number) => (Math.abs(x) >= 1e4 || Math.abs(x) < 1e-3 ? x.toExponential() : String(x));
      throw new UserError(
        `unlearning stopped at optimiser step ${this.t}: a non-finite ${bad} in ${name}; likely cause: the learning rate --lr ${fmt(lr)} is too large for ${this.kind} (try ${fmt(lr / 10)} or smaller). Nothing was written.`,
      );
    }
  }
}
