/**
 * The BPE pre-tokenizers we implement: `tokenizer.ggml.pre` name -> llama.cpp pre-type -> the
 * regexes llama.cpp splits with, plus the vocabulary flags llama.cpp sets for that name
 * (src/llama-vocab.cpp: `llama_vocab::impl::load` maps names to LLAMA_VOCAB_PRE_TYPE_* and sets
 * ignore_merges / add_bos / special_bos_id; `llm_tokenizer_bpe`'s constructor lists each type's
 * regexes). test/model/tokenizer-families.test.ts parses both out of the bundled llama.cpp source
 * and checks every entry here against them.
 *
 * Adding a family: one `PRE_TYPES` entry (its regexes, copied from llama.cpp), one `branches`
 * entry per llama.cpp name branch, and, where llama.cpp hands one of its regexes to a hand-written
 * matcher, a port of that matcher in `REGEX_SPLITS` (regexSplit.ts; other regexes run through the
 * std::regex emulation); then the family's vectors (the families test checks every regex list
 * against node-llama-cpp on random text).
 */
import { type SplitStep, splitStep } from './regexSplit.ts';

const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN35 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const DIGITS = '\\p{N}';
const NEWLINES = '[^\\n]+|[\\n]+';

/** DEEPSEEK3_LLM, HUNYUAN_DENSE, JOYAI_LLM, HY_V4 */
const DEEPSEEK3: readonly string[] = [
  '\\p{N}{1,3}',
  '[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+',
  '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+',
];
/** GPT4O, MINIMAX_M2 */
const GPT4O: readonly string[] = [
  '[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:\'[sS]|\'[tT]|\'[rR][eE]|\'[vV][eE]|\'[mM]|\'[lL][lL]|\'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:\'[sS]|\'[tT]|\'[rR][eE]|\'[vV][eE]|\'[mM]|\'[lL][lL]|\'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+',
];
/** PORO, BLOOM, GPT3_FINNISH, and VIKING before its digit split */
const PORO = ' ?[^(\\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+';

/** LLAMA_VOCAB_PRE_TYPE_* (without the prefix) -> the regexes of `llm_tokenizer_bpe`, in order. */
export const PRE_TYPES: Readonly<Record<string, readonly string[]>> = {
  LLAMA3: [LLAMA3],
  DBRX: [LLAMA3],
  SMAUG: [LLAMA3],
  CHATGLM4: [LLAMA3],
  STARCODER: [DIGITS, GPT2],
  REFACT: [DIGITS, GPT2],
  COMMAND_R: [DIGITS, GPT2],
  SMOLLM: [DIGITS, GPT2],
  CODESHELL: [DIGITS, GPT2],
  EXAONE: [DIGITS, GPT2],
  MINERVA: [DIGITS, GPT2],
  MELLUM2: [DIGITS, GPT2],
  GPT2: [GPT2],
  MPT: [GPT2],
  OLMO: [GPT2],
  JAIS: [GPT2],
  TRILLION: [GPT2],
  GRANITE_DOCLING: [GPT2],
  STABLELM2: [QWEN2],
  QWEN2: [QWEN2],
  HUNYUAN: [QWEN2],
  SOLAR_OPEN: [QWEN2],
  GROK_2: [QWEN2],
  QWEN35: [QWEN35],
  LAGUNA: [NEWLINES, QWEN2],
  // no custom matchers in llama.cpp: std::regex over the collapsed text, or std::wregex (stdRegexSplit)
  FALCON: [
    '[\\p{P}\\$\\+<=>\\^~\\|`]+',
    GPT2,
    '[0-9][0-9][0-9]',
  ],
  DEEPSEEK_CODER: [
    '[\r\n]',
    '\\s?\\p{L}+',
    '\\s?\\p{P}+',
    '[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+',
    DIGITS,
  ],
  DEEPSEEK_LLM: [
    '[\r\n]',
    '\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+',
    '\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+',
    '\\s+$',
    '[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+',
    '\\p{N}+',
  ],
  DEFAULT: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]'],
  MINICPM5: [
    '\\p{N}{1,3}',
    '(?:\'[sS]|\'[tT]|\'[rR][eE]|\'[vV][eE]|\'[mM]|\'[lL][lL]|\'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+',
  ],
  DEEPSEEK3_LLM: DEEPSEEK3,
  HUNYUAN_DENSE: DEEPSEEK3,
  JOYAI_LLM: DEEPSEEK3,
  HY_V4: DEEPSEEK3,
  SPARK2_5: [
    '\\p{N}{1,3}',
    '[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+',
    '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+',
    DIGITS,
  ],
  YOUTU: [
    '[\uAC00-\uD7A3\u3131-\u318E]+|[\uFF01\u2026\u201C\u201D\u2018\u2019\u2014\uFF1A\uFF1B\uFF0C\u3001-\u303F\uFE30-\uFE4F]+|[\u3105-\u312F]+|[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+',
    '[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:\'[sS]|\'[tT]|\'[rR][eE]|\'[vV][eE]|\'[mM]|\'[lL][lL]|\'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:\'[sS]|\'[tT]|\'[rR][eE]|\'[vV][eE]|\'[mM]|\'[lL][lL]|\'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+',
  ],
  JAIS2: [
    '(?:\'[sS]|\'[tT]|\'[rR][eE]|\'[vV][eE]|\'[mM]|\'[lL][lL]|\'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}',
  ],
  PORO: [PORO],
  BLOOM: [PORO],
  GPT3_FINNISH: [PORO],
  VIKING: [PORO, DIGITS],
  TEKKEN: [
    '[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+',
  ],
  EXAONE_MOE: [
    '(?:\'[sS]|\'[tT]|\'[rR][eE]|\'[vV][eE]|\'[mM]|\'[lL][lL]|\'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+',
  ],
  CHAMELEON: ['<sentinel:[0-9]+>', '(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z', '([\\t\\n]|    |  )', DIGITS, '[\\p{P}!-/:-@\\[-`{-~]', GPT2],
  GPT4O: GPT4O,
  MINIMAX_M2: GPT4O,
  GRANITE_EMB_MULTI: [
    '[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:\'[sS]|\'[tT]|\'[rR][eE]|\'[vV][eE]|\'[mM]|\'[lL][lL]|\'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:\'[sS]|\'[tT]|\'[rR][eE]|\'[vV][eE]|\'[mM]|\'[lL][lL]|\'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+',
  ],
  BAILINGMOE: [
    '\'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+',
  ],
  SEED_CODER: [
    '(?:\'[sS]|\'[tT]|\'[rR][eE]|\'[vV][eE]|\'[mM]|\'[lL][lL]|\'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+',
  ],
  UFAKZEKA: ['[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+'],
};

/** What llama.cpp's load sets for one `tokenizer_pre == ...` branch. */
export interface PreNameEntry {
  type: string;
  /** `ignore_merges`: a pre-token that is itself a vocabulary entry is emitted whole. */
  ignoreMerges?: boolean;
  /** `add_bos = true` before tokenizer.ggml.add_bos_token is read. */
  addBos?: boolean;
  /** `special_bos_id = LLAMA_TOKEN_NULL` before tokenizer.ggml.bos_token_id is read. */
  noBos?: boolean;
}

const branches: Array<[string[], PreNameEntry]> = [
  [['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2', 'jina-v5-nano'], { type: 'LLAMA3', ignoreMerges: true, addBos: true }],
  [['mpt'], { type: 'MPT' }],
  [['starcoder'], { type: 'STARCODER' }],
  [['gpt-2', 'phi-2', 'jina-es', 'jina-de', 'gigachat', 'jina-v2-es', 'jina-v2-de', 'a.x-4.0', 'mellum', 'modern-bert'], { type: 'GPT2' }],
  [['jina-v1-en', 'jina-v2-code', 'roberta-bpe'], { type: 'GPT2' }], // + add_sep, which tokenize() does not use
  [['refact'], { type: 'REFACT' }],
  [['command-r'], { type: 'COMMAND_R' }],
  [['qwen2', 'deepseek-r1-qwen', 'kormo', 'f2llmv2'], { type: 'QWEN2' }],
  [['qwen35'], { type: 'QWEN35' }],
  [['stablelm2'], { type: 'STABLELM2' }],
  [['olmo'], { type: 'OLMO' }],
  [['dbrx'], { type: 'DBRX' }],
  [['smaug-bpe'], { type: 'SMAUG' }],
  [['glm4', 'chatglm-bpe'], { type: 'CHATGLM4', noBos: true }],
  [['jais'], { type: 'JAIS' }],
  [['smollm'], { type: 'SMOLLM' }],
  [['codeshell'], { type: 'CODESHELL' }],
  [['exaone'], { type: 'EXAONE' }],
  [['exaone4'], { type: 'GPT2' }],
  [['minerva-7b'], { type: 'MINERVA' }],
  [['megrez'], { type: 'QWEN2' }],
  [['trillion'], { type: 'TRILLION' }],
  [['granite-docling'], { type: 'GRANITE_DOCLING' }],
  [['hunyuan'], { type: 'HUNYUAN' }],
  [['grok-2'], { type: 'GROK_2' }],
  [['laguna'], { type: 'LAGUNA' }],
  [['solar-open'], { type: 'SOLAR_OPEN' }],
  [['mellum2'], { type: 'MELLUM2' }],
  [['falcon'], { type: 'FALCON' }],
  [['deepseek-coder'], { type: 'DEEPSEEK_CODER' }],
  [['deepseek-llm'], { type: 'DEEPSEEK_LLM' }],
  [['default'], { type: 'DEFAULT' }],
  [['minicpm5'], { type: 'MINICPM5', ignoreMerges: true }],
  [['deepseek-v3'], { type: 'DEEPSEEK3_LLM' }],
  [['spark2_5'], { type: 'SPARK2_5' }],
  [['youtu'], { type: 'YOUTU', ignoreMerges: true }],
  [['jais-2'], { type: 'JAIS2' }],
  [['poro-chat'], { type: 'PORO' }],
  [['viking'], { type: 'VIKING' }],
  [['tekken'], { type: 'TEKKEN', ignoreMerges: true, addBos: true }],
  [['bloom'], { type: 'BLOOM' }],
  [['gpt3-finnish'], { type: 'GPT3_FINNISH' }],
  [['exaone-moe'], { type: 'EXAONE_MOE' }],
  [['chameleon'], { type: 'CHAMELEON', addBos: true }],
  [['gpt-4o', 'llama4', 'kanana2', 'talkie'], { type: 'GPT4O' }],
  [['granite-embed-multi-97m'], { type: 'GRANITE_EMB_MULTI', ignoreMerges: true }],
  [['bailingmoe', 'bailingmoe2', 'llada-moe'], { type: 'BAILINGMOE' }],
  [['seed-coder'], { type: 'SEED_CODER' }],
  [['hunyuan-dense'], { type: 'HUNYUAN_DENSE' }],
  [['hy_v4'], { type: 'HY_V4' }],
  [['joyai-llm'], { type: 'JOYAI_LLM' }],
  [['ufakzeka'], { type: 'UFAKZEKA' }],
  [['minimax-m2'], { type: 'MINIMAX_M2' }],
];

/**
 * The tokenizer.ggml.pre names llama.cpp knows that we do not implement, and why (every other name
 * of its load() is in PRE_NAMES; the families test checks that).
 */
export const UNSUPPORTED_PRE_NAMES: Readonly<Record<string, string>> = {
  gemma4: 'SentencePiece-style BPE (spaces escaped as U+2581, no byte encoding) is not implemented',
  'granite-embed-multi-311m': 'SentencePiece-style BPE (spaces escaped as U+2581, no byte encoding) is not implemented',
  'sarvam-moe': 'SentencePiece-style BPE (spaces escaped as U+2581, no byte encoding) is not implemented',
  whitespace: "it belongs to tokenizer.ggml.model 'whitespace', which is not implemented",
  'kimi-k2': "llama.cpp splits it with a hand-written matcher (unicode_regex_split_custom_kimi_k2) we have not ported",
  afmoe: 'llama.cpp splits its digits with a hand-written matcher (unicode_regex_split_custom_afmoe) we have not ported',
  tiny_aya: 'llama.cpp splits its digits with a hand-written matcher (unicode_regex_split_custom_afmoe) we have not ported',
  cohere2moe: 'llama.cpp splits its digits with a hand-written matcher (unicode_regex_split_custom_afmoe) we have not ported',
  superbpe: 'one of its regexes matches the empty string, which we do not emulate',
};

/** tokenizer.ggml.pre -> what llama.cpp does with it, for every name we implement. */
export const PRE_NAMES: ReadonlyMap<string, PreNameEntry> = new Map(branches.flatMap(([names, e]) => names.map((n) => [n, e] as const)));

/** A resolved pre-tokenizer: its llama.cpp type, flags and split steps. */
export interface PreTokenizer extends PreNameEntry {
  name: string;
  regexes: readonly string[];
  steps: readonly SplitStep[];
}

/** The pre-tokenizer of a tokenizer.ggml.pre name, or null when we do not implement it. */
export function preTokenizer(name: string): PreTokenizer | null {
  const e = PRE_NAMES.get(name);
  if (!e) return null;
  const regexes = PRE_TYPES[e.type];
  if (!regexes) throw new Error(`pre-tokenizer table: type ${e.type} of '${name}' has no regexes`);
  const steps = regexes.map(splitStep);
  return { name, ...e, regexes, steps };
}
