/**
 * ROUGE-1, ROUGE-2 and ROUGE-L of a candidate (model answer) against a reference (gold answer),
 * with precision, recall and F1, following Google's `rouge_score` package (`RougeScorer.score(
 * target=reference, prediction=candidate)`), whose recall TOFU reports (Maini et al. 2024):
 *
 * Tokens: lowercase; every run of characters outside [a-z0-9] becomes a space; split on
 * whitespace; optional stemming of tokens longer than 3 characters; keep tokens matching
 * ^[a-z0-9]+$. So punctuation never counts, "Dave's" -> dave s, and non-ASCII letters drop out.
 * ROUGE-N (Lin 2004): overlap = sum over n-grams g of min(count_cand(g), count_ref(g)) (clipped),
 *   precision = overlap / #cand n-grams, recall = overlap / #ref n-grams (0 when either has none),
 *   F1 = 2 P R / (P + R) (0 when P + R = 0).
 * ROUGE-L: L = length of the longest common subsequence of the two token lists (no sentence
 *   splitting; this is rouge_score's `rougeL`, not `rougeLsum`); P = L / |cand|, R = L / |ref|.
 *
 * Stemming: TOFU's evaluation calls RougeScorer(..., use_stemmer=True) (NLTK Porter stemmer).
 * No stemmer ships here, so the default is none (exact token match); pass `stemmer` to plug one
 * in. Without stemming, inflected variants ("books" vs "book") do not match, so recall can be a
 * little lower than TOFU's on the same text.
 *
 * Why not the installed `js-rouge` (3.2.3): it clips repeated n-gram counts correctly, but
 * (1) it returns only the F-score, not the recall TOFU reports; (2) its default tokenizer is
 * case-sensitive Penn-Treebank style and counts punctuation as tokens ("Paris, France." has
 * 4 tokens there, 2 here), which changes every score; (3) its ROUGE-L is the summary-level union
 * LCS over detected sentences (rougeLsum), so swapping two sentences scores 1.0 where rougeL
 * gives 4/7 in the test example; (4) it throws on an empty candidate, while an empty model
 * answer should score 0.
 * test/eval/rouge.test.ts demonstrates each difference.
 */
import { UserError } from '../util/errors.ts';

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
  /** Stemmer applied to tokens longer than 3 characters (rouge_score's rule); none by default. */
  stemmer?: (token: string) => string;
}

function assertText(name: string, s: unknown): asserts s is string {
  if (typeof s !== 'string') throw new UserError(`${name} must be a string, got ${s === null ? 'null' : typeof s}`);
}

/** rouge_score tokenization (see module doc). */
export function rougeTokenize(text: string, opts: RougeOptions = {}): string[] {
  assertText('rougeTokenize: text', text);
  let tokens = text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').split(/\s+/);
  const stem = opts.stemmer;
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
