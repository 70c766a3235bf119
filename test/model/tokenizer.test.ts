import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { readGguf } from '../../src/model/gguf.ts';
import { type Tokenizer, tokenizerFromGguf, tokenizerFromHfJson } from '../../src/model/tokenizer/index.ts';
import { gpt2PreTokenize } from '../../src/model/tokenizer/bpe.ts';
import { UserError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { needFixture } from '../helpers/fixtures.ts';
import { llamaCppSourceFile } from '../helpers/llamacppSource.ts';
import { needLlamaCpp } from '../helpers/llamacpp.ts';
import type { Token } from 'node-llama-cpp';
import { getLlamaCpp } from '../../src/model/llamacppLogprobs.ts';

/**
 * llama.cpp's tokenizer test data (tests/test-tokenizer-0.cpp): strings in `.inp` separated by
 * "\n__ggml_vocab_test__\n", expected ids in `.out`, one line per string, tokenized without BOS
 * and without parsing special tokens.
 */
function readCases(base: string): Array<{ text: string; ids: number[] }> {
  const raw = fs.readFileSync(`${base}.inp`, 'utf8');
  const sep = '\n__ggml_vocab_test__\n';
  const inp: string[] = [];
  let pos = 0;
  while (pos < raw.length) {
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
  assert.equal(inp.length, out.length, 'inp and out have the same number of cases');
  return inp.map((text, i) => ({ text, ids: out[i]!.trim() === '' ? [] : out[i]!.trim().split(' ').map(Number) }));
}

function checkCases(t: { diagnostic(m: string): void }, name: string, tok: Tokenizer, cases: Array<{ text: string; ids: number[] }>): void {
  const failed: string[] = [];
  for (const c of cases) {
    const got = tok.encode(c.text);
    if (JSON.stringify(got) !== JSON.stringify(c.ids)) failed.push(`${JSON.stringify(c.text)}: expected ${c.ids.join(' ')} got ${got.join(' ')}`);
  }
  t.diagnostic(`${name}: ${cases.length - failed.length} / ${cases.length} cases match (${new Set(cases.map((c) => c.text)).size} distinct strings)`);
  assert.deepEqual(failed, []);
}

test('llama SPM tokenizer matches llama.cpp test-tokenizer-0 (ggml-vocab-llama-spm)', (t) => {
  const p = llamaCppSourceFile('models/ggml-vocab-llama-spm.gguf');
  const tok = tokenizerFromGguf(readGguf(p));
  assert.equal(tok.kind, 'llama');
  assert.equal(tok.vocabSize, 32000);
  assert.equal(tok.bos, 1);
  assert.equal(tok.eos, 2);
  assert.equal(tok.addBosDefault, true);
  assert.equal(tok.tokenText(15043), '▁Hello');
  assert.equal(tok.tokenText(13), '<0x0A>');
  const cases = readCases(p);
  assert.equal(cases.length, 46);
  checkCases(t, 'llama-spm', tok, cases);
  for (const c of cases) assert.equal(tok.decode(tok.encode(c.text)), c.text, `decode(encode(${JSON.stringify(c.text)}))`);
  // BOS / EOS and the leading space: "Hello world" = ▁Hello ▁world, BOS first
  assert.deepEqual(tok.encode('Hello world', { addBos: true, addEos: true }), [1, 15043, 3186, 2]);
  assert.equal(tok.decode([1, 15043, 3186, 2]), 'Hello world');
  assert.equal(tok.decode([1, 15043, 3186, 2], { special: true }), '<s> Hello world</s>');
  // byte fallback: the llama emoji has no piece, so its four UTF-8 bytes come out as <0xXX> tokens
  assert.deepEqual(tok.encode('🦙'), [29871, 243, 162, 169, 156]);
  assert.equal(tok.tokenText(243), '<0xF0>');
});

test('GPT-2 BPE tokenizer matches llama.cpp test-tokenizer-0 (ggml-vocab-gpt-2)', (t) => {
  const p = llamaCppSourceFile('models/ggml-vocab-gpt-2.gguf');
  const tok = tokenizerFromGguf(readGguf(p));
  assert.equal(tok.kind, 'gpt2');
  assert.equal(tok.vocabSize, 50257);
  assert.equal(tok.bos, 50256);
  assert.equal(tok.eos, 50256);
  assert.equal(tok.tokenText(995), 'Ġworld');
  const cases = readCases(p);
  checkCases(t, 'gpt-2', tok, cases);
  for (const c of cases) assert.equal(tok.decode(tok.encode(c.text)), c.text, `decode(encode(${JSON.stringify(c.text)}))`);
  // "<|endoftext|>" is a control token: plain text unless parseSpecial
  assert.deepEqual(tok.encode('a<|endoftext|>', { parseSpecial: true }), [64, 50256]);
  assert.deepEqual(tok.encode('a<|endoftext|>'), [64, 27, 91, 437, 1659, 5239, 91, 29]);
  assert.equal(tok.decode([64, 50256]), 'a');
  assert.equal(tok.decode([64, 50256], { special: true }), 'a<|endoftext|>');
  // the GPT-2 split: contractions, optional leading space, \s+(?!\S)
  assert.deepEqual(gpt2PreTokenize("I'll  go 42x!?\n\n"), ['I', "'ll", ' ', ' go', ' 42', 'x', '!?', '\n\n']);
});

test('Hugging Face tokenizer.json (gpt2) matches the same llama.cpp expectations', async (t) => {
  const dir = needFixture(t, 'tokenizers', 'gpt2');
  const vocab = llamaCppSourceFile('models/ggml-vocab-gpt-2.gguf');
  if (!dir) return;
  const hf = await tokenizerFromHfJson(dir);
  assert.equal(hf.kind, 'hf');
  assert.equal(hf.vocabSize, 50257);
  assert.equal(hf.eos, 50256); // found among the added tokens (no tokenizer_config.json here)
  assert.equal(hf.tokenText(995), 'Ġworld');
  checkCases(t, 'hf gpt2', hf, readCases(vocab));
  assert.deepEqual(hf.encode('Hello world', { addEos: true }), [15496, 995, 50256]);
  assert.equal(hf.decode([15496, 995, 50256]), 'Hello world');
  // agreement with the GGUF BPE on random mixed-script text. U+0085 and U+FEFF are left out:
  // transformers.js splits with JavaScript's \s, which disagrees with Unicode White_Space on them
  const gg = tokenizerFromGguf(readGguf(vocab));
  const rng = new Rng(11);
  const pieces = ['a', 'Z', 'é', 'ß', '中', '🦙', '\u0301', '1', '٣', '²', ' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u3000', '\u200b', "'s", "'ll", "'", '.', '!', '$', '_', 'Ⅻ', 'hello', "'t", '  \n'];
  for (let i = 0; i < 500; i++) {
    let s = '';
    for (let j = rng.int(12); j >= 0; j--) s += rng.pick(pieces);
    assert.deepEqual(gg.encode(s), hf.encode(s), JSON.stringify(s));
  }
  await assert.rejects(tokenizerFromHfJson('/nonexistent/dir'), (e: Error) => e instanceof UserError && /no tokenizer.json/.test(e.message));
});

test('tokenizers agree with llama.cpp itself (node-llama-cpp) on stories260K and random text', async (t) => {
  const p = needFixture(t, 'models', 'stories260K.gguf');
  const gpt2 = llamaCppSourceFile('models/ggml-vocab-gpt-2.gguf');
  const spm = llamaCppSourceFile('models/ggml-vocab-llama-spm.gguf');
  if (!p || !(await needLlamaCpp(t))) return;
  const llama = await getLlamaCpp();
  const texts = [
    'Once upon a time, there was a little girl named Lily.',
    ' leading space and trailing space ',
    'Tabs\tand\nnewlines\n\n  indented',
    'Unicode: café, naïve, 中文, 🦙 and emoji 😀!',
    'numbers 12345 67.89 and symbols <>[]{}#@',
    '',
    '<s> literal markers </s>',
  ];
  const model = await llama.loadModel({ modelPath: p, gpuLayers: 0 });
  try {
    const tok = tokenizerFromGguf(readGguf(p));
    assert.equal(tok.vocabSize, 512);
    for (const s of texts) {
      assert.deepEqual(tok.encode(s), model.tokenize(s, false), JSON.stringify(s));
      assert.deepEqual(tok.encode(s, { parseSpecial: true }), model.tokenize(s, true), `special ${JSON.stringify(s)}`);
      assert.equal(tok.decode(tok.encode(s)), model.detokenize(tok.encode(s) as Token[]), `decode ${JSON.stringify(s)}`);
    }
    // the fixture's greedy continuation starts with these ids
    assert.deepEqual(tok.encode('Once upon a time', { addBos: true }), [1, 403, 407, 261, 378]);
  } finally {
    await model.dispose();
  }
  // random strings, whitespace and special-token text included, against vocab-only llama.cpp models
  // (llama.cpp logs "missing tensor 'token_embd.weight'" for the vocab-only files; they still load)
  const pieces = ['a', 'Z', 'é', 'ß', '中', '🦙', '😀', '\u0301', '1', '٣', '²', ' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u3000', '\u2028', '\u0085', '\u200b', '\ufeff', "'s", "'ll", "'", '.', ',', '!', '$', '-', '_', 'ℕ', 'Ⅻ', 'hello', "'t", '<s>', '</s>', '<|endoftext|>', '▁'];
  for (const f of [gpt2, spm, p]) {
    const m = await llama.loadModel({ modelPath: f, vocabOnly: true });
    try {
      const tok = tokenizerFromGguf(readGguf(f));
      const rng = new Rng(5);
      for (let i = 0; i < 300; i++) {
        let s = '';
        for (let j = rng.int(12); j >= 0; j--) s += rng.pick(pieces);
        assert.deepEqual(tok.encode(s), m.tokenize(s, false), `${f}: ${JSON.stringify(s)}`);
        assert.deepEqual(tok.encode(s, { parseSpecial: true }), m.tokenize(s, true), `${f} (special): ${JSON.stringify(s)}`);
      }
    } finally {
      await m.dispose();
    }
  }
});

test('tokenizer errors are UserErrors', (t) => {
  const p = needFixture(t, 'models', 'stories260K.gguf');
  if (!p) return;
  const f = readGguf(p);
  const tok = tokenizerFromGguf(f);
  assert.throws(() => tok.decode([600]), (e: Error) => e instanceof UserError && /600 is out of range/.test(e.message));
  assert.throws(() => tok.tokenText(-1), UserError);
  const other = readGguf(p);
  other.metadata.set('tokenizer.ggml.model', 'bert');
  assert.throws(() => tokenizerFromGguf(other), (e: Error) => e instanceof UserError && /tokenizer\.ggml\.model = "bert" is not supported/.test(e.message));
  other.metadata.delete('tokenizer.ggml.model');
  assert.throws(() => tokenizerFromGguf(other), (e: Error) => e instanceof UserError && /tokenizer.ggml.model/.test(e.message));
  const bpe = readGguf(llamaCppSourceFile('models/ggml-vocab-gpt-2.gguf'));
  bpe.metadata.set('tokenizer.ggml.pre', 'kimi-k2');
  assert.throws(() => tokenizerFromGguf(bpe), (e: Error) => e instanceof UserError && /tokenizer\.ggml\.pre = "kimi-k2" is not supported/.test(e.message));
});
