/**
 * The layout the job screens (Train, Unlearn) share: a form panel on the left (42% of the width, at
 * least 36 columns) with the form's error under it, a progress panel on the right, the equivalent
 * CLI line and the key hints at the bottom. The form takes keys only while no job runs.
 */
import React from 'react';
import { Box, Text } from 'ink';
import { KeyHints, Panel, StatusLine, theme } from './ui.tsx';
import { Form, type FieldSpec } from './Form.tsx';
import { truncate } from '../lib/format.ts';
import { jobStatusText, type JobState } from '../context.tsx';

/** Sizes of a job screen: form and progress panel widths, body height, progress content width. */
export function jobScreenSizes(width: number, height: number): { formW: number; rightW: number; bodyH: number; rw: number } {
  const formW = Math.max(36, Math.floor(width * 0.42));
  const rightW = width - formW;
  return { formW, rightW, bodyH: height - 2, rw: rightW - 4 };
}

/** The first line of a progress panel: the job's status text (context.tsx jobStatusText) with its spinner. */
export function jobStatusLine(s: JobState<unknown>, tick: number, texts: Parameters<typeof jobStatusText>[1]): { text: string; line: React.ReactNode } {
  const text = jobStatusText(s, texts);
  return { text, line: <StatusLine key="st" status={s.status} tick={tick} text={text} /> };
}

export interface JobScreenProps {
  /** The form panel's title. */
  title: string;
  /** The screen's own props (app.tsx ScreenProps): visible tab, key gate and size. */
  screen: { active: boolean; keysActive(): boolean; width: number; height: number };
  job: { busy: boolean; isBusy(): boolean };
  /** The form: its fields, the values shown, the setter of the edited values, the error under it. */
  form: { fields: FieldSpec[]; values: Record<string, string>; setValues(f: (x: Record<string, string>) => Record<string, string>): void; error: string | null | undefined };
  /** The progress panel's lines. */
  right: React.ReactNode[];
  /** The CLI command the form stands for ('' when it has none yet). */
  cli: string;
  hints: Array<[string, string]>;
}

export function JobScreen({ title, screen, job, form, right, cli, hints }: JobScreenProps) {
  const { active, width, height } = screen;
  const { formW, rightW, bodyH } = jobScreenSizes(width, height);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box height={bodyH}>
        <Panel title={title} width={formW} height={bodyH} focused={active && !job.busy}>
          <Form fields={form.fields} values={form.values} onChange={(k, v) => form.setValues((x) => ({ ...x, [k]: v }))} active={active && !job.busy} keysActive={() => screen.keysActive() && !job.isBusy()} width={formW - 4} height={bodyH - 4} />
          {form.error ? (
            <Text color={theme.err} wrap="wrap">
              ✗ {form.error}
            </Text>
          ) : null}
        </Panel>
        <Panel title="Progress" width={rightW} height={bodyH}>
          {right}
        </Panel>
      </Box>
      <Text color={theme.muted} wrap="truncate">
        {cli ? truncate(cli, width) : ' '}
      </Text>
      <KeyHints hints={hints} width={width} />
    </Box>
  );
}
