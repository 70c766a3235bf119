/**
 * Train a SentencePiece-style BPE vocabulary whose segmentation llama.cpp's "llama" (SPM) tokenizer
 * reproduces exactly (`llm_tokenizer_spm_session` in llama.cpp src/llama-vocab.cpp, ported in
 * `spm.ts`).
 *
 * How llama.cpp encodes: the text gets a leading space (add_space_prefix), every ' ' becomes
 * "▁" (U+2581), the text is split into characters, and then, repeatedly, the adjacent pair of
 * symbols whose *concatenated text* is a vocabulary piece with the highest score is merged (ties:
 * leftmost), until no adjacent pair forms a piece. Symbols that are not pieces fall back to
 * <0xXX> byte tokens.
 *
 * Training is BPE (Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword
 * Units"; SentencePiece's BPE trainer, Kudo & Richardson 2018) over word frequencies with
 * incremental pair counts: the most frequent adjacent pair (a, b) becomes the piece P = a + b with
 * a score below every earlier piece (score of merge k is -k), and the words containing (a, b) are
 * re-segmented by llama.cpp's own greedy loop, continued from their current symbols. That is exact:
 * the current segmentation is llama.cpp's with the old vocabulary, where no adjacent pair spells a
 * piece; P scores lowest, so its pairs fire last and nothing else changes. The loop ends up merging
 * the occurrences of (a, b) left to right, as textbook BPE does, because (i) SPM segments a stretch
 * between two final symbol boundaries as it would segment that stretch alone, so every adjacent
 * pair spelling P is split a | b, and (ii) every piece encodes to itself, so no older piece can form
 * around a new P. Only the words indexed under (a, b) are visited. The learned segmentation of every
 * training word is therefore llama.cpp's tokenization of it, and `stats.corpusTokens` equals the
 * token count llama.cpp gives the corpus.
 *
 * Pieces follow SentencePiece's validity rules (split_by_whitespace, split_by_unicode_script
 * simplified to character classes, split_by_number, max_sentencepiece_length): an optional leading
 * "▁" then characters of one class: letters (\p{L}\p{M}), digits (\p{N}) or punctuation/symbols
 * (\p{P}\p{S}); other characters (whitespace other than ' ', format characters, ...) stay single;
 * control characters (\n, \t, ...) are not pieces and go to byte fallback, as in LLaMA's tokenizer.
 * So no piece spans a word boundary, words can be trained independently, and no merged piece can
 * spell a control or byte token ("<s>", "<0x41>" mix classes).
 *
 * Vocabulary layout: 0 <unk> (UNKNOWN), 1 <s> and 2 </s> (CONTROL), 3..258 <0x00>..<0xFF> (BYTE),
 * then the corpus's characters (259 is "▁", then most frequent first), then the merged pieces in
 * merge order.
 */
import type { GgufTypeHint, GgufValue } from '../gguf.ts';
import { UserError } from '../../util/errors.ts';
import { PriorityQueue } from './heap.ts';
import { TokenType } from './types.ts';
import { utf8Encoder } from './vocab.ts';

export interface SpmTrainOptions {
  /** Total vocabulary size including <unk>, <s>, </s> and the 256 byte tokens (so at least 260). */
  vocabSize: number;
  /**
   * Changes only which of several equally frequent pairs is merged first (0, the default: the pair
   * of lowest piece ids). Training is deterministic for a given corpus, options and seed.
   */
  seed?: number;
  /** A pair seen fewer times than this is never merged (default 2); training may then stop early. */
  minFrequency?: number;
  /** Longest piece in characters (code points), counting the "▁" (default 16, as SentencePiece). */
  maxPieceLength?: number;
}

export interface SpmTrainStats {
  /** Characters (code points) in the corpus, before the space prefix. */
  corpusChars: number;
  /** Distinct trainable words (runs of at least two in-vocabulary characters). */
  wordTypes: number;
  /** Single-character pieces in the vocabulary. */
  characters: number;
  /** Merged pieces learned. */
  merges: number;
  /** Tokens of the learned segmentation of the whole corpus (each text encoded alone, no BOS). */
  corpusTokens: number;
  /** Wall-clock training time in milliseconds. */
  trainMs: number;
}

/** A trained vocabulary, ready for `spmVocabMetadata`. Index = token id. */
export interface SpmVocabSpec {
  tokens: string[];
  scores: number[];
  /** llama.cpp token types (TokenType: NORMAL 1, UNKNOWN 2, CONTROL 3, BYTE 6). */
  types: number[];
  unk: number;
  bos: number;
  eos: number;
  stats: SpmTrainStats;
}

/** "▁", llama.cpp's escaped space. */
const SPM_SPACE = '\u2581';
/** <unk>, <s>, </s> and the 256 byte tokens come before any learned piece. */
const SPM_RESERVED = 3 + 256;

const MARK = 0;
const LETTER = 1;
const DIGIT = 2;
const OTHER = 3;
/** A character piece that never merges (whitespace other than ' ', format characters, ...). */
const ISOLATED = 4;
/** Not a piece at all: byte fallback (control characters, lone surrogates). */
const EXCLUDED = 5;

const classCache = new Map<number, number>();
function charClass(cp: number): number {
  let c = classCache.get(cp);
  if (c !== undefined) return c;
  const ch = String.fromCodePoint(cp);
  if (cp === 0x2581) c = MARK;
  else if (/[\p{L}\p{M}]/u.test(ch)) c = LETTER;
  else if (/\p{N}/u.test(ch)) c = DIGIT;
  else if (/[\p{P}\p{S}]/u.test(ch)) c = OTHER;
  else if (/[\p{Cc}\p{Cs}]/u.test(ch)) c = EXCLUDED;
  else c = ISOLATED;
  classCache.set(cp, c);
  return c;
}

/**
 * Split one corpus text, escaped as llama.cpp escapes it ("▁" prefix, ' ' -> "▁"), into words that
 * no vocabulary piece can straddle: "▁"? + a run of one character class. Isolated and excluded
 * characters come out as one-character words.
 */
function splitWords(text: string, emit: (word: string) => void): void {
  const s = SPM_SPACE + text.replaceAll(' ', SPM_SPACE);
  let start = 0;
  let cls = -1; // class of the current word's run; MARK while it is a lone "▁"; -1 when none is open
  let i = 0;
  while (i < s.length) {
    const cp = s.codePointAt(i)!;
    const w = cp > 0xffff ? 2 : 1;
    const k = charClass(cp);
    if (k === MARK) {
      if (cls !== -1) emit(s.slice(start, i));
      start = i;
      cls = MARK;
    } else if (k === LETTER || k === DIGIT || k === OTHER) {
      if (cls !== -1 && cls !== MARK && cls !== k) {
        emit(s.slice(start, i));
        start = i;
      } else if (cls === -1) start = i;
      cls = k;
    } else {
      if (cls !== -1) emit(s.slice(start, i));
      emit(s.slice(i, i + w));
      cls = -1;
    }
    i += w;
  }
  if (cls !== -1) emit(s.slice(start));
}

interface HeapEntry {
  count: number;
  tie: number;
  key: number;
}

const KEY_BASE = 1 << 20; // piece ids < 2^20, so key = a * 2^20 + b is an exact double
const pairKey = (a: number, b: number): number => a * KEY_BASE + b;

/** A 32-bit integer hash (murmur3 finaliser) of a pair key and the seed, for seeded tie-breaking. */
function tieHash(key: number, seed: number): number {
  let h = Math.imul(Math.floor(key / KEY_BASE), 0x9e3779b1) ^ (key % KEY_BASE) ^ Math.imul(seed, 0x85ebca6b);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new UserError(`trainSpmVocab: ${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

/**
 * Learn a SentencePiece-style BPE vocabulary of (at most) `vocabSize` tokens from `corpus` (each
 * string is tokenized on its own, as llama.cpp tokenizes one prompt). Fewer tokens result when no
 * pair is seen `minFrequency` times any more; read the size from `tokens.length`.
 */
export function trainSpmVocab(corpus: string[], opts: SpmTrainOptions): SpmVocabSpec {
  const t0 = performance.now();
  if (!Array.isArray(corpus) || corpus.some((s) => typeof s !== 'string')) {
    throw new UserError('trainSpmVocab: the corpus must be an array of strings');
  }
  const vocabSize = checkInt('vocabSize', opts.vocabSize, SPM_RESERVED + 1, KEY_BASE - 1);
  const seed = checkInt('seed', opts.seed ?? 0, -(2 ** 31), 2 ** 32 - 1) | 0;
  const minFrequency = checkInt('minFrequency', opts.minFrequency ?? 2, 1, Number.MAX_SAFE_INTEGER);
  const maxLen = checkInt('maxPieceLength', opts.maxPieceLength ?? 16, 2, 1024);
  const budget = vocabSize - SPM_RESERVED;

  // 1. word frequencies (llama.cpp skips empty texts: no space prefix, no tokens)
  const wordFreq = new Map<string, number>();
  let corpusChars = 0;
  for (const text of corpus) {
    if (text.length === 0) continue;
    for (const _ of text) corpusChars++;
    splitWords(text, (w) => wordFreq.set(w, (wordFreq.get(w) ?? 0) + 1));
  }
  if (wordFreq.size === 0) throw new UserError('trainSpmVocab: the corpus is empty');

  // 2. characters: "▁" first, then every other non-control character seen, most frequent first
  //    (ties: lower code point); if they do not all fit, the rarest fall back to bytes
  const charFreq = new Map<number, number>();
  for (const [w, f] of wordFreq) {
    for (const ch of w) {
      const cp = ch.codePointAt(0)!;
      if (charClass(cp) !== EXCLUDED) charFreq.set(cp, (charFreq.get(cp) ?? 0) + f);
    }
  }
  const first = (cp: number): number => (cp === 0x2581 ? 0 : 1);
  const chars = [...charFreq.entries()].sort((x, y) => first(x[0]) - first(y[0]) || y[1] - x[1] || x[0] - y[0]).slice(0, budget).map(([cp]) => cp);
  const pieces: string[] = chars.map((cp) => String.fromCodePoint(cp));
  const pieceLen: number[] = pieces.map(() => 1);
  const pieceId = new Map<string, number>(pieces.map((p, i) => [p, i]));
  const C = pieces.length;
  /** Merge rank of a piece: its index in merge order (lower = higher score); chars never merge-rank. */
  const rank = (id: number): number => (id >= C ? id - C : Infinity);

  // 3. training words: runs of >= 2 in-vocabulary characters (a character outside the vocabulary
  //    is a byte-fallback barrier); everything else only counts towards corpusTokens
  let corpusTokens = 0;
  const wordIndex = new Map<string, number>();
  const words: number[][] = [];
  const freqs: number[] = [];
  const addRun = (run: number[], f: number): void => {
    if (run.length < 2) {
      corpusTokens += run.length * f;
      return;
    }
    const k = run.join(',');
    const wi = wordIndex.get(k);
    if (wi !== undefined) freqs[wi]! += f;
    else {
      wordIndex.set(k, words.length);
      words.push(run);
      freqs.push(f);
    }
  };
  for (const [w, f] of wordFreq) {
    let run: number[] = [];
    for (const ch of w) {
      const id = pieceId.get(ch);
      if (id !== undefined) {
        run.push(id);
        continue;
      }
      addRun(run, f);
      run = [];
      corpusTokens += utf8Encoder.encode(ch).length * f;
    }
    addRun(run, f);
  }
  wordIndex.clear();
  wordFreq.clear();

  // 4. pair counts, the words each pair occurs in, and a lazy max-heap over counts
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const fits = (a: number, b: number): boolean => pieceLen[a]! + pieceLen[b]! <= maxLen;
  const addPairs = (wi: number, syms: readonly number[], sign: 1 | -1, touched: Set<number>): void => {
    const f = freqs[wi]! * sign;
    for (let i = 0; i + 1 < syms.length; i++) {
      const a = syms[i]!;
      const b = syms[i + 1]!;
      if (!fits(a, b)) continue;
      const k = pairKey(a, b);
      pairCount.set(k, (pairCount.get(k) ?? 0) + f);
      touched.add(k);
      if (sign > 0) {
        let set = pairWords.get(k);
        if (!set) pairWords.set(k, (set = new Set()));
        set.add(wi);
      }
    }
  };
  const tieOf = (k: number): number => (seed === 0 ? 0 : tieHash(k, seed));
  const heap = new PriorityQueue<HeapEntry>(
    (x, y) => x.count < y.count || (x.count === y.count && (x.tie > y.tie || (x.tie === y.tie && x.key > y.key))),
  );
  const pushTouched = (touched: Set<number>): void => {
    for (const k of touched) {
      const c = pairCount.get(k) ?? 0;
      if (c > 0) heap.push({ count: c, tie: tieOf(k), key: k });
      else {
        pairCount.delete(k);
        pairWords.delete(k);
      }
    }
  };
  const initial = new Set<number>();
  words.forEach((syms, wi) => addPairs(wi, syms, 1, initial));
  pushTouched(initial);

  /**
   * llama.cpp's SPM loop continued from the current symbols: merge the adjacent pair whose text is
   * the highest-scoring (lowest-rank) piece, leftmost first, until none is left. In place.
   */
  const pairRank = (a: number, b: number): [number, number] => {
    if (!fits(a, b)) return [Infinity, -1];
    const id = pieceId.get(pieces[a]! + pieces[b]!);
    return id === undefined ? [Infinity, -1] : [rank(id), id];
  };
  const resegment = (syms: number[]): boolean => {
    const pr: number[] = [];
    const pid: number[] = [];
    for (let i = 0; i + 1 < syms.length; i++) {
      const [r, id] = pairRank(syms[i]!, syms[i + 1]!);
      pr.push(r);
      pid.push(id);
    }
    let changed = false;
    for (;;) {
      let best = -1;
      for (let i = 0; i < pr.length; i++) if (pr[i]! < (best < 0 ? Infinity : pr[best]!)) best = i;
      if (best < 0) return changed;
      changed = true;
      syms.splice(best, 2, pid[best]!);
      pr.splice(best, 1);
      pid.splice(best, 1);
      if (best > 0) [pr[best - 1], pid[best - 1]] = pairRank(syms[best - 1]!, syms[best]!);
      if (best < pr.length) [pr[best], pid[best]] = pairRank(syms[best]!, syms[best + 1]!);
    }
  };

  // 5. merges
  let merges = 0;
  while (pieces.length < budget) {
    let top: HeapEntry | undefined;
    while ((top = heap.pop()) !== undefined && pairCount.get(top.key) !== top.count);
    if (top === undefined || top.count < minFrequency) break;
    const a = Math.floor(top.key / KEY_BASE);
    const b = top.key % KEY_BASE;
    const P = pieces[a]! + pieces[b]!;
    const id = pieces.length;
    pieces.push(P);
    pieceLen.push(pieceLen[a]! + pieceLen[b]!);
    pieceId.set(P, id);
    merges++;

    // the words with an adjacent pair spelling P are exactly those with the pair (a, b) (see top)
    const affected = [...(pairWords.get(top.key) ?? [])];
    const touched = new Set<number>();
    for (const wi of affected) {
      const syms = words[wi]!;
      const old = syms.slice();
      if (!resegment(syms)) continue;
      addPairs(wi, old, -1, touched);
      addPairs(wi, syms, 1, touched);
      const now = new Set<number>();
      for (let i = 0; i + 1 < syms.length; i++) now.add(pairKey(syms[i]!, syms[i + 1]!));
      for (let i = 0; i + 1 < old.length; i++) {
        const k = pairKey(old[i]!, old[i + 1]!);
        if (!now.has(k)) pairWords.get(k)?.delete(wi);
      }
    }
    pushTouched(touched);
    if (pairCount.has(top.key)) throw new Error(`trainSpmVocab: internal error: pair '${P}' survived its merge`);
  }

  for (let wi = 0; wi < words.length; wi++) corpusTokens += words[wi]!.length * freqs[wi]!;

  // 6. the vocabulary: reserved tokens, characters, merged pieces (score of merge k: -k; characters
  //    score below every merge, as in SentencePiece; llama.cpp never compares single characters)
  const hex = (b: number): string => b.toString(16).toUpperCase().padStart(2, '0');
  const tokens = ['<unk>', '<s>', '</s>'];
  const types: number[] = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${hex(b)}>`);
    types.push(TokenType.BYTE);
  }
  const scores = tokens.map(() => 0);
  for (let i = 0; i < pieces.length; i++) {
    tokens.push(pieces[i]!);
    types.push(TokenType.NORMAL);
    scores.push(i < C ? -(merges + i) : -(i - C));
  }
  if (new Set(tokens).size !== tokens.length) throw new Error('trainSpmVocab: internal error: duplicate token text');

  return {
    tokens,
    scores,
    types,
    unk: 0,
    bos: 1,
    eos: 2,
    stats: { corpusChars, wordTypes: words.length, characters: C, merges, corpusTokens, trainMs: performance.now() - t0 },
  };
}

/**
 * The `tokenizer.ggml.*` GGUF metadata of a trained vocabulary, as llama.cpp's "llama" (SPM)
 * vocabulary loader reads it (and as convert_hf_to_gguf.py writes a SentencePiece model), with
 * explicit GGUF types, ready for `writeGguf({ metadata: [...spmVocabMetadata(spec), ...] })`.
 */
export function spmVocabMetadata(spec: SpmVocabSpec): Array<[string, GgufValue, GgufTypeHint]> {
  const n = spec.tokens.length;
  if (spec.scores.length !== n || spec.types.length !== n) {
    throw new UserError(`spmVocabMetadata: ${n} tokens but ${spec.scores.length} scores and ${spec.types.length} token types`);
  }
  for (const [name, id] of [['unk', spec.unk], ['bos', spec.bos], ['eos', spec.eos]] as const) {
    if (!Number.isInteger(id) || id < 0 || id >= n) throw new UserError(`spmVocabMetadata: ${name} id ${id} is not a token id`);
  }
  return [
    ['tokenizer.ggml.model', 'llama', 'string'],
    ['tokenizer.ggml.pre', 'default', 'string'],
    ['tokenizer.ggml.tokens', [...spec.tokens], 'array<string>'],
    ['tokenizer.ggml.scores', [...spec.scores], 'array<float32>'],
    ['tokenizer.ggml.token_type', [...spec.types], 'array<int32>'],
    ['tokenizer.ggml.unknown_token_id', spec.unk, 'uint32'],
    ['tokenizer.ggml.bos_token_id', spec.bos, 'uint32'],
    ['tokenizer.ggml.eos_token_id', spec.eos, 'uint32'],
    ['tokenizer.ggml.add_bos_token', true, 'bool'],
    ['tokenizer.ggml.add_eos_token', false, 'bool'],
    ['tokenizer.ggml.add_space_prefix', true, 'bool'],
    ['tokenizer.ggml.remove_extra_whitespaces', false, 'bool'],
  ];
}
