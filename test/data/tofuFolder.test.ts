/**
 * A TOFU-format folder is a dataset (src/data/tofu.ts, dataset.ts, record.ts): TOFU's file names,
 * the forget / retain / holdout pairing and the choice among several forget files, `_perturbed`
 * answers merged by question (retain_perturbed as the retain evaluation subset), authors only by a
 * stated rule, refusals that name the problem, and the dataset record a fine-tune run keeps.
 * Also the two unlearning messages the issue named: fuzzy precision / recall without a forget split,
 * and the iterative stopping level's flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getDataset } from '../../src/data/dataset.ts';
import { datasetRecord, openDatasetRecord, resolveDataset } from '../../src/data/record.ts';
import { UserError } from '../../src/util/errors.ts';
import { fuzzyReport, fuzzySelect } from '../../src/unlearn/fuzzy.ts';
import { iterativeRemoval } from '../../src/unlearn/iterative.ts';
import type { UnlearnContext, UnlearnMethod } from '../../src/unlearn/types.ts';
import { AUTHORS, HOLDOUT_AUTHOR, REAL_AUTHORS, WORLD_FACTS, authorRecords, tofuNamedFolder, tofuPlainFolder } from './tofuFixture.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-tofu-data-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const isUserError = (re: RegExp) => (e: unknown) => e instanceof UserError && re.test(e.message);
const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

test('a folder with TOFU file names: the pairing forget01 / retain99 / holdout01, _perturbed answers merged, utility sets, ignored files', () => {
  const dir = tofuNamedFolder(path.join(tmp, 'named'));
  const ds = getDataset(dir);
  assert.equal(ds.format, 'tofu');
  assert.deepEqual(ds.options, { forgetSplit: 'forget01', retainSplit: 'retain99', holdoutSplit: 'holdout01' });
  assert.deepEqual(ds.layout!.files, {
    forget: { file: 'forget01.json', perturbed: 'forget01_perturbed.json' },
    retain: { file: 'retain99.json', perturbed: 'retain_perturbed.json' },
    holdout: { file: 'holdout01.json' },
    real_authors: { file: 'real_authors_perturbed.json' },
    world_facts: { file: 'world_facts_perturbed.json' },
  });
  assert.deepEqual(ds.layout!.ignored, ['full.json']);
  const c = ds.counts();
  assert.deepEqual([c.forget, c.retain, c.holdout, c.decoy, c.real_authors, c.world_facts, c.general], [6, 30, 6, 0, 4, 4, 0]);
  // forget items carry the paraphrased and perturbed answers of forget01_perturbed, matched by question
  const f = ds.facts('forget');
  const src = authorRecords(5);
  assert.deepEqual(f.map((x) => x.question), src.map((r) => r.question));
  assert.deepEqual(f.map((x) => x.id), [1, 2, 3, 4, 5, 6].map((n) => `tofu-forget01-${n}`));
  assert.deepEqual(f.map((x) => x.paraphrased_answer), src.map((r) => r.paraphrased_answer));
  assert.deepEqual(f.map((x) => x.perturbed_answers), src.map((r) => r.perturbed_answer));
  assert.ok(f.every((x) => !x.paraphrase_missing && x.statement === x.answer && x.split === 'forget'));
  // retain: trained on all 30 of retain99 (a JSON array: ids by position), evaluated on the 10 of retain_perturbed
  assert.equal(ds.facts('retain').length, 30);
  const ev = ds.evalFacts('retain');
  assert.equal(ev.length, 10);
  assert.deepEqual(ev.map((x) => x.id), [1, 2, 7, 8, 13, 14, 19, 20, 25, 26].map((n) => `tofu-retain99-${n}`), 'evaluation items keep their retain ids');
  assert.ok(ev.every((x) => x.perturbed_answers.length === 3 && !x.paraphrase_missing));
  assert.ok(ds.facts('retain').filter((x) => !ev.some((e) => e.id === x.id)).every((x) => x.paraphrase_missing && x.perturbed_answers.length === 0));
  // holdout has no _perturbed file: no paraphrase, no wrong answers
  assert.ok(ds.facts('holdout').every((x) => x.paraphrase_missing && x.question.includes(HOLDOUT_AUTHOR)));
  // utility sets: the answer and the wrong options
  assert.deepEqual(ds.facts('real_authors').map((x) => [x.answer, x.perturbed_answers]), REAL_AUTHORS.map((r) => [r.answer, r.perturbed_answer]));
  assert.deepEqual(ds.facts('world_facts').map((x) => x.answer), WORLD_FACTS.map((r) => r.answer));
  // no author rule given: no people counted, never a guess
  assert.equal(ds.grouped, false);
  assert.equal(ds.people().forget, null);
  assert.ok(ds.facts().every((x) => x.person === ''));
});

test('authors only by a stated rule: --group-by FIELD or --group-size N (every file a multiple of N)', () => {
  const dir = path.join(tmp, 'named');
  const byField = getDataset(dir, { groupBy: 'author' });
  assert.deepEqual(byField.people(), { forget: 1, retain: 5, holdout: 1, decoy: 0, real_authors: 0, world_facts: 0 });
  assert.deepEqual([...new Set(byField.facts('retain').map((x) => x.person))], AUTHORS.slice(0, 5));
  const bySize = getDataset(dir, { groupSize: 6 });
  assert.deepEqual(bySize.people(), { forget: 1, retain: 5, holdout: 1, decoy: 0, real_authors: 0, world_facts: 0 });
  assert.equal(bySize.facts('retain')[6]!.person, 'retain99 author 2');
  assert.throws(() => getDataset(dir, { groupSize: 4 }), isUserError(/forget01\.json has 6 items, not a multiple of --group-size 4/));
  assert.throws(() => getDataset(dir, { groupBy: 'writer' }), isUserError(/forget01\.json:1: no field "writer" to group authors by \(--group-by writer\); its fields: question, answer, author/));
  assert.throws(() => getDataset(dir, { groupBy: 'author', groupSize: 6 }), isUserError(/--group-by FIELD or --group-size N, not both/));
});

test('several forget files: an error that lists them, --forget-split chooses, and the pair follows', () => {
  const dir = tofuNamedFolder(path.join(tmp, 'two-forgets'));
  // forget05 = authors 4 and 5 (TOFU's larger forget split), retain95 = authors 0..3, holdout05 = the held-out author
  const forget05 = [4, 5].flatMap(authorRecords);
  fs.writeFileSync(path.join(dir, 'forget05.json'), jsonl(forget05.map((r) => ({ question: r.question, answer: r.answer }))));
  fs.writeFileSync(path.join(dir, 'retain95.json'), jsonl([0, 1, 2, 3].flatMap(authorRecords)));
  assert.throws(() => getDataset(dir), isUserError(/has several forget splits \(forget01, forget05\); choose one with --forget-split \(e\.g\. --forget-split forget01\)/));
  // retain_perturbed holds questions of author 4, which retain95 (the pair of forget05) does not have
  assert.throws(() => getDataset(dir, { forgetSplit: 'forget05' }), isUserError(/retain_perturbed\.json: 2 question\(s\) are not in retain95\.json/));
  fs.rmSync(path.join(dir, 'retain_perturbed.json'));
  const ds = getDataset(dir, { forgetSplit: 'forget05' });
  assert.deepEqual(ds.options, { forgetSplit: 'forget05', retainSplit: 'retain95', holdoutSplit: 'holdout01' }, 'retain95 pairs with forget05; the only holdout is used');
  assert.equal(ds.counts().forget, 12);
  assert.ok(ds.facts('forget').every((x) => x.paraphrase_missing), 'forget05 has no _perturbed file here');
  assert.equal(ds.evalFacts('retain').length, 24, 'without retain_perturbed the whole retain split is evaluated');
  // a retain file that overlaps the forget split is refused, naming TOFU's pair
  assert.throws(() => getDataset(dir, { forgetSplit: 'forget05', retainSplit: 'retain99' }), isUserError(/forget05\.json and retain99\.json share 6 question\(s\).*TOFU pairs forget05 with retain95/));
  assert.throws(() => getDataset(dir, { forgetSplit: 'forget10' }), isUserError(/--forget-split forget10: .* has forget splits forget01, forget05/));
});

test('a plain forget.jsonl / retain.jsonl folder with the answers inline; refusals of single files and folders of neither format', () => {
  const dir = tofuPlainFolder(path.join(tmp, 'plain'));
  const ds = getDataset(dir);
  assert.equal(ds.format, 'tofu', 'forget.jsonl without Dave fields is TOFU-format, not a broken Dave folder');
  assert.deepEqual(ds.options, { forgetSplit: 'forget', retainSplit: 'retain' });
  assert.deepEqual([ds.counts().forget, ds.counts().retain, ds.counts().holdout], [6, 30, 0]);
  assert.ok(ds.evalFacts('retain').every((x) => x.perturbed_answers.length === 3 && !x.paraphrase_missing));
  assert.match(ds.supplyHint('holdout'), /holdout\.jsonl/);
  // a single file: its split from its name, never "retain" by default
  const one = path.join(dir, 'forget.jsonl');
  assert.equal(getDataset(one).counts().forget, 6);
  const odd = path.join(tmp, 'qa.jsonl');
  fs.copyFileSync(one, odd);
  assert.throws(() => getDataset(odd), isUserError(/cannot tell which split this file holds from its name/));
  assert.throws(() => getDataset(one, { forgetSplit: 'forget' }), isUserError(/--forget-split applies to TOFU folders/));
  // the Dave dataset refuses TOFU options
  assert.throws(() => getDataset('dave', { groupBy: 'author' }), isUserError(/--group-by applies to TOFU folders; dave is a Dave dataset/));
  // two spellings of one file
  const both = tofuPlainFolder(path.join(tmp, 'both'));
  fs.copyFileSync(path.join(both, 'forget.jsonl'), path.join(both, 'forget.json'));
  assert.throws(() => getDataset(both), isUserError(/has both forget\.json and forget\.jsonl; keep one of them/));
});

test('the dataset record: re-opened with the same choices, refused when the files changed; later commands default to it', () => {
  const dir = tofuNamedFolder(path.join(tmp, 'recorded'));
  const ds = getDataset(dir, { groupBy: 'author' });
  const rec = datasetRecord(ds, dir);
  assert.equal(rec.ref, path.resolve(dir));
  assert.deepEqual(rec.options, { forgetSplit: 'forget01', retainSplit: 'retain99', holdoutSplit: 'holdout01', groupBy: 'author' });
  assert.equal(openDatasetRecord(rec, 'run x').sha256, ds.sha256);
  assert.deepEqual(datasetRecord(getDataset('dave'), 'dave').ref, 'dave');
  // a run folder: unlearn --from / eval read the record (from the folder, a file in it, or an unlearning run made from it)
  const run = path.join(tmp, 'run');
  fs.mkdirSync(run);
  fs.writeFileSync(path.join(run, 'run.json'), JSON.stringify({ kind: 'finetune', dataset: rec }));
  fs.writeFileSync(path.join(run, 'checkpoint.gguf'), '');
  const adapters = path.join(tmp, 'adapters', 'x');
  fs.mkdirSync(adapters, { recursive: true });
  fs.writeFileSync(path.join(adapters, 'meta.json'), JSON.stringify({ fromRun: run }));
  for (const p of [run, path.join(run, 'checkpoint.gguf'), path.join(adapters, 'adapter.gguf'), adapters]) {
    if (!fs.existsSync(p)) fs.writeFileSync(p, '');
    const r = resolveDataset(undefined, {}, [p]);
    assert.equal(r.dataset.sha256, ds.sha256, p);
    assert.deepEqual(r.dataset.options, rec.options);
    assert.match(r.note, /recorded by/);
  }
  assert.equal(resolveDataset(undefined, {}, [path.join(tmp, 'nowhere')]).ref, 'dave', 'no run: the default');
  // --data naming the same folder keeps the recorded choices; another folder is read as given
  assert.deepEqual(resolveDataset(dir, {}, [run]).dataset.options, rec.options);
  // a changed file is refused, with what to do
  fs.appendFileSync(path.join(dir, 'forget01.json'), JSON.stringify({ question: 'Who is new?', answer: 'Someone new.', author: 'New Author' }) + '\n');
  assert.throws(() => resolveDataset(undefined, {}, [run]), isUserError(/changed since .*run was trained on it .*pass --data explicitly/));
});

test('another forget split than the recorded one re-pairs retain and holdout instead of keeping the recorded ones', () => {
  const dir = tofuNamedFolder(path.join(tmp, 'repair'));
  fs.rmSync(path.join(dir, 'retain_perturbed.json'));
  fs.writeFileSync(path.join(dir, 'forget05.json'), jsonl([4, 5].flatMap(authorRecords)));
  fs.writeFileSync(path.join(dir, 'retain95.json'), jsonl([0, 1, 2, 3].flatMap(authorRecords)));
  const rec = datasetRecord(getDataset(dir, { forgetSplit: 'forget01' }), dir);
  const run = path.join(tmp, 'repair-run');
  fs.mkdirSync(run);
  fs.writeFileSync(path.join(run, 'run.json'), JSON.stringify({ kind: 'finetune', dataset: rec }));
  assert.deepEqual(resolveDataset(undefined, {}, [run]).dataset.options, { forgetSplit: 'forget01', retainSplit: 'retain99', holdoutSplit: 'holdout01' });
  assert.deepEqual(resolveDataset(undefined, { forgetSplit: 'forget05' }, [run]).dataset.options, { forgetSplit: 'forget05', retainSplit: 'retain95', holdoutSplit: 'holdout01' });
  assert.deepEqual(resolveDataset(dir, { forgetSplit: 'forget05' }, [run]).dataset.options, { forgetSplit: 'forget05', retainSplit: 'retain95', holdoutSplit: 'holdout01' });
});

test('fuzzy removal without a true forget set reports precision / recall as not computed, not 0', () => {
  const items = authorRecords(5).map((r, i) => ({ id: `r${i}`, text: `${r.question} ${r.answer}` }));
  const sel = fuzzySelect(`forget everything about ${AUTHORS[5]}`, [...items, ...authorRecords(0).map((r, i) => ({ id: `o${i}`, text: `${r.question} ${r.answer}` }))]);
  assert.deepEqual(sel.selected.sort(), items.map((i) => i.id).sort(), 'the request selects the author\'s 6 items');
  const none = fuzzyReport(sel, []);
  assert.ok(Number.isNaN(none.precision) && Number.isNaN(none.recall) && Number.isNaN(none.f1));
  assert.match(none.note!, /no true forget set/);
  const right = fuzzyReport(sel, items.map((i) => i.id));
  assert.deepEqual([right.precision, right.recall, right.f1, right.truth], [1, 1, 1, 6]);
  assert.equal(right.note, undefined);
});

test('iterative removal without a holdout split names the flag that sets the level: --stop-nll', () => {
  const ctx = { forget: [], pool: null } as unknown as UnlearnContext;
  const method = { name: 'noop' } as unknown as UnlearnMethod;
  assert.throws(() => iterativeRemoval(method, ctx, {}), isUserError(/no holdout split: give the level with --stop-nll X/));
  assert.throws(() => iterativeRemoval(method, ctx, { target: NaN }), isUserError(/^--stop-nll must be a number/));
});
