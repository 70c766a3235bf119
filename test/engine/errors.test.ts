/**
 * Bad calls into the engine give a clear TypeScript error naming the problem, never a native crash
 * (a GGML_ASSERT would abort this test process, and the runner would report the file as failed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/engine/graph.ts';
import * as op from '../../src/engine/ops.ts';
import * as nn from '../../src/engine/composite.ts';

/** A fresh graph, disposed after f. */
function withGraph(f: (g: Graph) => void): void {
  const g = new Graph({ maxNodes: 256 });
  try {
    f(g);
  } finally {
    g.dispose();
  }
}

test('wrong shapes are rejected before ggml sees them', () => {
  withGraph((g) => {
    const a = g.input('a', [4, 3]);
    const b = g.input('b', [5, 2]);
    assert.throws(() => op.mulMat(a, b), { name: 'TypeError', message: /mulMat: inner dimensions differ: \[4, 3\] x \[5, 2\]/ });
    assert.throws(() => op.mulMat(g.input('c', [4, 3, 2]), g.input('d', [4, 2, 3])), /mulMat: batch dims of \[4, 3, 2\] do not broadcast into \[4, 2, 3\]/);
    assert.throws(() => op.add(a, g.input('e', [3, 3])), { name: 'TypeError', message: /add: shape \[3, 3\] does not broadcast into \[4, 3\]/ });
    assert.throws(() => op.mul(a, g.input('f', [4, 2])), /mul: shape \[4, 2\] does not broadcast into \[4, 3\]/);
    assert.throws(() => op.reshape(a, [5, 2]), /reshape: \[4, 3\] \(12 elements\) cannot become \[5, 2\] \(10\)/);
    assert.throws(() => op.swigluSplit(a, b), /swigluSplit: \[4, 3\] vs \[5, 2\]/);
    assert.throws(() => op.crossEntropyLoss(a, b), /crossEntropyLoss: logits \[4, 3\] and labels \[5, 2\] differ/);
    assert.throws(() => op.getRows(a, g.input('idx', [2])), /getRows: indices must be i32/);
    assert.throws(() => op.softMaxExt(g.input('s', [5, 5]), g.input('m', [5, 4]), 1), /softMaxExt: mask \[5, 4\] does not cover scores \[5, 5\]/);
    assert.throws(
      () => op.ropeExt(g.input('q', [8, 2, 4]), g.input('pos', [3], 'i32'), { nDims: 8, mode: op.ROPE_NORMAL }),
      /ropeExt: 3 positions for ne\[2\] = 4/,
    );
    assert.throws(() => op.ropeExt(g.input('q2', [8, 2, 4]), g.input('pos2', [4], 'i32'), { nDims: 9, mode: 0 }), /nDims 9 must be even/);
    assert.throws(() => op.im2col(g.input('k', [3, 3, 2, 4]), g.input('img', [6, 6, 3, 1]), {}), /im2col: kernel has 2 input channels, data has 3/);
    assert.throws(() => op.im2col(g.input('k2', [7, 7, 1, 1]), g.input('img2', [4, 4, 1, 1]), {}), /does not fit data/);
    assert.throws(() => nn.conv2d(g.input('k3', [3, 3, 2, 4]), g.input('img3', [6, 6, 3, 1])), /conv2d: kernel \[3, 3, 2, 4\] expects 2 input channels/);
    assert.throws(() => nn.groupNorm(g.input('gn', [2, 2, 6, 1]), 4), /6 channels cannot be split into 4 groups/);
    assert.throws(() => op.pool2d(a, 'max', 5), /pool2d: kernel 5 larger than input/);
    assert.throws(() => op.permute(a, [0, 1, 1, 3]), /not a permutation/);
    assert.throws(() => op.scale(a, NaN), /scale: factor NaN is not finite/);
  });
});

test('bad shapes for new tensors', () => {
  withGraph((g) => {
    assert.throws(() => g.param('w', [0, 3]), /shape entries must be positive integers/);
    assert.throws(() => g.input('x', [2, 2, 2, 2, 2]), /a shape has 1 to 4 dimensions/);
    assert.throws(() => g.param('i', [3], 'i32'), /trainable tensors must be f32 or f16/);
  });
});

test('Graph.set rejects wrong lengths, wrong array types and non-finite values', () => {
  withGraph((g) => {
    const x = g.input('x', [4, 3]);
    const idx = g.input('idx', [3], 'i32');
    g.build({ outputs: [op.sum(x)] });
    g.allocate();
    assert.throws(() => g.set(x, new Float32Array(11)), { name: 'TypeError', message: /expected 12 values for shape \[4, 3\], got 11/ });
    assert.throws(() => g.set(x, new Int32Array(12)), /expected a Float32Array/);
    assert.throws(() => g.set(idx, new Float32Array(3)), /expected an Int32Array/);
    assert.throws(() => g.set(idx, new Int32Array(4)), /expected 3 values/);
    const bad = new Float32Array(12).fill(1);
    bad[5] = NaN;
    assert.throws(() => g.set(x, bad), { name: 'RangeError', message: /value NaN at index 5 is not finite/ });
    bad[5] = Infinity;
    assert.throws(() => g.set(x, bad), /value Infinity at index 5 is not finite/);
    bad[5] = -Infinity;
    assert.throws(() => g.set(x, bad), /value -Infinity at index 5 is not finite/);
    g.set(x, bad, { allowNegInfinity: true }); // masks may hold -Infinity ...
    bad[7] = NaN;
    assert.throws(() => g.set(x, bad, { allowNegInfinity: true }), /value NaN at index 7/); // ... but never NaN
    // the tensor keeps working after rejected writes
    g.set(x, new Float32Array(12).fill(0.5));
    g.compute('forward');
    assert.equal(g.get(x)[0], 0.5);
  });
});

test('backward without a loss, without parameters, or with a non-scalar loss', () => {
  withGraph((g) => {
    const w = g.param('w', [3]);
    assert.throws(() => g.build({ outputs: [op.sqr(w)], backward: true }), /a backward graph needs a loss/);
  });
  withGraph((g) => {
    const x = g.input('x', [3]);
    assert.throws(() => g.build({ loss: op.sum(x), backward: true }), /a backward graph needs at least one parameter/);
  });
  withGraph((g) => {
    const w = g.param('w', [3]);
    assert.throws(() => g.build({ loss: op.sqr(w), backward: true }), /the loss must be an f32 scalar/);
  });
  withGraph((g) => {
    const w = g.param('w', [3]);
    g.param('unused', [2]);
    assert.throws(() => g.build({ loss: op.sum(w), backward: true }), /parameter unused does not influence the loss/);
  });
  withGraph((g) => {
    assert.throws(() => g.build({}), /needs at least one output or a loss/);
  });
});

test('wrong order of calls and tensors from another graph', () => {
  withGraph((g) => {
    const w = g.param('w', [3]);
    const loss = op.sum(op.sqr(w));
    assert.throws(() => g.allocate(), /call Graph.build\(\) before allocate\(\)/);
    g.build({ loss });
    assert.throws(() => g.build({ loss }), /already called/);
    assert.throws(() => g.compute('forward'), /call Graph.allocate\(\) first/);
    g.allocate();
    assert.throws(() => g.compute('backward'), /no backward graph was built/);
    assert.throws(() => g.grad(w), /no backward graph/);
    assert.throws(() => g.step({ lr: 0.1 }), /no optimiser/);
    assert.throws(() => op.sqr(w), /this Graph is allocated; build every tensor before allocate\(\)/);
    withGraph((h) => {
      const v = h.input('v', [3]);
      assert.throws(() => op.add(w, v), /tensors belong to different Graphs/);
      assert.throws(() => g.set(v, new Float32Array(3)), /belongs to another Graph/);
    });
  });
});

test('use after dispose gives an error, not a crash', () => {
  const g = new Graph({ maxNodes: 64 });
  const w = g.param('w', [3]);
  const loss = op.sum(op.sqr(w));
  g.build({ loss, backward: true });
  g.allocate();
  g.set(w, Float32Array.from([1, 2, 3]));
  g.compute('backward');
  assert.deepEqual(Array.from(g.grad(w)), [2, 4, 6]);
  g.dispose();
  g.dispose(); // twice is fine
  assert.throws(() => g.set(w, Float32Array.from([1, 2, 3])), /this Graph was disposed/);
  assert.throws(() => g.get(w), /this Graph was disposed/);
  assert.throws(() => g.compute('forward'), /this Graph was disposed/);
  assert.throws(() => g.grad(w), /this Graph was disposed/);
  assert.throws(() => g.lossValue(), /this Graph was disposed/);
  assert.throws(() => op.sqr(w), /this Graph was disposed/);
  assert.throws(() => g.param('v', [2]), /this Graph was disposed/);
  assert.equal(g.nodeCount('backward'), 0, 'no reads of the freed graph');
  assert.match(String(w), /Tensor\(\(disposed\) f32 \[3\]\)/, 'naming a disposed tensor reads no freed memory');
  withGraph((h) => {
    const v = h.input('v', [3]);
    assert.throws(() => op.add(v, w), /different Graphs/);
  });
});
