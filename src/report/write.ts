/**
 * Writing a report folder: report.md, report.html (self-contained), charts/<name>.svg and
 * report.json (the ReportInput, so that a report can be re-rendered or read by other tools).
 * Every file is written atomically.
 */
import path from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { loadRun } from '../eval/run.ts';
import { describeEnvironment } from '../eval/environment.ts';
import { buildReport, type BuildReportOptions } from './build.ts';
import { renderHtml, renderMarkdown, reportCharts } from './render.ts';
import type { ReportInput } from './types.ts';
import { UserError } from '../util/errors.ts';

export interface WrittenReport {
  dir: string;
  html: string;
  markdown: string;
  json: string;
  charts: string[];
}

/** Render `input` into `dir`. */
export async function writeReport(input: ReportInput, dir: string): Promise<WrittenReport> {
  const withEnv: ReportInput = { ...input, environment: input.environment ?? describeEnvironment() };
  const charts = await reportCharts(withEnv);
  const chartFiles: string[] = [];
  for (const c of charts) {
    const f = path.join(dir, 'charts', `${c.name}.svg`);
    writeFileAtomic(f, c.svg);
    chartFiles.push(f);
  }
  const out = { dir, html: path.join(dir, 'report.html'), markdown: path.join(dir, 'report.md'), json: path.join(dir, 'report.json'), charts: chartFiles };
  writeJsonAtomic(out.json, withEnv);
  writeFileAtomic(out.markdown, renderMarkdown(withEnv, charts));
  writeFileAtomic(out.html, renderHtml(withEnv, charts));
  return out;
}

export interface RunReportOptions extends BuildReportOptions {
  /** Output folder (default: the folder of the last run given). */
  out?: string;
}

/** Load evaluation runs (folders or ids under reports/), compare them and write the report. */
export async function writeRunReport(refs: string[], opts: RunReportOptions = {}): Promise<WrittenReport & { input: ReportInput }> {
  if (refs.length === 0) throw new UserError('give at least one evaluation run');
  const runs = refs.map(loadRun);
  const input = buildReport(runs, opts);
  const dir = path.resolve(opts.out ?? runs[runs.length - 1]!.dir);
  const w = await writeReport(input, dir);
  return { ...w, input };
}
