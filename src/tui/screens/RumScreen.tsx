/**
 * RUM: run the image pipeline (memorization, refinement into low / medium / high thirds, the
 * algorithms vanilla vs shuffle vs refined, over seeds) and watch the ToW / MIA-gap table fill in
 * cell by cell, each a mean with its 95% interval over seeds. Esc cancels between models.
 * CLI: `unlearnkit rum table --data D --seeds N --forget-size K --algorithms A,B`.
 */
import React, { useMemo, useState } from 'react';
import { Box, Text } from 'ink';
import { useAppContext, useKeys, useJob, useSyncState, useTicker } from '../context.tsx';
import type { ScreenProps } from '../app.tsx';
import { Bar, ErrorPanel, KeyHints, Panel, StatusLine, theme } from '../components/ui.tsx';
import { Form, type FieldSpec } from '../components/Form.tsx';
import { cliLine, fmtDuration, fmtNum, truncate } from '../lib/format.ts';
import { fixturePath } from '../../util/paths.ts';
import type { RumCell, RumParams } from '../jobs/protocol.ts';

export const RUM_ALGORITHMS = ['finetune', 'neggrad', 'neggrad+', 'l1-sparse', 'salun', 'random-label', 'rum'];
export const RUM_VARIANTS = ['vanilla', 'shuffle', 'refined'];

export function rumParams(v: Record<string, string>): RumParams | string {
  const int = (k: string, label: string, min: number) => {
    const n = Number(v[k]);
    return Number.isInteger(n) && n >= min ? n : `${label} must be an integer >= ${min}, got "${v[k]}"`;
  };
  const seeds = int('seeds', 'seeds', 1);
  const forgetSize = int('forgetSize', 'forget size', 1);
  const models = int('models', 'memorization models', 2);
  for (const x of [seeds, forgetSize, models]) if (typeof x === 'string') return x;
  const algorithms = (v.algorithms ?? '').split(',').filter(Boolean);
  if (!algorithms.length) return 'choose at least one algorithm (Enter on "algorithms")';
  if (!v.data) return 'give the image data: a CIFAR-10 / CIFAR-100 binary folder or file, or MNIST';
  return { data: v.data, seeds: seeds as number, forgetSize: forgetSize as number, models: models as number, algorithms };
}

export function rumCli(p: RumParams): string {
  return cliLine(['rum', 'table'], { data: p.data, seeds: p.seeds, 'forget-size': p.forgetSize, algorithms: p.algorithms.join(','), models: p.models });
}

function ci(x: RumCell['tow']): string {
  return x ? `${fmtNum(x.mean, 3)} [${fmtNum(x.lo, 2)},${fmtNum(x.hi, 2)}]` : '…';
}

export function RumScreen({ active, keysActive, width, height }: ScreenProps) {
  const { editingRef } = useAppContext();
  const [values, setValues, valuesRef] = useSyncState<Record<string, string>>({
    data: fixturePath('cifar10', 'data_batch_1_first1000.bin'),
    seeds: '3',
    forgetSize: '100',
    algorithms: 'finetune,neggrad+,rum',
    models: '16',
  });
  const [formError, setFormError] = useState<string | null>(null);
  const job = useJob('rum');
  const [phase, setPhase] = useState<{ text: string; done?: number; total?: number }>({ text: '' });
  const [cells, setCells] = useState<RumCell[]>([]);
  const [params, setParams] = useState<RumParams | null>(null);
  const tick = useTicker(job.busy, 150);

  const fields: FieldSpec[] = useMemo(
    () => [
      { key: 'data', label: 'data', kind: 'text' },
      { key: 'seeds', label: 'seeds', kind: 'number' },
      { key: 'forgetSize', label: 'forget size', kind: 'number' },
      { key: 'algorithms', label: 'algorithms', kind: 'multi', options: RUM_ALGORITHMS },
      { key: 'models', label: 'mem. models', kind: 'number', help: 'K models on random 70% subsets for the memorization estimate' },
    ],
    [],
  );

  const run = () => {
    if (job.busy) return;
    setFormError(null);
    const p = rumParams(valuesRef.current);
    if (typeof p === 'string') return setFormError(p);
    setCells([]);
    setPhase({ text: 'starting…' });
    setParams(p);
    job.start(p, (e) => {
      if (e.kind === 'phase') setPhase(e);
      else setCells((cs) => [...cs.filter((c) => !(c.algorithm === e.cell.algorithm && c.variant === e.cell.variant)), e.cell]);
    });
  };

  useKeys(
    (input, key) => {
      if (editingRef.current) return;
      if (key.escape && job.busy) return void job.cancel();
      if (input === 'r' && !job.busy) return run();
    },
    keysActive,
  );

  const formW = Math.max(34, Math.floor(width * 0.38));
  const rightW = width - formW;
  const bodyH = height - 2;
  const rw = rightW - 4;
  const s = job.state;
  const algos = params?.algorithms ?? values.algorithms!.split(',').filter(Boolean);
  const statusText =
    s.status === 'running'
      ? phase.text
      : s.status === 'cancelling'
        ? 'cancelling…'
        : s.status === 'done'
          ? `finished in ${fmtDuration(((s.endedAt ?? 0) - (s.startedAt ?? 0)) / 1000)}${s.result?.report ? ` · report ${s.result.report}` : ''}`
          : s.status === 'cancelled'
            ? s.message ?? 'cancelled'
            : s.status === 'error'
              ? 'failed'
              : 'ready: press r to run the table';
  const colW = Math.max(14, Math.floor((rw - 22) / 2));
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box height={bodyH}>
        <Panel title="RUM on images" width={formW} height={bodyH} focused={active && !job.busy}>
          <Form fields={fields} values={values} onChange={(k, v) => setValues((x) => ({ ...x, [k]: v }))} active={active && !job.busy} keysActive={() => keysActive() && !job.isBusy()} width={formW - 4} height={bodyH - 4} labelWidth={11} />
          {formError ? (
            <Text color={theme.err} wrap="wrap">
              ✗ {formError}
            </Text>
          ) : null}
        </Panel>
        <Panel title="ToW / MIA gap (mean [95% CI] over seeds)" width={rightW} height={bodyH}>
          <StatusLine status={s.status} tick={tick} text={statusText} />
          {job.busy && phase.total ? <Bar label="progress" fraction={(phase.done ?? 0) / phase.total} width={rw} right={`${phase.done ?? 0}/${phase.total}`} /> : null}
          {s.error ? <ErrorPanel error={s.error} width={rw} /> : null}
          <Text bold wrap="truncate">
            {'algorithm'.padEnd(13)}
            {'variant'.padEnd(9)}
            {'ToW ↑'.padEnd(colW)}
            {'MIA gap ↓'}
          </Text>
          {algos.flatMap((a) =>
            RUM_VARIANTS.map((v) => {
              const c = cells.find((x) => x.algorithm === a && x.variant === v);
              return (
                <Text key={`${a}/${v}`} wrap="truncate" color={c ? undefined : theme.muted}>
                  {truncate(a, 12).padEnd(13)}
                  {v.padEnd(9)}
                  {truncate(ci(c?.tow ?? null), colW - 1).padEnd(colW)}
                  {ci(c?.miaGap ?? null)}
                </Text>
              );
            }),
          )}
        </Panel>
      </Box>
      <Text color={theme.muted} wrap="truncate">
        {(() => {
          const p = params ?? rumParams(values);
          return typeof p === 'string' ? ' ' : truncate(rumCli(p), width);
        })()}
      </Text>
      <KeyHints hints={job.busy ? [['esc', 'cancel']] : [['↑↓', 'field'], ['enter', 'edit / pick'], ['r', 'run'], ['esc', 'cancel']]} width={width} />
    </Box>
  );
}
