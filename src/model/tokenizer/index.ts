/**
 * Tokenizers: from a GGUF's own vocabulary (`tokenizerFromGguf`: SentencePiece-style "llama" and
 * byte-level BPE "gpt2" with the pre-tokenizers of preTokenizers.ts, exact ports of llama.cpp's)
 * or from a Hugging Face tokenizer.json (`tokenizerFromHfJson`). All share the `Tokenizer` interface.
 */
import { type GgufFile } from '../gguf.ts';
import { BpeTokenizer } from './bpe.ts';
import { SpmTokenizer } from './spm.ts';
import type { Tokenizer } from './types.ts';
import { type GgufVocab, readGgufVocab } from './vocab.ts';

export type { DecodeOptions, EncodeOptions, Tokenizer } from './types.ts';
export { TokenType } from './types.ts';
export { tokenizerFromHfJson } from './hf.ts';
export { SpmTokenizer } from './spm.ts';
export { BpeTokenizer, gpt2PreTokenize } from './bpe.ts';
export { PRE_NAMES, PRE_TYPES, preTokenizer } from './preTokenizers.ts';
export { type GgufVocab, checkTokenizerKeys, readGgufVocab } from './vocab.ts';

/**
 * Build the tokenizer a GGUF model declares. Anything we do not implement (another
 * tokenizer.ggml.model or tokenizer.ggml.pre, a normaliser key) is refused with a UserError naming
 * the key and value before the vocabulary is read.
 */
export function tokenizerFromGguf(file: GgufFile): Tokenizer {
  return tokenizerFromVocab(readGgufVocab(file));
}

/** The tokenizer of an already-read vocabulary (`readGgufVocab`). */
export function tokenizerFromVocab(vocab: GgufVocab): Tokenizer {
  return vocab.model === 'llama' ? new SpmTokenizer(vocab) : new BpeTokenizer(vocab);
}
