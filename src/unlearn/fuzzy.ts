/**
 * Fuzzy-matching removal (docs/methods.md#removal-strategies): a removal request in plain words ("forget
 * everything about Dave Harrowgate") selects the training items to unlearn by similarity, and the
 * selection is scored against the true forget set (precision, recall, which decoys it caught).
 *
 * Similarity: TF-IDF vectors (Salton and Buckley 1988) over word tokens (lower-cased alphanumeric
 * runs; English stop words and request words such as "forget", "everything", "about" removed),
 * idf(w) = ln((1 + N) / (1 + df(w))) + 1 over the N candidate items (scikit-learn's smoothed idf),
 * tf = raw counts, the request's vector q L2-normalised. Two scores:
 *   coverage (default): sum of q_w^2 over the request features w the item contains, i.e. the share
 *     of the request's TF-IDF weight found in the item (1 = it mentions everything the request
 *     names). It does not depend on the item's length;
 *   cosine: cosine(q, item vector), the textbook score. Its division by the item's norm makes long
 *     items score lower than short ones with the same match: on the Dave set the true items spread
 *     over 0.26..0.51 for "Dave Harrowgate" while decoys reach 0.19, so any threshold is fragile.
 * Character n-grams of each word (`charNgrams`, default 3, with boundary marks: "<da", "dav",
 * "ave", "ve>") are added to the word features, so a misspelt name still matches: "Dave Harowgate"
 * selects exactly Dave Harrowgate's 113 items, while with words only the unknown "harowgate" carries
 * no weight and the request degrades to "Dave" (near names match partly: "Dave" vs "Davy" share
 * "<da", "dav").
 *
 * Selection: items whose score is at least `relative` x the best item's score (default 0.75) and at
 * least `minScore`, or the `topK` best. A request naming a person matches that person's items on
 * every name token, while items of a decoy who shares one name token match only partly; how many
 * decoys a request catches is exactly what the report shows (a request of just "Dave" catches the
 * decoys named Dave: that is the honest answer for an ambiguous request).
 */
import { UserError } from '../util/errors.ts';

export const STOP_WORDS = new Set(
  (
    'a an and are as at be by for from has have he her his i in is it its me my of on or our she that the their them they this to was were will with you your ' +
    'what which who whom whose when where why how did does do done any all every each some ' +
    // request words
    'forget forgets forgetting remove removal erase delete unlearn unlearning everything anything something about regarding concerning related relating ' +
    'information info data facts fact things thing mention mentions mentioning mentioned please want need model knows know learned learnt trained training ' +
    'person people named called'
  ).split(/\s+/),
);

export function words(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 1 && !STOP_WORDS.has(w));
}

function features(text: string, charNgrams: number): string[] {
  const ws = words(text);
  if (charNgrams <= 0) return ws;
  const out = [...ws];
  for (const w of ws) {
    const m = `<${w}>`;
    for (let i = 0; i + charNgrams <= m.length; i++) out.push(`#${m.slice(i, i + charNgrams)}`);
  }
  return out;
}

export interface FuzzyOptions {
  /** Keep items scoring >= relative * best score (default 0.5). */
  relative?: number;
  /** And >= this absolute cosine (default 0.05). */
  minScore?: number;
  /** Instead: the k best items. */
  topK?: number;
  /** Character n-gram size added to the word features (default 3; 0 = words only). */
  charNgrams?: number;
  /** 'coverage' (default) or 'cosine' (see the module comment). */
  scoring?: 'coverage' | 'cosine';
}

export interface FuzzyScore {
  id: string;
  score: number;
  selected: boolean;
}

export interface FuzzySelection {
  request: string;
  /** Request tokens that carry weight (after stop words). */
  terms: string[];
  /** Every candidate with its score, best first. */
  scores: FuzzyScore[];
  selected: string[];
  threshold: number;
  options: Required<Omit<FuzzyOptions, 'topK'>> & { topK: number | null };
}

function vectorize(tf: Map<string, number>, idf: Map<string, number>): Map<string, number> {
  const v = new Map<string, number>();
  let norm = 0;
  for (const [w, c] of tf) {
    const x = c * (idf.get(w) ?? 0);
    if (x === 0) continue;
    v.set(w, x);
    norm += x * x;
  }
  norm = Math.sqrt(norm);
  if (norm > 0) for (const [w, x] of v) v.set(w, x / norm);
  return v;
}

function counts(tokens: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of tokens) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
}

/** Score `items` against a removal request and select the matches (see the module comment). */
export function fuzzySelect(request: string, items: Array<{ id: string; text: string }>, o: FuzzyOptions = {}): FuzzySelection {
  const opts = {
    relative: o.relative ?? 0.75,
    minScore: o.minScore ?? 0.05,
    charNgrams: o.charNgrams ?? 3,
    scoring: o.scoring ?? 'coverage',
    topK: o.topK ?? null,
  };
  if (opts.scoring !== 'coverage' && opts.scoring !== 'cosine') throw new UserError(`fuzzy scoring must be coverage or cosine, got '${String(opts.scoring)}'`);
  if (!(opts.relative >= 0 && opts.relative <= 1)) throw new UserError(`fuzzy --relative must lie in [0, 1], got ${opts.relative}`);
  if (opts.topK !== null && (!Number.isInteger(opts.topK) || opts.topK < 1)) throw new UserError(`fuzzy --top-k must be a positive integer, got ${opts.topK}`);
  if (items.length === 0) throw new UserError('fuzzy matching: no training items to select from');
  const terms = words(request);
  if (terms.length === 0) throw new UserError(`the request "${request}" names nothing to match (only stop words); say whom or what to forget, e.g. "forget everything about Dave Harrowgate"`);
  const docs = items.map((it) => counts(features(it.text, opts.charNgrams)));
  const df = new Map<string, number>();
  for (const d of docs) for (const w of d.keys()) df.set(w, (df.get(w) ?? 0) + 1);
  const N = docs.length;
  const idf = new Map<string, number>();
  for (const [w, n] of df) idf.set(w, Math.log((1 + N) / (1 + n)) + 1);
  const q = vectorize(counts(features(request, opts.charNgrams)), idf);
  if (q.size === 0) throw new UserError(`no word of the request "${request}" occurs in the training items (${terms.join(', ')})`);
  const scored = items.map((it, i) => {
    let s = 0;
    if (opts.scoring === 'cosine') {
      const v = vectorize(docs[i]!, idf);
      for (const [w, x] of q) s += x * (v.get(w) ?? 0);
    } else {
      for (const [w, x] of q) if (docs[i]!.has(w)) s += x * x;
    }
    return { id: it.id, score: s, selected: false };
  });
  // An item is a candidate only when it names one of the request's words, exactly or nearly
  // (nearMatch); n-grams scattered over unrelated words ("plorb" vs "Norbury") select nothing.
  const itemWords = items.map((it) => new Set(words(it.text)));
  const named = new Set(items.filter((_, i) => terms.some((t) => itemWords[i]!.has(t) || (opts.charNgrams > 0 && [...itemWords[i]!].some((w) => nearMatch(t, w, opts.charNgrams))))).map((it) => it.id));
  if (named.size === 0) {
    throw new UserError(`the request "${request}" matches no training item: none of its words (${terms.join(', ')}) occurs in them, even misspelt; nothing was selected`);
  }
  for (const s of scored) if (!named.has(s.id)) s.score = 0;
  scored.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
  const best = scored[0]!.score;
  let threshold: number;
  if (opts.topK !== null) {
    threshold = scored[Math.min(opts.topK, scored.length) - 1]!.score;
    scored.forEach((s, i) => (s.selected = i < opts.topK! && s.score > 0));
  } else {
    threshold = Math.max(opts.minScore, opts.relative * best);
    for (const s of scored) s.selected = s.score >= threshold && s.score > 0;
  }
  return { request, terms, scores: scored, selected: scored.filter((s) => s.selected).map((s) => s.id), threshold, options: opts };
}

/**
 * True when `word` is `term` misspelt: the Dice coefficient of their character n-gram sets (with
 * boundary marks) is >= 0.5 ("harowgate" vs "harrowgate": 0.84; "plorb" vs "norbury": 0.17).
 */
function nearMatch(term: string, word: string, n: number): boolean {
  const grams = (w: string) => {
    const m = `<${w}>`;
    const g = new Set<string>();
    for (let i = 0; i + n <= m.length; i++) g.add(m.slice(i, i + n));
    return g;
  };
  const a = grams(term);
  const b = grams(word);
  if (a.size === 0 || b.size === 0) return false;
  let common = 0;
  for (const x of a) if (b.has(x)) common++;
  return (2 * common) / (a.size + b.size) >= 0.5;
}

export interface FuzzyReport {
  selected: number;
  /** Size of the true forget set the selection is scored against. */
  truth: number;
  truePositives: number;
  /** NaN (JSON null) when there is no true forget set to score against (`note` says so). */
  precision: number;
  recall: number;
  f1: number;
  /** Why precision / recall are not computed, when they are not. */
  note?: string;
  /** Selected items that are not in the true forget set (with their score, and whom a decoy imitates). */
  falsePositives: Array<{ id: string; score: number; decoyOf?: string; person?: string }>;
  /** True forget items that were not selected. */
  missed: Array<{ id: string; score: number }>;
  /** Decoys among the candidates, caught or not. */
  decoys: { total: number; caught: number; caughtIds: string[] };
}

/**
 * Precision / recall of a selection against the true forget ids (the dataset's forget split among
 * the training items); decoys are candidates with `decoyOf`. With no true forget ids (a dataset
 * without a forget split) there is nothing to score against: precision, recall and F1 are NaN and
 * `note` says why (0 would claim the selection was wrong).
 */
export function fuzzyReport(sel: FuzzySelection, trueForget: Iterable<string>, info: Map<string, { decoyOf?: string; person?: string }> = new Map()): FuzzyReport {
  const truth = new Set(trueForget);
  const byId = new Map(sel.scores.map((s) => [s.id, s]));
  const chosen = new Set(sel.selected);
  const tp = sel.selected.filter((id) => truth.has(id)).length;
  const precision = truth.size === 0 ? NaN : chosen.size ? tp / chosen.size : 0;
  const recall = truth.size ? tp / truth.size : NaN;
  const decoyIds = sel.scores.filter((s) => info.get(s.id)?.decoyOf).map((s) => s.id);
  const caughtIds = decoyIds.filter((id) => chosen.has(id));
  return {
    selected: chosen.size,
    truth: truth.size,
    truePositives: tp,
    precision,
    recall,
    f1: truth.size === 0 ? NaN : precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0,
    ...(truth.size === 0 ? { note: 'no true forget set to score the selection against (the dataset has no forget split among the trained items)' } : {}),
    falsePositives: sel.selected.filter((id) => !truth.has(id)).map((id) => ({ id, score: byId.get(id)!.score, ...info.get(id) })),
    missed: [...truth].filter((id) => !chosen.has(id)).map((id) => ({ id, score: byId.get(id)?.score ?? 0 })),
    decoys: { total: decoyIds.length, caught: caughtIds.length, caughtIds },
  };
}
