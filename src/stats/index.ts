/**
 * unlearnkit statistics core: one module that both the LLM side (per-example before/after
 * comparisons, membership inference, TOFU forget quality) and the image side (RUM metrics over
 * seeds) use. Reference behaviour is scipy 1.10 (see test/stats for the pinned reference values).
 */
export { mean, variance, sd, sem, median, quantile, sorted } from './descriptive.ts';
export { erfc, erf, normalCdf, normalSf, normalPdf, normalQuantile } from './normal.ts';
export { tCdf, tQuantile, tTwoSidedP } from './tdist.ts';
export {
  oneSampleTTest,
  pairedTTest,
  welchTTest,
  studentTTest,
  type OneSampleTTestResult,
  type PairedTTestResult,
  type TwoSampleTTestResult,
} from './ttest.ts';
export { meanCI, pairedMeanDiffCI, welchMeanDiffCI, type Interval } from './confidence.ts';
export { cohenDz, cohenDav, cohenDPooled } from './effectSize.ts';
export { holm, type HolmResult } from './holm.ts';
export { pairedComparison, pairedById, holmFamily, dzOfDifferences, type PairedComparison } from './paired.ts';
export {
  bootstrapCI,
  bootstrapTwoSampleCI,
  type BootstrapOptions,
  type BootstrapResult,
} from './bootstrap.ts';
export { rankdata, rankWithTies } from './rank.ts';
export { rocAuc, rocCurve, tprAtFpr, type RocPoint } from './auc.ts';
export {
  mannWhitneyU,
  mannWhitneyNullCounts,
  type MannWhitneyMethod,
  type MannWhitneyResult,
} from './mannWhitney.ts';
export { ks2samp, type KsMethod, type KsResult } from './ks.ts';
export { kolmogorovN, smirnovSf } from './kolmogorov.ts';
export { pearson, spearman, type CorrelationResult } from './correlation.ts';
