/**
 * Planning an evaluation: which metrics (with dependencies), on which splits, over which items,
 * with which options. Shared by evaluate() (files, resume) and evaluateModel() (in memory).
 */
import crypto from 'node:crypto';
import type { Dataset } from '../data/dataset.ts';
import { getDataset } from '../data/dataset.ts';
import type { FactSplit } from '../data/types.ts';
import { EVAL_SPLITS, type EvalData, type EvalSplit, type MetricDef, type MetricOptions, type SkippedMetric } from './types.ts';
import { resolveMetricOrder } from './registry.ts';
import { BUILTIN_METRICS } from './metrics.ts';
import { UserError } from '../util/errors.ts';
import { GREEDY_ANSWER_DEFAULTS } from './answers.ts';
import { SCORE_BATCH } from './perplexity.ts';
import { selectItems } from './items.ts';

export const DEFAULT_METRIC_OPTIONS: MetricOptions = { maxNewTokens: GREEDY_ANSWER_DEFAULTS.maxNewTokens, batch: SCORE_BATCH, genBatch: GREEDY_ANSWER_DEFAULTS.batch, minK: 0.2, perturbedMean: 'arithmetic' };

export interface PlanInput {
  data: string | Dataset;
  /**
   * Metric names (default: every built-in metric the data can feed, each on the splits of its
   * defaults the data has: forget-quality only with a retain reference on Dave data, tofu on TOFU
   * data). Named metrics (or named splits) the data cannot feed are refused before anything runs.
   */
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
  /** Default metrics (or their default splits) left out because the data lacks what they need. */
  skipped: SkippedMetric[];
  /** Up-front notes on parts of planned metrics that will not be computed (e.g. TOFU's forget quality without a reference). */
  notes: string[];
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
  const dataset = typeof input.data === 'string' ? getDataset(input.data) : input.data;
  const named = !!input.metrics?.length;
  const names = named
    ? [...input.metrics!]
    : BUILTIN_METRICS.filter((m) => {
        if (m === 'tofu') return dataset.format === 'tofu';
        if (m === 'forget-quality') return dataset.format !== 'tofu' && options.retainReference !== undefined;
        return true;
      });
  const defs = resolveMetricOrder(names);
  const size = (s: EvalSplit): number => (s === 'general' ? dataset.texts().length : dataset.evalFacts(s as FactSplit).length);
  const lacks = (s: EvalSplit) => `${dataset.name} has no ${s} items (${dataset.supplyHint(s)})`;
  const skipped: SkippedMetric[] = [];
  const notes: string[] = [];
  const metrics: PlannedMetric[] = [];
  const dropped = new Set<string>();
  for (const def of defs) {
    // a metric is needed by name when the caller named it or a named metric depends on it
    const byName = named && (input.metrics!.includes(def.name) || defs.some((d) => input.metrics!.includes(d.name) && d.deps?.includes(def.name)));
    if (def.deps?.some((d) => dropped.has(d))) {
      dropped.add(def.name);
      skipped.push({ metric: def.name, reason: `it reads ${def.deps.filter((d) => dropped.has(d)).join(', ')}, which cannot run` });
      continue;
    }
    let splits: EvalSplit[];
    const chosen = !def.fixedSplits && !!input.splits?.length;
    if (!chosen) splits = [...def.defaultSplits];
    else {
      splits = input.splits!.filter((s) => def.supportedSplits.includes(s));
      if (splits.length === 0) {
        throw new UserError(`metric ${def.name} runs on ${def.supportedSplits.join(', ')}; none of the requested splits (${input.splits!.join(', ')}) is one of them`);
      }
    }
    const absent = splits.filter((s) => size(s) === 0);
    if (absent.length) {
      const required = def.fixedSplits && !def.optionalSplits;
      if ((byName || chosen) && (required || absent.length === splits.length || chosen)) {
        throw new UserError(`metric ${def.name} needs the ${absent.join(' and ')} split${absent.length > 1 ? 's' : ''}: ${absent.map(lacks).join('; ')}`);
      }
      if (required || absent.length === splits.length) {
        dropped.add(def.name);
        skipped.push({ metric: def.name, reason: `needs the ${absent.join(' and ')} split${absent.length > 1 ? 's' : ''}: ${absent.map(lacks).join('; ')}` });
        continue;
      }
      if (!def.optionalSplits) for (const s of absent) skipped.push({ metric: def.name, split: s, reason: lacks(s) });
      splits = splits.filter((s) => size(s) > 0);
    }
    if (def.notes) notes.push(...def.notes(new Set(splits), options, (s) => dataset.supplyHint(s)).map((n) => `${def.name}: ${n}`));
    const opt: Record<string, unknown> = {};
    for (const k of def.optionKeys) {
      const v = options[k];
      opt[k] = Array.isArray(v) ? `sha256:${sha256(JSON.stringify(v))}` : v;
    }
    metrics.push({ def, splits, optionsKey: JSON.stringify({ splits, options: opt, ...(def.version ? { version: def.version } : {}) }) });
  }
  if (metrics.length === 0) throw new UserError(`no metric can run on ${dataset.name}: ${skipped.map((k) => `${k.metric} ${k.reason}`).join('; ')}`);

  const take = <T>(xs: T[]): T[] => selectItems(xs, limit);
  const needed = new Set(metrics.flatMap((m) => m.splits));
  const data: EvalData = { name: dataset.name, facts: {}, general: [], supplyHint: (s) => dataset.supplyHint(s) };
  for (const s of needed) {
    if (s === 'general') data.general = take(dataset.texts());
    else data.facts[s as FactSplit] = take(dataset.evalFacts(s as FactSplit));
  }
  const all = {
    facts: take(dataset.evalFacts('forget')).concat(...(['retain', 'holdout', 'decoy', 'real_authors', 'world_facts'] as const).map((s) => take(dataset.evalFacts(s)))),
    general: take(dataset.texts()),
  };
  return { dataset, data, metrics, skipped, notes, options, dataHash: sha256(JSON.stringify(all)), limit };
}
