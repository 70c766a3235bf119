/**
 * Save a model (e.g. after fine-tuning) as a GGUF that llama.cpp loads: the source file's metadata
 * (architecture, hyper-parameters, tokenizer) with the model's current host weights. Written
 * atomically by writeGguf (temporary file + rename). Weights are stored as F32 unless asked
 * otherwise; 1-D tensors (norms, biases) are always F32, as llama.cpp expects.
 */
import { GgufMetadata, writeGguf, type GgufTensorSpec } from './gguf.ts';
import type { CausalLM } from './model.ts';
import { UserError } from '../util/errors.ts';

export type SaveType = 'F32' | 'F16' | 'BF16' | 'Q8_0';

/** llama_ftype values for general.file_type. */
const FILE_TYPE: Record<SaveType, number> = { F32: 0, F16: 1, Q8_0: 7, BF16: 32 };

export function saveModel(model: CausalLM, path: string, opts: { type?: SaveType; name?: string; extraMetadata?: Array<[string, string | number]> } = {}): void {
  if (!model.file) throw new UserError('this model has no source GGUF to copy its metadata and tokenizer from');
  const type = opts.type ?? 'F32';
  const metadata = new GgufMetadata(model.file.metadata.typedEntries());
  metadata.setTyped('general.file_type', FILE_TYPE[type], 'uint32');
  if (opts.name) metadata.setTyped('general.name', opts.name, 'string');
  for (const [k, v] of opts.extraMetadata ?? []) metadata.setTyped(k, v, typeof v === 'string' ? 'string' : 'float32');
  const tensors: GgufTensorSpec[] = model.tensorNames.map((name) => {
    const w = model.weights.get(name)!;
    const t: SaveType = w.ne.length >= 2 && (type !== 'Q8_0' || w.ne[0]! % 32 === 0) ? type : 'F32';
    return { name, type: t, ne: [...w.ne], data: w.data };
  });
  writeGguf(path, { metadata, tensors, alignment: model.file.alignment });
}
