/**
 * Our Porter stemmer and stemmed ROUGE against reference values from NLTK 3.8's own PorterStemmer
 * and rouge_score's tokenizer and arithmetic written out in Python
 * (scripts/reference/porter_reference.py -> test/fixtures/rouge/, see test/fixtures/README.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { needFixture } from '../helpers/fixtures.ts';
import { PorterStemmer, PORTER_MODES, porterStem, type PorterMode } from '../../src/eval/porter.ts';
import { rouge, rougeTokenize, type RougeScore } from '../../src/eval/rouge.ts';

interface PorterFixture {
  nltk: string;
  columns: string[];
  words: string[][];
}

interface PyScore {
  precision: number;
  recall: number;
  fmeasure: number;
}

interface PairFixture {
  pairs: Array<{
    kind: string;
    reference: string;
    candidate: string;
    reference_tokens: string[];
    candidate_tokens: string[];
    stemmed: Record<'rouge1' | 'rouge2' | 'rougeL', PyScore>;
    unstemmed: Record<'rouge1' | 'rouge2' | 'rougeL', PyScore>;
  }>;
}

test("Porter stemmer equals NLTK's PorterStemmer on every fixture word, in all three modes", (t) => {
  const p = needFixture(t, 'rouge', 'porter-nltk.json');
  if (!p) return;
  const fx = JSON.parse(fs.readFileSync(p, 'utf8')) as PorterFixture;
  assert.deepEqual(fx.columns.slice(1), [...PORTER_MODES]);
  assert.ok(fx.words.length >= 3000, `fixture has only ${fx.words.length} words`);
  for (const [col, mode] of fx.columns.slice(1).entries()) {
    const st = new PorterStemmer(mode as PorterMode);
    const wrong: string[] = [];
    for (const row of fx.words) {
      const got = st.stem(row[0]!);
      if (got !== row[col + 1]) wrong.push(`${row[0]} -> ${got}, NLTK ${row[col + 1]}`);
    }
    assert.deepEqual(wrong, [], `${mode}: ${wrong.length} of ${fx.words.length} words differ from NLTK ${fx.nltk}`);
  }
  // Named edge cases are in the list, with NLTK's default-mode stems.
  const byWord = new Map(fx.words.map((r) => [r[0]!, r[1]!]));
  for (const [w, s] of [
    ['generously', 'gener'],
    ['sky', 'sky'],
    ['skies', 'sky'],
    ['SKIES', 'ski'], // NLTK looks the un-lowered word up in its irregular table
    ['dying', 'die'],
    ['ies', 'i'],
    ['sses', 'ss'],
    ['dies', 'die'],
    ['flies', 'fli'],
    ['2024', '2024'],
    ['1990s', '1990'],
    ['\u{1d49c}lphabets', '\u{1d49c}lphabet'],
  ] as const) {
    assert.equal(byWord.get(w), s, `fixture stem of ${w}`);
    assert.equal(porterStem(w), s, `porterStem(${w})`);
  }
  assert.throws(() => new PorterStemmer('SNOWBALL' as PorterMode), /mode must be one of/);
});

function close(actual: RougeScore, expected: PyScore, label: string): void {
  for (const [a, e, k] of [
    [actual.precision, expected.precision, 'precision'],
    [actual.recall, expected.recall, 'recall'],
    [actual.f1, expected.fmeasure, 'F'],
  ] as const) {
    assert.ok(Math.abs(a - e) <= 1e-9, `${label} ${k}: ours ${a}, reference ${e}`);
  }
}

test('stemmed ROUGE-1/2/L equal the rouge_score reference values on 200 pairs to 1e-9 (and unstemmed too)', (t) => {
  const p = needFixture(t, 'rouge', 'rouge-pairs.json');
  if (!p) return;
  const fx = JSON.parse(fs.readFileSync(p, 'utf8')) as PairFixture;
  assert.equal(fx.pairs.length, 200);
  let stemDiffers = 0;
  for (const [i, q] of fx.pairs.entries()) {
    const label = `pair ${i} (${q.kind}: ${JSON.stringify(q.reference).slice(0, 40)} / ${JSON.stringify(q.candidate).slice(0, 40)})`;
    assert.deepEqual(rougeTokenize(q.reference), q.reference_tokens, `${label}: reference tokens`);
    assert.deepEqual(rougeTokenize(q.candidate), q.candidate_tokens, `${label}: candidate tokens`);
    // rouge_score's score(target, prediction) = our rouge(candidate, reference)
    const s = rouge(q.candidate, q.reference);
    close(s.rouge1, q.stemmed.rouge1, `${label} rouge1`);
    close(s.rouge2, q.stemmed.rouge2, `${label} rouge2`);
    close(s.rougeL, q.stemmed.rougeL, `${label} rougeL`);
    const u = rouge(q.candidate, q.reference, { stemmer: false });
    close(u.rouge1, q.unstemmed.rouge1, `${label} unstemmed rouge1`);
    close(u.rouge2, q.unstemmed.rouge2, `${label} unstemmed rouge2`);
    close(u.rougeL, q.unstemmed.rougeL, `${label} unstemmed rougeL`);
    if (q.stemmed.rougeL.recall !== q.unstemmed.rougeL.recall) stemDiffers++;
  }
  // The pairs exercise the stemmer: on a good share of them stemming changes ROUGE-L recall.
  assert.ok(stemDiffers >= 40, `stemming changed ROUGE-L recall on only ${stemDiffers} pairs`);
});
