/**
 * ROUGE-1, ROUGE-2 and ROUGE-L of a candidate (model answer) against a reference (gold answer),
 * with precision, recall and F1, as Google's `rouge_score` computes them with `use_stemmer=True`
 * (`RougeScorer(['rouge1', 'rouge2', 'rougeL'], use_stemmer=True).score(target=reference,
 * prediction=candidate)`), which is what TOFU (Maini et al. 2024) and open-unlearning report
 * (open-unlearning's `rougeL_recall`, `rouge1_recall`, `rougeL_f1`). docs/methods.md#metrics.
 *
 * Tokens (rouge_score's `tokenize`): lowercase; every run of characters outside [a-z0-9] becomes a
 * space; split on whitespace; tokens longer than 3 characters are replaced by their Porter stem
 * (NLTK's `PorterStemmer()`, default mode NLTK_EXTENSIONS: ./porter.ts, an exact port); keep
 * tokens matching ^[a-z0-9]+$. So punctuation never counts, "Dave's" -> dave s, non-ASCII letters
 * drop out, and "books" / "book" or "lived" / "lives" match.
 * ROUGE-N (Lin 2004): overlap = sum over n-grams g of min(count_cand(g), count_ref(g)) (clipped),
 *   precision = overlap / max(#cand n-grams, 1), recall = overlap / max(#ref n-grams, 1),
 *   F1 = 2 P R / (P + R) (0 when P + R = 0).
 * ROUGE-L: L = length of the longest common subsequence of the two token lists (no sentence
 *   splitting; this is rouge_score's `rougeL`, not `rougeLsum`); P = L / |cand|, R = L / |ref|,
 *   all 0 when either list is empty.
 *
 * Checked against reference values computed from NLTK's own stemmer by
 * scripts/reference/porter_reference.py (test/fixtures/rouge/, test/eval/rougeReference.test.ts): equal to
 * 1e-9 on 200 reference/candidate pairs. `{ stemmer: false }` gives rouge_score's default
 * `use_stemmer=False`; a function plugs in another stemmer (applied under the same > 3 rule).
 *
 * The `js-rouge` package is not used: it reports only F, tokenizes case-sensitively with
 * punctuation as tokens, computes a sentence-level (rougeLsum-like) ROUGE-L, and throws on an
 * empty candidate, so its numbers are not rouge_score's.
 */
import { UserError } from '../util/errors.ts';
import { porterStem } from './porter.ts';

export interface RougeScore {
  precision: number;
  recall: number;
  f1: number;
}

export interface RougeResult {
  rouge1: RougeScore;
  rouge2: RougeScore;
  rougeL: RougeScore;
}

export interface RougeOptions {
  /**
   * Stemming of tokens longer than 3 characters (rouge_score's rule): `true` (default) is NLTK's
   * Porter stemmer as rouge_score's `use_stemmer=True`; `false` is `use_stemmer=False`; a function
   * is used as the stemmer.
   */
  stemmer?: boolean | ((token: string) => string);
}

/** Porter stems of the tokens seen so far (answers repeat words; the stemmer is pure). */
const stemCache = new Map<string, string>();
const STEM_CACHE_MAX = 100_000;

function cachedPorterStem(token: string): string {
  let s = stemCache.get(token);
  if (s === undefined) {
    s = porterStem(token);
    if (stemCache.size >= STEM_CACHE_MAX) stemCache.clear();
    stemCache.set(token, s);
  }
  return s;
}

function assertText(name: string, s: unknown): asserts s is string {
  if (typeof s !== 'string') throw new UserError(`${name} must be a string, got ${s === null ? 'null' : typeof s}`);
}

/** rouge_score tokenization (see module doc); Porter-stemmed unless `stemmer: false`. */
export function rougeTokenize(text: string, opts: RougeOptions = {}): string[] {
  assertText('rougeTokenize: text', text);
  let tokens = text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').split(/\s+/);
  const opt = opts.stemmer ?? true;
  if (typeof opt !== 'boolean' && typeof opt !== 'function') throw new UserError(`ROUGE: stemmer must be true, false or a function, got ${typeof opt}`);
  const stem = opt === true ? cachedPorterStem : opt === false ? null : opt;
  if (stem) tokens = tokens.map((t) => (t.length > 3 ? stem(t) : t));
  return tokens.filter((t) => /^[a-z0-9]+$/.test(t));
}

function score(overlap: number, candTotal: number, refTotal: number): RougeScore {
  const precision = overlap / Math.max(candTotal, 1);
  const recall = overlap / Math.max(refTotal, 1);
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1 };
}

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join(' ');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** ROUGE-N from token lists: clipped n-gram overlap. */
export function rougeNTokens(cand: readonly string[], ref: readonly string[], n: number): RougeScore {
  if (!Number.isInteger(n) || n < 1) throw new UserError(`ROUGE-N: n must be a positive integer, got ${n}`);
  const c = ngramCounts(cand, n);
  const r = ngramCounts(ref, n);
  let overlap = 0;
  for (const [g, k] of c) overlap += Math.min(k, r.get(g) ?? 0);
  return score(overlap, Math.max(cand.length - n + 1, 0), Math.max(ref.length - n + 1, 0));
}

/** Length of the longest common subsequence (O(|a| |b|) time, O(|b|) memory). */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Uint32Array(b.length + 1);
  let cur = new Uint32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length]!;
}

/** ROUGE-L from token lists. */
export function rougeLTokens(cand: readonly string[], ref: readonly string[]): RougeScore {
  if (cand.length === 0 || ref.length === 0) return { precision: 0, recall: 0, f1: 0 };
  return score(lcsLength(cand, ref), cand.length, ref.length);
}

/** ROUGE-N of candidate text against reference text. */
export function rougeN(candidate: string, reference: string, n: number, opts: RougeOptions = {}): RougeScore {
  assertText('ROUGE candidate', candidate);
  assertText('ROUGE reference', reference);
  return rougeNTokens(rougeTokenize(candidate, opts), rougeTokenize(reference, opts), n);
}

/** ROUGE-L of candidate text against reference text. */
export function rougeL(candidate: string, reference: string, opts: RougeOptions = {}): RougeScore {
  assertText('ROUGE candidate', candidate);
  assertText('ROUGE reference', reference);
  return rougeLTokens(rougeTokenize(candidate, opts), rougeTokenize(reference, opts));
}

/** ROUGE-1, ROUGE-2 and ROUGE-L (tokenizing each text once). */
export function rouge(candidate: string, reference: string, opts: RougeOptions = {}): RougeResult {
  assertText('ROUGE candidate', candidate);
  assertText('ROUGE reference', reference);
  const c = rougeTokenize(candidate, opts);
  const r = rougeTokenize(reference, opts);
  return { rouge1: rougeNTokens(c, r, 1), rouge2: rougeNTokens(c, r, 2), rougeL: rougeLTokens(c, r) };
}
