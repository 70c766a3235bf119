/**
 * Hugging Face folder -> GGUF, following llama.cpp's convert_hf_to_gguf.py for `LlamaForCausalLM`
 * (with plain, linear or llama3 RoPE scaling), `Qwen2ForCausalLM`, `Qwen3ForCausalLM` and
 * `GPT2LMHeadModel` (see archs.ts for the per-architecture rules, vocab.ts for the tokenizer).
 *
 * Output tensor types follow the converter's `prepare_tensors`: 1-D tensors, `*_norm.weight`,
 * biases and the GPT-2 position embedding are always F32; other weights take `outtype` (F32 by
 * default here; convert_hf_to_gguf.py's default is a 16-bit type). Q8_0 falls back to F16 for rows
 * that are not a multiple of 32, as the converter does. Tensors the converter generates (the llama3
 * `rope_freqs.weight`) come first, then the files' tensors in the converter's order (shards sorted,
 * names sorted within each). Metadata: general.architecture,
 * general.type, general.name, the architecture's hyper-parameters with general.file_type,
 * general.quantization_version, then the tokenizer. The descriptive general.* keys the converter
 * guesses from the folder name and model card (basename, size_label, finetune, ...) are not written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../util/errors.ts';
import { writeGguf, type GgufTensorSpec } from '../gguf.ts';
import { openHfFolder } from './hfFolder.ts';
import { SUPPORTED_HF_ARCHITECTURES, archHparams, expectedTensors, extraTensors, permuteRope, planTensor, transpose2d, type ArchName } from './archs.ts';
import { setVocabGpt2, setVocabLlama, setVocabQwen } from './vocab.ts';
import type { MetaEntry } from './specialVocab.ts';

export type OutType = 'f32' | 'f16' | 'bf16' | 'q8_0';
export const OUT_TYPES: readonly OutType[] = ['f32', 'f16', 'bf16', 'q8_0'];

/** llama_ftype of each output type (general.file_type). */
const FILE_TYPE: Record<OutType, number> = { f32: 0, f16: 1, q8_0: 7, bf16: 32 };
const GGML_NAME: Record<OutType, 'F32' | 'F16' | 'BF16' | 'Q8_0'> = { f32: 'F32', f16: 'F16', bf16: 'BF16', q8_0: 'Q8_0' };

export interface ConvertOptions {
  /** Weight type of 2-D tensors (default f32). */
  outtype?: OutType;
  /** general.name (default: the folder's name). */
  name?: string;
}

export interface ConvertedTensor {
  name: string;
  hfName: string;
  hfDtype: string;
  type: string;
  /** ggml shape (ne[0] fastest). */
  ne: number[];
  transform?: string;
}

export interface ConvertResult {
  input: string;
  output: string;
  hfArchitecture: string;
  arch: ArchName;
  outtype: OutType;
  tokenizer: { model: string; pre: string; tokens: number; source: string };
  tensors: ConvertedTensor[];
  /** Hugging Face tensors not written, with the reason. */
  dropped: Array<{ hfName: string; why: string }>;
  parameters: number;
  tiedOutput: boolean;
  warnings: string[];
}

/** Convert a Hugging Face model folder to a GGUF file that llama.cpp and unlearnkit load. */
export async function convertHfToGguf(dir: string, out: string, opts: ConvertOptions = {}): Promise<ConvertResult> {
  const outtype = opts.outtype ?? 'f32';
  if (!OUT_TYPES.includes(outtype)) throw new UserError(`unknown --outtype '${String(outtype)}'; use one of ${OUT_TYPES.join(', ')}`);
  const folder = openHfFolder(dir);
  const arch = SUPPORTED_HF_ARCHITECTURES[folder.architecture];
  if (!arch) {
    throw new UserError(
      `${path.join(dir, 'config.json')}: architecture '${folder.architecture}' is not supported (supported: ${Object.keys(SUPPORTED_HF_ARCHITECTURES).join(', ')})`,
    );
  }
  const configFile = path.join(dir, 'config.json');
  let hparams = folder.config;
  if (typeof hparams.text_config === 'object' && hparams.text_config !== null) hparams = { ...hparams, ...(hparams.text_config as Record<string, unknown>) };
  const hp = archHparams(arch, hparams, configFile);
  const warnings = [...hp.warnings];

  // tensors
  const tensors: GgufTensorSpec[] = [];
  const converted: ConvertedTensor[] = [];
  const dropped: ConvertResult['dropped'] = [];
  let parameters = 0;
  type Source = { hfName: string; hfDtype: string; name: string; shape: number[]; data: () => Float32Array; plan: ReturnType<typeof planTensor>; generated: boolean };
  const sources: Source[] = [];
  for (const x of extraTensors(hp)) {
    sources.push({ hfName: `(generated: ${x.why})`, hfDtype: 'F32', name: x.name, shape: [x.data.length], data: () => x.data, plan: { name: x.name }, generated: true });
  }
  for (const hfName of folder.tensorNames) {
    const plan = planTensor(hp, hfName);
    if (!plan.name) {
      dropped.push({ hfName, why: plan.why ?? 'not used' });
      continue;
    }
    sources.push({ hfName, hfDtype: folder.dtypeOf(hfName), name: plan.name, shape: folder.shapeOf(hfName), data: () => folder.read(hfName).data, plan, generated: false });
  }
  for (const { hfName, hfDtype, name, plan, generated, ...src } of sources) {
    let data = src.data();
    let shape = [...src.shape];
    if (plan.transform) {
      if (plan.transform === 'transpose' && shape.length !== 2) throw new UserError(`${dir}: tensor '${hfName}' should be 2-D, has shape ${JSON.stringify(shape)}`);
      if (shape.length !== 1 && shape.length !== 2) throw new UserError(`${dir}: tensor '${hfName}' should be 1-D or 2-D, has shape ${JSON.stringify(shape)}`);
      const [rows, cols] = (shape.length === 1 ? [shape[0]!, 1] : shape) as [number, number];
      if (plan.transform === 'transpose') {
        data = transpose2d(data, rows, cols);
        shape = [cols, rows];
      } else data = permuteRope(data, rows, cols, plan.transform === 'permute_q' ? hp.nHead : hp.nHeadKv);
    }
    const ne = shape.length === 0 ? [1] : [...shape].reverse();
    const nDims = shape.length;
    let type: 'F32' | 'F16' | 'BF16' | 'Q8_0' = GGML_NAME[outtype];
    if (nDims <= 1 || name.endsWith('_norm.weight') || name === 'position_embd.weight' || !name.endsWith('.weight')) type = 'F32';
    if (type === 'Q8_0' && ne[0]! % 32 !== 0) {
      warnings.push(`${name}: rows of ${ne[0]} are not a multiple of 32, falling back to F16`);
      type = 'F16';
    }
    tensors.push({ name, type, ne, data });
    converted.push({ name, hfName, hfDtype, type, ne, ...(plan.transform ? { transform: plan.transform } : {}) });
    if (!generated) parameters += data.length;
  }

  // check against what the architecture needs, before writing anything
  const embd = converted.find((t) => t.name === 'token_embd.weight');
  if (!embd) throw new UserError(`${dir}: no token embedding (${arch === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight'}) in the model files`);
  const nVocab = embd.ne[1]!;
  if (hp.nVocab !== undefined && hp.nVocab !== nVocab) throw new UserError(`${configFile}: vocab_size ${hp.nVocab} but the token embedding has ${nVocab} rows`);
  if (!hp.tied && !converted.some((t) => t.name === 'output.weight')) {
    warnings.push('tie_word_embeddings is false but there is no lm_head.weight; the output projection will use the token embedding');
  }
  const tiedOutput = !converted.some((t) => t.name === 'output.weight');
  const byName = new Map(converted.map((t) => [t.name, t]));
  for (const e of expectedTensors(hp, nVocab, !tiedOutput)) {
    const t = byName.get(e.name);
    if (!t) throw new UserError(`${dir}: the model files have no tensor for ${e.name} (a ${folder.architecture} with ${hp.nLayer} layers needs it)`);
    const same = t.ne.length === e.ne.length && t.ne.every((d, i) => d === e.ne[i]);
    if (!same) {
      throw new UserError(`${dir}: tensor '${t.hfName}' converts to ${e.name} of shape [${t.ne.join(', ')}], but config.json implies [${e.ne.join(', ')}]`);
    }
    byName.delete(e.name);
  }
  if (byName.size) throw new UserError(`${dir}: unexpected tensors for this configuration: ${[...byName.values()].map((t) => t.hfName).join(', ')}`);

  // tokenizer
  const vocab = arch === 'gpt2' ? await setVocabGpt2(dir, hparams) : arch === 'llama' ? await setVocabLlama(dir, hparams) : await setVocabQwen(dir, hparams);
  warnings.push(...vocab.warnings);
  if (vocab.nTokens !== nVocab) throw new UserError(`${dir}: the tokenizer has ${vocab.nTokens} tokens but the token embedding has ${nVocab} rows`);

  const archEntries = [...hp.entries];
  archEntries.splice(hp.fileTypeAt, 0, ['general.file_type', FILE_TYPE[outtype], 'uint32']);
  const metadata: MetaEntry[] = [
    ['general.architecture', arch, 'string'],
    ['general.type', 'model', 'string'],
    ['general.name', opts.name ?? path.basename(path.resolve(dir)), 'string'],
    ...archEntries,
    ['general.quantization_version', 2, 'uint32'],
    ...vocab.entries,
  ];
  if (fs.existsSync(out) && fs.statSync(out).isDirectory()) throw new UserError(`output ${out} is a folder; give a .gguf file path`);
  writeGguf(out, { metadata, tensors });
  return {
    input: dir,
    output: out,
    hfArchitecture: folder.architecture,
    arch,
    outtype,
    tokenizer: { model: vocab.model, pre: vocab.pre, tokens: vocab.nTokens, source: vocab.source },
    tensors: converted,
    dropped,
    parameters,
    tiedOutput,
    warnings,
  };
}
