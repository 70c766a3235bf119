/**
 * Data for the RUM experiments: a train and a test ImageSet, normalised per channel with the
 * dataset's training statistics (images.ts NORM_STATS), optionally limited to the first N images.
 *
 * `--data` accepts:
 *   - `fixture`: the shared CIFAR-10 fixture (the first 1000 train and 1000 test images);
 *   - a CIFAR-10 / CIFAR-100 binary folder (`cifar-10-batches-bin/`, `cifar-100-binary/`, or a
 *     folder containing one) or an MNIST IDX folder: its train and test splits.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readCifarFile } from '../data/cifar.ts';
import { detectImageFormat, openImageSet } from '../data/image-sets.ts';
import { normalizeSet, subsetImages, type ImageSet } from '../data/images.ts';
import { fixturePath } from '../util/paths.ts';
import { UserError } from '../util/errors.ts';

export interface RumData {
  name: string;
  train: ImageSet;
  test: ImageSet;
}

export interface LoadRumDataOptions {
  /** Use at most this many training / test images (the first ones). */
  trainLimit?: number;
  testLimit?: number;
}

function limit(set: ImageSet, n: number | undefined): ImageSet {
  if (n === undefined || n >= set.n) return set;
  if (!Number.isInteger(n) || n < 1) throw new UserError(`image limit must be a positive integer, got ${n}`);
  return subsetImages(set, Array.from({ length: n }, (_, i) => i));
}

export function loadRumData(spec: string, o: LoadRumDataOptions = {}): RumData {
  let train: ImageSet;
  let test: ImageSet;
  let stats: 'cifar10' | 'cifar100' | 'mnist';
  if (spec === 'fixture') {
    const dir = fixturePath('cifar10');
    const trainFile = path.join(dir, 'data_batch_1_first1000.bin');
    const testFile = path.join(dir, 'test_batch_first1000.bin');
    if (!fs.existsSync(trainFile) || !fs.existsSync(testFile)) {
      throw new UserError(`the CIFAR-10 fixture is missing under ${dir} (set UNLEARN_FIXTURES to the shared fixtures folder)`);
    }
    train = readCifarFile(trainFile, { variant: 'cifar10', limit: o.trainLimit });
    test = readCifarFile(testFile, { variant: 'cifar10', limit: o.testLimit });
    stats = 'cifar10';
  } else {
    const fmt = detectImageFormat(spec);
    if (fmt === 'cifar-file') throw new UserError(`${spec}: give a dataset folder (train and test splits) or 'fixture', not a single file`);
    train = openImageSet(spec, { split: 'train', limit: o.trainLimit });
    test = openImageSet(spec, { split: 'test', limit: o.testLimit });
    stats = fmt;
  }
  train = limit(train, o.trainLimit);
  test = limit(test, o.testLimit);
  return { name: spec, train: normalizeSet(train, stats), test: normalizeSet(test, stats) };
}
