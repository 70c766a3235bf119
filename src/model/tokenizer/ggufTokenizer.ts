/**
 * What the two GGUF-vocabulary tokenizers (spm.ts, bpe.ts) share, as llama.cpp's tokenizer
 * sessions share it (src/llama-vocab.cpp): the special tokens and their add_bos / add_eos flags,
 * the encode skeleton (BOS, then special-token fragments and raw-text fragments, then EOS), the
 * doubly linked symbol list and the bigram merge loop (`llm_symbol` / `llm_bigram_*`), and the
 * concatenation of decoded pieces.
 */
import { type GgufVocab, partitionSpecial } from './vocab.ts';
import { wellFormed } from './unicode.ts';
import type { BigramHeap } from './heap.ts';
import type { DecodeOptions, EncodeOptions, Tokenizer } from './types.ts';
import { UserError } from '../../util/errors.ts';

/** Base of the GGUF tokenizers: fields from the vocabulary and `encode` around `encodeText`. */
export abstract class GgufTokenizer implements Tokenizer {
  abstract readonly kind: 'llama' | 'gpt2';
  readonly vocabSize: number;
  readonly bos: number;
  readonly eos: number;
  readonly addBosDefault: boolean;
  readonly addEosDefault: boolean;

  constructor(protected readonly vocab: GgufVocab) {
    this.vocabSize = vocab.tokens.length;
    this.bos = vocab.bos;
    this.eos = vocab.eos;
    // as llama.cpp's callers see it (node-llama-cpp's shouldPrependBosToken): only with a BOS token
    this.addBosDefault = vocab.addBos && vocab.bos >= 0;
    this.addEosDefault = vocab.addEos && vocab.eos >= 0;
  }

  tokenText(id: number): string {
    const t = this.vocab.tokens[id];
    if (t === undefined) throw this.outOfRange(id);
    return t;
  }

  /** The error for a token id outside the vocabulary. */
  protected outOfRange(id: number): UserError {
    return new UserError(`token id ${id} is out of range (vocabulary has ${this.vocabSize} tokens)`);
  }

  /**
   * BOS when asked, then each fragment of the (well-formed) text: special tokens as themselves
   * (with `parseSpecial`; user-defined tokens always), raw text through `encodeText`; EOS when asked.
   */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (opts.addBos && this.bos >= 0) out.push(this.bos);
    let afterSpecial = true; // the first fragment counts as following a special token
    for (const frag of partitionSpecial(this.vocab, wellFormed(text), opts.parseSpecial ?? false)) {
      if ('token' in frag) {
        out.push(frag.token);
        afterSpecial = true;
        continue;
      }
      this.encodeText(frag.text, afterSpecial, out);
      afterSpecial = false;
    }
    if (opts.addEos && this.eos >= 0) out.push(this.eos);
    return out;
  }

  /** Append the tokens of one raw-text fragment; `afterSpecial`: it starts the text or follows a special token. */
  protected abstract encodeText(text: string, afterSpecial: boolean, out: number[]): void;

  abstract decode(ids: readonly number[], opts?: DecodeOptions): string;
}

/** n symbols linked in order: prev[i] = i - 1 and next[i] = i + 1, -1 past either end. */
export function linkSymbols(n: number): { prev: Int32Array; next: Int32Array } {
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  return { prev, next };
}

/**
 * The merge loop of llama.cpp's SPM and BPE sessions: pop the best queued pair (l, r); skip it when
 * outdated (either side merged away, or their total length changed since it was queued: sides only
 * grow, so that is llama.cpp's text comparison); else merge r into l (`join(l, r)` first, for
 * callers that keep the symbols' text), unlink r and queue l's new pairs with `tryAdd`.
 */
export function mergeBigrams(
  q: BigramHeap,
  len: Int32Array,
  prev: Int32Array,
  next: Int32Array,
  tryAdd: (left: number, right: number) => void,
  join?: (left: number, right: number) => void,
): void {
  for (let b = q.pop(); b !== -1; b = q.pop()) {
    const l = q.left[b]!;
    const r = q.right[b]!;
    if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== q.size[b]) continue; // outdated
    join?.(l, r);
    len[l] = len[l]! + len[r]!;
    len[r] = 0;
    next[l] = next[r]!;
    if (next[r]! >= 0) prev[next[r]!] = l;
    tryAdd(prev[l]!, l);
    tryAdd(l, next[l]!);
  }
}

/** The byte strings concatenated into one array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const all = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return all;
}
