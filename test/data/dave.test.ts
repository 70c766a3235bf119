/**
 * The Dave dataset generator: determinism (and that the committed files are exactly what the
 * generator writes), counts, and the schema rules every item must keep.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import {
  containsWord,
  DAVE_FILES,
  DAVE_NAME,
  DECOY_PEOPLE,
  generateDave,
  generatePretrainCorpus,
  renderDaveFiles,
  sha256,
  type DaveManifest,
} from '../../src/data/dave/generate.ts';
import { TEMPLATES } from '../../src/data/dave/templates.ts';
import { FEMALE_NAMES, MALE_NAMES, POOLS, SURNAMES_PRETRAIN } from '../../src/data/dave/pools.ts';
import type { FactItem } from '../../src/data/types.ts';

const COMMITTED = path.join(PROJECT_ROOT, 'datasets', 'dave');
const ds = generateDave(7);
const allFacts: FactItem[] = [...ds.forget, ...ds.retain, ...ds.holdout, ...ds.decoy];

test('same seed -> byte-identical files; another seed -> different facts', () => {
  const a = renderDaveFiles(generateDave(7));
  const b = renderDaveFiles(generateDave(7));
  assert.deepEqual([...a.keys()].sort(), ['README.md', 'decoys.jsonl', 'forget.jsonl', 'general.jsonl', 'holdout.jsonl', 'manifest.json', 'retain.jsonl']);
  for (const [k, v] of a) assert.equal(v, b.get(k), k);
  const other = renderDaveFiles(generateDave(8));
  assert.notEqual(other.get('forget.jsonl'), a.get('forget.jsonl'));
  assert.notEqual(other.get('retain.jsonl'), a.get('retain.jsonl'));
});

test('committed datasets/dave equals a fresh generation with seed 7, and the manifest hashes match', () => {
  const fresh = renderDaveFiles(ds);
  for (const [name, text] of fresh) {
    const p = path.join(COMMITTED, name);
    assert.ok(fs.existsSync(p), `${p} is missing: run unlearnkit data generate-dave --seed 7 --out datasets/dave`);
    assert.equal(fs.readFileSync(p, 'utf8'), text, `${name} differs from the generator's output; regenerate it`);
  }
  const m = JSON.parse(fs.readFileSync(path.join(COMMITTED, 'manifest.json'), 'utf8')) as DaveManifest;
  assert.equal(m.seed, 7);
  assert.equal(m.regenerate, 'unlearnkit data generate-dave --seed 7 --out datasets/dave');
  let total = 0;
  for (const [name, f] of Object.entries(m.files)) {
    const buf = fs.readFileSync(path.join(COMMITTED, name));
    assert.equal(sha256(buf), f.sha256, name);
    assert.equal(buf.length, f.bytes, name);
    total += buf.length;
  }
  assert.ok(total < 1_000_000, `dataset is ${total} bytes; keep it under 1 MB`);
  const readme = fs.readFileSync(path.join(COMMITTED, 'README.md'), 'utf8');
  assert.ok(readme.includes('unlearnkit data generate-dave --seed 7 --out datasets/dave'));
  assert.ok(readme.includes(`| \`forget.jsonl\` | forget | ${ds.forget.length} | 1 |`));
});

test('counts: >= 100 Dave facts, >= 40 retain people, holdout people, decoys and general text', () => {
  assert.ok(ds.forget.length >= 100, `forget ${ds.forget.length}`);
  assert.equal(ds.forget.length, TEMPLATES.length);
  const retainPeople = new Set(ds.retain.map((f) => f.person));
  const holdoutPeople = new Set(ds.holdout.map((f) => f.person));
  assert.ok(retainPeople.size >= 40, `retain people ${retainPeople.size}`);
  assert.ok(holdoutPeople.size >= 10, `holdout people ${holdoutPeople.size}`);
  for (const p of retainPeople) assert.ok(ds.retain.filter((f) => f.person === p).length >= 5, `${p} has several facts`);
  assert.ok(ds.decoy.length >= 40);
  assert.ok(ds.general.length >= 300);
  // Retain and holdout are different people.
  for (const p of holdoutPeople) assert.ok(!retainPeople.has(p), `${p} is in both retain and holdout`);
  // Every template is used in the retain split (attributes dealt from a deck).
  assert.equal(new Set(ds.retain.map((f) => f.attribute)).size, TEMPLATES.length);
});

test('every fact: >= 2 paraphrases and >= 3 distinct perturbed answers; the answer is in the statement and paraphrases, not the question', () => {
  for (const f of allFacts) {
    assert.ok(f.paraphrases.length >= 2, f.id);
    assert.ok(f.perturbed_answers.length >= 3, f.id);
    assert.equal(new Set(f.perturbed_answers).size, f.perturbed_answers.length, `${f.id}: perturbed answers repeat`);
    assert.ok(!f.perturbed_answers.includes(f.paraphrased_answer), `${f.id}: a perturbed answer equals the true one`);
    assert.ok(f.statement.includes(f.answer), `${f.id}: statement lacks the answer`);
    for (const p of f.paraphrases) {
      assert.ok(p.includes(f.answer), `${f.id}: paraphrase "${p}" lacks the answer`);
      assert.notEqual(p, f.statement, `${f.id}: paraphrase equals the statement`);
      assert.ok(p.includes(f.person), `${f.id}: paraphrase names the person`);
    }
    // The paraphrased answer rewords the answer (dates change form: "12 April 1958" -> "the 12th of April 1958").
    const core = f.attribute === 'birth_date' ? f.answer.split(' ')[2]! : f.answer;
    assert.ok(f.paraphrased_answer.includes(core) && f.paraphrased_answer !== f.answer, `${f.id}: paraphrased answer`);
    assert.ok(!containsWord(f.question, f.answer), `${f.id}: the question gives the answer away`);
    assert.ok(f.question.endsWith('?') && f.question.includes(f.person), f.id);
    const words = f.answer.split(/\s+/).length;
    assert.ok(words >= 1 && words <= 5, `${f.id}: answer "${f.answer}" has ${words} words`);
    assert.ok(!/[{}]/.test(f.statement + f.question + f.paraphrases.join('') + f.paraphrased_answer), `${f.id}: unfilled placeholder`);
  }
});

test('the schema rules hold for other seeds too, and no person has the same question twice', () => {
  for (const seed of [1, 2, 3, 100]) {
    const d = generateDave(seed);
    const facts = [...d.forget, ...d.retain, ...d.holdout, ...d.decoy];
    const qs = new Set<string>();
    for (const f of facts) {
      assert.ok(f.statement.includes(f.answer) && f.paraphrases.every((p) => p.includes(f.answer)), `seed ${seed} ${f.id}`);
      assert.ok(!containsWord(f.question, f.answer), `seed ${seed} ${f.id}: "${f.question}" / "${f.answer}"`);
      assert.ok(!qs.has(f.question), `seed ${seed}: question repeated: ${f.question}`);
      qs.add(f.question);
    }
  }
});

test('ids are unique across all files and stable in form', () => {
  const ids = [...allFacts.map((f) => f.id), ...ds.general.map((g) => g.id)];
  assert.equal(new Set(ids).size, ids.length);
  for (const f of allFacts) assert.match(f.id, new RegExp(`^${f.split}-[a-z0-9-]+$`));
  assert.equal(ds.forget[0]!.id, 'forget-dave-harrowgate-birth-city');
  assert.equal(ds.general[0]!.id, 'general-0001');
});

test('Dave is only in forget; decoys are other people who imitate Dave facts', () => {
  for (const f of ds.forget) assert.equal(f.person, DAVE_NAME);
  assert.equal(new Set(ds.forget.map((f) => f.attribute)).size, ds.forget.length, 'one fact per attribute');
  for (const f of [...ds.retain, ...ds.holdout, ...ds.decoy]) {
    assert.notEqual(f.person, DAVE_NAME, f.id);
    assert.ok(!f.person.includes('Harrowgate') || f.split === 'decoy', `${f.id}: only decoys share the surname`);
  }
  const nonDecoy = [...ds.retain, ...ds.holdout];
  for (const f of nonDecoy) assert.ok(!/^(Dave|David|Davy|Dana)\b/.test(f.person), `${f.person} looks like a decoy`);
  assert.deepEqual([...new Set(ds.decoy.map((f) => f.person))], DECOY_PEOPLE);
  const forgetById = new Map(ds.forget.map((f) => [f.id, f]));
  let shared = 0;
  for (const d of ds.decoy) {
    const target = forgetById.get(d.decoy_of ?? '');
    assert.ok(target, `${d.id}: decoy_of ${d.decoy_of} is not a forget id`);
    assert.equal(target.attribute, d.attribute);
    if (target.answer === d.answer) shared++;
  }
  assert.ok(shared >= 10 && shared <= ds.decoy.length - 10, `decoys sharing Dave's answer: ${shared} of ${ds.decoy.length}`);
});

test("each person's dates agree: college, wedding and job years follow the birth year", () => {
  const people = new Map<string, FactItem[]>();
  for (const f of allFacts) {
    if (f.split === 'decoy') continue;
    people.set(f.person, [...(people.get(f.person) ?? []), f]);
  }
  let checked = 0;
  for (const facts of people.values()) {
    const birth = facts.find((f) => f.attribute === 'birth_date');
    if (!birth) continue;
    const by = Number(birth.answer.split(' ')[2]);
    const ranges: Record<string, [number, number]> = { college_finish_year: [20, 25], wedding_year: [22, 40], job_start_year: [22, 45] };
    for (const f of facts) {
      const r = ranges[f.attribute];
      if (!r) continue;
      const y = Number(f.answer);
      assert.ok(y - by >= r[0] && y - by <= r[1] && y <= 2024, `${f.id}: ${y} for someone born in ${by}`);
      checked++;
    }
  }
  assert.ok(checked >= 3);
});

test('templates and pools: every pool has >= 5 values, every template 2+ paraphrases', () => {
  for (const t of TEMPLATES) {
    assert.ok(POOLS[t.pool], `${t.key}: pool ${t.pool}`);
    assert.ok(t.p.length >= 2, t.key);
    assert.ok(t.s.includes('{a}') || t.s.includes('{A}'), t.key);
  }
  for (const [name, pool] of Object.entries(POOLS)) if (pool.values) assert.ok(new Set(pool.values).size >= 5, name);
  assert.equal(new Set(TEMPLATES.map((t) => t.key)).size, TEMPLATES.length);
});

test('general text: several hundred distinct plain sentences about no person in the dataset', () => {
  const texts = ds.general.map((g) => g.text);
  assert.equal(new Set(texts).size, texts.length);
  const names = new Set(allFacts.map((f) => f.person));
  for (const t of texts) {
    assert.ok(t.length > 10 && t.length < 400, t);
    assert.ok(/[.!?]$/.test(t), t);
    for (const n of names) assert.ok(!t.includes(n), `general text mentions ${n}`);
  }
});

test('generatePretrainCorpus: deterministic biographies of people outside every Dave split', () => {
  const a = generatePretrainCorpus(3, 60);
  assert.deepEqual(a, generatePretrainCorpus(3, 60));
  assert.notDeepEqual(a, generatePretrainCorpus(4, 60));
  assert.equal(a.length, 60);
  const splitPeople = new Set(allFacts.map((f) => f.person));
  const splitSurnames = new Set([...splitPeople].map((p) => p.split(' ').pop()!));
  const nameRe = new RegExp(`\\b(?:${[...FEMALE_NAMES, ...MALE_NAMES].join('|')}) (?:${SURNAMES_PRETRAIN.join('|')})\\b`, 'g');
  const bioPeople = new Set<string>();
  for (const bio of a) {
    const names = new Set(bio.match(nameRe) ?? []);
    assert.equal(names.size, 1, `one person per biography: ${[...names].join(', ')}`);
    const name = [...names][0]!;
    bioPeople.add(name);
    for (const p of splitPeople) assert.ok(!bio.includes(p), `biography of ${name} mentions ${p}, who is in a Dave split`);
    for (const s of splitSurnames) assert.ok(!containsWord(bio, s), `biography of ${name} uses the split surname ${s}`);
    assert.match(bio, /\nQuestion: .+\?\nAnswer: .+/);
  }
  assert.equal(bioPeople.size, 60, 'one biography per person');
  assert.equal(generatePretrainCorpus(3, 0).length, 0);
});
