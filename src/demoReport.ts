/**
 * Turns the demo's unlearning runs into a report (src/report): one run per method x layer target
 * plus the fine-tuned model, paired comparisons (per-item mean NLL on forget / retain / holdout /
 * general and ROUGE-L on the forget questions, after vs before unlearning, Holm-corrected across
 * methods), a method x target heatmap of the forget-set d_z, and before / after distributions.
 */
import type { UnlearnRunResult } from './unlearn/index.ts';
import { applyHolm, comparePaired } from './report/build.ts';
import type { ReportComparison, ReportInput, ReportRun } from './report/types.ts';
import { describeEnvironment } from './eval/environment.ts';

export function demoReportInput(results: UnlearnRunResult[], title: string, notes: string[]): ReportInput {
  const environment = describeEnvironment({ engine: true });
  const base: ReportRun = { id: 'finetuned', label: 'fine-tuned', splitSummaries: {}, summaries: {}, environment };
  const first = results[0];
  if (first) {
    for (const [split, m] of Object.entries(first.before.sets)) {
      (base.splitSummaries.perplexity ??= {})[split] = { perplexity: m.perplexity, meanNll: m.meanNll, n: m.ids.length };
    }
    for (const [split, m] of Object.entries(first.before.rouge ?? {})) {
      (base.splitSummaries.rouge ??= {})[split] = { rougeL: mean(m.rougeL), rouge1: mean(m.rouge1) };
    }
  }
  const runs: ReportRun[] = [base];
  const comparisons: ReportComparison[] = [];
  for (const r of results) {
    const id = `${r.method}@${r.filter}`;
    const label = `${r.method} (${r.filter})`;
    const run: ReportRun = { id, label, method: r.method, target: r.filter, adapter: r.adapter?.dir, splitSummaries: {}, summaries: {}, environment };
    for (const [split, m] of Object.entries(r.after.sets)) {
      (run.splitSummaries.perplexity ??= {})[split] = { perplexity: m.perplexity, meanNll: m.meanNll, n: m.ids.length };
    }
    for (const [split, m] of Object.entries(r.after.rouge ?? {})) {
      (run.splitSummaries.rouge ??= {})[split] = { rougeL: mean(m.rougeL), rouge1: mean(m.rouge1) };
    }
    runs.push(run);
    // one paired comparison fine-tuned -> this run per metric / split (same items, same order)
    const compare = (metric: string, split: string, key: string, keyLabel: string, ids: string[], valuesBefore: number[], valuesAfter: number[]) => {
      const c = comparePaired({ before: 'finetuned', after: id, beforeLabel: 'fine-tuned', afterLabel: label, label: `fine-tuned → ${label}`, method: r.method, target: r.filter, metric, split, key, keyLabel, ids, valuesBefore, valuesAfter });
      if (c) comparisons.push(c);
    };
    for (const [split, after] of Object.entries(r.after.sets)) {
      const before = r.before.sets[split];
      if (before) compare('nll', split, 'meanNll', 'mean NLL per token', before.ids, before.nll, after.ids.map((x) => after.nll[after.ids.indexOf(x)]!));
    }
    const rb = r.before.rouge?.forget;
    const ra = r.after.rouge?.forget;
    if (rb && ra) compare('rouge', 'forget', 'rougeL', 'ROUGE-L recall', rb.ids, rb.rougeL, ra.rougeL);
  }
  applyHolm(comparisons); // Holm across methods within each metric / split / key
  const heat = comparisons.filter((c) => c.metric === 'nll' && c.split === 'forget');
  const fe = comparisons.find((c) => c.metric === 'nll' && c.split === 'forget' && c.method === 'first-epoch');
  return {
    title,
    createdAt: new Date().toISOString(),
    runs,
    comparisons,
    series: [],
    heatmap: { title: 'forget-set effect by method and layer target', valueLabel: "Cohen's d_z of the forget-set mean NLL change", cells: heat.map((c) => ({ row: c.method!, column: c.target!, value: c.dz })) },
    distributions: fe
      ? [
          { metric: 'nll', key: 'meanNll', keyLabel: 'mean NLL per token', split: 'forget', condition: 'fine-tuned', values: fe.valuesBefore },
          { metric: 'nll', key: 'meanNll', keyLabel: 'mean NLL per token', split: 'forget', condition: `first-epoch (${fe.target})`, values: fe.valuesAfter },
        ]
      : [],
    notes,
    environment,
  };
}

function mean(a: number[]): number {
  return a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN;
}
