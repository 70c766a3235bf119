/**
 * The parts of src/sweep that need no engine and no Redis: the YAML subset against JSON, spec
 * checks that name the field, the expansion into keyed jobs (a method gets only the step settings
 * it reads; keys follow settings and input content), the worker's re-check of a job taken from a
 * queue, the content-addressed store, the aggregation statistics against scipy 1.10 (ttest_1samp /
 * ttest_rel confidence intervals, Holm by hand), the Redis URL handling and the message when
 * bullmq is not installed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseYaml } from '../../src/sweep/yaml.ts';
import { parseSpecText, validateSpec, type UnlearnSweepSpec } from '../../src/sweep/spec.ts';
import { checkEnvelope, expandUnlearn, jobKey, type JobEnvelope, type UnlearnJob } from '../../src/sweep/jobs.ts';
import { Store } from '../../src/sweep/store.ts';
import { aggregateUnlearn, cellStat } from '../../src/sweep/aggregate.ts';
import { loadQueueLibs, parseRedisUrl } from '../../src/sweep/queue.ts';
import { listMethods } from '../../src/unlearn/registry.ts';
import type { UnlearnJobResult } from '../../src/sweep/runner.ts';
import { UserError } from '../../src/util/errors.ts';

const METHODS = listMethods().map((m) => m.name);
const USES = (name: string) => listMethods().find((m) => m.name === name)!.uses;
const CHECK = { methods: METHODS.filter((m) => m !== 'retain-only'), metrics: ['perplexity', 'rouge'] };
const validate = (raw: unknown) => validateSpec(raw, { file: 'grid.yaml', methods: METHODS, metrics: ['perplexity', 'rouge'] });

const YAML = `# a grid
name: grid-1
model: models/unlearnkit-base.gguf
data: dave
finetune:
  epochs: 2
  lr: 3e-3            # the demo's
  splits: {forget: 16, retain: 40}
  recordFilter: "embedding,block:-1:mlp"
grid:
  methods:
    - first-epoch
    - gradient-ascent
  targets: [embedding, block:-1:mlp]
  eta: [1, 2]
  lr: [default, 0.001]
  steps: [2]
  seeds: [0, 1]
hyper: {batch: 4}
eval:
  limit: 8
  rouge: false
  note_free: 'it''s' 
`;

test('the YAML subset reads a spec as its JSON twin, with YAML 1.2 core scalars', () => {
  const y = parseYaml(YAML.replace("  note_free: 'it''s' \n", ''), 'grid.yaml');
  const json = {
    name: 'grid-1',
    model: 'models/unlearnkit-base.gguf',
    data: 'dave',
    finetune: { epochs: 2, lr: 3e-3, splits: { forget: 16, retain: 40 }, recordFilter: 'embedding,block:-1:mlp' },
    grid: { methods: ['first-epoch', 'gradient-ascent'], targets: ['embedding', 'block:-1:mlp'], eta: [1, 2], lr: ['default', 0.001], steps: [2], seeds: [0, 1] },
    hyper: { batch: 4 },
    eval: { limit: 8, rouge: false },
  };
  assert.deepEqual(y, json);
  assert.deepEqual(parseSpecText(JSON.stringify(json), 'grid.json'), json);
  assert.deepEqual(parseYaml("a: 'it''s # not a comment'\nb: \"x\\ty\" # c\nc: ~\nd: -0.5e-2\ne: 0x1F\nf: TRUE\ng: [ ]\nh: {}\ni: .inf\nj: 1.2.3\n"), {
    a: "it's # not a comment",
    b: 'x\ty',
    c: null,
    d: -0.005,
    e: 31,
    f: true,
    g: [],
    h: {},
    i: Infinity,
    j: '1.2.3',
  });
  assert.deepEqual(parseYaml('list:\n- a: 1\n  b: [x, {y: 2}]\n- - 3\n  - 4\n- \n'), { list: [{ a: 1, b: ['x', { y: 2 }] }, [3, 4], null] });
  const bad: Array<[string, RegExp]> = [
    ['a:\n\tb: 1\n', /grid.yaml:2: tabs are not allowed/],
    ['a: &x 1\n', /grid.yaml:1: a plain value|anchors/],
    ['a: 1\na: 2\n', /grid.yaml:2: duplicate key 'a'/],
    ['a: [1, 2\n', /grid.yaml:1: a flow sequence '\[' must close/],
    ['a:\n  b: 1\n   c: 2\n', /grid.yaml:3: bad indentation/],
    ['a: |\n  text\n', /grid.yaml:1: .*block scalars|grid.yaml:1: 'a: \|'|'\|'/],
    ['a: 1\n---\nb: 2\n', /grid.yaml:2: only one YAML document/],
  ];
  for (const [src, re] of bad) assert.throws(() => parseYaml(src, 'grid.yaml'), (e: Error) => e instanceof UserError && re.test(e.message), src);
});

test('spec checks name every problem by its field', () => {
  const spec = validate(parseYaml(YAML.replace("  note_free: 'it''s' \n", ''))) as UnlearnSweepSpec;
  assert.equal(spec.kind, 'unlearn');
  assert.deepEqual(spec.grid.lr, ['default', 0.001]);
  assert.equal(spec.baseline, 'first-epoch');
  assert.equal(spec.threads, 1);
  assert.deepEqual(spec.eval, { limit: 8, forgetLimit: null, rouge: false, metrics: [], adapter: true });
  assert.throws(
    () =>
      validate({
        finetune: { from: 'runs/x', epochs: 3 },
        grid: { methods: ['first-epoch', 'unknown-method', 'retain-only'], etta: [1], eta: [1, 'x'], lr: ['auto'], steps: [0], seeds: [0, 0] },
        eval: { metrics: ['nope'] },
        baseline: 'npo',
        threads: 1.5,
      }),
    (e: Error) => {
      const lines = e.message.split('\n').map((l) => l.trim());
      for (const want of [
        'finetune.epochs: unknown field',
        'grid.methods[1]: unknown method "unknown-method"',
        'grid.methods[2]: retain-only is not run in sweeps',
        'grid.eta[1]: must be a number or "default", got "x"',
        'grid.lr[0]: "auto" (the step search of `unlearn --lr auto`) is not available in sweeps: list the values to try, or "default" for the method\'s default',
        'grid.steps[0]: must be >= 1, got 0',
        'grid.seeds: lists 0 twice',
        'grid.etta: unknown field',
        'eval.metrics[0]: unknown metric "nope"',
        'baseline: must be one of grid.methods',
        'threads: must be a whole number, got 1.5',
      ]) {
        assert.ok(lines.some((l) => l.startsWith(want)), `missing "${want}" in:\n${e.message}`);
      }
      return e instanceof UserError && /^grid\.yaml: \d+ problems:/.test(e.message);
    },
  );
  assert.throws(() => validate({ grid: { methods: ['npo'] } }), /grid\.yaml: finetune: is required/);
  assert.throws(() => validate({ kind: 'rum-memorization', memorization: { models: 1, fraction: 1.5 } }), /memorization\.models: must be >= 2, got 1\n.*memorization\.fraction: must be < 1, got 1.5/s);
  assert.throws(() => validate([1, 2]), /a sweep spec must be a mapping/);
});

const REFS = { model: { blob: 'a'.repeat(64), ext: '.gguf' }, data: { tree: 'b'.repeat(64) }, from: null };

test('expansion: each method gets only the step settings it reads; keys follow settings, inputs and nothing else', () => {
  const spec = validate(parseYaml(YAML.replace("  note_free: 'it''s' \n", ''))) as UnlearnSweepSpec;
  const phases = expandUnlearn(spec, REFS, USES);
  assert.deepEqual(
    phases.map((p) => [p.name, p.jobs.length]),
    [
      ['finetune', 1],
      ['unlearn', 16],
    ],
  );
  const ul = phases[1]!.jobs.map((j) => j.job as UnlearnJob);
  // first-epoch reads eta only: 2 etas x 2 targets x 2 seeds, without lr / steps / batch
  const fe = ul.filter((j) => j.method === 'first-epoch');
  assert.equal(fe.length, 8);
  assert.ok(fe.every((j) => Object.keys(j.hyper).join() === 'eta'));
  // gradient ascent reads lr, steps and batch: (default, 0.001) x 2 targets x 2 seeds
  const ga = ul.filter((j) => j.method === 'gradient-ascent');
  assert.equal(ga.length, 8);
  assert.deepEqual([...new Set(ga.map((j) => JSON.stringify(j.hyper)))].sort(), ['{"steps":2,"batch":4}', '{"lr":0.001,"steps":2,"batch":4}'].sort());
  assert.deepEqual(ul[0]!.from, { artifact: phases[0]!.jobs[0]!.key, path: 'run' });
  const keys = phases.flatMap((p) => p.jobs.map((j) => j.key));
  assert.equal(new Set(keys).size, keys.length);
  // the same spec gives the same keys; another model content changes every key (through the fine-tune)
  assert.deepEqual(expandUnlearn(spec, REFS, USES).flatMap((p) => p.jobs.map((j) => j.key)), keys);
  const other = expandUnlearn(spec, { ...REFS, model: { blob: 'c'.repeat(64), ext: '.gguf' } }, USES).flatMap((p) => p.jobs.map((j) => j.key));
  assert.equal(other.filter((k) => keys.includes(k)).length, 0);
  // key = sha256 of the canonical job (field order does not matter)
  const j = ul[0]!;
  const reordered = Object.fromEntries(Object.entries(j).reverse()) as unknown as UnlearnJob;
  assert.equal(jobKey(reordered), phases[1]!.jobs[0]!.key);
});

test('a worker checks a job again: hashes only, known fields and methods, and a key that matches', () => {
  const spec = validate(parseYaml(YAML.replace("  note_free: 'it''s' \n", ''))) as UnlearnSweepSpec;
  const env = expandUnlearn(spec, REFS, USES)[1]!.jobs[0]!;
  const round = JSON.parse(JSON.stringify(env)) as JobEnvelope;
  assert.deepEqual(checkEnvelope(round, CHECK), env);
  const mutate = (f: (e: any) => void) => {
    const e = JSON.parse(JSON.stringify(env));
    f(e);
    return e;
  };
  const cases: Array<[string, (e: any) => void, RegExp]> = [
    ['changed setting', (e) => (e.job.seed = 7), /envelope.key does not match the job/],
    ['path instead of hash', (e) => (e.job.data = { tree: '../../etc' }), /job.data.tree has characters/],
    ['a command line', (e) => (e.job.command = 'rm -rf /'), /job.command is not a known field/],
    ['a path reference', (e) => (e.job.from = { path: '/etc/passwd' }), /job.from must reference the store by hash/],
    ['artifact escaping', (e) => (e.job.from = { artifact: 'a'.repeat(64), path: '../x' }), /job.from.path has characters/],
    ['retain-only', (e) => (e.job.method = 'retain-only'), /job.method must be one of/],
    ['bad threads', (e) => (e.job.threads = 0), /job.threads must be >= 1/],
  ];
  for (const [what, f, re] of cases) assert.throws(() => checkEnvelope(mutate(f), CHECK), re, what);
});

test('the store keeps inputs by content hash, checks them on use, and publishes artifacts once', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-store-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const src = path.join(root, 'src');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'a.txt'), 'alpha');
  fs.writeFileSync(path.join(src, 'sub', 'b.bin'), Buffer.from([1, 2, 3]));
  fs.mkdirSync(path.join(src, 'oracle'));
  fs.writeFileSync(path.join(src, 'oracle', 'x'), 'skipped');
  const store = new Store(path.join(root, 'store'), { create: true });
  const tree = store.putTree(src, (rel) => rel === 'oracle');
  assert.equal(store.putTree(src, (rel) => rel === 'oracle').tree, tree.tree, 'same content, same hash');
  const dir = store.resolve(tree);
  assert.equal(fs.readFileSync(path.join(dir, 'sub', 'b.bin')).length, 3);
  assert.ok(!fs.existsSync(path.join(dir, 'oracle')));
  const blob = store.putFile(path.join(src, 'a.txt'));
  assert.equal(blob.blob, '8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8'); // sha256("alpha")
  assert.equal(fs.readFileSync(store.resolve(blob), 'utf8'), 'alpha');
  // a changed file is refused by a process that has not checked it yet
  fs.writeFileSync(path.join(store.root, 'blobs', `${blob.blob}.txt`), 'beta');
  assert.throws(() => new Store(store.root).resolve(blob), /does not match its hash/);
  fs.writeFileSync(path.join(dir, 'a.txt'), 'changed');
  assert.throws(() => new Store(store.root).resolve(tree), /a.txt is missing or was changed/);
  assert.throws(() => store.resolve({ blob: 'f'.repeat(64), ext: '' }), /is not in the store .* same --store/);
  assert.throws(() => new Store(path.join(root, 'none')), /does not exist/);
  // publishing: the first copy wins, a second is dropped
  const key = 'd'.repeat(64);
  const t1 = store.tmpDir(key);
  fs.writeFileSync(path.join(t1, 'r'), 'first');
  const t2 = store.tmpDir(key);
  fs.writeFileSync(path.join(t2, 'r'), 'second');
  store.publish(key, t1);
  store.publish(key, t2);
  assert.equal(fs.readFileSync(path.join(store.artifactDir(key), 'r'), 'utf8'), 'first');
  assert.ok(!fs.existsSync(t2));
  assert.equal(store.resolve({ artifact: key, path: 'r' }), path.join(store.artifactDir(key), 'r'));
});

test('aggregation: cell means with 95% t intervals and paired tests over seeds with Holm (scipy 1.10 values)', () => {
  // ttest_1samp([1, 2, 4]).confidence_interval(0.95); src/stats matches scipy to 1e-9 here (its tests: 1e-6 relative)
  const s = cellStat([1, 2, 4].map((value, seed) => ({ seed, value })));
  assert.ok(Math.abs(s.mean - 2.3333333333333335) < 1e-15);
  assert.ok(Math.abs(s.lo! - -1.461249700406131) < 1e-9 && Math.abs(s.hi! - 6.127916367072798) < 1e-9, `${s.lo} ${s.hi}`);
  assert.equal(cellStat([{ seed: 0, value: 3 }]).lo, null);

  const spec = validate({
    finetune: { from: 'runs/x' },
    grid: { methods: ['first-epoch', 'gradient-ascent', 'npo'], targets: ['embedding'], seeds: [0, 1, 2, 3] },
  }) as UnlearnSweepSpec;
  const phases = expandUnlearn(spec, { model: null, data: REFS.data, from: { tree: 'e'.repeat(64) } }, USES);
  const base = [0.2, 0.3, 0.5, 0.6];
  const values: Record<string, number[]> = { 'first-epoch': base, 'gradient-ascent': [0.5, 0.9, 0.4, 1.3], npo: [0.1, 0.35, 0.2, 0.15] };
  const results = new Map<string, UnlearnJobResult>();
  for (const env of phases[0]!.jobs) {
    const j = env.job as UnlearnJob;
    const v = values[j.method]![j.seed]!;
    results.set(env.key, { kind: 'unlearn', key: env.key, cell: '', method: j.method, target: j.target, seed: j.seed, settings: {}, outcomes: { 'dNll/forget': v, 'dNll/retain': v / 10 }, forgetCount: 1, deltaNorm: 0, changedTensors: [], warnings: [], artifacts: { adapter: null, eval: null }, seconds: 0 });
  }
  const agg = aggregateUnlearn(spec, phases[0]!.jobs, results);
  assert.deepEqual(agg.outcomes, ['dNll/forget', 'dNll/retain']);
  assert.deepEqual(agg.cells.map((c) => c.id), ['first-epoch@embedding', 'gradient-ascent@embedding', 'npo@embedding']);
  const fwd = agg.input.comparisons.filter((c) => c.split === 'forget');
  assert.equal(fwd.length, 2);
  const ga = fwd.find((c) => c.method === 'gradient-ascent')!;
  const np = fwd.find((c) => c.method === 'npo')!;
  // scipy ttest_rel(after, before): t, p and the CI of the mean difference
  assert.ok(Math.abs(ga.t - 2.086825030920757) < 1e-12, `t ${ga.t}`);
  assert.ok(Math.abs(ga.p - 0.12816458986754006) < 1e-9, `p ${ga.p}`);
  assert.ok(Math.abs(ga.ci95[0] - -0.19688185247856366) < 1e-9 && Math.abs(ga.ci95[1] - 0.9468818524785638) < 1e-9);
  assert.ok(Math.abs(np.t - -1.8194353045893683) < 1e-12 && Math.abs(np.p - 0.16641439358730853) < 1e-9);
  // Holm over the two methods: min(1, max over the sorted prefix of (m - j + 1) p_(j)) = 2 * 0.12816...
  assert.ok(Math.abs(ga.pHolm - 2 * 0.12816458986754006) < 1e-9 && Math.abs(np.pHolm - 2 * 0.12816458986754006) < 1e-9);
  assert.deepEqual(ga.ids, ['seed 0', 'seed 1', 'seed 2', 'seed 3']);
  // the table rows the renderer prints: mean and the 95% interval per cell
  const run = agg.input.runs.find((r) => r.id === 'npo@embedding')!;
  const ci = cellStat(values.npo!.map((value, seed) => ({ seed, value })));
  assert.deepEqual(run.splitSummaries['ΔNLL forget'], { mean: { value: ci.mean }, '95% CI low': { value: ci.lo! }, '95% CI high': { value: ci.hi! }, seeds: { value: 4 } });
  assert.deepEqual(agg.input.heatmap!.cells.map((c) => c.row), ['first-epoch', 'gradient-ascent', 'npo']);
});

test('Redis URLs: passwords (URL or environment) never shown, TLS, databases; a missing bullmq says how to install it', async () => {
  const t = parseRedisUrl('redis://user:p%40ss@10.0.0.5:6380/2');
  assert.deepEqual([t.host, t.port, t.db, t.username, t.password, t.tls], ['10.0.0.5', 6380, 2, 'user', 'p@ss', false]);
  assert.equal(t.display, 'redis://user:***@10.0.0.5:6380/2');
  const e = parseRedisUrl('rediss://[::1]', { env: { UNLEARNKIT_REDIS_PASSWORD: 'secret' } });
  assert.deepEqual([e.host, e.port, e.password, e.tls, e.display], ['::1', 6379, 'secret', true, 'rediss://:***@[::1]:6379']);
  assert.throws(() => parseRedisUrl('http://x:1'), /must be a redis:\/\/ or rediss:\/\/ URL/);
  assert.throws(() => parseRedisUrl('redis://h/x'), /database 'x' must be a number/);
  assert.throws(() => parseRedisUrl('redis://h', { tlsCa: 'ca.pem' }), /--tls-ca is for rediss:\/\//);
  assert.throws(() => parseRedisUrl('redis://:hunter2@h:1/zz'), (err: Error) => !err.message.includes('hunter2'));
  const missing = async (name: string) => {
    throw Object.assign(new Error(`Cannot find package '${name}' imported from x`), { code: 'ERR_MODULE_NOT_FOUND' });
  };
  await assert.rejects(loadQueueLibs(missing), (err: Error) => err instanceof UserError && /needs the package 'bullmq'.*npm install bullmq@\^6\.7\.6 ioredis@\^5\.10\.1/.test(err.message));
  const libs = await loadQueueLibs();
  assert.equal(typeof libs.bullmq.Worker, 'function');
  assert.equal(typeof libs.Redis, 'function');
});
