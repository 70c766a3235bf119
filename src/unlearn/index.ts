/**
 * Unlearning (docs/methods.md#unlearning-methods): methods behind one interface and a registry, layer targets,
 * removal strategies (batch, iterative, fuzzy), sequential requests, adapters, and the run that ties
 * them together. See docs in each module.
 */
export type { Example, RunSource, UnlearnContext, UnlearnHyper, UnlearnMethod, UnlearnOutcome, ProgressEvent, MethodNeeds } from './types.ts';
export { listMethods, getMethod, registerMethod, resolveHyper, HYPER_HELP } from './registry.ts';
export { prepare, makeContext, sampleItems, type PrepareOptions, type Prepared, type ContextOptions } from './prepare.ts';
export { loadSource, toExamples, trainingItems, itemTexts } from './source.ts';
export { measure, compareMeasurements, formatComparison, answerRouge, type EvalSets, type Measurement, type Comparison, type SetChange, type SetMeasure, type QaItem } from './measure.ts';
export { SessionPool, asF32Model } from '../model/sessions.ts';
export { snapshot, diffSince, applyDeltas, deltaNorms, addDeltas, type Deltas } from './deltas.ts';
export { storedGradientAscent } from './storedAscent.ts';
export { iterativeRemoval, type IterativeOptions, type IterativeResult, type IterationLog } from './iterative.ts';
export { fuzzySelect, fuzzyReport, words, STOP_WORDS, type FuzzyOptions, type FuzzySelection, type FuzzyReport } from './fuzzy.ts';
export { combineTargets, defaultTargets, targetsMarkdown, type TargetComparison, type TargetRow } from './targets.ts';
export { sequentialUnlearn, sequentialMarkdown, type SequentialRequest, type SequentialResult, type SequentialStep } from './sequential.ts';
export { writeUnlearnAdapter, loadUnlearnedModel, readAdapterMeta, forgetSetSha256, makeRunId, checkRunId, type AdapterWriteResult } from './adapter.ts';
export { runUnlearn, runMarkdown, runSummaryText, summarize, type UnlearnRunOptions, type UnlearnRunResult, type Strategy } from './run.ts';
