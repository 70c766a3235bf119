/**
 * Everything an unlearning run needs before a method runs: the source run and its fine-tuned model
 * (F32 host weights), the training examples, the forget set (a dataset split, a list of ids, or the
 * items a plain-language request selects by fuzzy matching), the kept examples, and the evaluation
 * sets. `makeContext` then gives a method a fresh working copy of the model.
 */
import fs from 'node:fs';
import { CausalLM, loraTensorNames } from '../model/model.ts';
import { attachLoraFile, resolveLoraTargets } from '../model/lora.ts';
import { tokenizerFromGguf, type Tokenizer } from '../model/tokenizer/index.ts';
import { type Dataset, type DatasetOptions } from '../data/dataset.ts';
import { resolveDataset } from '../data/record.ts';
import { FACT_SPLITS, type FactItem, type FactSplit } from '../data/types.ts';
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { resolveFilter } from '../model/paramGroups.ts';
import { asF32Model, SessionPool } from '../model/sessions.ts';
import { evalSplitItems, evalText, selectItems } from '../eval/items.ts';
import { evalTokens } from '../eval/perplexity.ts';
import { fuzzyReport, fuzzySelect, type FuzzyOptions, type FuzzyReport, type FuzzySelection } from './fuzzy.ts';
import { loadSource, toExamples, trainingItems } from './source.ts';
import { getMethod, resolveHyper } from './registry.ts';
import type { EvalSets, QaItem } from './measure.ts';
import type { Example, ProgressEvent, RunSource, UnlearnContext, UnlearnHyper, UnlearnMethod } from './types.ts';

export interface PrepareOptions {
  /** Fine-tune run folder or checkpoint. */
  from: string;
  /** Dataset name or path (default: the one the run's run.json records, else 'dave'). */
  data?: string;
  /** How to read it (a TOFU folder's forget file, ...; default: the run's recorded choices). */
  dataOptions?: DatasetOptions;
  /** Forget set: a split name of the dataset (default 'forget') or a file of ids (JSON array or one per line). */
  forget?: string;
  /** Forget set as explicit ids (overrides `forget`). */
  forgetIds?: string[];
  /** A plain-language removal request: the forget set is the training items it selects. */
  request?: string;
  fuzzy?: FuzzyOptions;
  /** Keep only the first N forget examples (training order). */
  limit?: number;
  /** Items per evaluation set (default 50; 0 = all). */
  evalLimit?: number;
  /** Greedy answers + ROUGE for forget and retain questions. */
  rouge?: boolean;
  seed?: number;
}

export interface Prepared {
  /** The fine-tuned model's measurement, computed once and shared by every run of a sweep. */
  before?: import('./measure.ts').Measurement;
  source: RunSource;
  dataset: Dataset;
  tokenizer: Tokenizer;
  /**
   * The fine-tuned model (F32 host weights), or for a LoRA run its base in the stored types with
   * the run's adapter attached; never changed.
   */
  model: CausalLM;
  maxLen: number;
  train: Example[];
  forget: Example[];
  retain: Example[];
  evalSets: EvalSets;
  /** Fuzzy selection and its precision / recall against the dataset's forget split (request mode). */
  selection: { fuzzy: FuzzySelection; report: FuzzyReport } | null;
  facts: Map<string, FactItem>;
  seed: number;
  /** Things the user should know (forget ids that were never trained on, ...). */
  warnings: string[];
}

/** n items of `arr` chosen by a seeded shuffle, in their original order (all when n <= 0 or n >= length). */
export function sampleItems<T>(arr: T[], n: number, seed: number): T[] {
  if (n <= 0 || n >= arr.length) return arr.slice();
  const idx = new Rng(seed).shuffle(arr.map((_, i) => i)).slice(0, n).sort((a, b) => a - b);
  return idx.map((i) => arr[i]!);
}

function readIdsFile(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8').trim();
  if (text.startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new UserError(`${file} is not valid JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new UserError(`${file} must be a JSON array of id strings`);
    return v as string[];
  }
  return text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s && !s.startsWith('#'));
}

export function prepare(o: PrepareOptions): Prepared {
  const seed = o.seed ?? 0;
  const source = loadSource(o.from);
  const dataset = resolveDataset(o.data, o.dataOptions ?? {}, [o.from]).dataset;
  const loaded = CausalLM.load(source.checkpoint);
  if (source.lora) attachLoraFile(loaded, source.lora.adapter);
  // a LoRA run changes its adapter only: the base keeps its stored types (no F32 copy)
  const model = source.lora ? loaded : asF32Model(loaded);
  const tokenizer = tokenizerFromGguf(loaded.file!);
  const maxLen = Math.min(source.options?.maxLen ?? model.config.nCtx, model.config.nCtx);
  const trainItems = trainingItems(source, dataset);
  const train = toExamples(trainItems, tokenizer, maxLen);
  const trainIds = new Set(train.map((e) => e.id));
  const facts = new Map<string, FactItem>();
  for (const f of dataset.facts()) facts.set(f.id, f);

  let forgetIds: string[];
  let selection: Prepared['selection'] = null;
  if (o.request !== undefined) {
    const fz = fuzzySelect(o.request, trainItems, o.fuzzy);
    const truth = dataset.facts('forget').map((f) => f.id).filter((id) => trainIds.has(id));
    const info = new Map([...facts.values()].map((f) => [f.id, { decoyOf: f.decoy_of, person: f.person }]));
    selection = { fuzzy: fz, report: fuzzyReport(fz, truth, info) };
    forgetIds = fz.selected;
    if (forgetIds.length === 0) throw new UserError(`the request "${o.request}" selected no training items`);
  } else if (o.forgetIds) {
    forgetIds = o.forgetIds;
  } else {
    const f = o.forget ?? 'forget';
    if ((FACT_SPLITS as readonly string[]).includes(f)) forgetIds = dataset.facts(f as FactSplit).map((x) => x.id);
    else if (fs.existsSync(f)) forgetIds = readIdsFile(f);
    else throw new UserError(`--forget '${f}' is neither a split (${FACT_SPLITS.join(', ')}) nor a file of ids`);
  }
  const notTrained = forgetIds.filter((id) => !trainIds.has(id));
  if (notTrained.length === forgetIds.length) {
    throw new UserError(`none of the ${forgetIds.length} forget items was in the run's training set (e.g. ${forgetIds[0]}); nothing to unlearn`);
  }
  const warnings: string[] = [];
  if (notTrained.length) warnings.push(`${notTrained.length} of the ${forgetIds.length} forget items were not in the run's training set and are skipped (e.g. ${notTrained[0]})`);
  const wanted = new Set(forgetIds);
  let forget = train.filter((e) => wanted.has(e.id));
  if (o.limit !== undefined) {
    if (!Number.isInteger(o.limit) || o.limit < 1) throw new UserError(`--limit must be a positive integer, got ${o.limit}`);
    forget = forget.slice(0, o.limit);
  }
  const forgetSet = new Set(forget.map((e) => e.id));
  const retain = train.filter((e) => !forgetSet.has(e.id));

  // the evaluation sets: eval/items.ts's selection and texts, tokenized as evaluation does, so that
  // `unlearnkit eval --limit N` of the same split scores the same items with the same tokens
  const evalLimit = o.evalLimit ?? 50;
  const nCtx = model.config.nCtx;
  const asEval = (items: Array<FactItem | { id: string; text: string }>): Example[] =>
    items.map(evalText).map((t) => ({ id: t.id, text: t.text, tokens: evalTokens(tokenizer, t.text, nCtx) }));
  const retainIds = new Set(retain.map((e) => e.id));
  // forget items in dataset order (each split's evaluation items, then items the dataset does not list)
  const listed = FACT_SPLITS.flatMap((s) => dataset.evalFacts(s));
  const listedIds = new Set(listed.map((f) => f.id));
  const forgetItems = [...listed.filter((f) => forgetSet.has(f.id)), ...forget.filter((e) => !listedIds.has(e.id)).map((e) => facts.get(e.id) ?? e)];
  const sets: Record<string, Example[]> = {
    forget: asEval(selectItems(forgetItems, evalLimit)),
    retain: asEval(evalSplitItems(dataset, 'retain', evalLimit, (id) => retainIds.has(id))),
    decoy: asEval(evalSplitItems(dataset, 'decoy', evalLimit, (id) => retainIds.has(id))),
    holdout: asEval(evalSplitItems(dataset, 'holdout', evalLimit)),
    general: asEval(evalSplitItems(dataset, 'general', evalLimit)),
  };
  if (selection) sets.trueForget = asEval(evalSplitItems(dataset, 'forget', evalLimit, (id) => trainIds.has(id)));
  for (const k of Object.keys(sets)) if (sets[k]!.length === 0) delete sets[k];
  const qaOf = (ex: Example[]): QaItem[] =>
    ex.flatMap((e) => {
      const f = facts.get(e.id);
      return f ? [{ id: f.id, question: f.question, answer: f.answer }] : [];
    });
  const evalSets: EvalSets = { sets, qa: o.rouge ? { forget: qaOf(sets.forget ?? []), retain: qaOf(sets.retain ?? []) } : undefined };
  if (!source.record) warnings.push(`${source.dir ?? source.checkpoint} has no gradient record: the stored-gradient methods (first-epoch, all-epochs) cannot run on it`);
  return { source, dataset, tokenizer, model, maxLen, train, forget, retain, evalSets, selection, facts, seed, warnings };
}

export interface ContextOptions {
  method: string;
  /** Layer target (default 'all'). */
  filter?: string;
  hyper?: Partial<UnlearnHyper>;
  /** Forget examples (default: the prepared forget set). */
  forget?: Example[];
  /** Start from this model instead of the prepared one (sequential requests). */
  start?: CausalLM;
  /** Each method step; `ctx` is the run's context (ctx.work holds the weights being changed). */
  onProgress?: (e: ProgressEvent, ctx: UnlearnContext) => void;
  quiet?: boolean;
  oracleDir?: string;
  seed?: number;
}

/**
 * The adapter tensors a layer target selects in a LoRA run: A and B of every adapted matrix in the
 * target (lora.ts resolveLoraTargets); a target without adapted matrices is refused by name.
 */
function loraTargetTensors(filter: string, model: CausalLM): string[] {
  const adapted = new Set(model.lora!.targets);
  const chosen = resolveLoraTargets(filter, model.config).filter((t) => adapted.has(t));
  if (chosen.length === 0) {
    throw new UserError(`layer target '${filter}' selects none of the ${adapted.size} matrices this LoRA run adapted (${[...adapted].slice(0, 4).join(', ')}${adapted.size > 4 ? ', ...' : ''}); unlearning a LoRA run changes its adapter only`);
  }
  return loraTensorNames(chosen);
}

/** A method and a context holding a fresh working copy of the model (dispose ctx.pool when done). */
export function makeContext(p: Prepared, o: ContextOptions): { method: UnlearnMethod; ctx: UnlearnContext } {
  const method = getMethod(o.method);
  const filter = o.filter ?? 'all';
  const tensors = p.model.lora ? loraTargetTensors(filter, p.model) : resolveFilter(filter, p.model.config);
  const forget = o.forget ?? p.forget;
  if (forget.length === 0) throw new UserError('the forget set is empty');
  const ids = new Set(forget.map((e) => e.id));
  const retain = o.forget ? p.train.filter((e) => !ids.has(e.id)) : p.retain;
  const work = asF32Model(o.start ?? p.model);
  const hyper = resolveHyper(o.hyper ?? {}, p.source, forget.length, o.method);
  const ctx: UnlearnContext = {
    work,
    filter,
    tensors,
    forget,
    retain,
    source: p.source,
    hyper,
    seed: o.seed ?? p.seed,
    pool: new SessionPool(work),
    onProgress: o.onProgress ? (e) => o.onProgress!(e, ctx) : undefined,
    quiet: o.quiet,
    oracleDir: o.oracleDir,
  };
  return { method, ctx };
}
