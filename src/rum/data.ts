/**
 * Data for the RUM experiments: a train and a test ImageSet, normalised per channel with the
 * dataset's training statistics (images.ts NORM_STATS), optionally limited to the first N images.
 *
 * `--data` accepts:
 *   - a CIFAR-10 / CIFAR-100 binary folder (`cifar-10-batches-bin/`, `cifar-100-binary/`, or a
 *     folder containing one) or an MNIST IDX folder: its train and test splits;
 *   - `synthetic`: generated CIFAR-10-format images (src/data/syntheticCifar.ts; train seed 1, test
 *     seed 101; the first `limit` images, 1000 without one), for trying the pipeline without a
 *     download. Not CIFAR: results on it say nothing about CIFAR. `fixture` is its former name
 *     (the shared CIFAR-10 slice it meant is not part of the project) and is accepted as the same.
 */
import { detectImageFormat, openImageSet } from '../data/image-sets.ts';
import { normalizeSet, subsetImages, type ImageSet } from '../data/images.ts';
import { syntheticCifarSet } from '../data/syntheticCifar.ts';
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

/** The `--data` value of the generated image set. */
const SYNTHETIC = 'synthetic';
/** Images per split of the synthetic set without a limit. */
const SYNTHETIC_SIZE = 1000;

export function loadRumData(spec: string, o: LoadRumDataOptions = {}): RumData {
  let train: ImageSet;
  let test: ImageSet;
  let stats: 'cifar10' | 'cifar100' | 'mnist';
  if (spec === SYNTHETIC || spec === 'fixture') {
    for (const n of [o.trainLimit, o.testLimit]) {
      if (n !== undefined && (!Number.isInteger(n) || n < 1)) throw new UserError(`image limit must be a positive integer, got ${n}`);
    }
    train = syntheticCifarSet({ n: o.trainLimit ?? SYNTHETIC_SIZE, seed: 1 });
    test = syntheticCifarSet({ n: o.testLimit ?? SYNTHETIC_SIZE, seed: 101 });
    stats = 'cifar10';
  } else {
    const fmt = detectImageFormat(spec);
    if (fmt === 'cifar-file') throw new UserError(`${spec}: give a dataset folder (train and test splits) or '${SYNTHETIC}', not a single file`);
    train = openImageSet(spec, { split: 'train', limit: o.trainLimit });
    test = openImageSet(spec, { split: 'test', limit: o.testLimit });
    stats = fmt;
  }
  train = limit(train, o.trainLimit);
  test = limit(test, o.testLimit);
  const name = spec === 'fixture' ? SYNTHETIC : spec;
  return { name, train: normalizeSet(train, stats), test: normalizeSet(test, stats) };
}
