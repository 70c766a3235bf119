/**
 * Report charts: Vega-Lite specifications compiled to Vega and rendered to SVG on the server with
 * vega's headless View (`renderer: 'none'`, `view.toSVG()`), so that report.html embeds them inline
 * and needs no script or network to display.
 *
 * Charts: a metric over unlearning steps (perplexity, ROUGE-L), per-method effect sizes d_z with
 * bootstrap 95% intervals, the method x layer-target heatmap, and before / after distributions of
 * per-item values (box plots).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ReportComparison, ReportDistribution, ReportHeatmap, ReportSeries } from './types.ts';

export interface ChartSpec {
  /** File-name-safe id, e.g. "series-perplexity". */
  name: string;
  title: string;
  spec: TopLevelSpec;
}

export interface RenderedChart extends ChartSpec {
  svg: string;
}

const CONFIG = {
  font: 'Helvetica, Arial, sans-serif',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' as const },
  background: 'white',
};

const SPLITS = ['forget', 'retain', 'holdout', 'general', 'decoy'];
const SPLIT_RANGE = ['#d62728', '#1f77b4', '#7f7f7f', '#2ca02c', '#9467bd'];

/** Fixed colours per split (forget red, retain blue, ...), restricted to the splits present. */
function splitScale(present: Iterable<string>): { domain: string[]; range: string[] } {
  const p = new Set(present);
  const known = SPLITS.filter((s) => p.has(s));
  const other = [...p].filter((s) => !SPLITS.includes(s));
  return { domain: [...known, ...other], range: [...known.map((s) => SPLIT_RANGE[SPLITS.indexOf(s)]!), ...other.map(() => '#8c564b')] };
}

/** Render a Vega-Lite spec to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const vg = compile(spec, { config: CONFIG }).spec;
  const view = new vega.View(vega.parse(vg), { renderer: 'none', logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const METRIC_TITLES: Record<string, string> = {
  perplexity: 'Perplexity',
  rouge1: 'ROUGE-1 recall',
  rouge2: 'ROUGE-2 recall',
  rougeL: 'ROUGE-L recall',
};

/**
 * A metric over steps (fine-tuning or unlearning steps, from a run's series.jsonl: eval/series.ts):
 * one line per split (colour) and run (dash).
 */
export function seriesChart(series: ReportSeries[], metric: string): ChartSpec | null {
  const rows = series.filter((s) => s.metric === metric).flatMap((s) => s.points.filter((p) => Number.isFinite(p.value)).map((p) => ({ step: p.step, value: p.value, split: s.split, run: s.label })));
  if (rows.length === 0) return null;
  const runs = new Set(rows.map((r) => r.run)).size;
  const title = `${METRIC_TITLES[metric] ?? metric} over ${series.some((s) => s.metric === metric && /finetune/.test(s.label)) ? '' : 'unlearning '}steps`;
  const log = metric === 'perplexity';
  return {
    name: `series-${metric}`,
    title,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title,
      width: 520,
      height: 260,
      data: { values: rows },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step', axis: { tickMinStep: 1, format: 'd' } },
        y: { field: 'value', type: 'quantitative', title: METRIC_TITLES[metric] ?? metric, scale: log ? { type: 'log' } : { zero: false } },
        color: { field: 'split', type: 'nominal', title: 'split', scale: splitScale(rows.map((r) => r.split)) },
        ...(runs > 1 ? { strokeDash: { field: 'run', type: 'nominal', title: 'run' } } : {}),
        detail: { field: 'run', type: 'nominal' },
        tooltip: [{ field: 'run' }, { field: 'split' }, { field: 'step' }, { field: 'value', format: '.4g' }],
      },
    } as TopLevelSpec,
  };
}

/** Per-method d_z with bootstrap 95% intervals, one panel per metric value, colour = split. */
export function effectChart(comparisons: ReportComparison[], primaryOnly: Set<string>): ChartSpec | null {
  const rows = comparisons
    .filter((c) => primaryOnly.has(`${c.metric}\u0000${c.key}`) && Number.isFinite(c.dz))
    .map((c) => ({
      run: c.afterLabel,
      split: c.split,
      value: `${c.metric}: ${c.keyLabel}`,
      dz: c.dz,
      lo: c.dzCi95 ? c.dzCi95[0] : c.dz,
      hi: c.dzCi95 ? c.dzCi95[1] : c.dz,
    }));
  if (rows.length === 0) return null;
  const title = "Effect sizes: Cohen's d_z of the per-item change (after − before), bootstrap 95% CI";
  const colors = splitScale(rows.map((r) => r.split));
  return {
    name: 'effect-sizes',
    title,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title,
      data: { values: rows },
      facet: { row: { field: 'value', type: 'nominal', title: null, header: { labelAngle: 0, labelOrient: 'top', labelAnchor: 'start', labelFontSize: 12, labelFontWeight: 'bold' } } },
      spec: {
        width: 420,
        // with an offset channel the step is that of the offset (one split's row)
        height: { step: 9 },
        layer: [
          { mark: { type: 'rule', color: '#999', strokeDash: [3, 3] }, encoding: { x: { datum: 0 } } },
          {
            mark: { type: 'rule', strokeWidth: 2 },
            encoding: {
              y: { field: 'run', type: 'nominal', title: null, sort: null, axis: { labelLimit: 280 } },
              yOffset: { field: 'split', type: 'nominal', sort: colors.domain },
              x: { field: 'lo', type: 'quantitative', title: 'd_z' },
              x2: { field: 'hi' },
              color: { field: 'split', type: 'nominal', scale: colors },
            },
          },
          {
            mark: { type: 'point', filled: true, size: 60 },
            encoding: {
              y: { field: 'run', type: 'nominal', sort: null },
              yOffset: { field: 'split', type: 'nominal', sort: colors.domain },
              x: { field: 'dz', type: 'quantitative' },
              color: { field: 'split', type: 'nominal', title: 'split', scale: colors },
              tooltip: [{ field: 'run' }, { field: 'split' }, { field: 'dz', format: '.3f' }, { field: 'lo', format: '.3f' }, { field: 'hi', format: '.3f' }],
            },
          },
        ],
      },
      resolve: { scale: { x: 'independent' } },
    } as TopLevelSpec,
  };
}

/** Method x layer-target heatmap with the value printed in each cell. */
export function heatmapChart(h: ReportHeatmap): ChartSpec | null {
  if (h.cells.length === 0) return null;
  const maxAbs = Math.max(...h.cells.map((c) => Math.abs(c.value)), 1e-12);
  return {
    name: 'layer-heatmap',
    title: h.title,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: h.title,
      data: { values: h.cells },
      width: { step: 70 },
      height: { step: 34 },
      encoding: {
        x: { field: 'column', type: 'nominal', title: 'layer target', axis: { labelAngle: -30 } },
        y: { field: 'row', type: 'nominal', title: 'method' },
      },
      layer: [
        {
          mark: 'rect',
          encoding: {
            color: { field: 'value', type: 'quantitative', title: h.valueLabel, scale: { scheme: 'redblue', reverse: true, domain: [-maxAbs, maxAbs] } },
            tooltip: [{ field: 'row' }, { field: 'column' }, { field: 'value', format: '.3f' }],
          },
        },
        {
          mark: { type: 'text', fontSize: 11 },
          encoding: {
            text: { field: 'value', type: 'quantitative', format: '.2f' },
            color: { condition: { test: `abs(datum.value) > ${0.6 * maxAbs}`, value: 'white' }, value: 'black' },
          },
        },
      ],
    } as TopLevelSpec,
  };
}

/** Box plots of one per-item value per run (before / after), one panel per split. */
export function distributionChart(d: ReportDistribution[], metric: string, key: string): ChartSpec | null {
  const sel = d.filter((x) => x.metric === metric && x.key === key);
  if (sel.length === 0) return null;
  const rows = sel.flatMap((x) => x.values.map((v) => ({ split: x.split, run: x.condition, value: v })));
  const order = [...new Set(sel.map((x) => x.condition))];
  const label = sel[0]!.keyLabel;
  const many = order.length > 4;
  const title = `Distribution per item: ${metric} (${label})`;
  return {
    name: `dist-${metric}-${key}`,
    title,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title,
      data: { values: rows },
      facet: { column: { field: 'split', type: 'nominal', title: null, sort: SPLITS, header: { labelFontSize: 12, labelFontWeight: 'bold' } } },
      spec: {
        width: { step: many ? 16 : 46 },
        height: 200,
        mark: { type: 'boxplot', extent: 1.5, median: { color: 'black' } },
        encoding: {
          x: { field: 'run', type: 'nominal', title: null, sort: order, axis: many ? { labels: false, ticks: false } : { labelAngle: -30, labelLimit: 120 } },
          y: { field: 'value', type: 'quantitative', title: label, scale: { zero: false } },
          color: { field: 'run', type: 'nominal', title: 'run', sort: order, legend: { labelLimit: 260 } },
        },
      },
      resolve: { scale: { y: 'independent' } },
    } as TopLevelSpec,
  };
}
