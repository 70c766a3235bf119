/**
 * `convert` job: a Hugging Face folder (config.json, safetensors, tokenizer) to a GGUF that
 * unlearnkit trains and llama.cpp serves, as `unlearnkit convert <folder> <out>` does
 * (src/model/convert: convertHfToGguf).
 */
import { convertHfToGguf } from '../../../model/convert/index.ts';
import type { Handler } from './index.ts';

export const run: Handler<'convert'> = async (p, { emit, signal }) => {
  emit({ kind: 'phase', text: `converting ${p.dir} to ${p.out} (${p.outtype})` });
  signal.throwIfAborted();
  const r = await convertHfToGguf(p.dir, p.out, { outtype: p.outtype });
  return { output: r.output, arch: r.arch, parameters: r.parameters, tensors: r.tensors.length, warnings: r.warnings };
};
