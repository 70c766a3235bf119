/**
 * unlearnkit/eval: evaluation of language models for unlearning (docs/methods.md#metrics).
 *
 * - evaluate(): a model file (+ LoRA adapter) on a dataset into a resumable run folder
 *   reports/<run-id>/ (items.json, summary.json, report.md, report.html);
 * - evaluateModel(): the same metrics on an in-memory CausalLM, nothing written;
 * - makeIntervalEvaluator(): perplexity / ROUGE every k unlearning steps, as report series;
 * - the metric registry (registerMetric, getMetric, listMetrics) and the built-in metrics:
 *   perplexity, rouge, answer-prob, truth-ratio, forget-quality, mia;
 * - the pure text metrics: ROUGE (rouge.ts), membership-inference scores (mia.ts), TOFU truth ratio
 *   and forget quality (truthRatio.ts), and perplexity scoring (perplexity.ts).
 */
import './metrics.ts';

export { evaluate, evaluateModel, type EvaluateOptions, type EvaluateModelOptions, type EvaluateResult, type RunMeta, type RunSummaryFile, type RunItemsFile } from './evaluate.ts';
export { planEvaluation, DEFAULT_METRIC_OPTIONS, type PlanInput, type EvalPlan, type PlannedMetric } from './plan.ts';
export { makeIntervalEvaluator, readSeriesFile, type IntervalEvaluator, type IntervalEvaluatorOptions, type IntervalPoint } from './interval.ts';
export { registerMetric, getMetric, listMetrics, resolveMetricOrder } from './registry.ts';
export { BUILTIN_METRICS, textScores, qaScores, truthScore, splitTruthRatios, type TextScores, type QaScores } from './metrics.ts';
export { loadEvalModel, isLoraAdapter, hostF32View, type EvalModel } from './loadModel.ts';
export { loadRun, resolveRunDir, type LoadedRun } from './run.ts';
export { describeEnvironment, type Environment } from './environment.ts';
export { encodeQa, scoreAnswers, greedyAnswers, answerText, type AnswerScore, type QaSequence } from './answers.ts';
export type {
  EvalSplit, ItemResult, SplitResult, MetricComputation, MetricResult, PairedKey, EvalData, MetricOptions, ProgressEvent, MetricContext, MetricDef,
} from './types.ts';
export { EVAL_SPLITS } from './types.ts';

export { rouge, rougeN, rougeL, rougeTokenize, rougeNTokens, rougeLTokens, lcsLength, type RougeScore, type RougeResult, type RougeOptions } from './rouge.ts';
export { meanNll, zlibEntropy, zlibRatio, minKPercent, miaScores, miaAuc, type MiaScores, type MiaOptions } from './mia.ts';
export {
  answerProbability, normalisedAnswerProbability, logTruthRatio, truthRatio, truthRatios, forgetTruthScore, retainTruthScore, forgetQuality,
  type AnswerLogProb, type TruthRatioItem, type PerturbedMean, type ForgetQuality,
} from './truthRatio.ts';
export { scoreSequences, type ItemScore, type SetScore } from './perplexity.ts';
