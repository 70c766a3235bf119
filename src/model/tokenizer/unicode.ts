/**
 * Code point classes as llama.cpp's tokenizers see them (src/unicode.cpp): one 16-bit flag word per
 * code point (`unicode_cpt_flags`), built from the tables in unicodeData.ts: the general category
 * bits of `unicode_ranges_flags`, plus WHITESPACE for `unicode_set_whitespace`. Every code point
 * below 0x110000 has a non-zero word (unassigned ones are UNDEFINED); 0 stands for "outside the
 * text", as llama.cpp's `unicode_cpt_flags{}` sentinel.
 */
import { LOWERCASE_TO_ASCII, RANGE_FLAGS_DELTA, WHITESPACE_CPTS } from './unicodeData.ts';

export const CPT = {
  UNDEFINED: 0x0001,
  NUMBER: 0x0002, // \p{N}
  LETTER: 0x0004, // \p{L}
  SEPARATOR: 0x0008, // \p{Z}
  ACCENT_MARK: 0x0010, // \p{M}
  PUNCTUATION: 0x0020, // \p{P}
  SYMBOL: 0x0040, // \p{S}
  CONTROL: 0x0080, // \p{C}
  MASK_CATEGORIES: 0x00ff,
  WHITESPACE: 0x0100, // \s (Unicode White_Space)
} as const;

const MAX_CODEPOINTS = 0x110000;

let table: Uint16Array | null = null;

/** The flag word of every code point (2.2 MB, built on first use in a few milliseconds). */
export function cptFlagsTable(): Uint16Array {
  if (table) return table;
  const t = new Uint16Array(MAX_CODEPOINTS).fill(CPT.UNDEFINED);
  let start = 0;
  for (let i = 0; i + 3 < RANGE_FLAGS_DELTA.length; i += 2) {
    start += RANGE_FLAGS_DELTA[i]!;
    const end = start + RANGE_FLAGS_DELTA[i + 2]!;
    t.fill(RANGE_FLAGS_DELTA[i + 1]!, start, end);
  }
  for (const cp of WHITESPACE_CPTS) t[cp] = t[cp]! | CPT.WHITESPACE;
  table = t;
  return t;
}

const LOWER_ASCII = new Map<number, number>();
for (const [u, l] of LOWERCASE_TO_ASCII) if (!LOWER_ASCII.has(u)) LOWER_ASCII.set(u, l);

/**
 * `unicode_tolower` where the answer matters to the pre-tokenizers: the case-insensitive
 * contractions ('S, 'LL, ...) only compare the result with ASCII letters, so only code points whose
 * lowercase is ASCII are mapped; every other code point is returned unchanged (it cannot equal an
 * ASCII letter after lowering either).
 */
export function toLowerForAsciiCompare(cp: number): number {
  return LOWER_ASCII.get(cp) ?? cp;
}

/** The code points of a well-formed string. */
export function codePoints(text: string): Uint32Array {
  const out = new Uint32Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        out[n++] = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        i++;
        continue;
      }
    }
    out[n++] = c;
  }
  return out.subarray(0, n);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * The string with lone surrogates replaced by U+FFFD, which is what its UTF-8 encoding (and so
 * llama.cpp, given the text through node-llama-cpp) sees.
 */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\ufffd');
}
