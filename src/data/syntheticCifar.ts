/**
 * Synthetic image sets in the CIFAR binary format: deterministic, license-free stand-ins for
 * CIFAR-10 / CIFAR-100 (Krizhevsky 2009) that the CIFAR readers, the training code and RUM can run
 * on without the real data (the RUM `--data synthetic` set and the tests' image data).
 *
 * Every image is 32x32 RGB, written as CIFAR records (label byte(s), then 1024 R, 1024 G, 1024 B
 * bytes, row-major). Its label decides a learnable structure:
 *   - a stripe pattern s(x, y) = tri((x dx + y dy) / P + phase), a triangle wave in [-1, 1], with
 *     the direction (dx, dy) and period P of the class (10 distinct patterns, `PATTERNS`);
 *   - the stripe's colour and the background tint of the class (`PALETTES`);
 * and per-image nuisances make it a real (not trivially separable) task: random phase, contrast
 * 0.3..1.1, a colour cast, a weaker second stripe pattern of a random class (amplitude 0..0.9 of
 * the stripe's), a distractor square of random colour and place, and pixel noise. A share `atypical`
 * (default 10%) of the images keep their label but are drawn with another class's pattern and
 * colours: like the long tail of a natural data set, these can only be fitted by memorising them,
 * so memorization scores spread from ~0 (typical) to high (atypical), as RUM's refinement needs.
 *
 * With the default recipe of src/rum (30 epochs, small CNN) on 500 training images this is the
 * regime RUM studies: the training set is fitted (accuracy 1.0) while test accuracy is ~0.53
 * (chance 0.1), so the atypical examples are memorised.
 *
 * Channel values v (about zero mean, unit variance) become bytes as
 * round(255 * clamp(mean_c + std_c * v, 0, 1)) with CIFAR-10's per-channel mean / std
 * (images.ts NORM_STATS.cifar10), so the usual CIFAR normalisation gives inputs of about unit scale.
 *
 * CIFAR-100 variant: 100 fine classes; fine label f uses pattern f mod 10 and palette floor(f / 10),
 * coarse label floor(f / 5).
 *
 * Determinism: record i of seed s depends only on (s, i) (its own Rng), so the first k records
 * are the same whatever n is; only integer and +-x/ arithmetic is used (no transcendental
 * functions), so the bytes are the same on every platform.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';
import {
  CIFAR_C,
  CIFAR_H,
  CIFAR_PIXELS,
  CIFAR_W,
  CIFAR10_CLASSES,
  CIFAR100_COARSE_CLASSES,
  CIFAR100_FINE_CLASSES,
  cifarRecordBytes,
  type CifarVariant,
} from './cifar.ts';
import { bytesToFloat, NORM_STATS, resolveNorm, type ImageSet, type Normalize } from './images.ts';

/** Stripe direction (dx, dy) and period P in pixels per class pattern. */
const PATTERNS: ReadonlyArray<{ dx: number; dy: number; period: number }> = [
  { dx: 1, dy: 0, period: 8 },
  { dx: 0, dy: 1, period: 8 },
  { dx: 1, dy: 1, period: 11 },
  { dx: 1, dy: -1, period: 11 },
  { dx: 1, dy: 0, period: 4 },
  { dx: 0, dy: 1, period: 4 },
  { dx: 2, dy: 1, period: 9 },
  { dx: 1, dy: 2, period: 9 },
  { dx: 2, dy: -1, period: 6 },
  { dx: 1, dy: -2, period: 6 },
];

/** Stripe colour and background tint (per channel, in units of the channel std) per palette. */
const PALETTES: ReadonlyArray<{ stripe: [number, number, number]; tint: [number, number, number] }> = [
  { stripe: [1, 0.2, -0.6], tint: [0.5, 0, -0.4] },
  { stripe: [-0.4, 1, 0.2], tint: [-0.3, 0.5, 0] },
  { stripe: [0.2, -0.5, 1], tint: [0, -0.3, 0.6] },
  { stripe: [0.9, 0.9, -0.3], tint: [0.3, 0.3, -0.5] },
  { stripe: [-0.7, 0.4, 0.9], tint: [-0.5, 0.1, 0.4] },
  { stripe: [0.8, -0.6, 0.5], tint: [0.4, -0.4, 0.2] },
  { stripe: [0.5, 0.8, 0.8], tint: [-0.1, 0.4, 0.4] },
  { stripe: [-0.2, -0.8, -0.2], tint: [0.2, -0.2, 0.1] },
  { stripe: [0.6, 0.6, 0.6], tint: [-0.4, -0.4, -0.4] },
  { stripe: [-0.9, 0.3, -0.5], tint: [0.1, 0.5, -0.2] },
];

export interface SyntheticCifarOptions {
  /** Record format and label space (default 'cifar10'). */
  variant?: CifarVariant;
  /** Number of records. */
  n: number;
  /** Seed; distinct seeds give distinct images (use one for train, another for test). */
  seed: number;
  /** Share of atypical images (another class's look, own label), 0..1 (default 0.1). */
  atypical?: number;
}

const NAMES = { cifar10: CIFAR10_CLASSES, cifar100: CIFAR100_FINE_CLASSES } as const;

function check(o: SyntheticCifarOptions): Required<SyntheticCifarOptions> {
  const variant = o.variant ?? 'cifar10';
  if (variant !== 'cifar10' && variant !== 'cifar100') throw new UserError(`unknown CIFAR variant '${String(variant)}' (cifar10 or cifar100)`);
  if (!Number.isInteger(o.n) || o.n < 1) throw new UserError(`synthetic CIFAR: the record count must be a positive integer, got ${o.n}`);
  if (!Number.isInteger(o.seed) || o.seed < 0) throw new UserError(`synthetic CIFAR: the seed must be a non-negative integer, got ${o.seed}`);
  const atypical = o.atypical ?? 0.1;
  if (!(atypical >= 0 && atypical <= 1)) throw new UserError(`synthetic CIFAR: atypical must be in [0, 1], got ${atypical}`);
  return { variant, n: o.n, seed: o.seed, atypical };
}

/** Triangle wave of period 1: -1 at integers, +1 at half-integers. */
function tri(t: number): number {
  const f = t - Math.floor(t);
  return 1 - 4 * Math.abs(f - 0.5);
}

/** Sum of three uniforms, centred and scaled to unit variance (Irwin-Hall; no transcendental functions). */
function noise(r: Rng): number {
  return (r.next() + r.next() + r.next() - 1.5) * 2;
}

/** Writes record i (label byte(s) + pixels) at `out[off..]`; returns its fine label. */
function writeRecord(out: Uint8Array, off: number, i: number, o: Required<SyntheticCifarOptions>): number {
  // one generator per record, seeded from (seed, i): prefix-stable and random access
  const r = new Rng((Math.imul(o.seed + 1, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca77)) >>> 0);
  const classes = NAMES[o.variant].length;
  const label = r.int(classes);
  // the look: the label's own, or (atypical) another class's
  let look = label;
  if (r.next() < o.atypical) look = (label + 1 + r.int(classes - 1)) % classes;
  const pat = PATTERNS[look % 10]!;
  const pal = PALETTES[o.variant === 'cifar10' ? look : Math.floor(look / 10)]!;
  const phase = r.next();
  const contrast = 0.3 + 0.8 * r.next();
  // distractor square: side 6..11, anywhere, random colour
  const side = 6 + r.int(6);
  const sx = r.int(CIFAR_W - side + 1);
  const sy = r.int(CIFAR_H - side + 1);
  const sq = [noise(r), noise(r), noise(r)];
  // per-image colour cast
  const cast = [0.5 * noise(r), 0.5 * noise(r), 0.5 * noise(r)];
  // a second, weaker stripe pattern of a random class (a distractor with the same kind of features)
  const other = r.int(classes);
  const opat = PATTERNS[other % 10]!;
  const opal = PALETTES[o.variant === 'cifar10' ? other : Math.floor(other / 10)]!;
  const oamp = 0.9 * r.next();
  const ophase = r.next();
  const labelBytes = cifarRecordBytes(o.variant) - CIFAR_PIXELS;
  if (labelBytes === 2) out[off] = Math.floor(label / 5);
  out[off + labelBytes - 1] = label;
  const px = off + labelBytes;
  const { mean, std } = NORM_STATS.cifar10;
  for (let y = 0; y < CIFAR_H; y++) {
    for (let x = 0; x < CIFAR_W; x++) {
      const s = tri((x * pat.dx + y * pat.dy) / pat.period + phase);
      const inSquare = x >= sx && x < sx + side && y >= sy && y < sy + side;
      const os = tri((x * opat.dx + y * opat.dy) / opat.period + ophase);
      for (let c = 0; c < CIFAR_C; c++) {
        let v = 0.8 * pal.tint[c]! + 1.3 * contrast * pal.stripe[c]! * s + cast[c]! + 1.3 * oamp * opal.stripe[c]! * os + 0.8 * noise(r);
        if (inSquare) v = 0.5 * v + sq[c]!;
        const b = Math.round(255 * (mean[c]! + std[c]! * v));
        out[px + c * CIFAR_H * CIFAR_W + y * CIFAR_W + x] = b < 0 ? 0 : b > 255 ? 255 : b;
      }
    }
  }
  return label;
}

/** The bytes of a CIFAR binary file holding `n` synthetic records. */
function syntheticCifarBytes(opts: SyntheticCifarOptions): Buffer {
  const o = check(opts);
  const rec = cifarRecordBytes(o.variant);
  const out = Buffer.alloc(o.n * rec);
  for (let i = 0; i < o.n; i++) writeRecord(out, i * rec, i, o);
  return out;
}

/**
 * The same records as an in-memory ImageSet (pixels x / 255, or normalised), exactly what reading
 * a file of syntheticCifarBytes with the CIFAR reader gives.
 */
export function syntheticCifarSet(opts: SyntheticCifarOptions & { normalize?: Normalize }): ImageSet {
  const o = check(opts);
  const bytes = syntheticCifarBytes(o);
  const rec = cifarRecordBytes(o.variant);
  const labelBytes = rec - CIFAR_PIXELS;
  const labels = new Int32Array(o.n);
  const coarse = o.variant === 'cifar100' ? new Int32Array(o.n) : undefined;
  for (let i = 0; i < o.n; i++) {
    labels[i] = bytes[i * rec + labelBytes - 1]!;
    if (coarse) coarse[i] = bytes[i * rec]!;
  }
  const norm = resolveNorm(opts.normalize, CIFAR_C, 'synthetic CIFAR');
  const images = new Float32Array(o.n * CIFAR_PIXELS);
  bytesToFloat(bytes, labelBytes, rec, o.n, CIFAR_PIXELS, CIFAR_C, images, 0, norm);
  return {
    images,
    labels,
    n: o.n,
    c: CIFAR_C,
    h: CIFAR_H,
    w: CIFAR_W,
    classes: [...NAMES[o.variant]],
    norm,
    coarseLabels: coarse,
    coarseClasses: coarse ? [...CIFAR100_COARSE_CLASSES] : undefined,
    sources: [`synthetic-${o.variant}(n=${o.n}, seed=${o.seed}, atypical=${o.atypical})`],
  };
}

export interface SyntheticCifarFolderOptions {
  variant?: CifarVariant;
  /** Training records per training file (CIFAR-10: each of data_batch_1..5; CIFAR-100: train.bin). */
  trainPerFile: number;
  /** Test records (test_batch.bin / test.bin). */
  test: number;
  /** Seed of the first training file; training file k uses seed + k - 1, the test file seed + 100. */
  seed?: number;
  atypical?: number;
}

/**
 * Write a folder in the official layout (`<dir>/cifar-10-batches-bin/` with data_batch_1..5.bin,
 * test_batch.bin and batches.meta.txt, or `<dir>/cifar-100-binary/` with train.bin, test.bin and
 * the two names files) holding synthetic records. The official files hold 10,000 / 50,000 records;
 * smaller ones are read with `strict: false`. Returns the layout folder.
 */
export function writeSyntheticCifarFolder(dir: string, opts: SyntheticCifarFolderOptions): string {
  const variant = opts.variant ?? 'cifar10';
  const seed = opts.seed ?? 1;
  const common = { variant, atypical: opts.atypical };
  const root = path.join(dir, variant === 'cifar10' ? 'cifar-10-batches-bin' : 'cifar-100-binary');
  fs.mkdirSync(root, { recursive: true });
  if (variant === 'cifar10') {
    for (let k = 1; k <= 5; k++) fs.writeFileSync(path.join(root, `data_batch_${k}.bin`), syntheticCifarBytes({ ...common, n: opts.trainPerFile, seed: seed + k - 1 }));
    fs.writeFileSync(path.join(root, 'test_batch.bin'), syntheticCifarBytes({ ...common, n: opts.test, seed: seed + 100 }));
    fs.writeFileSync(path.join(root, 'batches.meta.txt'), CIFAR10_CLASSES.join('\n') + '\n\n');
  } else {
    fs.writeFileSync(path.join(root, 'train.bin'), syntheticCifarBytes({ ...common, n: opts.trainPerFile, seed }));
    fs.writeFileSync(path.join(root, 'test.bin'), syntheticCifarBytes({ ...common, n: opts.test, seed: seed + 100 }));
    fs.writeFileSync(path.join(root, 'fine_label_names.txt'), CIFAR100_FINE_CLASSES.join('\n') + '\n');
    fs.writeFileSync(path.join(root, 'coarse_label_names.txt'), CIFAR100_COARSE_CLASSES.join('\n') + '\n');
  }
  return root;
}
