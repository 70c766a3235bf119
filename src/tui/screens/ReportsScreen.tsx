/**
 * Reports: every run on disk (fine-tunes in runs/, unlearning adapters in adapters/, evaluations
 * and reports in reports/), its summary, and the HTML report: w writes it for the marked
 * evaluation runs (space marks several: one report comparing them), o opens it.
 * CLI: `unlearnkit report RUN... [--open]`.
 */
import React, { useEffect, useMemo, useState } from 'react';
import path from 'node:path';
import { Box, Text } from 'ink';
import { useAppContext, useKeys, useJob, useSyncState, useTicker } from '../context.tsx';
import type { ScreenProps } from '../app.tsx';
import { ErrorPanel, KeyHints, Panel, StatusLine, theme } from '../components/ui.tsx';
import { listRuns, planReport, reportCli, summaryLines, type RunEntry } from '../lib/runs.ts';
import { truncate } from '../lib/format.ts';
import type { UiError } from '../lib/errors.ts';

const KIND_TAG: Record<string, string> = { finetune: 'FT', unlearn: 'UL', report: 'EV' };

export function ReportsScreen({ active, keysActive, width, height }: ScreenProps) {
  const { services, editingRef, update, state } = useAppContext();
  const [phase, setPhase] = useState('');
  const [runs, setRuns] = useState<RunEntry[]>(() => listRuns(services.cwd));
  const [cur, setCur, curRef] = useSyncState(0);
  const [marked, setMarked, markedRef] = useSyncState<Set<string>>(new Set());
  const [msg, setMsg] = useState<{ text: string; error?: UiError } | null>(null);
  const job = useJob('report');
  const tick = useTicker(job.busy, 150);

  useEffect(() => {
    if (active) setRuns(listRuns(services.cwd));
  }, [active, services.cwd]);
  const sel = runs[Math.min(cur, runs.length - 1)];
  const lines = useMemo(() => (sel ? summaryLines(sel.summary, 200) : []), [sel]);

  const chosenRuns = (): RunEntry[] => {
    const marked = markedRef.current;
    const sel = runs[Math.min(curRef.current, runs.length - 1)];
    return marked.size ? runs.filter((r) => marked.has(r.id)) : sel ? [sel] : [];
  };

  const write = () => {
    const chosen = chosenRuns();
    if (!chosen.length) return;
    const plan = planReport(chosen, services.cwd, state.dataPath);
    if (typeof plan === 'string') return setMsg({ text: '', error: { message: plan, hint: 'choose an evaluation, an unlearning or a fine-tuning run', internal: false } });
    setMsg(null);
    job.start({ evaluate: plan.evaluate, runs: plan.runs, open: false }, (e) => setPhase(e.text), (o) => {
      if (o.status === 'done') {
        setRuns(listRuns(services.cwd));
        setMsg({ text: `wrote ${o.result.html} (o opens it)` });
        update({ notice: `report written: ${o.result.html}` });
      }
    });
  };

  const open = async () => {
    const sel = runs[Math.min(curRef.current, runs.length - 1)];
    const file = sel?.html ?? sel?.markdown;
    if (!file) return setMsg({ text: '', error: { message: `${sel?.id ?? 'this run'} has no report.html yet`, hint: 'press w to write it', internal: false } });
    const ok = await services.openFile(file);
    setMsg({ text: ok ? `opened ${file}` : `no viewer found: open ${file} yourself` });
  };

  useKeys(
    (input, key) => {
      if (editingRef.current) return;
      const sel = runs[Math.min(curRef.current, runs.length - 1)];
      if (key.escape && job.busy) return void job.cancel();
      if (key.upArrow) return setCur((c) => Math.max(0, c - 1));
      if (key.downArrow) return setCur((c) => Math.min(runs.length - 1, c + 1));
      if (input === ' ' && sel) {
        const n = new Set(markedRef.current);
        if (n.has(sel.id)) n.delete(sel.id);
        else n.add(sel.id);
        return setMarked(n);
      }
      if (input === 'w' && !job.busy) return write();
      if (input === 'o') return void open();
      if (input === 'r') return setRuns(listRuns(services.cwd));
    },
    keysActive,
  );

  const listW = Math.max(34, Math.floor(width * 0.42));
  const rightW = width - listW;
  const bodyH = height - 2;
  const rows = Math.max(1, bodyH - 3);
  const first = Math.max(0, Math.min(cur - Math.floor(rows / 2), runs.length - rows));
  const inner = listW - 4;
  const detailRows = Math.max(1, bodyH - 4 - (msg ? 3 : 0) - (job.busy ? 1 : 0));
  const cliPlan = useMemo(() => {
    const chosen = marked.size ? runs.filter((r) => marked.has(r.id)) : sel ? [sel] : [];
    const plan = chosen.length ? planReport(chosen, services.cwd, state.dataPath) : null;
    return plan && typeof plan !== 'string' ? reportCli(plan) : ' ';
  }, [marked, runs, sel, services.cwd, state.dataPath]);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box height={bodyH}>
        <Panel title={`Runs (${runs.length})${marked.size ? ` · ${marked.size} marked` : ''}`} width={listW} height={bodyH} focused={active}>
          {runs.length === 0 ? <Text color={theme.muted}>no runs yet: fine-tune (3) or unlearn (4) first</Text> : null}
          {runs.slice(first, first + rows).map((r, j) => {
            const i = first + j;
            const tags = r.kinds.map((k) => KIND_TAG[k]).join('+');
            return (
              <Text key={r.id} wrap="truncate" inverse={i === cur && active}>
                <Text color={marked.has(r.id) ? theme.accent : theme.muted}>{marked.has(r.id) ? '◆ ' : '  '}</Text>
                <Text color={r.html || r.markdown ? theme.ok : undefined}>{tags.padEnd(6)}</Text>
                {truncate(r.id, inner - 8)}
              </Text>
            );
          })}
        </Panel>
        <Panel title={sel ? sel.id : 'Summary'} width={rightW} height={bodyH}>
          {job.busy ? <StatusLine status="running" tick={tick} text={phase || 'writing the report…'} /> : null}
          {msg?.error ? <ErrorPanel error={msg.error} width={rightW - 4} /> : msg ? <Text color={theme.ok} wrap="wrap">{msg.text}</Text> : null}
          {job.state.error && !job.busy ? <ErrorPanel error={job.state.error} width={rightW - 4} /> : null}
          {sel ? (
            <>
              {Object.entries(sel.dirs).map(([k, d]) => (
                <Text key={k} color={theme.muted} wrap="truncate">{`${k.padEnd(9)}${path.relative(services.cwd, d!) || d}`}</Text>
              ))}
              {sel.html || sel.markdown ? <Text color={theme.ok} wrap="truncate">{`report   ${path.relative(services.cwd, (sel.html ?? sel.markdown)!)}`}</Text> : null}
              {lines.slice(0, Math.max(0, detailRows - Object.keys(sel.dirs).length - (sel.html || sel.markdown ? 1 : 0))).map((l, i) => (
                <Text key={i} wrap="truncate">
                  {l}
                </Text>
              ))}
            </>
          ) : null}
        </Panel>
      </Box>
      <Text color={theme.muted} wrap="truncate">
        {truncate(cliPlan, width)}
      </Text>
      <KeyHints hints={[['↑↓', 'run'], ['space', 'mark'], ['w', 'write report'], ['o', 'open HTML'], ['r', 'refresh'], ['esc', 'cancel']]} width={width} />
    </Box>
  );
}
