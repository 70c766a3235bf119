/**
 * ROUGE against hand-worked examples (rouge_score semantics, with and without its Porter stemming).
 * The reference values from NLTK's stemmer on 200 pairs are checked in rougeReference.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rouge, rougeL, rougeN, rougeTokenize, lcsLength } from '../../src/eval/rouge.ts';
import { UserError } from '../../src/util/errors.ts';

function near(actual: number, expected: number, label: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-12, `${label}: expected ${expected}, got ${actual}`);
}

test('tokenizer: lowercase, non-alphanumerics to spaces, punctuation dropped, Porter stems of tokens > 3 chars', () => {
  const noStem = { stemmer: false } as const;
  assert.deepEqual(rougeTokenize("Dave's e-mail: DAVE@Example.com, 2024!", noStem), ['dave', 's', 'e', 'mail', 'dave', 'example', 'com', '2024']);
  assert.deepEqual(rougeTokenize('  Café  naïve ', noStem), ['caf', 'na', 've']);
  assert.deepEqual(rougeTokenize('!!!'), []);
  // Default: NLTK's Porter stemmer (rouge_score use_stemmer=True), only on tokens longer than 3
  // characters: "was" and "has" (3) keep their s, "cats" (4) -> cat, "lives" -> live,
  // "generously" -> gener, "skies" -> sky (NLTK's irregular forms).
  assert.deepEqual(rougeTokenize('Dave was born; he lives generously under skies, has 2 cats.'), ['dave', 'was', 'born', 'he', 'live', 'gener', 'under', 'sky', 'has', '2', 'cat']);
  // a custom stemmer plugs in under the same > 3 rule
  assert.deepEqual(rougeTokenize('bus sat books', { stemmer: (t) => t.replace(/s$/, '') }), ['bus', 'sat', 'book']);
  assert.throws(() => rougeTokenize('x', { stemmer: 'porter' as unknown as boolean }), UserError);
});

test('stemming makes inflected forms match (rouge_score use_stemmer=True); stemmer: false does not', () => {
  // ref "Dave lives in the towns" -> dave live in the town; cand "Dave lived in a town" -> dave live in a town
  //   R1: overlap dave live in town = 4 of 5 ref tokens, 4 of 5 cand tokens -> P = R = 0.8
  //   unstemmed: "towns" != "town", "lives" != "lived" -> overlap dave, in = 2 of 5 -> 0.4
  const s = rouge('Dave lived in a town', 'Dave lives in the towns');
  near(s.rouge1.recall, 0.8, 'stemmed R1 R');
  near(s.rouge1.precision, 0.8, 'stemmed R1 P');
  // LCS dave live in town = 4 -> R 4/5
  near(s.rougeL.recall, 0.8, 'stemmed RL R');
  const u = rouge('Dave lived in a town', 'Dave lives in the towns', { stemmer: false });
  near(u.rouge1.recall, 0.4, 'unstemmed R1 R');
  near(u.rougeL.recall, 0.4, 'unstemmed RL R');
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
