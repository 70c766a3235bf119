/**
 * CIFAR-10 and CIFAR-100 readers for the official *binary* distributions (Krizhevsky 2009,
 * https://www.cs.toronto.edu/~kriz/cifar.html).
 *
 * CIFAR-10 (`cifar-10-batches-bin/`): data_batch_1.bin .. data_batch_5.bin (train, 10,000 records
 * each) and test_batch.bin; every record is 1 label byte then 3072 pixel bytes: 1024 R, 1024 G,
 * 1024 B, each plane 32x32 row-major. Class names in batches.meta.txt, one per line.
 * CIFAR-100 (`cifar-100-binary/`): train.bin (50,000 records) and test.bin (10,000); every record
 * is 1 coarse label byte, 1 fine label byte, then the same 3072 pixel bytes. Names in
 * fine_label_names.txt / coarse_label_names.txt.
 *
 * Single files (e.g. a slice like `data_batch_1_first1000.bin`) are read with `readCifarFile`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { bytesToFloat, resolveNorm, type ImageSet, type ReadImageOptions } from './images.ts';

export type CifarVariant = 'cifar10' | 'cifar100';
export type ImageSplit = 'train' | 'test';

export const CIFAR_C = 3;
export const CIFAR_H = 32;
export const CIFAR_W = 32;
export const CIFAR_PIXELS = CIFAR_C * CIFAR_H * CIFAR_W; // 3072

export const CIFAR10_CLASSES = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
];

export const CIFAR100_FINE_CLASSES = [
  'apple', 'aquarium_fish', 'baby', 'bear', 'beaver', 'bed', 'bee', 'beetle', 'bicycle', 'bottle',
  'bowl', 'boy', 'bridge', 'bus', 'butterfly', 'camel', 'can', 'castle', 'caterpillar', 'cattle',
  'chair', 'chimpanzee', 'clock', 'cloud', 'cockroach', 'couch', 'crab', 'crocodile', 'cup', 'dinosaur',
  'dolphin', 'elephant', 'flatfish', 'forest', 'fox', 'girl', 'hamster', 'house', 'kangaroo', 'keyboard',
  'lamp', 'lawn_mower', 'leopard', 'lion', 'lizard', 'lobster', 'man', 'maple_tree', 'motorcycle', 'mountain',
  'mouse', 'mushroom', 'oak_tree', 'orange', 'orchid', 'otter', 'palm_tree', 'pear', 'pickup_truck', 'pine_tree',
  'plain', 'plate', 'poppy', 'porcupine', 'possum', 'rabbit', 'raccoon', 'ray', 'road', 'rocket',
  'rose', 'sea', 'seal', 'shark', 'shrew', 'skunk', 'skyscraper', 'snail', 'snake', 'spider',
  'squirrel', 'streetcar', 'sunflower', 'sweet_pepper', 'table', 'tank', 'telephone', 'television', 'tiger', 'tractor',
  'train', 'trout', 'tulip', 'turtle', 'wardrobe', 'whale', 'willow_tree', 'wolf', 'woman', 'worm',
];

export const CIFAR100_COARSE_CLASSES = [
  'aquatic_mammals', 'fish', 'flowers', 'food_containers', 'fruit_and_vegetables',
  'household_electrical_devices', 'household_furniture', 'insects', 'large_carnivores',
  'large_man-made_outdoor_things', 'large_natural_outdoor_scenes', 'large_omnivores_and_herbivores',
  'medium_mammals', 'non-insect_invertebrates', 'people', 'reptiles', 'small_mammals', 'trees',
  'vehicles_1', 'vehicles_2',
];

/** Bytes per record: label byte(s) + 3072 pixels. */
export function cifarRecordBytes(variant: CifarVariant): number {
  return (variant === 'cifar10' ? 1 : 2) + CIFAR_PIXELS;
}

const LAYOUT = {
  cifar10: {
    folder: 'cifar-10-batches-bin',
    train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
    test: ['test_batch.bin'],
    recordsPerFile: { train: 10000, test: 10000 },
  },
  cifar100: {
    folder: 'cifar-100-binary',
    train: ['train.bin'],
    test: ['test.bin'],
    recordsPerFile: { train: 50000, test: 10000 },
  },
} as const;

export interface CifarFileOptions extends ReadImageOptions {
  /** Which binary format the file is in; default: guessed from the names file beside it, else the size. */
  variant?: CifarVariant;
  /** Exact record count the file must hold (the official files: 10,000 or 50,000). */
  expectRecords?: number;
  /** Class names; default: read from the names file beside the file, else the official names. */
  classes?: string[];
}

export interface CifarFolderOptions extends ReadImageOptions {
  split?: ImageSplit;
  /**
   * Require the official record counts per file (default true). Turn off for a hand-made subset
   * in the official layout; a file that is not a whole number of records is an error either way.
   */
  strict?: boolean;
}

/** Read class names (one per non-empty line) or return null when the file is absent. */
function readNames(file: string, expected: number): string[] | null {
  if (!fs.existsSync(file)) return null;
  const names = fs
    .readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length !== expected) {
    throw new UserError(`${file}: expected ${expected} class names (one per line), found ${names.length}`);
  }
  return names;
}

function guessVariant(file: string, size: number): CifarVariant {
  const dir = path.dirname(file);
  if (fs.existsSync(path.join(dir, 'fine_label_names.txt'))) return 'cifar100';
  if (fs.existsSync(path.join(dir, 'batches.meta.txt'))) return 'cifar10';
  const r10 = cifarRecordBytes('cifar10');
  const r100 = cifarRecordBytes('cifar100');
  if (size > 0 && size % r10 === 0 && size % r100 !== 0) return 'cifar10';
  if (size > 0 && size % r100 === 0 && size % r10 !== 0) return 'cifar100';
  throw new UserError(
    `${file}: cannot tell CIFAR-10 from CIFAR-100 (${size} bytes; records are ${r10} or ${r100} bytes); pass the variant explicitly`,
  );
}

/**
 * Read one CIFAR binary file. Errors (as UserError, naming the file): missing file, a size that is
 * not a whole number of records (truncated or not CIFAR), a record count other than
 * `expectRecords`, a label outside the class range (usually the wrong variant).
 */
export function readCifarFile(file: string, opts: CifarFileOptions = {}): ImageSet {
  if (!fs.existsSync(file)) throw new UserError(`CIFAR file ${file} does not exist`);
  const stat = fs.statSync(file);
  if (!stat.isFile()) throw new UserError(`${file} is not a file (for a CIFAR folder use readCifar10/readCifar100)`);
  const variant = opts.variant ?? guessVariant(file, stat.size);
  const rec = cifarRecordBytes(variant);
  const labelBytes = rec - CIFAR_PIXELS;
  const name = variant === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100';
  if (stat.size === 0 || stat.size % rec !== 0) {
    const whole = Math.floor(stat.size / rec);
    throw new UserError(
      `${file}: ${stat.size} bytes is not a whole number of ${name} records (${rec} bytes each: ${labelBytes} label byte(s) + 3072 pixels); ` +
        (stat.size === 0 ? 'the file is empty' : `${whole} whole record(s) and ${stat.size - whole * rec} stray bytes: truncated or not a ${name} binary file`),
    );
  }
  const total = stat.size / rec;
  if (opts.expectRecords !== undefined && total !== opts.expectRecords) {
    throw new UserError(
      `${file}: holds ${total} records but the official ${name} file has ${opts.expectRecords} (${opts.expectRecords * rec} bytes); truncated or a different file?`,
    );
  }
  const dir = path.dirname(file);
  const classes =
    opts.classes ??
    (variant === 'cifar10'
      ? (readNames(path.join(dir, 'batches.meta.txt'), 10) ?? CIFAR10_CLASSES)
      : (readNames(path.join(dir, 'fine_label_names.txt'), 100) ?? CIFAR100_FINE_CLASSES));
  const coarseClasses =
    variant === 'cifar100' ? (readNames(path.join(dir, 'coarse_label_names.txt'), 20) ?? CIFAR100_COARSE_CLASSES) : undefined;
  const n = opts.limit !== undefined ? Math.max(0, Math.min(total, Math.floor(opts.limit))) : total;
  const bytes = new Uint8Array(n * rec);
  const fd = fs.openSync(file, 'r');
  try {
    let got = 0;
    while (got < bytes.length) {
      const r = fs.readSync(fd, bytes, got, bytes.length - got, got);
      if (r === 0) throw new UserError(`${file}: file ended after ${got} bytes while reading ${bytes.length}`);
      got += r;
    }
  } finally {
    fs.closeSync(fd);
  }
  const norm = resolveNorm(opts.normalize, CIFAR_C, file);
  const labels = new Int32Array(n);
  const coarse = variant === 'cifar100' ? new Int32Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    const o = i * rec;
    const fine = bytes[o + labelBytes - 1]!;
    if (fine >= classes.length) {
      throw new UserError(
        `${file}: record ${i} has label ${fine} but ${name} has ${classes.length} classes; is this really a ${name} binary file?`,
      );
    }
    labels[i] = fine;
    if (coarse) {
      const c = bytes[o]!;
      if (c >= coarseClasses!.length) throw new UserError(`${file}: record ${i} has coarse label ${c} (CIFAR-100 has 20)`);
      coarse[i] = c;
    }
  }
  const images = new Float32Array(n * CIFAR_PIXELS);
  bytesToFloat(bytes, labelBytes, rec, n, CIFAR_PIXELS, CIFAR_C, images, 0, norm);
  return {
    images,
    labels,
    n,
    c: CIFAR_C,
    h: CIFAR_H,
    w: CIFAR_W,
    classes: [...classes],
    norm,
    coarseLabels: coarse,
    coarseClasses: coarseClasses ? [...coarseClasses] : undefined,
    sources: [file],
  };
}

/** Accept either the layout folder itself or a folder that contains it. */
function resolveLayoutDir(dir: string, variant: CifarVariant): string {
  const lay = LAYOUT[variant];
  if (!fs.existsSync(dir)) {
    throw new UserError(`${variant === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100'} folder ${dir} does not exist (expected the official ${lay.folder}/ folder)`);
  }
  if (fs.existsSync(path.join(dir, lay.test[0]!)) || fs.existsSync(path.join(dir, lay.train[0]!))) return dir;
  const inner = path.join(dir, lay.folder);
  if (fs.existsSync(inner)) return inner;
  throw new UserError(
    `${dir} is not a ${lay.folder}/ folder: it has neither ${[...lay.train, ...lay.test].join(', ')} nor a ${lay.folder}/ subfolder`,
  );
}

function readCifarFolder(dir: string, variant: CifarVariant, opts: CifarFolderOptions): ImageSet {
  const root = resolveLayoutDir(dir, variant);
  const lay = LAYOUT[variant];
  const split = opts.split ?? 'train';
  const files = lay[split].map((f) => path.join(root, f));
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length > 0) {
    throw new UserError(`${root}: missing ${missing.map((f) => path.basename(f)).join(', ')} for the ${split} split`);
  }
  const strict = opts.strict ?? true;
  const parts: ImageSet[] = [];
  let left = opts.limit ?? Infinity;
  for (const f of files) {
    if (left <= 0) break;
    const part = readCifarFile(f, {
      variant,
      normalize: opts.normalize,
      expectRecords: strict ? lay.recordsPerFile[split] : undefined,
      limit: Number.isFinite(left) ? left : undefined,
    });
    left -= part.n;
    parts.push(part);
  }
  if (parts.length === 1) return parts[0]!;
  const per = CIFAR_PIXELS;
  const n = parts.reduce((s, p) => s + p.n, 0);
  const images = new Float32Array(n * per);
  const labels = new Int32Array(n);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * per);
    labels.set(p.labels, at);
    at += p.n;
  }
  return { ...parts[0]!, images, labels, n, sources: files };
}

/** Read the CIFAR-10 train (data_batch_1..5, 50,000 images) or test (10,000) split. */
export function readCifar10(dir: string, opts: CifarFolderOptions = {}): ImageSet {
  return readCifarFolder(dir, 'cifar10', opts);
}

/** Read the CIFAR-100 train (50,000 images) or test (10,000) split; labels are the fine labels. */
export function readCifar100(dir: string, opts: CifarFolderOptions = {}): ImageSet {
  return readCifarFolder(dir, 'cifar100', opts);
}
