/** The one tokenizer interface every model in unlearnkit uses (GGUF vocabularies and HF tokenizer.json). */

export interface EncodeOptions {
  /** Prepend the BOS token (when the tokenizer has one). Default false; see `addBosDefault`. */
  addBos?: boolean;
  /** Append the EOS token (when the tokenizer has one). Default false. */
  addEos?: boolean;
  /**
   * Turn the text of control tokens (e.g. `<s>`, `<|endoftext|>`) into those tokens instead of
   * tokenizing it as plain text. Default false (llama.cpp's `parse_special`). User-defined tokens
   * are always matched, as llama.cpp and HF tokenizers do.
   */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Render control tokens (BOS, EOS, ...) as their text. Default false: they are dropped. */
  special?: boolean;
}

export interface Tokenizer {
  /** Which implementation: 'llama' (SentencePiece-style, llama.cpp SPM), 'gpt2' (byte-level BPE), 'hf'. */
  readonly kind: 'llama' | 'gpt2' | 'hf';
  readonly vocabSize: number;
  /** BOS token id, or -1 when the vocabulary has none (llama.cpp's LLAMA_TOKEN_NULL). */
  readonly bos: number;
  /** EOS token id, or -1 when none. */
  readonly eos: number;
  /** Whether the model expects a BOS at the start of a sequence (tokenizer.ggml.add_bos_token). */
  readonly addBosDefault: boolean;
  /**
   * Whether the model expects an EOS at the end (tokenizer.ggml.add_eos_token; llama.cpp appends
   * it when tokenizing with add_special). Absent means false.
   */
  readonly addEosDefault?: boolean;
  encode(text: string, opts?: EncodeOptions): number[];
  /** Text of a token sequence. Inverse of `encode` for text without control tokens. */
  decode(ids: readonly number[], opts?: DecodeOptions): string;
  /** The raw vocabulary entry of a token (e.g. "▁Hello", "Ġworld", "<0x0A>"). */
  tokenText(id: number): string;
}

/** llama.cpp token types (tokenizer.ggml.token_type). */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;
