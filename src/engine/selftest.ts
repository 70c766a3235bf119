/**
 * A tiny forward + backward + AdamW check of one device, used by `unlearnkit doctor`: builds
 * loss = sum(silu(W x)^2), compares ggml's gradient of one weight with a central finite difference,
 * and takes one optimiser step. Returns what happened instead of throwing, so doctor can report it.
 */
import { Graph } from './graph.ts';
import * as op from './ops.ts';
import type { Engine, DeviceInfo } from './engine.ts';
import { Rng } from '../util/rng.ts';

export interface SelfTestResult {
  device: string;
  description: string;
  ok: boolean;
  ms: number;
  gradRelError?: number;
  error?: string;
}

export function selfTest(engine: Engine, device: DeviceInfo): SelfTestResult {
  const t0 = performance.now();
  let g: Graph | null = null;
  try {
    g = new Graph({ engine, device });
    const w = g.param('w', [8, 6]);
    const x = g.input('x', [8, 5]);
    const loss = op.sum(op.sqr(op.silu(op.mulMat(w, x))));
    g.build({ loss, backward: true, optimizer: 'adamw' });
    g.allocate();
    const rng = new Rng(1);
    const wd = rng.normalArray(48, 0.5);
    g.set(w, wd);
    g.set(x, rng.normalArray(40, 1));
    g.compute('backward');
    const grad = g.grad(w);
    let worst = 0;
    for (const i of [0, 7, 23, 47]) {
      const h = 1e-2;
      const p = wd.slice();
      p[i]! += h;
      g.set(w, p);
      g.compute('forward');
      const lp = g.lossValue();
      p[i]! -= 2 * h;
      g.set(w, p);
      g.compute('forward');
      const lm = g.lossValue();
      const fd = (lp - lm) / (2 * h);
      worst = Math.max(worst, Math.abs(fd - grad[i]!) / Math.max(1e-3, Math.abs(fd)));
    }
    g.set(w, wd);
    g.step({ lr: 1e-2 });
    const after = g.get(w);
    const moved = after.some((v, i) => v !== wd[i]);
    const ok = worst < 5e-2 && moved;
    return {
      device: device.name,
      description: device.description,
      ok,
      ms: performance.now() - t0,
      gradRelError: worst,
      ...(ok ? {} : { error: moved ? `gradient differs from finite differences (rel ${worst.toExponential(2)})` : 'the optimiser step did not change the weights' }),
    };
  } catch (e) {
    return { device: device.name, description: device.description, ok: false, ms: performance.now() - t0, error: (e as Error).message };
  } finally {
    g?.dispose();
  }
}
