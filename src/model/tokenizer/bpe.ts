/**
 * Byte-level BPE for GGUF vocabularies with tokenizer.ggml.model = "gpt2" (Radford et al. 2019,
 * "Language Models are Unsupervised Multitask Learners"; Sennrich et al. 2016 for BPE), following
 * llama.cpp's `llm_tokenizer_bpe_session` (src/llama-vocab.cpp):
 *
 *  1. split the text around special tokens (`partitionSpecial`);
 *  2. pre-tokenize each raw fragment with the vocabulary's pre-tokenizer (tokenizer.ggml.pre ->
 *     preTokenizers.ts -> the regex splits of regexSplit.ts);
 *  3. map each word's UTF-8 bytes to printable characters (GPT-2 `bytes_to_unicode`);
 *  4. with ignore_merges (llama-bpe and friends), a word that is itself a vocabulary entry is
 *     emitted whole; otherwise merge adjacent symbols by merge rank (lowest first, leftmost on
 *     ties) until no pair is in tokenizer.ggml.merges, and emit each symbol's token, or, for a
 *     symbol that is no token, the tokens of its single bytes (only ASCII ones can exist).
 */
import { type GgufVocab, TokenAttr, utf8Decoder, utf8Encoder } from './vocab.ts';
import { BigramHeap } from './heap.ts';
import type { DecodeOptions } from './types.ts';
import { GgufTokenizer, linkSymbols, mergeBigrams } from './ggufTokenizer.ts';
import { regexSplit, splitGpt2 } from './regexSplit.ts';
import { wellFormed } from './unicode.ts';
import type { PreTokenizer } from './preTokenizers.ts';

/** GPT-2's reversible byte -> printable character table (`bytes_to_unicode` in encoder.py). */
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const table = new Array<string>(256);
  bs.forEach((b, i) => (table[b] = String.fromCodePoint(cs[i]!)));
  return table;
}
const BYTE_TO_UNICODE = bytesToUnicode();
const UNICODE_TO_BYTE = new Map(BYTE_TO_UNICODE.map((c, b) => [c, b]));

/** The GPT-2 split alone (the 'gpt-2' pre-tokenizer), for tests and tools. */
export function gpt2PreTokenize(text: string): string[] {
  return regexSplit(wellFormed(text), [splitGpt2]);
}

export class BpeTokenizer extends GgufTokenizer {
  readonly kind = 'gpt2' as const;
  /** The pre-tokenizer (tokenizer.ggml.pre) this vocabulary splits text with. */
  readonly pre: PreTokenizer;
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();
  private readonly queue = new BigramHeap();

  constructor(vocab: GgufVocab) {
    if (vocab.model !== 'gpt2' || !vocab.pre) throw new Error(`BpeTokenizer needs a 'gpt2' vocabulary with a pre-tokenizer`);
    super(vocab);
    this.pre = vocab.pre;
    vocab.merges.forEach((m, i) => {
      // llama.cpp: split at the first space after position 0; no space -> the pair ("", "")
      const p = m.indexOf(' ', 1);
      const key = p < 0 ? '\u0000' : m.slice(0, p) + '\u0000' + m.slice(p + 1);
      if (!this.ranks.has(key)) this.ranks.set(key, i); // first wins (std::map::emplace)
    });
  }

  /** The pre-tokens of raw text (no special-token handling, no byte encoding). */
  preTokenize(text: string): string[] {
    return regexSplit(wellFormed(text), this.pre.steps);
  }

  /** Each pre-token of a raw-text fragment, as its (cached) tokens. */
  protected encodeText(text: string, _afterSpecial: boolean, out: number[]): void {
    for (const word of regexSplit(text, this.pre.steps)) {
      let ids = this.cache.get(word);
      if (!ids) {
        ids = this.word(word);
        if (this.cache.size >= 200_000) this.cache.clear();
        this.cache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  /** The tokens of one pre-token. */
  private word(raw: string): number[] {
    let enc = '';
    for (const b of utf8Encoder.encode(raw)) enc += BYTE_TO_UNICODE[b]!;
    if (this.vocab.ignoreMerges) {
      const id = this.vocab.tokenToId.get(enc);
      if (id !== undefined) return [id];
    }
    return this.bpeWord(enc);
  }

  /**
   * BPE merges inside one byte-encoded word (every character is one symbol to start with): the
   * lowest-rank adjacent pair first, leftmost on ties (llm_bigram_bpe::comparator). A queued pair
   * is outdated when either side has changed since; both sides only grow, so comparing the
   * current total length with the queued one is llama.cpp's text comparison.
   */
  private bpeWord(word: string): number[] {
    const syms = Array.from(word);
    const n = syms.length;
    const text = syms.slice();
    const len = new Int32Array(n);
    for (let i = 0; i < n; i++) len[i] = syms[i]!.length;
    const { prev, next } = linkSymbols(n);
    const q = this.queue;
    q.clear();
    const tryAdd = (l: number, r: number): void => {
      if (l === -1 || r === -1) return;
      const rank = this.ranks.get(text[l]! + '\u0000' + text[r]!);
      if (rank === undefined) return;
      q.push(-rank, l, r, len[l]! + len[r]!);
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    mergeBigrams(q, len, prev, next, tryAdd, (l, r) => (text[l] = text[l]! + text[r]!));
    const ids: number[] = [];
    for (let i = 0; i !== -1; i = next[i]!) {
      const id = this.vocab.tokenToId.get(text[i]!);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      // llama.cpp looks each UTF-8 byte up as a one-byte string: only ASCII bytes can be tokens
      for (const byte of utf8Encoder.encode(text[i]!)) {
        if (byte >= 0x80) continue;
        const bid = this.vocab.tokenToId.get(String.fromCharCode(byte));
        if (bid !== undefined) ids.push(bid); // llama.cpp drops bytes that have no token
      }
    }
    return ids;
  }

  /**
   * Token text back to bytes (inverse of the byte-to-character table), then UTF-8 decoding: the
   * inverse of `encode` for text without control tokens. Pieces follow llama.cpp's
   * `token_to_piece`; unlike its `detokenize`, no clean-up of spaces before punctuation is done.
   */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const attr = this.vocab.attrs[id];
      if (attr === undefined) throw this.outOfRange(id);
      const text = this.vocab.tokens[id]!;
      if (attr & (TokenAttr.CONTROL | TokenAttr.UNKNOWN)) {
        if (opts.special) bytes.push(...utf8Encoder.encode(text));
      } else if (attr & TokenAttr.USER_DEFINED) {
        bytes.push(...utf8Encoder.encode(text));
      } else if (attr & TokenAttr.NORMAL) {
        for (const ch of text) {
          const b = UNICODE_TO_BYTE.get(ch);
          if (b !== undefined) bytes.push(b);
          else bytes.push(...utf8Encoder.encode(ch));
        }
      } else if (attr & TokenAttr.BYTE) {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
        if (m) bytes.push(parseInt(m[1]!, 16));
      }
    }
    return utf8Decoder.decode(Uint8Array.from(bytes));
  }
}
