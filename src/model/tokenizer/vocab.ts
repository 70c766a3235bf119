/**
 * A GGUF vocabulary (tokenizer.ggml.*) as llama.cpp loads it (src/llama-vocab.cpp,
 * `llama_vocab::impl::load`): tokens, scores, token attributes, BPE merges, special ids, the
 * add_bos / add_eos / add_space_prefix flags, the pre-tokenizer, and the special-token partition
 * that splits raw text around control / user-defined tokens (`tokenizer_st_partition`).
 *
 * Everything we do not implement is refused by name before the token arrays are read
 * (`checkTokenizerKeys`): an unknown tokenizer.ggml.model or tokenizer.ggml.pre, and keys that
 * would change how the model's own tokenizer splits text but that llama.cpp ignores for "llama" /
 * "gpt2" vocabularies (so neither llama.cpp nor we would reproduce it).
 */
import { type GgufFile, getMeta } from '../gguf.ts';
import { UserError } from '../../util/errors.ts';
import { PRE_NAMES, type PreTokenizer, UNSUPPORTED_PRE_NAMES, preTokenizer } from './preTokenizers.ts';
import { TokenType } from './types.ts';

/** llama.cpp's `llama_token_attr` bits (include/llama.h). */
export const TokenAttr = {
  UNDEFINED: 0,
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  NORMALIZED: 1 << 6,
  LSTRIP: 1 << 7,
  RSTRIP: 1 << 8,
  SINGLE_WORD: 1 << 9,
} as const;

/** GGUF token type -> attribute, as llama.cpp's load switch (anything else is UNDEFINED). */
function attrOfType(t: number): number {
  switch (t) {
    case TokenType.UNKNOWN:
      return TokenAttr.UNKNOWN;
    case TokenType.UNUSED:
      return TokenAttr.UNUSED;
    case TokenType.NORMAL:
      return TokenAttr.NORMAL;
    case TokenType.CONTROL:
      return TokenAttr.CONTROL;
    case TokenType.USER_DEFINED:
      return TokenAttr.USER_DEFINED;
    case TokenType.BYTE:
      return TokenAttr.BYTE;
    default:
      return TokenAttr.UNDEFINED;
  }
}

export interface GgufVocab {
  /** tokenizer.ggml.model: 'llama' (SPM) or 'gpt2' (byte-level BPE). */
  model: 'llama' | 'gpt2';
  /** The BPE pre-tokenizer (null for 'llama', where llama.cpp does not read tokenizer.ggml.pre). */
  pre: PreTokenizer | null;
  tokens: string[];
  scores: Float32Array;
  /** tokenizer.ggml.token_type as stored. */
  types: Int32Array;
  /** llama.cpp's token attributes after its load-time fix-ups (TokenAttr bits). */
  attrs: Uint32Array;
  tokenToId: Map<string, number>;
  merges: string[];
  bos: number;
  eos: number;
  unk: number;
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  ignoreMerges: boolean;
  /** Control, user-defined and unknown tokens, longest UTF-8 text first (llama.cpp's cache_special_tokens). */
  specialTokens: number[];
}

/** The tokenizer models we implement (tokenizer.ggml.model). */
const SUPPORTED_MODELS = ['llama', 'gpt2'] as const;

/**
 * Every tokenizer.ggml.* key llama.cpp knows (src/llama-arch.cpp, gguf-py's Keys.Tokenizer) and what
 * it means for the "llama" and "gpt2" vocabularies:
 *  - 'used': read and implemented here;
 *  - 'inert': read by llama.cpp but never used by `tokenize()` (ids of tokens the tokenizer does
 *    not insert, token_type_count, add_sep, suppress_tokens);
 *  - 'refuse-if-set': normalisation of other tokenizer models (BERT WordPiece, T5 Unigram) that
 *    llama.cpp ignores for llama/gpt2; a true value / any charsmap means the model's own tokenizer
 *    normalises text in a way llama.cpp does not, so we refuse instead of tokenizing differently.
 * Keys outside this list are not read by llama.cpp and cannot change its tokenisation.
 */
const TOKENIZER_KEYS: Readonly<Record<string, 'used' | 'inert' | 'refuse-if-set'>> = {
  'tokenizer.ggml.model': 'used',
  'tokenizer.ggml.pre': 'used',
  'tokenizer.ggml.tokens': 'used',
  'tokenizer.ggml.token_type': 'used',
  'tokenizer.ggml.scores': 'used',
  'tokenizer.ggml.merges': 'used',
  'tokenizer.ggml.bos_token_id': 'used',
  'tokenizer.ggml.eos_token_id': 'used',
  'tokenizer.ggml.unknown_token_id': 'used',
  'tokenizer.ggml.add_bos_token': 'used',
  'tokenizer.ggml.add_eos_token': 'used',
  'tokenizer.ggml.add_space_prefix': 'used',
  // a FIM id given here stops llama.cpp from marking a FIM-looking token as control by its text
  'tokenizer.ggml.fim_pre_token_id': 'used',
  'tokenizer.ggml.fim_suf_token_id': 'used',
  'tokenizer.ggml.fim_mid_token_id': 'used',
  'tokenizer.ggml.fim_pad_token_id': 'used',
  'tokenizer.ggml.fim_rep_token_id': 'used',
  'tokenizer.ggml.fim_sep_token_id': 'used',
  'tokenizer.ggml.prefix_token_id': 'used',
  'tokenizer.ggml.suffix_token_id': 'used',
  'tokenizer.ggml.middle_token_id': 'used',
  'tokenizer.ggml.token_type_count': 'inert',
  'tokenizer.ggml.eot_token_id': 'inert', // its text-based fallback only marks tokens the EOG pass marks anyway
  'tokenizer.ggml.eom_token_id': 'inert',
  'tokenizer.ggml.seperator_token_id': 'inert',
  'tokenizer.ggml.padding_token_id': 'inert',
  'tokenizer.ggml.cls_token_id': 'inert',
  'tokenizer.ggml.mask_token_id': 'inert',
  'tokenizer.ggml.add_sep_token': 'inert',
  'tokenizer.ggml.suppress_tokens': 'inert',
  'tokenizer.ggml.remove_extra_whitespaces': 'refuse-if-set',
  'tokenizer.ggml.precompiled_charsmap': 'refuse-if-set',
  'tokenizer.ggml.normalizer.lowercase': 'refuse-if-set',
  'tokenizer.ggml.normalizer.strip_accents': 'refuse-if-set',
};

function supportedPreList(): string {
  return [...PRE_NAMES.keys()].join(', ');
}

/**
 * Refuse, by key name and value, what we do not implement; cheap (metadata only), so it runs
 * before any token array is touched. Returns the model and the resolved pre-tokenizer.
 */
export function checkTokenizerKeys(file: GgufFile): { model: 'llama' | 'gpt2'; pre: PreTokenizer | null } {
  const where = file.path;
  const model = getMeta(file, 'tokenizer.ggml.model');
  if (model === undefined) throw new UserError(`${where}: required GGUF metadata key 'tokenizer.ggml.model' is missing`);
  if (model !== 'llama' && model !== 'gpt2') {
    throw new UserError(
      `${where}: tokenizer.ggml.model = ${JSON.stringify(model)} is not supported by the built-in tokenizers ` +
        `(supported: ${SUPPORTED_MODELS.map((m) => `'${m}'`).join(', ')}); use the model's tokenizer.json with tokenizerFromHfJson`,
    );
  }
  let pre: PreTokenizer | null = null;
  if (model === 'gpt2') {
    const name = getMeta(file, 'tokenizer.ggml.pre');
    if (name === undefined) {
      throw new UserError(
        `${where}: tokenizer.ggml.pre is missing: the converter did not recognise the model's pre-tokenizer, and llama.cpp falls back to 'default' ` +
          `(warning that generation quality degrades); set tokenizer.ggml.pre to the model's pre-tokenizer, or to 'default' to accept llama.cpp's fallback. ` +
          `Supported tokenizer.ggml.pre values: ${supportedPreList()}`,
      );
    }
    pre = typeof name === 'string' ? preTokenizer(name) : null;
    if (!pre) {
      const why = typeof name === 'string' && Object.hasOwn(UNSUPPORTED_PRE_NAMES, name) ? UNSUPPORTED_PRE_NAMES[name] : 'llama.cpp does not know it either';
      throw new UserError(`${where}: tokenizer.ggml.pre = ${JSON.stringify(name)} is not supported (${why}); supported: ${supportedPreList()}`);
    }
  }
  for (const [key, role] of Object.entries(TOKENIZER_KEYS)) {
    if (role !== 'refuse-if-set' || !file.metadata.has(key)) continue;
    const v = file.metadata.get(key);
    const set = Array.isArray(v) ? v.length > 0 : v !== false && v !== 0;
    if (set) {
      throw new UserError(
        `${where}: ${key} = ${Array.isArray(v) ? `[${v.length} values]` : JSON.stringify(v)} is not supported: it belongs to another tokenizer model's normaliser, ` +
          `which llama.cpp ignores for tokenizer.ggml.model '${model}', so the model's own tokenizer and llama.cpp (and we) would disagree`,
      );
    }
  }
  return { model, pre };
}

function arrayOf(file: GgufFile, key: string, types: string[]): unknown[] | undefined {
  if (!file.metadata.has(key)) return undefined;
  const v = file.metadata.get(key);
  const t = file.metadata.typeOf(key);
  if (!Array.isArray(v) || !types.includes(String(t))) {
    throw new UserError(`${file.path}: ${key} has GGUF type ${t}, expected ${types.join(' or ')}`);
  }
  return v;
}

/** An id key: the value when it is in range, else `dflt` (llama.cpp keeps the default on a bad id). */
function idKey(file: GgufFile, key: string, n: number, dflt: number): number {
  const v = getMeta(file, key);
  if (v === undefined) return dflt;
  const id = typeof v === 'bigint' ? Number(v) : v;
  if (typeof id !== 'number' || !Number.isInteger(id)) throw new UserError(`${file.path}: ${key} must be an integer token id, got ${JSON.stringify(String(v))}`);
  return id >= 0 && id < n ? id : dflt;
}

const utf8Len = (s: string): number => Buffer.byteLength(s, 'utf8');

/** End-of-generation token texts llama.cpp marks as control (its `special_eog_ids` text list). */
const EOG_TEXTS = [
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>',
  '<|endoftext|>', '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>', '<end_of_utterance>',
  '<eos>', '<turn|>', '<|tool_response>', '<｜end▁of▁sentence｜>', '[e~[',
];

/** FIM token texts llama.cpp marks as control when no id key names that FIM token. */
const FIM_GROUPS: Array<{ keys: string[]; texts: string[] }> = [
  { keys: ['tokenizer.ggml.fim_pre_token_id', 'tokenizer.ggml.prefix_token_id'], texts: ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>'] },
  { keys: ['tokenizer.ggml.fim_suf_token_id', 'tokenizer.ggml.suffix_token_id'], texts: ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>'] },
  { keys: ['tokenizer.ggml.fim_mid_token_id', 'tokenizer.ggml.middle_token_id'], texts: ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>'] },
  { keys: ['tokenizer.ggml.fim_pad_token_id'], texts: ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]'] },
  { keys: ['tokenizer.ggml.fim_rep_token_id'], texts: ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'] },
  { keys: ['tokenizer.ggml.fim_sep_token_id'], texts: ['<|file_sep|>'] },
];

/**
 * llama.cpp's load-time attribute fix-ups, in its order: FIM-looking and end-of-generation tokens
 * become control; gpt-oss's <|channel|>/<|message|>/<|start|>/<|constrain|> become user-defined;
 * <|end|> becomes user-defined next to <|return|>+<|call|> (o200k_harmony) or <|calls|>+<|flush|>
 * (solar-open); </s> becomes normal next to <|tool_response> (gemma4).
 */
function fixAttrs(file: GgufFile, tokenToId: Map<string, number>, attrs: Uint32Array, n: number): void {
  const has = (t: string) => tokenToId.has(t);
  for (const g of FIM_GROUPS) {
    if (g.keys.some((k) => idKey(file, k, n, -1) >= 0)) continue;
    const presentTexts = g.texts.filter(has);
    const notControl = presentTexts.map((t) => tokenToId.get(t)!).filter((id) => !(attrs[id]! & TokenAttr.CONTROL));
    if (presentTexts.length > 1 && notControl.length > 0) {
      // llama.cpp takes the first match in std::unordered_map order, which is not defined
      throw new UserError(
        `${file.path}: several FIM tokens (${presentTexts.map((t) => JSON.stringify(t)).join(', ')}), not all of them control, and no ${g.keys[0]}: ` +
          `llama.cpp marks whichever it meets first in hash-map order as control, so its tokenisation is not defined here`,
      );
    }
    for (const id of notControl) attrs[id] = attrs[id]! | TokenAttr.CONTROL;
  }
  for (const t of EOG_TEXTS) {
    const id = tokenToId.get(t);
    if (id !== undefined) attrs[id] = attrs[id]! | TokenAttr.CONTROL;
  }
  for (const t of ['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>']) {
    const id = tokenToId.get(t);
    if (id !== undefined) attrs[id] = TokenAttr.USER_DEFINED;
  }
  const call = has('<|call|>') || has('<|calls|>');
  if (has('<|end|>') && ((has('<|return|>') && call) || (call && has('<|flush|>')))) attrs[tokenToId.get('<|end|>')!] = TokenAttr.USER_DEFINED;
  if (has('<|tool_response>') && has('</s>')) attrs[tokenToId.get('</s>')!] = TokenAttr.NORMAL;
}

/**
 * llama.cpp's per-model LSTRIP / RSTRIP attributes (set by tokenizer.ggml.pre, general.architecture
 * and the lowercased general.name), which make the special-token partition eat whitespace.
 */
function stripAttrs(file: GgufFile, tokenToId: Map<string, number>, attrs: Uint32Array, special: number[]): void {
  const pre = String(getMeta(file, 'tokenizer.ggml.pre') ?? '');
  const arch = String(getMeta(file, 'general.architecture') ?? '');
  const name = String(getMeta(file, 'general.name') ?? '').replace(/[A-Z]/g, (ch) => ch.toLowerCase());
  const any = (s: string, subs: string[]) => subs.some((x) => s.includes(x));
  const set = (t: string, bit: number, on: boolean) => {
    const id = tokenToId.get(t);
    if (id === undefined) throw new UserError(`${file.path}: general.name '${name}' makes llama.cpp set attributes on token ${JSON.stringify(t)}, which the vocabulary lacks (llama.cpp fails to load it)`);
    attrs[id] = on ? attrs[id]! | bit : attrs[id]! & ~bit;
  };
  if (any(pre, ['jina-v2-de', 'jina-v2-es', 'jina-v2-code']) || any(arch, ['nomic-bert-moe', 'jina-bert-v3'])) {
    if (tokenToId.has('<mask>')) set('<mask>', TokenAttr.LSTRIP, true);
  } else if (any(name, ['phi-3', 'phi3'])) {
    for (const id of special) attrs[id] = attrs[id]! | TokenAttr.RSTRIP;
    set('</s>', TokenAttr.RSTRIP, true);
    for (const t of ['<unk>', '<s>', '<|endoftext|>']) set(t, TokenAttr.RSTRIP, false);
  } else if (any(name, ['modern-bert'])) {
    if (tokenToId.has('[MASK]')) set('[MASK]', TokenAttr.LSTRIP, true);
  }
}

export function readGgufVocab(file: GgufFile): GgufVocab {
  const { model, pre } = checkTokenizerKeys(file);
  const tokensRaw = arrayOf(file, 'tokenizer.ggml.tokens', ['array<string>']);
  if (!tokensRaw) throw new UserError(`${file.path}: required GGUF metadata key 'tokenizer.ggml.tokens' is missing`);
  const n = tokensRaw.length;
  // llama.cpp renames empty tokens so they cannot match text
  const tokens = (tokensRaw as string[]).map((t, i) => (t.length === 0 ? `[EMPTY_${i}]` : t));
  const scores = new Float32Array(n);
  const sc = arrayOf(file, 'tokenizer.ggml.scores', ['array<float32>', 'array<int32>']);
  if (sc) {
    if (sc.length < n) throw new UserError(`${file.path}: tokenizer.ggml.scores has ${sc.length} entries for ${n} tokens`);
    for (let i = 0; i < n; i++) scores[i] = sc[i] as number;
  }
  const types = new Int32Array(n).fill(TokenType.NORMAL);
  const attrs = new Uint32Array(n).fill(TokenAttr.NORMAL);
  const tt = arrayOf(file, 'tokenizer.ggml.token_type', ['array<int32>']);
  if (tt) {
    if (tt.length < n) throw new UserError(`${file.path}: tokenizer.ggml.token_type has ${tt.length} entries for ${n} tokens`);
    for (let i = 0; i < n; i++) {
      types[i] = tt[i] as number;
      attrs[i] = attrOfType(tt[i] as number);
    }
  }
  const tokenToId = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const t = tokens[i]!;
    const j = tokenToId.get(t);
    // llama.cpp asserts id_to_token.size() == token_to_id.size() and aborts the process
    if (j !== undefined) throw new UserError(`${file.path}: tokens ${j} and ${i} have the same text ${JSON.stringify(t)} (llama.cpp aborts on such a vocabulary)`);
    tokenToId.set(t, i);
  }
  let merges: string[] = [];
  if (model === 'gpt2') {
    const m = arrayOf(file, 'tokenizer.ggml.merges', ['array<string>']);
    if (!m) throw new UserError(`${file.path}: tokenizer.ggml.merges is missing (llama.cpp: "cannot find tokenizer merges in model file")`);
    merges = m as string[];
  }

  // defaults per model (and pre-tokenizer), then the GGUF keys
  let bos = model === 'llama' ? 1 : 11;
  let eos = model === 'llama' ? 2 : 11;
  let unk = model === 'llama' ? 0 : -1;
  let addBos = model === 'llama' || (pre?.addBos ?? false);
  let addSpacePrefix = model === 'llama';
  if (pre?.noBos) bos = -1;
  const inRange = (id: number) => (id >= 0 && id < n ? id : -1);
  bos = idKey(file, 'tokenizer.ggml.bos_token_id', n, inRange(bos));
  eos = idKey(file, 'tokenizer.ggml.eos_token_id', n, inRange(eos));
  unk = idKey(file, 'tokenizer.ggml.unknown_token_id', n, inRange(unk));
  const flag = (key: string): boolean | undefined => {
    const v = getMeta(file, key);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw new UserError(`${file.path}: ${key} must be a boolean, got ${JSON.stringify(String(v))}`);
    return v;
  };
  addBos = flag('tokenizer.ggml.add_bos_token') ?? addBos;
  const addEos = flag('tokenizer.ggml.add_eos_token') ?? false;
  addSpacePrefix = flag('tokenizer.ggml.add_space_prefix') ?? addSpacePrefix;

  fixAttrs(file, tokenToId, attrs, n);
  const specialTokens: number[] = [];
  const SPECIAL = TokenAttr.CONTROL | TokenAttr.USER_DEFINED | TokenAttr.UNKNOWN;
  for (let i = 0; i < n; i++) if (attrs[i]! & SPECIAL) specialTokens.push(i);
  // llama.cpp: std::sort by byte length, longest first (ties in an unspecified order; ours by id)
  const blen = new Map(specialTokens.map((id) => [id, utf8Len(tokens[id]!)]));
  specialTokens.sort((a, b) => blen.get(b)! - blen.get(a)! || a - b);
  stripAttrs(file, tokenToId, attrs, specialTokens);

  return {
    model,
    pre,
    tokens,
    scores,
    types,
    attrs,
    tokenToId,
    merges,
    bos,
    eos,
    unk,
    addBos,
    addEos,
    addSpacePrefix,
    ignoreMerges: pre?.ignoreMerges ?? false,
    specialTokens,
  };
}

/** A piece of input: raw text still to tokenize, or an already-resolved special token. */
export type Fragment = { text: string } | { token: number };

/** C isspace() in the "C" locale, which llama.cpp's LSTRIP/RSTRIP use on bytes. */
function isCSpace(ch: number): boolean {
  return ch === 0x20 || (ch >= 0x09 && ch <= 0x0d);
}

/**
 * Which special tokens occur in a text, found in one scan: tokens indexed by their first two UTF-16
 * units (one-unit tokens by their only unit). Only tokens that occur in the whole text can occur in
 * the fragments the partition cuts from it, so the partition only needs to look for these.
 */
class SpecialIndex {
  private readonly first = new Uint8Array(0x10000);
  private readonly byPrefix = new Map<string, number[]>();
  private readonly single = new Map<number, number[]>();

  constructor(
    private readonly tokens: readonly string[],
    ids: readonly number[],
  ) {
    for (const id of ids) {
      const t = tokens[id]!;
      this.first[t.charCodeAt(0)] = 1;
      if (t.length === 1) {
        const l = this.single.get(t.charCodeAt(0));
        if (l) l.push(id);
        else this.single.set(t.charCodeAt(0), [id]);
      } else {
        const k = t.slice(0, 2);
        const l = this.byPrefix.get(k);
        if (l) l.push(id);
        else this.byPrefix.set(k, [id]);
      }
    }
  }

  present(text: string): Set<number> {
    const found = new Set<number>();
    const n = text.length;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (!this.first[c]) continue;
      const s = this.single.get(c);
      if (s) for (const id of s) found.add(id);
      if (i + 1 < n) {
        const cands = this.byPrefix.get(text.slice(i, i + 2));
        if (cands) for (const id of cands) if (!found.has(id) && text.startsWith(this.tokens[id]!, i)) found.add(id);
      }
    }
    return found;
  }
}

const specialIndexes = new WeakMap<GgufVocab, [SpecialIndex, SpecialIndex]>();

function specialIndex(vocab: GgufVocab, parseSpecial: boolean): SpecialIndex {
  let pair = specialIndexes.get(vocab);
  if (!pair) {
    const SKIP = TokenAttr.CONTROL | TokenAttr.UNKNOWN;
    const always = vocab.specialTokens.filter((id) => !(vocab.attrs[id]! & SKIP));
    pair = [new SpecialIndex(vocab.tokens, always), new SpecialIndex(vocab.tokens, vocab.specialTokens)];
    specialIndexes.set(vocab, pair);
  }
  return pair[parseSpecial ? 1 : 0];
}

/**
 * Split text around special tokens (llama.cpp `tokenizer_st_partition`): for each special token,
 * longest first, every occurrence in the remaining raw text becomes a token fragment. Control and
 * unknown tokens are only matched when `parseSpecial`; user-defined tokens always are. A token with
 * LSTRIP / RSTRIP also swallows the whitespace before / after it.
 */
export function partitionSpecial(vocab: GgufVocab, text: string, parseSpecial: boolean): Fragment[] {
  if (text.length === 0) return [];
  const present = specialIndex(vocab, parseSpecial).present(text);
  let frags: Fragment[] = [{ text }];
  if (present.size === 0) return frags;
  for (const id of vocab.specialTokens) {
    if (!present.has(id)) continue;
    const attr = vocab.attrs[id]!;
    const st = vocab.tokens[id]!;
    const next: Fragment[] = [];
    for (const f of frags) {
      if (!('text' in f)) {
        next.push(f);
        continue;
      }
      const s = f.text;
      let pos = 0;
      for (;;) {
        const m = s.indexOf(st, pos);
        if (m < 0) break;
        if (m > pos) {
          let e = m;
          if (attr & TokenAttr.LSTRIP) while (e > pos && isCSpace(s.charCodeAt(e - 1))) e--;
          if (e > pos) next.push({ text: s.slice(pos, e) });
        }
        next.push({ token: id });
        pos = m + st.length;
        if (pos >= s.length) break;
        if (attr & TokenAttr.RSTRIP) while (pos < s.length && isCSpace(s.charCodeAt(pos))) pos++;
      }
      if (pos < s.length) next.push({ text: s.slice(pos) });
    }
    frags = next;
  }
  return frags;
}

/** UTF-8 bytes -> string, invalid sequences replaced by U+FFFD (as any text display would). */
export const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });
export const utf8Encoder = new TextEncoder();
