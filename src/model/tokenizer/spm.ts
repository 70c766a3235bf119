/**
 * SentencePiece-style tokenizer for GGUF vocabularies with tokenizer.ggml.model = "llama", a port
 * of llama.cpp's `llm_tokenizer_spm_session` (src/llama-vocab.cpp; originally
 * https://github.com/ggml-org/llama.cpp/commit/074bea2e):
 *
 *  1. a space is prepended to the first raw-text fragment (add_space_prefix) and every ' ' becomes
 *     U+2581 "▁";
 *  2. the text is split into UTF-8 characters; all adjacent pairs whose concatenation is a vocab
 *     token go into a max-queue keyed by that token's score (ties: leftmost first);
 *  3. the best pair is merged and new pairs with its neighbours are queued, until none is left;
 *  4. every final symbol is emitted as its token, or (byte fallback) as one <0xXX> token per byte.
 *
 * tokenizer.ggml.pre is not read for these vocabularies (llama.cpp ignores it too).
 */
import { type GgufVocab, TokenAttr, utf8Decoder, utf8Encoder } from './vocab.ts';
import { BigramHeap } from './heap.ts';
import type { DecodeOptions } from './types.ts';
import { UserError } from '../../util/errors.ts';
import { GgufTokenizer, concatBytes, linkSymbols, mergeBigrams } from './ggufTokenizer.ts';

export class SpmTokenizer extends GgufTokenizer {
  readonly kind = 'llama' as const;
  private readonly byteTokens = new Int32Array(256).fill(-1);
  private readonly queue = new BigramHeap();
  /** The longest token text in UTF-16 units: longer pairs cannot be tokens. */
  private readonly maxTokenLength: number;

  constructor(vocab: GgufVocab) {
    super(vocab);
    this.maxTokenLength = vocab.tokens.reduce((m, t) => Math.max(m, t.length), 0);
    const hex = '0123456789ABCDEF';
    for (let b = 0; b < 256; b++) {
      // llama.cpp `byte_to_token`: <0xXX>, else the byte itself as a one-byte string (ASCII only here)
      const id = vocab.tokenToId.get(`<0x${hex[b >> 4]}${hex[b & 15]}>`) ?? (b < 0x80 ? vocab.tokenToId.get(String.fromCharCode(b)) : undefined);
      if (id !== undefined) this.byteTokens[b] = id;
    }
  }

  /** A raw-text fragment: a space prefixed at the start or after a special token (add_space_prefix), ' ' -> ▁. */
  protected encodeText(text: string, afterSpecial: boolean, out: number[]): void {
    const s = this.vocab.addSpacePrefix && afterSpecial ? ' ' + text : text;
    this.tokenizeEscaped(s.replaceAll(' ', '\u2581'), out);
  }

  private tokenizeEscaped(text: string, out: number[]): void {
    // symbols: one per code point, as [start, length] in UTF-16 units, linked by prev/next
    const cap = text.length;
    const start = new Int32Array(cap);
    const len = new Int32Array(cap);
    let n = 0;
    for (let i = 0; i < text.length; ) {
      const c = text.charCodeAt(i);
      const l = c >= 0xd800 && c < 0xdc00 && i + 1 < text.length ? 2 : 1;
      start[n] = i;
      len[n++] = l;
      i += l;
    }
    if (n === 0) return;
    const { prev, next } = linkSymbols(n);
    // highest score first, leftmost on ties (llm_bigram_spm::comparator)
    const q = this.queue;
    q.clear();
    const { tokenToId, scores } = this.vocab;

    const tryAdd = (left: number, right: number): void => {
      if (left === -1 || right === -1) return;
      const size = len[left]! + len[right]!;
      if (size > this.maxTokenLength) return;
      const id = tokenToId.get(text.slice(start[left]!, start[left]! + size));
      if (id === undefined) return;
      q.push(scores[id]!, left, right, size);
    };

    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    mergeBigrams(q, len, prev, next, tryAdd);

    // Every merged symbol is a vocabulary entry (a pair is only queued when its text is one), so
    // llama.cpp's `resegment` never finds a merge to undo: a symbol is its token, or a single code
    // point without one, which falls back to its UTF-8 bytes' <0xXX> tokens.
    for (let i = 0; i !== -1; i = next[i]!) {
      const s = text.slice(start[i]!, start[i]! + len[i]!);
      const id = tokenToId.get(s);
      if (id !== undefined) out.push(id);
      else for (const byte of utf8Encoder.encode(s)) out.push(this.byteToken(byte));
    }
  }

  private byteToken(b: number): number {
    const id = this.byteTokens[b]!;
    if (id >= 0) return id;
    // llama.cpp's byte_to_token throws (std::out_of_range) here and the tokenize call fails
    throw new UserError(`the vocabulary has no byte token <0x${b.toString(16).toUpperCase().padStart(2, '0')}> for a character it cannot spell otherwise (llama.cpp fails on this text too)`);
  }

  /** Bytes of one token's text (llama.cpp `token_to_piece`): ▁ -> space, <0xXX> -> that byte. */
  private pieceBytes(id: number, special: boolean): Uint8Array {
    const attr = this.vocab.attrs[id];
    if (attr === undefined) throw this.outOfRange(id);
    const text = this.vocab.tokens[id]!;
    if (attr & (TokenAttr.CONTROL | TokenAttr.UNKNOWN)) return special ? utf8Encoder.encode(text) : new Uint8Array(0);
    if (attr & TokenAttr.USER_DEFINED) return utf8Encoder.encode(text);
    if (attr & TokenAttr.NORMAL) return utf8Encoder.encode(text.replaceAll('\u2581', ' '));
    if (attr & TokenAttr.BYTE) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
      return m ? Uint8Array.of(parseInt(m[1]!, 16)) : utf8Encoder.encode(text);
    }
    return new Uint8Array(0); // unused / undefined tokens render as nothing, as in llama.cpp
  }

  /**
   * Concatenate the pieces and decode UTF-8. With add_space_prefix, the space the encoder
   * prepended is removed from the first text piece, so decode(encode(s)) === s.
   */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const parts: Uint8Array[] = [];
    let stripSpace = this.vocab.addSpacePrefix;
    for (const id of ids) {
      let b = this.pieceBytes(id, opts.special ?? false);
      if (b.length === 0) continue;
      if (stripSpace && b[0] === 0x20) b = b.subarray(1);
      stripSpace = false;
      parts.push(b);
    }
    return utf8Decoder.decode(concatBytes(parts));
  }
}
