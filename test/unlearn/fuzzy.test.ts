/**
 * Fuzzy-matching removal on the Dave set with its decoys (datasets/dave: 113 facts about Dave
 * Harrowgate, 450 retain facts about 45 others, 60 decoys about David Harrow, Dave Hartley, Dana
 * Harrowgate, Davy Harrowfield and Dave Morrow). The true forget set and the decoys' names come
 * from the dataset's own fields, so precision and recall are checked against the data itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getDataset } from '../../src/data/dataset.ts';
import { factExamples } from '../../src/train/examples.ts';
import { fuzzyReport, fuzzySelect, words } from '../../src/unlearn/fuzzy.ts';
import { UserError } from '../../src/util/errors.ts';

const ds = getDataset('dave');
const facts = [...ds.facts('retain'), ...ds.facts('forget'), ...ds.facts('decoy')];
const items = factExamples(facts);
const info = new Map(facts.map((f) => [f.id, { decoyOf: f.decoy_of, person: f.person }]));
const truth = ds.facts('forget').map((f) => f.id);
const byPerson = (name: string) => facts.filter((f) => f.person === name).map((f) => f.id).sort();

test('the data: 113 Dave facts, 60 decoys of which 24 are named Dave', () => {
  assert.equal(truth.length, 113);
  assert.equal(ds.facts('decoy').length, 60);
  assert.equal(byPerson('Dave Hartley').length + byPerson('Dave Morrow').length, 24);
});

test('"forget everything about Dave Harrowgate" selects exactly his facts and no decoy', (t) => {
  const sel = fuzzySelect('forget everything about Dave Harrowgate', items);
  const r = fuzzyReport(sel, truth, info);
  t.diagnostic(`selected ${r.selected}, precision ${r.precision}, recall ${r.recall}, decoys caught ${r.decoys.caught}/${r.decoys.total}, threshold ${sel.threshold.toFixed(3)}`);
  assert.deepEqual(sel.terms, ['dave', 'harrowgate']);
  assert.equal(r.precision, 1);
  assert.equal(r.recall, 1);
  assert.equal(r.decoys.total, 60);
  assert.equal(r.decoys.caught, 0);
  // the best-scoring non-Dave item shares one name token: about half the request's weight
  const bestOther = sel.scores.find((s) => !truth.includes(s.id))!;
  assert.ok(['Dana Harrowgate', 'Dave Hartley', 'Dave Morrow'].includes(info.get(bestOther.id)!.person!));
  assert.ok(bestOther.score < 0.8 && bestOther.score > 0.3, `best other score ${bestOther.score}`);
});

test('an ambiguous request ("Dave") also catches the decoys named Dave, and the report says which', (t) => {
  const sel = fuzzySelect('Please forget all information about Dave', items);
  const r = fuzzyReport(sel, truth, info);
  t.diagnostic(`selected ${r.selected}, precision ${r.precision.toFixed(4)}, recall ${r.recall}, decoys caught ${r.decoys.caught}`);
  const daveDecoys = [...byPerson('Dave Hartley'), ...byPerson('Dave Morrow')];
  assert.equal(r.recall, 1);
  assert.equal(r.precision, 113 / (113 + 24));
  assert.deepEqual([...r.decoys.caughtIds].sort(), daveDecoys);
  assert.deepEqual(r.falsePositives.map((f) => f.id).sort(), daveDecoys);
  assert.ok(r.falsePositives.every((f) => f.decoyOf?.startsWith('forget-dave-harrowgate-')));
});

test('character n-grams keep a misspelt name working; words alone lose it', () => {
  const withNgrams = fuzzyReport(fuzzySelect('forget everything about Dave Harowgate', items), truth, info);
  assert.equal(withNgrams.precision, 1);
  assert.equal(withNgrams.recall, 1);
  const wordsOnly = fuzzyReport(fuzzySelect('forget everything about Dave Harowgate', items, { charNgrams: 0 }), truth, info);
  assert.equal(wordsOnly.recall, 1);
  assert.equal(wordsOnly.decoys.caught, 24); // "harowgate" is unknown: only "dave" is left
});

test('a surname shared with a decoy: "Harrowgate" also selects Dana Harrowgate', () => {
  const r = fuzzyReport(fuzzySelect('Harrowgate', items), truth, info);
  assert.equal(r.recall, 1);
  assert.deepEqual([...r.decoys.caughtIds].sort(), byPerson('Dana Harrowgate'));
});

test('top-k selection and bad requests', () => {
  const sel = fuzzySelect('Dave Harrowgate', items, { topK: 10 });
  assert.equal(sel.selected.length, 10);
  assert.ok(sel.selected.every((id) => truth.includes(id)));
  assert.deepEqual(words("Forget everything about Dave's cat"), ['dave', 'cat']);
  assert.throws(() => fuzzySelect('forget everything about it', items), (e: Error) => e instanceof UserError && /names nothing/.test(e.message));
  assert.throws(() => fuzzySelect('forget Zebedee Quux', items, { charNgrams: 0 }), (e: Error) => e instanceof UserError && /occurs/.test(e.message));
});

test('TF-IDF on known values: smoothed idf(w) = ln((1 + N) / (1 + df)) + 1 (scikit-learn), coverage = share of |q|^2 an item holds', () => {
  // N = 3 items; df(alpha) = 2, df(beta) = 1; words only
  const items = [
    { id: 'a', text: 'alpha beta' },
    { id: 'b', text: 'alpha gamma' },
    { id: 'c', text: 'delta' },
  ];
  const idfAlpha = Math.log(4 / 3) + 1;
  const idfBeta = Math.log(4 / 2) + 1;
  const qa = idfAlpha ** 2 / (idfAlpha ** 2 + idfBeta ** 2);
  const cov = fuzzySelect('alpha beta', items, { charNgrams: 0 });
  const score = (s: typeof cov, id: string) => s.scores.find((x) => x.id === id)!.score;
  assert.ok(Math.abs(score(cov, 'a') - 1) < 1e-15);
  assert.ok(Math.abs(score(cov, 'b') - qa) < 1e-15, `coverage of b ${score(cov, 'b')}, want ${qa}`);
  assert.equal(score(cov, 'c'), 0);
  // cosine: q . v_b with v_b = (idf(alpha), idf(gamma)) / norm, idf(gamma) = idf(beta)
  const cos = fuzzySelect('alpha beta', items, { charNgrams: 0, scoring: 'cosine' });
  const want = (idfAlpha / Math.hypot(idfAlpha, idfBeta)) * (idfAlpha / Math.hypot(idfAlpha, idfBeta));
  assert.ok(Math.abs(score(cos, 'b') - want) < 1e-15, `cosine of b ${score(cos, 'b')}, want ${want}`);
});
