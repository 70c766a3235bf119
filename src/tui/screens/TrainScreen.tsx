/**
 * Train: fine-tune the open model on the dataset with the first-epoch gradient record, with a
 * progress bar, a live loss chart, tokens/s, ETA and the record's size on disk. Esc cancels between
 * steps (a run with no finished epoch leaves nothing; one with finished epochs is resumable).
 * CLI: `unlearnkit finetune ...` (the line under the form is the exact command).
 */
import React, { useMemo, useRef, useState } from 'react';
import { Box, Text } from 'ink';
import { jobStatusText, useAppContext, useJobKeys, useJob, useSyncState, useTicker } from '../context.tsx';
import type { ScreenProps } from '../app.tsx';
import { Bar, Chart, ErrorPanel, KeyHints, Panel, StatusLine, statusLines, theme } from '../components/ui.tsx';
import { Form, type FieldSpec } from '../components/Form.tsx';
import { cliLine, etaSeconds, fmtBytes, fmtChange, fmtDuration, fmtNum, truncate, truncateStart } from '../lib/format.ts';
import path from 'node:path';
import type { FinetuneParams, FinetuneProgress } from '../jobs/protocol.ts';
import { FINETUNE_DEFAULTS } from '../../train/finetune.ts';

type StepEvent = Extract<FinetuneProgress, { kind: 'step' }>;

export function defaultOut(now = new Date()): string {
  return `runs/finetune-${now.toISOString().replace(/[:.]/g, '-')}`;
}

/** Parse the form into finetune parameters (numbers checked here; the library checks the rest). */
export function finetuneParams(v: Record<string, string>, model: string, data: string, now = new Date()): FinetuneParams | string {
  const num = (k: string, label: string) => {
    const n = Number(v[k]);
    return Number.isFinite(n) && v[k]!.trim() !== '' ? n : `${label} must be a number, got "${v[k]}"`;
  };
  const epochs = num('epochs', 'epochs');
  const lr = num('lr', 'learning rate');
  const batch = num('batch', 'batch');
  const seed = num('seed', 'seed');
  for (const x of [epochs, lr, batch, seed]) if (typeof x === 'string') return x;
  return {
    model,
    data,
    splits: v.splits!.split(',').map((s) => s.trim()).filter(Boolean),
    epochs: epochs as number,
    lr: lr as number,
    batch: batch as number,
    optimizer: v.optimizer as 'adamw' | 'sgd',
    filter: v.filter || 'all',
    record: v.record as FinetuneParams['record'],
    out: v.out?.trim() || defaultOut(now),
    eval: v.eval === 'yes',
    seed: seed as number,
  };
}

/** The `unlearnkit finetune` command that does the same (flags at their CLI default left out). */
export function finetuneCli(p: FinetuneParams, showOut = true): string {
  const d = FINETUNE_DEFAULTS;
  const unless = <T,>(v: T, def: T) => (v === def ? undefined : (v as string | number));
  return cliLine(['finetune'], {
    model: p.model,
    data: p.data === 'dave' || p.data === 'datasets/dave' ? undefined : p.data,
    splits: unless(p.splits.join(','), 'retain,forget,decoy'),
    epochs: unless(p.epochs, d.epochs),
    lr: unless(p.lr, d.lr),
    batch: unless(p.batch, d.batch),
    optimizer: unless(p.optimizer, d.optimizer),
    filter: unless(p.filter, 'all'),
    record: unless(p.record, d.record),
    seed: unless(p.seed, 0),
    out: showOut ? p.out : undefined,
    'no-eval': !p.eval,
  });
}

export function TrainScreen({ active, keysActive, width, height }: ScreenProps) {
  const { state, update } = useAppContext();
  const [values, setValues, valuesRef] = useSyncState<Record<string, string>>({
    splits: 'retain,forget,decoy',
    epochs: String(FINETUNE_DEFAULTS.epochs),
    lr: String(FINETUNE_DEFAULTS.lr),
    batch: String(FINETUNE_DEFAULTS.batch),
    optimizer: FINETUNE_DEFAULTS.optimizer,
    filter: 'all',
    record: FINETUNE_DEFAULTS.record,
    eval: 'yes',
    seed: '0',
    out: '',
  });
  const [formError, setFormError] = useState<string | null>(null);
  const job = useJob('finetune');
  const [phase, setPhase] = useState('');
  const [last, setLast] = useState<StepEvent | null>(null);
  const losses = useRef<number[]>([]);
  /** The record's size (epochs after the first are not recorded, and report 0). */
  const recordMax = useRef(0);
  const firstStep = useRef<{ done: number; elapsed: number } | null>(null);
  const [params, setParams] = useState<FinetuneParams | null>(null);
  const tick = useTicker(job.busy, 150);

  const groups = state.model?.kind === 'gguf' ? state.model.groups.map((g) => g.group) : [];
  const fields: FieldSpec[] = useMemo(
    () => [
      { key: 'model', label: 'model', kind: 'info' },
      { key: 'data', label: 'data', kind: 'info' },
      { key: 'splits', label: 'splits', kind: 'text', help: 'fact splits to train on (retain only: the retain-only oracle)' },
      { key: 'epochs', label: 'epochs', kind: 'number' },
      { key: 'lr', label: 'lr', kind: 'number' },
      { key: 'batch', label: 'batch', kind: 'number' },
      { key: 'optimizer', label: 'optimizer', kind: 'choice', options: ['adamw', 'sgd'] },
      { key: 'filter', label: 'filter', kind: 'multi', options: ['all', ...groups] },
      { key: 'record', label: 'record', kind: 'choice', options: ['first-epoch', 'all-epochs', 'none'] },
      { key: 'eval', label: 'perplexity', kind: 'toggle', help: 'forget / general perplexity before and after' },
      { key: 'seed', label: 'seed', kind: 'number' },
      { key: 'out', label: 'out', kind: 'text', help: 'run folder (blank: runs/finetune-<time>)' },
    ],
    [groups.join(',')], // eslint-disable-line react-hooks/exhaustive-deps
  );
  const shown = { ...values, model: state.modelPath ?? '(open one on tab 1)', data: state.dataPath, out: values.out || '(auto) runs/finetune-<time>' };

  const run = () => {
    if (job.busy) return;
    setFormError(null);
    if (!state.modelPath || state.model?.kind !== 'gguf') return setFormError('open a GGUF model on the Model tab (1) first');
    const p = finetuneParams(valuesRef.current, state.modelPath, state.dataPath);
    if (typeof p === 'string') return setFormError(p);
    losses.current = [];
    recordMax.current = 0;
    firstStep.current = null;
    setLast(null);
    setPhase('starting…');
    setParams(p);
    job.start(
      p,
      (e) => {
        if (e.kind === 'phase') return setPhase(e.text);
        losses.current.push(e.loss);
        recordMax.current = Math.max(recordMax.current, e.recordBytes);
        const done = (e.epoch - 1) * e.stepsPerEpoch + e.step;
        if (!firstStep.current) firstStep.current = { done, elapsed: e.elapsed };
        setLast(e);
      },
      (o) => {
        if (o.status === 'done') update({ fromRun: o.result.out, notice: `fine-tune finished: ${o.result.checkpoint} · press 4 to unlearn from it` });
      },
    );
  };

  useJobKeys(job, run, keysActive);

  const formW = Math.max(36, Math.floor(width * 0.42));
  const rightW = width - formW;
  const bodyH = height - 2;
  const rw = rightW - 4;
  const s = job.state;

  const right: React.ReactNode[] = [];
  const statusText = jobStatusText(s, { running: phase, cancelling: 'cancelling: stopping after the current step…', ready: 'ready: press r to fine-tune' });
  right.push(<StatusLine key="st" status={s.status} tick={tick} text={statusText} />);
  if (last && params) {
    const total = params.epochs * last.stepsPerEpoch;
    const done = (last.epoch - 1) * last.stepsPerEpoch + last.step;
    const f = firstStep.current;
    const eta = f && done > f.done ? etaSeconds(done - f.done, total - f.done, last.elapsed - f.elapsed) : NaN;
    right.push(<Bar key="b1" label={`epoch ${last.epoch}/${params.epochs}`} fraction={last.step / last.stepsPerEpoch} width={rw} right={`${last.step}/${last.stepsPerEpoch}`} />);
    right.push(<Bar key="b2" label="overall    " fraction={done / total} width={rw} />);
    right.push(
      <Text key="nums" wrap="truncate">
        <Text>loss </Text>
        <Text bold>{fmtNum(last.loss, 4)}</Text>
        <Text color={theme.muted}> · </Text>
        <Text>{fmtNum(last.tokensPerSecond, 0)} tok/s</Text>
        <Text color={theme.muted}> · </Text>
        <Text>ETA {job.busy ? fmtDuration(eta) : '-'}</Text>
        <Text color={theme.muted}> · </Text>
        <Text>record {fmtBytes(recordMax.current)}</Text>
      </Text>,
    );
  }
  const r = s.result;
  const summaryLines = r ? 3 + Math.min(r.epochs.length, 3) + (r.perplexity ? 2 : 0) : 0;
  const chartH = Math.max(3, bodyH - 3 - right.length - (statusLines(s.status, statusText, rw) - 1) - summaryLines - (s.error ? 5 : 0));
  if (losses.current.length > 0 || job.busy) right.push(<Chart key="chart" title="loss" values={losses.current} width={rw} height={chartH} />);
  if (s.error) right.push(<ErrorPanel key="err" error={s.error} width={rw} />);
  if (r) {
    right.push(
      <Text key="ck" color={theme.ok} wrap="truncate">
        {`run ${truncateStart(r.out, rw - 4)}`}
      </Text>,
    );
    for (const e of r.epochs.slice(-3)) {
      right.push(<Text key={`e${e.epoch}`} wrap="truncate">{`epoch ${e.epoch}: mean loss ${fmtNum(e.meanLoss, 4)}, ${e.tokens} tokens, ${fmtDuration(e.seconds)}${e.recorded ? ' (recorded)' : ''}`}</Text>);
    }
    right.push(<Text key="rec" wrap="truncate">{`${path.basename(r.checkpoint)}${r.recordDir ? `, gradient record ${fmtBytes(r.recordBytes)} in ${path.basename(r.recordDir)}/` : ', no gradient record'}`}</Text>);
    if (r.perplexity) {
      const { before: b, after: a } = r.perplexity;
      right.push(<Text key="pf" wrap="truncate">{`ppl forget  ${fmtNum(b.forget, 2)} → ${fmtNum(a.forget, 2)} (${fmtChange(b.forget, a.forget)})`}</Text>);
      right.push(<Text key="pg" wrap="truncate">{`ppl general ${fmtNum(b.general, 2)} → ${fmtNum(a.general, 2)} (${fmtChange(b.general, a.general)})`}</Text>);
    }
    right.push(<Text key="next" color={theme.muted} wrap="truncate">press 4 to unlearn from this run</Text>);
  }

  const cli = params ?? (state.modelPath ? finetuneParams(values, state.modelPath, state.dataPath) : null);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box height={bodyH}>
        <Panel title="Fine-tune" width={formW} height={bodyH} focused={active && !job.busy}>
          <Form fields={fields} values={shown} onChange={(k, v) => setValues((x) => ({ ...x, [k]: v }))} active={active && !job.busy} keysActive={() => keysActive() && !job.isBusy()} width={formW - 4} height={bodyH - 4} />
          {formError ? (
            <Text color={theme.err} wrap="wrap">
              ✗ {formError}
            </Text>
          ) : null}
        </Panel>
        <Panel title="Progress" width={rightW} height={bodyH}>
          {right}
        </Panel>
      </Box>
      <Text color={theme.muted} wrap="truncate">
        {cli && typeof cli !== 'string' ? truncate(finetuneCli(cli, !!params || !!values.out), width) : ' '}
      </Text>
      <KeyHints hints={job.busy ? [['esc', 'cancel (after the current step)'], ['1-7', 'other tabs: training goes on']] : [['↑↓', 'field'], ['enter', 'edit'], ['←→', 'choose'], ['r', 'run'], ['esc', 'cancel']]} width={width} />
    </Box>
  );
}
