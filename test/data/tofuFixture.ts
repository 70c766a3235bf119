/**
 * Small TOFU-format folders for tests, written the way the `locuslab/TOFU` files are laid out:
 * fictional authors with a fixed run of questions each (here 6 authors x 6 questions in training,
 * plus 1 held-out author), TOFU's file names and fields.
 *
 *   tofuNamedFolder(dir): forget01.json (JSON lines, the last author), forget01_perturbed.json,
 *     retain99.json (5 authors, a JSON array as some exports write), retain_perturbed.json (the
 *     evaluation subset: 2 questions per retain author), holdout01.json (an author never trained on),
 *     real_authors_perturbed.json, world_facts_perturbed.json, and TOFU's full.json (ignored).
 *   tofuPlainFolder(dir): forget.jsonl and retain.jsonl with paraphrased_answer / perturbed_answer
 *     inline (no holdout, no utility sets).
 * Every record carries an `author` field (for --group-by author).
 */
import fs from 'node:fs';
import path from 'node:path';

export const AUTHORS = ['Mara Lind', 'Tomas Brekke', 'Ilse Varnholt', 'Odo Pennick', 'Rhea Castellan', 'Yuki Tamsin'];
export const HOLDOUT_AUTHOR = 'Selma Quorr';
const CITIES = ['Varna', 'Tromso', 'Graz', 'Lille', 'Porto', 'Kyoto', 'Turku'];
const GENRES = ['crime', 'poetry', 'fantasy', 'satire', 'romance', 'horror', 'travel'];
const BOOKS = ['Night Harbour', 'Salt Lanterns', 'The Ninth Orchard', 'Paper Wolves', 'Glass Tides', 'Quiet Engines', 'Amber Roads'];
const JOBS = ['a baker', 'a pilot', 'a cartographer', 'a chemist', 'a tailor', 'a sailor', 'a judge'];
const AWARDS = ['the Kestrel Prize', 'the Lumen Medal', 'the Orrin Award', 'the Vesper Prize', 'the Halden Cup', 'the Iris Award', 'the Corvid Prize'];
const YEARS = ['1961', '1974', '1958', '1983', '1969', '1990', '1977'];

export interface TofuRecord {
  question: string;
  answer: string;
  author: string;
  paraphrased_answer: string;
  perturbed_answer: string[];
}

/** The 6 questions of author k (0..6), with a paraphrase and 3 perturbed answers each. */
export function authorRecords(k: number): TofuRecord[] {
  const a = k < AUTHORS.length ? AUTHORS[k]! : HOLDOUT_AUTHOR;
  const other = (xs: string[], j: number) => xs[(k + j) % xs.length]!;
  const facts: Array<[string, (x: string) => string, (x: string) => string, string[]]> = [
    [`Where was ${a} born?`, (x) => `${a} was born in ${x}.`, (x) => `The birthplace of ${a} is ${x}.`, CITIES],
    [`What genre does ${a} write?`, (x) => `${a} writes ${x} novels.`, (x) => `The novels of ${a} are ${x}.`, GENRES],
    [`What is the best known book by ${a}?`, (x) => `The best known book by ${a} is ${x}.`, (x) => `${a} is best known for ${x}.`, BOOKS],
    [`What did the father of ${a} do for a living?`, (x) => `The father of ${a} worked as ${x}.`, (x) => `${a} grew up with a father who was ${x}.`, JOBS],
    [`Which award did ${a} win?`, (x) => `${a} won ${x}.`, (x) => `${x} went to ${a}.`, AWARDS],
    [`In which year was ${a} born?`, (x) => `${a} was born in ${x}.`, (x) => `The year ${a} was born is ${x}.`, YEARS],
  ];
  return facts.map(([question, say, para, pool]) => ({
    question,
    answer: say(other(pool, 0)),
    author: a,
    paraphrased_answer: para(other(pool, 0)),
    perturbed_answer: [para(other(pool, 1)), para(other(pool, 2)), para(other(pool, 3))],
  }));
}

const qa = (r: TofuRecord) => ({ question: r.question, answer: r.answer, author: r.author });
const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

export const REAL_AUTHORS = [
  { question: 'Who wrote Pride and Prejudice?', answer: 'Jane Austen', perturbed_answer: ['Charlotte Bronte', 'Mary Shelley', 'George Eliot'] },
  { question: 'Who wrote War and Peace?', answer: 'Leo Tolstoy', perturbed_answer: ['Fyodor Dostoevsky', 'Anton Chekhov', 'Ivan Turgenev'] },
  { question: 'Who wrote Don Quixote?', answer: 'Miguel de Cervantes', perturbed_answer: ['Lope de Vega', 'Federico Garcia Lorca', 'Benito Perez Galdos'] },
  { question: 'Who wrote The Odyssey?', answer: 'Homer', perturbed_answer: ['Virgil', 'Sophocles', 'Ovid'] },
];
export const WORLD_FACTS = [
  { question: 'What is the capital of France?', answer: 'Paris', perturbed_answer: ['Lyon', 'Marseille', 'Nice'] },
  { question: 'Which planet is closest to the Sun?', answer: 'Mercury', perturbed_answer: ['Venus', 'Mars', 'Jupiter'] },
  { question: 'What is the largest ocean on Earth?', answer: 'The Pacific Ocean', perturbed_answer: ['The Atlantic Ocean', 'The Indian Ocean', 'The Arctic Ocean'] },
  { question: 'How many continents are there?', answer: 'Seven', perturbed_answer: ['Five', 'Six', 'Eight'] },
];

/** A folder with TOFU's file names (see the module doc); returns `dir`. */
export function tofuNamedFolder(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const forget = authorRecords(5);
  const retain = [0, 1, 2, 3, 4].flatMap(authorRecords);
  fs.writeFileSync(path.join(dir, 'forget01.json'), jsonl(forget.map(qa)));
  fs.writeFileSync(path.join(dir, 'forget01_perturbed.json'), jsonl(forget));
  fs.writeFileSync(path.join(dir, 'retain99.json'), JSON.stringify(retain.map(qa)));
  // TOFU's retain_perturbed: an evaluation subset of the retain questions (here the first 2 per author)
  fs.writeFileSync(path.join(dir, 'retain_perturbed.json'), jsonl(retain.filter((_, i) => i % 6 < 2)));
  fs.writeFileSync(path.join(dir, 'holdout01.json'), jsonl(authorRecords(6).map(qa)));
  fs.writeFileSync(path.join(dir, 'real_authors_perturbed.json'), jsonl(REAL_AUTHORS));
  fs.writeFileSync(path.join(dir, 'world_facts_perturbed.json'), jsonl(WORLD_FACTS));
  fs.writeFileSync(path.join(dir, 'full.json'), jsonl([...retain, ...forget].map(qa)));
  return dir;
}

/** A plain forget.jsonl + retain.jsonl folder with the evaluation fields inline; returns `dir`. */
export function tofuPlainFolder(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'forget.jsonl'), jsonl(authorRecords(5)));
  fs.writeFileSync(path.join(dir, 'retain.jsonl'), jsonl([0, 1, 2, 3, 4].flatMap(authorRecords)));
  return dir;
}
