/**
 * Evaluation at fixed intervals during unlearning: perplexity and ROUGE of the CURRENT in-memory
 * model every `every` steps, so that reports can plot them over steps (docs/methods.md#metrics:
 * ROUGE at fixed intervals during unlearning, perplexity after every unlearning step).
 *
 *   const ev = makeIntervalEvaluator({ data: 'dave', every: 10, label: 'first-epoch ascent' });
 *   for (let step = 0; step <= steps; step++) {
 *     if (step > 0) session.step(...);
 *     session.downloadWeights();                   // host weights must be current
 *     ev(model, step, { force: step === steps });  // evaluates when step % every === 0 (or forced)
 *   }
 *   await evaluate({ ..., series: ev.series() });  // the run's report plots them
 *
 * Items: the first `limit` (default 32) of each split, the same items at every step. The model is
 * evaluated from its F32 host weights (loadModel.ts hostF32View), so changes made in memory count
 * even for F16 / quantised base files; every step is evaluated the same way, so points compare.
 */
import fs from 'node:fs';
import type { CausalLM } from '../model/model.ts';
import { tokenizerFromGguf, type Tokenizer } from '../model/tokenizer/index.ts';
import type { Dataset } from '../data/dataset.ts';
import { planEvaluation } from './plan.ts';
import { hostF32View } from './loadModel.ts';
import { getMetric } from './registry.ts';
import type { EvalSplit, MetricContext } from './types.ts';
import type { ReportSeries } from './types.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { UserError } from '../util/errors.ts';

export interface IntervalEvaluatorOptions {
  data: string | Dataset;
  /** 'perplexity' and/or 'rouge' (default both). */
  metrics?: Array<'perplexity' | 'rouge'>;
  /** Default ['forget', 'retain'] (ROUGE skips 'general'). */
  splits?: EvalSplit[];
  /** Items per split (default 32). */
  limit?: number;
  /** Evaluate when step % every === 0 (default 1: every call). */
  every?: number;
  /** Series label in reports (e.g. the method name). */
  label?: string;
  maxNewTokens?: number;
  batch?: number;
  genBatch?: number;
  /** Default: the tokenizer of the model's GGUF file. */
  tokenizer?: Tokenizer;
  /** Rewritten atomically after every point with the series so far (ReportSeries[] JSON). */
  file?: string;
  onPoint?: (p: IntervalPoint) => void;
}

export interface IntervalPoint {
  step: number;
  /** Token-weighted perplexity per split. */
  perplexity: Partial<Record<EvalSplit, number>>;
  /** Mean ROUGE recall per split. */
  rouge: Partial<Record<EvalSplit, { rouge1: number; rouge2: number; rougeL: number }>>;
  seconds: number;
}

export interface IntervalEvaluator {
  /** Evaluate `model` at `step` when step % every === 0 or `force`; otherwise return null. */
  (model: CausalLM, step: number, opts?: { force?: boolean }): IntervalPoint | null;
  readonly every: number;
  /** Points so far, in call order. */
  points(): IntervalPoint[];
  /** The points as report series (perplexity, rouge1, rouge2, rougeL per split). */
  series(): ReportSeries[];
}

/** Build the callback the unlearning loop calls (see module doc). */
export function makeIntervalEvaluator(o: IntervalEvaluatorOptions): IntervalEvaluator {
  const metrics = o.metrics ?? ['perplexity', 'rouge'];
  for (const m of metrics) if (m !== 'perplexity' && m !== 'rouge') throw new UserError(`interval evaluation supports perplexity and rouge, not '${String(m)}'`);
  const every = o.every ?? 1;
  if (!Number.isInteger(every) || every < 1) throw new UserError(`every must be a positive integer, got ${every}`);
  const splits = o.splits ?? ['forget', 'retain'];
  const plan = planEvaluation({
    data: o.data,
    metrics,
    splits,
    limit: o.limit ?? 32,
    options: { maxNewTokens: o.maxNewTokens, batch: o.batch, genBatch: o.genBatch },
  });
  const label = o.label ?? 'unlearning';
  const pts: IntervalPoint[] = [];
  let tokenizer = o.tokenizer ?? null;

  const toSeries = (): ReportSeries[] => {
    const out = new Map<string, ReportSeries>();
    const add = (metric: string, split: EvalSplit, step: number, value: number) => {
      const k = `${metric}\u0000${split}`;
      let s = out.get(k);
      if (!s) out.set(k, (s = { label, metric, split, points: [] }));
      s.points.push({ step, value });
    };
    for (const p of pts) {
      for (const [s, v] of Object.entries(p.perplexity)) add('perplexity', s as EvalSplit, p.step, v);
      for (const [s, r] of Object.entries(p.rouge)) {
        add('rouge1', s as EvalSplit, p.step, r.rouge1);
        add('rouge2', s as EvalSplit, p.step, r.rouge2);
        add('rougeL', s as EvalSplit, p.step, r.rougeL);
      }
    }
    return [...out.values()];
  };

  const fn = (model: CausalLM, step: number, opts: { force?: boolean } = {}): IntervalPoint | null => {
    if (!Number.isInteger(step) || step < 0) throw new UserError(`step must be a non-negative integer, got ${step}`);
    if (step % every !== 0 && !opts.force) return null;
    if (!tokenizer) {
      if (!model.file) throw new UserError('interval evaluation: the model has no GGUF file to take a tokenizer from; pass `tokenizer`');
      tokenizer = tokenizerFromGguf(model.file);
    }
    const t0 = performance.now();
    const ctx: MetricContext = { model: hostF32View(model), tokenizer, data: plan.data, options: plan.options, results: new Map(), cache: new Map(), log: () => {} };
    const point: IntervalPoint = { step, perplexity: {}, rouge: {}, seconds: 0 };
    for (const pm of plan.metrics) {
      const c = getMetric(pm.def.name).compute(ctx, pm.splits);
      if (c instanceof Promise) throw new Error('internal: interval metrics must be synchronous');
      for (const [s, r] of Object.entries(c.splits) as Array<[EvalSplit, { summary: Record<string, number> }]>) {
        if (pm.def.name === 'perplexity') point.perplexity[s] = r.summary.perplexity!;
        else point.rouge[s] = { rouge1: r.summary.rouge1!, rouge2: r.summary.rouge2!, rougeL: r.summary.rougeL! };
      }
    }
    point.seconds = (performance.now() - t0) / 1000;
    pts.push(point);
    if (o.file) writeJsonAtomic(o.file, toSeries());
    o.onPoint?.(point);
    return point;
  };
  return Object.assign(fn, { every, points: () => [...pts], series: toSeries });
}

/** Read a series file written by an interval evaluator (`file` option). */
export function readSeriesFile(file: string): ReportSeries[] {
  if (!fs.existsSync(file)) throw new UserError(`series file ${file} does not exist`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as ReportSeries[];
  } catch (e) {
    throw new UserError(`${file} is not a series JSON file: ${(e as Error).message}`);
  }
}
