/**
 * Byte-level BPE for GGUF vocabularies with tokenizer.ggml.model = "gpt2" (Radford et al. 2019,
 * "Language Models are Unsupervised Multitask Learners"), following llama.cpp's
 * `llm_tokenizer_bpe_session` and `unicode_regex_split_custom_gpt2`:
 *
 *  1. pre-tokenize with the GPT-2 pattern
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *     (\s is Unicode White_Space, as llama.cpp's tables);
 *  2. map each word's UTF-8 bytes to printable characters (GPT-2 `bytes_to_unicode`);
 *  3. merge adjacent symbols by merge rank (lowest first, leftmost on ties) until no pair is in
 *     tokenizer.ggml.merges; emit each symbol's token, or its bytes' tokens when it is not one.
 */
import { type GgufVocab, partitionSpecial, utf8Decoder, utf8Encoder } from './vocab.ts';
import { PriorityQueue } from './heap.ts';
import { type DecodeOptions, type EncodeOptions, type Tokenizer, TokenType } from './types.ts';
import { UserError } from '../../util/errors.ts';

/** Pre-tokenizer names (tokenizer.ggml.pre) that llama.cpp maps to the GPT-2 split pattern. */
export const GPT2_PRE_NAMES = new Set([
  'gpt-2',
  'phi-2',
  'mpt',
  'olmo',
  'jais',
  'trillion',
  'granite-docling',
  'jina-es',
  'jina-de',
  'gigachat',
  'jina-v2-es',
  'jina-v2-de',
  'a.x-4.0',
  'mellum',
  'modern-bert',
  'exaone4',
  'jina-v1-en',
  'jina-v2-code',
  'roberta-bpe',
]);

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
export const BYTE_TO_UNICODE = bytesToUnicode();
export const UNICODE_TO_BYTE = new Map(BYTE_TO_UNICODE.map((c, b) => [c, b]));

/** Unicode White_Space (llama.cpp `unicode_set_whitespace`). */
const WHITESPACE = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006,
  0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);
const LETTER = /\p{L}/u;
const NUMBER = /\p{N}/u;

const enum Cls {
  Out = 0, // past the end of the fragment
  Letter = 1,
  Number = 2,
  Space = 3,
  Other = 4,
}

/** Memo of classes per code point (0 = not yet classified): the regex tests are the slow part. */
const CLASS_MEMO = new Uint8Array(0x110000);

function classify(cp: number): Cls {
  const m = CLASS_MEMO[cp];
  if (m) return m as Cls;
  const c = classifyUncached(cp);
  CLASS_MEMO[cp] = c;
  return c;
}

function classifyUncached(cp: number): Cls {
  if (WHITESPACE.has(cp)) return Cls.Space;
  const ch = String.fromCodePoint(cp);
  if (LETTER.test(ch)) return Cls.Letter;
  if (NUMBER.test(ch)) return Cls.Number;
  return Cls.Other;
}

/** Split text into GPT-2 pre-tokens, a port of llama.cpp's `unicode_regex_split_custom_gpt2`. */
export function gpt2PreTokenize(text: string): string[] {
  const cps = Array.from(text, (c) => c.codePointAt(0)!);
  const n = cps.length;
  const cls = cps.map(classify);
  const get = (p: number): number => (p < n ? cps[p]! : -1);
  const flags = (p: number): Cls => (p < n ? cls[p]! : Cls.Out);
  const words: string[] = [];
  let prevEnd = 0;
  const add = (end: number): number => {
    const l = end - prevEnd;
    if (l > 0) words.push(String.fromCodePoint(...cps.slice(prevEnd, end)));
    prevEnd = end;
    return l;
  };
  const A = 0x27; // '
  for (let pos = 0; pos < n; ) {
    const cp = get(pos);
    const f = flags(pos);
    if (cp === A && pos + 1 < n) {
      const c1 = get(pos + 1);
      if (c1 === 0x73 || c1 === 0x74 || c1 === 0x6d || c1 === 0x64) {
        pos += add(pos + 2);
        continue;
      }
      if (pos + 2 < n) {
        const c2 = get(pos + 2);
        if ((c1 === 0x72 && c2 === 0x65) || (c1 === 0x76 && c2 === 0x65) || (c1 === 0x6c && c2 === 0x6c)) {
          pos += add(pos + 3);
          continue;
        }
      }
    }
    let f2 = cp === 0x20 ? flags(pos + 1) : f;
    if (f2 === Cls.Letter || f2 === Cls.Number || f2 === Cls.Other) {
      const want = f2;
      if (cp === 0x20) pos++;
      while (f2 === want) f2 = flags(++pos);
      add(pos);
      continue;
    }
    let nws = 0;
    while (flags(pos + nws) === Cls.Space) nws++;
    if (nws > 1 && pos + nws < n) {
      pos += nws - 1;
      add(pos);
      continue;
    }
    if (nws > 0) {
      pos += nws;
      add(pos);
      continue;
    }
    add(++pos);
  }
  return words;
}

interface Bigram {
  left: number;
  right: number;
  text: string;
  rank: number;
}

export class Gpt2BpeTokenizer implements Tokenizer {
  readonly kind = 'gpt2' as const;
  readonly vocabSize: number;
  readonly bos: number;
  readonly eos: number;
  readonly addBosDefault: boolean;
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();

  constructor(private readonly vocab: GgufVocab) {
    if (!GPT2_PRE_NAMES.has(vocab.pre)) {
      throw new UserError(
        `pre-tokenizer '${vocab.pre}' is not supported by the built-in BPE tokenizer (it implements the GPT-2 pattern: ${[...GPT2_PRE_NAMES].slice(0, 4).join(', ')}, ...); ` +
          `load the model's tokenizer.json with tokenizerFromHfJson instead`,
      );
    }
    this.vocabSize = vocab.tokens.length;
    this.bos = vocab.bos;
    this.eos = vocab.eos;
    this.addBosDefault = vocab.addBos;
    vocab.merges.forEach((m, i) => {
      const p = m.indexOf(' ', 1);
      const key = p < 0 ? '\u0000' : m.slice(0, p) + '\u0000' + m.slice(p + 1);
      if (!this.ranks.has(key)) this.ranks.set(key, i); // first wins (std::map::emplace)
    });
  }

  tokenText(id: number): string {
    const t = this.vocab.tokens[id];
    if (t === undefined) throw new UserError(`token id ${id} is out of range (vocabulary has ${this.vocabSize} tokens)`);
    return t;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (opts.addBos && this.bos >= 0) out.push(this.bos);
    for (const frag of partitionSpecial(this.vocab, text, opts.parseSpecial ?? false)) {
      if ('token' in frag) {
        out.push(frag.token);
        continue;
      }
      for (const word of gpt2PreTokenize(frag.text)) {
        let ids = this.cache.get(word);
        if (!ids) {
          ids = this.bpeWord(Array.from(utf8Encoder.encode(word), (b) => BYTE_TO_UNICODE[b]!).join(''));
          if (this.cache.size < 100_000) this.cache.set(word, ids);
        }
        out.push(...ids);
      }
    }
    if (opts.addEos && this.eos >= 0) out.push(this.eos);
    return out;
  }

  /** BPE merges inside one byte-encoded word (every character is one symbol to start with). */
  private bpeWord(word: string): number[] {
    const syms = Array.from(word);
    const n = syms.length;
    const text = syms.slice();
    const alive = new Array<boolean>(n).fill(true);
    const prev = Array.from({ length: n }, (_, i) => i - 1);
    const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const q = new PriorityQueue<Bigram>((l, r) => l.rank > r.rank || (l.rank === r.rank && l.left > r.left));
    const tryAdd = (l: number, r: number): void => {
      if (l === -1 || r === -1) return;
      const rank = this.ranks.get(text[l]! + '\u0000' + text[r]!);
      if (rank === undefined) return;
      q.push({ left: l, right: r, text: text[l]! + text[r]!, rank });
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    for (let b = q.pop(); b !== undefined; b = q.pop()) {
      const { left: l, right: r } = b;
      if (!alive[l] || !alive[r] || text[l]! + text[r]! !== b.text) continue; // outdated
      text[l] = b.text;
      alive[r] = false;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      tryAdd(prev[l]!, l);
      tryAdd(l, next[l]!);
    }
    const ids: number[] = [];
    for (let i = 0; i !== -1; i = next[i]!) {
      const id = this.vocab.tokenToId.get(text[i]!);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      for (const ch of text[i]!) {
        const bid = this.vocab.tokenToId.get(ch);
        if (bid !== undefined) ids.push(bid); // llama.cpp drops bytes that have no token
      }
    }
    return ids;
  }

  /** Token text back to bytes (inverse of the byte-to-character table), then UTF-8 decoding. */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const type = this.vocab.types[id];
      if (type === undefined) throw new UserError(`token id ${id} is out of range (vocabulary has ${this.vocabSize} tokens)`);
      const text = this.vocab.tokens[id]!;
      if (type === TokenType.CONTROL || type === TokenType.UNKNOWN) {
        if (opts.special) bytes.push(...utf8Encoder.encode(text));
      } else if (type === TokenType.USER_DEFINED) {
        bytes.push(...utf8Encoder.encode(text));
      } else if (type === TokenType.BYTE) {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
        if (m) bytes.push(parseInt(m[1]!, 16));
      } else if (type === TokenType.NORMAL) {
        for (const ch of text) {
          const b = UNICODE_TO_BYTE.get(ch);
          if (b !== undefined) bytes.push(b);
          else bytes.push(...utf8Encoder.encode(ch));
        }
      }
    }
    return utf8Decoder.decode(Uint8Array.from(bytes));
  }
}
