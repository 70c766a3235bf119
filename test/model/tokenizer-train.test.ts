/**
 * SentencePiece-style BPE training (src/model/tokenizer/train.ts), checked against llama.cpp
 * itself (node-llama-cpp 3.22.1): a tiny LLaMA GGUF carrying the trained vocabulary must load, and
 * llama.cpp's tokenization must equal ours on held-out text (unseen words, non-ASCII characters
 * through byte fallback, control characters, literal "<s>"). Also: the learned segmentation of the
 * training corpus is exactly what the SPM algorithm produces, the vocabulary compresses, and
 * training is deterministic.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readGguf, writeGguf } from '../../src/model/gguf.ts';
import { tokenizerFromGguf, TokenType, type Tokenizer } from '../../src/model/tokenizer/index.ts';
import { type SpmVocabSpec, spmVocabMetadata, trainSpmVocab } from '../../src/model/tokenizer/train.ts';
import { getLlamaCpp } from '../../src/model/llamacppLogprobs.ts';
import { UserError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-spmtrain-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** English-like sentences from templates: names, places, punctuation, digits, "café", "—". */
function sentences(n: number, seed: number): string[] {
  const rng = new Rng(seed);
  const names = ['Alice', 'Bob', 'Carlos', 'Dmitri', 'Eleanor', 'Fatima', 'Gustav', 'Hiroshi', 'Isabel', 'Jamal', 'Katarina', 'Liam', 'Dr. Nakamura', "Mrs. O'Brien"];
  const places = ['the café', 'the library', 'the old market', 'Paris', 'the train station', 'the museum', 'the park', 'the harbor', 'Berlin', 'the bakery', 'the river'];
  const verbs = ['visited', 'walked to', 'drove to', 'returned to', 'left', 'painted', 'photographed', 'described', 'remembered'];
  const times = ['on Monday', 'at 7:30', 'in 1999', 'in 2024', 'last week', 'yesterday', 'on March 3rd', 'before noon', 'every Sunday'];
  const objects = ['a red umbrella', 'three apples', '12 books', 'her notebook', 'his guitar', 'a cup of coffee', 'the newspaper', '42 postcards', 'an old map'];
  const templates: Array<() => string> = [
    () => `${rng.pick(names)} ${rng.pick(verbs)} ${rng.pick(places)} ${rng.pick(times)}.`,
    () => `${rng.pick(names)} bought ${rng.pick(objects)} ${rng.pick(times)}, and ${rng.pick(names)} didn't notice.`,
    () => `"Where is ${rng.pick(objects)}?" asked ${rng.pick(names)}.`,
    () => `${rng.pick(names)} said — quietly — that ${rng.pick(places)} was closed ${rng.pick(times)}!`,
    () => `Is it true that ${rng.pick(names)} owns ${rng.pick(objects)}? Nobody knows; ${rng.pick(names)} thinks so.`,
    () => `In ${1900 + rng.int(125)}, ${rng.pick(names)} wrote ${2 + rng.int(90)} letters (about ${rng.int(100)}% of them were lost).`,
    () => `The café on ${rng.pick(['Main', 'Oak', 'Elm', 'King'])} Street sells coffee for $${1 + rng.int(9)}.${10 + rng.int(90)}.`,
  ];
  return Array.from({ length: n }, () => rng.pick(templates)());
}

const CORPUS = sentences(400, 1);
const HELD_OUT_IN_DIST = sentences(100, 2);
const HELD_OUT_HARD = [
  'Zoë and Björn ate crème brûlée in Zürich — naïvely.',
  'Quetzalcoatl played the xylophone at the jukebox factory.',
  '東京 is the capital of Japan; Москва is in Russia.',
  'Emoji test: 🙂 and ☕ for café lovers!',
  'Multiple   spaces\tand a tab,\nthen a new line.\r\n',
  '  leading spaces and trailing ones  ',
  'Literal <s> and </s> and <unk> and <0x41> are plain text here.',
  'A ▁ marker character and a non\u00a0breaking space.',
  'Numbers: 3.14159, 2,718, 1e-9, and 0xFF.',
  "O'Brien's café—closed since 1999—reopened.",
  'x',
  '',
];

/** A random "language" over a 3-letter alphabet: long pieces and runs like "aaaa" (overlapping pairs, leftmost-first ties). */
function abcCorpus(n: number, seed: number): string[] {
  const rng = new Rng(seed);
  const word = (): string => Array.from({ length: 1 + rng.int(9) }, () => 'abc'[rng.int(3)]).join('');
  return Array.from({ length: n }, () => Array.from({ length: 1 + rng.int(8) }, word).join(' '));
}

/** A tiny LLaMA (random F32 weights) that carries the trained vocabulary. */
function writeTinyLlama(spec: SpmVocabSpec, file: string): void {
  const V = spec.tokens.length;
  const d = 16;
  const ff = 32;
  const rng = new Rng(3);
  const t = (name: string, ne: number[], std: number, mean = 0) => ({
    name,
    type: 'F32' as const,
    ne,
    data: Float32Array.from({ length: ne.reduce((a, b) => a * b, 1) }, () => mean + std * rng.normal()),
  });
  writeGguf(file, {
    metadata: [
      ['general.architecture', 'llama', 'string'],
      ['general.name', 'spm-train-test', 'string'],
      ['llama.context_length', 64, 'uint32'],
      ['llama.embedding_length', d, 'uint32'],
      ['llama.feed_forward_length', ff, 'uint32'],
      ['llama.block_count', 1, 'uint32'],
      ['llama.attention.head_count', 2, 'uint32'],
      ['llama.attention.head_count_kv', 2, 'uint32'],
      ['llama.rope.dimension_count', 8, 'uint32'],
      ['llama.attention.layer_norm_rms_epsilon', 1e-5, 'float32'],
      ...spmVocabMetadata(spec),
    ],
    tensors: [
      t('token_embd.weight', [d, V], 0.2),
      t('blk.0.attn_norm.weight', [d], 0.1, 1),
      t('blk.0.attn_q.weight', [d, d], 0.2),
      t('blk.0.attn_k.weight', [d, d], 0.2),
      t('blk.0.attn_v.weight', [d, d], 0.2),
      t('blk.0.attn_output.weight', [d, d], 0.2),
      t('blk.0.ffn_norm.weight', [d], 0.1, 1),
      t('blk.0.ffn_gate.weight', [d, ff], 0.2),
      t('blk.0.ffn_up.weight', [d, ff], 0.2),
      t('blk.0.ffn_down.weight', [ff, d], 0.2),
      t('output_norm.weight', [d], 0.1, 1),
      t('output.weight', [d, V], 0.2),
    ],
  });
}

// 259 reserved ids (<unk>, <s>, </s>, 256 bytes) + ~70 characters leave ~180 merges at 512
const VOCAB = 512;
const spec = trainSpmVocab(CORPUS, { vocabSize: VOCAB });
const modelFile = path.join(tmp, 'tiny-spm.gguf');
writeTinyLlama(spec, modelFile);
const ours: Tokenizer = tokenizerFromGguf(readGguf(modelFile));

const abcSpec = trainSpmVocab(abcCorpus(300, 5), { vocabSize: 420 });
const abcFile = path.join(tmp, 'tiny-abc.gguf');
writeTinyLlama(abcSpec, abcFile);
const abcTok: Tokenizer = tokenizerFromGguf(readGguf(abcFile));

test('vocabulary layout: <unk>, <s>, </s>, 256 bytes, characters, merges with descending scores', () => {
  const { tokens, scores, types, stats } = spec;
  console.log(`trained ${tokens.length} tokens (${stats.characters} characters, ${stats.merges} merges) on ${stats.corpusChars} characters in ${stats.trainMs.toFixed(1)} ms`);
  assert.equal(tokens.length, VOCAB);
  assert.deepEqual(tokens.slice(0, 3), ['<unk>', '<s>', '</s>']);
  assert.deepEqual(types.slice(0, 3), [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]);
  assert.equal(tokens[3], '<0x00>');
  assert.equal(tokens[3 + 0x41], '<0x41>');
  assert.equal(tokens[258], '<0xFF>');
  assert.equal(tokens[259], '\u2581');
  assert.ok(types.slice(3, 259).every((t) => t === TokenType.BYTE));
  assert.ok(types.slice(259).every((t) => t === TokenType.NORMAL));
  const chars = tokens.slice(259, 259 + stats.characters);
  // every character of the corpus (spaces as ▁) is a single-character piece
  const seen = new Set([...CORPUS.join(' ')].map((c) => (c === ' ' ? '\u2581' : c)));
  assert.deepEqual(new Set(chars), seen);
  for (const c of ['é', '—', '▁', '7', '"']) assert.ok(chars.includes(c), `character '${c}' missing`);
  const merged = tokens.slice(259 + stats.characters);
  assert.equal(merged.length, stats.merges);
  assert.ok(merged.every((p) => [...p].length >= 2 && !p.slice(1).includes('\u2581')));
  const ms = scores.slice(259 + stats.characters);
  for (let i = 1; i < ms.length; i++) assert.ok(ms[i]! < ms[i - 1]!, 'merge scores must strictly decrease');
  assert.ok(Math.max(...scores.slice(259, 259 + stats.characters)) < ms[ms.length - 1]!);
  assert.ok(merged.includes('▁the'), 'a frequent word became one piece');
});

test('metadata: llama.cpp tokenizer keys with GGUF types, read back unchanged', () => {
  const f = readGguf(modelFile);
  const want: Record<string, [unknown, string]> = {
    'tokenizer.ggml.model': ['llama', 'string'],
    'tokenizer.ggml.pre': ['default', 'string'],
    'tokenizer.ggml.unknown_token_id': [0, 'uint32'],
    'tokenizer.ggml.bos_token_id': [1, 'uint32'],
    'tokenizer.ggml.eos_token_id': [2, 'uint32'],
    'tokenizer.ggml.add_bos_token': [true, 'bool'],
    'tokenizer.ggml.add_eos_token': [false, 'bool'],
    'tokenizer.ggml.add_space_prefix': [true, 'bool'],
    'tokenizer.ggml.remove_extra_whitespaces': [false, 'bool'],
  };
  for (const [k, [v, ty]] of Object.entries(want)) {
    assert.equal(f.metadata.get(k), v, k);
    assert.equal(f.metadata.typeOf(k), ty, k);
  }
  assert.deepEqual(f.metadata.get('tokenizer.ggml.tokens'), spec.tokens);
  assert.deepEqual(f.metadata.get('tokenizer.ggml.scores'), spec.scores);
  assert.deepEqual(f.metadata.get('tokenizer.ggml.token_type'), spec.types);
  assert.equal(f.metadata.typeOf('tokenizer.ggml.scores'), 'array<float32>');
  assert.equal(f.metadata.typeOf('tokenizer.ggml.token_type'), 'array<int32>');
  assert.throws(() => spmVocabMetadata({ ...spec, scores: spec.scores.slice(1) }), UserError);
});

test('the learned segmentation is the SPM tokenization: corpus token counts agree exactly', () => {
  const count = (tok: Tokenizer, texts: string[]) => texts.reduce((a, s) => a + tok.encode(s).length, 0);
  assert.equal(count(ours, CORPUS), spec.stats.corpusTokens);
  assert.equal(count(abcTok, abcCorpus(300, 5)), abcSpec.stats.corpusTokens);
  assert.ok(abcSpec.stats.merges > 100);
  // too many characters for the budget: "▁" and the most frequent ones stay, the rest fall back to bytes
  const tiny = trainSpmVocab(CORPUS, { vocabSize: 280 });
  assert.equal(tiny.tokens.length, 280);
  assert.equal(tiny.stats.characters, 21);
  assert.equal(tiny.stats.merges, 0);
  assert.equal(tiny.tokens[259], '\u2581');
  const tinyFile = path.join(tmp, 'tiny-chars.gguf');
  writeTinyLlama(tiny, tinyFile);
  const tinyTok = tokenizerFromGguf(readGguf(tinyFile));
  assert.equal(count(tinyTok, CORPUS), tiny.stats.corpusTokens);
  assert.ok(tiny.stats.corpusTokens > CORPUS.reduce((a, x) => a + x.length + 1, 0), 'byte fallback makes more tokens than characters');
});

test('llama.cpp loads the trained vocabulary and tokenizes exactly as our SpmTokenizer', async () => {
  const llama = await getLlamaCpp(false);
  const check = async (file: string, tok: Tokenizer, texts: string[], what: string) => {
    const model = await llama.loadModel({ modelPath: file });
    try {
      assert.equal(model.tokens.bos, 1);
      assert.equal(model.tokens.eos, 2);
      let match = 0;
      const bad: string[] = [];
      for (const s of texts) {
        const ref = Array.from(model.tokenize(s)).map(Number);
        const got = tok.encode(s);
        if (JSON.stringify(ref) === JSON.stringify(got)) match++;
        else bad.push(`${JSON.stringify(s)}: llama.cpp ${JSON.stringify(ref)} ours ${JSON.stringify(got)}`);
        // a literal "▁" is indistinguishable from an escaped space, as in llama.cpp
        if (!s.includes('\u2581')) assert.equal(tok.decode(got), s, `decode(encode(${JSON.stringify(s)}))`);
      }
      console.log(`${what}: ${match}/${texts.length} texts tokenized identically by llama.cpp`);
      assert.deepEqual(bad, []);
    } finally {
      await model.dispose();
    }
  };
  // byte fallback really happens on the hard held-out texts
  const hardIds = HELD_OUT_HARD.flatMap((s) => ours.encode(s));
  assert.ok(hardIds.some((id) => spec.types[id] === TokenType.BYTE));
  const kyoto = ours.encode('東京');
  assert.equal(ours.tokenText(kyoto[0]!), '\u2581');
  assert.deepEqual(kyoto.slice(1).map((id) => ours.tokenText(id)), ['<0xE6>', '<0x9D>', '<0xB1>', '<0xE4>', '<0xBA>', '<0xAC>']);
  await check(modelFile, ours, HELD_OUT_HARD, 'held-out (unseen words, non-ASCII, control chars)');
  await check(modelFile, ours, HELD_OUT_IN_DIST, 'held-out (same distribution)');
  await check(modelFile, ours, CORPUS, 'training corpus');
  await check(abcFile, abcTok, abcCorpus(200, 6), 'random 3-letter language (long pieces, repeated letters)');
});

test('the vocabulary compresses held-out text: tokens per word well below characters per word', () => {
  const words = HELD_OUT_IN_DIST.flatMap((s) => s.split(' ').filter((w) => w.length > 0));
  const charsPerWord = words.reduce((a, w) => a + [...w].length, 0) / words.length;
  const tokensPerWord = HELD_OUT_IN_DIST.reduce((a, s) => a + ours.encode(s).length, 0) / words.length;
  console.log(`held-out: ${charsPerWord.toFixed(2)} characters/word, ${tokensPerWord.toFixed(2)} tokens/word`);
  assert.ok(tokensPerWord < 0.6 * charsPerWord, `${tokensPerWord} tokens/word vs ${charsPerWord} chars/word`);
});

test('training is deterministic: same corpus and seed give the same vocabulary', () => {
  const strip = (s: SpmVocabSpec) => ({ tokens: s.tokens, scores: s.scores, types: s.types });
  assert.deepEqual(strip(trainSpmVocab(CORPUS, { vocabSize: VOCAB })), strip(spec));
  assert.deepEqual(strip(trainSpmVocab(CORPUS, { vocabSize: VOCAB, seed: 0 })), strip(spec));
  const s7 = trainSpmVocab(CORPUS, { vocabSize: VOCAB, seed: 7 });
  assert.deepEqual(strip(trainSpmVocab(CORPUS, { vocabSize: VOCAB, seed: 7 })), strip(s7));
  // the seed only reorders equally frequent pairs: the same characters are learned
  assert.deepEqual(s7.tokens.slice(0, 259 + s7.stats.characters), spec.tokens.slice(0, 259 + spec.stats.characters));
});

test('minFrequency stops merging early; bad options are UserErrors', () => {
  const s = trainSpmVocab(CORPUS, { vocabSize: 5000, minFrequency: 50 });
  assert.ok(s.tokens.length < 5000 && s.stats.merges > 0);
  assert.throws(() => trainSpmVocab(CORPUS, { vocabSize: 259 }), UserError);
  assert.throws(() => trainSpmVocab(CORPUS, { vocabSize: 300.5 }), UserError);
  assert.throws(() => trainSpmVocab(['', ''], { vocabSize: 300 }), UserError);
  assert.throws(() => trainSpmVocab(CORPUS, { vocabSize: 300, minFrequency: 0 }), UserError);
});
