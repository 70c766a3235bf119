/**
 * The RUM CNN on the engine: the gather convolution against a float64 reference, ggml's gradients
 * of the whole tiny model (two weighted loss segments, one negative, and the L1 term) against
 * central finite differences, bit-exact resumption from a checkpoint, and the weights file format.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Graph } from '../../src/engine/graph.ts';
import { GraphConstants, gatherConv, referenceConv } from '../../src/rum/conv.ts';
import { TrainGraph } from '../../src/rum/graphs.ts';
import { initWeights, paramSpecs, resolveConfig, stemRows, type Weights } from '../../src/rum/model.ts';
import { runLoop } from '../../src/rum/train.ts';
import { layerShapes, loadTensors, RUM_ARCH, saveTensors } from '../../src/rum/weightsFile.ts';
import { getMeta, getTensorInfo, readGguf, writeGguf } from '../../src/model/gguf.ts';
import type { ImageSet } from '../../src/data/images.ts';
import { Rng } from '../../src/util/rng.ts';
import { UserError } from '../../src/util/errors.ts';

test('gather convolution equals a float64 reference (3x3 stride 1 and 2, 1x1 stride 2; replicate padding)', () => {
  const rng = new Rng(1);
  for (const [w, h, n, c, oc, k, s] of [
    [5, 4, 2, 3, 4, 3, 1],
    [6, 6, 2, 2, 3, 3, 2],
    [5, 5, 2, 4, 2, 1, 2],
  ] as const) {
    const g = new Graph();
    try {
      const consts = new GraphConstants();
      const x = g.input('x', [c, w * h * n]);
      const wt = g.input('w', [k * k * c, oc]);
      const r = gatherConv(consts, wt, x, { w, h, n, k, stride: s });
      g.build({ outputs: [r.y] });
      g.allocate();
      consts.apply(g);
      const xv = rng.normalArray(c * w * h * n);
      const wv = rng.normalArray(k * k * c * oc);
      g.set(x, xv);
      g.set(wt, wv);
      g.compute('forward');
      const got = g.get(r.y);
      const ref = referenceConv(xv, wv, c, oc, { w, h, n, k, stride: s });
      assert.equal(got.length, ref.length);
      let d = 0;
      for (let i = 0; i < ref.length; i++) d = Math.max(d, Math.abs(ref[i]! - got[i]!));
      assert.ok(d < 1e-5, `conv ${w}x${h} k${k} s${s}: max |ggml - reference| = ${d}`);
    } finally {
      g.dispose();
    }
  }
});

/** Central differences of the graph's loss for `count` sampled elements of each parameter. */
function fdCheck(tg: TrainGraph, w: Weights, x: Float32Array, y: Float32Array, l1: number, rng: Rng, scale = 1) {
  const grads = tg.gradients(x, y, l1);
  const h = 2e-3;
  let num2 = 0;
  let diff2 = 0;
  const per: string[] = [];
  for (const p of paramSpecs(tg.o.config)) {
    const v = Float32Array.from(w.get(p.name)!);
    const a = grads.get(p.name)!;
    let pn = 0;
    let pd = 0;
    for (let k = 0; k < 10; k++) {
      const i = rng.int(v.length);
      const x0 = v[i]!;
      v[i] = Math.fround(x0 + h);
      tg.setParam(p.name, v);
      const lp = tg.lossAt(x, y, l1);
      v[i] = Math.fround(x0 - h);
      tg.setParam(p.name, v);
      const lm = tg.lossAt(x, y, l1);
      v[i] = x0;
      tg.setParam(p.name, v);
      const num = (lp - lm) / (Math.fround(x0 + h) - Math.fround(x0 - h));
      const an = a[i]! * scale;
      pn += num * num;
      pd += (num - an) ** 2;
    }
    num2 += pn;
    diff2 += pd;
    per.push(`${p.name} rel ${(Math.sqrt(pd) / Math.max(Math.sqrt(pn), 1e-12)).toExponential(2)}`);
  }
  return { rel: Math.sqrt(diff2) / Math.sqrt(num2), per };
}

test('ggml gradients of the tiny CNN (GroupNorm, residuals, weighted segments, L1) match finite differences', (t) => {
  const cfg = resolveConfig('tiny');
  const tg = new TrainGraph({ config: cfg, segments: [{ size: 2, weight: 0.7 }, { size: 1, weight: -0.3 }], l1: true });
  try {
    const rng = new Rng(5);
    const w = initWeights(cfg, 3);
    // non-trivial norm parameters, so their gradients are checked away from the identity
    for (const p of paramSpecs(cfg)) {
      if (p.kind === 'norm-weight') w.set(p.name, Float32Array.from(w.get(p.name)!, () => 1 + 0.5 * rng.normal()));
      if (p.kind === 'norm-bias' || p.kind === 'fc-bias') w.set(p.name, rng.normalArray(w.get(p.name)!.length, 0.5));
    }
    // the stem's padding rows stay zero (see stemRows)
    assert.ok(stemRows(cfg) > 27);
    tg.load(w);
    const B = 3;
    const x = rng.normalArray(B * 3 * cfg.height * cfg.width);
    const y = new Float32Array(B * cfg.classes);
    for (let i = 0; i < B; i++) y[i * cfg.classes + ((i + 1) % cfg.classes)] = 1;
    const ok = fdCheck(tg, w, x, y, 1e-3, new Rng(9));
    t.diagnostic(`relative error over all parameters ${ok.rel.toExponential(2)}`);
    assert.ok(ok.rel < 1e-2, `relative gradient error ${ok.rel}:\n${ok.per.join('\n')}`);
    // the check has teeth: a gradient 10% off fails it
    const bad = fdCheck(tg, w, x, y, 1e-3, new Rng(9), 1.1);
    assert.ok(bad.rel > 5e-2, `a scaled gradient passed (${bad.rel})`);
  } finally {
    tg.dispose();
  }
});

function tinySet(n: number, seed: number): ImageSet {
  const rng = new Rng(seed);
  const labels = Int32Array.from({ length: n }, () => rng.int(4));
  return { images: rng.normalArray(n * 3 * 8 * 8), labels, n, c: 3, h: 8, w: 8, classes: ['a', 'b', 'c', 'd'], sources: ['synthetic'] };
}

test('an interrupted training run resumes from its checkpoint to bit-identical weights', () => {
  const cfg = resolveConfig('tiny');
  const set = tinySet(24, 3);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rum-ckpt-'));
  try {
    const base = {
      config: cfg,
      init: initWeights(cfg, 1),
      sources: [{ set, indices: Array.from({ length: 24 }, (_, i) => i), weight: 1 }],
      epochs: 3,
      batch: 8,
      hyper: { lr: 0.05, momentum: 0.9, weightDecay: 5e-4, schedule: 'cosine' as const },
      seed: 4,
    };
    const straight = runLoop(base);
    // stop during epoch 2 (after epoch 1's checkpoint was written)
    assert.throws(
      () =>
        runLoop({
          ...base,
          checkpointDir: dir,
          checkpointKey: 'k',
          onBatch: ({ epoch }) => {
            if (epoch === 1) throw new Error('interrupted');
          },
        }),
      /interrupted/,
    );
    const resumed = runLoop({ ...base, checkpointDir: dir, checkpointKey: 'k' });
    assert.equal(resumed.resumedEpochs, 1);
    for (const [k, v] of straight.weights) assert.deepEqual(resumed.weights.get(k), v, `weight ${k} differs after resuming`);
    assert.deepEqual(resumed.losses, straight.losses);
    // a checkpoint made for another run (key) is ignored
    const other = runLoop({ ...base, checkpointDir: dir, checkpointKey: 'other' });
    assert.equal(other.resumedEpochs, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('weights files are GGUF (architecture unlearnkit-rum-cnn, layer shapes); old UKRUMW1, truncated or foreign files are clear errors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rum-weights-'));
  try {
    const config = resolveConfig('tiny');
    const w = initWeights(config, 3);
    const file = path.join(dir, 'm.gguf');
    saveTensors(file, { note: 'x', config }, w, layerShapes(config));
    const back = loadTensors<{ note: string }>(file);
    assert.equal(back.meta.note, 'x');
    assert.deepEqual([...back.tensors.keys()], [...w.keys()]);
    for (const [n, v] of w) assert.deepEqual(back.tensors.get(n), v, n);
    // read back by the GGUF reader: our architecture key, F32 tensors at their layer shapes
    const g = readGguf(file);
    assert.equal(getMeta(g, 'general.architecture'), RUM_ARCH);
    for (const p of paramSpecs(config)) assert.deepEqual(getTensorInfo(g, p.name).ne, p.shape, p.name);
    // an old UKRUMW1 file: refused, naming the format and saying to re-run
    const old = path.join(dir, 'old.bin');
    fs.writeFileSync(old, Buffer.concat([Buffer.from('UKRUMW1\n', 'latin1'), Buffer.alloc(16)]));
    assert.throws(() => loadTensors(old), (e: unknown) => e instanceof UserError && /UKRUMW1/.test((e as Error).message) && /re-run/.test((e as Error).message));
    // truncated
    const cut = path.join(dir, 'cut.gguf');
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(cut, bytes.subarray(0, bytes.length - 64)); // past the end padding, into the last tensor
    assert.throws(() => loadTensors(cut), (e: unknown) => e instanceof UserError && /truncat|past the end|beyond/i.test((e as Error).message));
    // a GGUF of another architecture
    const foreign = path.join(dir, 'foreign.gguf');
    writeGguf(foreign, { metadata: [['general.architecture', 'llama']], tensors: [] });
    assert.throws(() => loadTensors(foreign), (e: unknown) => e instanceof UserError && /not an unlearnkit RUM weights file/.test((e as Error).message));
    // not GGUF at all
    const zeros = path.join(dir, 'zeros.bin');
    fs.writeFileSync(zeros, new Uint8Array(40));
    assert.throws(() => loadTensors(zeros), (e: unknown) => e instanceof UserError && /not a GGUF file/.test((e as Error).message));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
