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
      ['Enter in a field', 'edit; Enter keeps, Esc drops'],
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
  { tab: 'train', title: '3 Train', keys: [['r', 'fine-tune with the form'], ['Esc', 'cancel after the current step']] },
  {
    tab: 'unlearn',
    title: '4 Unlearn',
    keys: [
      ['Enter on targets', 'pick layer targets (Space)'],
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
      ['w', 'write report.md + .html'],
      ['o', 'open report.html'],
      ['r', 'refresh'],
    ],
  },
  { tab: 'rum', title: '7 RUM', keys: [['r', 'run the ToW / MIA-gap table'], ['Esc', 'cancel']] },
];

export function HelpOverlay({ width, height, tab }: { width: number; height: number; tab: TabId }) {
  const sections = [...HELP.filter((h) => h.tab === tab), ...HELP.filter((h) => h.tab === 'global'), ...HELP.filter((h) => h.tab !== tab && h.tab !== 'global')];
  const colW = Math.floor((width - 4) / 2);
  const keyW = 17;
  // Two columns, filled top to bottom.
  const lines: Array<{ text: React.ReactNode; key: string }> = [];
  for (const s of sections) {
    lines.push({
      key: s.title,
      text: (
        <Text bold color={s.tab === tab ? theme.accent : undefined}>
          {s.title}
        </Text>
      ),
    });
    for (const [k, what] of s.keys) {
      lines.push({
        key: `${s.title}:${k}`,
        text: (
          <Text wrap="truncate">
            <Text color={theme.accent}>{`  ${k}`.padEnd(keyW)}</Text>
            <Text>{what.slice(0, colW - keyW - 1)}</Text>
          </Text>
        ),
      });
    }
  }
  const rows = height - 3;
  const left = lines.slice(0, rows);
  const right = lines.slice(rows, rows * 2);
  return (
    <Box flexDirection="column" borderStyle="double" borderColor={theme.accent} width={width} height={height} paddingX={1}>
      <Text bold wrap="truncate">
        unlearnkit keys <Text color={theme.muted}>(Esc, ? or q closes · every action is also a CLI command: unlearnkit --help)</Text>
      </Text>
      <Box>
        <Box flexDirection="column" width={colW}>
          {left.map((l) => (
            <Box key={l.key} height={1}>
              {l.text}
            </Box>
          ))}
        </Box>
        <Box flexDirection="column" width={colW}>
          {right.map((l) => (
            <Box key={l.key} height={1}>
              {l.text}
            </Box>
          ))}
        </Box>
      </Box>
    </Box>
  );
}
