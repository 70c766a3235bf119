/**
 * Model and checkpoint files of the RUM side: named f32 tensors plus a JSON header.
 *
 * Layout (little-endian): 8 bytes magic "UKRUMW1\n", u32 header byte length, the header (UTF-8
 * JSON: { meta, tensors: [{ name, length }] }), zero padding to a multiple of 4, then every tensor's
 * f32 values in header order. Written atomically (src/util/fs.ts), so an interrupted run leaves
 * the previous file intact.
 */
import fs from 'node:fs';
import { writeFileAtomic } from '../util/fs.ts';
import { UserError } from '../util/errors.ts';

const MAGIC = 'UKRUMW1\n';

export interface TensorFile<M> {
  meta: M;
  tensors: Map<string, Float32Array>;
}

export function encodeTensors(meta: unknown, tensors: Map<string, Float32Array>): Uint8Array {
  const header = Buffer.from(JSON.stringify({ meta, tensors: [...tensors].map(([name, v]) => ({ name, length: v.length })) }), 'utf8');
  const headEnd = 12 + header.length;
  const dataStart = Math.ceil(headEnd / 4) * 4;
  let total = dataStart;
  for (const v of tensors.values()) total += v.length * 4;
  const out = new Uint8Array(total);
  out.set(Buffer.from(MAGIC, 'latin1'), 0);
  new DataView(out.buffer).setUint32(8, header.length, true);
  out.set(header, 12);
  let at = dataStart;
  for (const v of tensors.values()) {
    out.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), at);
    at += v.byteLength;
  }
  return out;
}

export function decodeTensors<M>(bytes: Uint8Array, where: string): TensorFile<M> {
  if (bytes.length < 12 || Buffer.from(bytes.subarray(0, 8)).toString('latin1') !== MAGIC) {
    throw new UserError(`${where}: not an unlearnkit RUM weights file (bad magic)`);
  }
  const hlen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  if (12 + hlen > bytes.length) throw new UserError(`${where}: truncated header`);
  let header: { meta: M; tensors: Array<{ name: string; length: number }> };
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(12, 12 + hlen)).toString('utf8'));
  } catch (e) {
    throw new UserError(`${where}: corrupt header (${(e as Error).message})`);
  }
  let at = Math.ceil((12 + hlen) / 4) * 4;
  const tensors = new Map<string, Float32Array>();
  for (const t of header.tensors) {
    const end = at + t.length * 4;
    if (end > bytes.length) throw new UserError(`${where}: truncated (tensor ${t.name} needs bytes up to ${end}, file has ${bytes.length})`);
    const copy = new Uint8Array(t.length * 4);
    copy.set(bytes.subarray(at, end));
    tensors.set(t.name, new Float32Array(copy.buffer));
    at = end;
  }
  if (at !== bytes.length) throw new UserError(`${where}: ${bytes.length - at} unexpected trailing bytes`);
  return { meta: header.meta, tensors };
}

export function saveTensors(file: string, meta: unknown, tensors: Map<string, Float32Array>): void {
  writeFileAtomic(file, encodeTensors(meta, tensors));
}

export function loadTensors<M>(file: string): TensorFile<M> {
  if (!fs.existsSync(file)) throw new UserError(`weights file ${file} does not exist`);
  return decodeTensors<M>(new Uint8Array(fs.readFileSync(file)), file);
}
