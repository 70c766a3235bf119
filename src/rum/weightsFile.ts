/**
 * Model and checkpoint files of the RUM side: named f32 tensors plus JSON metadata, written as a
 * GGUF file through the project's writer (src/model/gguf.ts), so `unlearnkit model inspect` and
 * gguf-py read them too.
 *
 * Keys: general.architecture = 'unlearnkit-rum-cnn'; `unlearnkit-rum-cnn.meta` holds the caller's
 * metadata as JSON (the CNN config, cache key, epochs and losses of a checkpoint). Each tensor is
 * F32 with its layer's shape in ggml order (from `paramSpecs`; 1-D when no shape is given).
 * Written atomically by writeGguf, so an interrupted run leaves the previous file intact.
 *
 * The earlier format of its own (magic "UKRUMW1") is refused with a UserError saying to re-run.
 */
import fs from 'node:fs';
import { GgmlType, getMeta, readGguf, readTensorF32, writeGguf } from '../model/gguf.ts';
import { UserError } from '../util/errors.ts';
import { paramSpecs, type CnnConfig } from './model.ts';

/** general.architecture of a RUM weights file. */
export const RUM_ARCH = 'unlearnkit-rum-cnn';
const META_KEY = `${RUM_ARCH}.meta`;
const OLD_MAGIC = 'UKRUMW1\n';

export interface TensorFile<M> {
  meta: M;
  tensors: Map<string, Float32Array>;
}

/** Layer shapes (ggml order) of a CNN config's parameters, by name. */
export function layerShapes(config: CnnConfig): Map<string, number[]> {
  return new Map(paramSpecs(config).map((p) => [p.name, p.shape]));
}

/**
 * Write `tensors` (F32) and `meta` (as JSON) to the GGUF file `file`. `shapes` gives a tensor's
 * layer shape by name (a `prefix:` before the name, as in checkpoints' `w:` / `vel:`, is ignored);
 * a shape must hold exactly the tensor's values.
 */
export function saveTensors(file: string, meta: unknown, tensors: Map<string, Float32Array>, shapes?: Map<string, number[]>): void {
  writeGguf(file, {
    metadata: [
      ['general.architecture', RUM_ARCH, 'string'],
      [META_KEY, JSON.stringify(meta), 'string'],
    ],
    tensors: [...tensors].map(([name, v]) => {
      const shape = shapes?.get(name.replace(/^[a-z]+:/, ''));
      if (shape && shape.reduce((a, b) => a * b, 1) !== v.length) {
        throw new Error(`${file}: tensor ${name} has ${v.length} values, its layer shape ${JSON.stringify(shape)} holds ${shape.reduce((a, b) => a * b, 1)}`);
      }
      return { name, type: 'F32' as const, ne: shape ?? [v.length], data: v };
    }),
  });
}

/** Read a RUM weights file written by `saveTensors`. */
export function loadTensors<M>(file: string): TensorFile<M> {
  if (!fs.existsSync(file)) throw new UserError(`weights file ${file} does not exist`);
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(8);
  try {
    fs.readSync(fd, head, 0, 8, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (head.toString('latin1') === OLD_MAGIC) {
    throw new UserError(`${file} is an old unlearnkit RUM weights file (format UKRUMW1), which is no longer read; RUM weights are GGUF now: delete it and re-run to train and save it again`);
  }
  const g = readGguf(file, { loadData: true });
  const arch = getMeta<string>(g, 'general.architecture');
  if (arch !== RUM_ARCH) throw new UserError(`${file}: not an unlearnkit RUM weights file (general.architecture is ${JSON.stringify(arch ?? null)}, expected "${RUM_ARCH}")`);
  const metaJson = getMeta<string>(g, META_KEY);
  if (typeof metaJson !== 'string') throw new UserError(`${file}: RUM weights file without its ${META_KEY} key`);
  let meta: M;
  try {
    meta = JSON.parse(metaJson) as M;
  } catch (e) {
    throw new UserError(`${file}: corrupt ${META_KEY} (${(e as Error).message})`);
  }
  const tensors = new Map<string, Float32Array>();
  for (const t of g.tensors) {
    if (t.type !== GgmlType.F32) throw new UserError(`${file}: tensor ${t.name} is not F32`);
    tensors.set(t.name, readTensorF32(g, t.name));
  }
  return { meta, tensors };
}
