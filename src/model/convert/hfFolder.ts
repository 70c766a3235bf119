/**
 * A Hugging Face model folder: config.json and the safetensors weights, either one
 * `model.safetensors` or shards `model-0000k-of-0000n.safetensors` listed by
 * `model.safetensors.index.json` (`weight_map`: tensor name -> shard file), as llama.cpp's
 * converter indexes them (`ModelBase.index_tensors`): every `model*.safetensors` file is a part;
 * with an index, the parts are the files it names, and the tensor names of the index and of the
 * parts must agree (a missing shard is reported by name).
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../util/errors.ts';
import { readSafetensors, readSafetensorsF32, type SafetensorsFile } from '../safetensors.ts';
import { readJsonFile } from './specialVocab.ts';

export interface HfTensor {
  /** Row-major shape as stored (PyTorch order). */
  shape: number[];
  /** The stored dtype (F32, F16, BF16, ...). */
  dtype: string;
  data: Float32Array;
}

export interface HfFolder {
  dir: string;
  config: Record<string, unknown>;
  /** `architectures[0]` of config.json. */
  architecture: string;
  /** Tensor names in the converter's order: shards in sorted order, names sorted within each (gguf-py's SafetensorsLocal sorts them). */
  tensorNames: string[];
  has(name: string): boolean;
  shapeOf(name: string): number[];
  dtypeOf(name: string): string;
  read(name: string): HfTensor;
  /** The safetensors files read. */
  parts: string[];
}

export function openHfFolder(dir: string): HfFolder {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new UserError(`Hugging Face model folder not found: ${dir}`);
  }
  if (!st.isDirectory()) throw new UserError(`${dir} is not a folder; give the Hugging Face model folder (config.json, model.safetensors, tokenizer.json)`);
  const configFile = path.join(dir, 'config.json');
  const config = readJsonFile(configFile);
  if (!config) throw new UserError(`${dir}: no config.json; a Hugging Face model folder needs config.json, model.safetensors and tokenizer.json`);
  const archs = config.architectures;
  if (!Array.isArray(archs) || typeof archs[0] !== 'string') throw new UserError(`${configFile}: no "architectures" list naming the model class (e.g. ["LlamaForCausalLM"])`);

  const files = fs.readdirSync(dir);
  let parts = files.filter((f) => f.startsWith('model') && f.endsWith('.safetensors')).sort();
  const indexFile = path.join(dir, 'model.safetensors.index.json');
  const index = readJsonFile(indexFile);
  let weightMap: Record<string, string> | null = null;
  if (index) {
    const wm = index.weight_map;
    if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) throw new UserError(`${indexFile}: can't load 'weight_map'`);
    weightMap = wm as Record<string, string>;
    parts = [...new Set(Object.values(weightMap))].sort();
  }
  if (parts.length === 0) {
    const bin = files.find((f) => f.startsWith('pytorch_model') && f.endsWith('.bin'));
    throw new UserError(
      `${dir}: no model weights found (model.safetensors, or model-0000k-of-0000n.safetensors shards with model.safetensors.index.json)` +
        (bin ? `; ${bin} (PyTorch pickle) is not supported: save the model with safetensors (model.save_pretrained(dir, safe_serialization=True))` : ''),
    );
  }
  const missingParts = parts.filter((p) => !fs.existsSync(path.join(dir, p)));
  if (missingParts.length) {
    throw new UserError(`${dir}: missing or incomplete model files: ${missingParts.join(', ')} (listed in model.safetensors.index.json)`);
  }
  const where = new Map<string, SafetensorsFile>();
  const order: string[] = [];
  for (const p of parts) {
    const sf = readSafetensors(path.join(dir, p));
    for (const name of [...sf.tensors.keys()].sort()) {
      if (where.has(name)) throw new UserError(`${dir}: tensor '${name}' is in both ${path.basename(where.get(name)!.path)} and ${p}`);
      where.set(name, sf);
      order.push(name);
    }
  }
  if (weightMap) {
    const fromIndex = new Set(Object.keys(weightMap));
    const missing = [...fromIndex].filter((n) => !where.has(n)).sort();
    const extra = order.filter((n) => !fromIndex.has(n)).sort();
    if (missing.length || extra.length) {
      const missingFiles = [...new Set(missing.map((n) => weightMap![n]!))].sort();
      const list = (xs: string[]) => xs.slice(0, 8).join(', ') + (xs.length > 8 ? `, ... (${xs.length})` : '');
      throw new UserError(
        extra.length === 0
          ? `${dir}: missing or incomplete model files: ${missingFiles.join(', ')}; missing tensors: ${list(missing)}`
          : `${dir}: the weight map of model.safetensors.index.json and the shards disagree; missing tensors: ${list(missing) || 'none'}; extra tensors: ${list(extra)}`,
      );
    }
  }
  const get = (name: string): SafetensorsFile => {
    const sf = where.get(name);
    if (!sf) throw new UserError(`${dir}: no tensor '${name}' in the model files`);
    return sf;
  };
  return {
    dir,
    config,
    architecture: archs[0],
    tensorNames: order,
    has: (n) => where.has(n),
    shapeOf: (n) => [...get(n).tensors.get(n)!.shape],
    dtypeOf: (n) => get(n).tensors.get(n)!.dtype,
    read: (n) => readSafetensorsF32(get(n), n),
    parts,
  };
}
