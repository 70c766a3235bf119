/**
 * Seeded augmentation: crop-with-padding and flip checked against hand-computed shifts, the
 * documented draw order, determinism, and the black-pixel fill on normalised sets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/util/rng.ts';
import { augmentBatch, blackFill, cropFlip } from '../../src/data/augment.ts';
import type { ImageSet } from '../../src/data/images.ts';
import { syntheticCifarSet } from '../../src/data/syntheticCifar.ts';

/** A 1 x 3 x 3 image holding 1..9 row-major. */
const IMG = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9]);

function run(dy: number, dx: number, flip: boolean, pad = 1): number[] {
  const out = new Float32Array(9);
  cropFlip(IMG, 0, out, 0, 1, 3, 3, dy, dx, flip, pad, [0]);
  return Array.from(out);
}

test('cropFlip: shifts with zero fill and mirrors columns', () => {
  assert.deepEqual(run(1, 1, false), [1, 2, 3, 4, 5, 6, 7, 8, 9], 'dy = dx = pad is the identity');
  // dy = dx = 0 takes the top-left window of the padded image: content moves down-right.
  assert.deepEqual(run(0, 0, false), [0, 0, 0, 0, 1, 2, 0, 4, 5]);
  // dy = dx = 2 takes the bottom-right window: content moves up-left.
  assert.deepEqual(run(2, 2, false), [5, 6, 0, 8, 9, 0, 0, 0, 0]);
  assert.deepEqual(run(1, 1, true), [3, 2, 1, 6, 5, 4, 9, 8, 7]);
  // Flip of the shifted crop: out[y][x] = crop[y][W-1-x].
  assert.deepEqual(run(0, 0, true), [0, 0, 0, 2, 1, 0, 5, 4, 0]);
  // Two channels, each padded with its own fill value.
  const two = new Float32Array([1, 2, 3, 4, 10, 20, 30, 40]);
  const out = new Float32Array(8);
  cropFlip(two, 0, out, 0, 2, 2, 2, 0, 0, false, 1, [-1, -2]);
  assert.deepEqual(Array.from(out), [-1, -1, -1, 1, -2, -2, -2, 10]);
});

function tinySet(n: number, norm?: ImageSet['norm']): ImageSet {
  const images = new Float32Array(n * 3 * 8 * 8);
  for (let i = 0; i < images.length; i++) images[i] = ((i * 37) % 101) / 100;
  return { images, labels: new Int32Array(n), n, c: 3, h: 8, w: 8, classes: ['a'], norm, sources: ['mem'] };
}

test('augmentBatch: same seed gives the same batch, another seed differs, input untouched', () => {
  const set = tinySet(6);
  const before = Float32Array.from(set.images);
  const a = augmentBatch(set, [0, 1, 2, 3, 4, 5], new Rng(11));
  const b = augmentBatch(set, [0, 1, 2, 3, 4, 5], new Rng(11));
  const c = augmentBatch(set, [0, 1, 2, 3, 4, 5], new Rng(12));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.deepEqual(set.images, before);
  assert.equal(a.length, 6 * 3 * 64);
  const none = augmentBatch(set, [3, 1], new Rng(1), { crop: false, flip: false });
  assert.deepEqual(Array.from(none.subarray(0, 192)), Array.from(set.images.subarray(3 * 192, 4 * 192)));
  assert.throws(() => augmentBatch(set, [6], new Rng(1)), /out of range/);
});

test('augmentBatch follows the documented draw order (dy, dx, flip) on CIFAR-format images', () => {
  const set = syntheticCifarSet({ n: 4, seed: 1, normalize: 'cifar10' });
  const got = augmentBatch(set, [2, 0, 3], new Rng(99));
  const rng = new Rng(99);
  const fill = blackFill(set);
  const per = 3072;
  for (const [k, i] of [2, 0, 3].entries()) {
    const dy = rng.int(9);
    const dx = rng.int(9);
    const flip = rng.next() < 0.5;
    assert.ok(dy >= 0 && dy <= 8 && dx >= 0 && dx <= 8);
    const want = new Float32Array(per);
    cropFlip(set.images, i * per, want, 0, 3, 32, 32, dy, dx, flip, 4, fill);
    assert.deepEqual(got.subarray(k * per, (k + 1) * per), want);
  }
  // Padding on a normalised set is a black pixel: (0 - mean) / std.
  assert.ok(Math.abs(fill[0]! - -0.4914 / 0.247) < 1e-9);
  const shifted = new Float32Array(per);
  cropFlip(set.images, 0, shifted, 0, 3, 32, 32, 0, 0, false, 4, fill);
  assert.equal(shifted[0], Math.fround(fill[0]!));
  assert.equal(shifted[4 * 32 + 4], set.images[0]);
});

test('augmentBatch over many draws: every offset 0..2p occurs, about half the images flip', () => {
  // One channel 5 x 5, a single 1 in the centre; with pad 2 the 1 lands at (2 - (dy - 2), 2 - (dx - 2)).
  const N = 2000;
  const img = new Float32Array(25);
  img[12] = 1;
  const set: ImageSet = { images: img, labels: new Int32Array(1), n: 1, c: 1, h: 5, w: 5, classes: ['a'], sources: ['mem'] };
  const out = augmentBatch(set, new Array<number>(N).fill(0), new Rng(5), { pad: 2, flip: false });
  const seen = new Set<string>();
  for (let k = 0; k < N; k++) {
    const at = out.subarray(k * 25, (k + 1) * 25).indexOf(1);
    assert.ok(at >= 0, 'the marker is always inside with pad 2');
    seen.add(`${Math.floor(at / 5)},${at % 5}`);
  }
  assert.equal(seen.size, 25, 'all 5 x 5 offsets occur');
  // Flip only: an image with its 1 in the left column is flipped iff the 1 ends in the right column.
  const left = new Float32Array(25);
  left[10] = 1;
  const flipped = augmentBatch({ ...set, images: left }, new Array<number>(N).fill(0), new Rng(6), { crop: false });
  let flips = 0;
  for (let k = 0; k < N; k++) if (flipped[k * 25 + 14] === 1) flips++;
  // Binomial(2000, 0.5): sd 22.4; a 4.5 sd bound.
  assert.ok(Math.abs(flips - N / 2) < 100, `flips ${flips}`);
});
