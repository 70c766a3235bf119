/**
 * Tokenizer conversion: a Hugging Face tokenizer folder -> GGUF `tokenizer.ggml.*` metadata, the way
 * llama.cpp's convert_hf_to_gguf.py does it (conversion/base.py and gguf-py/gguf/vocab.py):
 *
 * - `gpt2` (byte-level BPE; GPT2LMHeadModel, Qwen2/Qwen3, and LLaMA-3 / SmolLM tokenizers): `_set_vocab_gpt2`. Tokens
 *   by id from the vocabulary plus added tokens (ids the tokenizer lacks become `[PAD<i>]`, UNUSED);
 *   added tokens are CONTROL when special or when they look special (`<|...|>`, ...), else
 *   USER_DEFINED; the rest NORMAL. Merges from tokenizer.json. `tokenizer.ggml.pre` is found by
 *   llama.cpp's fingerprint: sha256 of the token ids of a fixed test text (bpePre.ts); an unknown
 *   fingerprint is refused, as the Python converter refuses it.
 * - `llama` from a SentencePiece `tokenizer.model`: `_set_vocab_sentencepiece` (pieces, scores, types;
 *   added_tokens.json and tokenizer_config.json's added_tokens_decoder on top).
 * - `llama` from a tokenizer.json holding a SentencePiece model converted to byte-fallback BPE:
 *   `_set_vocab_llama_hf` (gguf-py LlamaHfVocab). Token types as there (`<0xXX>` BYTE, special ids
 *   CONTROL, else NORMAL). One deliberate difference: LlamaHfVocab writes the placeholder score
 *   -1000 for every token, which makes llama.cpp's SentencePiece tokenizer merge left to right
 *   instead of by BPE priority, so its tokens differ from the Hugging Face tokenizer's. Here a token
 *   a merge produces gets score -(rank of the first merge producing it), which is the order
 *   SentencePiece's own scores give (HF's converter ranks merges by the merged piece's score), so
 *   llama.cpp merges in the same order as the BPE model; tokens no merge produces get
 *   -1000 - (number of merges), below every merge.
 *
 * Special token ids and add-BOS/EOS flags come from SpecialVocab (specialVocab.ts).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../util/errors.ts';
import { TokenType } from '../tokenizer/types.ts';
import { BPE_PRE_HASHES, CHKTXT } from './bpePre.ts';
import { loadSpecialVocab, readJsonFile, specialVocabEntries, type MetaEntry } from './specialVocab.ts';
import { readSentencePieceModel } from './sentencepiece.ts';

type Json = Record<string, unknown>;

export interface VocabResult {
  entries: MetaEntry[];
  /** tokenizer.ggml.model */
  model: 'gpt2' | 'llama';
  /** tokenizer.ggml.pre */
  pre: string;
  nTokens: number;
  source: string;
  warnings: string[];
}

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
  normalized?: boolean;
}

function loadTokenizerJson(dir: string): { file: string; json: Json } {
  const file = path.join(dir, 'tokenizer.json');
  const json = readJsonFile(file);
  if (!json) throw new UserError(`${dir}: no tokenizer.json (the Hugging Face fast-tokenizer file is needed to convert the vocabulary)`);
  if (typeof json.model !== 'object' || json.model === null) throw new UserError(`${file}: no "model" section; is this a Hugging Face tokenizer.json?`);
  return { file, json };
}

function addedTokensOf(json: Json): AddedToken[] {
  const a = json.added_tokens;
  return Array.isArray(a) ? (a as AddedToken[]).filter((t) => Number.isInteger(t.id) && typeof t.content === 'string') : [];
}

/** The base vocabulary of tokenizer.json's model: token -> id. */
function modelVocab(json: Json, file: string): Map<string, number> {
  const model = json.model as Json;
  const v = model.vocab;
  const out = new Map<string, number>();
  if (Array.isArray(v)) {
    // Unigram: [[piece, score], ...] with ids by position
    v.forEach((e, i) => out.set((e as [string, number])[0], i));
  } else if (typeof v === 'object' && v !== null) {
    for (const [t, id] of Object.entries(v as Record<string, unknown>)) {
      if (!Number.isInteger(id) || (id as number) < 0) throw new UserError(`${file}: token ${JSON.stringify(t)} has invalid id ${String(id)}`);
      out.set(t, id as number);
    }
  } else throw new UserError(`${file}: model.vocab is missing`);
  return out;
}

/** llama.cpp's `does_token_look_special`. */
function doesTokenLookSpecial(t: string): boolean {
  return (
    t === '<pad>' ||
    t === '<mask>' ||
    t === '<2mass>' ||
    t === '[@BOS@]' ||
    (t.startsWith('<|') && t.endsWith('|>')) ||
    (t.startsWith('<｜') && t.endsWith('｜>')) ||
    (t.startsWith('<unused') && t.endsWith('>'))
  );
}

/** Hugging Face tokenizer for fingerprinting, built offline from the folder's JSON files. */
async function hfTokenizer(json: Json, tc: Json | null, file: string): Promise<{ encode(text: string): number[] }> {
  const { Tokenizer } = await import('@huggingface/tokenizers');
  try {
    const tok = new Tokenizer(json, tc ?? {});
    return { encode: (text: string) => tok.encode(text).ids };
  } catch (e) {
    throw new UserError(`${file}: cannot build a tokenizer from it (${(e as Error).message})`);
  }
}

/** llama.cpp's pre-tokenizer fingerprint: sha256 of Python's `str(tokenizer.encode(chktxt))`. */
function preTokenizerHash(ids: readonly number[]): string {
  return crypto.createHash('sha256').update(`[${ids.join(', ')}]`).digest('hex');
}

/** `_set_vocab_gpt2`: byte-level BPE tokenizer -> tokenizer.ggml.model "gpt2". */
export async function setVocabGpt2(dir: string, hparams: Json, parsed?: { file: string; json: Json }): Promise<VocabResult> {
  const { file, json } = parsed ?? loadTokenizerJson(dir);
  const tc = readJsonFile(path.join(dir, 'tokenizer_config.json'));
  const vocab = modelVocab(json, file);
  const added = addedTokensOf(json);
  for (const a of added) vocab.set(a.content, a.id);
  let maxId = -1;
  for (const id of vocab.values()) if (id > maxId) maxId = id;
  const vocabSize = typeof hparams.vocab_size === 'number' ? hparams.vocab_size : vocab.size;
  if (maxId >= vocabSize) throw new UserError(`${file}: token id ${maxId} is not below the model's vocab_size ${vocabSize} (config.json)`);

  const tok = await hfTokenizer(json, tc, file);
  const chkhsh = preTokenizerHash(tok.encode(CHKTXT));
  const hit = BPE_PRE_HASHES.find(([h]) => h === chkhsh);
  if (!hit) {
    throw new UserError(
      `${file}: the BPE pre-tokenizer was not recognized (fingerprint ${chkhsh}); llama.cpp's converter refuses it too. ` +
        `llama.cpp would not know how to split text for this tokenizer (see convert_hf_to_gguf_update.py)`,
    );
  }
  const pre = hit[1];

  const reverse = new Map<number, string>();
  for (const [t, id] of vocab) reverse.set(id, t);
  const addedById = new Map(added.map((a) => [a.id, a]));
  const tokens: string[] = [];
  const types: number[] = [];
  for (let i = 0; i < vocabSize; i++) {
    const t = reverse.get(i);
    if (t === undefined) {
      tokens.push(`[PAD${i}]`);
      types.push(TokenType.UNUSED);
      continue;
    }
    const a = addedById.get(i);
    if (a && a.content === t) {
      if (a.special || doesTokenLookSpecial(t)) {
        tokens.push(t);
        types.push(TokenType.CONTROL);
      } else {
        tokens.push(t.replace(/\u2581/g, ' '));
        types.push(TokenType.USER_DEFINED);
      }
    } else {
      tokens.push(t);
      types.push(TokenType.NORMAL);
    }
  }
  const sv = loadSpecialVocab(dir, { loadMerges: true, tokenizerJson: json });
  const entries: MetaEntry[] = [
    ['tokenizer.ggml.model', 'gpt2', 'string'],
    ['tokenizer.ggml.pre', pre, 'string'],
    ['tokenizer.ggml.tokens', tokens, 'array<string>'],
    ['tokenizer.ggml.token_type', types, 'array<int32>'],
    ...specialVocabEntries(sv),
  ];
  return { entries, model: 'gpt2', pre, nTokens: tokens.length, source: 'tokenizer.json (byte-level BPE)', warnings: sv.warnings };
}

/** `_set_vocab_sentencepiece`: tokenizer.model -> tokenizer.ggml.model "llama". */
function setVocabSentencepiece(dir: string, hparams: Json): VocabResult {
  const file = path.join(dir, 'tokenizer.model');
  const pieces = readSentencePieceModel(file);
  const vocabSize = typeof hparams.vocab_size === 'number' ? hparams.vocab_size : pieces.length;
  const warnings: string[] = [];
  const tokens: string[] = Array.from({ length: vocabSize }, (_, i) => `[PAD${i}]`);
  const scores: number[] = new Array(vocabSize).fill(-10000);
  const types: number[] = new Array(vocabSize).fill(TokenType.UNUSED);
  for (let i = 0; i < pieces.length; i++) {
    if (i >= vocabSize) {
      warnings.push(`ignore tokens from ${i}: id is out of range, max=${vocabSize - 1}`);
      break;
    }
    const p = pieces[i]!;
    tokens[i] = p.piece;
    scores[i] = p.score;
    types[i] = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.UNUSED, TokenType.BYTE].includes(p.type as 2) ? p.type : TokenType.NORMAL;
  }
  const addedFile = readJsonFile(path.join(dir, 'added_tokens.json'));
  for (const [key, id] of Object.entries(addedFile ?? {})) {
    if (typeof id !== 'number' || id >= vocabSize) {
      warnings.push(`ignore token ${String(id)}: id is out of range, max=${vocabSize - 1}`);
      continue;
    }
    tokens[id] = key;
    scores[id] = -1000;
    types[id] = TokenType.USER_DEFINED;
  }
  const tc = readJsonFile(path.join(dir, 'tokenizer_config.json'));
  const decoder = (tc?.added_tokens_decoder ?? {}) as Record<string, { content?: string; special?: boolean }>;
  for (const [k, data] of Object.entries(decoder)) {
    const id = Number(k);
    if (!Number.isInteger(id) || typeof data?.content !== 'string') continue;
    if (id >= vocabSize) {
      warnings.push(`ignore token ${id}: id is out of range, max=${vocabSize - 1}`);
      continue;
    }
    let t = data.content;
    if (types[id] !== TokenType.UNUSED && tokens[id] !== t) warnings.push(`replacing token ${id}: ${JSON.stringify(tokens[id])} -> ${JSON.stringify(t)}`);
    if (data.special || doesTokenLookSpecial(t)) types[id] = TokenType.CONTROL;
    else {
      t = t.replace(/\u2581/g, ' ');
      types[id] = TokenType.USER_DEFINED;
    }
    scores[id] = -1000;
    tokens[id] = t;
  }
  return spmVocabResult(dir, tokens, scores, types, warnings, 'tokenizer.model (SentencePiece)');
}

/**
 * The metadata of a SentencePiece-style ("llama") vocabulary: tokens, scores and token types, then
 * the special vocabulary (special_tokens_map.json, tokenizer_config.json, ...; its warnings join
 * `warnings`), as `_set_vocab_sentencepiece` and `_set_vocab_llama_hf` both write them.
 */
function spmVocabResult(dir: string, tokens: string[], scores: number[], types: number[], warnings: string[], source: string): VocabResult {
  const sv = loadSpecialVocab(dir, { nVocab: tokens.length });
  warnings.push(...sv.warnings);
  const entries: MetaEntry[] = [
    ['tokenizer.ggml.model', 'llama', 'string'],
    ['tokenizer.ggml.pre', 'default', 'string'],
    ['tokenizer.ggml.tokens', tokens, 'array<string>'],
    ['tokenizer.ggml.scores', scores, 'array<float32>'],
    ['tokenizer.ggml.token_type', types, 'array<int32>'],
    ...specialVocabEntries(sv),
  ];
  return { entries, model: 'llama', pre: 'default', nTokens: tokens.length, source, warnings };
}

/** Is tokenizer.json a SentencePiece model converted to byte-fallback BPE (LlamaHfVocab's test)? */
function isLlamaHfTokenizer(json: Json): 'llama-hf' | 'llama3' | 'other' {
  const m = json.model as Json;
  if (m.type === 'BPE' && m.ignore_merges === true && m.byte_fallback !== true) return 'llama3';
  const decoderType = (json.decoder as Json | null | undefined)?.type;
  if (m.type !== 'BPE' || m.byte_fallback !== true || decoderType !== 'Sequence') return 'other';
  return 'llama-hf';
}

function mergePairs(json: Json, file: string): Array<[string, string]> {
  const merges = (json.model as Json).merges;
  if (!Array.isArray(merges)) return [];
  return merges.map((m) => {
    if (typeof m === 'string') {
      const i = m.indexOf(' ');
      if (i <= 0) throw new UserError(`${file}: malformed merge ${JSON.stringify(m)}`);
      return [m.slice(0, i), m.slice(i + 1)] as [string, string];
    }
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return [m[0], m[1]] as [string, string];
    throw new UserError(`${file}: malformed merge ${JSON.stringify(m)}`);
  });
}

/** `_set_vocab_llama_hf` (LlamaHfVocab), with merge-rank scores (see the module comment). */
function setVocabLlamaHf(dir: string, hparams: Json): VocabResult {
  const { file, json } = loadTokenizerJson(dir);
  const tc = readJsonFile(path.join(dir, 'tokenizer_config.json'));
  const base = modelVocab(json, file);
  const baseSize = base.size;
  const reverse = new Map<number, string>();
  for (const [t, id] of base) reverse.set(id, t);
  for (let i = 0; i < baseSize; i++) {
    if (!reverse.has(i)) throw new UserError(`${file}: the vocabulary has no token with id ${i} (ids must run 0..${baseSize - 1})`);
  }
  const added = addedTokensOf(json).sort((a, b) => a.id - b.id);
  const extra = added.filter((a) => a.id >= baseSize);
  // special ids: added tokens marked special, and the tokens tokenizer_config.json names
  const specialIds = new Set(added.filter((a) => a.special).map((a) => a.id));
  for (const k of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
    const v = tc?.[k];
    const c = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as Json).content : undefined;
    if (typeof c !== 'string') continue;
    const id = base.get(c) ?? added.find((a) => a.content === c)?.id;
    if (id !== undefined) specialIds.add(id);
  }

  const pairs = mergePairs(json, file);
  const nMerges = pairs.length;
  const rankScore = new Map<number, number>();
  pairs.forEach(([a, b], rank) => {
    const id = base.get(a + b);
    if (id !== undefined && !rankScore.has(id)) rankScore.set(id, -rank);
  });
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  const typeOf = (id: number, text: string) => (/^<0x[0-9A-Fa-f]{2}>$/.test(text) ? TokenType.BYTE : specialIds.has(id) ? TokenType.CONTROL : TokenType.NORMAL);
  for (let i = 0; i < baseSize; i++) {
    const t = reverse.get(i)!;
    tokens.push(t);
    scores.push(rankScore.get(i) ?? -1000 - nMerges);
    types.push(typeOf(i, t));
  }
  for (const a of extra) {
    if (a.id !== tokens.length) throw new UserError(`${file}: added token ${JSON.stringify(a.content)} has id ${a.id}, expected ${tokens.length} (ids must be contiguous)`);
    tokens.push(a.content);
    scores.push(-1000);
    types.push(specialIds.has(a.id) ? TokenType.CONTROL : TokenType.USER_DEFINED);
  }
  const warnings: string[] = [];
  const vocabSize = typeof hparams.vocab_size === 'number' ? hparams.vocab_size : tokens.length;
  if (tokens.length > vocabSize) throw new UserError(`${file}: the tokenizer has ${tokens.length} tokens, more than the model's vocab_size ${vocabSize}`);
  if (tokens.length < vocabSize) {
    warnings.push(`padding the vocabulary from ${tokens.length} to vocab_size ${vocabSize} with [PAD<i>] tokens`);
    for (let i = 1; tokens.length < vocabSize; i++) {
      tokens.push(`[PAD${i}]`);
      scores.push(-1000);
      types.push(TokenType.UNUSED);
    }
  }
  return spmVocabResult(dir, tokens, scores, types, warnings, 'tokenizer.json (SentencePiece as byte-fallback BPE)');
}

/**
 * `LlamaModel.set_vocab`: tokenizer_config.json's add_prefix_space (written before the vocabulary),
 * then tokenizer.model if present, else a SentencePiece-style tokenizer.json, else (LLaMA 3, SmolLM)
 * a byte-level BPE tokenizer.json. Then the converter's rule for vocab_size 49152 (granite small
 * models, and so SmolLM/SmolLM2): add_bos_token = false, overwriting the key in place when present
 * (GGUFWriter keeps the first position of a re-added key).
 */
export async function setVocabLlama(dir: string, hparams: Json): Promise<VocabResult> {
  const pre: MetaEntry[] = [];
  const tc = readJsonFile(path.join(dir, 'tokenizer_config.json'));
  if (typeof tc?.add_prefix_space === 'boolean') pre.push(['tokenizer.ggml.add_space_prefix', tc.add_prefix_space, 'bool']);
  let r: VocabResult;
  if (fs.existsSync(path.join(dir, 'tokenizer.model'))) r = setVocabSentencepiece(dir, hparams);
  else {
    const parsed = loadTokenizerJson(dir);
    r = isLlamaHfTokenizer(parsed.json) === 'llama-hf' ? setVocabLlamaHf(dir, hparams) : await setVocabGpt2(dir, hparams, parsed);
  }
  r.entries.unshift(...pre);
  if ((typeof hparams.vocab_size === 'number' ? hparams.vocab_size : 32000) === 49152) {
    const at = r.entries.findIndex(([k]) => k === 'tokenizer.ggml.add_bos_token');
    if (at >= 0) r.entries[at] = ['tokenizer.ggml.add_bos_token', false, 'bool'];
    else r.entries.push(['tokenizer.ggml.add_bos_token', false, 'bool']);
  }
  return r;
}

/** `Qwen2Model.set_vocab` (Qwen2, Qwen3): tokenizer.model if present, else the byte-level BPE tokenizer.json. */
export async function setVocabQwen(dir: string, hparams: Json): Promise<VocabResult> {
  return fs.existsSync(path.join(dir, 'tokenizer.model')) ? setVocabSentencepiece(dir, hparams) : setVocabGpt2(dir, hparams);
}
