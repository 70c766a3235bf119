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
import { listMethods, HYPER_HELP } from '../unlearn/registry.ts';
import { runUnlearn, runSummaryText, type Strategy } from '../unlearn/run.ts';
import { prepare, sampleItems } from '../unlearn/prepare.ts';
import { compareTargets, targetsMarkdown } from '../unlearn/targets.ts';
import { sequentialUnlearn, sequentialMarkdown, type SequentialRequest } from '../unlearn/sequential.ts';
import { writeUnlearnAdapter, makeRunId, loadUnlearnedModel, readAdapterMeta } from '../unlearn/adapter.ts';
import { fuzzySelect } from '../unlearn/fuzzy.ts';
import { toExamples } from '../unlearn/source.ts';
import { asF32Model } from '../unlearn/sessions.ts';
import type { ProgressEvent, UnlearnHyper } from '../unlearn/types.ts';
import { influenceBeforeAfter, INFLUENCE_METHODS, type InfluenceMethod } from '../influence/compare.ts';
import { Progress } from '../util/progress.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { outputPath } from '../util/paths.ts';
import { UserError } from '../util/errors.ts';
import { deviceOption, resolveDevice } from './deviceOption.ts';
import type { OptimizerKind } from '../engine/graph.ts';

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

function hyperOf(o: Opts): Partial<UnlearnHyper> {
  const h: Partial<UnlearnHyper> = {};
  const set = <K extends keyof UnlearnHyper>(k: K, v: UnlearnHyper[K] | undefined) => {
    if (v !== undefined) h[k] = v;
  };
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

function addHyperOptions(c: Command): Command {
  return c
    .option('--eta <x>', HYPER_HELP.eta)
    .option('--lr <x>', HYPER_HELP.lr)
    .option('--steps <n>', HYPER_HELP.steps)
    .option('--batch <n>', HYPER_HELP.batch)
    .option('--optimizer <name>', HYPER_HELP.optimizer)
    .option('--beta <x>', HYPER_HELP.beta)
    .option('--retain-weight <x>', HYPER_HELP.retainWeight)
    .option('--epochs <n>', HYPER_HELP.epochs);
}

function addDataOptions(c: Command): Command {
  return c
    .requiredOption('--from <run>', 'fine-tune run folder (run.json, checkpoint.gguf, grads/) or a checkpoint .gguf')
    .option('--data <dataset>', 'dataset the run was trained on (default: the one its run.json records, else dave)')
    .option('--forget-split <name>', 'TOFU folder: the forget file (default: the one the run recorded)')
    .option('--forget <set>', 'forget set: a split of the dataset or a file of ids (JSON array or one per line)', 'forget')
    .option('--limit <n>', 'only the first N forget examples')
    .option('--eval-limit <n>', 'items per evaluation set (0 = all)', '50')
    .option('--seed <n>', 'seed', '0');
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

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
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

  addHyperOptions(
    addDataOptions(
      program
        .command('unlearn')
        .description('unlearn a forget set (or what a plain-language request selects) from a fine-tuned model; writes adapters/<run-id>/')
        .option('--method <name>', 'unlearning method (unlearnkit methods)', 'first-epoch')
        .option('--target <targets>', `layer target: ${FILTER_HELP}`, 'all')
        .option('--request <text>', 'select the forget set by fuzzy matching this request, e.g. "forget everything about Dave Harrowgate"')
        .option('--strategy <name>', 'batch | iterative | fuzzy (default: fuzzy with --request, else batch)'),
    ),
  )
    .option('--group-size <n>', 'iterative: forget examples per group', '1')
    .option('--max-iterations <n>', 'iterative: method calls per group at most', '10')
    .option('--stop-nll <x>', 'iterative: stop an example at this mean NLL (default: the holdout set\'s)')
    .option('--fuzzy-relative <x>', 'fuzzy: keep items scoring >= x * the best score', '0.75')
    .option('--fuzzy-ngrams <n>', 'fuzzy: character n-gram size (0 = words only)', '3')
    .option('--fuzzy-top-k <n>', 'fuzzy: keep the k best items instead')
    .option('--rouge', 'also generate answers to the forget / retain questions and score ROUGE')
    .option('--adapters-dir <dir>', 'folder of adapter runs', 'adapters')
    .option('--run-id <id>', 'run id (default: method-target-time)')
    .option('--merged', 'also write merged.gguf (the full unlearned model)')
    .option('--max-rank <n>', 'largest LoRA rank per tensor', '64')
    .option('--no-adapter', 'do not write the adapter folder')
    .option('--json', 'print the full result as JSON')
    .option('--quiet', 'no progress')
    .addOption(deviceOption())
    .action(async (o: Opts) => {
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
        iterative: { groupSize: int(o.groupSize, '--group-size'), maxIterations: int(o.maxIterations, '--max-iterations'), target: num(o.stopNll, '--stop-nll') },
        adaptersDir: String(o.adaptersDir),
        runId: o.runId === undefined ? undefined : String(o.runId),
        noAdapter: o.adapter === false,
        merged: !!o.merged,
        maxRank: int(o.maxRank, '--max-rank'),
        quiet: !!o.quiet || !!o.json,
        onProgress: pr.on,
      });
      pr.done();
      if (o.json) return void process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      process.stdout.write(runSummaryText(r) + '\n');
      if (r.adapter) process.stdout.write(`  result: ${path.join(r.adapter.dir, 'result.json')}  report: ${path.join(r.adapter.dir, 'report.md')}\n`);
    });

  addHyperOptions(
    addDataOptions(
      program
        .command('compare-targets')
        .description('run one method under several layer targets and compare forget / retain / general effects (paired t-tests, Holm-corrected)')
        .option('--method <name>', 'unlearning method', 'first-epoch')
        .option('--targets <list>', 'targets separated by ";" (default: all, embedding, every block, final_norm, output)'),
    ),
  )
    .option('--out <dir>', 'folder for compare-targets.json and .md (default reports/unlearn/compare-targets-<time>)')
    .option('--json', 'print the JSON')
    .option('--quiet', 'no progress')
    .addOption(deviceOption())
    .action((o: Opts) => {
      resolveDevice(o);
      const p = prepare({ from: String(o.from), data: o.data === undefined ? undefined : String(o.data), dataOptions: o.forgetSplit === undefined ? undefined : { forgetSplit: String(o.forgetSplit) }, forget: String(o.forget), limit: int(o.limit, '--limit'), evalLimit: int(o.evalLimit, '--eval-limit'), seed: int(o.seed, '--seed') });
      const targets = o.targets ? String(o.targets).split(';').map((s) => s.trim()).filter(Boolean) : undefined;
      const quiet = !!o.quiet || !!o.json;
      const c = compareTargets(p, { method: String(o.method), targets, hyper: hyperOf(o), quiet, onTarget: (t, i, n) => quiet || process.stderr.write(`[${i + 1}/${n}] ${o.method} on ${t}\n`) });
      const out = String(o.out ?? outputPath('reports', 'unlearn', `compare-targets-${stamp()}`));
      const md = `# ${c.method} across layer targets\n\n${p.forget.length} forget examples from ${p.source.dir ?? p.source.checkpoint}\n\n` + targetsMarkdown(c);
      writeJsonAtomic(path.join(out, 'compare-targets.json'), c);
      writeFileAtomic(path.join(out, 'compare-targets.md'), md);
      if (o.json) return void process.stdout.write(JSON.stringify(c, null, 2) + '\n');
      process.stdout.write(md + `wrote ${path.join(out, 'compare-targets.json')} and .md\n`);
    });

  addHyperOptions(
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
    .option('--adapters-dir <dir>', 'folder of adapter runs (the total change is written there)', 'adapters')
    .option('--no-adapter', 'do not write the adapter of the total change')
    .option('--out <dir>', 'folder for sequential.json and .md (default reports/unlearn/sequential-<time>)')
    .option('--json', 'print the JSON')
    .option('--quiet', 'no progress')
    .addOption(deviceOption())
    .action(async (o: Opts) => {
      resolveDevice(o);
      const p = prepare({ from: String(o.from), data: o.data === undefined ? undefined : String(o.data), dataOptions: o.forgetSplit === undefined ? undefined : { forgetSplit: String(o.forgetSplit) }, forget: String(o.forget), limit: int(o.limit, '--limit'), evalLimit: int(o.evalLimit, '--eval-limit'), seed: int(o.seed, '--seed') });
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
      const r = sequentialUnlearn(p, {
        method: String(o.method),
        filter: String(o.target),
        hyper: hyperOf(o),
        requests,
        quiet,
        onStep: (s) => quiet || process.stderr.write(`request ${s.step}/${requests.length} (${s.request}): ${s.forgetCount} examples in ${s.seconds.toFixed(2)} s\n`),
      });
      const out = String(o.out ?? outputPath('reports', 'unlearn', `sequential-${stamp()}`));
      const { model: _m, deltas, ...json } = r;
      const md = `# Sequential unlearning with ${r.method} on ${r.filter}\n\n` + sequentialMarkdown(r);
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
          extraFiles: { 'sequential.json': json, 'report.md': md },
        });
        adapterDir = w.dir;
      }
      writeJsonAtomic(path.join(out, 'sequential.json'), json);
      writeFileAtomic(path.join(out, 'sequential.md'), md);
      if (o.json) return void process.stdout.write(JSON.stringify(json, null, 2) + '\n');
      process.stdout.write(md + `wrote ${path.join(out, 'sequential.json')}${adapterDir ? `; total change: ${adapterDir}` : ''}\n`);
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
      const out = String(o.out ?? outputPath('reports', 'unlearn', `influence-${stamp()}`));
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
