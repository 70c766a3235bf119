/**
 * The in-memory image set every image reader returns, and the pixel scaling / normalisation that
 * goes with it.
 *
 * Layout: `images` is N x C x H x W (NCHW, row-major, float32). Bytes are first scaled to [0, 1]
 * (x / 255); with a normalisation they become (x / 255 - mean[c]) / std[c], the torchvision
 * `ToTensor()` + `Normalize(mean, std)` convention, so numbers match PyTorch training recipes.
 */
import { UserError } from '../util/errors.ts';

export interface NormStats {
  mean: number[];
  std: number[];
}

export interface ImageSet {
  /** N x C x H x W pixels, in [0, 1] or normalised per channel (see `norm`). */
  images: Float32Array;
  /** Class index per image (CIFAR-100: the fine label). */
  labels: Int32Array;
  n: number;
  c: number;
  h: number;
  w: number;
  /** Class names, indexed by label. */
  classes: string[];
  /** The per-channel normalisation applied to `images`, or undefined when they are in [0, 1]. */
  norm?: NormStats;
  /** CIFAR-100 only: the coarse (superclass) label per image and the 20 superclass names. */
  coarseLabels?: Int32Array;
  coarseClasses?: string[];
  /** Files the set was read from, for messages and reports. */
  sources: string[];
}

/**
 * Per-channel statistics of the training sets, on pixels scaled to [0, 1]. CIFAR-10 values are the
 * exact population mean / std of the 50,000 training images (the common 0.2023/0.1994/0.2010 "std"
 * is a mean of per-image stds and is not used here); CIFAR-100 likewise; MNIST the usual 0.1307 /
 * 0.3081.
 */
export const NORM_STATS = {
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  cifar100: { mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] },
  mnist: { mean: [0.1307], std: [0.3081] },
} as const satisfies Record<string, NormStats>;

/** `'none'` keeps [0, 1]; a preset name or explicit stats normalise per channel. */
export type Normalize = 'none' | keyof typeof NORM_STATS | NormStats;

export interface ReadImageOptions {
  /** Pixel normalisation (default 'none': pixels in [0, 1]). */
  normalize?: Normalize;
  /** Read at most this many records (from the start), e.g. for quick runs. */
  limit?: number;
}

export function resolveNorm(n: Normalize | undefined, channels: number, where: string): NormStats | undefined {
  if (n === undefined || n === 'none') return undefined;
  let stats: NormStats;
  if (typeof n === 'string') {
    const preset = (NORM_STATS as Record<string, NormStats>)[n];
    if (!preset) {
      throw new UserError(`unknown normalisation "${n}"; use none, ${Object.keys(NORM_STATS).join(', ')} or {mean, std}`);
    }
    stats = { mean: [...preset.mean], std: [...preset.std] };
  } else {
    stats = { mean: [...n.mean], std: [...n.std] };
  }
  if (stats.mean.length !== channels || stats.std.length !== channels) {
    throw new UserError(
      `${where}: normalisation has ${stats.mean.length} means / ${stats.std.length} stds but the images have ${channels} channel(s)`,
    );
  }
  if (stats.std.some((s) => !(s > 0))) throw new UserError(`${where}: normalisation stds must be > 0`);
  return stats;
}

/**
 * Write `count` images of `c*h*w` bytes from `src` (starting at byte `srcOff`, records `stride`
 * bytes apart) into `dst` from image index `dstIndex`, scaling to [0, 1] and normalising.
 */
export function bytesToFloat(
  src: Uint8Array,
  srcOff: number,
  stride: number,
  count: number,
  pixelsPerImage: number,
  channels: number,
  dst: Float32Array,
  dstIndex: number,
  norm: NormStats | undefined,
): void {
  const plane = pixelsPerImage / channels;
  // Per channel: y = x * a + b, with a = 1 / (255 std) and b = -mean / std.
  const a = new Float64Array(channels);
  const b = new Float64Array(channels);
  for (let ch = 0; ch < channels; ch++) {
    a[ch] = norm ? 1 / (255 * norm.std[ch]!) : 1 / 255;
    b[ch] = norm ? -norm.mean[ch]! / norm.std[ch]! : 0;
  }
  for (let i = 0; i < count; i++) {
    const s = srcOff + i * stride;
    const d = (dstIndex + i) * pixelsPerImage;
    for (let ch = 0; ch < channels; ch++) {
      const ac = a[ch]!;
      const bc = b[ch]!;
      const so = s + ch * plane;
      const dof = d + ch * plane;
      for (let p = 0; p < plane; p++) dst[dof + p] = src[so + p]! * ac + bc;
    }
  }
}

/** Apply a per-channel normalisation to a set that is in [0, 1] (returns a new set). */
export function normalizeSet(set: ImageSet, n: Normalize): ImageSet {
  if (set.norm) throw new UserError('image set is already normalised');
  const norm = resolveNorm(n, set.c, set.sources.join(', '));
  if (!norm) return set;
  const plane = set.h * set.w;
  const out = new Float32Array(set.images.length);
  for (let i = 0; i < set.n; i++) {
    for (let ch = 0; ch < set.c; ch++) {
      const off = (i * set.c + ch) * plane;
      const m = norm.mean[ch]!;
      const s = norm.std[ch]!;
      for (let p = 0; p < plane; p++) out[off + p] = (set.images[off + p]! - m) / s;
    }
  }
  return { ...set, images: out, norm };
}

/** A new set holding the given images (in that order). */
export function subsetImages(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const per = set.c * set.h * set.w;
  const images = new Float32Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  const coarse = set.coarseLabels ? new Int32Array(indices.length) : undefined;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!Number.isInteger(i) || i < 0 || i >= set.n) throw new RangeError(`subsetImages: index ${i} out of range 0..${set.n - 1}`);
    images.set(set.images.subarray(i * per, (i + 1) * per), k * per);
    labels[k] = set.labels[i]!;
    if (coarse) coarse[k] = set.coarseLabels![i]!;
  }
  return { ...set, images, labels, n: indices.length, coarseLabels: coarse };
}

/** The bytes of one image as 0..255 integers (undoing scaling / normalisation), e.g. for checks. */
export function pixelBytes(set: ImageSet, index: number): Uint8Array {
  const per = set.c * set.h * set.w;
  const plane = set.h * set.w;
  const out = new Uint8Array(per);
  for (let ch = 0; ch < set.c; ch++) {
    const m = set.norm ? set.norm.mean[ch]! : 0;
    const s = set.norm ? set.norm.std[ch]! : 1;
    for (let p = 0; p < plane; p++) {
      const v = set.images[index * per + ch * plane + p]!;
      out[ch * plane + p] = Math.max(0, Math.min(255, Math.round((v * s + m) * 255)));
    }
  }
  return out;
}

/** Images per class, indexed by label. */
export function classCounts(set: ImageSet): number[] {
  const counts = new Array<number>(set.classes.length).fill(0);
  for (let i = 0; i < set.n; i++) counts[set.labels[i]!]! += 1;
  return counts;
}
