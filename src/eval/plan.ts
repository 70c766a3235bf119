/**
 * Planning an evaluation: which metrics (with dependencies), on which splits, over which items,
 * with which options. Shared by evaluate() (files, resume) and evaluateModel() (in memory).
 */
import crypto from 'node:crypto';
import type { Dataset } from '../data/dataset.ts';
import { getDataset } from '../data/dataset.ts';
import type { FactSplit } from '../data/types.ts';
import { EVAL_SPLITS, type EvalData, type EvalSplit, type MetricDef, type MetricOptions } from './types.ts';
import { resolveMetricOrder } from './registry.ts';
import { BUILTIN_METRICS } from './metrics.ts';
import { UserError } from '../util/errors.ts';

export const DEFAULT_METRIC_OPTIONS: MetricOptions = { maxNewTokens: 32, batch: 16, genBatch: 4, minK: 0.2, perturbedMean: 'arithmetic' };

export interface PlanInput {
  data: string | Dataset;
  /** Metric names (default: every built-in metric; forget-quality only with a retain reference). */
  metrics?: readonly string[];
  /** Splits to run the split-selectable metrics on (default: each metric's own default splits). */
  splits?: readonly EvalSplit[];
  /** At most this many items per split (the first ones, in file order). */
  limit?: number;
  options?: Partial<MetricOptions>;
}

export interface PlannedMetric {
  def: MetricDef;
  splits: EvalSplit[];
  /** Identifies splits + relevant options: a finished result with another key is recomputed. */
  optionsKey: string;
}

export interface EvalPlan {
  dataset: Dataset;
  data: EvalData;
  metrics: PlannedMetric[];
  options: MetricOptions;
  /** sha256 of the dataset's items (all splits, after `limit`). */
  dataHash: string;
  limit: number | null;
}

function sha256(s: string): string {
  return crypto.createHash('sha256').update(s).digest('hex');
}

/** Validate options and work out metrics, splits and items. */
export function planEvaluation(input: PlanInput): EvalPlan {
  const options: MetricOptions = { ...DEFAULT_METRIC_OPTIONS, ...Object.fromEntries(Object.entries(input.options ?? {}).filter(([, v]) => v !== undefined)) };
  if (!Number.isInteger(options.maxNewTokens) || options.maxNewTokens < 1) throw new UserError(`maxNewTokens must be a positive integer, got ${options.maxNewTokens}`);
  if (!Number.isInteger(options.batch) || options.batch < 1) throw new UserError(`batch must be a positive integer, got ${options.batch}`);
  if (!Number.isInteger(options.genBatch) || options.genBatch < 1) throw new UserError(`genBatch must be a positive integer, got ${options.genBatch}`);
  if (!(options.minK > 0 && options.minK <= 1)) throw new UserError(`minK must lie in (0, 1], got ${options.minK}`);
  if (options.perturbedMean !== 'arithmetic' && options.perturbedMean !== 'geometric') {
    throw new UserError(`perturbedMean must be 'arithmetic' or 'geometric', got ${String(options.perturbedMean)}`);
  }
  const limit = input.limit ?? null;
  if (limit !== null && (!Number.isInteger(limit) || limit < 1)) throw new UserError(`limit must be a positive integer, got ${limit}`);
  for (const s of input.splits ?? []) {
    if (!EVAL_SPLITS.includes(s)) throw new UserError(`unknown split '${s}'; splits are ${EVAL_SPLITS.join(', ')}`);
  }
  const names = input.metrics?.length
    ? [...input.metrics]
    : BUILTIN_METRICS.filter((m) => m !== 'forget-quality' || options.retainReference !== undefined);
  const defs = resolveMetricOrder(names);
  const dataset = typeof input.data === 'string' ? getDataset(input.data) : input.data;

  const metrics: PlannedMetric[] = defs.map((def) => {
    let splits: EvalSplit[];
    if (def.fixedSplits || !input.splits?.length) splits = [...def.defaultSplits];
    else {
      splits = input.splits.filter((s) => def.supportedSplits.includes(s));
      if (splits.length === 0) {
        throw new UserError(`metric ${def.name} runs on ${def.supportedSplits.join(', ')}; none of the requested splits (${input.splits.join(', ')}) is one of them`);
      }
    }
    const opt: Record<string, unknown> = {};
    for (const k of def.optionKeys) {
      const v = options[k];
      opt[k] = Array.isArray(v) ? `sha256:${sha256(JSON.stringify(v))}` : v;
    }
    return { def, splits, optionsKey: JSON.stringify({ splits, options: opt }) };
  });

  const take = <T>(xs: T[]): T[] => (limit === null ? xs : xs.slice(0, limit));
  const needed = new Set(metrics.flatMap((m) => m.splits));
  const data: EvalData = { name: dataset.name, facts: {}, general: [] };
  for (const s of needed) {
    if (s === 'general') {
      data.general = take(dataset.texts());
      if (data.general.length === 0) throw new UserError(`dataset ${dataset.name} has no general (plain text) items; leave out the general split`);
    } else {
      data.facts[s as FactSplit] = take(dataset.facts(s as FactSplit));
      if (data.facts[s as FactSplit]!.length === 0) throw new UserError(`dataset ${dataset.name} has no ${s} items`);
    }
  }
  const all = { facts: take(dataset.facts('forget')).concat(...(['retain', 'holdout', 'decoy'] as const).map((s) => take(dataset.facts(s)))), general: take(dataset.texts()) };
  return { dataset, data, metrics, options, dataHash: sha256(JSON.stringify(all)), limit };
}
