/**
 * CIFAR-10 / CIFAR-100 / MNIST readers, checked against the published facts of the MNIST fixture
 * and the known facts of generated CIFAR files (test/fixtures/README.md), and against files this
 * test writes (layouts, corrupt files).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { needFixture } from '../helpers/fixtures.ts';
import { readCifar10, readCifar100, readCifarFile, CIFAR100_COARSE_CLASSES, CIFAR100_FINE_CLASSES, CIFAR10_CLASSES } from '../../src/data/cifar.ts';
import { readIdx, readMnist, readMnistFiles, IDX_IMAGES_MAGIC } from '../../src/data/mnist.ts';
import { NORM_STATS, classCounts, normalizeSet, pixelBytes, subsetImages } from '../../src/data/images.ts';
import { detectImageFormat, openImageSet } from '../../src/data/image-sets.ts';
import { syntheticCifarSet, writeSyntheticCifarFolder } from '../../src/data/syntheticCifar.ts';
import { UserError } from '../../src/util/errors.ts';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'unlearnkit-data-'));
}

/** Pixel (x, y) of image i as [R, G, B] bytes. */
function rgb(set: { images: Float32Array }, i: number, x = 0, y = 0): number[] {
  return [0, 1, 2].map((c) => Math.round(set.images[i * 3072 + c * 1024 + y * 32 + x]! * 255));
}

/**
 * CIFAR-10 has no stated license, so the repo carries no CIFAR images: the CIFAR tests read files
 * that src/data/syntheticCifar.ts writes in the official layout (1000 records per file here), and
 * check them against facts of those files (test/fixtures/README.md) and against the raw bytes.
 */
const SYN = tmpDir();
const SYN10 = writeSyntheticCifarFolder(SYN, { trainPerFile: 1000, test: 1000, seed: 1 });
const SYN_TRAIN = path.join(SYN10, 'data_batch_1.bin');
const SYN_TEST = path.join(SYN10, 'test_batch.bin');
after(() => fs.rmSync(SYN, { recursive: true, force: true }));

test('synthetic CIFAR-10 train file: the bytes are the known ones; record 0 is a frog with first pixel 189,168,208', () => {
  const bytes = fs.readFileSync(SYN_TRAIN);
  assert.equal(bytes.length, 1000 * 3073);
  // the generator's output is pinned: any change to it changes the facts below and in the README
  assert.equal(crypto.createHash('sha256').update(bytes).digest('hex'), 'b1ae629f3a5ff8677ab01e00f6782557fb749322fce68615cab32b095a84b688');
  const s = readCifarFile(SYN_TRAIN);
  assert.equal(s.n, 1000);
  assert.deepEqual([s.c, s.h, s.w], [3, 32, 32]);
  assert.equal(s.images.length, 1000 * 3072);
  assert.deepEqual(Array.from(s.labels.subarray(0, 10)), [6, 8, 4, 2, 7, 4, 4, 8, 5, 6]);
  assert.equal(s.classes[6], 'frog');
  assert.deepEqual(s.classes, CIFAR10_CLASSES); // from batches.meta.txt beside it
  assert.deepEqual(rgb(s, 0), [189, 168, 208]);
  assert.deepEqual(Array.from(pixelBytes(s, 0).subarray(0, 1)), [189]);
  // Scaled exactly: byte / 255.
  assert.equal(s.images[0], Math.fround(189 / 255));
  // every label and pixel where the format puts it: record i = 1 label byte, then R, G, B planes of 1024
  for (const i of [0, 1, 499, 999]) {
    const o = i * 3073;
    assert.equal(s.labels[i], bytes[o]);
    for (const [x, y] of [[0, 0], [31, 0], [5, 17], [31, 31]] as const) {
      assert.deepEqual(rgb(s, i, x, y), [0, 1, 2].map((c) => bytes[o + 1 + c * 1024 + y * 32 + x]!), `record ${i} pixel (${x}, ${y})`);
    }
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of s.images) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  assert.ok(lo >= 0 && hi <= 1, `pixels in [0,1], got ${lo}..${hi}`);
  assert.deepEqual(classCounts(s), [96, 74, 105, 97, 109, 79, 106, 102, 106, 126]);
});

test('synthetic CIFAR-10 test file: labels 0 5 2 5 4 9 5 6 1 7, first pixel 214,140,101; the in-memory set is the same', () => {
  const s = readCifarFile(SYN_TEST, { variant: 'cifar10' });
  assert.equal(crypto.createHash('sha256').update(fs.readFileSync(SYN_TEST)).digest('hex'), 'ca477d939c37bca6cfda13c48d87917e582f644ae4a0fdae66881509938d75a1');
  assert.deepEqual(Array.from(s.labels.subarray(0, 10)), [0, 5, 2, 5, 4, 9, 5, 6, 1, 7]);
  assert.equal(s.classes[s.labels[0]!], 'airplane');
  assert.deepEqual(rgb(s, 0), [214, 140, 101]);
  const lim = readCifarFile(SYN_TEST, { limit: 5 });
  assert.equal(lim.n, 5);
  assert.deepEqual(Array.from(lim.labels), [0, 5, 2, 5, 4]);
  // syntheticCifarSet is what reading the written file gives; records do not depend on n
  const mem = syntheticCifarSet({ n: 1000, seed: 101 });
  assert.deepEqual(mem.labels, s.labels);
  assert.deepEqual(mem.images, s.images);
  const head = syntheticCifarSet({ n: 7, seed: 101 });
  assert.deepEqual(head.images, s.images.subarray(0, 7 * 3072));
  assert.notDeepEqual(syntheticCifarSet({ n: 7, seed: 102 }).images, head.images);
  assert.throws(() => syntheticCifarSet({ n: 0, seed: 1 }), UserError);
});

test('CIFAR-10 normalisation: (x/255 - mean)/std per channel; synthetic channel statistics are the known ones', () => {
  const f = SYN_TRAIN;
  const raw = readCifarFile(f);
  const norm = readCifarFile(f, { normalize: 'cifar10' });
  const { mean, std } = NORM_STATS.cifar10;
  const firstPixel = [189, 168, 208];
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(norm.images[c * 1024]! - (firstPixel[c]! / 255 - mean[c]!) / std[c]!) < 1e-6);
  }
  assert.deepEqual(Array.from(pixelBytes(norm, 0).subarray(0, 4)), Array.from(pixelBytes(raw, 0).subarray(0, 4)));
  // normalizeSet gives the same numbers as normalising while reading.
  const later = normalizeSet(raw, 'cifar10');
  for (let i = 0; i < 3072 * 3; i += 97) assert.ok(Math.abs(later.images[i]! - norm.images[i]!) < 1e-5);
  // Per-channel mean and std of the 1000 images: the generator's known values, and (by its design,
  // bytes = 255 (mean_c + std_c v) with CIFAR-10's constants) close to them, so normalised inputs
  // have about unit scale.
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  for (let i = 0; i < raw.n; i++) {
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) {
        const v = raw.images[i * 3072 + c * 1024 + p]!;
        sum[c]! += v;
        sq[c]! += v * v;
      }
    }
  }
  const N = raw.n * 1024;
  const known = { mean: [0.4878, 0.4984, 0.4518], std: [0.2541, 0.2524, 0.2631] };
  for (let c = 0; c < 3; c++) {
    const m = sum[c]! / N;
    const sd = Math.sqrt(sq[c]! / N - m * m);
    assert.ok(Math.abs(m - known.mean[c]!) < 1e-4, `channel ${c} mean ${m} vs ${known.mean[c]}`);
    assert.ok(Math.abs(sd - known.std[c]!) < 1e-4, `channel ${c} std ${sd} vs ${known.std[c]}`);
    assert.ok(Math.abs(m - mean[c]!) < 0.02 && Math.abs(sd / std[c]! - 1) < 0.05, `channel ${c}: ${m} / ${sd} far from CIFAR-10's ${mean[c]} / ${std[c]}`);
  }
  assert.throws(() => readCifarFile(f, { normalize: 'mnist' }), /1 means.*3 channel/);
});

test('synthetic CIFAR-10 and CIFAR-100 folders read through the official-layout readers', () => {
  const train = readCifar10(SYN, { strict: false, limit: 2500 });
  assert.equal(train.n, 2500);
  assert.deepEqual(train.images.subarray(0, 1000 * 3072), readCifarFile(SYN_TRAIN).images);
  assert.deepEqual(train.images.subarray(1000 * 3072, 1001 * 3072), syntheticCifarSet({ n: 1, seed: 2 }).images);
  assert.equal(detectImageFormat(SYN), 'cifar10');
  assert.throws(() => readCifar10(SYN), /data_batch_1\.bin: holds 1000 records but the official CIFAR-10 file has 10000/);
  const root = tmpDir();
  try {
    const dir = writeSyntheticCifarFolder(root, { variant: 'cifar100', trainPerFile: 50, test: 20, seed: 1 });
    assert.equal(path.basename(dir), 'cifar-100-binary');
    const s = readCifar100(root, { strict: false });
    assert.equal(s.n, 50);
    assert.deepEqual(Array.from(s.labels.subarray(0, 5)), [64, 80, 42, 26, 75]);
    assert.deepEqual(Array.from(s.coarseLabels!.subarray(0, 5)), [12, 16, 8, 5, 15]);
    s.labels.forEach((f, i) => assert.equal(s.coarseLabels![i], Math.floor(f / 5)));
    assert.deepEqual(s.classes, CIFAR100_FINE_CLASSES);
    assert.deepEqual(s.coarseClasses, CIFAR100_COARSE_CLASSES);
    assert.equal(readCifar100(dir, { split: 'test', strict: false }).n, 20);
    const mem = syntheticCifarSet({ variant: 'cifar100', n: 50, seed: 1 });
    assert.deepEqual(mem.images, s.images);
    assert.deepEqual(mem.coarseLabels, s.coarseLabels);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

/** One CIFAR record: label byte(s) then R, G, B planes filled with the given values. */
function record(labels: number[], r: number, g: number, b: number): Buffer {
  return Buffer.concat([Buffer.from(labels), Buffer.alloc(1024, r), Buffer.alloc(1024, g), Buffer.alloc(1024, b)]);
}

test('CIFAR-10 folder layout: data_batch_1..5 in order, strict counts, parent folder accepted', () => {
  const root = tmpDir();
  const dir = path.join(root, 'cifar-10-batches-bin');
  fs.mkdirSync(dir);
  for (let k = 1; k <= 5; k++) fs.writeFileSync(path.join(dir, `data_batch_${k}.bin`), Buffer.concat([record([k], k, 0, 0), record([9], 200, 100, 50)]));
  fs.writeFileSync(path.join(dir, 'test_batch.bin'), record([2], 1, 2, 3));
  const train = readCifar10(root, { strict: false });
  assert.equal(train.n, 10);
  assert.deepEqual(Array.from(train.labels), [1, 9, 2, 9, 3, 9, 4, 9, 5, 9]);
  assert.deepEqual(rgb(train, 4), [3, 0, 0]);
  assert.deepEqual(rgb(train, 5, 31, 31), [200, 100, 50]);
  assert.equal(train.sources.length, 5);
  const test = readCifar10(dir, { split: 'test', strict: false });
  assert.deepEqual(rgb(test, 0), [1, 2, 3]);
  assert.equal(readCifar10(dir, { strict: false, limit: 3 }).n, 3);
  assert.equal(detectImageFormat(root), 'cifar10');
  assert.equal(openImageSet(dir, { split: 'test', strict: false }).n, 1);
  assert.throws(() => readCifar10(dir), (e: Error) => e instanceof UserError && /data_batch_1\.bin: holds 2 records but the official CIFAR-10 file has 10000/.test(e.message));
  fs.rmSync(path.join(dir, 'data_batch_3.bin'));
  assert.throws(() => readCifar10(dir, { strict: false }), /missing data_batch_3\.bin/);
  fs.rmSync(root, { recursive: true, force: true });
});

test('CIFAR-100 layout on a tiny written file: coarse + fine labels, default names, strict counts', () => {
  const root = tmpDir();
  const dir = path.join(root, 'cifar-100-binary');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'train.bin'), Buffer.concat([record([11, 99], 10, 20, 30), record([0, 0], 255, 0, 128), record([19, 42], 7, 8, 9)]));
  fs.writeFileSync(path.join(dir, 'test.bin'), record([4, 54], 1, 1, 1));
  const s = readCifar100(root, { strict: false });
  assert.equal(s.n, 3);
  assert.deepEqual(Array.from(s.labels), [99, 0, 42]);
  assert.deepEqual(Array.from(s.coarseLabels!), [11, 0, 19]);
  assert.equal(CIFAR100_FINE_CLASSES.length, 100);
  assert.equal(CIFAR100_COARSE_CLASSES.length, 20);
  assert.equal(s.classes[99], 'worm');
  assert.equal(s.classes[42], 'leopard');
  assert.equal(s.coarseClasses![19], 'vehicles_2');
  assert.deepEqual(rgb(s, 0), [10, 20, 30]);
  assert.deepEqual(rgb(s, 1, 5, 7), [255, 0, 128]);
  const t = readCifar100(dir, { split: 'test', strict: false });
  assert.equal(t.classes[t.labels[0]!], 'orchid');
  // A single file with no names beside it: the variant is told from the size (3 x 3074 bytes).
  assert.deepEqual(Array.from(readCifarFile(path.join(dir, 'train.bin')).labels), [99, 0, 42]);
  assert.deepEqual(Array.from(subsetImages(s, [2, 0]).coarseLabels!), [19, 11]);
  assert.throws(() => readCifar100(dir), /train\.bin: holds 3 records but the official CIFAR-100 file has 50000/);
  // Names files, when present, must have the right length.
  fs.writeFileSync(path.join(dir, 'fine_label_names.txt'), 'a\nb\n');
  assert.throws(() => readCifar100(dir, { strict: false }), /fine_label_names\.txt: expected 100 class names/);
  fs.rmSync(root, { recursive: true, force: true });
});

test('CIFAR errors: truncated file, empty file, wrong variant, missing folder name the file', () => {
  const dir = tmpDir();
  const trunc = path.join(dir, 'data_batch_x.bin');
  fs.writeFileSync(trunc, Buffer.concat([record([1], 0, 0, 0), record([2], 0, 0, 0), Buffer.alloc(100)]));
  assert.throws(
    () => readCifarFile(trunc, { variant: 'cifar10' }),
    (e: Error) => e instanceof UserError && e.message.includes(trunc) && /2 whole record\(s\) and 100 stray bytes: truncated/.test(e.message),
  );
  const empty = path.join(dir, 'empty.bin');
  fs.writeFileSync(empty, '');
  assert.throws(() => readCifarFile(empty, { variant: 'cifar10' }), /empty\.bin.*the file is empty/);
  const wrong = path.join(dir, 'c100.bin');
  fs.writeFileSync(wrong, Buffer.concat([record([77], 0, 0, 0)]));
  assert.throws(() => readCifarFile(wrong, { variant: 'cifar10' }), /c100\.bin: record 0 has label 77 but CIFAR-10 has 10 classes/);
  assert.throws(() => readCifar10(path.join(dir, 'nope')), (e: Error) => e instanceof UserError && /nope does not exist/.test(e.message));
  assert.throws(() => readCifar10(dir), /is not a cifar-10-batches-bin\/ folder/);
  assert.throws(() => readCifarFile(path.join(dir, 'missing.bin')), /missing\.bin does not exist/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('MNIST test fixture: 10000 x 28 x 28, labels start 7 2 1 0 4 1 4 9, mean pixel 0.1325', (t) => {
  const img = needFixture(t, 'mnist', 't10k-images-idx3-ubyte.gz');
  const lab = needFixture(t, 'mnist', 't10k-labels-idx1-ubyte.gz');
  if (!img || !lab) return;
  const raw = readIdx(img, IDX_IMAGES_MAGIC);
  assert.deepEqual(raw.dims, [10000, 28, 28]);
  const s = readMnist(path.dirname(img), { split: 'test' });
  assert.deepEqual([s.n, s.c, s.h, s.w], [10000, 1, 28, 28]);
  assert.deepEqual(Array.from(s.labels.subarray(0, 8)), [7, 2, 1, 0, 4, 1, 4, 9]);
  let sum = 0;
  for (const v of s.images) sum += v;
  // The MNIST test-set mean pixel is 0.1325 (train 0.1307, the usual normalisation constant).
  assert.ok(Math.abs(sum / s.images.length - 0.1325) < 0.0005, `mean ${sum / s.images.length}`);
  assert.ok(Math.abs(sum / s.images.length - NORM_STATS.mnist.mean[0]) < 0.003);
  const n = readMnistFiles(img, lab, { normalize: 'mnist', limit: 2 });
  assert.equal(n.n, 2);
  assert.ok(Math.abs(n.images[0]! - (0 - 0.1307) / 0.3081) < 1e-6, 'corner pixel is background');
  assert.equal(detectImageFormat(path.dirname(img)), 'mnist');
  assert.throws(() => readMnist(path.dirname(img), { split: 'train' }), /no train-images-idx3-ubyte\(\.gz\) for the train split/);
});

/** An IDX file: magic, dims, data. */
function idx(magic: number, dims: number[], data: Uint8Array): Buffer {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([h, Buffer.from(data)]);
}

test('MNIST errors: wrong magic, truncated data, truncated gzip, count mismatch; plain and gzip both read', () => {
  const dir = tmpDir();
  const imgs = new Uint8Array(3 * 4 * 5).map((_, i) => i);
  const good = path.join(dir, 'train-images-idx3-ubyte');
  fs.writeFileSync(good, idx(0x803, [3, 4, 5], imgs));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte.gz'), zlib.gzipSync(idx(0x801, [3], new Uint8Array([5, 0, 9]))));
  const s = readMnist(dir);
  assert.deepEqual([s.n, s.h, s.w], [3, 4, 5]);
  assert.deepEqual(Array.from(s.labels), [5, 0, 9]);
  assert.equal(s.images[21], Math.fround(21 / 255));

  const wrongMagic = path.join(dir, 'wrong-images');
  fs.writeFileSync(wrongMagic, idx(0x801, [3], new Uint8Array([1, 2, 3])));
  assert.throws(
    () => readIdx(wrongMagic, IDX_IMAGES_MAGIC),
    (e: Error) => e instanceof UserError && e.message.includes(wrongMagic) && /bad magic 0x00000801 \(that is a label file\); expected 0x00000803/.test(e.message),
  );
  const trunc = path.join(dir, 'trunc-images');
  fs.writeFileSync(trunc, idx(0x803, [10, 28, 28], new Uint8Array(5 * 28 * 28)));
  assert.throws(() => readIdx(trunc, IDX_IMAGES_MAGIC), /trunc-images: header says 10 x 28 x 28 = 7840 bytes of data but the file holds 3920 \(truncated\)/);
  const gz = path.join(dir, 'trunc.gz');
  fs.writeFileSync(gz, zlib.gzipSync(idx(0x803, [3, 4, 5], imgs)).subarray(0, 20));
  assert.throws(() => readIdx(gz, IDX_IMAGES_MAGIC), /trunc\.gz: gzip data is damaged/);
  const tiny = path.join(dir, 'tiny');
  fs.writeFileSync(tiny, Buffer.from([0, 0]));
  assert.throws(() => readIdx(tiny, IDX_IMAGES_MAGIC), /too short/);
  const labs2 = path.join(dir, 'two-labels');
  fs.writeFileSync(labs2, idx(0x801, [2], new Uint8Array([1, 2])));
  assert.throws(() => readMnistFiles(good, labs2), /has 2 labels but .* has 3 images/);
  const badLabel = path.join(dir, 'bad-labels');
  fs.writeFileSync(badLabel, idx(0x801, [3], new Uint8Array([1, 12, 2])));
  assert.throws(() => readMnistFiles(good, badLabel), /label 1 is 12, outside 0\.\.9/);
  assert.throws(() => readMnist(path.join(dir, 'nope')), /MNIST folder .*nope does not exist/);
  fs.rmSync(dir, { recursive: true, force: true });
});
