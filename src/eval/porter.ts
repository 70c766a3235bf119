/**
 * The Porter stemmer exactly as NLTK implements it (`nltk.stem.porter.PorterStemmer`, NLTK 3.8),
 * which is what Google's `rouge_score` calls with `use_stemmer=True` (and so what TOFU and
 * open-unlearning report). A line-by-line port: same steps, same rule order, same conditions, same
 * quirks, in all three of NLTK's modes.
 *
 * Porter, M. F. (1980). An algorithm for suffix stripping. Program 14(3): 130-137.
 *
 * Modes (NLTK's names):
 * - `NLTK_EXTENSIONS` (NLTK's and rouge_score's default): Martin Porter's later extensions plus
 *   NLTK's own: a table of irregular forms (sky/skies -> sky, dying -> die, lying -> lie,
 *   tying -> tie, news, innings, outings, cannings, howe, proceed, exceed, succeed), 4-letter
 *   "-ies"/"-ied" -> "-ie" (dies -> die, died -> die), other "-ied" -> "-i", step 1c's y -> i only
 *   after a consonant that is not the first letter, "alli" -> "al" tried first and step 2 re-run,
 *   "fulli" -> "ful", "logi" -> "log" with the measure taken over the stem plus its "l", and *o also
 *   true for a 2-letter vowel-consonant stem.
 * - `MARTIN_EXTENSIONS`: only the extensions in Martin Porter's own implementations ("bli" -> "ble",
 *   "logi" -> "log", words of 1-2 letters left alone).
 * - `ORIGINAL_ALGORITHM`: the 1980 paper as published.
 *
 * Strings: NLTK works on Python strings, indexed by code point. The rules only ever compare a
 * character with ASCII letters or with another character of the same word, so this port maps each
 * astral code point (two UTF-16 units in JavaScript) to a private-use BMP character absent from the
 * word, stems, and maps back: lengths and positions are then Python's. Lower-casing is JavaScript's
 * `toLowerCase()`, Python's `str.lower()` up to the Unicode version of the two runtimes (both apply
 * the full case mappings, final sigma included). rouge_score only passes `[a-z0-9]+` tokens.
 */

export type PorterMode = 'NLTK_EXTENSIONS' | 'MARTIN_EXTENSIONS' | 'ORIGINAL_ALGORITHM';

export const PORTER_MODES: readonly PorterMode[] = ['NLTK_EXTENSIONS', 'MARTIN_EXTENSIONS', 'ORIGINAL_ALGORITHM'];

type Condition = ((stem: string) => boolean) | null;
/** [suffix, replacement, condition]; the suffix "*d" means "ends in a double consonant". */
type Rule = readonly [string, string, Condition];

const VOWELS = new Set(['a', 'e', 'i', 'o', 'u']);

/** NLTK's irregular forms (NLTK_EXTENSIONS only): word -> stem. */
const IRREGULAR: Record<string, readonly string[]> = {
  sky: ['sky', 'skies'],
  die: ['dying'],
  lie: ['lying'],
  tie: ['tying'],
  news: ['news'],
  inning: ['innings', 'inning'],
  outing: ['outings', 'outing'],
  canning: ['cannings', 'canning'],
  howe: ['howe'],
  proceed: ['proceed'],
  exceed: ['exceed'],
  succeed: ['succeed'],
};

export class PorterStemmer {
  readonly mode: PorterMode;
  private readonly pool = new Map<string, string>();

  constructor(mode: PorterMode = 'NLTK_EXTENSIONS') {
    if (!PORTER_MODES.includes(mode)) {
      throw new Error(`Porter stemmer mode must be one of ${PORTER_MODES.join(', ')}, got ${String(mode)}`);
    }
    this.mode = mode;
    if (mode === 'NLTK_EXTENSIONS') {
      for (const [key, forms] of Object.entries(IRREGULAR)) for (const f of forms) this.pool.set(f, key);
    }
  }

  /** True when word[i] is a consonant: not a vowel, and not a 'y' that follows a consonant. */
  private isConsonant(word: string, i: number): boolean {
    const c = word[i]!;
    if (VOWELS.has(c)) return false;
    if (c === 'y') return i === 0 ? true : !this.isConsonant(word, i - 1);
    return true;
  }

  /** Porter's m: the number of VC sequences in [C](VC){m}[V]. */
  private measure(stem: string): number {
    let m = 0;
    let prevVowel = false;
    for (let i = 0; i < stem.length; i++) {
      const cons = this.isConsonant(stem, i);
      if (cons && prevVowel) m++;
      prevVowel = !cons;
    }
    return m;
  }

  private hasPositiveMeasure = (stem: string): boolean => this.measure(stem) > 0;

  private containsVowel(stem: string): boolean {
    for (let i = 0; i < stem.length; i++) if (!this.isConsonant(stem, i)) return true;
    return false;
  }

  /** *d: ends in a double consonant. */
  private endsDoubleConsonant(word: string): boolean {
    return word.length >= 2 && word[word.length - 1] === word[word.length - 2] && this.isConsonant(word, word.length - 1);
  }

  /** *o: ends consonant-vowel-consonant, the last not w, x or y (NLTK: or is a 2-letter vowel-consonant word). */
  private endsCvc(word: string): boolean {
    const n = word.length;
    return (
      (n >= 3 &&
        this.isConsonant(word, n - 3) &&
        !this.isConsonant(word, n - 2) &&
        this.isConsonant(word, n - 1) &&
        !['w', 'x', 'y'].includes(word[n - 1]!)) ||
      (this.mode === 'NLTK_EXTENSIONS' && n === 2 && !this.isConsonant(word, 0) && this.isConsonant(word, 1))
    );
  }

  private static replaceSuffix(word: string, suffix: string, replacement: string): string {
    if (!word.endsWith(suffix)) throw new Error(`internal: "${word}" does not end with "${suffix}"`);
    return suffix === '' ? word + replacement : word.slice(0, word.length - suffix.length) + replacement;
  }

  /** The first rule whose suffix matches decides: its condition true -> replaced, false -> unchanged. */
  private applyRuleList(word: string, rules: readonly Rule[]): string {
    for (const [suffix, replacement, condition] of rules) {
      if (suffix === '*d' && this.endsDoubleConsonant(word)) {
        const stem = word.slice(0, word.length - 2);
        return condition === null || condition(stem) ? stem + replacement : word;
      }
      if (word.endsWith(suffix)) {
        const stem = PorterStemmer.replaceSuffix(word, suffix, '');
        return condition === null || condition(stem) ? stem + replacement : word;
      }
    }
    return word;
  }

  /** Step 1a: sses -> ss, ies -> i, ss -> ss, s -> (NLTK: 4-letter "-ies" -> "-ie"). */
  private step1a(word: string): string {
    if (this.mode === 'NLTK_EXTENSIONS' && word.endsWith('ies') && word.length === 4) {
      return PorterStemmer.replaceSuffix(word, 'ies', 'ie');
    }
    return this.applyRuleList(word, [
      ['sses', 'ss', null],
      ['ies', 'i', null],
      ['ss', 'ss', null],
      ['s', '', null],
    ]);
  }

  /** Step 1b: (m>0) eed -> ee; (*v*) ed ->; (*v*) ing ->; then at/bl/iz -> +e, undouble, (m=1 and *o) -> +e. */
  private step1b(word: string): string {
    if (this.mode === 'NLTK_EXTENSIONS' && word.endsWith('ied')) {
      return word.length === 4 ? PorterStemmer.replaceSuffix(word, 'ied', 'ie') : PorterStemmer.replaceSuffix(word, 'ied', 'i');
    }
    if (word.endsWith('eed')) {
      const stem = PorterStemmer.replaceSuffix(word, 'eed', '');
      return this.measure(stem) > 0 ? stem + 'ee' : word;
    }
    let intermediate: string | undefined;
    for (const suffix of ['ed', 'ing']) {
      if (word.endsWith(suffix)) {
        const s = PorterStemmer.replaceSuffix(word, suffix, '');
        if (this.containsVowel(s)) {
          intermediate = s;
          break;
        }
      }
    }
    if (intermediate === undefined) return word;
    const stem0 = intermediate;
    const last = stem0[stem0.length - 1]!;
    return this.applyRuleList(stem0, [
      ['at', 'ate', null],
      ['bl', 'ble', null],
      ['iz', 'ize', null],
      ['*d', last, () => !['l', 's', 'z'].includes(last)],
      ['', 'e', (stem) => this.measure(stem) === 1 && this.endsCvc(stem)],
    ]);
  }

  /** Step 1c: y -> i (NLTK: after a consonant that is not the word's only letter; original: (*v*)). */
  private step1c(word: string): string {
    const cond: Condition =
      this.mode === 'NLTK_EXTENSIONS' ? (stem) => stem.length > 1 && this.isConsonant(stem, stem.length - 1) : (stem) => this.containsVowel(stem);
    return this.applyRuleList(word, [['y', 'i', cond]]);
  }

  /** Step 2: (m>0) double suffixes to single ones (ational -> ate, ...). */
  private step2(word: string): string {
    const pos = this.hasPositiveMeasure;
    if (this.mode === 'NLTK_EXTENSIONS' && word.endsWith('alli') && pos(PorterStemmer.replaceSuffix(word, 'alli', ''))) {
      return this.step2(PorterStemmer.replaceSuffix(word, 'alli', 'al'));
    }
    const rules: Rule[] = [
      ['ational', 'ate', pos],
      ['tional', 'tion', pos],
      ['enci', 'ence', pos],
      ['anci', 'ance', pos],
      ['izer', 'ize', pos],
      this.mode === 'ORIGINAL_ALGORITHM' ? ['abli', 'able', pos] : ['bli', 'ble', pos],
      ['alli', 'al', pos],
      ['entli', 'ent', pos],
      ['eli', 'e', pos],
      ['ousli', 'ous', pos],
      ['ization', 'ize', pos],
      ['ation', 'ate', pos],
      ['ator', 'ate', pos],
      ['alism', 'al', pos],
      ['iveness', 'ive', pos],
      ['fulness', 'ful', pos],
      ['ousness', 'ous', pos],
      ['aliti', 'al', pos],
      ['iviti', 'ive', pos],
      ['biliti', 'ble', pos],
    ];
    if (this.mode === 'NLTK_EXTENSIONS') {
      rules.push(['fulli', 'ful', pos]);
      // The measure is taken over the word minus "ogi" (the stem keeps its "l"), as NLTK does.
      rules.push(['logi', 'log', () => pos(word.slice(0, word.length - 3))]);
    }
    if (this.mode === 'MARTIN_EXTENSIONS') rules.push(['logi', 'log', pos]);
    return this.applyRuleList(word, rules);
  }

  /** Step 3: (m>0) icate -> ic, ative ->, alize -> al, iciti -> ic, ical -> ic, ful ->, ness ->. */
  private step3(word: string): string {
    const pos = this.hasPositiveMeasure;
    return this.applyRuleList(word, [
      ['icate', 'ic', pos],
      ['ative', '', pos],
      ['alize', 'al', pos],
      ['iciti', 'ic', pos],
      ['ical', 'ic', pos],
      ['ful', '', pos],
      ['ness', '', pos],
    ]);
  }

  /** Step 4: (m>1) remove al, ance, ence, er, ic, able, ible, ant, ement, ment, ent, (s|t)ion, ou, ism, ate, iti, ous, ive, ize. */
  private step4(word: string): string {
    const gt1 = (stem: string) => this.measure(stem) > 1;
    return this.applyRuleList(word, [
      ['al', '', gt1],
      ['ance', '', gt1],
      ['ence', '', gt1],
      ['er', '', gt1],
      ['ic', '', gt1],
      ['able', '', gt1],
      ['ible', '', gt1],
      ['ant', '', gt1],
      ['ement', '', gt1],
      ['ment', '', gt1],
      ['ent', '', gt1],
      ['ion', '', (stem) => this.measure(stem) > 1 && ['s', 't'].includes(stem[stem.length - 1]!)],
      ['ou', '', gt1],
      ['ism', '', gt1],
      ['ate', '', gt1],
      ['iti', '', gt1],
      ['ous', '', gt1],
      ['ive', '', gt1],
      ['ize', '', gt1],
    ]);
  }

  /** Step 5a: (m>1) e ->; (m=1 and not *o) e -> (both conditions tried). */
  private step5a(word: string): string {
    if (word.endsWith('e')) {
      const stem = PorterStemmer.replaceSuffix(word, 'e', '');
      if (this.measure(stem) > 1) return stem;
      if (this.measure(stem) === 1 && !this.endsCvc(stem)) return stem;
    }
    return word;
  }

  /** Step 5b: (m>1 and *d and *L) -> single letter (measure of the word minus one letter, as NLTK). */
  private step5b(word: string): string {
    return this.applyRuleList(word, [['ll', 'l', () => this.measure(word.slice(0, word.length - 1)) > 1]]);
  }

  /** The stem of `word` (lower-cased first unless `toLowercase` is false), as NLTK's `stem(word, to_lowercase)`. */
  stem(word: string, toLowercase = true): string {
    const lowered = toLowercase ? word.toLowerCase() : word;
    // NLTK looks the ORIGINAL word up in the irregular table and returns the entry of the lowered one.
    if (this.mode === 'NLTK_EXTENSIONS' && this.pool.has(word)) return this.pool.get(lowered)!;
    if (this.mode !== 'ORIGINAL_ALGORITHM' && codePointLength(word) <= 2) return lowered;
    const { text, restore } = toBmp(lowered);
    let s = text;
    s = this.step1a(s);
    s = this.step1b(s);
    s = this.step1c(s);
    s = this.step2(s);
    s = this.step3(s);
    s = this.step4(s);
    s = this.step5a(s);
    s = this.step5b(s);
    return restore(s);
  }
}

function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/**
 * Replace each astral code point by a private-use BMP character that does not occur in the text, so
 * that string indices are code-point indices (Python's); `restore` maps them back.
 */
function toBmp(text: string): { text: string; restore: (s: string) => string } {
  if (!/[\uD800-\uDBFF][\uDC00-\uDFFF]/.test(text)) return { text, restore: (s) => s };
  const used = new Set(text);
  const fwd = new Map<string, string>();
  const back = new Map<string, string>();
  let next = 0xe000;
  let out = '';
  for (const ch of text) {
    if (ch.length === 1) {
      out += ch;
      continue;
    }
    let p = fwd.get(ch);
    if (p === undefined) {
      while (used.has(String.fromCharCode(next))) next++;
      p = String.fromCharCode(next++);
      fwd.set(ch, p);
      back.set(p, ch);
    }
    out += p;
  }
  return { text: out, restore: (s) => Array.from(s, (c) => back.get(c) ?? c).join('') };
}

let defaultStemmer: PorterStemmer | undefined;

/** NLTK's default Porter stemmer (NLTK_EXTENSIONS) on one word. */
export function porterStem(word: string): string {
  defaultStemmer ??= new PorterStemmer();
  return defaultStemmer.stem(word);
}
