/**
 * The RUM results as plain data (JSON) and a Markdown table in the layout of the paper's Table
 * (method x {vanilla, shuffle, RUM^F} with ToW and MIA gap), means with 95% t-intervals over seeds
 * (src/stats meanCI), plus the paired comparison refined - shuffle and refined - vanilla per
 * algorithm (pairedMeanDiffCI over seeds). The data shape (`RumReport`: rows of named summaries)
 * is kept flat; report.md is rendered by the shared renderer (src/report/document.ts).
 */
import path from 'node:path';
import { pairedMeanDiffCI, type Interval } from '../stats/index.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import type { ExperimentResult, RunRecord, SeedResult } from './experiment.ts';
import { summarize } from './metrics.ts';
import { LEVELS } from './rum.ts';
import { heading, paragraph, table, toMarkdown, type Block } from '../report/document.ts';

export type Summary = ReturnType<typeof summarize>;

export interface TableRow {
  method: string;
  variant: 'original' | 'retrain' | 'vanilla' | 'shuffle' | 'refined' | 'rum';
  tow: Summary;
  miaGap: Summary;
  towMia: Summary;
  accForget: Summary;
  accRetain: Summary;
  accTest: Summary;
  mia: Summary;
  seconds: Summary;
}

export interface Comparison {
  algorithm: string;
  /** refined minus `against`, per seed, paired. */
  against: 'shuffle' | 'vanilla';
  towDiff: Interval | null;
  miaGapDiff: Interval | null;
  towDiffs: number[];
  miaGapDiffs: number[];
  /** Mean ToW of refined > mean ToW of the other variant. */
  refinedHigherTow: boolean;
  /** Mean MIA gap of refined < that of the other variant. */
  refinedLowerMiaGap: boolean;
}

export interface RumReport {
  title: string;
  dataset: string;
  trainSize: number;
  testSize: number;
  seeds: number[];
  forgetSize: number;
  memorization: ExperimentResult['memorization'];
  rumTable: ExperimentResult['rumTable'];
  selection: ExperimentResult['selection'];
  rows: TableRow[];
  comparisons: Comparison[];
  /** Entanglement score of R and S (and of R and each third) in the original model, over seeds. */
  entanglement: Record<'all' | 'low' | 'medium' | 'high', Summary>;
  thirdsMem: Record<'low' | 'medium' | 'high', Summary>;
  seconds: number;
}

function runsOf(seeds: SeedResult[], algorithm: string, variant: string): RunRecord[] {
  return seeds.map((s) => s.runs.find((r) => r.algorithm === algorithm && r.variant === variant)).filter((r): r is RunRecord => !!r);
}

function rowFrom(method: string, variant: TableRow['variant'], runs: RunRecord[]): TableRow {
  const f = (g: (r: RunRecord) => number) => summarize(runs.map(g));
  return {
    method,
    variant,
    tow: f((r) => r.scores.tow),
    miaGap: f((r) => r.scores.miaGap),
    towMia: f((r) => r.scores.towMia),
    accForget: f((r) => r.eval.acc.forget),
    accRetain: f((r) => r.eval.acc.retain),
    accTest: f((r) => r.eval.acc.test),
    mia: f((r) => r.eval.mia),
    seconds: f((r) => r.seconds),
  };
}

export function buildRumReport(res: ExperimentResult): RumReport {
  const seeds = res.seeds;
  const rows: TableRow[] = [];
  // reference rows: the original model scored against the oracle, and the oracle itself
  const pseudo = (pick: (s: SeedResult) => SeedResult['original'], method: string, variant: TableRow['variant']): TableRow =>
    rowFrom(
      method,
      variant,
      seeds.map((s) => {
        const e = pick(s);
        const o = s.oracle;
        const daR = Math.abs(e.acc.retain - o.acc.retain);
        const daT = Math.abs(e.acc.test - o.acc.test);
        const gap = Math.abs(e.mia - o.mia);
        return {
          algorithm: method,
          variant: 'vanilla',
          hyper: {},
          eval: e,
          scores: { tow: (1 - Math.abs(e.acc.forget - o.acc.forget)) * (1 - daR) * (1 - daT), towMia: (1 - gap) * (1 - daR) * (1 - daT), miaGap: gap, acc: e.acc, mia: e.mia },
          seconds: 0,
        };
      }),
    );
  rows.push(pseudo((s) => s.original, 'Original (no unlearning)', 'original'));
  rows.push(pseudo((s) => s.oracle, 'Retrain', 'retrain'));
  const algos = [...new Set(seeds.flatMap((s) => s.runs.filter((r) => r.variant !== 'rum').map((r) => r.algorithm)))];
  const comparisons: Comparison[] = [];
  for (const a of algos) {
    for (const v of ['vanilla', 'shuffle', 'refined'] as const) {
      const runs = runsOf(seeds, a, v);
      if (runs.length > 0) rows.push(rowFrom(a, v, runs));
    }
    for (const against of ['shuffle', 'vanilla'] as const) {
      const pairs = seeds
        .map((s) => [s.runs.find((r) => r.algorithm === a && r.variant === 'refined'), s.runs.find((r) => r.algorithm === a && r.variant === against)] as const)
        .filter((p): p is readonly [RunRecord, RunRecord] => !!p[0] && !!p[1]);
      if (pairs.length === 0) continue;
      const towR = pairs.map((p) => p[0].scores.tow);
      const towO = pairs.map((p) => p[1].scores.tow);
      const gapR = pairs.map((p) => p[0].scores.miaGap);
      const gapO = pairs.map((p) => p[1].scores.miaGap);
      const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
      comparisons.push({
        algorithm: a,
        against,
        towDiff: pairs.length >= 2 ? pairedMeanDiffCI(towR, towO) : null,
        miaGapDiff: pairs.length >= 2 ? pairedMeanDiffCI(gapR, gapO) : null,
        towDiffs: towR.map((v, i) => v - towO[i]!),
        miaGapDiffs: gapR.map((v, i) => v - gapO[i]!),
        refinedHigherTow: mean(towR) > mean(towO),
        refinedLowerMiaGap: mean(gapR) < mean(gapO),
      });
    }
  }
  const rum = runsOf(seeds, 'RUM', 'rum');
  if (rum.length > 0) rows.push(rowFrom(`RUM (${LEVELS.map((l) => res.rumTable?.[l] ?? '?').join(' / ')})`, 'rum', rum));
  const entanglement = {
    all: summarize(seeds.map((s) => s.entanglement.all)),
    low: summarize(seeds.map((s) => s.entanglement.low)),
    medium: summarize(seeds.map((s) => s.entanglement.medium)),
    high: summarize(seeds.map((s) => s.entanglement.high)),
  };
  const thirdsMem = {
    low: summarize(seeds.map((s) => s.thirdsMem.low)),
    medium: summarize(seeds.map((s) => s.thirdsMem.medium)),
    high: summarize(seeds.map((s) => s.thirdsMem.high)),
  };
  return {
    title: 'RUM: unlearning by memorization level',
    dataset: res.dataset,
    trainSize: res.trainSize,
    testSize: res.testSize,
    seeds: seeds.map((s) => s.seed),
    forgetSize: seeds[0]?.forgetSize ?? 0,
    memorization: res.memorization,
    rumTable: res.rumTable,
    selection: res.selection,
    rows,
    comparisons,
    entanglement,
    thirdsMem,
    seconds: res.seconds,
  };
}

/** "0.937 [0.881, 0.993]" (or just the mean with one seed). */
export function fmtSummary(s: Summary, digits = 3): string {
  if (!Number.isFinite(s.estimate)) return 'n/a';
  if (!Number.isFinite(s.lo)) return s.estimate.toFixed(digits);
  return `${s.estimate.toFixed(digits)} [${s.lo.toFixed(digits)}, ${s.hi.toFixed(digits)}]`;
}

function fmtInterval(i: Interval | null, values: number[]): string {
  if (i === null) return values.map((v) => v.toFixed(3)).join(', ');
  const sign = (v: number) => (v >= 0 ? '+' : '') + v.toFixed(3);
  return `${sign(i.estimate)} [${sign(i.lo)}, ${sign(i.hi)}]`;
}

/** report.md: the paper-layout table, the refinement comparisons, RUM's per-subset choice, the forget set's structure (report/document.ts renders it). */
export function renderRumMarkdown(r: RumReport): string {
  const b: Block[] = [
    heading(1, r.title),
    paragraph(
      `Dataset ${r.dataset}: ${r.trainSize} training and ${r.testSize} test images; forget set ${r.forgetSize} examples; ` +
        `seeds ${r.seeds.join(', ')}; memorization from ${r.memorization.models} models on ${Math.round(r.memorization.fraction * 100)}% subsets. ` +
        `Values are means over seeds with 95% t-intervals in brackets.`,
    ),
    table({
      head: ['method', 'variant', 'ToW (higher better)', 'MIA gap (lower better)', 'ToW-MIA', 'acc forget', 'acc retain', 'acc test'],
      rows: r.rows.map((row) => [row.method, row.variant, ...[row.tow, row.miaGap, row.towMia, row.accForget, row.accRetain, row.accTest].map((x) => fmtSummary(x))]),
    }),
  ];
  if (r.comparisons.length > 0) {
    b.push(
      heading(2, 'Refinement (RUM^F) against the controls'),
      paragraph('Paired over seeds: refined minus the other variant (positive ToW difference and negative MIA-gap difference favour refinement).'),
      table({
        head: ['algorithm', 'refined minus', 'ToW difference', 'MIA-gap difference', 'refined has higher ToW', 'refined has lower MIA gap'],
        rows: r.comparisons.map((c) => [c.algorithm, c.against, fmtInterval(c.towDiff, c.towDiffs), fmtInterval(c.miaGapDiff, c.miaGapDiffs), c.refinedHigherTow ? 'yes' : 'no', c.refinedLowerMiaGap ? 'yes' : 'no']),
      }),
    );
  }
  if (r.rumTable) {
    b.push(paragraph(`RUM's algorithm per subset: low = ${r.rumTable.low}, medium = ${r.rumTable.medium}, high = ${r.rumTable.high}` + (r.selection ? ` (selected on held-out seed ${r.selection.seed} by ToW per subset).` : ' (given).')));
    const sel = r.selection;
    if (sel) b.push(table({ head: ['subset', ...sel.candidates], rows: LEVELS.map((l) => [l, ...sel.candidates.map((c) => (sel.tow[l][c] ?? NaN).toFixed(3))]) }));
  }
  b.push(
    heading(2, 'Forget-set structure'),
    table({
      head: ['subset', 'mean memorization', 'entanglement score (R vs subset)'],
      rows: [...LEVELS.map((l) => [l, fmtSummary(r.thirdsMem[l]), fmtSummary(r.entanglement[l], 1)]), ['all of S', '', fmtSummary(r.entanglement.all, 1)]],
    }),
    paragraph(`Total time ${(r.seconds / 60).toFixed(1)} min (memorization models trained in this run: ${(r.memorization.seconds / 60).toFixed(1)} min).`),
  );
  return toMarkdown(b);
}

/** Write report.json and report.md into `dir`; returns their paths. */
export function writeRumReport(dir: string, r: RumReport): { json: string; markdown: string } {
  const json = path.join(dir, 'report.json');
  const markdown = path.join(dir, 'report.md');
  writeJsonAtomic(json, r);
  writeFileAtomic(markdown, renderRumMarkdown(r));
  return { json, markdown };
}
