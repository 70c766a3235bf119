/**
 * The model an evaluation scores: a GGUF model, optionally with an adapter.
 *
 * `adapter` may be
 * - a llama.cpp LoRA adapter GGUF (general.type = "adapter", tensors `<name>.lora_a/.lora_b`): it
 *   is attached to the base (model/lora.ts attachLoraFile), which stays in its stored types, and
 *   every product of an adapted weight computes W x + scale * alpha / r * B (A x) with llama.cpp's
 *   own ops (model.ts loraHook), so the log-probs are llama.cpp's with the adapter (quantised bases
 *   included, where merging into F32 weights would differ by the activations' quantisation); an
 *   adapter of the token embedding is merged into the table (W <- W + scale * alpha / r * B A);
 * - a full model GGUF (e.g. a merged model written by an unlearning run): it is evaluated instead
 *   of `modelPath`, after checking that it has the base model's architecture and tensor shapes.
 *
 * Why our engine rather than scoring through llama.cpp's adapter support (LlamaCppScorer with
 * `lora`): evaluation also needs batched greedy generation and per-item batching, which run on our
 * engine, and one engine for every metric keeps the numbers of all metrics consistent
 * (test/eval/evaluate.test.ts and test/train/lora.test.ts check the two against each other).
 */
import fs from 'node:fs';
import { CausalLM, hostTensorDecoded } from '../model/model.ts';
import { readGguf, getMeta } from '../model/gguf.ts';
import { attachLoraFile, loraDeltaFromAdapter } from '../model/lora.ts';
import { UserError } from '../util/errors.ts';

export interface EvalModel {
  model: CausalLM;
  /** 'none', a LoRA adapter attached to the base, or a full model file used instead of the base. */
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
 * A CausalLM sharing `model`'s host weights (and adapter) in which every tensor whose values were
 * read or changed is evaluated from its F32 host copy (not the file's bytes); tensors never decoded
 * keep their stored bytes, which cannot have changed. Use it when the host weights have been
 * changed in memory (e.g. by unlearning steps): an evaluation session of the original model would
 * otherwise upload the unchanged F16 / quantised bytes of the file.
 */
export function hostF32View(model: CausalLM): CausalLM {
  if ([...model.weights.values()].every((w) => w.fileType === 'f32')) return model;
  // a tensor whose file bytes were never decoded cannot have changed: it keeps its stored type
  const w = new Map([...model.weights].map(([k, v]) => [k, hostTensorDecoded(v) ? { ...v, fileType: 'f32' as const, fileBytes: undefined } : v]));
  const view = new CausalLM(model.config, w, model.source, model.file);
  view.lora = model.lora; // the adapter's tensors are among the weights
  return view;
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
  const attached = attachLoraFile(base, adapter, { scale, embeddings: 'skip' });
  // an embedding adapter (llama.cpp adds B a_t to the looked-up rows) is merged into the table
  const file = attached.skipped.length ? readGguf(adapter) : null;
  for (const name of attached.skipped) {
    const w = base.weights.get(name);
    if (!w) throw new UserError(`LoRA adapter ${adapter} adapts ${name}, which ${modelPath} does not have`);
    const delta = loraDeltaFromAdapter(file!, name, scale);
    if (delta.length !== w.data.length) throw new UserError(`LoRA adapter ${adapter}: ${name} has ${delta.length} values, the base tensor ${w.data.length}`);
    const merged = w.data.slice();
    for (let i = 0; i < delta.length; i++) merged[i] = merged[i]! + delta[i]!;
    w.data = merged;
    w.fileType = 'f32';
    w.fileBytes = undefined;
  }
  return { model: base, adapterKind: 'lora', mergedTensors: [...attached.factors.keys(), ...attached.skipped] };
}
