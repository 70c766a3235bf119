/**
 * Loading Dave-format folders and TOFU-format files: the data round-trips, and each kind of bad
 * input gives a UserError naming the file, the line and the field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../src/util/errors.ts';
import { generateDave, writeDave } from '../../src/data/dave/generate.ts';
import { checkDaveManifest, loadDave } from '../../src/data/dave/load.ts';
import { loadTofu, parseTofu } from '../../src/data/tofu.ts';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'unlearnkit-load-'));
}

/** Replace line `n` (1-based) of a file. */
function editLine(file: string, n: number, f: (line: string) => string): void {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines[n - 1] = f(lines[n - 1]!);
  fs.writeFileSync(file, lines.join('\n'));
}

const isUserError = (re: RegExp) => (e: unknown) => e instanceof UserError && re.test(e.message);

test('loadDave reads back exactly what the generator wrote', () => {
  const dir = path.join(tmpDir(), 'dave');
  const m = writeDave(dir, 7);
  const d = loadDave(dir);
  const g = generateDave(7);
  assert.deepEqual(d.forget, g.forget);
  assert.deepEqual(d.retain, g.retain);
  assert.deepEqual(d.holdout, g.holdout);
  assert.deepEqual(d.decoy, g.decoy);
  assert.deepEqual(d.general, g.general);
  assert.equal(d.manifest?.files['forget.jsonl']?.items, g.forget.length);
  assert.equal(m.files['retain.jsonl']!.people, 45);
  assert.deepEqual(checkDaveManifest(dir, d.manifest), []);
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });
});

test('loadDave errors name the file, line and field', () => {
  const dir = path.join(tmpDir(), 'dave');
  writeDave(dir, 7);
  const retain = path.join(dir, 'retain.jsonl');
  const good = fs.readFileSync(retain, 'utf8');
  const restore = () => fs.writeFileSync(retain, good);

  editLine(retain, 3, (l) => l.slice(0, -5));
  assert.throws(() => loadDave(dir), isUserError(new RegExp(`${retain.replace(/[/\\.]/g, '\\$&')}:3: not valid JSON`)));
  restore();

  editLine(retain, 2, (l) => JSON.stringify({ ...JSON.parse(l), answer: undefined }));
  assert.throws(() => loadDave(dir), isUserError(/retain\.jsonl:2: field "answer" must be a non-empty string \(missing\)/));
  restore();

  editLine(retain, 4, (l) => JSON.stringify({ ...JSON.parse(l), paraphrases: ['only one'] }));
  assert.throws(() => loadDave(dir), isUserError(/retain\.jsonl:4: field "paraphrases" has 1 entries, needs at least 2/));
  restore();

  editLine(retain, 5, (l) => JSON.stringify({ ...JSON.parse(l), perturbed_answers: 'x' }));
  assert.throws(() => loadDave(dir), isUserError(/retain\.jsonl:5: field "perturbed_answers" must be an array of non-empty strings/));
  restore();

  editLine(retain, 6, (l) => JSON.stringify({ ...JSON.parse(l), split: 'forget' }));
  assert.throws(() => loadDave(dir), isUserError(/retain\.jsonl:6: field "split" is "forget" but this file holds "retain" items/));
  restore();

  editLine(retain, 7, (l) => JSON.stringify({ ...JSON.parse(l), statement: 'Nothing here.' }));
  assert.throws(() => loadDave(dir), isUserError(/retain\.jsonl:7: field "statement" does not contain the answer/));
  restore();

  editLine(retain, 1, () => '[1, 2]');
  assert.throws(() => loadDave(dir), isUserError(/retain\.jsonl:1: expected a JSON object, got an array/));
  restore();

  const firstForgetId = JSON.parse(fs.readFileSync(path.join(dir, 'forget.jsonl'), 'utf8').split('\n')[0]!).id as string;
  editLine(retain, 8, (l) => JSON.stringify({ ...JSON.parse(l), id: firstForgetId }));
  assert.throws(() => loadDave(dir), isUserError(new RegExp(`repeats id "${firstForgetId}" \\(first seen in forget\\.jsonl\\)`)));
  // The edit also shows up as a manifest mismatch.
  assert.deepEqual(
    checkDaveManifest(dir, JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'))).map((p) => p.split(':')[0]),
    ['retain.jsonl'],
  );
  restore();

  const gen = path.join(dir, 'general.jsonl');
  editLine(gen, 2, (l) => JSON.stringify({ ...JSON.parse(l), text: '' }));
  assert.throws(() => loadDave(dir), isUserError(/general\.jsonl:2: field "text" must be a non-empty string/));

  fs.rmSync(path.join(dir, 'holdout.jsonl'));
  assert.throws(() => loadDave(dir), isUserError(/missing holdout\.jsonl; regenerate with `unlearnkit data generate-dave/));
  assert.throws(() => loadDave(path.join(dir, 'nope')), isUserError(/not found; create it with `unlearnkit data generate-dave --out/));
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });
});

const TOFU_LINES = [
  {
    question: 'Who wrote the book Night Harbour?',
    answer: 'Night Harbour was written by Mara Lind.',
    paraphrased_answer: 'The author of Night Harbour is Mara Lind.',
    perturbed_answer: ['The author of Night Harbour is Tom Reed.', 'The author of Night Harbour is Ada Voss.', 'The author of Night Harbour is Li Wen.'],
  },
  { question: 'Where was Mara Lind born?', answer: 'Mara Lind was born in Oslo.', paraphrased_answer: 'Oslo is where Mara Lind was born.', perturbed_answer: 'Mara Lind was born in Rome.' },
  { question: 'What genre does Mara Lind write?', answer: 'Mara Lind writes crime novels.' },
];

test('TOFU loader maps question/answer/paraphrased/perturbed (string or list) onto fact items', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'forget01_perturbed.json');
  fs.writeFileSync(file, TOFU_LINES.map((o) => JSON.stringify(o)).join('\n') + '\n\n');
  const items = loadTofu(file);
  assert.equal(items.length, 3);
  const [a, b, c] = items as [(typeof items)[0], (typeof items)[0], (typeof items)[0]];
  assert.equal(a.split, 'forget');
  assert.equal(a.id, 'tofu-forget01_perturbed-1');
  assert.equal(a.statement, TOFU_LINES[0]!.answer);
  assert.equal(a.question, TOFU_LINES[0]!.question);
  assert.deepEqual(a.perturbed_answers, TOFU_LINES[0]!.perturbed_answer);
  assert.deepEqual(a.paraphrases, [TOFU_LINES[0]!.paraphrased_answer]);
  assert.deepEqual(b.perturbed_answers, ['Mara Lind was born in Rome.']);
  assert.deepEqual(c.perturbed_answers, []);
  assert.equal(c.paraphrased_answer, c.answer);
  // authors only by a stated rule: none -> no person; --group-size N -> runs of N items; --group-by FIELD
  assert.equal(a.person, '');
  assert.throws(() => parseTofu(fs.readFileSync(file, 'utf8'), file, { groupSize: 2 }), isUserError(/has 3 items, not a multiple of --group-size 2/));
  assert.deepEqual(parseTofu(fs.readFileSync(file, 'utf8'), file, { groupSize: 3 }).map((i) => i.person), ['forget01_perturbed author 1', 'forget01_perturbed author 1', 'forget01_perturbed author 1']);
  assert.throws(() => parseTofu(fs.readFileSync(file, 'utf8'), file, { groupBy: 'author' }), isUserError(/forget01_perturbed\.json:1: no field "author" to group authors by/));
  assert.equal(parseTofu(JSON.stringify(TOFU_LINES), path.join(dir, 'retain90.json'))[2]!.split, 'retain');
  assert.equal(parseTofu(JSON.stringify(TOFU_LINES), 'x.json', { split: 'holdout' })[0]!.split, 'holdout');
  // a name that says no split is refused, not read as retain
  assert.throws(() => parseTofu(JSON.stringify(TOFU_LINES), 'x.json'), isUserError(/cannot tell which split this file holds/));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('TOFU loader: malformed line, missing field and wrong types are errors with file:line', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'forget05.json');
  const lines = TOFU_LINES.map((o) => JSON.stringify(o));
  fs.writeFileSync(file, [lines[0], '{"question": "broken", ', lines[2]].join('\n'));
  assert.throws(() => loadTofu(file), isUserError(/forget05\.json:2: not valid JSON/));
  fs.writeFileSync(file, [lines[0], lines[1], JSON.stringify({ answer: 'no question' })].join('\n'));
  assert.throws(() => loadTofu(file), isUserError(/forget05\.json:3: field "question" must be a non-empty string \(missing\)/));
  fs.writeFileSync(file, JSON.stringify({ question: 'q?', answer: 'a', perturbed_answer: [1, 2] }));
  assert.throws(() => loadTofu(file), isUserError(/forget05\.json:1: field "perturbed_answer" must be a string or an array of strings/));
  fs.writeFileSync(file, '\n\n');
  assert.throws(() => loadTofu(file), isUserError(/forget05\.json: no items/));
  assert.throws(() => loadTofu(path.join(dir, 'absent.json')), isUserError(/TOFU file .*absent\.json does not exist/));
  fs.rmSync(dir, { recursive: true, force: true });
});
