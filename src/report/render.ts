/**
 * Report rendering: the same tables as Markdown (report.md, charts linked as charts/*.svg) and
 * as a self-contained HTML page (report.html, charts inline as SVG, no scripts, no network).
 */
import path from 'node:path';
import type { ReportComparison, ReportHeadline, ReportInput, ReportRun } from './types.ts';
import { distributionChart, effectChart, heatmapChart, renderSvg, seriesChart, type ChartSpec, type RenderedChart } from './charts.ts';
import { listMetrics } from '../eval/registry.ts';
import '../eval/metrics.ts';
import { figures, fmtP, heading, htmlPage, paragraph, quote, table, toMarkdown, type Block, type Table } from './document.ts';

/** A number for a table: 4 significant digits, exponent form when very large or small. */
export function fmt(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined || Number.isNaN(x)) return 'n/a';
  if (x === Infinity) return '∞';
  if (x === -Infinity) return '−∞';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(digits - 2);
  return String(Number(x.toPrecision(digits)));
}

function ci(c: [number, number] | null): string {
  return c ? `[${fmt(c[0])}, ${fmt(c[1])}]` : '[n/a]';
}

// What each metric's summary table shows.
const SPLIT_HEADLINES: Record<string, Array<[string, string]>> = {
  perplexity: [['perplexity', 'perplexity']],
  rouge: [
    ['rougeL', 'ROUGE-L recall'],
    ['rouge1', 'ROUGE-1 recall'],
  ],
  'answer-prob': [['prob', 'answer probability P(a|q)^(1/|a|)']],
  'truth-ratio': [['score', 'truth ratio (forget: mean min(R,1/R); retain: mean max(0,1−R))']],
};

function splitOrder(s: string): number {
  const i = ['forget', 'retain', 'holdout', 'decoy', 'general'].indexOf(s);
  return i < 0 ? 99 : i;
}

function summaryTables(runs: ReportRun[]): Table[] {
  const tables: Table[] = [];
  const metrics = [...new Set(runs.flatMap((r) => [...Object.keys(r.splitSummaries), ...Object.keys(r.summaries)]))];
  for (const m of metrics) {
    const splits = [...new Set(runs.flatMap((r) => Object.keys(r.splitSummaries[m] ?? {})))].sort((a, b) => splitOrder(a) - splitOrder(b));
    if (m === 'mia') {
      tables.push({
        caption: 'Membership inference, forget (members) vs holdout: ROC-AUC [bootstrap 95% CI] (0.5 = chance)',
        head: ['run', 'AUC LOSS', 'AUC zlib', 'AUC Min-K%', 'members', 'non-members'],
        rows: runs
          .filter((r) => r.summaries.mia)
          .map((r) => {
            const s = r.summaries.mia!;
            const a = (n: string) => `${fmt(s[`auc${n}`] as number)} [${fmt(s[`auc${n}Lo`] as number)}, ${fmt(s[`auc${n}Hi`] as number)}]`;
            return [r.label, a('Loss'), a('Zlib'), a('MinK'), String(s.nMembers), String(s.nNonMembers)];
          }),
      });
      continue;
    }
    if (m === 'forget-quality') {
      tables.push({
        caption: 'Forget quality: KS-test p-value of forget-set truth ratios vs the retain-only model (high = indistinguishable)',
        head: ['run', 'forget quality (p)', 'KS D', 'n', 'reference'],
        rows: runs
          .filter((r) => r.summaries['forget-quality'])
          .map((r) => {
            const s = r.summaries['forget-quality']!;
            return [r.label, fmtP(s.pValue as number), fmt(s.statistic as number), String(s.n), String(s.reference)];
          }),
      });
      continue;
    }
    if (m === 'tofu') {
      tables.push(...tofuTables(runs));
      continue;
    }
    const heads = SPLIT_HEADLINES[m] ?? [[Object.keys(runs.find((r) => r.splitSummaries[m])?.splitSummaries[m]?.[splits[0] ?? ''] ?? {})[0] ?? 'n', m]];
    for (const [key, label] of heads) {
      tables.push({
        caption: `${m}: ${label}`,
        head: ['run', ...splits],
        rows: runs.filter((r) => r.splitSummaries[m]).map((r) => [r.label, ...splits.map((s) => fmt(r.splitSummaries[m]![s]?.[key]))]),
      });
    }
  }
  return tables;
}

/**
 * TOFU's numbers as open-unlearning names them (eval/tofu.ts): the headline table (forget quality,
 * model utility with the sets it is over, privleak, extraction strength; a value not computed shows
 * its reason) and the per-set components. Entries are SummaryEntry objects, never plain numbers.
 */
function tofuTables(runs: ReportRun[]): Table[] {
  const withTofu = runs.filter((r) => r.summaries.tofu);
  const entry = (r: ReportRun, k: string): { value: number | null; reason?: string; over?: unknown } | null => {
    const v = r.summaries.tofu![k];
    if (v === undefined || v === null) return null;
    if (typeof v === 'number') return { value: v };
    if (typeof v === 'string') return { value: null, reason: v };
    return v as { value: number | null; reason?: string; over?: unknown };
  };
  const cell = (r: ReportRun, k: string): string => {
    const e = entry(r, k);
    if (!e) return '-';
    if (e.value === null || !Number.isFinite(e.value)) return `not computed${e.reason ? ` (${e.reason})` : ''}`;
    return k === 'forget_quality' ? fmtP(e.value) : fmt(e.value);
  };
  const over = (r: ReportRun) => {
    const o = entry(r, 'model_utility')?.over;
    return Array.isArray(o) ? o.join(', ') : '-';
  };
  const head: Table = {
    caption: 'TOFU (open-unlearning definitions): forget quality = KS p-value of forget truth ratios vs the retain-only model; model utility = harmonic mean of probability, ROUGE-L recall and truth ratio over the sets named; privleak = relative MIA AUC gap to the retain-only model; extraction strength',
    head: ['run', 'forget_quality', 'model_utility', 'model_utility over', 'privleak', 'extraction_strength'],
    rows: withTofu.map((r) => [r.label, cell(r, 'forget_quality'), cell(r, 'model_utility'), over(r), cell(r, 'privleak'), cell(r, 'extraction_strength')]),
  };
  const parts = ['Q_A_Prob', 'Q_A_Prob_normalised', 'Q_A_ROUGE', 'Truth_Ratio', 'truth_ratio'];
  const keys = [...new Set(withTofu.flatMap((r) => Object.keys(r.summaries.tofu!)))].filter((k) => parts.some((x) => k.endsWith(`_${x}`)));
  const comps: Table = {
    caption: 'TOFU components per set (forget, retain, ra = real authors, wf = world facts)',
    head: ['run', ...keys],
    rows: withTofu.map((r) => [r.label, ...keys.map((k) => (entry(r, k)?.value === null ? 'n/c' : cell(r, k)))]),
  };
  return keys.length ? [head, comps] : [head];
}

// What the per-item values of each metric mean (captions of the comparison tables).
const KEY_NOTES: Record<string, string> = {
  perplexity: 'NLL/token = mean negative log-likelihood per token of the item\'s text (log-perplexity)',
  rouge: 'ROUGE recall of the greedy answer against the reference answer',
  'answer-prob': 'P(a|q)^(1/|a|) of the reference answer',
  'truth-ratio': 'TR score = min(R, 1/R) on forget-like splits, max(0, 1 − R) on retain; R = mean P~(perturbed) / P~(paraphrased)',
  mia: 'membership scores, higher = more member-like; LOSS = −NLL/token, Min-K% = mean of the 20% lowest token log-probs',
};

function comparisonTables(cs: ReportComparison[]): Table[] {
  const metrics = [...new Set(cs.map((c) => c.metric))];
  return metrics.map((m) => {
    const rows = cs.filter((c) => c.metric === m);
    const befores = [...new Set(rows.map((c) => c.beforeLabel))];
    return {
      caption: `${m}: paired change per item (after − before; before = ${befores.join(', ')})${KEY_NOTES[m] ? `. ${KEY_NOTES[m]}` : ''}`,
      head: ['after', 'split', 'value', 'n', 'mean before', 'mean after', 'mean diff', '95% CI', 't (df)', 'p', 'p Holm', 'd_z [95% CI]', 'd_av'],
      rows: rows.map((c) => [
        befores.length > 1 ? c.label : c.afterLabel,
        c.split,
        c.keyLabel,
        c.unmatched ? `${c.n} (${c.unmatched} unmatched)` : String(c.n),
        fmt(c.meanBefore),
        fmt(c.meanAfter),
        fmt(c.meanDiff),
        ci(c.ci95),
        `${fmt(c.t)} (${c.df})`,
        fmtP(c.p),
        fmtP(c.pHolm),
        `${fmt(c.dz, 3)} ${ci(c.dzCi95)}`,
        fmt(c.dav, 3),
      ]),
    };
  });
}

function runTable(runs: ReportRun[]): Table {
  return {
    head: ['run', 'label', 'method', 'target', 'model', 'adapter', 'data', 'items/split'],
    rows: runs.map((r) => [r.id, r.label, r.method ?? '', r.target ?? '', r.model ? path.basename(r.model) : '', r.adapter ? path.basename(r.adapter) : '', r.data ?? '', r.limit ? `≤ ${r.limit}` : 'all']),
  };
}

function envTable(input: ReportInput): Table {
  const rows = input.runs
    .filter((r) => r.environment)
    .map((r) => {
      const e = r.environment!;
      const eng = (e.engine ?? {}) as Record<string, unknown>;
      return [r.label, e.device, `${String(eng.ggmlVersion ?? '')} ${String(eng.ggmlCommit ?? '')}`.trim(), String(eng.build ?? ''), e.nodeLlamaCpp, e.unlearnkit, e.node, `${e.cpu} (${e.cpus} cores)`];
    });
  if (input.environment) {
    const e = input.environment;
    rows.push(['(report)', e.device === 'not loaded' ? '' : e.device, '', '', e.nodeLlamaCpp, e.unlearnkit, e.node, `${e.cpu} (${e.cpus} cores); vega ${e.vega}, vega-lite ${e.vegaLite}`]);
  }
  return { head: ['run', 'device', 'ggml', 'build', 'node-llama-cpp', 'unlearnkit', 'node', 'CPU'], rows };
}

/** Charts of a report input, rendered to SVG. */
export async function reportCharts(input: ReportInput): Promise<RenderedChart[]> {
  const specs: ChartSpec[] = [];
  const push = (c: ChartSpec | null) => c && specs.push(c);
  push(seriesChart(input.series, 'perplexity'));
  push(seriesChart(input.series, 'rougeL'));
  const primary = new Set<string>();
  const defs = listMetrics();
  for (const c of input.comparisons) {
    const def = defs.find((d) => d.name === c.metric);
    const first = def?.paired[0]?.key ?? input.comparisons.find((x) => x.metric === c.metric)!.key;
    primary.add(`${c.metric}\u0000${first}`);
  }
  push(effectChart(input.comparisons, primary));
  if (input.heatmap) push(heatmapChart(input.heatmap));
  const dists = input.distributions ?? [];
  for (const mk of [...new Set(dists.map((d) => `${d.metric}\u0000${d.key}`))]) {
    const [m, k] = mk.split('\u0000') as [string, string];
    push(distributionChart(dists, m, k));
  }
  const out: RenderedChart[] = [];
  for (const s of specs) out.push({ ...s, svg: await renderSvg(s.spec) });
  return out;
}

/** The reference rows and the sample generations of an unlearning run's headline. */
function headlineTables(h: ReportHeadline): { references: Table; samples: Table } {
  return {
    references: { caption: 'Reference rows', head: ['model', ...h.references.columns], rows: h.references.rows.map((r) => [r.label, ...r.values]) },
    samples: { caption: 'Sample generations (greedy, forget questions)', head: ['question', 'expected', 'before', 'after'], rows: h.samples.map((x) => [x.question, x.reference, x.before || '(empty)', x.after || '(empty)']) },
  };
}

const PAIRED_NOTE = "Paired t-test on per-item values (after − before), 95% t confidence interval of the mean difference, Cohen's d_{z} = mean(diff)/sd(diff) with a percentile bootstrap 95% CI, and d_{av} = mean(diff)/mean(sd before, sd after).";

/** The report as blocks (document.ts renders them as report.md and report.html). */
export function reportBlocks(input: ReportInput, charts: RenderedChart[]): Block[] {
  const b: Block[] = [heading(1, input.title), paragraph(`Generated ${input.createdAt} by unlearnkit.`), ...(input.notes ?? []).map(quote)];
  if (input.headline) {
    const h = headlineTables(input.headline);
    b.push(heading(2, 'Verdict'), paragraph(input.headline.verdict, 'verdict'), table(h.references), table(h.samples));
  }
  if (charts.length) b.push(heading(2, 'Charts'), figures(charts.map((c) => ({ name: c.name, title: c.title }))));
  b.push(heading(2, 'Runs'), table(runTable(input.runs)));
  b.push(heading(2, 'Results'), ...summaryTables(input.runs).map(table));
  if (input.comparisons.length) b.push(heading(2, 'Paired comparisons'), paragraph(PAIRED_NOTE), ...comparisonTables(input.comparisons).map(table));
  b.push(heading(2, 'Device and versions'), table(envTable(input)));
  return b;
}

/** report.md (charts referenced as `charts/<name>.svg`). */
export function renderMarkdown(input: ReportInput, charts: RenderedChart[]): string {
  return toMarkdown(reportBlocks(input, charts));
}

/** The self-contained report.html (charts inline as SVG). */
export function renderHtml(input: ReportInput, charts: RenderedChart[]): string {
  return htmlPage(input.title, reportBlocks(input, charts), Object.fromEntries(charts.map((c) => [c.name, c.svg])));
}
