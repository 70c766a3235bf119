/**
 * The built-in metrics (docs/methods.md#metrics), registered on import:
 *
 * - `perplexity`: per item the mean NLL per token of its text (fact splits: the training text,
 *   statement + "Question: q\nAnswer: a", as fine-tuning saw it; general: the text), BOS first, no
 *   EOS; per split perplexity = exp(sum NLL / sum tokens) (token-weighted).
 * - `rouge`: ROUGE-1/2/L recall of the greedy answer to "Question: q\nAnswer:" against the reference
 *   answer, as Google's rouge_score computes it with use_stemmer=True (NLTK's Porter stemmer; rouge.ts),
 *   which TOFU and open-unlearning report. Per item `rouge1`, `rouge2`, `rougeL` are recalls and
 *   `rougeL_f1` the ROUGE-L F; split summaries add open-unlearning's names `rouge1_recall`,
 *   `rougeL_recall` (= `rouge1`, `rougeL`) and `rougeL_f1`.
 * - `answer-prob`: P(a | q)^(1/|a|) of the reference answer, and TOFU's normalised form
 *   P~(a) / (P~(a) + sum_j P~(perturbed_j)).
 * - `truth-ratio`: R = mean_j P~(perturbed_j) / P~(paraphrased) per question (truthRatio.ts); the
 *   split summary TOFU reports is mean min(R, 1/R) on forget-like splits and mean max(0, 1 - R) on
 *   retain; per item `score` is that split's transform.
 * - `forget-quality`: KS-test p-value between the forget-set truth ratios of this model and of a
 *   retain-only reference model (option `retainReference`).
 * - `mia`: LOSS, zlib and Min-K% (k = 20%) membership scores of the forget (members) and holdout
 *   (non-members) training texts, ROC-AUC each, with a percentile bootstrap 95% interval
 *   (1000 stratified resamples, seed 0).
 * - `tofu`: TOFU's benchmark numbers under open-unlearning's names and definitions (tofu.ts):
 *   forget_quality, model_utility (over the sets present, named), privleak, extraction_strength,
 *   forget_truth_ratio, forget_Q_A_Prob, forget_Q_A_ROUGE, retain_Q_A_Prob, retain_Q_A_ROUGE,
 *   retain_Truth_Ratio, ra_* and wf_* (real authors, world facts), mia_min_k; each a SummaryEntry
 *   { value, ... }, value null with the reason when its split or the retain-only reference is missing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { registerMetric } from './registry.ts';
import type { EvalSplit, ItemResult, MetricComputation, MetricContext, MetricOptions, SplitResult, SummaryEntry } from './types.ts';
import { FACT_SPLITS, type FactItem, type FactSplit } from '../data/types.ts';
import { scoreTexts, type ItemScore } from './perplexity.ts';
import { scoreAnswers, answerRouge, type AnswerScore } from './answers.ts';
import { splitTexts } from './items.ts';
import { answerProbability, normalisedAnswerProbability, truthRatio, forgetQuality } from './truthRatio.ts';
import { miaScores, miaAuc, minKPercent } from './mia.ts';
import { answerTokens, avgLoss, closerTo1Better, extractionStrength, harmonicMean, ouTruthRatio, privleak, probWithOptions, trueBetter, TOFU_MIN_K, type AnswerTokens } from './tofu.ts';
import { resolveRetainReference, type RetainReference } from './reference.ts';
import { loadEvalModel } from './loadModel.ts';
import { ks2samp } from '../stats/ks.ts';
import { rocAuc } from '../stats/auc.ts';
import { tofuSupplyHint } from '../data/tofu.ts';
import { bootstrapTwoSampleCI } from '../stats/bootstrap.ts';
import { mean, median } from '../stats/descriptive.ts';
import { tokenizerFromGguf } from '../model/tokenizer/index.ts';
import { UserError } from '../util/errors.ts';

const FACT: readonly FactSplit[] = FACT_SPLITS;

function factsOf(ctx: MetricContext, split: EvalSplit): FactItem[] {
  if (split === 'general') throw new Error('internal: general is not a fact split');
  const f = ctx.data.facts[split];
  if (!f) throw new Error(`internal: split ${split} was not loaded`);
  return f;
}

function nonEmpty(split: EvalSplit, n: number, metric: string): void {
  if (n === 0) throw new UserError(`${metric}: the ${split} split has no items`);
}

// ---------------------------------------------------------------- shared computations (cached)

export interface TextScores {
  ids: string[];
  texts: string[];
  scores: ItemScore[];
}

/** Per-token log-probabilities of each item's text on a split (cached per evaluation). */
export function textScores(ctx: MetricContext, split: EvalSplit): TextScores {
  const key = `text:${split}`;
  const hit = ctx.cache.get(key) as TextScores | undefined;
  if (hit) return hit;
  if (split !== 'general') factsOf(ctx, split);
  const raw = splitTexts(ctx.data, split);
  const scored = scoreTexts(ctx.model, ctx.tokenizer, raw, ctx.options.batch);
  const byId = new Map(scored.items.map((s) => [s.id, s]));
  const kept = raw.filter((r) => byId.has(r.id));
  const out: TextScores = { ids: kept.map((r) => r.id), texts: kept.map((r) => r.text), scores: kept.map((r) => byId.get(r.id)!) };
  ctx.cache.set(key, out);
  return out;
}

export interface QaScores {
  answer: AnswerScore[];
  paraphrased: AnswerScore[];
  /** perturbed[i][j]: item i's j-th perturbed answer. */
  perturbed: AnswerScore[][];
}

/** Conditional log-probabilities of every item's answer, paraphrased answer and perturbed answers. */
export function qaScores(ctx: MetricContext, split: EvalSplit): QaScores {
  const key = `qa:${split}`;
  const hit = ctx.cache.get(key) as QaScores | undefined;
  if (hit) return hit;
  const facts = factsOf(ctx, split);
  const pairs: Array<{ question: string; answer: string }> = [];
  for (const f of facts) {
    pairs.push({ question: f.question, answer: f.answer }, { question: f.question, answer: f.paraphrased_answer });
    for (const p of f.perturbed_answers) pairs.push({ question: f.question, answer: p });
  }
  const s = scoreAnswers(ctx.model, ctx.tokenizer, pairs, ctx.options.batch);
  const out: QaScores = { answer: [], paraphrased: [], perturbed: [] };
  let k = 0;
  for (const f of facts) {
    out.answer.push(s[k++]!);
    out.paraphrased.push(s[k++]!);
    out.perturbed.push(f.perturbed_answers.map(() => s[k++]!));
  }
  ctx.cache.set(key, out);
  return out;
}

function meanOf(items: ItemResult[], key: string): number {
  return mean(items.map((i) => i.values[key]!));
}

// ---------------------------------------------------------------- perplexity

registerMetric({
  name: 'perplexity',
  description: 'perplexity of each split\'s texts (token-weighted), per item mean NLL per token',
  supportedSplits: [...FACT, 'general'],
  defaultSplits: ['forget', 'retain', 'holdout', 'general'],
  paired: [{ key: 'meanNll', label: 'NLL/token' }],
  optionKeys: [],
  compute(ctx, splits) {
    const out: MetricComputation = { splits: {}, summary: {} };
    for (const split of splits) {
      const ts = textScores(ctx, split);
      nonEmpty(split, ts.scores.length, 'perplexity');
      const items: ItemResult[] = ts.scores.map((s) => ({
        id: s.id,
        values: { meanNll: s.meanNll, perplexity: Math.exp(s.meanNll), sumLogprob: s.sumLogprob, tokens: s.tokens },
      }));
      const tot = ts.scores.reduce((a, s) => a + s.sumLogprob, 0);
      const n = ts.scores.reduce((a, s) => a + s.tokens, 0);
      out.splits[split] = { items, summary: { perplexity: Math.exp(-tot / n), meanNll: -tot / n, tokens: n, n: items.length } };
      ctx.log(`perplexity ${split}: ${Math.exp(-tot / n).toFixed(4)} (${items.length} items)`);
    }
    return out;
  },
});

// ---------------------------------------------------------------- ROUGE

/** How the ROUGE numbers were computed, stored in the metric's summary. */
const ROUGE_SCORER = 'rouge_score with use_stemmer=True (NLTK PorterStemmer, NLTK_EXTENSIONS); recall = overlap / reference length';

/** Greedy answers of a split's questions and their ROUGE against the reference answers (cached per evaluation). */
function rougeItems(ctx: MetricContext, split: EvalSplit): ItemResult[] {
  const key = `rouge:${split}`;
  const hit = ctx.cache.get(key) as ItemResult[] | undefined;
  if (hit) return hit;
  const facts = factsOf(ctx, split);
  const scored = answerRouge(ctx.model, ctx.tokenizer, facts, { maxNewTokens: ctx.options.maxNewTokens, batch: ctx.options.genBatch });
  const items: ItemResult[] = scored.map(({ id, answer, reference, scores: r }) => ({
    id,
    values: { rouge1: r.rouge1.recall, rouge2: r.rouge2.recall, rougeL: r.rougeL.recall, rougeL_f1: r.rougeL.f1 },
    text: { answer, reference },
  }));
  ctx.cache.set(key, items);
  return items;
}

registerMetric({
  name: 'rouge',
  description: 'ROUGE-1/2/L recall (rouge_score, stemmed) of greedy answers against the reference answers',
  supportedSplits: FACT,
  defaultSplits: ['forget', 'retain'],
  paired: [
    { key: 'rougeL', label: 'ROUGE-L recall (stemmed)' },
    { key: 'rouge1', label: 'ROUGE-1 recall (stemmed)' },
  ],
  optionKeys: ['maxNewTokens'],
  // 2: Porter-stemmed tokens as rouge_score(use_stemmer=True); results of version 1 are recomputed
  version: 2,
  compute(ctx, splits) {
    const out: MetricComputation = { splits: {}, summary: { scorer: ROUGE_SCORER } };
    for (const split of splits) {
      nonEmpty(split, factsOf(ctx, split).length, 'rouge');
      const items = rougeItems(ctx, split);
      const [r1, r2, rL, fL] = [meanOf(items, 'rouge1'), meanOf(items, 'rouge2'), meanOf(items, 'rougeL'), meanOf(items, 'rougeL_f1')];
      out.splits[split] = { items, summary: { rouge1: r1, rouge2: r2, rougeL: rL, rouge1_recall: r1, rougeL_recall: rL, rougeL_f1: fL, n: items.length } };
      ctx.log(`rouge ${split}: ROUGE-L recall ${rL.toFixed(4)} (stemmed, as rouge_score use_stemmer=True)`);
    }
    return out;
  },
});

// ---------------------------------------------------------------- answer probability

registerMetric({
  name: 'answer-prob',
  description: 'P(a|q)^(1/|a|) of the reference answer, and normalised against the perturbed answers',
  supportedSplits: FACT,
  defaultSplits: ['forget', 'retain'],
  paired: [{ key: 'prob', label: 'P(a|q)^(1/|a|)' }],
  optionKeys: [],
  compute(ctx, splits) {
    const out: MetricComputation = { splits: {}, summary: {} };
    for (const split of splits) {
      const facts = factsOf(ctx, split);
      nonEmpty(split, facts.length, 'answer-prob');
      const qa = qaScores(ctx, split);
      const items: ItemResult[] = facts.map((f, i) => {
        const a = qa.answer[i]!;
        const alt = qa.perturbed[i]!;
        return {
          id: f.id,
          values: {
            prob: answerProbability(a),
            normProb: alt.length ? normalisedAnswerProbability(a, alt) : NaN,
            logProb: a.logProb,
            tokens: a.tokens,
          },
        };
      });
      const norm = items.map((i) => i.values.normProb!).filter(Number.isFinite);
      out.splits[split] = {
        items,
        summary: { prob: meanOf(items, 'prob'), normProb: norm.length ? mean(norm) : NaN, n: items.length },
      };
      ctx.log(`answer-prob ${split}: ${meanOf(items, 'prob').toFixed(4)}`);
    }
    return out;
  },
});

// ---------------------------------------------------------------- truth ratio

/** The TOFU per-item transform of R on a split: retain max(0, 1 - R); others min(R, 1/R). */
export function truthScore(split: EvalSplit, r: number): number {
  return split === 'retain' ? Math.max(0, 1 - r) : Math.min(r, 1 / r);
}

/**
 * Truth ratios of a split's items under the context's model. Items without perturbed answers get
 * NaN, and so do items whose source gave no paraphrased answer (TOFU files without
 * `paraphrased_answer`), except on real_authors / world_facts, where TOFU compares the answer itself.
 */
export function splitTruthRatios(ctx: MetricContext, split: EvalSplit): number[] {
  const facts = factsOf(ctx, split);
  const qa = qaScores(ctx, split);
  const answerIsCorrect = split === 'real_authors' || split === 'world_facts';
  return facts.map((f, i) =>
    qa.perturbed[i]!.length && (answerIsCorrect || !f.paraphrase_missing)
      ? truthRatio({ paraphrased: answerIsCorrect ? qa.answer[i]! : qa.paraphrased[i]!, perturbed: qa.perturbed[i]! }, { perturbedMean: ctx.options.perturbedMean })
      : NaN,
  );
}

registerMetric({
  name: 'truth-ratio',
  description: 'TOFU truth ratio: mean min(R, 1/R) on forget-like splits, mean max(0, 1 - R) on retain',
  supportedSplits: FACT,
  defaultSplits: ['forget', 'retain'],
  paired: [
    { key: 'score', label: 'TR score' },
    { key: 'logR', label: 'log R' },
  ],
  optionKeys: ['perturbedMean'],
  compute(ctx, splits) {
    const out: MetricComputation = { splits: {}, summary: {} };
    for (const split of splits) {
      const facts = factsOf(ctx, split);
      nonEmpty(split, facts.length, 'truth-ratio');
      const rs = splitTruthRatios(ctx, split);
      const items: ItemResult[] = [];
      facts.forEach((f, i) => {
        const r = rs[i]!;
        if (!Number.isFinite(r)) return;
        items.push({ id: f.id, values: { R: r, logR: Math.log(r), score: truthScore(split, r), minR: Math.min(r, 1 / r), oneMinusR: Math.max(0, 1 - r) } });
      });
      if (items.length === 0) throw new UserError(`truth-ratio: no ${split} item has perturbed answers${split === 'real_authors' || split === 'world_facts' ? '' : ' and a paraphrased answer'}`);
      const summary: SplitResult['summary'] = {
        score: meanOf(items, 'score'),
        meanMinR: meanOf(items, 'minR'),
        meanOneMinusR: meanOf(items, 'oneMinusR'),
        medianR: median(items.map((i) => i.values.R!)),
        n: items.length,
      };
      out.splits[split] = { items, summary };
      ctx.log(`truth-ratio ${split}: ${summary.score!.toFixed(4)}`);
    }
    return out;
  },
});

// ---------------------------------------------------------------- forget quality

/** A model context for a retain-only reference model (its own cache), or null for references that are not models. */
function referenceContext(ctx: MetricContext, ref: RetainReference): MetricContext | null {
  if (ref.kind !== 'model') return null;
  const key = `ref-ctx:${ref.source}`;
  const hit = ctx.cache.get(key) as MetricContext | undefined;
  if (hit) return hit;
  ctx.log(`scoring the retain-only model ${ref.source}`);
  const model = loadEvalModel(ref.model, ref.adapter).model;
  const sub: MetricContext = { ...ctx, model, tokenizer: tokenizerFromGguf(model.file!), cache: new Map() };
  ctx.cache.set(key, sub);
  return sub;
}

/** The per-item results an evaluation run folder stored for a metric and split (id -> values). */
function storedItems(dir: string, metric: string, split: EvalSplit): Map<string, Record<string, number>> | null {
  const itemsPath = path.join(dir, 'items.json');
  if (!fs.existsSync(itemsPath)) throw new UserError(`${dir} is not an evaluation run folder (no items.json)`);
  const parsed = JSON.parse(fs.readFileSync(itemsPath, 'utf8')) as { metrics?: Record<string, Partial<Record<EvalSplit, ItemResult[]>>> };
  const items = parsed.metrics?.[metric]?.[split];
  if (!items?.length) return null;
  return new Map(items.map((i) => [i.id, Object.fromEntries(Object.entries(i.values).map(([k, v]) => [k, v ?? NaN]))]));
}

/** Forget-split truth ratios of a retain-only reference, keyed by item id where known. */
function referenceRatios(ctx: MetricContext): { ratios: number[]; ids?: string[]; source: string } {
  if (ctx.options.retainReference === undefined) {
    throw new UserError('forget-quality needs a retain-only reference: pass retainReference (CLI --retain-model) as a model file, a run folder or ratios');
  }
  const ref = resolveRetainReference(ctx.options.retainReference);
  if (ref.kind === 'ratios') return { ratios: ref.ratios, source: ref.source };
  if (ref.kind === 'eval-run') {
    const items = storedItems(ref.dir, 'truth-ratio', 'forget');
    if (!items) throw new UserError(`${ref.dir} has no truth-ratio results on the forget split; evaluate it with --metrics truth-ratio`);
    return { ratios: [...items.values()].map((v) => v.R!), ids: [...items.keys()], source: ref.source };
  }
  const sub = referenceContext(ctx, ref)!;
  const rs = splitTruthRatios(sub, 'forget');
  const ids = factsOf(ctx, 'forget').map((f) => f.id);
  const keep = rs.map((r, i) => [r, ids[i]!] as const).filter(([r]) => Number.isFinite(r));
  return { ratios: keep.map(([r]) => r), ids: keep.map(([, id]) => id), source: ref.source };
}

registerMetric({
  name: 'forget-quality',
  description: 'TOFU forget quality: KS-test p-value of forget-set truth ratios vs a retain-only model',
  supportedSplits: ['forget'],
  defaultSplits: ['forget'],
  fixedSplits: true,
  paired: [],
  optionKeys: ['perturbedMean', 'retainReference'],
  compute(ctx) {
    const own = splitTruthRatios(ctx, 'forget');
    const ids = factsOf(ctx, 'forget').map((f) => f.id);
    const ref = referenceRatios(ctx);
    let mine = own.filter(Number.isFinite);
    let theirs = ref.ratios;
    if (ref.ids) {
      // Same items on both sides when the reference is keyed.
      const refById = new Map(ref.ids.map((id, i) => [id, ref.ratios[i]!]));
      const common = ids.map((id, i) => [id, own[i]!] as const).filter(([id, r]) => refById.has(id) && Number.isFinite(r));
      if (common.length === 0) throw new UserError(`forget-quality: the reference ${ref.source} shares no forget items with this evaluation`);
      mine = common.map(([, r]) => r);
      theirs = common.map(([id]) => refById.get(id)!);
    }
    const fq = forgetQuality(mine, theirs);
    ctx.log(`forget-quality: p = ${fq.pValue.toPrecision(4)} (KS D = ${fq.statistic.toFixed(4)}, n = ${mine.length})`);
    return {
      splits: {},
      summary: { pValue: fq.pValue, statistic: fq.statistic, method: fq.method, n: mine.length, nReference: theirs.length, reference: ref.source },
    };
  },
});

// ---------------------------------------------------------------- membership inference

registerMetric({
  name: 'mia',
  description: 'membership inference (LOSS, zlib, Min-K%) ROC-AUC of forget (members) vs holdout texts',
  supportedSplits: ['forget', 'holdout'],
  defaultSplits: ['forget', 'holdout'],
  fixedSplits: true,
  paired: [
    { key: 'loss', label: 'LOSS (−NLL/token)' },
    { key: 'minK', label: 'Min-K% log-prob' },
  ],
  optionKeys: ['minK'],
  compute(ctx) {
    const out: MetricComputation = { splits: {}, summary: {} };
    const scores: Record<'forget' | 'holdout', ItemResult[]> = { forget: [], holdout: [] };
    for (const split of ['forget', 'holdout'] as const) {
      const ts = textScores(ctx, split);
      nonEmpty(split, ts.scores.length, 'mia');
      scores[split] = ts.scores.map((s, i) => {
        const m = miaScores(s.logprobs, ts.texts[i]!, { k: ctx.options.minK });
        return { id: s.id, values: { loss: m.loss, zlib: m.zlib, minK: m.minK } };
      });
      out.splits[split] = {
        items: scores[split],
        summary: { loss: meanOf(scores[split], 'loss'), zlib: meanOf(scores[split], 'zlib'), minK: meanOf(scores[split], 'minK'), n: scores[split].length },
      };
    }
    for (const [key, name] of [['loss', 'Loss'], ['zlib', 'Zlib'], ['minK', 'MinK']] as const) {
      const pos = scores.forget.map((i) => i.values[key]!);
      const neg = scores.holdout.map((i) => i.values[key]!);
      const ci = bootstrapTwoSampleCI(pos, neg, (a, b) => miaAuc(a, b), { resamples: 1000, seed: 0 });
      out.summary[`auc${name}`] = ci.estimate;
      out.summary[`auc${name}Lo`] = ci.lo;
      out.summary[`auc${name}Hi`] = ci.hi;
    }
    out.summary.k = ctx.options.minK;
    out.summary.nMembers = scores.forget.length;
    out.summary.nNonMembers = scores.holdout.length;
    ctx.log(`mia: AUC loss ${Number(out.summary.aucLoss).toFixed(4)}, zlib ${Number(out.summary.aucZlib).toFixed(4)}, Min-K% ${Number(out.summary.aucMinK).toFixed(4)}`);
    return out;
  },
});

// ---------------------------------------------------------------- TOFU, as open-unlearning reports it

/** The splits of TOFU's suite; prefixes of open-unlearning's names for the utility sets. */
const TOFU_SPLITS = ['forget', 'retain', 'holdout', 'real_authors', 'world_facts'] as const;
type TofuSplit = (typeof TOFU_SPLITS)[number];
const UTILITY_SETS = [
  { split: 'retain', prefix: 'retain' },
  { split: 'real_authors', prefix: 'ra' },
  { split: 'world_facts', prefix: 'wf' },
] as const;

/** Per-token log-probabilities and argmax predictions of a split's answers (cached per evaluation). */
function splitAnswerTokens(ctx: MetricContext, split: EvalSplit): AnswerTokens[] {
  const key = `answer-tokens:${split}`;
  const hit = ctx.cache.get(key) as AnswerTokens[] | undefined;
  if (hit) return hit;
  const out = answerTokens(ctx.model, ctx.tokenizer, factsOf(ctx, split), ctx.options.batch);
  ctx.cache.set(key, out);
  return out;
}

/**
 * open-unlearning's truth ratio of every item of a split (tofu.ts ouTruthRatio): "correct" is the
 * paraphrased answer on forget / retain, the answer on real_authors / world_facts; NaN for items
 * without perturbed answers or (forget / retain) without a paraphrased answer.
 */
function ouSplitTruthRatios(ctx: MetricContext, split: EvalSplit): number[] {
  const facts = factsOf(ctx, split);
  const qa = qaScores(ctx, split);
  const answerIsCorrect = split === 'real_authors' || split === 'world_facts';
  return facts.map((f, i) => {
    if (!qa.perturbed[i]!.length || (!answerIsCorrect && f.paraphrase_missing)) return NaN;
    return ouTruthRatio(avgLoss(answerIsCorrect ? qa.answer[i]! : qa.paraphrased[i]!), qa.perturbed[i]!.map(avgLoss));
  });
}

/** Min-K% (k = 0.4) membership scores of a split's answers, higher = more member-like. */
function minKScores(ctx: MetricContext, split: EvalSplit): number[] {
  return splitAnswerTokens(ctx, split).map((a) => minKPercent(a.logprobs, TOFU_MIN_K));
}

const notComputed = (reason: string): SummaryEntry => ({ value: null, reason });
const entry = (value: number, extra: Omit<SummaryEntry, 'value'> = {}): SummaryEntry => ({ value: Number.isFinite(value) ? value : null, ...extra });
const meanFinite = (xs: number[]): number => {
  const f = xs.filter(Number.isFinite);
  return f.length ? mean(f) : NaN;
};

/** Why the retain-only comparisons cannot run, or null when a reference is given. */
function noReferenceReason(options: MetricOptions): string | null {
  return options.retainReference === undefined
    ? 'no retain-only reference: eval --retain-model M (a GGUF, a fine-tune run folder or an evaluation run folder), or `unlearn --from RUN --method retain-only` records one in the run'
    : null;
}

/** The reference's forget truth ratios (by id) and MIA AUC on the same items, as far as it gives them. */
function tofuReference(ctx: MetricContext, forgetIds: string[], holdoutIds: string[] | null): { source: string; ratios: Map<string, number> | number[]; auc: number | null; aucReason?: string } {
  const ref = resolveRetainReference(ctx.options.retainReference!);
  if (ref.kind === 'ratios') return { source: ref.source, ratios: ref.ratios, auc: null, aucReason: 'the retain-only reference was given as truth ratios, which carry no membership scores' };
  if (ref.kind === 'eval-run') {
    const tr = storedItems(ref.dir, 'tofu', 'forget');
    if (!tr) throw new UserError(`${ref.dir} has no tofu results on the forget split; evaluate the retain-only model with --metrics tofu on the same data`);
    const ratios = new Map([...tr].filter(([, v]) => Number.isFinite(v.tr)).map(([id, v]) => [id, v.tr!]));
    let auc: number | null = null;
    let aucReason: string | undefined;
    const h = holdoutIds ? storedItems(ref.dir, 'tofu', 'holdout') : null;
    if (!holdoutIds) aucReason = 'no holdout split';
    else if (!h || !holdoutIds.every((id) => h.has(id)) || !forgetIds.every((id) => tr.has(id))) aucReason = `${ref.dir} was not evaluated on these forget and holdout items`;
    else auc = rocAuc(forgetIds.map((id) => tr.get(id)!.minK!), holdoutIds.map((id) => h.get(id)!.minK!));
    return { source: ref.source, ratios, auc, aucReason };
  }
  const sub = referenceContext(ctx, ref)!;
  const rs = ouSplitTruthRatios(sub, 'forget');
  const ratios = new Map(forgetIds.map((id, i) => [id, rs[i]!] as const).filter(([, r]) => Number.isFinite(r)));
  const auc = holdoutIds ? rocAuc(minKScores(sub, 'forget'), minKScores(sub, 'holdout')) : null;
  return { source: ref.source, ratios, auc, ...(holdoutIds ? {} : { aucReason: 'no holdout split' }) };
}

registerMetric({
  name: 'tofu',
  description: "TOFU's numbers as open-unlearning defines them: forget quality, model utility, privleak, extraction strength, truth ratios, answer probabilities, ROUGE-L recall",
  supportedSplits: TOFU_SPLITS,
  defaultSplits: TOFU_SPLITS,
  fixedSplits: true,
  optionalSplits: true,
  paired: [
    { key: 'tr', label: 'truth ratio P~(perturbed) / P~(correct) (open-unlearning)' },
    { key: 'prob', label: 'P(a|q)^(1/|a|)' },
    { key: 'rougeL', label: 'ROUGE-L recall (stemmed)' },
    { key: 'es', label: 'extraction strength' },
  ],
  optionKeys: ['maxNewTokens', 'retainReference'],
  notes(present, options, hint) {
    const out: string[] = [];
    const ref = noReferenceReason(options);
    if (!present.has('forget')) out.push(`forget_quality, privleak, extraction_strength and the forget_* numbers are not computed: no forget split (${hint('forget')})`);
    else if (ref) out.push(`forget_quality and privleak are not computed: ${ref}`);
    if (present.has('forget') && !present.has('holdout')) out.push(`privleak and mia_min_k are not computed: no holdout split (${hint('holdout')})`);
    const sets = UTILITY_SETS.filter((u) => present.has(u.split));
    const absent = UTILITY_SETS.filter((u) => !present.has(u.split));
    if (absent.length) out.push(`model_utility is over ${sets.length ? sets.map((u) => u.split).join(', ') : 'nothing'} only: no ${absent.map((u) => `${u.split} (${hint(u.split)})`).join(', no ')}`);
    return out;
  },
  compute(ctx, splits) {
    const present = new Set(splits.filter((s) => (ctx.data.facts[s as FactSplit]?.length ?? 0) > 0)) as Set<TofuSplit>;
    const S: Record<string, SummaryEntry> = {};
    const out: MetricComputation = { splits: {}, summary: S };
    const hint = ctx.data.supplyHint ?? tofuSupplyHint;
    const missing = (s: TofuSplit) => `no ${s} split (${hint(s)})`;
    const trs: Partial<Record<TofuSplit, number[]>> = {};

    // per-split numbers
    for (const split of TOFU_SPLITS) {
      if (!present.has(split)) continue;
      const facts = factsOf(ctx, split);
      const values: Array<Record<string, number>> = facts.map(() => ({}));
      const sum: Record<string, number> = { n: facts.length };
      if (split !== 'holdout') {
        const qa = qaScores(ctx, split);
        const rg = rougeItems(ctx, split);
        const tr = (trs[split] = ouSplitTruthRatios(ctx, split));
        facts.forEach((f, i) => {
          const v = values[i]!;
          v.prob = Math.exp(-avgLoss(qa.answer[i]!));
          v.rougeL = rg[i]!.values.rougeL!;
          v.tr = tr[i]!;
          if (!f.paraphrase_missing) v.paraProb = Math.exp(-avgLoss(qa.paraphrased[i]!));
          if (qa.perturbed[i]!.length) {
            const pert = qa.perturbed[i]!.map((p) => Math.exp(-avgLoss(p)));
            v.pertProb = mean(pert);
            v.probNormalised = probWithOptions(v.prob, pert);
          }
        });
      }
      if (split === 'forget' || split === 'holdout') {
        const at = splitAnswerTokens(ctx, split);
        facts.forEach((_, i) => {
          values[i]!.minK = minKPercent(at[i]!.logprobs, TOFU_MIN_K);
          if (split === 'forget') values[i]!.es = extractionStrength(at[i]!.preds, at[i]!.labels);
        });
      }
      const col = (k: string) => values.map((v) => v[k] ?? NaN);
      const prefix = split === 'forget' ? 'forget' : split === 'holdout' ? 'holdout' : UTILITY_SETS.find((u) => u.split === split)!.prefix;
      const trName = split === 'forget' ? 'forget_truth_ratio' : `${prefix}_Truth_Ratio`;
      const finiteTr = (trs[split] ?? []).filter(Number.isFinite);
      const trReason = `no ${split} item has perturbed answers${split === 'forget' || split === 'retain' ? ' and a paraphrased answer' : ''} (inline, or in its _perturbed file)`;
      if (split !== 'holdout') {
        S[`${prefix}_Q_A_Prob`] = entry(mean(col('prob')), { n: facts.length });
        S[`${prefix}_Q_A_ROUGE`] = entry(mean(col('rougeL')), { rouge: 'rougeL_recall', n: facts.length });
        S[trName] = finiteTr.length ? entry(split === 'forget' ? closerTo1Better(finiteTr) : trueBetter(finiteTr), { aggregator: split === 'forget' ? 'closer_to_1_better' : 'true_better', n: finiteTr.length }) : notComputed(trReason);
        if (split === 'forget' || split === 'retain') {
          S[`${prefix}_Q_A_PARA_Prob`] = Number.isFinite(meanFinite(col('paraProb'))) ? entry(meanFinite(col('paraProb'))) : notComputed(`no ${split} item has a paraphrased_answer`);
          S[`${prefix}_Q_A_PERT_Prob`] = Number.isFinite(meanFinite(col('pertProb'))) ? entry(meanFinite(col('pertProb'))) : notComputed(`no ${split} item has perturbed answers`);
        } else {
          S[`${prefix}_Q_A_Prob_normalised`] = Number.isFinite(meanFinite(col('probNormalised'))) ? entry(meanFinite(col('probNormalised'))) : notComputed(`no ${split} item has perturbed answers (the wrong options)`);
        }
        for (const k of [`${prefix}_Q_A_Prob`, `${prefix}_Q_A_ROUGE`, trName, `${prefix}_Q_A_PARA_Prob`, `${prefix}_Q_A_PERT_Prob`, `${prefix}_Q_A_Prob_normalised`]) {
          const e = S[k];
          if (e && e.value !== null) sum[k] = e.value;
        }
      }
      if (split === 'forget') {
        S.extraction_strength = entry(mean(col('es')), { n: facts.length });
        sum.extraction_strength = S.extraction_strength.value!;
      }
      out.splits[split] = { items: facts.map((f, i) => ({ id: f.id, values: values[i]! })), summary: sum };
    }
    for (const split of TOFU_SPLITS) {
      if (present.has(split)) continue;
      if (split === 'forget') for (const k of ['forget_Q_A_Prob', 'forget_Q_A_ROUGE', 'forget_truth_ratio', 'extraction_strength']) S[k] = notComputed(missing('forget'));
      const u = UTILITY_SETS.find((x) => x.split === split);
      if (u) for (const k of [`${u.prefix}_Q_A_${u.split === 'retain' ? 'Prob' : 'Prob_normalised'}`, `${u.prefix}_Q_A_ROUGE`, `${u.prefix}_Truth_Ratio`]) S[k] = notComputed(missing(split));
    }

    // membership inference (Min-K%, k = 0.4) on the answers: forget (members) vs holdout
    const forgetIds = present.has('forget') ? factsOf(ctx, 'forget').map((f) => f.id) : [];
    const holdoutIds = present.has('holdout') ? factsOf(ctx, 'holdout').map((f) => f.id) : null;
    let auc: number | null = null;
    if (present.has('forget') && holdoutIds) {
      auc = rocAuc(minKScores(ctx, 'forget'), minKScores(ctx, 'holdout'));
      S.mia_min_k = entry(auc, { k: TOFU_MIN_K, n_forget: forgetIds.length, n_holdout: holdoutIds.length });
    } else S.mia_min_k = notComputed(present.has('forget') ? missing('holdout') : missing('forget'));

    // the retain-only comparisons
    const noRef = noReferenceReason(ctx.options);
    if (!present.has('forget')) {
      S.forget_quality = notComputed(missing('forget'));
      S.privleak = notComputed(missing('forget'));
    } else if (noRef) {
      S.forget_quality = notComputed(noRef);
      S.privleak = notComputed(holdoutIds ? noRef : `${missing('holdout')}; and ${noRef}`);
    } else {
      const ref = tofuReference(ctx, forgetIds, holdoutIds);
      const own = trs.forget!;
      let mine: number[];
      let theirs: number[];
      if (Array.isArray(ref.ratios)) {
        mine = own.filter(Number.isFinite);
        theirs = ref.ratios;
      } else {
        const r = ref.ratios;
        const common = forgetIds.map((id, i) => [id, own[i]!] as const).filter(([id, v]) => r.has(id) && Number.isFinite(v));
        mine = common.map(([, v]) => v);
        theirs = common.map(([id]) => r.get(id)!);
      }
      if (mine.length === 0 || theirs.length === 0) S.forget_quality = notComputed(mine.length ? `the reference ${ref.source} shares no forget items with truth ratios with this evaluation` : S.forget_truth_ratio!.reason ?? 'no forget truth ratios');
      else {
        const ks = ks2samp(mine, theirs);
        S.forget_quality = entry(ks.p, { test: 'ks_2samp(forget truth ratios, retain-only model\'s)', ks_statistic: ks.statistic, method: ks.method, n: mine.length, n_reference: theirs.length, reference: ref.source });
        ctx.log(`tofu: forget_quality ${ks.p.toPrecision(4)} (KS D ${ks.statistic.toFixed(4)}, n ${mine.length})`);
      }
      if (auc === null) S.privleak = notComputed(holdoutIds ? 'no membership AUC' : missing('holdout'));
      else if (ref.auc === null) S.privleak = notComputed(ref.aucReason ?? 'the reference gives no membership AUC');
      else S.privleak = entry(privleak(auc, ref.auc), { auc, auc_reference: ref.auc, mia: `min_k (k = ${TOFU_MIN_K})`, reference: ref.source });
    }

    // model utility: harmonic mean of the utility numbers of the sets present
    const components: Record<string, number> = {};
    const notIn: Record<string, string> = {};
    for (const u of UTILITY_SETS) {
      for (const k of [`${u.prefix}_Q_A_${u.split === 'retain' ? 'Prob' : 'Prob_normalised'}`, `${u.prefix}_Q_A_ROUGE`, `${u.prefix}_Truth_Ratio`]) {
        const e = S[k]!;
        if (e.value !== null) components[k] = e.value;
        else notIn[k] = e.reason ?? 'not computed';
      }
    }
    const over = UTILITY_SETS.filter((u) => Object.keys(components).some((k) => k.startsWith(`${u.prefix}_`))).map((u) => u.split);
    S.model_utility = over.length
      ? { value: harmonicMean(Object.values(components)), over, aggregate: 'harmonic mean (scipy.stats.hmean)', components, ...(Object.keys(notIn).length ? { not_included: notIn } : {}) }
      : notComputed(`no retain, real_authors or world_facts numbers (${hint('retain')}; ${hint('real_authors')}; ${hint('world_facts')})`);
    ctx.log(`tofu: model_utility ${S.model_utility.value === null ? 'not computed' : `${S.model_utility.value.toFixed(4)} over ${over.join(', ')}`}; privleak ${S.privleak!.value === null ? 'not computed' : S.privleak!.value.toFixed(2)}`);
    // headline entries first
    const order = ['forget_quality', 'model_utility', 'privleak', 'extraction_strength'];
    out.summary = Object.fromEntries([...order.map((k) => [k, S[k]!] as const), ...Object.entries(S).filter(([k]) => !order.includes(k))]);
    return out;
  },
});

/** Names of the built-in metrics, in the order evaluate() runs them by default (`tofu` by default on TOFU-format data). */
export const BUILTIN_METRICS = ['perplexity', 'rouge', 'answer-prob', 'truth-ratio', 'mia', 'forget-quality', 'tofu'] as const;
