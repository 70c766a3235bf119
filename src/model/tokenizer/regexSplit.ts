/**
 * The pre-tokenizer splits of llama.cpp (src/unicode.cpp, `unicode_regex_split`): a pre-tokenizer
 * is a list of regexes applied in turn, each one splitting every piece the previous ones produced
 * (a piece is a run of code points; matches and the gaps between them both become pieces).
 *
 * llama.cpp runs the common regexes through hand-written matchers (`unicode_regex_split_custom_*`,
 * chosen by the exact regex text) and everything else through std::regex. `REGEX_SPLITS` holds
 * line-by-line ports of those matchers, quirks included (e.g. the LLAMA3/QWEN2 punctuation branch
 * tests the flags of the current code point, not of the one after the optional space), keyed by
 * the regex text as llama.cpp's dispatch is; all of them classify code points with llama.cpp's own
 * Unicode tables (unicode.ts). `stdRegexSplit` reproduces the std::regex path: the same "collapsed"
 * text (one byte per code point standing for its category) and rewritten pattern, or the wide text
 * with non-ASCII whitespace as 0x0B, matched by a JavaScript RegExp.
 */
import { CPT, codePoints, cptFlagsTable, toLowerForAsciiCompare } from './unicode.ts';

/**
 * One regex of a pre-tokenizer: given the text's code points, their flags and the current pieces
 * (lengths in code points, summing to the text length), return the finer pieces.
 */
export type SplitStep = (cps: Uint32Array, fl: Uint16Array, offsets: readonly number[]) => number[];

const OUT_OF_RANGE = -1;
const APOS = 0x27;
const SPACE = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const c = (s: string): number => s.charCodeAt(0);
const [S, T, M, D, R, E, V, L] = ['s', 't', 'm', 'd', 'r', 'e', 'v', 'l'].map(c) as [number, number, number, number, number, number, number, number];

/** Per piece state shared by the custom matchers: bounded code point / flag reads and the token sink. */
class Piece {
  ini = 0;
  end = 0;
  prevEnd = 0;
  constructor(
    readonly cps: Uint32Array,
    readonly fl: Uint16Array,
    readonly out: number[],
  ) {}
  start(ini: number, end: number): void {
    this.ini = ini;
    this.end = end;
    this.prevEnd = ini;
  }
  cpt(pos: number): number {
    return pos >= this.ini && pos < this.end ? this.cps[pos]! : OUT_OF_RANGE;
  }
  flags(pos: number): number {
    return pos >= this.ini && pos < this.end ? this.fl[pos]! : 0;
  }
  /** `_add_token`: close the token at `end`, returning its length. */
  add(end: number): number {
    const len = end - this.prevEnd;
    if (len > 0) this.out.push(len);
    this.prevEnd = end;
    return len;
  }
}

function eachPiece(cps: Uint32Array, fl: Uint16Array, offsets: readonly number[], body: (p: Piece) => void): number[] {
  const out: number[] = [];
  const p = new Piece(cps, fl, out);
  let start = 0;
  for (const off of offsets) {
    p.start(start, start + off);
    start += off;
    body(p);
  }
  return out;
}

const NOT_WLN = CPT.WHITESPACE | CPT.LETTER | CPT.NUMBER;

/**
 * `unicode_regex_split_custom_gpt2`:
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 */
export const splitGpt2: SplitStep = (cps, fl, offsets) =>
  eachPiece(cps, fl, offsets, (p) => {
    for (let pos = p.ini; pos < p.end; ) {
      const cpt = p.cpt(pos);
      const flags = p.flags(pos);
      if (cpt === APOS && pos + 1 < p.end) {
        const n1 = p.cpt(pos + 1);
        if (n1 === S || n1 === T || n1 === M || n1 === D) {
          pos += p.add(pos + 2);
          continue;
        }
        if (pos + 2 < p.end) {
          const n2 = p.cpt(pos + 2);
          if ((n1 === R && n2 === E) || (n1 === V && n2 === E) || (n1 === L && n2 === L)) {
            pos += p.add(pos + 3);
            continue;
          }
        }
      }
      let flags2 = cpt === SPACE ? p.flags(pos + 1) : flags;
      if (flags2 & CPT.LETTER) {
        if (cpt === SPACE) pos++;
        while (flags2 & CPT.LETTER) flags2 = p.flags(++pos);
        p.add(pos);
        continue;
      }
      if (flags2 & CPT.NUMBER) {
        if (cpt === SPACE) pos++;
        while (flags2 & CPT.NUMBER) flags2 = p.flags(++pos);
        p.add(pos);
        continue;
      }
      if (!(flags2 & NOT_WLN) && flags2) {
        if (cpt === SPACE) pos++;
        while (!(flags2 & NOT_WLN) && flags2) flags2 = p.flags(++pos);
        p.add(pos);
        continue;
      }
      let nws = 0;
      while (p.flags(pos + nws) & CPT.WHITESPACE) nws++;
      if (nws > 1 && p.cpt(pos + nws) !== OUT_OF_RANGE) {
        pos += nws - 1;
        p.add(pos);
        continue;
      }
      if (nws > 0) {
        pos += nws;
        p.add(pos);
        continue;
      }
      p.add(++pos);
    }
  });

/**
 * The case-insensitive contractions (?i:'s|'t|'re|'ve|'m|'ll|'d) shared by the LLAMA3 / QWEN2 /
 * QWEN35 matchers; returns the new position, or -1 when there is none at `pos`.
 */
function contraction(p: Piece, pos: number, cpt: number): number {
  if (cpt !== APOS || pos + 1 >= p.end) return -1;
  const n1 = toLowerForAsciiCompare(p.cpt(pos + 1));
  if (n1 === S || n1 === T || n1 === M || n1 === D) return pos + p.add(pos + 2);
  if (pos + 2 < p.end) {
    const n2 = toLowerForAsciiCompare(p.cpt(pos + 2));
    if ((n1 === R && n2 === E) || (n1 === V && n2 === E) || (n1 === L && n2 === L)) return pos + p.add(pos + 3);
  }
  return -1;
}

/**
 * The tail shared by the LLAMA3 / QWEN2 / QWEN35 matchers: \s*[\r\n]+|\s+(?!\S)|\s+, else one code
 * point. Returns the new position.
 */
function whitespaceTail(p: Piece, pos: number): number {
  let nws = 0;
  let lastRn = 0;
  while (p.flags(pos + nws) & CPT.WHITESPACE) {
    const c2 = p.cpt(pos + nws);
    if (c2 === CR || c2 === LF) lastRn = pos + nws + 1;
    nws++;
  }
  if (lastRn > 0) {
    p.add(lastRn);
    return lastRn;
  }
  if (nws > 1 && p.cpt(pos + nws) !== OUT_OF_RANGE) {
    pos += nws - 1;
    p.add(pos);
    return pos;
  }
  if (nws > 0) {
    pos += nws;
    p.add(pos);
    return pos;
  }
  p.add(++pos);
  return pos;
}

/**
 * `unicode_regex_split_custom_llama3` (maxDigits 3), `unicode_regex_split_custom_qwen2` (maxDigits
 * 1) and `unicode_regex_split_custom_qwen35` (QWEN2 with combining marks in the letter runs), which
 * differ only in \p{N}{1,3} vs \p{N} and in what counts as a letter (`letters`; `notPunct` is
 * whitespace, letters and numbers):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * (QWEN35: [\p{L}\p{M}]+ for \p{L}+ and [^\s\p{L}\p{M}\p{N}]+ for [^\s\p{L}\p{N}]+)
 */
function llama3Like(maxDigits: number, letters: number, notPunct: number): SplitStep {
  return (cps, fl, offsets) =>
    eachPiece(cps, fl, offsets, (p) => {
      for (let pos = p.ini; pos < p.end; ) {
        const cpt = p.cpt(pos);
        const flags = p.flags(pos);
        const k = contraction(p, pos, cpt);
        if (k >= 0) {
          pos = k;
          continue;
        }
        if (!(cpt === CR || cpt === LF || flags & CPT.NUMBER)) {
          if (flags & letters || p.flags(pos + 1) & letters) {
            pos++;
            while (p.flags(pos) & letters) pos++;
            p.add(pos);
            continue;
          }
        }
        if (flags & CPT.NUMBER) {
          if (maxDigits === 1) {
            p.add(++pos);
            continue;
          }
          let ini = pos;
          while (p.flags(pos) & CPT.NUMBER) {
            if (++pos - ini >= maxDigits) {
              p.add(pos);
              ini = pos;
            }
          }
          p.add(pos);
          continue;
        }
        let flags2 = cpt === SPACE ? p.flags(pos + 1) : flags;
        if (!(flags2 & notPunct) && flags) {
          if (cpt === SPACE) pos++;
          while (!(flags2 & notPunct) && flags2) flags2 = p.flags(++pos);
          let c2 = p.cpt(pos);
          while (c2 === CR || c2 === LF) c2 = p.cpt(++pos);
          p.add(pos);
          continue;
        }
        pos = whitespaceTail(p, pos);
      }
    });
}

export const splitLlama3: SplitStep = llama3Like(3, CPT.LETTER, NOT_WLN);
export const splitQwen2: SplitStep = llama3Like(1, CPT.LETTER, NOT_WLN);
export const splitQwen35: SplitStep = llama3Like(1, CPT.LETTER | CPT.ACCENT_MARK, CPT.WHITESPACE | CPT.LETTER | CPT.ACCENT_MARK | CPT.NUMBER);

/** `unicode_regex_split_custom_newlines`: [^\n]+|[\n]+ (runs of non-newlines and of newlines). */
export const splitNewlines: SplitStep = (cps, _fl, offsets) => {
  const out: number[] = [];
  let start = 0;
  for (const off of offsets) {
    const end = start + off;
    let pos = start;
    while (pos < end) {
      const nl = cps[pos] === LF;
      const runStart = pos;
      while (pos < end && (cps[pos] === LF) === nl) pos++;
      out.push(pos - runStart);
    }
    start = end;
  }
  return out;
};

/**
 * \p{N} on its own, which llama.cpp runs through std::regex on the collapsed text: the regex becomes
 * `[\xD10-9]` and every code point >= 128 is collapsed to one byte per category (0xD1 for numbers,
 * 0x0B for whitespace, ...), so each code point whose category is NUMBER is matched alone and the
 * runs between them are pieces of their own (`unicode_regex_split_stl`).
 */
const splitIsolateNumbers: SplitStep = (_cps, fl, offsets) => {
  const out: number[] = [];
  let start = 0;
  for (const off of offsets) {
    const end = start + off;
    let gap = start;
    for (let pos = start; pos < end; pos++) {
      const f = fl[pos]!;
      // collapsed: whitespace wins over the category; then category_flag() == NUMBER
      if (f & CPT.WHITESPACE || (f & CPT.MASK_CATEGORIES) !== CPT.NUMBER) continue;
      if (pos > gap) out.push(pos - gap);
      out.push(1);
      gap = pos + 1;
    }
    if (gap < end) out.push(end - gap);
    start = end;
  }
  return out;
};

/** The regexes we split exactly as llama.cpp does, keyed by llama.cpp's regex text. */
export const REGEX_SPLITS: ReadonlyMap<string, SplitStep> = new Map<string, SplitStep>([
  ["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", splitGpt2],
  ["(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", splitLlama3],
  ["(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", splitLlama3],
  ["(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", splitQwen2],
  ["(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", splitQwen35],
  ['[^\\n]+|[\\n]+', splitNewlines],
  ['\\p{N}', splitIsolateNumbers],
]);

/** llama.cpp's `k_ucat_enum`: the \p{..} classes its std::regex fallback rewrites. */
const UCAT_ENUM = new Map<string, number>([
  ['\\p{N}', CPT.NUMBER],
  ['\\p{L}', CPT.LETTER],
  ['\\p{P}', CPT.PUNCTUATION],
  ['\\p{M}', CPT.ACCENT_MARK],
  ['\\p{S}', CPT.SYMBOL],
  ['\\p{Lu}', CPT.LETTER],
  ['\\p{Ll}', CPT.LETTER],
  ['\\p{Lt}', CPT.LETTER],
  ['\\p{Lm}', CPT.LETTER],
  ['\\p{Lo}', CPT.LETTER],
]);
/** `k_ucat_cpt`: the one-byte stand-in of each category in the collapsed text. */
const UCAT_CPT = new Map<number, number>([
  [CPT.NUMBER, 0xd1],
  [CPT.LETTER, 0xd2],
  [CPT.PUNCTUATION, 0xd3],
  [CPT.ACCENT_MARK, 0xd4],
  [CPT.SYMBOL, 0xd5],
]);
/** `k_ucat_map`: the ASCII members of each category, kept as themselves in the collapsed text. */
const UCAT_MAP = new Map<number, string>([
  [CPT.NUMBER, '0-9'],
  [CPT.LETTER, 'A-Za-z'],
  [CPT.PUNCTUATION, '!-#%-*,-/:-;?-@\\[-\\]_\\{\\}'],
  [CPT.ACCENT_MARK, ''],
  [CPT.SYMBOL, '\\$\\+<->^`\\|\\~'],
]);

/**
 * The collapsed text of `unicode_regex_split`: ASCII code points as themselves, every other code
 * point as 0x0B when it is whitespace, else its category's stand-in (0xD1..0xD5), else 0xD0.
 */
function collapse(cps: Uint32Array, fl: Uint16Array, ini: number, end: number): string {
  let s = '';
  for (let i = ini; i < end; i++) {
    const cp = cps[i]!;
    if (cp < 128) s += String.fromCharCode(cp);
    else if (fl[i]! & CPT.WHITESPACE) s += '\u000b';
    else s += String.fromCharCode(UCAT_CPT.get(fl[i]! & CPT.MASK_CATEGORIES) ?? 0xd0);
  }
  return s;
}

/** The code points of a piece for std::wregex: non-ASCII whitespace as 0x0B (its \s is ASCII-only). */
function wideText(cps: Uint32Array, fl: Uint16Array, ini: number, end: number): string {
  let s = '';
  for (let i = ini; i < end; i++) s += cps[i]! > 0x7f && fl[i]! & CPT.WHITESPACE ? '\u000b' : String.fromCodePoint(cps[i]!);
  return s;
}

/**
 * llama.cpp's rewrite of a regex that uses \p{..} classes for the collapsed text: outside brackets
 * \p{X} becomes [<stand-in><ASCII members>], inside brackets the same without the brackets.
 */
function collapseRegex(regex: string): string {
  let out = '';
  let inside = false;
  for (let i = 0; i < regex.length; i++) {
    const ch = regex[i]!;
    if (ch === '[' && (i === 0 || regex[i - 1] !== '\\')) {
      out += '[';
      inside = true;
      continue;
    }
    if (inside && ch === ']' && regex[i - 1] !== '\\') {
      out += ']';
      inside = false;
      continue;
    }
    if (ch === '\\' && i + 3 < regex.length && regex[i + 1] === 'p' && regex[i + 2] === '{') {
      const close = regex.indexOf('}', i + 3);
      if (close >= 0 && close <= i + 10) {
        const cat = UCAT_ENUM.get(regex.slice(i, close + 1));
        if (cat !== undefined) {
          const body = String.fromCharCode(UCAT_CPT.get(cat)!) + UCAT_MAP.get(cat)!;
          out += inside ? body : `[${body}]`;
          i = close;
          continue;
        }
      }
    }
    out += ch;
  }
  return out;
}

/**
 * A std::wregex pattern as a JavaScript one ('u' mode): its \s / \S match ASCII whitespace only
 * (the "C" locale), so they are spelled out; everything else these patterns use (classes, ranges,
 * quantifiers, alternation, (?:) and (?!) groups, $) means the same in both ECMAScript dialects.
 */
function wideRegexToJs(regex: string): string {
  let out = '';
  let inside = false;
  for (let i = 0; i < regex.length; i++) {
    const ch = regex[i]!;
    if (ch === '\\') {
      const nx = regex[i + 1];
      if (nx === 's') out += inside ? '\\t-\\r ' : '[\\t-\\r ]';
      else if (nx === 'S' && !inside) out += '[^\\t-\\r ]';
      else if (nx === 'S') throw new Error(`\\S inside a class: ${JSON.stringify(regex)}`);
      else if (nx === 'p' || nx === 'P') throw new Error(`std::wregex has no \\${nx}{..} (llama.cpp fails on it): ${JSON.stringify(regex)}`);
      else out += ch + (nx ?? '');
      i++;
      continue;
    }
    if (ch === '[' && !inside) inside = true;
    else if (ch === ']' && inside) inside = false;
    out += ch;
  }
  return out;
}

/**
 * A regex without a custom matcher, run as llama.cpp runs it (`unicode_regex_split_stl`): std::regex
 * over the collapsed text when it uses \p{..} classes, else std::wregex over the code points; each
 * piece is searched on its own, and matches and the gaps between them become pieces. The pattern
 * runs as a JavaScript RegExp, which follows the same ECMAScript rules for the constructs these
 * patterns use; one that can match the empty string is refused (regex_iterator and RegExp step
 * over empty matches differently).
 */
function stdRegexSplit(regex: string): SplitStep {
  const useCollapsed = [...UCAT_ENUM.keys()].some((k) => regex.includes(k));
  if (useCollapsed && [...regex].some((ch) => ch.codePointAt(0)! >= 128)) {
    throw new Error(`regex mixes unicode categories and non-ASCII characters (llama.cpp refuses it too): ${JSON.stringify(regex)}`);
  }
  const re = useCollapsed ? new RegExp(collapseRegex(regex), 'g') : new RegExp(wideRegexToJs(regex), 'gu');
  if (new RegExp(re.source, re.flags.replace('g', '')).test('')) throw new Error(`regex can match the empty string: ${JSON.stringify(regex)}`);
  return (cps, fl, offsets) => {
    const out: number[] = [];
    let start = 0;
    for (const off of offsets) {
      const piece = useCollapsed ? collapse(cps, fl, start, start + off) : wideText(cps, fl, start, start + off);
      // positions are in UTF-16 units of `piece`; convert to code points (collapsed: 1 unit each)
      const cpAt = useCollapsed ? (u: number) => u : unitToCodePoint(piece);
      re.lastIndex = 0;
      let last = 0;
      for (let m = re.exec(piece); m; m = re.exec(piece)) {
        if (m[0].length === 0) throw new Error(`pre-tokenizer regex matched the empty string (not supported): ${JSON.stringify(regex)}`);
        const a = cpAt(m.index);
        const b = cpAt(m.index + m[0].length);
        if (a > last) out.push(a - last);
        out.push(b - a);
        last = b;
      }
      if (last < off) out.push(off - last);
      start += off;
    }
    return out;
  };
}

function unitToCodePoint(s: string): (u: number) => number {
  const map = new Int32Array(s.length + 1);
  let cp = 0;
  for (let u = 0; u < s.length; u++) {
    map[u] = cp;
    const c = s.charCodeAt(u);
    if (c >= 0xd800 && c < 0xdc00 && u + 1 < s.length) {
      map[++u] = cp;
    }
    cp++;
  }
  map[s.length] = cp;
  return (u) => map[u]!;
}

/** The split of one regex: its custom matcher where llama.cpp has one, else the std::regex path. */
export function splitStep(regex: string): SplitStep {
  return REGEX_SPLITS.get(regex) ?? stdRegexSplit(regex);
}

/**
 * Split text into pre-tokens with a pre-tokenizer's steps (`splitStep` of each regex), as
 * `unicode_regex_split` does before byte encoding. `text` must be well-formed UTF-16.
 */
export function regexSplit(text: string, steps: readonly SplitStep[]): string[] {
  const cps = codePoints(text);
  const n = cps.length;
  if (n === 0) return [];
  const table = cptFlagsTable();
  const fl = new Uint16Array(n);
  for (let i = 0; i < n; i++) fl[i] = table[cps[i]!]!;
  let offsets: number[] = [n];
  for (const step of steps) offsets = step(cps, fl, offsets);
  const words: string[] = new Array(offsets.length);
  // slice the UTF-16 string at code point boundaries
  let u = 0;
  let k = 0;
  for (let w = 0; w < offsets.length; w++) {
    const from = u;
    for (let j = offsets[w]!; j > 0; j--) u += cps[k++]! > 0xffff ? 2 : 1;
    words[w] = text.slice(from, u);
  }
  return words;
}
