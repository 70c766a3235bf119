/**
 * The dataset registry and the `unlearnkit data` command (run in-process on a bare commander
 * program, so the test does not load the other command modules).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { UserError } from '../../src/util/errors.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';
import { getDataset, knownDatasets, parseDatasetRef } from '../../src/data/dataset.ts';
import { generateDave } from '../../src/data/dave/generate.ts';
import { register } from '../../src/commands/data.ts';

const g = generateDave(7);

test("getDataset('dave') opens datasets/dave with the generator's counts", () => {
  const ds = getDataset('dave');
  assert.equal(ds.format, 'dave');
  assert.equal(ds.source, path.join(PROJECT_ROOT, 'datasets', 'dave'));
  assert.deepEqual(ds.counts(), { forget: g.forget.length, retain: g.retain.length, holdout: g.holdout.length, decoy: g.decoy.length, real_authors: 0, world_facts: 0, general: g.general.length });
  assert.deepEqual(ds.people(), { forget: 1, retain: 45, holdout: 20, decoy: 5, real_authors: 0, world_facts: 0 });
  assert.deepEqual(ds.facts('forget').map((f) => f.id), g.forget.map((f) => f.id));
  assert.equal(ds.facts().length, g.forget.length + g.retain.length + g.holdout.length + g.decoy.length);
  assert.equal(ds.facts()[0]!.split, 'forget');
  // The same folder by path.
  assert.deepEqual(getDataset(ds.source).counts(), ds.counts());
  assert.ok(knownDatasets().some((d) => d.name === 'dave'));
});

test('getDataset: a TOFU file by path; unknown names list the known ones', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unlearnkit-ds-'));
  const file = path.join(dir, 'forget01.jsonl');
  fs.writeFileSync(file, JSON.stringify({ question: 'Who?', answer: 'Someone.', perturbed_answer: ['No one.', 'Anyone.', 'Everyone.'] }) + '\n');
  const ds = getDataset(file);
  assert.equal(ds.format, 'tofu');
  assert.equal(ds.counts().forget, 1);
  assert.equal(ds.counts().general, 0);
  assert.throws(() => getDataset('no-such-set'), (e: unknown) => e instanceof UserError && /unknown dataset "no-such-set"; known datasets: .*dave/.test(e.message));
  // the folder holding it is a TOFU folder; an empty folder is neither format
  assert.equal(getDataset(dir).counts().forget, 1);
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'unlearnkit-ds-empty-'));
  assert.throws(() => getDataset(empty), (e: unknown) => e instanceof UserError && /neither a Dave-format dataset .* nor a TOFU-format one/.test(e.message));
  fs.rmSync(empty, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
});

test('parseDatasetRef splits "name:split" only for known splits', () => {
  assert.deepEqual(parseDatasetRef('dave:forget'), { name: 'dave', split: 'forget' });
  assert.deepEqual(parseDatasetRef('dave:general'), { name: 'dave', split: 'general' });
  assert.deepEqual(parseDatasetRef('dave'), { name: 'dave' });
  assert.deepEqual(parseDatasetRef('C:\\data\\x.json'), { name: 'C:\\data\\x.json' });
});

/** Run `unlearnkit <args>` with only the data command registered; returns stdout. */
async function cli(...args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  register(program);
  let out = '';
  const orig = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'unlearnkit', ...args]);
  } finally {
    process.stdout.write = orig;
  }
  return out;
}

test('unlearnkit data info --json / show --json / generate-dave', async () => {
  const info = JSON.parse(await cli('data', 'info', '--json')) as { counts: Record<string, number>; people: Record<string, number>; manifestProblems: string[] };
  assert.equal(info.counts.forget, g.forget.length);
  assert.equal(info.counts.general, g.general.length);
  assert.equal(info.people.retain, 45);
  assert.deepEqual(info.manifestProblems, []);

  const shown = JSON.parse(await cli('data', 'show', 'dave:decoy', '--limit', '3', '--json')) as Array<{ id: string; split: string }>;
  assert.deepEqual(shown.map((s) => s.id), g.decoy.slice(0, 3).map((d) => d.id));
  const text = await cli('data', 'show', 'dave', '--split', 'general', '--limit', '2');
  assert.ok(text.includes(g.general[0]!.text) && text.includes('(2 of 400 items)'));
  await assert.rejects(cli('data', 'show', 'dave', '--split', 'nope'), /unknown split "nope"/);
  await assert.rejects(cli('data', 'show', 'dave', '--limit', '-1'), /--limit must be an integer >= 0/);

  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unlearnkit-gen-')), 'dave');
  const gen = JSON.parse(await cli('data', 'generate-dave', '--seed', '7', '--out', out, '--json')) as { files: Record<string, { sha256: string }> };
  for (const name of ['forget.jsonl', 'retain.jsonl', 'holdout.jsonl', 'decoys.jsonl', 'general.jsonl', 'manifest.json', 'README.md']) {
    assert.equal(fs.readFileSync(path.join(out, name), 'utf8'), fs.readFileSync(path.join(PROJECT_ROOT, 'datasets', 'dave', name), 'utf8'), name);
  }
  assert.equal(Object.keys(gen.files).length, 5);
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
});
