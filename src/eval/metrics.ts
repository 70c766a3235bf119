/**
 * The built-in metrics (docs/methods.md#metrics), registered on import:
 *
 * - `perplexity`: per item the mean NLL per token of its text (fact splits: the training text,
 *   statement + "Question: q\nAnswer: a", as fine-tuning saw it; general: the text), BOS first, no
 *   EOS; per split perplexity = exp(sum NLL / sum tokens) (token-weighted).
 * - `rouge`: ROUGE-1/2/L recall of the greedy answer to "Question: q\nAnswer:" against the reference
 *   answer (TOFU reports recall; rouge.ts follows Google's rouge_score without stemming).
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
 */
import fs from 'node:fs';
import path from 'node:path';
import { registerMetric } from './registry.ts';
import type { EvalSplit, ItemResult, MetricComputation, MetricContext, SplitResult } from './types.ts';
import type { FactItem, FactSplit } from '../data/types.ts';
import { scoreSequences, type ItemScore } from './perplexity.ts';
import { scoreAnswers, greedyAnswers, type AnswerScore } from './answers.ts';
import { rouge } from './rouge.ts';
import { answerProbability, normalisedAnswerProbability, truthRatio, forgetQuality } from './truthRatio.ts';
import { miaScores, miaAuc } from './mia.ts';
import { bootstrapTwoSampleCI } from '../stats/bootstrap.ts';
import { mean, median } from '../stats/descriptive.ts';
import { factTrainingText } from '../train/examples.ts';
import { CausalLM } from '../model/model.ts';
import { tokenizerFromGguf } from '../model/tokenizer/index.ts';
import { UserError } from '../util/errors.ts';

const FACT: readonly FactSplit[] = ['forget', 'retain', 'holdout', 'decoy'];

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
  const raw = split === 'general' ? ctx.data.general.map((t) => ({ id: t.id, text: t.text })) : factsOf(ctx, split).map((f) => ({ id: f.id, text: factTrainingText(f) }));
  const nCtx = ctx.model.config.nCtx;
  const seqs = raw.map((r) => ({ id: r.id, tokens: ctx.tokenizer.encode(r.text, { addBos: true }).slice(0, nCtx) }));
  const scored = scoreSequences(ctx.model, seqs, ctx.options.batch);
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

registerMetric({
  name: 'rouge',
  description: 'ROUGE-1/2/L recall of greedy answers against the reference answers',
  supportedSplits: FACT,
  defaultSplits: ['forget', 'retain'],
  paired: [
    { key: 'rougeL', label: 'ROUGE-L' },
    { key: 'rouge1', label: 'ROUGE-1' },
  ],
  optionKeys: ['maxNewTokens'],
  compute(ctx, splits) {
    const out: MetricComputation = { splits: {}, summary: {} };
    for (const split of splits) {
      const facts = factsOf(ctx, split);
      nonEmpty(split, facts.length, 'rouge');
      const answers = greedyAnswers(ctx.model, ctx.tokenizer, facts.map((f) => f.question), { maxNewTokens: ctx.options.maxNewTokens, batch: ctx.options.genBatch });
      const items: ItemResult[] = facts.map((f, i) => {
        const r = rouge(answers[i]!, f.answer);
        return {
          id: f.id,
          values: { rouge1: r.rouge1.recall, rouge2: r.rouge2.recall, rougeL: r.rougeL.recall },
          text: { answer: answers[i]!, reference: f.answer },
        };
      });
      out.splits[split] = { items, summary: { rouge1: meanOf(items, 'rouge1'), rouge2: meanOf(items, 'rouge2'), rougeL: meanOf(items, 'rougeL'), n: items.length } };
      ctx.log(`rouge ${split}: ROUGE-L recall ${meanOf(items, 'rougeL').toFixed(4)}`);
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

/** Truth ratios of a split's items under the context's model (items without perturbed answers get NaN). */
export function splitTruthRatios(ctx: MetricContext, split: EvalSplit): number[] {
  const facts = factsOf(ctx, split);
  const qa = qaScores(ctx, split);
  return facts.map((_, i) =>
    qa.perturbed[i]!.length ? truthRatio({ paraphrased: qa.paraphrased[i]!, perturbed: qa.perturbed[i]! }, { perturbedMean: ctx.options.perturbedMean }) : NaN,
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
      if (items.length === 0) throw new UserError(`truth-ratio: no ${split} item has perturbed answers`);
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

/** Forget-split truth ratios of a retain-only reference, keyed by item id where known. */
function referenceRatios(ctx: MetricContext): { ratios: number[]; ids?: string[]; source: string } {
  const ref = ctx.options.retainReference;
  if (ref === undefined) {
    throw new UserError('forget-quality needs a retain-only reference: pass retainReference (CLI --retain-model) as a model file, a run folder or ratios');
  }
  if (Array.isArray(ref)) return { ratios: ref, source: `${ref.length} given ratios` };
  if (!fs.existsSync(ref)) throw new UserError(`retain-only reference ${ref} does not exist`);
  if (fs.statSync(ref).isDirectory()) {
    const itemsPath = path.join(ref, 'items.json');
    if (!fs.existsSync(itemsPath)) throw new UserError(`${ref} is not an evaluation run folder (no items.json)`);
    const parsed = JSON.parse(fs.readFileSync(itemsPath, 'utf8')) as { metrics?: Record<string, Partial<Record<EvalSplit, ItemResult[]>>> };
    const items = parsed.metrics?.['truth-ratio']?.forget;
    if (!items?.length) throw new UserError(`${ref} has no truth-ratio results on the forget split; evaluate it with --metrics truth-ratio`);
    return { ratios: items.map((i) => i.values.R!), ids: items.map((i) => i.id), source: ref };
  }
  const model = CausalLM.load(ref);
  const sub: MetricContext = { ...ctx, model, tokenizer: tokenizerFromGguf(model.file!), cache: new Map() };
  ctx.log(`forget-quality: scoring the retain-only model ${ref}`);
  const rs = splitTruthRatios(sub, 'forget');
  const ids = factsOf(ctx, 'forget').map((f) => f.id);
  const keep = rs.map((r, i) => [r, ids[i]!] as const).filter(([r]) => Number.isFinite(r));
  return { ratios: keep.map(([r]) => r), ids: keep.map(([, id]) => id), source: ref };
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

/** Names of the built-in metrics, in the order evaluate() runs them by default. */
export const BUILTIN_METRICS = ['perplexity', 'rouge', 'answer-prob', 'truth-ratio', 'mia', 'forget-quality'] as const;
