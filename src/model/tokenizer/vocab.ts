/**
 * A GGUF vocabulary (tokenizer.ggml.*) as llama.cpp loads it (src/llama-vocab.cpp, `load`):
 * tokens, scores, token types, BPE merges, special ids, add_bos / add_space_prefix flags, and the
 * special-token partition that splits raw text around control / user-defined tokens
 * (`tokenizer_st_partition`).
 */
import { type GgufFile, getMeta, requireMeta } from '../gguf.ts';
import { UserError } from '../../util/errors.ts';
import { TokenType } from './types.ts';

export interface GgufVocab {
  model: string;
  pre: string;
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
  tokenToId: Map<string, number>;
  merges: string[];
  bos: number;
  eos: number;
  unk: number;
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  /** Control, user-defined and unknown tokens, longest text first (llama.cpp's cache_special_tokens). */
  specialTokens: number[];
}

function idOrNull(file: GgufFile, key: string, n: number, dflt: number): number {
  const v = getMeta<number>(file, key);
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || v < 0 || v >= n) return -1; // llama.cpp: out of range -> disabled
  return v;
}

export function readGgufVocab(file: GgufFile): GgufVocab {
  const model = requireMeta<string>(file, 'tokenizer.ggml.model');
  const tokensRaw = requireMeta<string[]>(file, 'tokenizer.ggml.tokens');
  if (!Array.isArray(tokensRaw) || file.metadata.typeOf('tokenizer.ggml.tokens') !== 'array<string>') {
    throw new UserError(`${file.path}: tokenizer.ggml.tokens must be an array of strings`);
  }
  const n = tokensRaw.length;
  // llama.cpp renames empty tokens so they cannot match text
  const tokens = tokensRaw.map((t, i) => (t.length === 0 ? `[EMPTY_${i}]` : t));
  const scores = new Float32Array(n);
  const sc = getMeta<number[]>(file, 'tokenizer.ggml.scores');
  if (sc !== undefined) {
    if (!Array.isArray(sc) || sc.length < n) throw new UserError(`${file.path}: tokenizer.ggml.scores has ${Array.isArray(sc) ? sc.length : 0} entries for ${n} tokens`);
    for (let i = 0; i < n; i++) scores[i] = sc[i]!;
  }
  const types = new Int32Array(n).fill(TokenType.NORMAL);
  const tt = getMeta<number[]>(file, 'tokenizer.ggml.token_type');
  if (tt !== undefined) {
    if (!Array.isArray(tt) || tt.length < n) throw new UserError(`${file.path}: tokenizer.ggml.token_type has ${Array.isArray(tt) ? tt.length : 0} entries for ${n} tokens`);
    for (let i = 0; i < n; i++) types[i] = tt[i]!;
  }
  const tokenToId = new Map<string, number>();
  tokens.forEach((t, i) => tokenToId.set(t, i)); // last one wins, as llama.cpp's token_to_id[word] = i
  const merges = (getMeta<string[]>(file, 'tokenizer.ggml.merges') ?? []) as string[];

  let bos = -1;
  let eos = -1;
  let unk = -1;
  let addBos = false;
  let addSpacePrefix = false;
  if (model === 'llama') {
    bos = 1;
    eos = 2;
    unk = 0;
    addBos = true;
    addSpacePrefix = true;
  } else if (model === 'gpt2') {
    bos = 11;
    eos = 11;
  }
  bos = idOrNull(file, 'tokenizer.ggml.bos_token_id', n, bos < n ? bos : -1);
  eos = idOrNull(file, 'tokenizer.ggml.eos_token_id', n, eos < n ? eos : -1);
  unk = idOrNull(file, 'tokenizer.ggml.unknown_token_id', n, unk < n ? unk : -1);
  const ab = getMeta<boolean>(file, 'tokenizer.ggml.add_bos_token');
  if (typeof ab === 'boolean') addBos = ab;
  const ae = getMeta<boolean>(file, 'tokenizer.ggml.add_eos_token');
  const asp = getMeta<boolean>(file, 'tokenizer.ggml.add_space_prefix');
  if (typeof asp === 'boolean') addSpacePrefix = asp;

  const specialTokens: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = types[i]!;
    if (t === TokenType.CONTROL || t === TokenType.USER_DEFINED || t === TokenType.UNKNOWN) specialTokens.push(i);
  }
  specialTokens.sort((a, b) => tokens[b]!.length - tokens[a]!.length || a - b);

  return {
    model,
    pre: getMeta<string>(file, 'tokenizer.ggml.pre') ?? 'default',
    tokens,
    scores,
    types,
    tokenToId,
    merges,
    bos,
    eos,
    unk,
    addBos,
    addEos: typeof ae === 'boolean' ? ae : false,
    addSpacePrefix,
    specialTokens,
  };
}

/** A piece of input: raw text still to tokenize, or an already-resolved special token. */
export type Fragment = { text: string } | { token: number };

/**
 * Split text around special tokens (llama.cpp `tokenizer_st_partition`): for each special token,
 * longest first, every occurrence in the remaining raw text becomes a token fragment. Control and
 * unknown tokens are only matched when `parseSpecial`; user-defined tokens always are.
 */
export function partitionSpecial(vocab: GgufVocab, text: string, parseSpecial: boolean): Fragment[] {
  let frags: Fragment[] = text.length ? [{ text }] : [];
  for (const id of vocab.specialTokens) {
    const type = vocab.types[id]!;
    if (!parseSpecial && (type === TokenType.CONTROL || type === TokenType.UNKNOWN)) continue;
    const st = vocab.tokens[id]!;
    if (!frags.some((f) => 'text' in f && f.text.includes(st))) continue;
    const next: Fragment[] = [];
    for (const f of frags) {
      if (!('text' in f)) {
        next.push(f);
        continue;
      }
      let pos = 0;
      for (;;) {
        const m = f.text.indexOf(st, pos);
        if (m < 0) break;
        if (m > pos) next.push({ text: f.text.slice(pos, m) });
        next.push({ token: id });
        pos = m + st.length;
      }
      if (pos < f.text.length) next.push({ text: f.text.slice(pos) });
    }
    frags = next;
  }
  return frags;
}

/** UTF-8 bytes -> string, invalid sequences replaced by U+FFFD (as any text display would). */
export const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });
export const utf8Encoder = new TextEncoder();
