/**
 * unlearnkit as a library. Entry points (package.json "exports"):
 *   unlearnkit          this file: evaluation, reports, datasets and models, and the statistics as `stats`
 *   unlearnkit/stats    the statistics core (t-tests, CIs, Cohen's d, Holm, bootstrap, ROC-AUC, KS, Spearman)
 *   unlearnkit/eval     evaluation: evaluate(), evaluateModel(), makeIntervalEvaluator(), metrics
 *   unlearnkit/report   report building and rendering (report.md, report.html)
 *   unlearnkit/engine   the ggml engine
 */
export * as stats from './stats/index.ts';
export * from './eval/index.ts';
export * from './report/index.ts';
export { getDataset, knownDatasets, registerDataset, openDaveDataset, openTofuDataset, type Dataset } from './data/dataset.ts';
export type { FactItem, FactSplit, TextItem, AnySplit } from './data/types.ts';
export { CausalLM, LMSession } from './model/model.ts';
export { tokenizerFromGguf, type Tokenizer } from './model/tokenizer/index.ts';
export { UserError } from './util/errors.ts';
