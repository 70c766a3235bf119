/**
 * Seeded training-time augmentation for image sets: random crop with zero padding and random
 * horizontal flip, the standard CIFAR recipe (He et al. 2016: "4 pixels are padded on each side,
 * and a 32x32 crop is randomly sampled from the padded image or its horizontal flip"), as in
 * torchvision `RandomCrop(32, padding=4)` + `RandomHorizontalFlip()`.
 *
 * "Zero" padding means a black pixel (byte 0). On a normalised set that pixel is (0 - mean) / std
 * per channel, so the fill follows `set.norm`; this matches torchvision, where the crop runs on the
 * raw image before `Normalize`.
 *
 * Draw order per image (part of the reproducibility contract): dy = rng.int(2p+1),
 * dx = rng.int(2p+1), then flip = rng.next() < 0.5. With crop off no offsets are drawn; with flip
 * off no flip is drawn.
 */
import type { Rng } from '../util/rng.ts';
import type { ImageSet } from './images.ts';

export interface AugmentOptions {
  /** Random crop with this much padding on each side (default true, pad 4). */
  crop?: boolean;
  pad?: number;
  /** Random horizontal flip with probability 1/2 (default true). */
  flip?: boolean;
  /** Per-channel fill for padded pixels; default: the value of a black pixel (see above). */
  fill?: number[];
}

/**
 * Copy one C x H x W image from `src` (at `srcOff`) to `dst` (at `dstOff`), shifted so that
 * out[y][x] = in[y + dy - pad][x' + dx - pad] where x' = (W - 1 - x) when flipping, else x; pixels
 * outside the source take `fill[c]`. dy, dx in [0, 2 pad]; dy = dx = pad is no shift.
 * Flip is applied after the crop, which gives the same distribution as flip-then-crop.
 */
export function cropFlip(
  src: Float32Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  c: number,
  h: number,
  w: number,
  dy: number,
  dx: number,
  flip: boolean,
  pad: number,
  fill: ArrayLike<number>,
): void {
  const plane = h * w;
  for (let ch = 0; ch < c; ch++) {
    const f = fill[ch] ?? 0;
    const sBase = srcOff + ch * plane;
    const dBase = dstOff + ch * plane;
    for (let y = 0; y < h; y++) {
      const sy = y + dy - pad;
      const rowOk = sy >= 0 && sy < h;
      for (let x = 0; x < w; x++) {
        const xc = flip ? w - 1 - x : x;
        const sx = xc + dx - pad;
        dst[dBase + y * w + x] = rowOk && sx >= 0 && sx < w ? src[sBase + sy * w + sx]! : f;
      }
    }
  }
}

/** The fill value of a black pixel for this set (0, or -mean/std when normalised). */
export function blackFill(set: Pick<ImageSet, 'c' | 'norm'>): number[] {
  const out: number[] = [];
  for (let ch = 0; ch < set.c; ch++) out.push(set.norm ? -set.norm.mean[ch]! / set.norm.std[ch]! : 0);
  return out;
}

/**
 * An augmented copy of the images at `indices` (a batch, N x C x H x W). Deterministic given the
 * Rng state; the set itself is not changed.
 */
export function augmentBatch(set: ImageSet, indices: ArrayLike<number>, rng: Rng, opts: AugmentOptions = {}): Float32Array {
  const crop = opts.crop ?? true;
  const flip = opts.flip ?? true;
  const pad = crop ? (opts.pad ?? 4) : 0;
  if (!Number.isInteger(pad) || pad < 0) throw new RangeError(`augment pad must be a non-negative integer, got ${pad}`);
  const fill = opts.fill ?? blackFill(set);
  const per = set.c * set.h * set.w;
  const out = new Float32Array(indices.length * per);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!Number.isInteger(i) || i < 0 || i >= set.n) throw new RangeError(`augmentBatch: index ${i} out of range 0..${set.n - 1}`);
    const dy = crop ? rng.int(2 * pad + 1) : pad;
    const dx = crop ? rng.int(2 * pad + 1) : pad;
    const f = flip ? rng.next() < 0.5 : false;
    cropFlip(set.images, i * per, out, k * per, set.c, set.h, set.w, dy, dx, f, pad, fill);
  }
  return out;
}
