/**
 * Hugging Face folder -> GGUF conversion (src/model/convert), checked three ways:
 *  - against an independent plain-TypeScript forward pass of the Hugging Face model computed from the
 *    safetensors weights in Hugging Face layout (GPT-2 Conv1D [in, out] weights; LLaMA with
 *    Hugging Face's rotate_half rotary embedding on the unpermuted Q/K weights), in float64;
 *  - against llama.cpp (node-llama-cpp) and our own engine on the converted GGUF (within 1e-3);
 *  - tokenizer parity: llama.cpp's tokenizer on the converted GGUF vs the Hugging Face tokenizer.
 * The folders are written by the test: a tiny GPT2LMHeadModel with the real GPT-2 vocabulary, and a
 * tiny LlamaForCausalLM (GQA, sharded, F32/BF16/F16 safetensors) with stories260K's vocabulary as a
 * SentencePiece-converted byte-fallback BPE tokenizer.json (and as a tokenizer.model).
 * The reference can round where llama.cpp does (F16 KV cache and flash-attention accumulator, F16
 * GELU table); the float64 Hugging Face model's distance to llama.cpp is reported as well.
 */
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixturePath } from '../../src/util/paths.ts';
import { skipLoudly } from '../helpers/fixtures.ts';
import { llamaCppSourceFile } from '../helpers/llamacppSource.ts';
import { Rng } from '../../src/util/rng.ts';
import { UserError } from '../../src/util/errors.ts';
import { readGguf, getMeta } from '../../src/model/gguf.ts';
import { f16BitsToF32, f32ToF16Bits } from '../../src/model/ggufTypes.ts';
import { readGgufVocab } from '../../src/model/tokenizer/vocab.ts';
import { tokenizerFromHfJson } from '../../src/model/tokenizer/hf.ts';
import { CausalLM, LMSession, sequenceLogprobs } from '../../src/model/model.ts';
import { LlamaCppScorer } from '../../src/model/llamacppLogprobs.ts';
import { readSafetensors, readSafetensorsF32, writeSafetensors, type SafetensorsWriteTensor } from '../../src/model/safetensors.ts';
import { convertHfToGguf } from '../../src/model/convert/index.ts';
import { writeSentencePieceModel } from '../../src/model/convert/sentencepiece.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-convert-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const GPT2_TOKENIZER = fixturePath('tokenizers', 'gpt2', 'tokenizer.json');
const STORIES = fixturePath('models', 'stories260K.gguf');

// ---------------------------------------------------------------------------------------------
// Weights in Hugging Face layout (row-major, PyTorch shapes), with values exact in their storage type
// ---------------------------------------------------------------------------------------------

type HfWeights = Map<string, { shape: number[]; data: Float32Array; dtype: 'F32' | 'F16' | 'BF16' }>;

const u32 = new Uint32Array(1);
const f32v = new Float32Array(u32.buffer);
/** A float32 whose low 16 bits are zero: exactly representable in bfloat16. */
function bf16Exact(x: number): number {
  f32v[0] = x;
  u32[0] = u32[0]! & 0xffff0000;
  return f32v[0]!;
}
/** A multiple of 2^-10 in (-2, 2): exactly representable in IEEE half. */
function f16Exact(x: number): number {
  return Math.max(-2047, Math.min(2047, Math.round(x * 1024))) / 1024;
}

function randWeights(rng: Rng, specs: Array<[string, number[], number, number?, ('F32' | 'F16' | 'BF16')?]>): HfWeights {
  const w: HfWeights = new Map();
  for (const [name, shape, std, mean = 0, dtype = 'F32'] of specs) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = mean + std * rng.normal();
      data[i] = dtype === 'BF16' ? bf16Exact(x) : dtype === 'F16' ? f16Exact(x) : x;
    }
    w.set(name, { shape, data, dtype });
  }
  return w;
}

function toSafetensors(w: HfWeights, names: string[]): SafetensorsWriteTensor[] {
  return names.map((name) => ({ name, ...w.get(name)! }));
}

// ---------------------------------------------------------------------------------------------
// Reference forward passes (float64, Hugging Face semantics)
// ---------------------------------------------------------------------------------------------

/** y[o] = sum_i x[i] W[i, o] + b[o] for a Conv1D weight stored [in, out]. */
function conv1d(x: Float64Array, W: Float32Array, b: Float32Array, nIn: number, nOut: number): Float64Array {
  const y = new Float64Array(nOut);
  for (let o = 0; o < nOut; o++) y[o] = b[o]!;
  for (let i = 0; i < nIn; i++) {
    const xi = x[i]!;
    const row = i * nOut;
    for (let o = 0; o < nOut; o++) y[o] += xi * W[row + o]!;
  }
  return y;
}

/** y[o] = sum_i W[o, i] x[i] for an nn.Linear weight stored [out, in]. */
function linear(x: Float64Array, W: Float32Array, nIn: number, nOut: number): Float64Array {
  const y = new Float64Array(nOut);
  for (let o = 0; o < nOut; o++) {
    let s = 0;
    const row = o * nIn;
    for (let i = 0; i < nIn; i++) s += W[row + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

function layerNorm(x: Float64Array, g: Float32Array, b: Float32Array, eps: number): Float64Array {
  const n = x.length;
  let mean = 0;
  for (const v of x) mean += v;
  mean /= n;
  let varr = 0;
  for (const v of x) varr += (v - mean) ** 2;
  varr /= n;
  const inv = 1 / Math.sqrt(varr + eps);
  return Float64Array.from(x, (v, i) => (v - mean) * inv * g[i]! + b[i]!);
}

function rmsNorm(x: Float64Array, g: Float32Array, eps: number): Float64Array {
  let ms = 0;
  for (const v of x) ms += v * v;
  const inv = 1 / Math.sqrt(ms / x.length + eps);
  return Float64Array.from(x, (v, i) => v * inv * g[i]!);
}

/** Hugging Face's gelu_new (tanh approximation). */
function geluNew(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

function logSoftmaxAt(logits: Float64Array, target: number): number {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let s = 0;
  for (const v of logits) s += Math.exp(v - max);
  return logits[target]! - max - Math.log(s);
}

/** Round to IEEE half and back (what storing a value in an F16 tensor does). */
function f16(x: number): number {
  return f16BitsToF32(f32ToF16Bits(x));
}

/**
 * Precision choices llama.cpp makes on CPU that Hugging Face's float32 model does not: flash
 * attention over an F16 KV cache (Q rounded to F16 for the K dot products, K and V stored as F16,
 * the softmax-weighted sum of V accumulated in an F16 buffer: ggml's
 * `ggml_compute_forward_flash_attn_ext_f16`), and GELU looked up in a table indexed by the F16 input
 * holding F16 outputs (`ggml_vec_gelu_f32` with GGML_GELU_FP16). With `ggml: true` the reference
 * rounds exactly there; with `ggml: false` it is Hugging Face's model in float64. What remains
 * (up to ~5e-4 on the tiny GPT-2, ~1e-6 on the tiny LLaMA) comes from GELU inputs that fall on the
 * other side of an F16 rounding boundary, because the reference sums in float64 and ggml in float32.
 */
interface RefOpts {
  ggml: boolean;
}

/**
 * Causal multi-head attention over all positions: q[t] (nHead*hd), k[t], v[t] (nKv*hd); query head h
 * uses KV head floor(h / (nHead / nKv)). Returns the concatenated head outputs per position.
 */
function attention(q: Float64Array[], k: Float64Array[], v: Float64Array[], nHead: number, nKv: number, hd: number, o: RefOpts): Float64Array[] {
  const T = q.length;
  const group = nHead / nKv;
  const out: Float64Array[] = [];
  const scale = o.ggml ? Math.fround(1 / Math.sqrt(hd)) : 1 / Math.sqrt(hd);
  if (o.ggml) {
    q = q.map((r) => r.map(f16));
    k = k.map((r) => r.map(f16));
    v = v.map((r) => r.map(f16));
  }
  for (let t = 0; t < T; t++) {
    const res = new Float64Array(nHead * hd);
    for (let h = 0; h < nHead; h++) {
      const kh = Math.floor(h / group);
      const dot = (s: number) => {
        let acc = 0;
        for (let i = 0; i < hd; i++) acc += q[t]![h * hd + i]! * k[s]![kh * hd + i]!;
        return acc * scale;
      };
      if (o.ggml) {
        // ggml's online softmax with an F16 accumulator
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
        const sc = new Float64Array(t + 1);
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          sc[s] = dot(s);
          if (sc[s]! > max) max = sc[s]!;
        }
        let z = 0;
        for (let s = 0; s <= t; s++) z += sc[s] = Math.exp(sc[s]! - max);
        for (let s = 0; s <= t; s++) for (let i = 0; i < hd; i++) res[h * hd + i] += (sc[s]! / z) * v[s]![kh * hd + i]!;
      }
    }
    out.push(res);
  }
  return out;
}

/** ggml's GELU on CPU: table[f16(x)] = f16(gelu_tanh(x)) in float32, identity above 10, 0 below -10. */
function geluGgml(x: number): number {
  if (x <= -10) return 0;
  if (x >= 10) return x;
  const h = f16(Math.fround(x));
  const fr = Math.fround;
  // 0.5f*x*(1.0f + tanhf(SQRT_2_OVER_PI*x*(1.0f + GELU_COEF_A*x*x)))
  const inner = fr(fr(fr(0.7978845608028654) * h) * fr(1 + fr(fr(fr(0.044715) * h) * h)));
  return f16(fr(fr(0.5 * h) * fr(1 + Math.tanh(inner))));
}

interface Gpt2Cfg {
  d: number;
  L: number;
  H: number;
  V: number;
  eps: number;
}

/** GPT2LMHeadModel forward from Hugging Face weights (Conv1D [in, out]); tied output. */
function gpt2Reference(W: HfWeights, c: Gpt2Cfg, tokens: number[], o: RefOpts = { ggml: false }): number[] {
  const g = (n: string) => W.get(`transformer.${n}`)!.data;
  const { d, H } = c;
  const hd = d / H;
  let x = tokens.map((tok, t) => Float64Array.from({ length: d }, (_, i) => g('wte.weight')[tok * d + i]! + g('wpe.weight')[t * d + i]!));
  for (let l = 0; l < c.L; l++) {
    const p = (s: string) => g(`h.${l}.${s}`);
    const qkv = x.map((xt) => conv1d(layerNorm(xt, p('ln_1.weight'), p('ln_1.bias'), c.eps), p('attn.c_attn.weight'), p('attn.c_attn.bias'), d, 3 * d));
    const att = attention(
      qkv.map((r) => r.subarray(0, d)),
      qkv.map((r) => r.subarray(d, 2 * d)),
      qkv.map((r) => r.subarray(2 * d)),
      H,
      H,
      hd,
      o,
    );
    x = x.map((xt, t) => {
      const a = conv1d(att[t]!, p('attn.c_proj.weight'), p('attn.c_proj.bias'), d, d);
      return Float64Array.from(xt, (v, i) => v + a[i]!);
    });
    x = x.map((xt) => {
      const h = conv1d(layerNorm(xt, p('ln_2.weight'), p('ln_2.bias'), c.eps), p('mlp.c_fc.weight'), p('mlp.c_fc.bias'), d, 4 * d).map(o.ggml ? geluGgml : geluNew);
      const m = conv1d(h, p('mlp.c_proj.weight'), p('mlp.c_proj.bias'), 4 * d, d);
      return Float64Array.from(xt, (v, i) => v + m[i]!);
    });
  }
  const out: number[] = [];
  for (let t = 0; t + 1 < tokens.length; t++) {
    const h = layerNorm(x[t]!, g('ln_f.weight'), g('ln_f.bias'), c.eps);
    out.push(logSoftmaxAt(linear(h, g('wte.weight'), d, c.V), tokens[t + 1]!));
  }
  return out;
}

interface LlamaCfg {
  d: number;
  L: number;
  H: number;
  Hkv: number;
  ff: number;
  V: number;
  eps: number;
  theta: number;
  tied: boolean;
}

/**
 * LlamaForCausalLM forward from Hugging Face weights: nn.Linear [out, in], rotary embedding applied
 * the Hugging Face way (rotate_half: dimension i pairs with i + hd/2, inv_freq_i = theta^(-2i/hd)).
 */
function llamaReference(W: HfWeights, c: LlamaCfg, tokens: number[], o: RefOpts = { ggml: false }): number[] {
  const g = (n: string) => W.get(n)!.data;
  const { d, H, Hkv } = c;
  const hd = d / H;
  const kvd = Hkv * hd;
  const rotary = (vec: Float64Array, nHeads: number, pos: number) => {
    const out = new Float64Array(vec.length);
    for (let h = 0; h < nHeads; h++) {
      for (let i = 0; i < hd / 2; i++) {
        const ang = pos * c.theta ** ((-2 * i) / hd);
        const a = vec[h * hd + i]!;
        const b = vec[h * hd + i + hd / 2]!;
        out[h * hd + i] = a * Math.cos(ang) - b * Math.sin(ang);
        out[h * hd + i + hd / 2] = b * Math.cos(ang) + a * Math.sin(ang);
      }
    }
    return out;
  };
  let x = tokens.map((tok) => Float64Array.from(g('model.embed_tokens.weight').subarray(tok * d, (tok + 1) * d)));
  for (let l = 0; l < c.L; l++) {
    const p = (s: string) => g(`model.layers.${l}.${s}`);
    const hs = x.map((xt) => rmsNorm(xt, p('input_layernorm.weight'), c.eps));
    const q = hs.map((h, t) => rotary(linear(h, p('self_attn.q_proj.weight'), d, d), H, t));
    const k = hs.map((h, t) => rotary(linear(h, p('self_attn.k_proj.weight'), d, kvd), Hkv, t));
    const v = hs.map((h) => linear(h, p('self_attn.v_proj.weight'), d, kvd));
    const att = attention(q, k, v, H, Hkv, hd, o);
    x = x.map((xt, t) => {
      const a = linear(att[t]!, p('self_attn.o_proj.weight'), d, d);
      return Float64Array.from(xt, (val, i) => val + a[i]!);
    });
    x = x.map((xt) => {
      const h = rmsNorm(xt, p('post_attention_layernorm.weight'), c.eps);
      const gate = linear(h, p('mlp.gate_proj.weight'), d, c.ff);
      const up = linear(h, p('mlp.up_proj.weight'), d, c.ff);
      const act = gate.map((gv, i) => (gv / (1 + Math.exp(-gv))) * up[i]!);
      const m = linear(act, p('mlp.down_proj.weight'), c.ff, d);
      return Float64Array.from(xt, (val, i) => val + m[i]!);
    });
  }
  const out: number[] = [];
  const head = c.tied ? g('model.embed_tokens.weight') : g('lm_head.weight');
  for (let t = 0; t + 1 < tokens.length; t++) {
    const h = rmsNorm(x[t]!, g('model.norm.weight'), c.eps);
    out.push(logSoftmaxAt(linear(h, head, d, c.V), tokens[t + 1]!));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Folders
// ---------------------------------------------------------------------------------------------

const GPT2: Gpt2Cfg = { d: 32, L: 2, H: 4, V: 50257, eps: 1e-5 };
const GPT2_CTX = 64;

function writeGpt2Folder(dir: string): HfWeights {
  fs.mkdirSync(dir, { recursive: true });
  const { d, L, V } = GPT2;
  const specs: Array<[string, number[], number, number?]> = [
    ['transformer.wte.weight', [V, d], 0.2],
    ['transformer.wpe.weight', [GPT2_CTX, d], 0.1],
  ];
  for (let l = 0; l < L; l++) {
    const b = `transformer.h.${l}`;
    specs.push(
      [`${b}.ln_1.weight`, [d], 0.1, 1],
      [`${b}.ln_1.bias`, [d], 0.1],
      [`${b}.attn.c_attn.weight`, [d, 3 * d], 0.2],
      [`${b}.attn.c_attn.bias`, [3 * d], 0.1],
      [`${b}.attn.c_proj.weight`, [d, d], 0.2],
      [`${b}.attn.c_proj.bias`, [d], 0.1],
      [`${b}.ln_2.weight`, [d], 0.1, 1],
      [`${b}.ln_2.bias`, [d], 0.1],
      [`${b}.mlp.c_fc.weight`, [d, 4 * d], 0.2],
      [`${b}.mlp.c_fc.bias`, [4 * d], 0.1],
      [`${b}.mlp.c_proj.weight`, [4 * d, d], 0.1],
      [`${b}.mlp.c_proj.bias`, [d], 0.1],
    );
  }
  specs.push(['transformer.ln_f.weight', [d], 0.1, 1], ['transformer.ln_f.bias', [d], 0.1]);
  const w = randWeights(new Rng(7), specs);
  // an old checkpoint's causal-mask buffer, which the converter must drop
  const mask = new Float32Array(GPT2_CTX * GPT2_CTX);
  for (let i = 0; i < GPT2_CTX; i++) for (let j = 0; j <= i; j++) mask[i * GPT2_CTX + j] = 1;
  writeSafetensors(
    path.join(dir, 'model.safetensors'),
    [...toSafetensors(w, [...w.keys()]), { name: 'transformer.h.0.attn.bias', dtype: 'F32', shape: [1, 1, GPT2_CTX, GPT2_CTX], data: mask }],
    { format: 'pt' },
  );
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      activation_function: 'gelu_new',
      bos_token_id: 50256,
      eos_token_id: 50256,
      layer_norm_epsilon: GPT2.eps,
      n_ctx: GPT2_CTX,
      n_positions: GPT2_CTX,
      n_embd: d,
      n_head: GPT2.H,
      n_layer: L,
      n_inner: null,
      vocab_size: V,
    }),
  );
  const tok = JSON.parse(fs.readFileSync(GPT2_TOKENIZER, 'utf8'));
  tok.truncation = null;
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tok));
  return w;
}

const LLAMA: LlamaCfg = { d: 32, L: 2, H: 4, Hkv: 2, ff: 64, V: 512, eps: 1e-5, theta: 10000, tied: false };

/**
 * A SentencePiece BPE vocabulary as Hugging Face's LlamaConverter writes it to tokenizer.json:
 * byte-fallback BPE, merges from SentencePieceExtractor (every split of a piece into two pieces,
 * ordered by the merged piece's score, then by the ids of the parts), Prepend/Replace normalizer.
 */
function spmTokenizerJson(tokens: string[], scores: Float32Array, types: Int32Array): object {
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => (vocab[t] = i));
  const merges: Array<[string, string, number]> = [];
  tokens.forEach((piece, id) => {
    const chars = Array.from(piece);
    const local: Array<[string, string, number]> = [];
    for (let i = 1; i < chars.length; i++) {
      const l = chars.slice(0, i).join('');
      const r = chars.slice(i).join('');
      if (l in vocab && r in vocab) local.push([l, r, scores[id]!]);
    }
    local.sort((a, b) => vocab[a[0]]! - vocab[b[0]]! || vocab[a[1]]! - vocab[b[1]]!);
    merges.push(...local);
  });
  merges.sort((a, b) => b[2] - a[2]);
  const special = (id: number) => ({ id, content: tokens[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: tokens.map((_, i) => i).filter((i) => types[i] === 2 || types[i] === 3).map(special),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '\u2581' },
        { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: merges.map(([l, r]) => [l, r]),
    },
  };
}

function llamaConfigJson(c: LlamaCfg): object {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_act: 'silu',
    hidden_size: c.d,
    intermediate_size: c.ff,
    num_hidden_layers: c.L,
    num_attention_heads: c.H,
    num_key_value_heads: c.Hkv,
    max_position_embeddings: 128,
    rms_norm_eps: c.eps,
    rope_theta: c.theta,
    rope_scaling: null,
    attention_bias: false,
    tie_word_embeddings: c.tied,
    vocab_size: c.V,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  };
}

/** Sharded LLaMA weights: shard 1 (embedding, block 0) in F32; shard 2 (block 1 in BF16, norm and lm_head in F16). */
function writeLlamaFolder(dir: string, c: LlamaCfg, seed: number): HfWeights {
  fs.mkdirSync(dir, { recursive: true });
  const { d, ff, V } = c;
  const kvd = (d / c.H) * c.Hkv;
  const specs: Array<[string, number[], number, number?, ('F32' | 'F16' | 'BF16')?]> = [['model.embed_tokens.weight', [V, d], 0.3]];
  for (let l = 0; l < c.L; l++) {
    const b = `model.layers.${l}`;
    const ty = l === 0 ? 'F32' : 'BF16';
    specs.push(
      [`${b}.input_layernorm.weight`, [d], 0.1, 1, ty],
      [`${b}.self_attn.q_proj.weight`, [d, d], 0.3, 0, ty],
      [`${b}.self_attn.k_proj.weight`, [kvd, d], 0.3, 0, ty],
      [`${b}.self_attn.v_proj.weight`, [kvd, d], 0.3, 0, ty],
      [`${b}.self_attn.o_proj.weight`, [d, d], 0.3, 0, ty],
      [`${b}.post_attention_layernorm.weight`, [d], 0.1, 1, ty],
      [`${b}.mlp.gate_proj.weight`, [ff, d], 0.3, 0, ty],
      [`${b}.mlp.up_proj.weight`, [ff, d], 0.3, 0, ty],
      [`${b}.mlp.down_proj.weight`, [d, ff], 0.3, 0, ty],
    );
  }
  specs.push(['model.norm.weight', [d], 0.1, 1, 'F16']);
  if (!c.tied) specs.push(['lm_head.weight', [V, d], 0.3, 0, 'F16']);
  const w = randWeights(new Rng(seed), specs);
  const names = [...w.keys()];
  const shard1 = names.filter((n) => n.startsWith('model.embed_tokens') || n.startsWith('model.layers.0.'));
  const shard2 = names.filter((n) => !shard1.includes(n));
  const f1 = 'model-00001-of-00002.safetensors';
  const f2 = 'model-00002-of-00002.safetensors';
  writeSafetensors(path.join(dir, f1), toSafetensors(w, shard1), { format: 'pt' });
  writeSafetensors(path.join(dir, f2), toSafetensors(w, shard2), { format: 'pt' });
  const weightMap: Record<string, string> = {};
  for (const n of shard1) weightMap[n] = f1;
  for (const n of shard2) weightMap[n] = f2;
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(llamaConfigJson(c)));
  return w;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function oursLogprobs(file: string, tokens: number[]): number[] {
  return sequenceLogprobs(CausalLM.load(file), tokens);
}

const hfTokCache = new Map<string, ReturnType<typeof tokenizerFromHfJson>>();
/** The Hugging Face tokenizer of a folder, built once. */
function hfTokenizer(dir: string): ReturnType<typeof tokenizerFromHfJson> {
  let p = hfTokCache.get(dir);
  if (!p) hfTokCache.set(dir, (p = tokenizerFromHfJson(dir)));
  return p;
}

const scorers = new Map<string, Promise<LlamaCppScorer>>();
/** A llama.cpp scorer for a GGUF, opened once per file and disposed after all tests. */
function scorerFor(file: string): Promise<LlamaCppScorer> {
  let p = scorers.get(file);
  if (!p) scorers.set(file, (p = LlamaCppScorer.open(file, { threads: 1 })));
  return p;
}
after(async () => {
  for (const p of scorers.values()) await (await p).dispose();
});

// ---------------------------------------------------------------------------------------------
// GPT-2
// ---------------------------------------------------------------------------------------------

const GPT2_TEXTS = [
  'The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times.',
  "I've been 'told he's there, 'RE you sure? 3.14159 and 1234567 apples!\n\n  indented  text\ttab",
  'Ünïcödé — “quotes” 你好 🦙 <|endoftext|> end',
];

let gpt2Dir = '';
let gpt2Weights: HfWeights | null = null;
let gpt2Gguf = '';

before(async () => {
  if (!fs.existsSync(GPT2_TOKENIZER)) return;
  gpt2Dir = path.join(tmp, 'tiny-gpt2');
  gpt2Weights = writeGpt2Folder(gpt2Dir);
  gpt2Gguf = path.join(tmp, 'tiny-gpt2.gguf');
  await convertHfToGguf(gpt2Dir, gpt2Gguf);
});

test('GPT-2 conversion: names, Conv1D transposes, tied output, metadata and tokenizer keys', (t) => {
  if (!gpt2Weights) return skipLoudly(t, `fixture ${GPT2_TOKENIZER} is missing`);
  const f = readGguf(gpt2Gguf);
  const names = f.tensors.map((x) => x.name);
  assert.ok(!names.includes('output.weight'), 'tied GPT-2 must not get output.weight');
  assert.ok(!names.some((n) => n.includes('attn.bias') && !n.includes('attn_')), 'the causal-mask buffer must be dropped');
  assert.equal(names.length, 2 + 12 * GPT2.L + 2);
  const qkv = f.tensors.find((x) => x.name === 'blk.0.attn_qkv.weight')!;
  assert.deepEqual(qkv.ne, [GPT2.d, 3 * GPT2.d]);
  const up = f.tensors.find((x) => x.name === 'blk.1.ffn_up.weight')!;
  assert.deepEqual(up.ne, [GPT2.d, 4 * GPT2.d]);
  assert.equal(getMeta(f, 'general.architecture'), 'gpt2');
  assert.equal(getMeta(f, 'gpt2.context_length'), GPT2_CTX);
  assert.equal(getMeta(f, 'gpt2.embedding_length'), GPT2.d);
  assert.equal(getMeta(f, 'gpt2.feed_forward_length'), 4 * GPT2.d);
  assert.equal(getMeta(f, 'gpt2.block_count'), GPT2.L);
  assert.equal(getMeta(f, 'gpt2.attention.head_count'), GPT2.H);
  assert.ok(Math.abs(getMeta<number>(f, 'gpt2.attention.layer_norm_epsilon')! - 1e-5) < 1e-12);
  assert.equal(getMeta(f, 'general.file_type'), 0);
  assert.equal(getMeta(f, 'tokenizer.ggml.model'), 'gpt2');
  assert.equal(getMeta(f, 'tokenizer.ggml.pre'), 'gpt-2');
  assert.equal(getMeta(f, 'tokenizer.ggml.bos_token_id'), 50256);
  assert.equal(getMeta(f, 'tokenizer.ggml.eos_token_id'), 50256);
  // the converted vocabulary is llama.cpp's own GPT-2 test vocabulary (same tokens, merges, types)
  const ref = readGgufVocab(readGguf(llamaCppSourceFile('models/ggml-vocab-gpt-2.gguf')));
  const got = readGgufVocab(f);
  assert.deepEqual(got.tokens, ref.tokens);
  assert.deepEqual(got.merges, ref.merges);
  assert.deepEqual([...got.types], [...ref.types]);
  // Conv1D: the GGUF's attn_qkv row o (ne[1] index) is HF column o of c_attn.weight [in, out]
  const hf = gpt2Weights.get('transformer.h.0.attn.c_attn.weight')!.data;
  const raw = readTensor(f, 'blk.0.attn_qkv.weight');
  for (const [i, o] of [[0, 0], [3, 17], [31, 95], [5, 64]] as const) assert.equal(raw[o * GPT2.d + i], hf[i * 3 * GPT2.d + o]);
});

function readTensor(f: ReturnType<typeof readGguf>, name: string): Float32Array {
  const t = f.tensors.find((x) => x.name === name)!;
  const b = fs.readFileSync(f.path).subarray(t.offset, t.offset + t.nbytes);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

test('GPT-2: converted model = Hugging Face reference forward = llama.cpp = our engine (1e-3)', async (t) => {
  if (!gpt2Weights) return skipLoudly(t, `fixture ${GPT2_TOKENIZER} is missing`);
  const hfTok = await hfTokenizer(gpt2Dir);
  const tokens = hfTok.encode(GPT2_TEXTS[0]!);
  assert.ok(tokens.length >= 20 && tokens.length <= GPT2_CTX);
  const ref = gpt2Reference(gpt2Weights, GPT2, tokens, { ggml: true });
  const hf = gpt2Reference(gpt2Weights, GPT2, tokens);
  const lc = (await (await scorerFor(gpt2Gguf)).logprobs(tokens)).logprobs;
  const ours = oursLogprobs(gpt2Gguf, tokens);
  const dRef = maxAbsDiff(lc, ref);
  const dHf = maxAbsDiff(lc, hf);
  const dOurs = maxAbsDiff(ours, lc);
  const dOursRef = maxAbsDiff(ours, ref);
  console.log(
    `tiny GPT-2 (converted): ${tokens.length - 1} tokens; max |llama.cpp - HF reference| ${dRef.toExponential(3)} ` +
      `(${dHf.toExponential(3)} against the float64 HF model, without llama.cpp's F16 KV cache and F16 GELU table), ` +
      `|ours - llama.cpp| ${dOurs.toExponential(3)}, |ours - HF reference| ${dOursRef.toExponential(3)}`,
  );
  assert.ok(dRef < 1e-3, `llama.cpp vs HF reference: ${dRef}`);
  assert.ok(dOurs < 1e-3, `ours vs llama.cpp: ${dOurs}`);
  assert.ok(dOursRef < 1e-3, `ours vs HF reference: ${dOursRef}`);
  assert.ok(dHf < 1e-2, `llama.cpp vs float64 HF model: ${dHf}`);
  // the reference is sensitive to the transpose: reading c_attn as if it were [out, in] changes it a lot
  const swapped: HfWeights = new Map(gpt2Weights);
  for (let l = 0; l < GPT2.L; l++) {
    const k = `transformer.h.${l}.attn.c_proj.weight`;
    const m = gpt2Weights.get(k)!;
    const tr = new Float32Array(m.data.length);
    for (let i = 0; i < GPT2.d; i++) for (let o = 0; o < GPT2.d; o++) tr[o * GPT2.d + i] = m.data[i * GPT2.d + o]!;
    swapped.set(k, { ...m, data: tr });
  }
  const wrong = maxAbsDiff(gpt2Reference(swapped, GPT2, tokens, { ggml: true }), lc);
  console.log(`  untransposed c_proj: ${wrong.toExponential(3)}`);
  assert.ok(wrong > 0.1, `an untransposed c_proj should change the log-probs (diff ${wrong})`);
});

test('GPT-2 tokenizer parity: llama.cpp on the converted GGUF = Hugging Face tokenizer.json', async (t) => {
  if (!gpt2Weights) return skipLoudly(t, `fixture ${GPT2_TOKENIZER} is missing`);
  const hfTok = await hfTokenizer(gpt2Dir);
  const scorer = await scorerFor(gpt2Gguf);
  for (const text of GPT2_TEXTS) {
    const want = hfTok.encode(text);
    // HF always matches added tokens in text; llama.cpp does with parseSpecial
    assert.deepEqual(scorer.tokenize(text, true), want, JSON.stringify(text));
  }
});

test('GPT-2 --outtype f16: F16 matrices, F32 norms/biases/positions; llama.cpp = our engine (1e-13)', async (t) => {
  if (!gpt2Weights) return skipLoudly(t, `fixture ${GPT2_TOKENIZER} is missing`);
  const out = path.join(tmp, 'tiny-gpt2-f16.gguf');
  const r = await convertHfToGguf(gpt2Dir, out, { outtype: 'f16' });
  const type = (n: string) => r.tensors.find((x) => x.name === n)!.type;
  assert.equal(type('blk.0.attn_qkv.weight'), 'F16');
  assert.equal(type('token_embd.weight'), 'F16');
  assert.equal(type('position_embd.weight'), 'F32');
  assert.equal(type('blk.0.attn_qkv.bias'), 'F32');
  assert.equal(type('blk.1.ffn_norm.weight'), 'F32');
  assert.equal(getMeta(readGguf(out), 'general.file_type'), 1);
  const tokens = (await hfTokenizer(gpt2Dir)).encode(GPT2_TEXTS[0]!);
  const scorer = await LlamaCppScorer.open(out, { threads: 1 });
  let lc: Float64Array;
  try {
    lc = (await scorer.logprobs(tokens)).logprobs;
  } finally {
    await scorer.dispose();
  }
  const d = maxAbsDiff(oursLogprobs(out, tokens), lc);
  const drift = maxAbsDiff(lc, gpt2Reference(gpt2Weights, GPT2, tokens, { ggml: true }));
  console.log(`tiny GPT-2 F16: |ours - llama.cpp| ${d.toExponential(3)}; F16 rounding moves log-probs by up to ${drift.toExponential(3)} from the F32 reference`);
  // F16 matrices in the buffer type llama.cpp gives them (AMX here): the same kernels, so log-softmax rounding only
  assert.ok(d < 1e-13, `ours vs llama.cpp: ${d}`);
  assert.ok(drift > 0 && drift < 0.05, `F16 drift ${drift}`);
});

// ---------------------------------------------------------------------------------------------
// LLaMA
// ---------------------------------------------------------------------------------------------

const LLAMA_TEXTS = [
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.',
  'Tom and Sue went to the big park.\nThey saw a dog, a cat and 3 birds!',
  'Zoë ate crème brûlée 🙂 at the café',
];

let llamaDir = '';
let llamaWeights: HfWeights | null = null;
let llamaGguf = '';

before(async () => {
  if (!fs.existsSync(STORIES)) return;
  const v = readGgufVocab(readGguf(STORIES));
  llamaDir = path.join(tmp, 'tiny-llama');
  llamaWeights = writeLlamaFolder(llamaDir, LLAMA, 11);
  fs.writeFileSync(path.join(llamaDir, 'tokenizer.json'), JSON.stringify(spmTokenizerJson(v.tokens, v.scores, v.types)));
  fs.writeFileSync(
    path.join(llamaDir, 'tokenizer_config.json'),
    JSON.stringify({ add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', legacy: true }),
  );
  llamaGguf = path.join(tmp, 'tiny-llama.gguf');
  await convertHfToGguf(llamaDir, llamaGguf);
});

test('LLaMA conversion: sharded F32/BF16/F16 safetensors, Q/K permutation, separate output, metadata', (t) => {
  if (!llamaWeights) return skipLoudly(t, `fixture ${STORIES} is missing`);
  const f = readGguf(llamaGguf);
  assert.ok(f.tensors.some((x) => x.name === 'output.weight'));
  assert.equal(f.tensors.length, 1 + 9 * LLAMA.L + 2);
  assert.equal(getMeta(f, 'llama.attention.head_count'), 4);
  assert.equal(getMeta(f, 'llama.attention.head_count_kv'), 2);
  assert.equal(getMeta(f, 'llama.rope.dimension_count'), 8);
  assert.equal(getMeta(f, 'llama.rope.freq_base'), 10000);
  assert.equal(getMeta(f, 'llama.feed_forward_length'), 64);
  assert.equal(getMeta(f, 'llama.context_length'), 128);
  assert.equal(getMeta(f, 'llama.vocab_size'), 512);
  assert.ok(Math.abs(getMeta<number>(f, 'llama.attention.layer_norm_rms_epsilon')! - 1e-5) < 1e-12);
  assert.equal(getMeta(f, 'tokenizer.ggml.model'), 'llama');
  assert.equal(getMeta(f, 'tokenizer.ggml.pre'), 'default');
  assert.equal(getMeta(f, 'tokenizer.ggml.bos_token_id'), 1);
  assert.equal(getMeta(f, 'tokenizer.ggml.eos_token_id'), 2);
  assert.equal(getMeta(f, 'tokenizer.ggml.add_bos_token'), true);
  // K of block 1 (BF16 in the shard): GGUF row h*hd + 2i + j = HF row h*hd + j*hd/2 + i
  const hf = llamaWeights.get('model.layers.1.self_attn.k_proj.weight')!.data;
  const g = readTensor(f, 'blk.1.attn_k.weight');
  const hd = 8;
  const d = LLAMA.d;
  for (const [h, i, j, c] of [[0, 0, 1, 0], [1, 3, 0, 31], [1, 2, 1, 7]] as const) {
    assert.equal(g[(h * hd + 2 * i + j) * d + c], hf[(h * hd + j * (hd / 2) + i) * d + c]);
  }
  // lm_head stored as F16 in the shard decodes exactly
  assert.deepEqual(readTensor(f, 'output.weight'), llamaWeights.get('lm_head.weight')!.data);
});

test('LLaMA: llama.cpp on the converted GGUF = Hugging Face rotate_half reference = our engine (1e-3)', async (t) => {
  if (!llamaWeights) return skipLoudly(t, `fixture ${STORIES} is missing`);
  const hfTok = await hfTokenizer(llamaDir);
  const tokens = hfTok.encode(LLAMA_TEXTS[0]!, { addBos: true });
  assert.equal(tokens[0], 1);
  assert.ok(tokens.length >= 20);
  const ref = llamaReference(llamaWeights, LLAMA, tokens, { ggml: true });
  const hf = llamaReference(llamaWeights, LLAMA, tokens);
  const lc = (await (await scorerFor(llamaGguf)).logprobs(tokens)).logprobs;
  const ours = oursLogprobs(llamaGguf, tokens);
  const dRef = maxAbsDiff(lc, ref);
  const dHf = maxAbsDiff(lc, hf);
  const dOurs = maxAbsDiff(ours, lc);
  console.log(
    `tiny LLaMA (converted, GQA 4/2): ${tokens.length - 1} tokens; max |llama.cpp - HF reference| ${dRef.toExponential(3)} ` +
      `(${dHf.toExponential(3)} against the float64 HF model, without llama.cpp's F16 KV cache), |ours - llama.cpp| ${dOurs.toExponential(3)}`,
  );
  assert.ok(dRef < 1e-3, `llama.cpp vs HF reference: ${dRef}`);
  assert.ok(dOurs < 1e-3, `ours vs llama.cpp: ${dOurs}`);
  assert.ok(dHf < 2e-2, `llama.cpp vs float64 HF model: ${dHf}`);
  // without the Q/K permutation the rotary pairs are wrong: the reference with NORMAL-style rotary
  // on unpermuted weights must disagree, so the check above really tests the permutation
  const unpermuted = path.join(tmp, 'tiny-llama-nopermute.gguf');
  const f = readGguf(llamaGguf);
  const { ggufToWriteSpec, writeGguf } = await import('../../src/model/gguf.ts');
  const spec = ggufToWriteSpec(f);
  for (const tt of spec.tensors) {
    const m = /^blk\.(\d+)\.attn_(q|k)\.weight$/.exec(tt.name);
    if (m) tt.data = llamaWeights.get(`model.layers.${m[1]}.self_attn.${m[2]}_proj.weight`)!.data;
  }
  writeGguf(unpermuted, spec);
  const wrong = maxAbsDiff(oursLogprobs(unpermuted, tokens), ref);
  console.log(`  without the Q/K permutation: ${wrong.toExponential(3)}`);
  assert.ok(wrong > 0.1, `unpermuted Q/K should change the log-probs (diff ${wrong})`);
});

test('LLaMA tokenizer parity: llama.cpp on the converted GGUF = Hugging Face tokenizer.json = stories260K', async (t) => {
  if (!llamaWeights) return skipLoudly(t, `fixture ${STORIES} is missing`);
  const hfTok = await hfTokenizer(llamaDir);
  const conv = await scorerFor(llamaGguf);
  const orig = await scorerFor(STORIES);
  for (const text of LLAMA_TEXTS) {
    const want = hfTok.encode(text);
    assert.deepEqual(conv.tokenize(text), want, `converted vs HF: ${JSON.stringify(text)}`);
    assert.deepEqual(orig.tokenize(text), want, `stories260K vs HF: ${JSON.stringify(text)}`);
  }
});

test('LLaMA with tokenizer.model (SentencePiece): vocabulary equals stories260K exactly', async (t) => {
  if (!llamaWeights) return skipLoudly(t, `fixture ${STORIES} is missing`);
  const stories = readGgufVocab(readGguf(STORIES));
  const dir = path.join(tmp, 'tiny-llama-spm');
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(llamaDir)) if (f.endsWith('.safetensors') || f.endsWith('index.json') || f === 'config.json') fs.copyFileSync(path.join(llamaDir, f), path.join(dir, f));
  writeSentencePieceModel(
    path.join(dir, 'tokenizer.model'),
    stories.tokens.map((piece, i) => ({ piece, score: stories.scores[i]!, type: stories.types[i]! })),
  );
  const out = path.join(tmp, 'tiny-llama-spm.gguf');
  const r = await convertHfToGguf(dir, out, { outtype: 'f16' });
  assert.equal(r.tokenizer.source, 'tokenizer.model (SentencePiece)');
  const got = readGgufVocab(readGguf(out));
  assert.deepEqual(got.tokens, stories.tokens);
  assert.deepEqual([...got.scores], [...stories.scores]);
  assert.deepEqual([...got.types], [...stories.types]);
  assert.equal(r.tensors.find((x) => x.name === 'blk.0.attn_q.weight')!.type, 'F16');
  const scorer = await LlamaCppScorer.open(out, { threads: 1 });
  try {
    const tokens = [1, ...scorer.tokenize(LLAMA_TEXTS[1]!)];
    const d = maxAbsDiff(oursLogprobs(out, tokens), (await scorer.logprobs(tokens)).logprobs);
    console.log(`tiny LLaMA F16 via tokenizer.model: |ours - llama.cpp| ${d.toExponential(3)}`);
    assert.ok(d < 1e-13, `ours vs llama.cpp: ${d}`);
  } finally {
    await scorer.dispose();
  }
});

test('LLaMA with tied embeddings and one model.safetensors: no output.weight, reference matches', async (t) => {
  if (!llamaWeights) return skipLoudly(t, `fixture ${STORIES} is missing`);
  const c: LlamaCfg = { ...LLAMA, tied: true, L: 1 };
  const dir = path.join(tmp, 'tiny-llama-tied');
  const w = writeLlamaFolder(dir, c, 23);
  // merge the shards into one model.safetensors, with a stale lm_head that tying must ignore
  for (const f of fs.readdirSync(dir)) if (f.startsWith('model-') || f.endsWith('index.json')) fs.rmSync(path.join(dir, f));
  const stale = { name: 'lm_head.weight', dtype: 'F32' as const, shape: [c.V, c.d], data: new Float32Array(c.V * c.d).fill(0.5) };
  writeSafetensors(path.join(dir, 'model.safetensors'), [...toSafetensors(w, [...w.keys()]), stale]);
  fs.copyFileSync(path.join(llamaDir, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
  const out = path.join(tmp, 'tiny-llama-tied.gguf');
  const r = await convertHfToGguf(dir, out);
  assert.ok(r.tiedOutput);
  assert.ok(r.dropped.some((x) => x.hfName === 'lm_head.weight'));
  assert.ok(!readGguf(out).tensors.some((x) => x.name === 'output.weight'));
  const tokens = (await hfTokenizer(dir)).encode(LLAMA_TEXTS[1]!, { addBos: true });
  const d = maxAbsDiff(oursLogprobs(out, tokens), llamaReference(w, c, tokens, { ggml: true }));
  console.log(`tiny LLaMA tied: |ours - HF reference| ${d.toExponential(3)}`);
  assert.ok(d < 1e-3, `ours vs HF reference (tied): ${d}`);
});

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

async function rejects(p: Promise<unknown> | (() => unknown), re: RegExp): Promise<void> {
  await assert.rejects(
    async () => (typeof p === 'function' ? p() : p),
    (e: unknown) => {
      assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
      assert.match((e as Error).message, re);
      return true;
    },
  );
}

test('safetensors: round trip of F32/F16/BF16, and clear errors for corrupt or truncated files', async () => {
  const file = path.join(tmp, 'rt.safetensors');
  const a = Float32Array.from([1.5, -2.25, 3.0e-5, 65504, 0]);
  writeSafetensors(file, [
    { name: 'a', dtype: 'F32', shape: [5], data: a },
    { name: 'b', dtype: 'F16', shape: [1, 5], data: a },
    { name: 'c', dtype: 'BF16', shape: [5, 1], data: Float32Array.from([1.5, -2.25, 0.5, 256, 0]) },
  ]);
  const st = readSafetensors(file);
  assert.deepEqual([...st.tensors.keys()], ['a', 'b', 'c']);
  assert.deepEqual(readSafetensorsF32(st, 'a').data, a);
  assert.deepEqual([...readSafetensorsF32(st, 'b').data].slice(0, 2), [1.5, -2.25]);
  assert.equal(readSafetensorsF32(st, 'b').data[3], 65504);
  assert.deepEqual([...readSafetensorsF32(st, 'c').data], [1.5, -2.25, 0.5, 256, 0]);
  const good = fs.readFileSync(file);
  const headerLen = Number(good.readBigUInt64LE(0));
  const variant = (name: string, bytes: Uint8Array) => {
    const p = path.join(tmp, name);
    fs.writeFileSync(p, bytes);
    return p;
  };
  const withHeader = (h: object, data = Buffer.alloc(0)) => {
    const json = Buffer.from(JSON.stringify(h));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([len, json, data]);
  };
  await rejects(() => readSafetensors(variant('short.safetensors', good.subarray(0, 5))), /shorter than the 8-byte header length/);
  await rejects(() => readSafetensors(variant('trunc.safetensors', good.subarray(0, good.length - 3))), /truncated safetensors file: tensor 'c'/);
  await rejects(() => readSafetensors(variant('trunc-header.safetensors', good.subarray(0, 8 + headerLen - 10))), /truncated or corrupt safetensors file: the header claims/);
  const huge = Buffer.from(good);
  huge.writeBigUInt64LE(1n << 40n, 0);
  await rejects(() => readSafetensors(variant('huge.safetensors', huge)), /larger than the 100 MB limit/);
  await rejects(() => readSafetensors(variant('json.safetensors', Buffer.concat([good.subarray(0, 8), Buffer.from('{"a": ['.padEnd(headerLen)), good.subarray(8 + headerLen)]))), /header is not valid JSON/);
  await rejects(() => readSafetensors(variant('dtype.safetensors', withHeader({ x: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, Buffer.alloc(1)))), /tensor 'x': unknown dtype "Q4"/);
  await rejects(() => readSafetensors(variant('size.safetensors', withHeader({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, Buffer.alloc(12)))), /F32 \[3\] takes 12 bytes but data_offsets span 8/);
  await rejects(
    () => readSafetensors(variant('overlap.safetensors', withHeader({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, Buffer.alloc(12)))),
    /tensors 'x' and 'y' overlap/,
  );
  await rejects(() => readSafetensors(path.join(tmp, 'nope.safetensors')), /safetensors file not found/);
});

test('conversion errors: missing files, unsupported architecture, corrupt weights, missing tensors', async (t) => {
  if (!gpt2Weights) return skipLoudly(t, `fixture ${GPT2_TOKENIZER} is missing`);
  const out = path.join(tmp, 'err.gguf');
  const copy = (name: string, skip: (f: string) => boolean = () => false) => {
    const d = path.join(tmp, name);
    fs.mkdirSync(d);
    for (const f of fs.readdirSync(gpt2Dir)) if (!skip(f)) fs.copyFileSync(path.join(gpt2Dir, f), path.join(d, f));
    return d;
  };
  await rejects(convertHfToGguf(path.join(tmp, 'does-not-exist'), out), /Hugging Face model folder not found/);
  await rejects(convertHfToGguf(copy('no-config', (f) => f === 'config.json'), out), /no config\.json/);
  const noWeights = copy('no-weights', (f) => f.endsWith('.safetensors'));
  fs.writeFileSync(path.join(noWeights, 'pytorch_model.bin'), 'x');
  await rejects(convertHfToGguf(noWeights, out), /no model weights found.*pytorch_model\.bin \(PyTorch pickle\) is not supported/);
  await rejects(convertHfToGguf(copy('no-tokenizer', (f) => f === 'tokenizer.json'), out), /no tokenizer\.json/);
  const bert = copy('bert');
  const cfg = JSON.parse(fs.readFileSync(path.join(bert, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(bert, 'config.json'), JSON.stringify({ ...cfg, architectures: ['BertForMaskedLM'] }));
  await rejects(convertHfToGguf(bert, out), /architecture 'BertForMaskedLM' is not supported \(supported: LlamaForCausalLM, LLaMAForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, GPT2LMHeadModel\)/);
  const corrupt = copy('corrupt');
  const st = path.join(corrupt, 'model.safetensors');
  fs.truncateSync(st, fs.statSync(st).size - 100);
  await rejects(convertHfToGguf(corrupt, out), /model\.safetensors: truncated safetensors file/);
  const fewer = copy('fewer-layers');
  fs.writeFileSync(path.join(fewer, 'config.json'), JSON.stringify({ ...cfg, n_layer: 3 }));
  await rejects(convertHfToGguf(fewer, out), /no tensor for blk\.2\.attn_norm\.weight/);
  const more = copy('more-layers');
  fs.writeFileSync(path.join(more, 'config.json'), JSON.stringify({ ...cfg, n_layer: 1 }));
  await rejects(convertHfToGguf(more, out), /cannot map tensor 'transformer\.h\.1\./);
  await rejects(convertHfToGguf(gpt2Dir, out, { outtype: 'q4' as 'f16' }), /unknown --outtype 'q4'/);
  assert.ok(!fs.existsSync(out), 'no output file is written on errors');
});

test('conversion errors: a shard listed in the index is missing; unsupported LLaMA features', async (t) => {
  if (!llamaWeights) return skipLoudly(t, `fixture ${STORIES} is missing`);
  const out = path.join(tmp, 'err2.gguf');
  const copy = (name: string, skip: (f: string) => boolean = () => false) => {
    const d = path.join(tmp, name);
    fs.mkdirSync(d);
    for (const f of fs.readdirSync(llamaDir)) if (!skip(f)) fs.copyFileSync(path.join(llamaDir, f), path.join(d, f));
    return d;
  };
  await rejects(convertHfToGguf(copy('missing-shard', (f) => f === 'model-00002-of-00002.safetensors'), out), /missing or incomplete model files: model-00002-of-00002\.safetensors/);
  const cfg = llamaConfigJson(LLAMA);
  const scaled = copy('rope-scaled');
  fs.writeFileSync(path.join(scaled, 'config.json'), JSON.stringify({ ...cfg, rope_scaling: { rope_type: 'yarn', factor: 2, original_max_position_embeddings: 64 } }));
  await rejects(convertHfToGguf(scaled, out), /rope scaling 'yarn' is not supported for llama/);
  const biased = copy('attn-bias');
  fs.writeFileSync(path.join(biased, 'config.json'), JSON.stringify({ ...cfg, attention_bias: true }));
  await rejects(convertHfToGguf(biased, out), /attention_bias \/ mlp_bias are not supported/);
  const wrongVocab = copy('wrong-vocab');
  fs.writeFileSync(path.join(wrongVocab, 'config.json'), JSON.stringify({ ...cfg, vocab_size: 600 }));
  await rejects(convertHfToGguf(wrongVocab, out), /vocab_size 600 but the token embedding has 512 rows/);
  assert.ok(!fs.existsSync(out));
});

// ---------------------------------------------------------------------------------------------
// bench eval (small run: the numbers are checked for consistency, not speed)
// ---------------------------------------------------------------------------------------------

test('benchEval: both engines score the same tokens with the same log-probs; ratio = ours / llama.cpp', async (t) => {
  if (!fs.existsSync(STORIES)) return skipLoudly(t, `fixture ${STORIES} is missing`);
  const { benchEval } = await import('../../src/bench/eval.ts');
  const r = await benchEval({ models: [STORIES, path.join(tmp, 'absent.gguf')], threads: 1, seqLen: 32, sequences: 3, batch: 2, reps: 1 });
  assert.equal(r.models.length, 1);
  assert.deepEqual(r.skipped.map((s) => s.reason), ['file not found']);
  const m = r.models[0]!;
  assert.equal(m.tokensScored, 3 * 31);
  assert.ok(m.maxAbsDiff < 1e-3, `engines disagree by ${m.maxAbsDiff}`);
  assert.ok(Math.abs(m.ratio - m.ours.tokensPerSec / m.llamaCpp.tokensPerSec) < 1e-12);
  assert.ok(Math.abs(m.ours.tokensPerSec * m.ours.seconds - m.tokensScored) < 1e-6);
  assert.ok(JSON.parse(JSON.stringify(r)).models[0].ratio > 0);
});
