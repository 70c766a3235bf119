/**
 * A running sweep in the status bar: the TUI reads `sweeps/<name>/status.json` (written by
 * `unlearnkit sweep`, src/sweep/status.ts) every 2 s and, while a sweep is running, shows
 * "sweep NAME: 5/12 done, 2 running, ..." in front of the status line. Read-only; nothing shows
 * when no sweep runs. `unlearnkit sweep status` prints the same with one line per job.
 */
import { useEffect, useState } from 'react';
import path from 'node:path';
import { countsLine, isLive, listSweeps } from '../../sweep/status.ts';

/** The line for the newest running sweep under `<cwd>/sweeps`, or null. */
export function sweepLine(cwd: string): string | null {
  const live = listSweeps(path.join(cwd, 'sweeps')).find((s) => isLive(s.status));
  if (!live) return null;
  const s = live.status;
  const running = s.jobs.filter((j) => j.state === 'running');
  const pct = running.length ? ` (${running.map((j) => `${Math.round(100 * (j.progress ?? 0))}%`).join(' ')})` : '';
  return `sweep ${s.sweep}: ${countsLine(s).replace(/ \(\d+ from earlier runs\)/, '')}${pct}`;
}

/** sweepLine(cwd), refreshed every `ms`. */
export function useSweepLine(cwd: string, ms = 2000): string | null {
  const [line, setLine] = useState<string | null>(() => sweepLine(cwd));
  useEffect(() => {
    const t = setInterval(() => setLine(sweepLine(cwd)), ms);
    return () => clearInterval(t);
  }, [cwd, ms]);
  return line;
}
