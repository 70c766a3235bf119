/**
 * One entry point for image data: give a path, get an ImageSet. Recognises the official CIFAR-10
 * and CIFAR-100 binary folders (or a folder containing them), an MNIST IDX folder, and a single
 * CIFAR `.bin` file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { readCifar10, readCifar100, readCifarFile, type CifarVariant, type ImageSplit } from './cifar.ts';
import type { ImageSet, ReadImageOptions } from './images.ts';
import { readMnist } from './mnist.ts';

export type ImageFormat = 'cifar10' | 'cifar100' | 'mnist' | 'cifar-file';

export interface OpenImageOptions extends ReadImageOptions {
  split?: ImageSplit;
  /** For folders: require the official record counts (default true). */
  strict?: boolean;
  /** For a single `.bin` file whose variant cannot be inferred. */
  variant?: CifarVariant;
}

/** Which reader a path needs, or a UserError explaining what was expected. */
export function detectImageFormat(p: string): ImageFormat {
  if (!fs.existsSync(p)) throw new UserError(`image data path ${p} does not exist`);
  if (fs.statSync(p).isFile()) {
    if (p.endsWith('.bin')) return 'cifar-file';
    throw new UserError(`${p}: a single image file must be a CIFAR .bin file; for MNIST give the folder holding the IDX files`);
  }
  const has = (...names: string[]) => names.some((n) => fs.existsSync(path.join(p, n)));
  if (has('data_batch_1.bin', 'test_batch.bin', 'cifar-10-batches-bin')) return 'cifar10';
  if (has('train.bin', 'test.bin', 'cifar-100-binary')) return 'cifar100';
  const entries = fs.readdirSync(p);
  if (entries.some((e) => /-(images|labels)[-.]idx[13]-ubyte(\.gz)?$/.test(e))) return 'mnist';
  throw new UserError(
    `${p}: not a recognised image folder (expected cifar-10-batches-bin/ with data_batch_*.bin, cifar-100-binary/ with train.bin/test.bin, or MNIST *-idx3-ubyte[.gz] files)`,
  );
}

export function openImageSet(p: string, opts: OpenImageOptions = {}): ImageSet {
  const fmt = detectImageFormat(p);
  switch (fmt) {
    case 'cifar10':
      return readCifar10(p, opts);
    case 'cifar100':
      return readCifar100(p, opts);
    case 'mnist':
      return readMnist(p, opts);
    case 'cifar-file':
      return readCifarFile(p, { variant: opts.variant, normalize: opts.normalize, limit: opts.limit });
  }
}
