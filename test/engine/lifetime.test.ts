/**
 * Explicit lifetimes: 1000 build / allocate / compute / dispose cycles of a small MLP training step
 * (forward + backward + AdamW) must not grow resident memory by 50 MB or more. A Graph that leaked
 * its ggml context (about 10 MB with the default 8192 nodes) or its backend buffer would exceed that
 * within a few cycles.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/engine/graph.ts';
import * as op from '../../src/engine/ops.ts';
import { Rng } from '../../src/util/rng.ts';

const rng = new Rng(42);
const W1 = rng.normalArray(16 * 32, 0.25);
const B1 = rng.normalArray(32, 0.1);
const W2 = rng.normalArray(32 * 8, 0.2);
const X = rng.normalArray(16 * 8);
const Y = new Float32Array(8 * 8);
for (let n = 0; n < 8; n++) Y[n * 8 + ((n * 5) % 8)] = 1;

/** One full cycle; returns the loss after one AdamW step. */
function cycle(): number {
  const g = new Graph();
  try {
    const w1 = g.param('w1', [16, 32]);
    const b1 = g.param('b1', [32]);
    const w2 = g.param('w2', [32, 8]);
    const x = g.input('x', [16, 8]);
    const y = g.input('y', [8, 8]);
    const logits = op.mulMat(w2, op.silu(op.add(op.mulMat(w1, x), b1)));
    const loss = op.crossEntropyLoss(logits, y);
    g.build({ loss, backward: true, optimizer: 'adamw' });
    g.allocate();
    g.set(w1, W1);
    g.set(b1, B1);
    g.set(w2, W2);
    g.set(x, X);
    g.set(y, Y);
    g.step({ lr: 1e-2 });
    const l = g.lossValue();
    g.grad(w1); // read gradients back too
    g.get(w2);
    return l;
  } finally {
    g.dispose();
  }
}

test('1000 build / allocate / compute / dispose cycles grow RSS by less than 50 MB', (t) => {
  const first = cycle();
  assert.ok(Number.isFinite(first) && first > 0, `loss ${first}`);
  for (let i = 0; i < 50; i++) cycle(); // warm-up: JIT, allocator pools, koffi caches
  const before = process.memoryUsage().rss;
  const t0 = performance.now();
  let last = 0;
  for (let i = 0; i < 1000; i++) last = cycle();
  const ms = performance.now() - t0;
  const after = process.memoryUsage().rss;
  const growthMb = (after - before) / 2 ** 20;
  const msg = `RSS ${(before / 2 ** 20).toFixed(1)} MB -> ${(after / 2 ** 20).toFixed(1)} MB: growth ${growthMb.toFixed(2)} MB over 1000 cycles (${(ms / 1000).toFixed(2)} ms per cycle)`;
  t.diagnostic(msg);
  process.stderr.write(`lifetime: ${msg}\n`);
  assert.equal(last, first, 'every cycle starts from the same weights and gives the same loss');
  assert.ok(growthMb < 50, msg);
});
