/**
 * RUM: run the image pipeline (memorization, refinement into low / medium / high thirds, the
 * algorithms vanilla vs shuffle vs refined, over seeds) and watch the ToW / MIA-gap table fill in
 * cell by cell, each a mean with its 95% interval over seeds. Esc cancels between models.
 * CLI: `unlearnkit rum table --data D --seeds N --forget-size K --algorithms A,B`.
 */
import React, { useMemo, useState } from 'react';
import { Box, Text } from 'ink';
import { jobStatusText, useAppContext, useJobKeys, useJob, useSyncState, useTicker } from '../context.tsx';
import type { ScreenProps } from '../app.tsx';
import { Bar, ErrorPanel, KeyHints, Panel, StatusLine, theme } from '../components/ui.tsx';
import { Form, type FieldSpec } from '../components/Form.tsx';
import { cliLine, fmtNum, truncate } from '../lib/format.ts';
import type { RumCell, RumParams } from '../jobs/protocol.ts';
import { checkOption, formFieldOf, orMessage, RUM } from '../../options/index.ts';

/** The unlearning algorithms of src/rum (ALGORITHM_NAMES without the retrain oracle; a test keeps them equal). */
export const RUM_ALGORITHMS = ['finetune', 'l1-sparse', 'neggrad', 'neggrad+', 'salun', 'random-label'];
const RUM_VARIANTS = ['vanilla', 'shuffle', 'refined'];

function rumParams(v: Record<string, string>): RumParams | string {
  // each number checked by the validator of its declaration (src/options RUM), with the CLI's message
  const int = (k: 'trainSize' | 'testSize' | 'epochs' | 'forgetSize' | 'memModels') => orMessage(() => checkOption(RUM[k], v[k] ?? '') as number);
  const nums = { trainSize: int('trainSize'), testSize: int('testSize'), epochs: int('epochs'), forgetSize: int('forgetSize'), memModels: int('memModels') };
  for (const x of Object.values(nums)) if (typeof x === 'string') return x;
  const seeds = (v.seeds ?? '').split(',').map((x) => x.trim()).filter(Boolean).map(Number);
  if (!seeds.length || seeds.some((x) => !Number.isInteger(x) || x < 0)) return `seeds must be whole numbers separated by commas, got "${v.seeds}"`;
  if (new Set(seeds).size !== seeds.length) return 'seeds must be distinct';
  const algorithms = (v.algorithms ?? '').split(',').filter(Boolean);
  if (!algorithms.length) return 'choose at least one algorithm (Enter on "algorithms")';
  if (!v.data) return "give the image data: 'synthetic' (generated CIFAR-format images, not CIFAR), or a CIFAR-10 / CIFAR-100 / MNIST folder";
  return { data: v.data, model: v.model || 'small', seeds, algorithms, rum: v.rum || 'select', ...(nums as Record<keyof typeof nums, number>) };
}

/** The `unlearnkit rum table` command that does the same (flags at their default left out). */
function rumCli(p: RumParams): string {
  return cliLine(['rum', 'table'], {
    data: p.data === 'synthetic' ? undefined : p.data,
    'train-size': p.trainSize === 500 ? undefined : p.trainSize,
    'test-size': p.testSize === 500 ? undefined : p.testSize,
    model: p.model === 'small' ? undefined : p.model,
    epochs: p.epochs === 30 ? undefined : p.epochs,
    seeds: p.seeds.join(',') === '1,2,3' ? undefined : p.seeds.join(','),
    'forget-size': p.forgetSize === 60 ? undefined : p.forgetSize,
    algorithms: p.algorithms.join(',') === 'finetune,neggrad+' ? undefined : p.algorithms.join(','),
    'mem-models': p.memModels === 16 ? undefined : p.memModels,
    rum: p.rum === 'select' ? undefined : p.rum === 'none' ? undefined : p.rum,
    'no-rum': p.rum === 'none',
  });
}

function ci(x: RumCell['tow']): string {
  if (!x) return '…';
  return Number.isFinite(x.lo) ? `${fmtNum(x.mean, 3)} [${fmtNum(x.lo, 2)},${fmtNum(x.hi, 2)}]` : fmtNum(x.mean, 3);
}

/** Rows in the paper's order: references, each algorithm's variants, then RUM; missing ones as placeholders. */
function rumRows(algorithms: string[], cells: RumCell[]): Array<{ algorithm: string; variant: string; cell: RumCell | null }> {
  const find = (a: string, v: string) => cells.find((c) => c.algorithm === a && c.variant === v) ?? null;
  const rows: Array<{ algorithm: string; variant: string; cell: RumCell | null }> = [];
  for (const [a, v] of [['Original', 'original'], ['Retrain', 'retrain']] as const) {
    const c = find(a, v);
    if (c) rows.push({ algorithm: a, variant: v, cell: c });
  }
  for (const a of algorithms) for (const v of RUM_VARIANTS) rows.push({ algorithm: a, variant: v, cell: find(a, v) });
  const rum = cells.find((c) => c.variant === 'rum');
  rows.push({ algorithm: rum?.algorithm ?? 'RUM', variant: 'rum', cell: rum ?? null });
  return rows;
}

export function RumScreen({ active, keysActive, width, height }: ScreenProps) {
  const [values, setValues, valuesRef] = useSyncState<Record<string, string>>({
    data: 'synthetic',
    trainSize: '500',
    testSize: '500',
    model: 'small',
    epochs: '30',
    seeds: '1,2,3',
    forgetSize: '60',
    algorithms: 'finetune,neggrad+',
    memModels: '16',
    rum: 'select',
  });
  const [formError, setFormError] = useState<string | null>(null);
  const job = useJob('rum');
  const [phase, setPhase] = useState<{ text: string; done?: number; total?: number }>({ text: '' });
  const [cells, setCells] = useState<RumCell[]>([]);
  const [params, setParams] = useState<RumParams | null>(null);
  const tick = useTicker(job.busy, 150);

  const fields: FieldSpec[] = useMemo(
    () => [
      { key: 'data', label: 'data', kind: 'text', help: "'synthetic' or a CIFAR-10 / CIFAR-100 / MNIST folder" },
      formFieldOf(RUM.trainSize, { label: 'train size' }),
      formFieldOf(RUM.testSize, { label: 'test size' }),
      { key: 'model', label: 'model', kind: 'choice', options: ['small', 'tiny', 'resnet18'] },
      formFieldOf(RUM.epochs),
      { key: 'seeds', label: 'seeds', kind: 'text' },
      formFieldOf(RUM.forgetSize, { label: 'forget size' }),
      { key: 'algorithms', label: 'algorithms', kind: 'multi', options: RUM_ALGORITHMS },
      formFieldOf(RUM.memModels, { label: 'mem. models', help: 'K models on random 70% subsets for the memorization estimate (integer >= 2)' }),
      { key: 'rum', label: 'RUM row', kind: 'text', help: "select (on a held-out seed), none, or low=A,medium=B,high=C" },
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

  useJobKeys(job, run, keysActive);

  const formW = Math.max(34, Math.floor(width * 0.38));
  const rightW = width - formW;
  const bodyH = height - 2;
  const rw = rightW - 4;
  const s = job.state;
  const algos = params?.algorithms ?? values.algorithms!.split(',').filter(Boolean);
  const statusText = jobStatusText(s, { running: phase.text, cancelling: 'cancelling…', ready: 'ready: press r to run the table', doneSuffix: s.result?.report ? ` · report ${s.result.report}` : '' });
  const colW = Math.max(14, Math.floor((rw - 21) / 2));
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
            {'algorithm'.padEnd(12)}
            {'variant'.padEnd(9)}
            {'ToW ↑'.padEnd(colW)}
            {'MIA gap ↓'}
          </Text>
          {rumRows(algos, cells)
            .slice(0, Math.max(1, bodyH - 5 - (job.busy && phase.total ? 1 : 0) - (s.error ? 5 : 0)))
            .map(({ algorithm, variant, cell }) => (
              <Text key={`${algorithm}/${variant}`} wrap="truncate" color={cell ? (variant === 'refined' || variant === 'rum' ? theme.ok : undefined) : theme.muted}>
                {truncate(algorithm, 11).padEnd(12)}
                {variant.padEnd(9)}
                {truncate(ci(cell?.tow ?? null), colW - 1).padEnd(colW)}
                {ci(cell?.miaGap ?? null)}
              </Text>
            ))}
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
