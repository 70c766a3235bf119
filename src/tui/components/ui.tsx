/**
 * Small building blocks shared by the screens: titled panels, key hints, an error panel that says
 * what to do, progress bars, a Braille line chart with its axis labels, and status lines.
 */
import React from 'react';
import { Box, Text } from 'ink';
import { lineChart, progressBar } from '../lib/chart.ts';
import { fmtNum, truncate } from '../lib/format.ts';
import type { UiError } from '../lib/errors.ts';

export const theme = {
  accent: 'cyan',
  ok: 'green',
  warn: 'yellow',
  err: 'red',
  muted: 'gray',
} as const;

export function Panel(props: { title?: string; width?: number | string; height?: number; focused?: boolean; children: React.ReactNode; flexGrow?: number }) {
  return (
    <Box
      flexDirection="column"
      borderStyle="round"
      borderColor={props.focused ? theme.accent : theme.muted}
      width={props.width}
      height={props.height}
      flexGrow={props.flexGrow}
      paddingX={1}
      overflow="hidden"
    >
      {props.title ? (
        <Box flexShrink={0} height={1}>
          <Text bold color={props.focused ? theme.accent : undefined} wrap="truncate">
            {props.title}
          </Text>
        </Box>
      ) : null}
      {props.children}
    </Box>
  );
}

/** "key action · key action" in one dim line. */
export function KeyHints({ hints, width }: { hints: Array<[string, string]>; width?: number }) {
  const parts: React.ReactNode[] = [];
  hints.forEach(([k, what], i) => {
    if (i > 0) parts.push(<Text key={`s${i}`} color={theme.muted}>{'  '}</Text>);
    parts.push(
      <Text key={`k${i}`} color={theme.accent} bold>
        {k}
      </Text>,
      <Text key={`w${i}`} color={theme.muted}>
        {' '}
        {what}
      </Text>,
    );
  });
  return (
    <Box width={width} height={1} overflow="hidden">
      <Text wrap="truncate">{parts}</Text>
    </Box>
  );
}

export function ErrorPanel({ error, width }: { error: UiError; width?: number }) {
  return (
    <Box flexDirection="column" borderStyle="round" borderColor={theme.err} paddingX={1} width={width}>
      <Text color={theme.err} bold>
        {error.internal ? 'Unexpected error' : 'Error'}
      </Text>
      <Text wrap="wrap">{error.message}</Text>
      <Text color={theme.warn} wrap="wrap">
        → {error.hint}
      </Text>
    </Box>
  );
}

export function Bar({ label, fraction, width, right }: { label?: string; fraction: number; width: number; right?: string }) {
  const labelW = label ? label.length + 1 : 0;
  const rightText = right ?? `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
  const barW = Math.max(4, width - labelW - rightText.length - 1);
  return (
    <Text wrap="truncate">
      {label ? <Text>{label} </Text> : null}
      <Text color={theme.accent}>{progressBar(fraction, barW)}</Text>
      <Text> {rightText}</Text>
    </Text>
  );
}

/** A titled Braille line chart with the max / min on the left and the last value in the title. */
export function Chart({ title, values, width, height, color = theme.accent, digits = 3 }: { title: string; values: number[]; width: number; height: number; color?: string; digits?: number }) {
  const labels = values.length ? [fmtNum(Math.max(...values.filter(Number.isFinite)), digits), fmtNum(Math.min(...values.filter(Number.isFinite)), digits)] : ['', ''];
  const labelW = Math.max(labels[0]!.length, labels[1]!.length);
  const plotW = Math.max(4, width - labelW - 1);
  const { rows } = lineChart(values, plotW, Math.max(1, height - 1));
  const last = values.length ? values[values.length - 1]! : NaN;
  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate">
        <Text bold>{title}</Text>
        {values.length ? <Text color={theme.muted}> now {fmtNum(last, digits)}</Text> : <Text color={theme.muted}> (no data yet)</Text>}
      </Text>
      {rows.map((r, i) => (
        <Text key={i} wrap="truncate">
          <Text color={theme.muted}>{(i === 0 ? labels[0]! : i === rows.length - 1 ? labels[1]! : '').padStart(labelW)} </Text>
          <Text color={color}>{r}</Text>
        </Text>
      ))}
    </Box>
  );
}

/** Lines a status text takes at `width` (it wraps unless running). */
export function statusLines(status: string, text: string, width: number): number {
  return status === 'running' ? 1 : Math.max(1, Math.ceil((text.length + 2) / Math.max(1, width)));
}

/** A line that says what a job is doing; a spinner while it runs. */
export function StatusLine({ status, text, tick }: { status: string; text: string; tick?: number }) {
  const spin = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
  const icon =
    status === 'running' ? spin[(tick ?? 0) % spin.length] : status === 'cancelling' ? '…' : status === 'done' ? '✓' : status === 'error' ? '✗' : status === 'cancelled' ? '■' : '·';
  const color = status === 'done' ? theme.ok : status === 'error' ? theme.err : status === 'cancelled' || status === 'cancelling' ? theme.warn : theme.accent;
  return (
    <Box flexShrink={0}>
      <Text wrap={status === 'running' ? 'truncate' : 'wrap'}>
        <Text color={color}>{icon} </Text>
        <Text>{text}</Text>
      </Text>
    </Box>
  );
}

/** "label  value" with a fixed label width, truncated to `width`. */
export function KV({ k, v, width, kw = 12, color }: { k: string; v: string; width: number; kw?: number; color?: string }) {
  return (
    <Text wrap="truncate">
      <Text color={theme.muted}>{k.padEnd(kw)}</Text>
      <Text color={color}>{truncate(v, Math.max(1, width - kw))}</Text>
    </Text>
  );
}
