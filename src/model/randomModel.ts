/**
 * Random-weight GGUF models of any registered family at any shape, with a real vocabulary: for
 * tests (parity with llama.cpp at real shapes without downloading weights), benchmarks at the
 * shapes practitioners bring, and the end-to-end runs of every family.
 *
 *   writeRandomModel('qwen3.gguf', { shape: 'qwen3-0.6b', vocab: { file: 'ggml-vocab-qwen2.gguf' } });
 *   writeRandomModel('tiny.gguf', { shape: { arch: 'qwen2', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128 }, vocab: { tiny: 384 } });
 *
 * Vocabulary: the `tokenizer.*` keys of a vocab GGUF (llama.cpp's models/ggml-vocab-*.gguf: the
 * caller passes the file), or a tiny SentencePiece vocabulary trained here on a fixed text
 * (tokenizer/train.ts, which llama.cpp's SPM tokenizer reproduces), for unit tests.
 *
 * Weights (seeded, reproducible): matrices N(0, 1 / n_in) (the LeCun / HF-style scale: 0.02-0.04
 * at the named shapes' widths), the residual-branch outputs (attn_output, ffn_down) divided by
 * sqrt(2 n_layer) (GPT-2's scaled init), the embedding and output N(0, (2 / sqrt(n_embd))^2) so
 * that logits have a standard deviation of about 2 (a peaked but not degenerate next-token
 * distribution), norm weights 1 + N(0, 0.1^2) and biases N(0, 0.2^2) so that a forgotten scale or
 * bias shows in the log-probs, and rope_freqs.weight from Llama 3's formula. 1-D tensors are
 * always F32 (as llama.cpp's converter writes them), matrices in the requested type.
 * Quantised types are made from these files by quantize.ts.
 */
import fs from 'node:fs';
import { GgufMetadata, getMeta, readGguf, writeGguf, type GgufTensorSpec, type GgufTypeHint, type GgufValue } from './gguf.ts';
import { expectedTensors, familyOf, headDim, type Architecture, type ModelConfig } from './config.ts';
import { spmVocabMetadata, trainSpmVocab } from './tokenizer/train.ts';
import { Rng } from '../util/rng.ts';
import { CausalLM, type HostTensor } from './model.ts';
import { UserError } from '../util/errors.ts';

/** Llama 3 "llama3" rope scaling (HF rope_scaling), turned into rope_freqs.weight as convert_hf_to_gguf.py does. */
export interface Llama3RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalContext: number;
}

/** Linear rope scaling: `<arch>.rope.scaling.type = linear`, `.factor`. */
export interface LinearRopeScaling {
  type: 'linear';
  factor: number;
}

/** The hyper-parameters of a model shape (a ModelConfig without the vocabulary, which comes from the vocab). */
export interface ModelShape {
  arch: Architecture;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv?: number;
  nFf: number;
  /** Context length (default 256). */
  nCtx?: number;
  /** Norm epsilon (default 1e-5 for llama / gpt2, 1e-6 for qwen). */
  normEps?: number;
  ropeFreqBase?: number;
  /** Default true. */
  tiedOutput?: boolean;
  /** Head size when not nEmbd / nHead (written as attention.key_length / value_length). */
  headDim?: number;
  /** Q/K/V biases (default: the family's: qwen2 yes). */
  attnBias?: boolean;
  ropeScaling?: Llama3RopeScaling | LinearRopeScaling;
}

export interface NamedShape extends ModelShape {
  /** Vocabulary size of the real model (its vocab file gives the same count). */
  nVocab: number;
  /** The llama.cpp vocab file with the real model's tokenizer type and pre-tokenizer. */
  vocab: string;
  /** Where the hyper-parameters come from. */
  source: string;
}

/**
 * Real models' hyper-parameters, from their Hugging Face config.json (hidden_size, num_hidden_layers,
 * num_attention_heads, num_key_value_heads, intermediate_size, max_position_embeddings, rms_norm_eps,
 * rope_theta, tie_word_embeddings, head_dim, rope_scaling).
 */
export const NAMED_SHAPES: Readonly<Record<string, NamedShape>> = {
  'smollm2-135m': {
    arch: 'llama', nEmbd: 576, nLayer: 30, nHead: 9, nHeadKv: 3, nFf: 1536, nCtx: 8192, normEps: 1e-5, ropeFreqBase: 100000, tiedOutput: true,
    nVocab: 49152, vocab: 'ggml-vocab-starcoder.gguf', source: 'https://huggingface.co/HuggingFaceTB/SmolLM2-135M/blob/main/config.json',
  },
  'smollm2-360m': {
    arch: 'llama', nEmbd: 960, nLayer: 32, nHead: 15, nHeadKv: 5, nFf: 2560, nCtx: 8192, normEps: 1e-5, ropeFreqBase: 100000, tiedOutput: true,
    nVocab: 49152, vocab: 'ggml-vocab-starcoder.gguf', source: 'https://huggingface.co/HuggingFaceTB/SmolLM2-360M/blob/main/config.json',
  },
  'qwen2.5-0.5b': {
    arch: 'qwen2', nEmbd: 896, nLayer: 24, nHead: 14, nHeadKv: 2, nFf: 4864, nCtx: 32768, normEps: 1e-6, ropeFreqBase: 1000000, tiedOutput: true,
    nVocab: 151936, vocab: 'ggml-vocab-qwen2.gguf', source: 'https://huggingface.co/Qwen/Qwen2.5-0.5B/blob/main/config.json',
  },
  'qwen3-0.6b': {
    arch: 'qwen3', nEmbd: 1024, nLayer: 28, nHead: 16, nHeadKv: 8, headDim: 128, nFf: 3072, nCtx: 40960, normEps: 1e-6, ropeFreqBase: 1000000, tiedOutput: true,
    nVocab: 151936, vocab: 'ggml-vocab-qwen2.gguf', source: 'https://huggingface.co/Qwen/Qwen3-0.6B/blob/main/config.json',
  },
  'llama-3.2-1b': {
    arch: 'llama', nEmbd: 2048, nLayer: 16, nHead: 32, nHeadKv: 8, headDim: 64, nFf: 8192, nCtx: 131072, normEps: 1e-5, ropeFreqBase: 500000, tiedOutput: true,
    ropeScaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 },
    nVocab: 128256, vocab: 'ggml-vocab-llama-bpe.gguf', source: 'https://huggingface.co/meta-llama/Llama-3.2-1B/blob/main/config.json',
  },
  'gpt2-124m': {
    arch: 'gpt2', nEmbd: 768, nLayer: 12, nHead: 12, nHeadKv: 12, nFf: 3072, nCtx: 1024, normEps: 1e-5, tiedOutput: true,
    nVocab: 50257, vocab: 'ggml-vocab-gpt-2.gguf', source: 'https://huggingface.co/openai-community/gpt2/blob/main/config.json (n_inner null: 4 * n_embd)',
  },
};

export type VocabSource =
  /** A GGUF whose `tokenizer.*` keys are copied (e.g. llama.cpp's models/ggml-vocab-qwen2.gguf). */
  | { file: string }
  /** A SentencePiece vocabulary of at most this many tokens (>= 260), trained on a fixed English text. */
  | { tiny: number };

export interface RandomModelOptions {
  /** A NAMED_SHAPES key or a shape. */
  shape: string | ModelShape;
  /** Changes to a named shape (e.g. { nLayer: 2, nCtx: 512 } for a short test model at real widths). */
  overrides?: Partial<ModelShape>;
  vocab: VocabSource;
  /** Type of the matrices (default F32). */
  type?: 'F32' | 'F16' | 'BF16';
  seed?: number;
  name?: string;
}

export interface RandomModelResult {
  path: string;
  config: ModelConfig;
  parameters: number;
}

/** llama_ftype of general.file_type. */
const FILE_TYPE = { F32: 0, F16: 1, BF16: 32 } as const;

/** A few sentences of plain English for the tiny vocabulary (its characters and frequent pairs). */
const TINY_CORPUS = [
  'The quick brown fox jumps over the lazy dog. A small model reads the text and predicts the next word.',
  'Once upon a time there was a little girl who loved to read books about the sea, the stars and the moon.',
  'Dave lives in a town by the river. He works at the library, plays the violin and keeps two cats.',
  'Numbers: 0 1 2 3 4 5 6 7 8 9, and punctuation: , . ; : ! ? \' " ( ) - / & % $ # @ + = * < > [ ] { } _ ~ ` | \\ ^',
  'ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz',
];

function resolveShape(o: RandomModelOptions): ModelShape {
  if (typeof o.shape === 'string') {
    const named = NAMED_SHAPES[o.shape];
    if (!named) throw new UserError(`unknown model shape '${o.shape}' (named shapes: ${Object.keys(NAMED_SHAPES).join(', ')})`);
    return { ...named, ...o.overrides };
  }
  return { ...o.shape, ...o.overrides };
}

/** The tokenizer metadata and token count of a vocabulary source. */
function vocabMetadata(v: VocabSource): { entries: Array<[string, GgufValue, GgufTypeHint]>; nVocab: number } {
  if ('file' in v) {
    if (!fs.existsSync(v.file)) throw new UserError(`vocabulary file ${v.file} does not exist`);
    const f = readGguf(v.file);
    const tokens = getMeta<string[]>(f, 'tokenizer.ggml.tokens');
    if (!Array.isArray(tokens)) throw new UserError(`${v.file} has no tokenizer.ggml.tokens`);
    const entries = f.metadata.typedEntries().filter(([k]) => k.startsWith('tokenizer.'));
    return { entries, nVocab: tokens.length };
  }
  const spec = trainSpmVocab(TINY_CORPUS, { vocabSize: v.tiny, minFrequency: 1 });
  return { entries: spmVocabMetadata(spec), nVocab: spec.tokens.length };
}

/** The ModelConfig a shape gives with a vocabulary of nVocab tokens. */
export function shapeConfig(s: ModelShape, nVocab: number): ModelConfig {
  const qwen = s.arch === 'qwen2' || s.arch === 'qwen3';
  const hd = s.headDim ?? s.nEmbd / s.nHead;
  const c: ModelConfig = {
    arch: s.arch,
    nEmbd: s.nEmbd,
    nLayer: s.nLayer,
    nHead: s.nHead,
    nHeadKv: s.nHeadKv ?? s.nHead,
    nFf: s.nFf,
    nVocab,
    nCtx: s.nCtx ?? 256,
    normEps: s.normEps ?? (qwen ? 1e-6 : 1e-5),
    ropeDims: s.arch === 'gpt2' ? 0 : hd,
    ropeFreqBase: s.ropeFreqBase ?? (qwen ? 1000000 : 10000),
    tiedOutput: s.tiedOutput ?? true,
  };
  if (s.headDim !== undefined && s.headDim !== s.nEmbd / s.nHead) c.headDim = s.headDim;
  if (s.attnBias !== undefined) c.attnBias = s.attnBias;
  if (s.ropeScaling?.type === 'linear') c.ropeFreqScale = Math.fround(1 / Math.fround(s.ropeScaling.factor));
  if (s.ropeScaling?.type === 'llama3') c.ropeFreqFactors = true;
  familyOf(c.arch).validate(c, `shape ${s.arch} ${s.nEmbd}x${s.nLayer}`);
  if (s.ropeScaling && s.arch !== 'llama') throw new UserError(`rope scaling is only written for llama shapes (${s.arch} files with it are refused by llama.cpp or by unlearnkit)`);
  return c;
}

/**
 * Llama 3's rope frequency factors (convert_hf_to_gguf.py LlamaModel.generate_extra_tensors):
 * for each inv_freq = base^(-2i/d), wavelen = 2 pi / inv_freq: 1 below original_context /
 * high_freq_factor, `factor` above original_context / low_freq_factor, and between them
 * 1 / ((1 - smooth) / factor + smooth) with smooth = (original_context / wavelen - low) / (high - low).
 * (The values only need to be plausible: both engines read the same tensor.)
 */
function llama3RopeFactors(base: number, dim: number, r: Llama3RopeScaling): Float32Array {
  const f = Math.fround;
  const out = new Float32Array(dim / 2);
  const lowWavelen = r.originalContext / r.lowFreqFactor;
  const highWavelen = r.originalContext / r.highFreqFactor;
  for (let i = 0; i < dim / 2; i++) {
    const freq = f(1 / f(base ** ((2 * i) / dim)));
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = r.factor;
    else {
      const smooth = (r.originalContext / wavelen - r.lowFreqFactor) / (r.highFreqFactor - r.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / r.factor + smooth);
    }
  }
  return out;
}

/** The `<arch>.*` metadata of a config (what llama.cpp's converter writes for the family). */
function archMetadata(c: ModelConfig, s: ModelShape): Array<[string, number | string, 'uint32' | 'float32' | 'string']> {
  const a = c.arch;
  const out: Array<[string, number | string, 'uint32' | 'float32' | 'string']> = [
    [`${a}.context_length`, c.nCtx, 'uint32'],
    [`${a}.embedding_length`, c.nEmbd, 'uint32'],
    [`${a}.block_count`, c.nLayer, 'uint32'],
    [`${a}.feed_forward_length`, c.nFf, 'uint32'],
    [`${a}.attention.head_count`, c.nHead, 'uint32'],
  ];
  if (a === 'gpt2') {
    out.push([`${a}.attention.layer_norm_epsilon`, c.normEps, 'float32']);
    return out;
  }
  out.push(
    [`${a}.attention.head_count_kv`, c.nHeadKv, 'uint32'],
    [`${a}.rope.freq_base`, c.ropeFreqBase, 'float32'],
    [`${a}.attention.layer_norm_rms_epsilon`, c.normEps, 'float32'],
    [`${a}.rope.dimension_count`, c.ropeDims, 'uint32'],
  );
  if (c.headDim !== undefined) out.push([`${a}.attention.key_length`, c.headDim, 'uint32'], [`${a}.attention.value_length`, c.headDim, 'uint32']);
  if (s.ropeScaling?.type === 'linear') out.push([`${a}.rope.scaling.type`, 'linear', 'string'], [`${a}.rope.scaling.factor`, s.ropeScaling.factor, 'float32']);
  return out;
}

/** Random values of one tensor (see the module comment). */
function initTensor(name: string, ne: number[], c: ModelConfig, rng: Rng, s: ModelShape): Float32Array {
  const n = ne.reduce((a, b) => a * b, 1);
  if (name === 'rope_freqs.weight') return llama3RopeFactors(c.ropeFreqBase, headDim(c), s.ropeScaling as Llama3RopeScaling);
  if (ne.length === 1) {
    if (name.endsWith('.bias')) return rng.normalArray(n, 0.2);
    const w = rng.normalArray(n, 0.1);
    for (let i = 0; i < n; i++) w[i]! += 1;
    return w;
  }
  if (name === 'token_embd.weight' || name === 'output.weight') return rng.normalArray(n, 2 / Math.sqrt(c.nEmbd));
  if (name === 'position_embd.weight') return rng.normalArray(n, 1 / Math.sqrt(c.nEmbd));
  const residual = /\.(attn_output|ffn_down)\.weight$/.test(name);
  return rng.normalArray(n, 1 / Math.sqrt(ne[0]!) / (residual ? Math.sqrt(2 * c.nLayer) : 1));
}

/** Write a random-weight GGUF (atomically) and return its config. */
export function writeRandomModel(path: string, o: RandomModelOptions): RandomModelResult {
  const shape = resolveShape(o);
  const vocab = vocabMetadata(o.vocab);
  const c = shapeConfig(shape, vocab.nVocab);
  const type = o.type ?? 'F32';
  if (!(type in FILE_TYPE)) throw new UserError(`random models are written as F32, F16 or BF16, not ${type}`);
  const md = new GgufMetadata();
  md.setTyped('general.architecture', c.arch, 'string');
  md.setTyped('general.name', o.name ?? `random ${typeof o.shape === 'string' ? o.shape : c.arch} (unlearnkit)`, 'string');
  md.setTyped('general.file_type', FILE_TYPE[type], 'uint32');
  for (const [k, v, t] of archMetadata(c, shape)) md.setTyped(k, v, t);
  for (const [k, v, t] of vocab.entries) md.setTyped(k, v, t);
  const rng = new Rng(o.seed ?? 1);
  let parameters = 0;
  const tensors: GgufTensorSpec[] = expectedTensors(c).map((t) => {
    const data = initTensor(t.name, t.ne, c, rng, shape);
    parameters += data.length;
    return { name: t.name, type: t.ne.length >= 2 ? type : 'F32', ne: t.ne, data };
  });
  writeGguf(path, { metadata: md, tensors });
  return { path, config: c, parameters };
}

/** A random-weight model of a config in memory (no file): N(0, 0.02) matrices, norms at 1; for timing and tests. */
export function randomModel(c: ModelConfig, seed = 1): CausalLM {
  const rng = new Rng(seed);
  const w = new Map<string, HostTensor>();
  for (const t of expectedTensors(c)) {
    const n = t.ne.reduce((a, b) => a * b, 1);
    w.set(t.name, { name: t.name, ne: [...t.ne], data: t.ne.length === 1 ? new Float32Array(n).fill(1) : rng.normalArray(n, 0.02), fileType: 'f32' });
  }
  return new CausalLM(c, w, `random ${c.nEmbd}x${c.nLayer}`);
}
