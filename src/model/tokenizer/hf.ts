/**
 * Hugging Face `tokenizer.json` tokenizers through @huggingface/tokenizers (the tokenizer core of
 * transformers.js, without its ONNX runtime), built directly from the local JSON (no network, no hub
 * cache), wrapped in unlearnkit's `Tokenizer` interface.
 *
 * BOS/EOS come from tokenizer_config.json when present (its `bos_token` / `eos_token`, a string or
 * an AddedToken object, looked up in the vocabulary as transformers' PreTrainedTokenizer does),
 * else config.json's bos/eos_token_id, else well-known special token names among the added tokens
 * ('<s>', '<|endoftext|>', ...).
 * HF tokenizers always match added tokens in text, so `parseSpecial` has no effect here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../util/errors.ts';
import { readJsonObject } from '../../util/fs.ts';
import type { DecodeOptions, EncodeOptions, Tokenizer } from './types.ts';

import type { Tokenizer as HfCoreTokenizer } from '@huggingface/tokenizers';

const BOS_NAMES = ['<s>', '<|begin_of_text|>', '<bos>', '<|startoftext|>', '<|endoftext|>'];
const EOS_NAMES = ['</s>', '<|end_of_text|>', '<eos>', '<|endoftext|>', '<|im_end|>'];

/**
 * A special token named in tokenizer_config.json (`"bos_token": "<s>"` or
 * `{"__type": "AddedToken", "content": "<s>", ...}`), as transformers' getTokenFromConfig reads it.
 */
function configToken(config: Record<string, unknown> | null, key: string): string | null {
  const item = config?.[key];
  if (typeof item === 'string' && item) return item;
  if (item && typeof item === 'object' && typeof (item as { content?: unknown }).content === 'string') return (item as { content: string }).content;
  return null;
}

class HfTokenizer implements Tokenizer {
  readonly kind = 'hf' as const;
  readonly vocabSize: number;
  readonly bos: number;
  readonly eos: number;
  readonly addBosDefault: boolean;
  private readonly idToToken: string[] = [];
  private readonly specialIds: Set<number>;

  constructor(
    private readonly tok: HfCoreTokenizer,
    tokenizerJson: Record<string, unknown>,
    config: Record<string, unknown> | null,
    modelConfig: Record<string, unknown> | null,
  ) {
    const vocab = tok.get_vocab();
    for (const [t, id] of vocab) this.idToToken[id] = t;
    this.vocabSize = this.idToToken.length;
    this.specialIds = new Set([...tok.get_added_tokens_decoder().values()].filter((a) => a.special).map((a) => a.id));
    const added = (tokenizerJson.added_tokens as Array<{ id: number; content: string; special?: boolean }> | undefined) ?? [];
    const byName = (names: string[]): number => {
      for (const n of names) {
        const a = added.find((x) => x.content === n);
        if (a) return a.id;
      }
      return -1;
    };
    const fromModelConfig = (k: string): number => (typeof modelConfig?.[k] === 'number' ? (modelConfig[k] as number) : -1);
    const fromConfig = (k: string): number | undefined => {
      const name = configToken(config, k);
      return name === null ? undefined : tok.token_to_id(name);
    };
    this.bos = fromConfig('bos_token') ?? (fromModelConfig('bos_token_id') >= 0 ? fromModelConfig('bos_token_id') : byName(BOS_NAMES));
    this.eos = fromConfig('eos_token') ?? (fromModelConfig('eos_token_id') >= 0 ? fromModelConfig('eos_token_id') : byName(EOS_NAMES));
    for (const a of added) if (a.special) this.specialIds.add(a.id);
    this.addBosDefault = typeof config?.add_bos_token === 'boolean' ? (config.add_bos_token as boolean) : false;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const ids = this.tok.encode(text, { add_special_tokens: false }).ids;
    const out: number[] = [];
    if (opts.addBos && this.bos >= 0) out.push(this.bos);
    out.push(...ids);
    if (opts.addEos && this.eos >= 0) out.push(this.eos);
    return out;
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new UserError(`token id ${id} is out of range (vocabulary has ${this.vocabSize} tokens)`);
    }
    const keep = opts.special ? [...ids] : ids.filter((id) => !this.specialIds.has(id));
    if (keep.length === 0) return '';
    return this.tok.decode(keep, { skip_special_tokens: !opts.special, clean_up_tokenization_spaces: false });
  }

  tokenText(id: number): string {
    const t = this.idToToken[id];
    if (t === undefined) throw new UserError(`token id ${id} is out of range (vocabulary has ${this.vocabSize} tokens)`);
    return t;
  }
}

/**
 * Load a Hugging Face tokenizer from a folder holding tokenizer.json (and optionally
 * tokenizer_config.json, config.json), or from the path of a tokenizer.json file. Offline only.
 */
export async function tokenizerFromHfJson(dirOrFile: string): Promise<Tokenizer> {
  const file = dirOrFile.endsWith('.json') ? dirOrFile : path.join(dirOrFile, 'tokenizer.json');
  const dir = path.dirname(file);
  const json = readJsonObject(file);
  if (!json) throw new UserError(`no tokenizer.json at ${file}`);
  if (typeof json.model !== 'object' || json.model === null) throw new UserError(`${file} does not look like a Hugging Face tokenizer.json (no "model" section)`);
  const config = readJsonObject(path.join(dir, 'tokenizer_config.json'));
  const modelConfig = readJsonObject(path.join(dir, 'config.json'));
  const { Tokenizer: HfTokenizerCore } = await import('@huggingface/tokenizers');
  let tok: HfCoreTokenizer;
  try {
    tok = new HfTokenizerCore(json, config ?? {});
  } catch (e) {
    throw new UserError(`${file}: cannot build a tokenizer from it (${(e as Error).message})`);
  }
  return new HfTokenizer(tok, json, config, modelConfig);
}
