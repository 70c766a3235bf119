/**
 * POST /tokenize and POST /detokenize in the shapes of llama.cpp's server (tools/server/README.md),
 * and the token pieces that the completions `logprobs` report.
 *
 *   POST /tokenize   { "content": "text", "add_special"?: false, "parse_special"?: true, "with_pieces"?: false }
 *                 -> { "tokens": [403, 407, ...] }
 *                 or { "tokens": [{ "id": 403, "piece": " Once" }, { "id": 198, "piece": [195] }, ...] }
 *   POST /detokenize { "tokens": [1, 403, 407] }
 *                 -> { "content": "<s> Once upon" }
 *
 * /tokenize is llama.cpp's `tokenize_mixed` for a string: the model's tokenizer (llama.cpp, through
 * node-llama-cpp), special-token text parsed unless `parse_special` is false, and with
 * `add_special` the BOS / EOS the vocabulary asks for (`tokenizer.ggml.add_bos_token` /
 * `add_eos_token`). A piece is llama.cpp's `token_to_piece(id, lstrip 0, special true)`: a string
 * when its bytes are valid UTF-8, else the list of byte values (llama.cpp's rule).
 *
 * /detokenize concatenates the pieces (special tokens as their text) and, where the vocabulary adds
 * a space in front of the text when tokenizing (`add_space_prefix`: SentencePiece vocabularies),
 * removes that one leading space, as llama.cpp's `llama_detokenize` does. So /detokenize of
 * /tokenize's ids gives the content back. llama.cpp's server concatenates the pieces without that
 * step (its /detokenize of "Once upon a time"'s ids is " Once upon a time" on a SentencePiece
 * vocabulary); and unlike `llama_detokenize` no `clean_spaces` rewriting is applied (GPT-2 style
 * vocabularies turn "a , b" into "a, b" there), which would also break the round trip.
 * Token ids out of the vocabulary are a 400 (llama.cpp's server does not check them).
 *
 * Pieces are computed from the GGUF vocabulary and llama.cpp's final token attributes, as
 * `token_to_piece` does for SentencePiece, WordPiece, Unigram and BPE vocabularies (BPE: GPT-2's
 * byte-to-character table reversed, or "\u2581" -> space for SentencePiece-style BPE). Other
 * vocabulary types (RWKV, PLaMo-2) take node-llama-cpp's detokenization of the single token.
 */
import type { FastifyInstance } from 'fastify';
import type { LlamaModel, Token } from 'node-llama-cpp';
import type { InferenceEngine } from '../engine.ts';
import { concatBytes } from '../../model/tokenizer/ggufTokenizer.ts';
import { detokenizeSchema, tokenizeSchema, type DetokenizeBody, type TokenizeBody } from '../schemas.ts';

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const utf8Lenient = new TextDecoder('utf-8');

/** GPT-2's bytes_to_unicode, reversed: printable character -> byte. */
const GPT2_CHAR_TO_BYTE: Map<number, number> = (() => {
  const m = new Map<number, number>();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    m.set(printable ? b : 256 + n++, b);
  }
  return m;
})();

/** BPE pre-tokenizers whose vocabularies write spaces as "\u2581" (llama.cpp's escape_whitespaces). */
const ESCAPED_BPE_PRE = new Set(['gemma4', 'granite-embed-multi-311m', 'sarvam-moe']);

interface VocabMeta {
  tokens?: string[];
  pre?: string;
  add_space_prefix?: boolean;
}

/** Token pieces of one model, computed once per token. */
export class TokenPieces {
  private readonly cache = new Map<number, Uint8Array>();
  private readonly texts: string[];
  private readonly type: string;
  private readonly pre: string;
  /** Whether tokenizing puts a space before the text (removed again by detokenizing). */
  readonly addSpacePrefix: boolean;

  private constructor(private readonly model: LlamaModel) {
    const md = (model.fileInfo.metadata as unknown as { tokenizer?: { ggml?: VocabMeta } } | undefined)?.tokenizer?.ggml ?? {};
    this.texts = md.tokens ?? [];
    this.type = String(model.vocabularyType);
    this.pre = md.pre ?? '';
    // llama.cpp: SentencePiece vocabularies default to true, the others to false; the GGUF key overrides.
    this.addSpacePrefix = md.add_space_prefix ?? this.type === 'spm';
  }

  private static readonly perModel = new WeakMap<LlamaModel, TokenPieces>();

  static of(model: LlamaModel): TokenPieces {
    let p = TokenPieces.perModel.get(model);
    if (!p) {
      p = new TokenPieces(model);
      TokenPieces.perModel.set(model, p);
    }
    return p;
  }

  /** Bytes of llama.cpp's `token_to_piece(id, lstrip 0, special true)`. The id must be valid. */
  bytes(id: Token): Uint8Array {
    let b = this.cache.get(id);
    if (b === undefined) {
      b = this.compute(id);
      this.cache.set(id, b);
    }
    return b;
  }

  private compute(id: Token): Uint8Array {
    const text = this.texts[id];
    if (text === undefined || !['spm', 'wpm', 'ugm', 'bpe'].includes(this.type)) {
      return utf8.encode(this.model.detokenize([id], true));
    }
    const a = this.model.getTokenAttributes(id);
    if (a.control || a.unknown || a.userDefined) return utf8.encode(text);
    if (a.normal) {
      if (this.type !== 'bpe' || ESCAPED_BPE_PRE.has(this.pre)) return utf8.encode(text.replaceAll('\u2581', ' '));
      const out: number[] = [];
      for (const ch of text) {
        const b = GPT2_CHAR_TO_BYTE.get(ch.codePointAt(0)!);
        if (b !== undefined) out.push(b);
        else {
          // llama.cpp's llama_decode_text writes "[UNK_BYTE_0x<hex>" + the token text + "]"
          const hex = [...utf8.encode(ch)].map((x) => x.toString(16).padStart(2, '0')).join('');
          out.push(...utf8.encode(`[UNK_BYTE_0x${hex}${text}]`));
        }
      }
      return Uint8Array.from(out);
    }
    if (a.byte) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
      return m ? Uint8Array.of(parseInt(m[1]!, 16)) : new Uint8Array(0);
    }
    return new Uint8Array(0); // unused / undefined tokens render as nothing
  }

  /** llama.cpp's piece: a string when valid UTF-8, else its byte values. */
  piece(id: Token): string | number[] {
    const b = this.bytes(id);
    try {
      return utf8Strict.decode(b);
    } catch {
      return [...b];
    }
  }

  /** The piece as a string (invalid UTF-8 becomes U+FFFD). */
  text(id: Token): string {
    return utf8Lenient.decode(this.bytes(id));
  }

  /** Text of a token sequence: the pieces concatenated, the tokenizer's space prefix removed (see module doc). */
  detokenize(ids: readonly Token[]): string {
    const parts = ids.map((id, i) => {
      const b = this.bytes(id);
      return i === 0 && this.addSpacePrefix && b[0] === 0x20 ? b.subarray(1) : b;
    });
    return utf8Lenient.decode(concatBytes(parts));
  }
}

/** Tokens of `text` as /tokenize makes them (see module doc). */
function tokenizeText(model: LlamaModel, text: string, addSpecial: boolean, parseSpecial: boolean): Token[] {
  const out: Token[] = [];
  const { bos, eos } = model.tokens;
  if (addSpecial && model.tokens.shouldPrependBosToken && bos !== null) out.push(bos);
  for (const t of model.tokenize(text, parseSpecial)) out.push(t);
  if (addSpecial && model.tokens.shouldAppendEosToken && eos !== null) out.push(eos);
  return out;
}

export function registerTokenizeRoutes(app: FastifyInstance, deps: { engine: InferenceEngine }): void {
  const { engine } = deps;

  app.post('/tokenize', { schema: { body: tokenizeSchema } }, async (request) => {
    const body = request.body as TokenizeBody;
    const tokens = tokenizeText(engine.model, body.content, body.add_special ?? false, body.parse_special ?? true);
    if (!body.with_pieces) return { tokens };
    const pieces = TokenPieces.of(engine.model);
    return { tokens: tokens.map((id) => ({ id, piece: pieces.piece(id) })) };
  });

  app.post('/detokenize', { schema: { body: detokenizeSchema } }, async (request) => {
    const body = request.body as DetokenizeBody;
    const ids = engine.checkTokenIds(body.tokens, 'tokens');
    return { content: TokenPieces.of(engine.model).detokenize(ids) };
  });
}
