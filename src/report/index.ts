/**
 * unlearnkit/report: statistical reports of evaluation runs (paired t-tests, 95% CIs, Cohen's d_z
 * and d_av, Holm correction) as report.md and a self-contained report.html with Vega-Lite charts.
 * Build a ReportInput from run folders with buildReport(), or fill one directly (comparePaired()
 * turns two number arrays into a comparison), then writeReport().
 */
export type { ReportInput, ReportRun, ReportComparison, ReportHeadline, ReportSeries, ReportHeatmap, HeatmapCell, ReportDistribution } from './types.ts';
export { buildReport, compareRuns, comparePaired, applyHolm, runDistributions, targetHeatmap, type BuildReportOptions, type PairedInput } from './build.ts';
export { writeReport, writeRunReport, type WrittenReport, type RunReportOptions } from './write.ts';
export { renderHtml, renderMarkdown, reportBlocks, reportCharts, fmt } from './render.ts';
export { toMarkdown, toHtml, htmlPage, fmtP, heading, paragraph, table, list, code, quote, figures, type Block, type Table } from './document.ts';
export { renderSvg, seriesChart, effectChart, heatmapChart, distributionChart, type ChartSpec, type RenderedChart } from './charts.ts';
