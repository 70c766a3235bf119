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
 */
import { type GgufVocab, partitionSpecial, utf8Decoder, utf8Encoder } from './vocab.ts';
import { PriorityQueue } from './heap.ts';
import { type DecodeOptions, type EncodeOptions, type Tokenizer, TokenType } from './types.ts';
import { UserError } from '../../util/errors.ts';

interface Bigram {
  left: number;
  right: number;
  score: number;
  size: number;
}

export class SpmTokenizer implements Tokenizer {
  readonly kind = 'llama' as const;
  readonly vocabSize: number;
  readonly bos: number;
  readonly eos: number;
  readonly addBosDefault: boolean;
  private readonly byteTokens = new Int32Array(256).fill(-1);

  constructor(private readonly vocab: GgufVocab) {
    this.vocabSize = vocab.tokens.length;
    this.bos = vocab.bos;
    this.eos = vocab.eos;
    this.addBosDefault = vocab.addBos;
    const hex = '0123456789ABCDEF';
    for (let b = 0; b < 256; b++) {
      const id = vocab.tokenToId.get(`<0x${hex[b >> 4]}${hex[b & 15]}>`) ?? vocab.tokenToId.get(String.fromCharCode(b));
      if (id !== undefined) this.byteTokens[b] = id;
    }
  }

  tokenText(id: number): string {
    const t = this.vocab.tokens[id];
    if (t === undefined) throw new UserError(`token id ${id} is out of range (vocabulary has ${this.vocabSize} tokens)`);
    return t;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (opts.addBos && this.bos >= 0) out.push(this.bos);
    let prevSpecial = true; // prefix with a space if the first fragment is text
    for (const frag of partitionSpecial(this.vocab, text, opts.parseSpecial ?? false)) {
      if ('token' in frag) {
        out.push(frag.token);
        prevSpecial = true;
        continue;
      }
      let s = frag.text;
      if (this.vocab.addSpacePrefix && prevSpecial) s = ' ' + s;
      this.tokenizeEscaped(s.replaceAll(' ', '\u2581'), out);
      prevSpecial = false;
    }
    if (opts.addEos && this.eos >= 0) out.push(this.eos);
    return out;
  }

  private tokenizeEscaped(text: string, out: number[]): void {
    // symbols: one per code point, as [start, length] in UTF-16 units, linked by prev/next
    const start: number[] = [];
    const len: number[] = [];
    for (let i = 0; i < text.length; ) {
      const cp = text.codePointAt(i)!;
      const l = cp > 0xffff ? 2 : 1;
      start.push(i);
      len.push(l);
      i += l;
    }
    const n = start.length;
    if (n === 0) return;
    const prev = Array.from({ length: n }, (_, i) => i - 1);
    const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const q = new PriorityQueue<Bigram>((l, r) => l.score < r.score || (l.score === r.score && l.left > r.left));
    const revMerge = new Map<string, [number, number]>();
    const { tokenToId, scores } = this.vocab;

    const tryAdd = (left: number, right: number): void => {
      if (left === -1 || right === -1) return;
      const s = text.slice(start[left]!, start[left]! + len[left]! + len[right]!);
      const id = tokenToId.get(s);
      if (id === undefined) return;
      q.push({ left, right, score: scores[id]!, size: s.length });
      revMerge.set(s, [left, right]);
    };

    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    for (let b = q.pop(); b !== undefined; b = q.pop()) {
      const l = b.left;
      const r = b.right;
      if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== b.size) continue;
      len[l] = len[l]! + len[r]!;
      len[r] = 0;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      tryAdd(prev[l]!, l);
      tryAdd(l, next[l]!);
    }

    const resegment = (i: number): void => {
      const s = text.slice(start[i]!, start[i]! + len[i]!);
      const id = tokenToId.get(s);
      if (id !== undefined) {
        out.push(id);
        return;
      }
      const p = revMerge.get(s);
      if (p === undefined) {
        for (const byte of utf8Encoder.encode(s)) out.push(this.byteToken(byte));
        return;
      }
      resegment(p[0]);
      resegment(p[1]);
    };
    for (let i = 0; i !== -1; i = next[i]!) resegment(i);
  }

  private byteToken(b: number): number {
    const id = this.byteTokens[b]!;
    if (id >= 0) return id;
    if (this.vocab.unk >= 0) return this.vocab.unk;
    throw new UserError(`the vocabulary has no byte token <0x${b.toString(16).toUpperCase().padStart(2, '0')}> and no unknown token`);
  }

  /** Bytes of one token's text (llama.cpp `token_to_piece`): ▁ -> space, <0xXX> -> that byte. */
  private pieceBytes(id: number, special: boolean): Uint8Array {
    const type = this.vocab.types[id];
    if (type === undefined) throw new UserError(`token id ${id} is out of range (vocabulary has ${this.vocabSize} tokens)`);
    const text = this.vocab.tokens[id]!;
    if (type === TokenType.CONTROL || type === TokenType.UNKNOWN) return special ? utf8Encoder.encode(text) : new Uint8Array(0);
    if (type === TokenType.USER_DEFINED) return utf8Encoder.encode(text);
    if (type === TokenType.BYTE) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
      return m ? Uint8Array.of(parseInt(m[1]!, 16)) : utf8Encoder.encode(text);
    }
    if (type === TokenType.NORMAL) return utf8Encoder.encode(text.replaceAll('\u2581', ' '));
    return new Uint8Array(0); // unused / undefined tokens render as nothing, as in llama.cpp
  }

  /**
   * Concatenate the pieces and decode UTF-8. With add_space_prefix, the space the encoder
   * prepended is removed from the first text piece, so decode(encode(s)) === s.
   */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const parts: Uint8Array[] = [];
    let total = 0;
    let stripSpace = this.vocab.addSpacePrefix;
    for (const id of ids) {
      let b = this.pieceBytes(id, opts.special ?? false);
      if (b.length === 0) continue;
      if (stripSpace && b[0] === 0x20) b = b.subarray(1);
      stripSpace = false;
      parts.push(b);
      total += b.length;
    }
    const all = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    return utf8Decoder.decode(all);
  }
}
