/**
 * `report` job: write report.md / report.html for evaluation runs, as `unlearnkit report RUN...`
 * does (src/report writeRunReport: loads the runs, pairs their items, paired t-tests, CIs, Cohen's
 * d, charts). Opening the file happens in the TUI process (it owns the terminal).
 */
import { writeRunReport } from '../../../report/index.ts';
import type { Handler } from './index.ts';

export const run: Handler<'report'> = async (p, { emit, signal }) => {
  emit({ kind: 'phase', text: `building the report of ${p.runs.length} run(s)` });
  signal.throwIfAborted();
  const w = await writeRunReport(p.runs);
  return { html: w.html, markdown: w.markdown, opened: false };
};
