/**
 * The model an evaluation scores: a GGUF model, optionally with an adapter.
 *
 * `adapter` may be
 * - a llama.cpp LoRA adapter GGUF (general.type = "adapter", tensors `<name>.lora_a/.lora_b`): it
 *   is MERGED IN MEMORY, W <- W + scale * alpha / r * B A for every adapted tensor
 *   (model/lora.ts loraDeltaFromAdapter), and the merged tensors are evaluated in F32;
 * - a full model GGUF (e.g. a merged model written by an unlearning run): it is evaluated instead
 *   of `modelPath`, after checking that it has the base model's architecture and tensor shapes.
 *
 * Why merge rather than score through llama.cpp's adapter support (LlamaCppScorer with `lora`):
 * evaluation also needs batched greedy generation and per-item batching, which run on our engine,
 * and one engine for every metric keeps the numbers of all metrics consistent. llama.cpp applies
 * the adapter as W x + s B (A x); the merged (W + s B A) x differs only by float rounding
 * (test/eval/evaluate.test.ts checks the two against each other).
 */
import fs from 'node:fs';
import { CausalLM } from '../model/model.ts';
import { readGguf, getMeta } from '../model/gguf.ts';
import { loraDeltaFromAdapter } from '../model/lora.ts';
import { UserError } from '../util/errors.ts';

export interface EvalModel {
  model: CausalLM;
  /** 'none', a LoRA merged in memory, or a full model file used instead of the base. */
  adapterKind: 'none' | 'lora' | 'model';
  /** Tensors changed by a LoRA adapter. */
  mergedTensors: string[];
}

/** Whether a GGUF file is a llama.cpp LoRA adapter. */
export function isLoraAdapter(path: string): boolean {
  const f = readGguf(path);
  return getMeta<string>(f, 'general.type') === 'adapter' || f.tensors.some((t) => t.name.endsWith('.lora_a'));
}

/**
 * A CausalLM sharing `model`'s host weights in which every tensor is evaluated from its F32 host
 * copy (not the file's bytes). Use it when the host weights have been changed in memory (e.g. by
 * unlearning steps): an evaluation session of the original model would otherwise upload the
 * unchanged F16 / quantised bytes of the file.
 */
export function hostF32View(model: CausalLM): CausalLM {
  if ([...model.weights.values()].every((w) => w.fileType === 'f32')) return model;
  const w = new Map([...model.weights].map(([k, v]) => [k, { ...v, fileType: 'f32' as const, fileBytes: undefined }]));
  return new CausalLM(model.config, w, model.source, model.file);
}

/** Load the model (and adapter) an evaluation runs on. */
export function loadEvalModel(modelPath: string, adapter?: string, opts: { adapterScale?: number } = {}): EvalModel {
  if (!fs.existsSync(modelPath)) throw new UserError(`model file not found: ${modelPath}`);
  if (!adapter) return { model: CausalLM.load(modelPath), adapterKind: 'none', mergedTensors: [] };
  if (!fs.existsSync(adapter)) throw new UserError(`adapter file not found: ${adapter}`);
  const scale = opts.adapterScale ?? 1;
  if (!Number.isFinite(scale)) throw new UserError(`adapter scale must be a finite number, got ${scale}`);
  const base = CausalLM.load(modelPath);
  if (!isLoraAdapter(adapter)) {
    const other = CausalLM.load(adapter);
    if (other.config.arch !== base.config.arch) {
      throw new UserError(`${adapter} is a ${other.config.arch} model but the base ${modelPath} is ${base.config.arch}`);
    }
    for (const [name, w] of base.weights) {
      const o = other.weights.get(name);
      if (!o || o.data.length !== w.data.length) throw new UserError(`${adapter} does not have the base model's tensor ${name} with its shape`);
    }
    return { model: other, adapterKind: 'model', mergedTensors: [] };
  }
  const file = readGguf(adapter);
  const arch = getMeta<string>(file, 'general.architecture');
  if (arch && arch !== base.config.arch) throw new UserError(`LoRA adapter ${adapter} is for ${arch}, but ${modelPath} is ${base.config.arch}`);
  const adapted = file.tensors.filter((t) => t.name.endsWith('.lora_a')).map((t) => t.name.slice(0, -'.lora_a'.length));
  if (adapted.length === 0) throw new UserError(`LoRA adapter ${adapter} holds no .lora_a tensors`);
  for (const name of adapted) {
    const w = base.weights.get(name);
    if (!w) throw new UserError(`LoRA adapter ${adapter} adapts ${name}, which ${modelPath} does not have`);
    let delta: Float32Array;
    try {
      delta = loraDeltaFromAdapter(file, name, scale);
    } catch (e) {
      throw new UserError(`LoRA adapter ${adapter}, tensor ${name}: ${(e as Error).message}`);
    }
    if (delta.length !== w.data.length) throw new UserError(`LoRA adapter ${adapter}: ${name} has ${delta.length} values, the base tensor ${w.data.length}`);
    for (let i = 0; i < delta.length; i++) w.data[i] = w.data[i]! + delta[i]!;
    w.fileType = 'f32';
    w.fileBytes = undefined;
  }
  return { model: base, adapterKind: 'lora', mergedTensors: adapted };
}
