/**
 * ROUGE against hand-worked examples (rouge_score semantics), and the differences from the
 * installed js-rouge package that made us implement it here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as jsRouge from 'js-rouge';
import { rouge, rougeL, rougeN, rougeTokenize, lcsLength } from '../../src/eval/rouge.ts';
import { UserError } from '../../src/util/errors.ts';

function near(actual: number, expected: number, label: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-12, `${label}: expected ${expected}, got ${actual}`);
}

test('tokenizer: lowercase, non-alphanumerics to spaces, punctuation dropped', () => {
  assert.deepEqual(rougeTokenize("Dave's e-mail: DAVE@Example.com, 2024!"), ['dave', 's', 'e', 'mail', 'dave', 'example', 'com', '2024']);
  assert.deepEqual(rougeTokenize('  Café  naïve '), ['caf', 'na', 've']);
  assert.deepEqual(rougeTokenize('!!!'), []);
  // stemmer hook applies only to tokens longer than 3 characters
  assert.deepEqual(rougeTokenize('bus sat books', { stemmer: (t) => t.replace(/s$/, '') }), ['bus', 'sat', 'book']);
});

test('repeated words are clipped: "the cat the cat" vs "The cat sat on the mat."', () => {
  // ref tokens: the cat sat on the mat (6); cand: the cat the cat (4)
  // ROUGE-1: ref counts the:2 cat:1 sat:1 on:1 mat:1, cand the:2 cat:2 -> overlap min(2,2) + min(1,2) = 3
  //   P = 3/4, R = 3/6, F1 = 2 (3/4)(1/2) / (5/4) = 0.6   (unclipped counting would give P = 1, R = 4/6)
  // ROUGE-2: ref bigrams the-cat cat-sat sat-on on-the the-mat (5); cand the-cat x2, cat-the (3)
  //   overlap min(2,1) = 1 -> P = 1/3, R = 1/5, F1 = (2/15) / (8/15) = 0.25
  // ROUGE-L: LCS "the cat the" = 3 ("the cat the cat" is not a subsequence of ref) -> P 3/4, R 1/2, F1 0.6
  const r = rouge('the cat the cat', 'The cat sat on the mat.');
  near(r.rouge1.precision, 0.75, 'r1 P');
  near(r.rouge1.recall, 0.5, 'r1 R');
  near(r.rouge1.f1, 0.6, 'r1 F');
  near(r.rouge2.precision, 1 / 3, 'r2 P');
  near(r.rouge2.recall, 0.2, 'r2 R');
  near(r.rouge2.f1, 0.25, 'r2 F');
  near(r.rougeL.recall, 0.5, 'rL R');
  near(r.rougeL.precision, 0.75, 'rL P');
  near(r.rougeL.f1, 0.6, 'rL F');
});

test('case and punctuation do not count: "DAVE WAS BORN IN PARIS" vs "Dave was born in Paris, France."', () => {
  // ref: dave was born in paris france (6), cand: dave was born in paris (5), all present
  // R1: P 1, R 5/6, F1 10/11; R2: 4 of 5 ref bigrams, P 1, R 4/5, F1 8/9; RL: LCS 5 -> R 5/6
  const r = rouge('DAVE WAS BORN IN PARIS', 'Dave was born in Paris, France.');
  near(r.rouge1.recall, 5 / 6, 'r1 R');
  near(r.rouge1.f1, 10 / 11, 'r1 F');
  near(r.rouge2.recall, 4 / 5, 'r2 R');
  near(r.rouge2.f1, 8 / 9, 'r2 F');
  near(r.rougeL.recall, 5 / 6, 'rL R');
});

test('word order: ROUGE-1 ignores it, ROUGE-2 and ROUGE-L do not', () => {
  // cand d c b a vs ref a b c d: R1 = 1; no shared bigram; LCS = 1 -> R = 1/4
  const r = rouge('d c b a', 'a b c d');
  near(r.rouge1.recall, 1, 'r1');
  near(r.rouge2.recall, 0, 'r2');
  near(r.rougeL.recall, 0.25, 'rL');
  assert.equal(lcsLength(['a', 'b', 'c', 'b', 'd', 'a', 'b'], ['b', 'd', 'c', 'a', 'b', 'a']), 4); // CLRS example: bcba
});

test('empty or punctuation-only answers score 0 instead of throwing; non-strings are UserErrors', () => {
  for (const cand of ['', '...', '   ']) {
    const r = rouge(cand, 'Dave lives in Paris');
    assert.deepEqual([r.rouge1.recall, r.rouge2.f1, r.rougeL.precision], [0, 0, 0]);
  }
  near(rougeN('a', 'a b', 2).recall, 0, 'unigram cand has no bigram');
  assert.throws(() => rougeL(undefined as unknown as string, 'x'), UserError);
  assert.throws(() => rougeN('a', 'a', 0), UserError);
});

test('js-rouge 3.2.3 differs: F only, punctuation tokens, case-sensitive, sentence-level L, throws on empty', () => {
  // It does clip repeated n-grams (same F1 as ours on the clipping example):
  near(jsRouge.n('the cat the cat', 'the cat sat on the mat', { n: 1 }), 0.6, 'js-rouge clipped R1 F');
  near(jsRouge.n('the cat the cat', 'the cat sat on the mat', { n: 2 }), 0.25, 'js-rouge clipped R2 F');
  // Case-sensitive by default: no unigram matches at all
  assert.equal(jsRouge.n('DAVE WAS BORN IN PARIS', 'Dave was born in Paris, France.', { n: 1 }), 0);
  // Even case-insensitive, "," and "." are tokens of the reference (8 tokens): P 1, R 5/8, F 10/13, not 10/11
  near(jsRouge.n('DAVE WAS BORN IN PARIS', 'Dave was born in Paris, France.', { n: 1, caseSensitive: false }), 10 / 13, 'js-rouge punctuation');
  near(rouge('DAVE WAS BORN IN PARIS', 'Dave was born in Paris, France.').rouge1.f1, 10 / 11, 'ours');
  // ROUGE-L over detected sentences (union LCS, i.e. rougeLsum): swapped sentences score 1.
  // rougeL on the whole token lists: cand dave writes books dave lives in paris, ref dave lives in
  // paris dave writes books; LCS = "dave lives in paris" = 4 of 7
  const swappedCand = 'Dave writes books. Dave lives in Paris.';
  const swappedRef = 'Dave lives in Paris. Dave writes books.';
  assert.equal(jsRouge.l(swappedCand, swappedRef), 1);
  near(rougeL(swappedCand, swappedRef).recall, 4 / 7, 'ours rougeL');
  // An empty model answer throws there
  assert.throws(() => jsRouge.n('', 'a b', { n: 1 }), RangeError);
});
