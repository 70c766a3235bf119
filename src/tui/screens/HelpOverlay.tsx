/**
 * Help (?): every key of every screen, the current screen's first. Esc, ? or q closes it.
 */
import React from 'react';
import { Box, Text } from 'ink';
import type { TabId } from '../context.tsx';
import { theme } from '../components/ui.tsx';

export const HELP: Array<{ tab: TabId | 'global'; title: string; keys: Array<[string, string]> }> = [
  {
    tab: 'global',
    title: 'Everywhere',
    keys: [
      ['1-7', 'switch tab'],
      ['Tab / Shift-Tab', 'next / previous tab'],
      ['?', 'this help'],
      ['q / Ctrl-C', 'quit (asks; cancels jobs cleanly)'],
      ['Esc', 'cancel the running job / close'],
      ['↑↓ Enter ←→', 'move, edit, choose in forms'],
      ['Enter (field)', 'edit; Enter keeps, Esc drops'],
    ],
  },
  {
    tab: 'model',
    title: '1 Model & server',
    keys: [
      ['↑↓ Enter', 'choose and open a model'],
      ['p', 'type a model path (GGUF or HF folder)'],
      ['c', 'convert the HF folder to GGUF'],
      ['←→', 'models / server pane'],
      ['s', 'start / stop the local server'],
      ['a', 'attach to a running server'],
      ['P', 'server port'],
      ['Space', 'load / unload the adapter'],
      ['r', 'rescan models and adapters'],
    ],
  },
  {
    tab: 'data',
    title: '2 Data',
    keys: [
      ['←→', 'split'],
      ['↑↓ PgUp PgDn', 'item'],
      ['Enter', 'item details'],
      ['f', 'use this split as forget set'],
      ['/', 'removal request: preview'],
      ['u', 'use the previewed selection'],
      ['e', 'open another dataset'],
    ],
  },
  { tab: 'train', title: '3 Train', keys: [['r', 'fine-tune with the form'], ['Esc', 'cancel after the current step'], ['(hint line)', "the field's allowed range"]] },
  {
    tab: 'unlearn',
    title: '4 Unlearn',
    keys: [
      ['Enter (targets)', 'pick layer targets (Space)'],
      ['r', 'run (2+ targets: compare)'],
      ['Esc', 'cancel at the next step'],
      ['c', 'open the comparison'],
    ],
  },
  {
    tab: 'compare',
    title: '5 Compare targets',
    keys: [
      ['↑↓←→', 'select a cell'],
      ['s', 'sort by column (again: reverse)'],
      ['Enter', 'paired statistics on / off'],
      ['l', 'load a comparison JSON'],
    ],
  },
  {
    tab: 'reports',
    title: '6 Reports',
    keys: [
      ['↑↓', 'run'],
      ['Space', 'mark (one report of several)'],
      ['w', 'evaluate if needed, write report.html'],
      ['o', 'open report.html'],
      ['r', 'refresh'],
    ],
  },
  { tab: 'rum', title: '7 RUM', keys: [['r', 'run the ToW / MIA-gap table'], ['Esc', 'cancel']] },
];

/** The help as lines: a title per screen, then its keys (the current screen first). */
function helpLines(tab: TabId): Array<{ title?: string; current?: boolean; key?: string; what?: string }> {
  const sections = [...HELP.filter((h) => h.tab === tab), ...HELP.filter((h) => h.tab === 'global'), ...HELP.filter((h) => h.tab !== tab && h.tab !== 'global')];
  return sections.flatMap((s) => [{ title: s.title, current: s.tab === tab }, ...s.keys.map(([key, what]) => ({ key, what }))]);
}

/** Every key in columns; ↑↓ / PgUp / PgDn scroll when they do not all fit. */
export function HelpOverlay({ width, height, tab, scroll = 0 }: { width: number; height: number; tab: TabId; scroll?: number }) {
  const lines = helpLines(tab);
  const cols = width >= 120 ? 3 : 2;
  const colW = Math.floor((width - 4) / cols);
  const keyW = Math.min(18, Math.max(...HELP.flatMap((s) => s.keys.map(([k]) => k.length))) + 3);
  const rows = height - 4;
  const pages = Math.max(0, Math.ceil(lines.length / cols) - rows);
  const first = Math.max(0, Math.min(scroll, pages));
  const perCol = Math.max(rows, Math.ceil(lines.length / cols));
  const columns = Array.from({ length: cols }, (_, c) => lines.slice(c * perCol, (c + 1) * perCol).slice(first, first + rows));
  return (
    <Box flexDirection="column" borderStyle="double" borderColor={theme.accent} width={width} height={height} paddingX={1}>
      <Text bold wrap="truncate">
        unlearnkit keys <Text color={theme.muted}>· Esc, ? or q closes · every action is also a CLI command (unlearnkit --help)</Text>
      </Text>
      <Box height={rows}>
        {columns.map((col, c) => (
          // a gutter of 2 between columns: text is truncated before it, never runs into the next column
          <Box key={c} flexDirection="column" width={colW} flexShrink={0} paddingRight={c < cols - 1 ? 2 : 0}>
            {col.map((l, i) =>
              l.title ? (
                <Text key={i} bold color={l.current ? theme.accent : undefined} wrap="truncate">
                  {l.title}
                </Text>
              ) : (
                <Text key={i} wrap="truncate">
                  <Text color={theme.accent}>{`  ${l.key} `.padEnd(keyW)}</Text>
                  <Text>{l.what}</Text>
                </Text>
              ),
            )}
          </Box>
        ))}
      </Box>
      <Text color={theme.muted} wrap="truncate">
        {pages > 0 ? `↑↓ scroll (${first + rows}/${perCol} lines per column)` : ' '}
      </Text>
    </Box>
  );
}
