/**
 * ggml aborts the whole process when asked to differentiate an op without a backward (or one of the
 * op/shape combinations its backward asserts against). autodiff.ts checks every forward graph first:
 * these tests build such graphs, expect a NotDifferentiableError naming the op, and show that the
 * process is still alive and that the composite replacement differentiates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, type Tensor } from '../../src/engine/graph.ts';
import * as op from '../../src/engine/ops.ts';
import * as nn from '../../src/engine/composite.ts';
import { NotDifferentiableError } from '../../src/engine/autodiff.ts';
import { checkGrad } from './util.ts';

/** Build loss(x) with x a [6, 3] parameter and a backward graph; returns the error thrown, if any. */
function buildBackward(f: (x: Tensor, g: Graph) => Tensor, opts: { accumulate?: boolean } = {}): unknown {
  const g = new Graph();
  try {
    const x = g.param('x', [6, 3]);
    const y = f(x, g);
    g.build({ loss: y.numel === 1 ? y : op.sum(y), backward: true, accumulate: opts.accumulate });
    return null;
  } catch (e) {
    return e;
  } finally {
    g.dispose();
  }
}

for (const [name, f, opName] of [
  ['tanh', (x: Tensor) => op.tanh(x), 'TANH'],
  ['geluNative', (x: Tensor) => op.geluNative(x), 'GELU'],
  ['normNative', (x: Tensor) => op.normNative(x, 1e-5), 'NORM'],
  ['sigmoid', (x: Tensor) => op.sigmoid(x), 'SIGMOID'],
  ['tanh deep inside a graph', (x: Tensor) => op.mulMat(op.sqr(op.tanh(op.scale(x, 2))), x), 'TANH'],
] as const) {
  test(`backward through ${name} raises NotDifferentiableError naming ${opName}`, () => {
    const e = buildBackward(f);
    assert.ok(e instanceof NotDifferentiableError, `expected NotDifferentiableError, got ${String(e)}`);
    assert.ok(e instanceof TypeError);
    assert.match(e.message, new RegExp(`no backward for ${opName}`));
    assert.match(e.message, /composite\.ts/);
    assert.deepEqual(e.ops, [opName]);
  });
}

test('a non-differentiable op that does not lie between a parameter and the loss is fine', () => {
  const g = new Graph();
  try {
    const x = g.param('x', [4, 2]);
    const c = g.input('c', [4, 2]);
    g.build({ loss: op.sum(op.mul(x, op.tanh(c))), backward: true }); // tanh of data only
    g.allocate();
    g.set(x, new Float32Array(8).fill(1));
    g.set(c, Float32Array.from([0, 0.5, 1, 2, -1, -2, 3, 0.1]));
    g.compute('backward');
    const grad = g.grad(x);
    assert.ok(Math.abs(grad[3]! - Math.tanh(2)) < 1e-6, `d/dx = tanh(c): ${grad[3]}`);
  } finally {
    g.dispose();
  }
});

test('op combinations whose ggml backward would abort raise NotDifferentiableError instead', () => {
  const cases: Array<[string, (x: Tensor, g: Graph) => Tensor, RegExp, { accumulate?: boolean }?]> = [
    ['sub with a broadcast operand', (x) => op.sub(x, op.sumRows(x)), /SUB \(broadcast operand\)/],
    ['div with a broadcast operand', (x) => op.div(x, op.sumRows(op.sqr(x))), /DIV \(broadcast operand\)/],
    ['row mean of a tensor that feeds a later op', (x) => op.mul(op.mean(x), op.sumRows(op.sqr(x))), /MEAN/],
    ['row mean of a parameter with gradient accumulation', (x) => op.mean(x), /MEAN/, { accumulate: true }],
    ['cross-entropy with trainable labels', (x, g) => op.crossEntropyLoss(g.param('logits', [6, 3]), op.softMax(x)), /labels/],
    ['softmax with a trainable mask', (x, g) => op.softMaxExt(g.param('s', [6, 3]), x, 1), /mask/],
    ['mulMat with its first operand broadcast over dim 3', (x, g) => op.mulMat(x, g.input('b', [6, 2, 2, 3])), /4th dimension/],
  ];
  for (const [what, f, re, o] of cases) {
    const e = buildBackward(f, o);
    assert.ok(e instanceof NotDifferentiableError, `${what}: expected NotDifferentiableError, got ${String(e)}`);
    assert.match(e.message, re, what);
  }
  // the same reductions written the supported way build fine
  assert.equal(buildBackward((x) => op.add(x, op.scale(op.sumRows(x), -1))), null);
  assert.equal(buildBackward((x) => op.mean(x)), null, 'a row mean alone is fine');
});

test('the same graph through composite.gelu / sigmoid / layerNorm builds and differentiates', (t) => {
  checkGrad(t, 'tanh-free graph', {
    params: { x: { shape: [6, 3] } },
    build: (i) => op.mulMat(nn.layerNorm(nn.gelu(i.x!), 1e-5), nn.sigmoid(op.scale(i.x!, 2))),
  });
});
