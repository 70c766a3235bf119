/**
 * MNIST reader for the IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/), gzipped or
 * not. An IDX file starts with a big-endian 32-bit magic: two zero bytes, a type byte (0x08 =
 * unsigned byte) and the number of dimensions; then one big-endian 32-bit size per dimension; then
 * the data, row-major. Images: magic 0x00000803, dims N x 28 x 28. Labels: 0x00000801, dims N.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { UserError } from '../util/errors.ts';
import { bytesToFloat, resolveNorm, type ImageSet, type ReadImageOptions } from './images.ts';
import type { ImageSplit } from './cifar.ts';

export const IDX_IMAGES_MAGIC = 0x00000803;
const IDX_LABELS_MAGIC = 0x00000801;

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Read a file, un-gzipping it when it starts with the gzip magic 1f 8b. */
function readMaybeGzip(file: string): Uint8Array {
  if (!fs.existsSync(file)) throw new UserError(`file ${file} does not exist`);
  const raw = fs.readFileSync(file);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return zlib.gunzipSync(raw);
    } catch (e) {
      throw new UserError(`${file}: gzip data is damaged (${(e as Error).message}); the download is probably truncated`);
    }
  }
  return raw;
}

/**
 * Parse an unsigned-byte IDX file and check its magic. `expectMagic` is 0x00000803 for images and
 * 0x00000801 for labels; a mismatch, a short header or a data size that disagrees with the header
 * is a UserError naming the file.
 */
export function readIdx(file: string, expectMagic: number): IdxArray {
  const buf = readMaybeGzip(file);
  const what = expectMagic === IDX_IMAGES_MAGIC ? 'an IDX image file' : expectMagic === IDX_LABELS_MAGIC ? 'an IDX label file' : 'an IDX file';
  if (buf.length < 4) throw new UserError(`${file}: only ${buf.length} bytes; too short to be ${what}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0, false);
  if (magic !== expectMagic) {
    const hex = (m: number) => '0x' + m.toString(16).padStart(8, '0');
    const hint =
      magic === IDX_IMAGES_MAGIC ? ' (that is an image file)' : magic === IDX_LABELS_MAGIC ? ' (that is a label file)' : '';
    throw new UserError(`${file}: bad magic ${hex(magic)}${hint}; expected ${hex(expectMagic)} for ${what}`);
  }
  const ndim = magic & 0xff;
  const header = 4 + 4 * ndim;
  if (buf.length < header) throw new UserError(`${file}: header is truncated (${buf.length} bytes, need ${header})`);
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const have = buf.length - header;
  if (have !== count) {
    throw new UserError(
      `${file}: header says ${dims.join(' x ')} = ${count} bytes of data but the file holds ${have}` +
        (have < count ? ' (truncated)' : ' (trailing bytes)'),
    );
  }
  return { dims, data: buf.subarray(header) };
}

export interface MnistFilesOptions extends ReadImageOptions {
  classes?: string[];
}

/** Read an MNIST-style image file and label file pair. */
export function readMnistFiles(imagesFile: string, labelsFile: string, opts: MnistFilesOptions = {}): ImageSet {
  const img = readIdx(imagesFile, IDX_IMAGES_MAGIC);
  const lab = readIdx(labelsFile, IDX_LABELS_MAGIC);
  if (img.dims.length !== 3) throw new UserError(`${imagesFile}: expected 3 dimensions (N x rows x cols), got ${img.dims.length}`);
  const [total, h, w] = img.dims as [number, number, number];
  if (lab.dims[0] !== total) {
    throw new UserError(`${labelsFile} has ${lab.dims[0]} labels but ${imagesFile} has ${total} images`);
  }
  const classes = opts.classes ?? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
  const n = opts.limit !== undefined ? Math.max(0, Math.min(total, Math.floor(opts.limit))) : total;
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const l = lab.data[i]!;
    if (l >= classes.length) throw new UserError(`${labelsFile}: label ${i} is ${l}, outside 0..${classes.length - 1}`);
    labels[i] = l;
  }
  const norm = resolveNorm(opts.normalize, 1, imagesFile);
  const images = new Float32Array(n * h * w);
  bytesToFloat(img.data, 0, h * w, n, h * w, 1, images, 0, norm);
  return { images, labels, n, c: 1, h, w, classes: [...classes], norm, sources: [imagesFile, labelsFile] };
}

export interface MnistFolderOptions extends MnistFilesOptions {
  split?: ImageSplit;
}

/**
 * Read MNIST (or Fashion-MNIST, same layout) from a folder holding the official files:
 * train-images-idx3-ubyte / train-labels-idx1-ubyte / t10k-images-idx3-ubyte /
 * t10k-labels-idx1-ubyte, each optionally with `.gz` (the `images.idx3-ubyte` spelling works too).
 */
export function readMnist(dir: string, opts: MnistFolderOptions = {}): ImageSet {
  if (!fs.existsSync(dir)) throw new UserError(`MNIST folder ${dir} does not exist`);
  const prefix = (opts.split ?? 'train') === 'train' ? 'train' : 't10k';
  const find = (kind: 'images' | 'labels', idx: string): string => {
    const names = [`${prefix}-${kind}-${idx}-ubyte`, `${prefix}-${kind}.${idx}-ubyte`];
    for (const nm of names) {
      for (const ext of ['', '.gz']) {
        const p = path.join(dir, nm + ext);
        if (fs.existsSync(p)) return p;
      }
    }
    throw new UserError(`${dir}: no ${names[0]}(.gz) for the ${opts.split ?? 'train'} split`);
  };
  return readMnistFiles(find('images', 'idx3'), find('labels', 'idx1'), opts);
}
