/**
 * Train: fine-tune the open model on the dataset with the first-epoch gradient record, with a
 * progress bar, a live loss chart, tokens/s, ETA and the record's size on disk. Esc cancels between
 * steps (a run with no finished epoch leaves nothing; one with finished epochs is resumable).
 * CLI: `unlearnkit finetune ...` (the line under the form is the exact command).
 */
import React, { useMemo, useRef, useState } from 'react';
import { Text } from 'ink';
import { useAppContext, useJobKeys, useJob, useSyncState, useTicker } from '../context.tsx';
import type { ScreenProps } from '../app.tsx';
import { Bar, Chart, ErrorPanel, statusLines, theme } from '../components/ui.tsx';
import type { FieldSpec } from '../components/Form.tsx';
import { JobScreen, jobScreenSizes, jobStatusLine } from '../components/JobScreen.tsx';
import { cliLine, etaSeconds, fmtBytes, fmtChange, fmtDuration, fmtNum, truncateStart } from '../lib/format.ts';
import path from 'node:path';
import type { FinetuneParams, FinetuneProgress } from '../jobs/protocol.ts';
import { FINETUNE, formDefaults, formFieldOf, formValueOrDefault, orMessage } from '../../options/index.ts';

type StepEvent = Extract<FinetuneProgress, { kind: 'step' }>;

function defaultOut(now = new Date()): string {
  return `runs/finetune-${now.toISOString().replace(/[:.]/g, '-')}`;
}

/**
 * Parse the form into finetune parameters: every value passes the validator of its declaration
 * (src/options/declarations.ts FINETUNE), so the form refuses what `unlearnkit finetune` refuses,
 * with the same message; a blank field takes the declared default. Returns the message of the first
 * bad value instead.
 */
export function finetuneParams(v: Record<string, string>, model: string, data: string, now = new Date()): FinetuneParams | string {
  const val = <T,>(k: keyof typeof FINETUNE) => formValueOrDefault(FINETUNE[k], v[k]) as T;
  return orMessage(() => ({
    model,
    data,
    splits: val<string[]>('splits'),
    epochs: val<number>('epochs'),
    lr: val<number>('lr'),
    batch: val<number>('batch'),
    optimizer: val<FinetuneParams['optimizer']>('optimizer'),
    filter: v.filter || 'all',
    record: val<FinetuneParams['record']>('record'),
    out: v.out?.trim() || defaultOut(now),
    eval: v.eval === undefined ? true : v.eval === 'yes',
    seed: val<number>('seed'),
    replay: val<number>('replay'),
    weightDecay: val<number>('weightDecay'),
    recordFilter: v.recordFilter?.trim() || undefined,
    recordDtype: val<'f32' | 'f16'>('recordDtype'),
  }));
}

/** The `unlearnkit finetune` command that does the same (flags at their CLI default left out). */
export function finetuneCli(p: FinetuneParams, showOut = true): string {
  const d = FINETUNE;
  const unless = <T,>(v: T, def: T) => (v === def ? undefined : (v as string | number));
  return cliLine(['finetune'], {
    model: p.model,
    data: p.data === 'dave' || p.data === 'datasets/dave' ? undefined : p.data,
    splits: unless(p.splits.join(','), d.splits.default),
    replay: unless(p.replay ?? 0, d.replay.default),
    epochs: unless(p.epochs, d.epochs.default),
    lr: unless(p.lr, d.lr.default),
    batch: unless(p.batch, d.batch.default),
    optimizer: unless(p.optimizer, d.optimizer.default),
    'weight-decay': unless(p.weightDecay ?? 0, d.weightDecay.default),
    filter: unless(p.filter, 'all'),
    record: unless(p.record, d.record.default),
    'record-filter': p.recordFilter,
    'record-dtype': unless(p.recordDtype ?? 'f32', d.recordDtype.default),
    seed: unless(p.seed, 0),
    out: showOut ? p.out : undefined,
    'no-eval': !p.eval,
  });
}

/** The form's fields: every setting from its declaration (kind, choices, hint with the range). */
function finetuneFields(groups: string[]): FieldSpec[] {
  const f = (k: keyof typeof FINETUNE, o: Partial<FieldSpec> = {}) => formFieldOf(FINETUNE[k], o);
  return [
    { key: 'model', label: 'model', kind: 'info' },
    { key: 'data', label: 'data', kind: 'info' },
    f('splits', { kind: 'text', help: 'fact splits to train on, comma-separated (retain only: the retain-only oracle)' }),
    f('epochs'),
    f('lr'),
    f('batch'),
    f('optimizer'),
    f('filter', { kind: 'multi', options: ['all', ...groups] }),
    f('record'),
    f('eval', { help: 'forget / general perplexity before and after' }),
    f('seed'),
    f('out', { help: 'run folder (blank: runs/finetune-<time>)' }),
    f('replay'),
    f('weightDecay', { label: 'wt decay' }),
    f('recordFilter', { label: 'rec filter', kind: 'multi', options: groups }),
    f('recordDtype', { label: 'rec dtype' }),
  ];
}

export function TrainScreen({ active, keysActive, width, height }: ScreenProps) {
  const { state, update } = useAppContext();
  const [values, setValues, valuesRef] = useSyncState<Record<string, string>>({ ...formDefaults(FINETUNE), filter: 'all', out: '' });
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
    () => finetuneFields(groups),
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

  const { bodyH, rw } = jobScreenSizes(width, height);
  const s = job.state;
  const { text: statusText, line: statusLine } = jobStatusLine(s, tick, { running: phase, cancelling: 'cancelling: stopping after the current step…', ready: 'ready: press r to fine-tune' });
  const right: React.ReactNode[] = [statusLine];
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
  const hints: Array<[string, string]> = job.busy ? [['esc', 'cancel (after the current step)'], ['1-7', 'other tabs: training goes on']] : [['↑↓', 'field'], ['enter', 'edit'], ['←→', 'choose'], ['r', 'run'], ['esc', 'cancel']];
  const form = { fields, values: shown, setValues, error: formError };
  return <JobScreen title="Fine-tune" screen={{ active, keysActive, width, height }} job={job} form={form} right={right} cli={cli && typeof cli !== 'string' ? finetuneCli(cli, !!params || !!values.out) : ''} hints={hints} />;
}
