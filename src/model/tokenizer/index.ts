/**
 * Tokenizers: from a GGUF's own vocabulary (`tokenizerFromGguf`: SentencePiece-style "llama" and
 * byte-level BPE "gpt2", exact ports of llama.cpp's) or from a Hugging Face tokenizer.json
 * (`tokenizerFromHfJson`). All share the `Tokenizer` interface.
 */
import { type GgufFile } from '../gguf.ts';
import { UserError } from '../../util/errors.ts';
import { Gpt2BpeTokenizer } from './bpe.ts';
import { SpmTokenizer } from './spm.ts';
import type { Tokenizer } from './types.ts';
import { readGgufVocab } from './vocab.ts';

export type { DecodeOptions, EncodeOptions, Tokenizer } from './types.ts';
export { TokenType } from './types.ts';
export { tokenizerFromHfJson } from './hf.ts';
export { SpmTokenizer } from './spm.ts';
export { Gpt2BpeTokenizer, gpt2PreTokenize } from './bpe.ts';

/** Build the tokenizer a GGUF model declares (tokenizer.ggml.model "llama" or "gpt2"). */
export function tokenizerFromGguf(file: GgufFile): Tokenizer {
  const vocab = readGgufVocab(file);
  switch (vocab.model) {
    case 'llama':
      return new SpmTokenizer(vocab);
    case 'gpt2':
      try {
        return new Gpt2BpeTokenizer(vocab);
      } catch (e) {
        if (e instanceof UserError) throw new UserError(`${file.path}: ${e.message}`);
        throw e;
      }
    default:
      throw new UserError(
        `${file.path}: tokenizer model '${vocab.model}' is not supported by the built-in tokenizers ('llama' and 'gpt2' are); ` +
          `use the model's tokenizer.json with tokenizerFromHfJson`,
      );
  }
}
