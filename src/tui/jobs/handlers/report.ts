/**
 * `report` job: evaluate what has no evaluation yet (`unlearnkit eval`: src/eval evaluate, which
 * resumes finished metrics), then write report.md / report.html over the runs, the first being the
 * baseline (`unlearnkit report`: src/report writeRunReport: paired t-tests, CIs, Cohen's d, charts).
 * Opening the file happens in the TUI process.
 */
import { evaluate } from '../../../eval/evaluate.ts';
import { writeRunReport } from '../../../report/index.ts';
import type { Handler } from './index.ts';

export const run: Handler<'report'> = async (p, { emit, signal }) => {
  for (const [i, e] of (p.evaluate ?? []).entries()) {
    signal.throwIfAborted();
    emit({ kind: 'phase', text: `evaluating ${e.label} (${i + 1}/${p.evaluate!.length})` });
    await evaluate({
      modelPath: e.model,
      adapter: e.adapter,
      data: e.data,
      out: e.out,
      label: e.label,
      method: e.method,
      target: e.target,
      signal,
      onProgress: (ev) => {
        if (ev.phase === 'start') emit({ kind: 'phase', text: `evaluating ${e.label}: ${ev.metric} (${ev.index + 1}/${ev.total})` });
      },
    });
  }
  signal.throwIfAborted();
  emit({ kind: 'phase', text: `writing the report of ${p.runs.length} run(s)` });
  const w = await writeRunReport(p.runs);
  return { html: w.html, markdown: w.markdown, opened: false };
};
