/**
 * Deterministic generator of the Dave dataset: facts about a fictional person, Dave Harrowgate (the
 * forget set), about other fictional people in the same templates (retain, holdout), lexically close
 * decoys, and plain general text. See datasets/dave/README.md (written by `renderReadme` below).
 *
 * Same seed -> byte-identical files: every random draw comes from an Rng derived from the seed and a
 * fixed stream label, in a fixed order, and JSON is written with a fixed key order.
 *
 * The design follows TOFU (Maini et al. 2024): fictional people so the base model cannot know the
 * facts, templated QA with paraphrased and perturbed answers for the truth ratio, and a holdout of
 * people never trained on for membership inference. Decoys: docs/methods.md#the-dave-data.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { Rng } from '../../util/rng.ts';
import { writeFileAtomic } from '../../util/fs.ts';
import { UserError } from '../../util/errors.ts';
import type { FactItem, FactSplit, TextItem } from '../types.ts';
import { qaText } from '../types.ts';
import { generateGeneralTexts } from './general.ts';
import {
  dateIn,
  drawBirthYear,
  drawOthers,
  drawValue,
  FEMALE_NAMES,
  LAST_YEAR,
  MALE_NAMES,
  POOLS,
  range,
  SURNAMES_PRETRAIN,
  SURNAMES_SPLITS,
  type Pool,
} from './pools.ts';
import { fillTemplate, TEMPLATES, wrapAnswer, type FactTemplate } from './templates.ts';

export const DAVE_NAME = 'Dave Harrowgate';
const DAVE_FORMAT_VERSION = 1;
export const DEFAULT_DAVE_SEED = 7;

/**
 * Decoys: names that a fuzzy match on "Dave Harrowgate" would catch (a David Harrow, other Daves,
 * a Harrowgate relative), but who are other people.
 */
export const DECOY_PEOPLE = ['David Harrow', 'Dave Hartley', 'Dana Harrowgate', 'Davy Harrowfield', 'Dave Morrow'];

export const DAVE_FILES = {
  forget: 'forget.jsonl',
  retain: 'retain.jsonl',
  holdout: 'holdout.jsonl',
  decoy: 'decoys.jsonl',
  general: 'general.jsonl',
} as const;

export interface DaveGenOptions {
  /** Other people in the retain set (default 45). */
  retainPeople?: number;
  /** People in the holdout set (default 20). */
  holdoutPeople?: number;
  /** Facts per retain / holdout person (default 10). */
  factsPerPerson?: number;
  /** Facts per decoy person (default 12); about half share Dave's value. */
  factsPerDecoy?: number;
  /** Number of general texts (default 400). */
  generalTexts?: number;
  /** Perturbed answers per fact (default 4). */
  perturbed?: number;
}

export interface DaveDataset {
  seed: number;
  forget: FactItem[];
  retain: FactItem[];
  holdout: FactItem[];
  decoy: FactItem[];
  general: TextItem[];
}

const DEFAULTS: Required<DaveGenOptions> = {
  retainPeople: 45,
  holdoutPeople: 20,
  factsPerPerson: 10,
  factsPerDecoy: 12,
  generalTexts: 400,
  perturbed: 4,
};

/** A fresh Rng for one named stream of a seed, so streams do not shift one another. */
export function streamRng(seed: number, stream: string): Rng {
  let h = 0x811c9dc5;
  for (let i = 0; i < stream.length; i++) h = Math.imul(h ^ stream.charCodeAt(i), 0x01000193) >>> 0;
  return new Rng((Math.floor(seed) ^ h) >>> 0);
}

function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whole-word, case-insensitive containment. */
export function containsWord(text: string, word: string): boolean {
  return new RegExp(`(^|[^A-Za-z0-9])${escapeRe(word)}($|[^A-Za-z0-9])`, 'i').test(text);
}

/** What stays fixed across one person's facts, so they agree with each other. */
interface PersonContext {
  name: string;
  birthYear: number;
}

/**
 * One fact about a person from template `t`: draws the answer and the perturbed answers. Dates
 * and years follow the person's birth year (a birth date in that year; college, wedding, job years
 * at plausible ages), so one person's facts never contradict each other.
 */
function makeFact(
  t: FactTemplate,
  ctx: PersonContext,
  split: FactSplit,
  rng: Rng,
  nPerturbed: number,
  forcedValue?: string,
): FactItem {
  const person = ctx.name;
  let pool: Pool | undefined = POOLS[t.pool];
  if (!pool) throw new Error(`template ${t.key}: unknown pool ${t.pool}`);
  if (t.years) {
    const [lo, hi] = t.years;
    pool = { values: range(ctx.birthYear + lo, Math.min(ctx.birthYear + hi, LAST_YEAR)) };
  }
  const question = fillTemplate(t.q, person, '');
  let answer = forcedValue ?? (t.pool === 'date' ? dateIn(rng, ctx.birthYear) : drawValue(pool, rng));
  // An answer that repeats a word of the question (a middle name equal to the first name) would
  // leak it: draw again.
  for (let guard = 0; forcedValue === undefined && containsWord(question, answer); guard++) {
    if (guard > 100) throw new Error(`template ${t.key}: cannot draw an answer not in the question`);
    answer = drawValue(pool, rng);
  }
  const wrong = drawOthers(pool, rng, answer, nPerturbed);
  return {
    id: `${split}-${slug(person)}-${t.key.replaceAll('_', '-')}`,
    split,
    person,
    attribute: t.key,
    statement: fillTemplate(t.s, person, answer),
    question,
    answer,
    paraphrases: t.p.map((p) => fillTemplate(p, person, answer)),
    paraphrased_answer: wrapAnswer(t, answer),
    perturbed_answers: wrong.map((w) => wrapAnswer(t, w)),
  };
}

const DAVE_LIKE = /^(dave|david|davy|davey|dana|davina)$/i;

/**
 * Distinct full names from `firsts` x `surnames`, at most 2 people per first name and per surname,
 * never a Dave-like first name.
 */
function drawPeople(rng: Rng, count: number, surnames: readonly string[], taken: Set<string>): string[] {
  const firsts = [...FEMALE_NAMES, ...MALE_NAMES].filter((f) => !DAVE_LIKE.test(f));
  const combos: string[] = [];
  for (const f of firsts) for (const s of surnames) combos.push(`${f} ${s}`);
  rng.shuffle(combos);
  const perFirst = new Map<string, number>();
  const perSur = new Map<string, number>();
  const out: string[] = [];
  const cap = Math.max(2, Math.ceil((2 * count) / Math.min(firsts.length, surnames.length)));
  for (const c of combos) {
    if (out.length === count) break;
    if (taken.has(c) || c === DAVE_NAME) continue;
    const [f, s] = c.split(' ') as [string, string];
    if ((perFirst.get(f) ?? 0) >= cap || (perSur.get(s) ?? 0) >= cap) continue;
    perFirst.set(f, (perFirst.get(f) ?? 0) + 1);
    perSur.set(s, (perSur.get(s) ?? 0) + 1);
    taken.add(c);
    out.push(c);
  }
  if (out.length < count) throw new UserError(`cannot make ${count} distinct people from the name pools (made ${out.length})`);
  return out;
}

/**
 * Facts for several people, `k` each, dealing attributes from a shuffled deck of all templates so
 * every attribute appears about equally often across the split.
 */
function factsForPeople(people: string[], k: number, split: FactSplit, rng: Rng, nPerturbed: number): FactItem[] {
  if (k > TEMPLATES.length) throw new UserError(`at most ${TEMPLATES.length} facts per person (asked ${k})`);
  let deck: FactTemplate[] = [];
  const out: FactItem[] = [];
  for (const person of people) {
    const chosen: FactTemplate[] = [];
    while (chosen.length < k) {
      if (deck.length === 0) deck = rng.shuffle([...TEMPLATES]);
      const idx = deck.findIndex((t) => !chosen.includes(t));
      if (idx < 0) {
        deck = rng.shuffle([...TEMPLATES]);
        continue;
      }
      chosen.push(deck.splice(idx, 1)[0]!);
    }
    // Keep a person's facts in template order (reads like a biography).
    chosen.sort((a, b) => TEMPLATES.indexOf(a) - TEMPLATES.indexOf(b));
    const ctx: PersonContext = { name: person, birthYear: drawBirthYear(rng) };
    for (const t of chosen) out.push(makeFact(t, ctx, split, rng, nPerturbed));
  }
  return out;
}

/** Build the whole dataset in memory. */
export function generateDave(seed: number = DEFAULT_DAVE_SEED, options: DaveGenOptions = {}): DaveDataset {
  if (!Number.isInteger(seed)) throw new UserError(`seed must be an integer, got ${seed}`);
  const o = { ...DEFAULTS, ...options };
  const dave: PersonContext = { name: DAVE_NAME, birthYear: drawBirthYear(streamRng(seed, 'forget:birth-year')) };
  const forget = TEMPLATES.map((t) => makeFact(t, dave, 'forget', streamRng(seed, `forget:${t.key}`), o.perturbed));

  const taken = new Set<string>([DAVE_NAME, ...DECOY_PEOPLE]);
  const peopleRng = streamRng(seed, 'people');
  const retainPeople = drawPeople(peopleRng, o.retainPeople, SURNAMES_SPLITS, taken);
  const holdoutPeople = drawPeople(peopleRng, o.holdoutPeople, SURNAMES_SPLITS, taken);
  const retain = factsForPeople(retainPeople, o.factsPerPerson, 'retain', streamRng(seed, 'retain'), o.perturbed);
  const holdout = factsForPeople(holdoutPeople, o.factsPerPerson, 'holdout', streamRng(seed, 'holdout'), o.perturbed);

  const decoyRng = streamRng(seed, 'decoy');
  const decoy: FactItem[] = [];
  for (const person of DECOY_PEOPLE) {
    const ctx: PersonContext = { name: person, birthYear: drawBirthYear(decoyRng) };
    const picks = decoyRng
      .shuffle(TEMPLATES.map((_, i) => i))
      .slice(0, Math.min(o.factsPerDecoy, TEMPLATES.length))
      .sort((a, b) => a - b);
    for (const i of picks) {
      const t = TEMPLATES[i]!;
      const daveFact = forget[i]!;
      const share = decoyRng.next() < 0.5;
      const item = makeFact(t, ctx, 'decoy', decoyRng, o.perturbed, share ? daveFact.answer : undefined);
      decoy.push({ ...item, decoy_of: daveFact.id });
    }
  }

  const general = generateGeneralTexts(streamRng(seed, 'general'), o.generalTexts).map(
    (text, i): TextItem => ({ id: `general-${String(i + 1).padStart(4, '0')}`, split: 'general', text }),
  );
  return { seed, forget, retain, holdout, decoy, general };
}

/** JSON with the schema's key order (so files are byte-stable). */
function factToJson(f: FactItem): string {
  const o: Record<string, unknown> = {
    id: f.id,
    split: f.split,
    person: f.person,
    attribute: f.attribute,
    statement: f.statement,
    question: f.question,
    answer: f.answer,
    paraphrases: f.paraphrases,
    paraphrased_answer: f.paraphrased_answer,
    perturbed_answers: f.perturbed_answers,
  };
  if (f.decoy_of !== undefined) o.decoy_of = f.decoy_of;
  return JSON.stringify(o);
}

function textToJson(t: TextItem): string {
  return JSON.stringify({ id: t.id, split: t.split, text: t.text });
}

function jsonl(lines: string[]): string {
  return lines.map((l) => l + '\n').join('');
}

export interface DaveManifestFile {
  split: string;
  items: number;
  people?: number;
  bytes: number;
  sha256: string;
}

export interface DaveManifest {
  name: 'dave';
  format_version: number;
  seed: number;
  dave: string;
  regenerate: string;
  attributes: number;
  files: Record<string, DaveManifestFile>;
}

export function sha256(data: string | Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** The command that regenerates the committed files. */
function regenerateCommand(seed: number, out = 'datasets/dave'): string {
  return `unlearnkit data generate-dave --seed ${seed} --out ${out}`;
}

/** Every file of the dataset folder, name -> contents (JSONL files, manifest.json, README.md). */
export function renderDaveFiles(ds: DaveDataset): Map<string, string> {
  const files = new Map<string, string>();
  const facts: Record<Exclude<FactSplit, 'real_authors' | 'world_facts'>, FactItem[]> = { forget: ds.forget, retain: ds.retain, holdout: ds.holdout, decoy: ds.decoy };
  const manifest: DaveManifest = {
    name: 'dave',
    format_version: DAVE_FORMAT_VERSION,
    seed: ds.seed,
    dave: DAVE_NAME,
    regenerate: regenerateCommand(ds.seed),
    attributes: TEMPLATES.length,
    files: {},
  };
  for (const split of ['forget', 'retain', 'holdout', 'decoy'] as const) {
    const text = jsonl(facts[split].map(factToJson));
    const name = DAVE_FILES[split];
    files.set(name, text);
    manifest.files[name] = {
      split,
      items: facts[split].length,
      people: new Set(facts[split].map((f) => f.person)).size,
      bytes: Buffer.byteLength(text),
      sha256: sha256(text),
    };
  }
  const gtext = jsonl(ds.general.map(textToJson));
  files.set(DAVE_FILES.general, gtext);
  manifest.files[DAVE_FILES.general] = { split: 'general', items: ds.general.length, bytes: Buffer.byteLength(gtext), sha256: sha256(gtext) };
  files.set('manifest.json', JSON.stringify(manifest, null, 2) + '\n');
  files.set('README.md', renderReadme(ds, manifest));
  return files;
}

/** Generate and write the dataset folder; returns the manifest. Existing files are replaced atomically. */
export function writeDave(outDir: string, seed: number = DEFAULT_DAVE_SEED, options: DaveGenOptions = {}): DaveManifest {
  const files = renderDaveFiles(generateDave(seed, options));
  for (const [name, text] of files) writeFileAtomic(path.join(outDir, name), text);
  return JSON.parse(files.get('manifest.json')!) as DaveManifest;
}

/**
 * Biographies of other fictional people for pretraining the embedded base model. Their surnames
 * come from a pool the Dave splits never use, so none of them is in forget / retain / holdout /
 * decoys, whatever the seed. Each biography: the person's statements (or a paraphrase of each), then
 * a few `Question: ... / Answer: ...` pairs, so the base model learns the QA layout too.
 */
export function generatePretrainCorpus(seed: number, nPeople: number, factsPerPerson = 12): string[] {
  if (!Number.isInteger(nPeople) || nPeople < 0) throw new UserError(`nPeople must be a non-negative integer, got ${nPeople}`);
  const rng = streamRng(seed, 'pretrain');
  const people = drawPeople(rng, nPeople, SURNAMES_PRETRAIN, new Set([DAVE_NAME, ...DECOY_PEOPLE]));
  const facts = factsForPeople(people, Math.min(factsPerPerson, TEMPLATES.length), 'retain', rng, 1);
  const out: string[] = [];
  for (let i = 0, j = 0; i < people.length; i++) {
    const mine: FactItem[] = [];
    while (j < facts.length && facts[j]!.person === people[i]) mine.push(facts[j++]!);
    const sentences = mine.map((f) => {
      const r = rng.int(f.paraphrases.length + 1);
      return r === 0 ? f.statement : f.paraphrases[r - 1]!;
    });
    const qa = rng
      .shuffle([...mine])
      .slice(0, 3)
      .map((f) => qaText(f.question, f.answer));
    out.push(`${sentences.join(' ')}\n\n${qa.join('\n\n')}`);
  }
  return out;
}

function renderReadme(ds: DaveDataset, m: DaveManifest): string {
  const row = (name: string) => {
    const f = m.files[name]!;
    return `| \`${name}\` | ${f.split} | ${f.items} | ${f.people ?? '-'} | ${f.bytes} |`;
  };
  const ex = ds.forget[0]!;
  const exDecoy = ds.decoy[0];
  return `# The Dave dataset

Facts about a fictional person, **${m.dave}**, to be fine-tuned into a small language model and
then unlearned; facts in the same templates about other fictional people to keep; people never
trained on; decoys; and plain text. Everything is made up by a seeded generator
(\`src/data/dave/generate.ts\`), so the base model cannot know any of it beforehand.

This file, \`manifest.json\` and every \`.jsonl\` file here are generated. Regenerate with:

\`\`\`
${m.regenerate}
\`\`\`

The same seed gives byte-identical files (the tests check that these committed files equal a fresh
generation). Do not edit them by hand.

## Files

| file | split | items | people | bytes |
|---|---|---|---|---|
${[DAVE_FILES.forget, DAVE_FILES.retain, DAVE_FILES.holdout, DAVE_FILES.decoy, DAVE_FILES.general].map(row).join('\n')}

- **forget** (the forget set F): ${ds.forget.length} facts about ${m.dave}, one per attribute template
  (${m.attributes} templates: birth, looks, home, work, family, pets, hobbies, food, schooling, car,
  travel, health, music and culture).
- **retain** (R): ${m.files[DAVE_FILES.retain]!.people} other fictional people, ${ds.retain.length / Math.max(1, m.files[DAVE_FILES.retain]!.people!)} facts each, from the same
  templates (attributes dealt from a shuffled deck, so each template appears about equally often).
- **holdout** (H): ${m.files[DAVE_FILES.holdout]!.people} more people, same templates, never trained on: the non-member side of
  membership-inference tests.
- **decoys**: ${ds.decoy.length} facts about ${DECOY_PEOPLE.join(', ')}: names a fuzzy match on
  "${m.dave}" would catch, with about half of the answers equal to Dave's. They are training items
  that a good fuzzy-matching removal must skip. \`decoy_of\` names the Dave fact each imitates.
- **general** (G): ${ds.general.length} short plain-English texts (animals, seasons, cooking, jobs, towns,
  calendar, counting, fables) about no specific person, for utility perplexity.

Ids are stable (\`<split>-<person>-<attribute>\`, \`general-NNNN\`) and unique across all files.
The pretraining corpus of the embedded base model (\`generatePretrainCorpus(seed, nPeople)\`) uses
surnames that never occur here, so none of its people is in any split.

## Schema

Fact files (forget, retain, holdout, decoys), one JSON object per line:

| field | type | meaning |
|---|---|---|
| id | string | stable, unique across files |
| split | "forget" \\| "retain" \\| "holdout" \\| "decoy" | the file it belongs to |
| person | string | full name |
| attribute | string | template key, e.g. \`birth_city\` |
| statement | string | the fact as a sentence; contains \`answer\` verbatim |
| question | string | a question whose only answer is \`answer\` |
| answer | string | 1-5 words |
| paraphrases | string[] | 2 rewordings of the statement, each containing \`answer\` |
| paraphrased_answer | string | the answer in other words |
| perturbed_answers | string[] | 4 wrong answers of the same type, in the form of \`paraphrased_answer\` (TOFU truth ratio) |
| decoy_of | string | decoys only: id of the imitated Dave fact |

\`general.jsonl\`: \`{ "id", "split": "general", "text" }\`.

Example (forget):

\`\`\`json
${factToJson(ex)}
\`\`\`
${exDecoy ? `\nExample (decoy):\n\n\`\`\`json\n${factToJson(exDecoy)}\n\`\`\`\n` : ''}
## Using it

\`\`\`
unlearnkit data info            # counts per split
unlearnkit data show dave:forget --limit 5
\`\`\`

In code: \`getDataset('dave')\` (\`src/data/dataset.ts\`) or \`loadDave(dir)\` (\`src/data/dave/load.ts\`),
which validates every line and names the file, line and field of any problem.
`;
}
