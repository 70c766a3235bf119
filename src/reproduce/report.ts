/**
 * The report folder of `unlearnkit reproduce <paper>`: report.md (the claim table first, then the
 * per-seed tables, the charts, the exact settings and versions), a self-contained report.html with
 * the charts inline, results.json (every number) and charts/*.svg.
 *
 * The folder is written atomically and never over an existing one: everything goes into a hidden
 * sibling folder that is renamed into place at the end; an existing target (or one that appears
 * while the run computes) is refused by name.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from '../report/charts.ts';
import { describeEnvironment, type Environment } from '../eval/environment.ts';
import { UserError } from '../util/errors.ts';
import { claimNotes, claimSeedsTable, claimTable, fmtNum, type Claim } from './claims.ts';
import { code, figures, heading, htmlPage, paragraph, table, toMarkdown, type Block } from '../report/document.ts';

export interface ReportSection {
  title: string;
  /** Paragraphs, lists, tables (report/document.ts renders them as Markdown and HTML). */
  blocks: Block[];
}

export interface ReproduceChart {
  /** File-name-safe id. */
  name: string;
  title: string;
  spec: TopLevelSpec;
}

export interface ReproduceReport {
  paper: string;
  title: string;
  /** The paper, cited. */
  citation: string;
  /** One paragraph: what was run and at which scale. */
  summary: string;
  claims: Claim[];
  seeds: number[];
  /** Sections after the claim table and the per-seed claim values (definitions, per-seed tables). */
  sections: ReportSection[];
  charts: ReproduceChart[];
  /** Every setting of the run (printed as JSON). */
  settings: Record<string, unknown>;
  /** Everything else worth keeping in results.json. */
  data: unknown;
  seconds: number;
}

/** The default folder: reports/reproduce-<paper>-<UTC date and time> under `root`. */
export function defaultReportDir(root: string, paper: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
  return path.join(root, 'reports', `reproduce-${paper}-${stamp}`);
}

/** Refuse a report folder that exists (called before the run starts and again before the rename). */
export function refuseExisting(dir: string): void {
  if (fs.existsSync(dir)) throw new UserError(`${dir} already exists; reproduce never overwrites a report: choose another --out or remove it`);
}

/** A chart of every claim: per-seed values (points), the mean and its 95% interval, and 0. */
function claimChart(claims: Claim[]): ReproduceChart {
  const rows = claims.flatMap((c) => [
    ...c.ours.perSeed.map((v, i) => ({ claim: c.id, kind: 'seed', seed: i + 1, value: v })),
    { claim: c.id, kind: 'mean', value: c.ours.estimate, lo: Number.isFinite(c.ours.lo) ? c.ours.lo : c.ours.estimate, hi: Number.isFinite(c.ours.hi) ? c.ours.hi : c.ours.estimate },
  ]);
  return {
    name: 'claims',
    title: 'Each claim\'s quantity: seeds (grey), mean and 95% CI (black), 0 (red); the paper\'s sign is in the table',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      data: { values: rows },
      facet: { row: { field: 'claim', type: 'nominal', title: null, sort: claims.map((c) => c.id) } },
      spec: {
        width: 420,
        height: 26,
        layer: [
          { mark: { type: 'rule', color: '#d62728' }, encoding: { x: { datum: 0, type: 'quantitative' } } },
          { transform: [{ filter: "datum.kind === 'seed'" }], mark: { type: 'point', color: '#888', filled: true }, encoding: { x: { field: 'value', type: 'quantitative', title: null } } },
          { transform: [{ filter: "datum.kind === 'mean'" }], mark: { type: 'rule', color: 'black', strokeWidth: 2 }, encoding: { x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' } } },
          { transform: [{ filter: "datum.kind === 'mean'" }], mark: { type: 'tick', color: 'black', thickness: 3 }, encoding: { x: { field: 'value', type: 'quantitative' } } },
        ],
      },
      resolve: { scale: { x: 'independent' } },
    } as TopLevelSpec,
  };
}

/** A bar chart of means with 95% intervals: rows {group, series, mean, lo, hi}. */
export function intervalBarChart(name: string, title: string, rows: Array<{ group: string; series: string; mean: number; lo: number; hi: number }>, yTitle: string): ReproduceChart {
  const values = rows.map((r) => ({ ...r, lo: Number.isFinite(r.lo) ? r.lo : r.mean, hi: Number.isFinite(r.hi) ? r.hi : r.mean }));
  return {
    name,
    title,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      data: { values },
      facet: { column: { field: 'group', type: 'nominal', title: null } },
      spec: {
        width: { step: 22 },
        height: 200,
        encoding: { x: { field: 'series', type: 'nominal', title: null, axis: { labels: false, ticks: false } }, color: { field: 'series', type: 'nominal', title: null } },
        layer: [
          { mark: 'bar', encoding: { y: { field: 'mean', type: 'quantitative', title: yTitle } } },
          { mark: { type: 'rule', color: 'black' }, encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
        ],
      },
    } as TopLevelSpec,
  };
}

const DIRECTION_NOTE = '"same direction": yes when the whole 95% interval of our quantity lies on the side of 0 the paper\'s claim predicts, no when it lies on the other side, inconclusive when it spans 0. The interval is the t interval of the mean over seeds (n - 1 degrees of freedom).';

/** The report as blocks (report.md and report.html are both rendered from them; charts under their own headings). */
function reproduceBlocks(r: ReproduceReport, env: Environment): Block[] {
  const yes = r.claims.filter((c) => c.direction === 'yes').length;
  const b: Block[] = [
    heading(1, r.title),
    paragraph(r.summary),
    heading(2, `Claims side by side (${yes} of ${r.claims.length} in the paper's direction; ${r.seeds.length} seeds: ${r.seeds.join(', ')})`),
    table(claimTable(r.claims, r.citation)),
    paragraph(DIRECTION_NOTE),
    heading(3, 'Where a claim did not reproduce'),
    claimNotes(r.claims),
    heading(3, "Per-seed values of each claim's quantity"),
    table(claimSeedsTable(r.claims, r.seeds)),
  ];
  for (const s of r.sections) b.push(heading(2, s.title), ...s.blocks);
  b.push(heading(2, 'Charts'));
  for (const c of r.charts) b.push(heading(3, c.title), figures([{ name: c.name, title: c.title }]));
  b.push(
    heading(2, 'Settings'),
    code(JSON.stringify(r.settings, null, 2), 'json'),
    heading(2, 'Versions and machine'),
    paragraph(`unlearnkit ${env.unlearnkit}, Node ${env.node}, node-llama-cpp ${env.nodeLlamaCpp}, ${env.platform}, ${env.cpu} x ${env.cpus}, device ${env.device}; vega ${env.vega ?? '?'}, vega-lite ${env.vegaLite ?? '?'}. Run time ${fmtNum(r.seconds)} s.`),
  );
  return b;
}

export interface WrittenReproduceReport {
  dir: string;
  markdown: string;
  html: string;
  json: string;
}

/** Write the report folder `dir` atomically (see the module comment). */
export async function writeReproduceReport(r: ReproduceReport, dir: string): Promise<WrittenReproduceReport> {
  const target = path.resolve(dir);
  refuseExisting(target);
  const env = describeEnvironment({ engine: true });
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, 'charts'), { recursive: true });
  try {
    const charts = [claimChart(r.claims), ...r.charts];
    const full = { ...r, charts };
    const svgs: Record<string, string> = {};
    for (const c of charts) {
      svgs[c.name] = await renderSvg(c.spec);
      fs.writeFileSync(path.join(tmp, 'charts', `${c.name}.svg`), svgs[c.name]!);
    }
    const blocks = reproduceBlocks(full, env);
    fs.writeFileSync(path.join(tmp, 'report.md'), toMarkdown(blocks));
    fs.writeFileSync(path.join(tmp, 'report.html'), htmlPage(r.title, blocks, svgs));
    fs.writeFileSync(path.join(tmp, 'results.json'), JSON.stringify({ paper: r.paper, citation: r.citation, seeds: r.seeds, claims: r.claims, settings: r.settings, environment: env, seconds: r.seconds, data: r.data }, null, 2) + '\n');
    refuseExisting(target);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { dir: target, markdown: path.join(target, 'report.md'), html: path.join(target, 'report.html'), json: path.join(target, 'results.json') };
}
