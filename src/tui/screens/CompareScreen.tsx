/**
 * Compare targets: the matrix of layer targets x metrics from the last compare-targets run (or a
 * comparison JSON loaded with l). Each cell is the mean change after - before over the same items,
 * Cohen's d_z and significance marks; green when the change goes the way unlearning wants and is
 * significant, red when it goes against it. Sort by any column (s), the best target for the sort
 * metric is starred, and Enter shows the selected cell's paired statistics.
 * CLI: `unlearnkit compare-targets ... --json` writes the same table.
 */
import React, { useEffect, useMemo, useState } from 'react';
import fs from 'node:fs';
import path from 'node:path';
import { Box, Text } from 'ink';
import { useAppContext, useKeys, useSyncState } from '../context.tsx';
import type { ScreenProps } from '../app.tsx';
import { ErrorPanel, KeyHints, Panel, theme } from '../components/ui.tsx';
import { TextInput } from '../components/TextInput.tsx';
import { bestTradeoffRow, cellScore, compareViewFromJson, primaryMetric, sortedRows } from '../lib/compare.ts';
import { DEFAULT_UTILITY_BUDGET } from '../../unlearn/defaults.ts';
import { fmtNum, fmtP, pMarks, truncate } from '../lib/format.ts';
import { toUiError, type UiError } from '../lib/errors.ts';
import type { CompareView, PairedStats } from '../jobs/protocol.ts';

const COL_W = 17;

/** The newest comparison written by compare-targets (CLI or TUI) under reports/unlearn/, if any. */
function latestComparison(cwd: string): string | null {
  const dir = path.join(cwd, 'reports', 'unlearn');
  if (!fs.existsSync(dir)) return null;
  const found = fs
    .readdirSync(dir)
    .filter((d) => d.startsWith('compare-targets-') && fs.existsSync(path.join(dir, d, 'compare-targets.json')))
    .sort()
    .reverse();
  return found.length ? path.join('reports', 'unlearn', found[0]!, 'compare-targets.json') : null;
}

function cellText(c: PairedStats | null | undefined): string {
  if (!c) return '-';
  const sign = c.meanDiff >= 0 ? '+' : '';
  const d = Number.isFinite(c.dz) ? ` d${fmtNum(c.dz, 2)}` : '';
  return `${sign}${fmtNum(c.meanDiff, 3)}${d}${pMarks(c.pHolm ?? c.p)}`;
}

export function CompareScreen({ active, keysActive, width, height }: ScreenProps) {
  const { state, update, editingRef, setEditing, services } = useAppContext();
  const view = state.comparison;
  const [sortKey, setSortKey, sortKeyRef] = useSyncState<string | null>(null);
  const [reverse, setReverse] = useSyncState(false);
  const [row, setRow] = useSyncState(0);
  const [col, setCol, colRef] = useSyncState(0);
  const [detail, setDetail] = useSyncState(true);
  const [typing, setTypingState, typingRef] = useSyncState(false);
  const setTyping = (t: boolean) => {
    if (t) setEditing(true);
    setTypingState(t);
  };
  const [error, setError] = useState<UiError | null>(null);

  useEffect(() => {
    if (!view) return;
    setSortKey(primaryMetric(view));
    setReverse(false);
    setRow(0);
    setCol(0);
  }, [view]);

  const order = useMemo(() => (view ? sortedRows(view, sortKey, reverse) : []), [view, sortKey, reverse]);
  // the ★: the Pareto-optimal target within the utility budget (lib/compare.ts), whatever the sort
  const best = useMemo(() => (view ? bestTradeoffRow(view) : -1), [view]);

  const load = (file: string) => {
    try {
      const v = compareViewFromJson(JSON.parse(fs.readFileSync(file, 'utf8')), file);
      setError(null);
      update({ comparison: v });
    } catch (e) {
      setError(toUiError(e, 'give a compare-targets.json (written by unlearnkit compare-targets, or by the Unlearn tab with two or more targets)'));
    }
  };

  useKeys(
    (input, key) => {
      if (typingRef.current || editingRef.current) return;
      if (input === 'l') return setTyping(true);
      if (!view) return;
      const nCols = view.metrics.length;
      if (key.upArrow) return setRow((r) => Math.max(0, r - 1));
      if (key.downArrow) return setRow((r) => Math.min(view.rows.length - 1, r + 1));
      if (key.leftArrow) return setCol((c) => Math.max(0, c - 1));
      if (key.rightArrow) return setCol((c) => Math.min(nCols - 1, c + 1));
      if (key.return) return setDetail((d) => !d);
      if (input === 's') {
        const k = view.metrics[colRef.current]?.key ?? null;
        if (k === sortKeyRef.current) setReverse((r) => !r);
        else {
          setSortKey(k);
          setReverse(false);
        }
        return setRow(0);
      }
    },
    keysActive,
  );

  const header = typing ? (
    <Box>
      <Text color={theme.accent}>load comparison JSON </Text>
      <TextInput
        initial={latestComparison(services.cwd) ?? ''}
        placeholder="path to a compare-targets .json"
        width={width - 21}
        onSubmit={(v) => {
          setTyping(false);
          if (v) load(path.resolve(services.cwd, v));
        }}
        onCancel={() => setTyping(false)}
      />
    </Box>
  ) : view ? (
    <Text wrap="truncate">
      <Text bold>{view.method}</Text>
      <Text color={theme.muted}>{` · ${view.rows.length} targets · sorted by ${view.metrics.find((m) => m.key === sortKey)?.label ?? 'run order'}${reverse ? ' (reversed)' : ''} · `}</Text>
      {best >= 0 ? <Text color={theme.ok}>★ best within +{(DEFAULT_UTILITY_BUDGET * 100).toFixed(0)}%: {view.rows[best]!.target}</Text> : <Text color={theme.warn}>no target within +{(DEFAULT_UTILITY_BUDGET * 100).toFixed(0)}% utility</Text>}
      {view.source ? <Text color={theme.muted}>{` · ${view.source}`}</Text> : null}
    </Text>
  ) : (
    <Text color={theme.muted}>no comparison yet</Text>
  );

  const bodyH = height - 3;
  let body: React.ReactNode;
  if (error) body = <ErrorPanel error={error} width={width} />;
  else if (!view) {
    body = (
      <Panel title="Compare targets" width={width} height={bodyH}>
        <Text wrap="wrap">Run unlearning with two or more layer targets on the Unlearn tab (4): pick targets with Enter on "targets", then r.</Text>
        <Text wrap="wrap" color={theme.muted}>
          Or press l to load a comparison (compare-targets.json, written by `unlearnkit compare-targets` or by this TUI).
        </Text>
      </Panel>
    );
  } else body = <Matrix view={view} order={order} best={best} sortKey={sortKey} reverse={reverse} row={row} col={col} width={width} height={bodyH} detail={detail} active={active} />;

  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box height={1}>{header}</Box>
      <Box height={bodyH} flexDirection="column">
        {body}
      </Box>
      <Text color={theme.muted} wrap="truncate">
        cell: mean change after−before (NLL per token / ROUGE-L), d = Cohen's d_z, * p&lt;.05 ** p&lt;.01 *** p&lt;.001 (Holm across targets) · ↑↓ the wanted direction, green when significant · ▾ sort
      </Text>
      <KeyHints hints={[['↑↓←→', 'cell'], ['s', 'sort by column (again: reverse)'], ['enter', detail ? 'hide stats' : 'show stats'], ['l', 'load JSON']]} width={width} />
    </Box>
  );
}

function Matrix({ view, order, best, sortKey, reverse, row, col, width, height, detail, active }: { view: CompareView; order: number[]; best: number; sortKey: string | null; reverse: boolean; row: number; col: number; width: number; height: number; detail: boolean; active: boolean }) {
  const targetW = Math.min(18, Math.max(8, ...view.rows.map((r) => r.target.length + 3)));
  const visibleCols = Math.max(1, Math.floor((width - 4 - targetW) / COL_W));
  const firstCol = Math.max(0, Math.min(col - visibleCols + 1, view.metrics.length - visibleCols));
  const cols = view.metrics.slice(firstCol, firstCol + visibleCols);
  const detailH = detail ? 7 : 0;
  const tableH = height - detailH;
  const rowsShown = Math.max(1, tableH - 3);
  const firstRow = Math.max(0, Math.min(row - Math.floor(rowsShown / 2), order.length - rowsShown));
  const selIdx = order[row]!;
  const selMetric = view.metrics[col];
  const selCell = selMetric ? view.rows[selIdx]?.cells[selMetric.key] : null;
  return (
    <Box flexDirection="column">
      <Panel width={width} height={tableH} focused={active}>
        <Text bold wrap="truncate">
          {'target'.padEnd(targetW)}
          {cols.map((m) => (
            <Text key={m.key} color={m.key === sortKey ? theme.accent : undefined}>
              {truncate(`${m.key === sortKey ? (reverse ? '▴' : '▾') : ''}${m.label}${m.goal === 'increase' ? ' ↑' : m.goal === 'decrease' ? ' ↓' : ''}`, COL_W - 1).padEnd(COL_W)}
            </Text>
          ))}
          {firstCol + visibleCols < view.metrics.length ? <Text color={theme.muted}>›</Text> : null}
        </Text>
        {order.slice(firstRow, firstRow + rowsShown).map((ri, j) => {
          const r = view.rows[ri]!;
          const isBest = ri === best;
          return (
            <Text key={r.target + ri} wrap="truncate">
              <Text color={isBest ? theme.ok : undefined} bold={isBest}>
                {truncate(`${isBest ? '★ ' : '  '}${r.target}`, targetW - 1).padEnd(targetW)}
              </Text>
              {cols.map((m, k) => {
                const c = r.cells[m.key];
                const sel = firstRow + j === row && firstCol + k === col;
                const sig = c && Number.isFinite(c.p) && (c.pHolm ?? c.p) < 0.05;
                const good = cellScore(view, ri, m.key) > 0;
                const color = !sig || m.goal === 'none' ? undefined : good ? theme.ok : theme.err;
                return (
                  <Text key={m.key} inverse={sel && active} color={color}>
                    {truncate(cellText(c), COL_W - 1).padEnd(COL_W)}
                  </Text>
                );
              })}
            </Text>
          );
        })}
      </Panel>
      {detail ? <StatsPanel target={view.rows[selIdx]?.target ?? ''} metric={selMetric?.label ?? ''} c={selCell} width={width} /> : null}
    </Box>
  );
}

function StatsPanel({ target, metric, c, width }: { target: string; metric: string; c: PairedStats | null | undefined; width: number }) {
  const half = Math.floor((width - 4) / 2);
  return (
    <Panel title={`${target} · ${metric}: paired statistics (after vs before, same items)`} width={width} height={7}>
      {!c ? (
        <Text color={theme.muted}>no measurement for this cell</Text>
      ) : (
        <>
          <Text wrap="truncate">
            {`n ${c.n}`.padEnd(half)}
            {`mean before ${fmtNum(c.before)} → after ${fmtNum(c.after)}`}
          </Text>
          <Text wrap="truncate">
            {`mean change ${fmtNum(c.meanDiff, 4)}`.padEnd(half)}
            {`95% CI [${fmtNum(c.ci[0], 4)}, ${fmtNum(c.ci[1], 4)}]`}
          </Text>
          <Text wrap="truncate">
            {`t(${fmtNum(c.df, 0)}) = ${fmtNum(c.t, 3)}`.padEnd(half)}
            {`p ${fmtP(c.p)}${c.pHolm !== undefined ? ` · Holm ${fmtP(c.pHolm)}` : ''} ${pMarks(c.pHolm ?? c.p)}`}
          </Text>
          <Text wrap="truncate">
            {`Cohen's d_z ${fmtNum(c.dz, 3)}`.padEnd(half)}
            {c.dav !== undefined ? `d_av ${fmtNum(c.dav, 3)}` : ''}
          </Text>
        </>
      )}
    </Panel>
  );
}
