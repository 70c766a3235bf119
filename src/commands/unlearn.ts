/**
 * Unlearning commands:
 *   unlearnkit unlearn --from RUN --method M --target T (--forget SET | --request "text") [--strategy batch|iterative|fuzzy]
 *   unlearnkit methods                      the registry
 *   unlearnkit compare-targets --from RUN --method M [--targets "all;embedding;block:0"]
 *   unlearnkit sequential --from RUN --method M (--chunks K | --request A --request B ...)
 *   unlearnkit influence --from RUN [--after adapters/<run-id> ...] [--methods tracin,actgrad,if]
 * Every command prints progress on stderr, a summary on stdout (or JSON with --json), and writes
 * its JSON (+ Markdown table) to a folder it names.
 */
import type { Command } from 'commander';
import path from 'node:path';
import { FILTER_HELP, resolveFilter } from '../model/paramGroups.ts';
import { listMethods } from '../unlearn/registry.ts';
import { runUnlearn, runSummaryText, type Strategy } from '../unlearn/run.ts';
import { prepare, sampleItems, type PrepareOptions } from '../unlearn/prepare.ts';
import { compareTargetsAction, defaultCompareTargetsDir } from '../actions/compareTargets.ts';
import { sequentialUnlearn, sequentialMarkdown, type SequentialRequest } from '../unlearn/sequential.ts';
import { writeUnlearnAdapter, makeRunId, loadUnlearnedModel, readAdapterMeta } from '../unlearn/adapter.ts';
import { fuzzySelect } from '../unlearn/fuzzy.ts';
import { toExamples } from '../unlearn/source.ts';
import { asF32Model } from '../model/sessions.ts';
import type { ProgressEvent, UnlearnHyper } from '../unlearn/types.ts';
import { SEARCH_PARAMS, DEFAULT_UTILITY_BUDGET, type SearchParam } from '../unlearn/stepSearch.ts';
import { influenceBeforeAfter, INFLUENCE_METHODS, type InfluenceMethod } from '../influence/compare.ts';
import { Progress } from '../util/progress.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { fileStamp, outputPath } from '../util/paths.ts';
import { UserError } from '../util/errors.ts';
import { deviceOption, resolveDevice } from './deviceOption.ts';
import { UNLEARN, UNLEARN_DATA, UNLEARN_HYPER, targetsDecl, evalEveryDecl } from '../options/declarations.ts';
import { seriesRecorder, seriesText, SERIES_FILE } from '../eval/series.ts';
import { compareRemoval, removalMarkdown } from '../unlearn/compareRemoval.ts';
import fs from 'node:fs';
import { addOptions, commanderOption, readOptions } from '../options/commander.ts';
import { checkOption } from '../options/validate.ts';
import type { OptimizerKind } from '../engine/graph.ts';
import { unlearnReport } from '../actions/unlearnReport.ts';
import type { ProgressEvent as EvalProgressEvent } from '../eval/types.ts';

type Opts = Record<string, string | boolean | string[] | undefined>;

function num(v: unknown, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UserError(`${what} must be a number, got '${String(v)}'`);
  return n;
}

function int(v: unknown, what: string): number | undefined {
  const n = num(v, what);
  if (n !== undefined && !Number.isInteger(n)) throw new UserError(`${what} must be an integer, got '${String(v)}'`);
  return n;
}

/** `--eta auto` / `--lr auto` / `--steps auto`: the setting to search (stepSearch.ts), at most one. */
function searchOf(o: Opts): SearchParam | undefined {
  const auto = SEARCH_PARAMS.filter((k) => o[k] === 'auto');
  if (auto.length > 1) throw new UserError(`only one step can be searched at a time; got ${auto.map((k) => `--${k} auto`).join(' and ')}`);
  return auto[0];
}

function hyperOf(o: Opts): Partial<UnlearnHyper> {
  const h: Partial<UnlearnHyper> = {};
  const set = <K extends keyof UnlearnHyper>(k: K, v: UnlearnHyper[K] | undefined) => {
    if (v !== undefined) h[k] = v;
  };
  o = { ...o };
  for (const k of SEARCH_PARAMS) if (o[k] === 'auto') delete o[k];
  set('eta', num(o.eta, '--eta'));
  set('lr', num(o.lr, '--lr'));
  set('steps', int(o.steps, '--steps'));
  set('batch', int(o.batch, '--batch'));
  set('optimizer', o.optimizer as OptimizerKind | undefined);
  set('beta', num(o.beta, '--beta'));
  set('retainWeight', num(o.retainWeight, '--retain-weight'));
  set('epochs', int(o.epochs, '--epochs'));
  return h;
}

/** The methods' settings, from their declarations (src/options UNLEARN_HYPER). */
function addHyperOptions(c: Command): Command {
  return addOptions(c, UNLEARN_HYPER);
}

/** Every option of unlearn / compare-targets / sequential checked (src/options) before any work. */
function checkUnlearnOptions(o: Opts): void {
  readOptions({ ...UNLEARN_DATA, ...UNLEARN_HYPER }, o);
  readOptions(UNLEARN, o);
}

/** The run, data and forget-set options every unlearning command reads the same way. */
function prepareOptionsOf(o: Opts): PrepareOptions {
  return { from: String(o.from), data: o.data === undefined ? undefined : String(o.data), dataOptions: o.forgetSplit === undefined ? undefined : { forgetSplit: String(o.forgetSplit) }, forget: String(o.forget), limit: int(o.limit, '--limit'), evalLimit: int(o.evalLimit, '--eval-limit'), seed: int(o.seed, '--seed') };
}

/** --json, --quiet and --device: the tail of the commands that compare runs. */
function outputOptions(c: Command): Command {
  return c.option('--json', 'print the JSON').option('--quiet', 'no progress').addOption(deviceOption());
}

/** Before any work on a command that runs one step for everything: options checked, `--X auto` refused (`why` says what the command does instead), the device resolved. */
function startOneStep(o: Opts, command: string, why: string): void {
  resolveDevice(o, { engine: 'none' });
  checkUnlearnOptions(o);
  const s = searchOf(o);
  if (s) throw new UserError(`--${s} auto searches a step for one run (unlearn, or each target of compare-targets); ${command} ${why}: give it a number`);
  resolveDevice(o);
}

/** `--eval-every N` (series.jsonl in the run folder); refused with --no-adapter on `unlearn`, whose run folder is the adapter folder. */
function evalEveryOf(o: Opts, folderIsAdapter = false): number | undefined {
  if (o.evalEvery === undefined) return undefined;
  const n = checkOption(evalEveryDecl, o.evalEvery) as number;
  if (folderIsAdapter && o.adapter === false) {
    throw new UserError('--eval-every writes series.jsonl into the run folder (adapters/<run-id>/); it cannot be used with --no-adapter');
  }
  return n;
}

/** The iterative and fuzzy removal settings (unlearn, compare-removal). */
function addRemovalOptions(c: Command): Command {
  for (const k of ['groupSize', 'maxIterations', 'stopNll', 'fuzzyRelative', 'fuzzyNgrams', 'fuzzyTopK'] as const) c.addOption(commanderOption(UNLEARN[k]));
  return c;
}

function addDataOptions(c: Command): Command {
  return addOptions(c, UNLEARN_DATA);
}

/** A stderr progress bar per method, fed by ProgressEvents. */
function progressPrinter(quiet: boolean): { on: (e: ProgressEvent) => void; done: () => void } {
  let bar: Progress | null = null;
  let key = '';
  return {
    on: (e) => {
      if (quiet) return;
      const k = `${e.method}/${e.total}`;
      if (!bar || k !== key) {
        bar?.finish();
        bar = new Progress({ total: e.total, label: e.method });
        key = k;
      }
      const fields = { ...(e.loss !== undefined ? { loss: e.loss } : {}), ...(e.note ? { at: e.note.slice(0, 40) } : {}) };
      if (e.step >= e.total) {
        bar.finish(fields);
        bar = null;
      } else bar.update(e.step, fields);
    },
    done: () => bar?.finish(),
  };
}

/** One stderr line per evaluation metric of `--report`. */
function evalProgress(quiet: boolean): (e: EvalProgressEvent) => void {
  return (e) => {
    if (!quiet && e.phase === 'start') process.stderr.write(`report: evaluating ${e.metric} ...\n`);
  };
}


export function register(program: Command): void {
  program
    .command('methods')
    .description('list the unlearning methods (the registry) with what they need and the settings they read')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const ms = listMethods().map((m) => ({ name: m.name, summary: m.summary, reference: m.reference, needs: m.needs, uses: m.uses }));
      if (o.json) return void process.stdout.write(JSON.stringify(ms, null, 2) + '\n');
      const lines: string[] = [];
      for (const m of ms) {
        const needs = [m.needs.record ? `gradient record (${m.needs.record})` : '', m.needs.run ? 'fine-tune run folder' : '', m.needs.retain ? 'kept training items' : ''].filter(Boolean);
        lines.push(`${m.name.padEnd(16)} ${m.summary}`);
        lines.push(`${''.padEnd(16)} settings: ${m.uses.map((u) => `--${u.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`).join(' ')}${needs.length ? `; needs: ${needs.join(', ')}` : ''}`);
        lines.push(`${''.padEnd(16)} ${m.reference}`);
      }
      process.stdout.write(lines.join('\n') + '\n');
    });

  addRemovalOptions(
    addHyperOptions(
      addDataOptions(
        program
          .command('unlearn')
          .description('unlearn a forget set (or what a plain-language request selects) from a fine-tuned model; writes adapters/<run-id>/')
          .addHelpText('after', '\nExit codes: 0 unlearned (forget NLL rose, paired t-test p < 0.05); 3 finished but not unlearned\n(forget moved the wrong way or not significantly; "outcome": "not-unlearned" in summary.json);\n2 a usage or input error; 1 an internal error.')
          .addOption(commanderOption(UNLEARN.method))
          .addOption(commanderOption(UNLEARN.target, FILTER_HELP))
          .addOption(commanderOption(UNLEARN.request))
          .addOption(commanderOption(UNLEARN.strategy)),
      ),
    ),
  )
    .option('--rouge', 'also generate answers to the forget / retain questions and score ROUGE')
    .addOption(commanderOption(UNLEARN.utilityBudget))
    .addOption(commanderOption(evalEveryDecl))
    .option('--adapters-dir <dir>', 'folder of adapter runs', 'adapters')
    .option('--run-id <id>', 'run id (default: method-target-time)')
    .option('--merged', 'also write merged.gguf (the full unlearned model)')
    .addOption(commanderOption(UNLEARN.maxRank))
    .addOption(commanderOption(UNLEARN.adapterError))
    .addOption(commanderOption(UNLEARN.overwrite))
    .addOption(commanderOption(UNLEARN.report))
    .option('--no-adapter', 'do not write the adapter folder')
    .option('--json', 'print the full result as JSON')
    .option('--quiet', 'no progress')
    .addOption(deviceOption())
    .action(async (o: Opts) => {
      resolveDevice(o, { engine: 'none' });
      checkUnlearnOptions(o);
      if (o.report && o.adapter === false) throw new UserError('--report evaluates the run folder (adapters/<run-id>/); it cannot be used with --no-adapter');
      resolveDevice(o);
      const pr = progressPrinter(!!o.quiet || !!o.json);
      const r = await runUnlearn({
        from: String(o.from),
        data: o.data === undefined ? undefined : String(o.data),
        dataOptions: o.forgetSplit === undefined ? undefined : { forgetSplit: String(o.forgetSplit) },
        forget: String(o.forget),
        request: o.request === undefined ? undefined : String(o.request),
        fuzzy: { relative: num(o.fuzzyRelative, '--fuzzy-relative'), charNgrams: int(o.fuzzyNgrams, '--fuzzy-ngrams'), topK: int(o.fuzzyTopK, '--fuzzy-top-k') },
        limit: int(o.limit, '--limit'),
        evalLimit: int(o.evalLimit, '--eval-limit'),
        rouge: !!o.rouge,
        seed: int(o.seed, '--seed'),
        method: String(o.method),
        target: String(o.target),
        strategy: o.strategy === undefined ? undefined : (String(o.strategy) as Strategy),
        hyper: hyperOf(o),
        search: searchOf(o),
        utilityBudget: num(o.utilityBudget, '--utility-budget'),
        evalEvery: evalEveryOf(o, true),
        iterative: { groupSize: int(o.groupSize, '--group-size'), maxIterations: int(o.maxIterations, '--max-iterations'), target: num(o.stopNll, '--stop-nll') },
        adaptersDir: String(o.adaptersDir),
        runId: o.runId === undefined ? undefined : String(o.runId),
        noAdapter: o.adapter === false,
        merged: !!o.merged,
        maxRank: int(o.maxRank, '--max-rank'),
        maxRelError: o.adapterError === undefined ? undefined : (checkOption(UNLEARN.adapterError, o.adapterError) as number),
        overwrite: !!o.overwrite,
        quiet: !!o.quiet || !!o.json,
        onProgress: pr.on,
      });
      pr.done();
      // exit code 3: the run finished but did not unlearn (forget moved the wrong way or not significantly)
      if (r.outcome === 'not-unlearned') process.exitCode = 3;
      // --report: before / after (/ retain-only) evaluated with eval's code, rendered by the report layer (actions/unlearnReport.ts)
      const rep = o.report && r.adapter ? await unlearnReport({ runDir: r.adapter.dir, data: o.data === undefined ? undefined : String(o.data), dataOptions: o.forgetSplit === undefined ? undefined : { forgetSplit: String(o.forgetSplit) }, onProgress: evalProgress(!!o.quiet || !!o.json) }) : null;
      if (o.json) return void process.stdout.write(JSON.stringify(rep ? { ...r, htmlReport: rep.html } : r, null, 2) + '\n');
      process.stdout.write(runSummaryText(r) + '\n');
      if (r.adapter) process.stdout.write(`  result: ${path.join(r.adapter.dir, 'result.json')}  report: ${path.join(r.adapter.dir, 'report.md')}\n`);
      if (rep) process.stdout.write(`  html report: ${rep.html}\n`);
    });

  const compareTargetsCommand = addHyperOptions(
    addDataOptions(
      program
        .command('compare-targets')
        .description('run one method under several layer targets and compare forget / retain / general effects (paired t-tests, Holm-corrected); with --eta / --lr / --steps auto, each target at its own largest step within the utility budget')
        .option('--method <name>', 'unlearning method', 'first-epoch')
        .addOption(commanderOption(targetsDecl)),
    ),
  )
    .addOption(commanderOption(UNLEARN.utilityBudget, 'here, the recommended target is the Pareto-optimal one (forget effect vs utility cost) with the largest forget effect within it'))
    .option('--out <dir>', 'folder for compare-targets.json and .md (default reports/unlearn/compare-targets-<time>)')
    .option('--adapters-dir <dir>', "also write each target's adapter run there, as `unlearn` does, and measure the written files (default: nothing per target is written; each is measured in memory)");
  outputOptions(compareTargetsCommand).action(async (o: Opts) => {
    resolveDevice(o, { engine: 'none' });
    checkUnlearnOptions(o);
    const search = searchOf(o); // each target searched for its own step (actions/compareTargets.ts)
    resolveDevice(o);
    const targets = o.targets === undefined ? undefined : (readOptions({ targets: targetsDecl }, o).targets as string[]);
    const quiet = !!o.quiet || !!o.json;
    const out = String(o.out ?? outputPath(defaultCompareTargetsDir()));
    const { comparison: c, files } = await compareTargetsAction({
      ...prepareOptionsOf(o),
      method: String(o.method),
      targets,
      hyper: hyperOf(o),
      search,
      budget: num(o.utilityBudget, '--utility-budget'),
      adaptersDir: o.adaptersDir === undefined ? undefined : path.resolve(String(o.adaptersDir)),
      out,
      quiet,
      onTarget: (t, i, n) => quiet || process.stderr.write(`[${i + 1}/${n}] ${o.method} on ${t}\n`),
    });
    if (o.json) return void process.stdout.write(JSON.stringify(c, null, 2) + '\n');
    process.stdout.write(files!.md + `wrote ${files!.json} and .md\n`);
  });

  const sequentialCommand = addHyperOptions(
    addDataOptions(
      program
        .command('sequential')
        .description('apply several unlearning requests one after another and report how retain / general utility drift')
        .option('--method <name>', 'unlearning method', 'first-epoch')
        .option('--target <targets>', `layer target: ${FILTER_HELP}`, 'all')
        .option('--chunks <k>', 'split the forget set into k requests (default 4 unless --request is given)')
        .option('--request <text...>', 'requests in plain language, applied in order (fuzzy-matched)'),
    ),
  )
    .addOption(commanderOption(evalEveryDecl, 'here n requests; the series goes to the --out folder (and the adapter folder)'))
    .option('--adapters-dir <dir>', 'folder of adapter runs (the total change is written there)', 'adapters')
    .option('--no-adapter', 'do not write the adapter of the total change')
    .option('--out <dir>', 'folder for sequential.json and .md (default reports/unlearn/sequential-<time>)');
  outputOptions(sequentialCommand).action(async (o: Opts) => {
    startOneStep(o, 'sequential', 'applies one step to every request');
    const p = prepare(prepareOptionsOf(o));
    const requests: SequentialRequest[] = [];
    const reqTexts = (o.request as string[] | undefined) ?? [];
    if (reqTexts.length) {
      for (const text of reqTexts) {
        const sel = fuzzySelect(text, p.train);
        const ids = new Set(sel.selected);
        requests.push({ name: text, forget: p.train.filter((e) => ids.has(e.id)) });
      }
    } else {
      const k = int(o.chunks ?? '4', '--chunks')!;
      if (k < 1) throw new UserError('--chunks must be >= 1');
      const size = Math.ceil(p.forget.length / k);
      for (let i = 0; i < k && i * size < p.forget.length; i++) requests.push({ name: `chunk-${i + 1}`, forget: p.forget.slice(i * size, (i + 1) * size) });
    }
    const quiet = !!o.quiet || !!o.json;
    const out = String(o.out ?? outputPath('reports', 'unlearn', `sequential-${fileStamp()}`));
    const every = evalEveryOf(o);
    const rec = every ? seriesRecorder({ file: path.join(out, SERIES_FILE), data: p.dataset, tokenizer: p.tokenizer, every, label: `sequential ${String(o.method)} ${String(o.target)}` }) : null;
    if (rec) fs.rmSync(rec.file!, { force: true });
    const r = sequentialUnlearn(p, {
      method: String(o.method),
      filter: String(o.target),
      hyper: hyperOf(o),
      requests,
      quiet,
      onStep: (s) => quiet || process.stderr.write(`request ${s.step}/${requests.length} (${s.request}): ${s.forgetCount} examples in ${s.seconds.toFixed(2)} s\n`),
      onModel: rec ? (m, step) => rec.at(m, step, step === requests.length) : undefined,
    });
    const { model: _m, deltas, ...json } = r;
    const md = sequentialMarkdown(r);
    let adapterDir: string | null = null;
    if (o.adapter !== false) {
      const forget = requests.flatMap((q) => q.forget);
      const w = await writeUnlearnAdapter({
        adaptersDir: path.resolve(String(o.adaptersDir)),
        runId: makeRunId(`sequential-${r.method}`, r.filter),
        baseCheckpoint: p.source.checkpoint,
        baseSha256: p.source.checkpointSha256,
        model: p.model,
        deltas,
        forget,
        meta: { method: r.method, strategy: 'sequential', filter: r.filter, requests: requests.map((q) => ({ name: q.name, count: q.forget.length })), settings: hyperOf(o), steps: json.steps.map((s) => ({ step: s.step, request: s.request, drift: s.drift.map((d) => ({ set: d.set, perplexityRatio: d.perplexityRatio, nllChange: d.nllChange })) })) },
        extraFiles: { 'sequential.json': json, 'report.md': md, ...(rec ? { [SERIES_FILE]: seriesText(rec.lines()) } : {}) },
      });
      adapterDir = w.dir;
    }
    writeJsonAtomic(path.join(out, 'sequential.json'), json);
    writeFileAtomic(path.join(out, 'sequential.md'), md);
    if (o.json) return void process.stdout.write(JSON.stringify(json, null, 2) + '\n');
    process.stdout.write(md + `wrote ${path.join(out, 'sequential.json')}${adapterDir ? `; total change: ${adapterDir}` : ''}\n`);
  });

  addRemovalOptions(
    addHyperOptions(
      addDataOptions(
        program
          .command('compare-removal')
          .description('one removal request, two strategies: fuzzy (the method once on what the request selects) vs iterative (per example until the target NLL); what each selected, precision / recall, forget / retain change')
          .requiredOption('--request <text>', 'the removal request in plain language, e.g. "forget everything about Dave Harrowgate"')
          .addOption(commanderOption(UNLEARN.method))
          .addOption(commanderOption(UNLEARN.target, FILTER_HELP)),
      ),
    ),
  )
    .option('--out <dir>', 'folder for compare-removal.json and .md (default reports/unlearn/compare-removal-<time>)')
    .option('--json', 'print the JSON')
    .option('--quiet', 'no progress')
    .addOption(deviceOption())
    .action(async (o: Opts) => {
      checkUnlearnOptions(o);
      resolveDevice(o);
      if (searchOf(o)) throw new UserError('compare-removal compares strategies at one step: give --eta / --lr / --steps a number (iterative removal repeats the method, so a searched step does not apply)');
      const quiet = !!o.quiet || !!o.json;
      const c = await compareRemoval({
        from: String(o.from),
        data: o.data === undefined ? undefined : String(o.data),
        dataOptions: o.forgetSplit === undefined ? undefined : { forgetSplit: String(o.forgetSplit) },
        request: String(o.request),
        fuzzy: { relative: num(o.fuzzyRelative, '--fuzzy-relative'), charNgrams: int(o.fuzzyNgrams, '--fuzzy-ngrams'), topK: int(o.fuzzyTopK, '--fuzzy-top-k') },
        limit: int(o.limit, '--limit'),
        evalLimit: int(o.evalLimit, '--eval-limit'),
        seed: int(o.seed, '--seed'),
        method: String(o.method),
        target: String(o.target),
        hyper: hyperOf(o),
        iterative: { groupSize: int(o.groupSize, '--group-size'), maxIterations: int(o.maxIterations, '--max-iterations'), target: num(o.stopNll, '--stop-nll') },
        quiet,
        onStrategy: (s) => quiet || process.stderr.write(`${s} removal of "${String(o.request)}" with ${String(o.method)}\n`),
      });
      const out = String(o.out ?? outputPath('reports', 'unlearn', `compare-removal-${fileStamp()}`));
      const md = removalMarkdown(c);
      writeJsonAtomic(path.join(out, 'compare-removal.json'), c);
      writeFileAtomic(path.join(out, 'compare-removal.md'), md);
      if (o.json) return void process.stdout.write(JSON.stringify(c, null, 2) + '\n');
      process.stdout.write(md + `wrote ${path.join(out, 'compare-removal.json')} and .md\n`);
    });

  program
    .command('influence')
    .description('influence of training examples on forget queries (TracIn, activation x gradient, influence function) before and after unlearning runs')
    .requiredOption('--from <run>', 'fine-tune run folder or checkpoint (the model before unlearning)')
    .option('--after <dirs...>', 'unlearning run folders (adapters/<run-id>) to compare with')
    .option('--data <dataset>', 'dataset', 'dave')
    .option('--methods <list>', `comma-separated: ${INFLUENCE_METHODS.join(', ')}`, 'tracin,actgrad')
    .option('--target <targets>', `parameters scored: ${FILTER_HELP}`, 'all')
    .option('--queries <split>', 'fact split of the queries', 'forget')
    .option('--query-kind <kind>', 'paraphrase (first paraphrase of each fact) | qa | train (the training text)', 'paraphrase')
    .option('--train <split>', 'fact split of the training examples scored', 'forget')
    .option('--limit <n>', 'queries and training examples at most (seeded sample)', '20')
    .option('--lr <x>', 'TracIn learning rate (default: the fine-tune\'s)')
    .option('--damping <x>', 'influence function: LiSSA damping lambda', '0.01')
    .option('--depth <n>', 'influence function: LiSSA depth', '50')
    .option('--seed <n>', 'seed', '0')
    .option('--out <dir>', 'folder for influence.json (default reports/unlearn/influence-<time>)')
    .option('--json', 'print the JSON')
    .option('--quiet', 'no progress')
    .addOption(deviceOption())
    .action((o: Opts) => {
      resolveDevice(o);
      const seed = int(o.seed, '--seed')!;
      const limit = int(o.limit, '--limit')!;
      const p = prepare({ from: String(o.from), data: String(o.data), forget: String(o.train), evalLimit: 1, seed });
      const methods = String(o.methods)
        .split(',')
        .map((s) => s.trim()) as InfluenceMethod[];
      for (const m of methods) if (!INFLUENCE_METHODS.includes(m)) throw new UserError(`unknown influence method '${m}'; use ${INFLUENCE_METHODS.join(', ')}`);
      const tensors = resolveFilter(String(o.target), p.model.config);
      const train = sampleItems(p.forget, limit, seed);
      const facts = sampleItems(
        p.dataset.facts(String(o.queries) as 'forget').filter((f) => f.paraphrases.length),
        limit,
        seed,
      );
      if (!facts.length) throw new UserError(`no facts in split '${String(o.queries)}'`);
      const kind = String(o.queryKind);
      const text = (f: (typeof facts)[number]) => (kind === 'paraphrase' ? f.paraphrases[0]! : kind === 'qa' ? `Question: ${f.question}\nAnswer: ${f.answer}` : `${f.statement}\nQuestion: ${f.question}\nAnswer: ${f.answer}`);
      if (!['paraphrase', 'qa', 'train'].includes(kind)) throw new UserError(`--query-kind must be paraphrase, qa or train`);
      const queries = toExamples(facts.map((f) => ({ id: `query:${f.id}`, text: text(f) })), p.tokenizer, p.maxLen);
      const afters = ((o.after as string[] | undefined) ?? []).map((d) => {
        const meta = readAdapterMeta(d);
        if (meta.base.sha256 !== p.source.checkpointSha256) process.stderr.write(`warning: ${d} was made from another checkpoint than ${p.source.checkpoint}\n`);
        return { name: path.basename(path.resolve(d)), model: asF32Model(loadUnlearnedModel(d)) };
      });
      const quiet = !!o.quiet || !!o.json;
      const r = influenceBeforeAfter({
        before: p.model,
        afters,
        tensors,
        queries,
        queryFacts: facts.map((f) => f.id),
        train,
        methods,
        lr: num(o.lr, '--lr') ?? p.source.options?.lr ?? 1,
        lissa: { damping: num(o.damping, '--damping'), depth: int(o.depth, '--depth') },
        onProgress: (s) => quiet || process.stderr.write(`influence ${s}\n`),
      });
      const out = String(o.out ?? outputPath('reports', 'unlearn', `influence-${fileStamp()}`));
      writeJsonAtomic(path.join(out, 'influence.json'), r);
      if (o.json) return void process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      const lines = [`influence of ${train.length} training examples on ${queries.length} queries (${r.pairs.length} pairs), ${tensors.length} tensors`];
      for (const [m, v] of Object.entries(r.methods)) {
        const mean = v.before.reduce((a, b) => a + b, 0) / v.before.length;
        lines.push(`  ${m}: mean before ${mean.toExponential(3)} (${v.seconds.toFixed(1)} s)`);
        for (const t of v.tests) {
          const a = t.all;
          lines.push(`    after ${t.model}: ${a ? `mean change ${a.meanDiff.toExponential(3)}, t=${a.t.toFixed(2)}, p=${a.p.toExponential(2)}, p_holm=${t.holmP?.toExponential(2) ?? '-'}, d_z=${a.dz.toFixed(2)}` : 'no test'}${t.diagonal ? `; same-fact pairs t=${t.diagonal.t.toFixed(2)} p=${t.diagonal.p.toExponential(2)}` : ''}`);
        }
      }
      lines.push(`wrote ${path.join(out, 'influence.json')}`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
