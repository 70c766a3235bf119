/**
 * Unlearn: choose the run to unlearn from, the method, one or more layer targets, the strategy and
 * the step size; run it; watch forget / retain perplexity and ROUGE move at each interval. With
 * several targets it is a compare-targets run (one adapter per target) and the matrix opens on the
 * Compare tab. Esc cancels at the next step; the unfinished target writes nothing.
 * CLI: `unlearnkit unlearn --from RUN --method M --target T ...`, `unlearnkit compare-targets ...`.
 */
import React, { useEffect, useMemo, useRef, useState } from 'react';
import { Text } from 'ink';
import { useAppContext, useJobKeys, useJob, useSyncState, useTicker } from '../context.tsx';
import type { ScreenProps } from '../app.tsx';
import { Bar, Chart, ErrorPanel, statusLines, theme } from '../components/ui.tsx';
import type { FieldSpec } from '../components/Form.tsx';
import { JobScreen, jobScreenSizes, jobStatusLine } from '../components/JobScreen.tsx';
import { cliLine, fmtChange, fmtNum, truncate } from '../lib/format.ts';
import { finetuneRuns } from '../lib/runs.ts';
import type { UnlearnParams, UnlearnProgress } from '../jobs/protocol.ts';
import { checkOption, orMessage, UNLEARN_DATA, UNLEARN_HYPER } from '../../options/index.ts';
import { DEFAULT_ETA } from '../../unlearn/defaults.ts';

export const METHODS = ['first-epoch', 'all-epochs', 'gradient-ascent', 'grad-diff', 'npo', 'retain-only'];
const STRATEGIES = ['batch', 'iterative', 'fuzzy'];

type EvalEvent = Extract<UnlearnProgress, { kind: 'eval' }>;

/** A perplexity with 3 significant digits (1.64, 23.5, 142). */
const ppl = (x: number) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0)) : '-');

function unlearnParams(v: Record<string, string>, o: { data: string; forget: UnlearnParams['forget'] }): UnlearnParams | string {
  if (!v.from) return 'no fine-tuning run to unlearn from: fine-tune one on the Train tab (3) first';
  const targets = (v.targets ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (!targets.length) return 'choose at least one layer target (Enter on "targets")';
  // eta, steps and seed pass the validator of their declarations (src/options), as on the command line
  const nums = orMessage(() => ({
    // 'auto': the CLI's --eta auto / --steps auto (the largest step within the utility budget, per target)
    eta: checkOption(UNLEARN_HYPER.eta, v.eta ?? '') as number | 'auto',
    steps: v.steps === 'default' || v.steps === '' || v.steps === undefined ? 0 : (checkOption(UNLEARN_HYPER.steps, v.steps) as number | 'auto'),
    seed: checkOption(UNLEARN_DATA.seed, v.seed ?? '') as number,
  }));
  if (typeof nums === 'string') return nums;
  const { eta, steps, seed } = nums;
  if (eta === 'auto' && steps === 'auto') return 'only one step can be searched at a time: give "step size" or "steps" a number';
  const every = Number(v.evalEvery);
  if (!Number.isInteger(every) || every < 0) return `eval every must be a whole number of steps (0 = about 10 points), got "${v.evalEvery}"`;
  const strategy = v.strategy as UnlearnParams['strategy'];
  if (strategy === 'fuzzy' && !('request' in o.forget)) return 'strategy fuzzy needs a removal request: type one on the Data tab (2, then /)';
  return { from: v.from, data: o.data, method: v.method!, targets, strategy, forget: o.forget, eta, steps, evalEvery: every, rouge: v.rouge === 'yes', seed };
}

/**
 * The CLI that does the same: `unlearnkit unlearn` once per target (each writes its adapter); with
 * several targets a shell loop (the TUI then also writes the comparison, as compare-targets does).
 */
function unlearnCli(p: UnlearnParams): string {
  const multi = p.targets.length > 1;
  const line = cliLine(['unlearn'], {
    from: p.from,
    data: p.data === 'datasets/dave' || p.data === 'dave' ? undefined : p.data,
    method: p.method,
    target: multi ? '$t' : p.targets[0],
    ...('request' in p.forget ? { request: p.forget.request } : p.forget.split === 'forget' ? {} : { forget: p.forget.split }),
    strategy: p.strategy === 'batch' || (p.strategy === 'fuzzy' && 'request' in p.forget) ? undefined : p.strategy,
    eta: p.eta === DEFAULT_ETA ? undefined : p.eta,
    steps: p.steps || undefined,
    rouge: p.rouge,
  }).replace("'$t'", '"$t"');
  return multi ? `for t in ${p.targets.join(' ')}; do ${line}; done` : line;
}

export function UnlearnScreen({ active, keysActive, width, height }: ScreenProps) {
  const { state, update, goto, services } = useAppContext();
  const [runs, setRuns] = useState<string[]>(() => finetuneRuns(services.cwd));
  const [values, setValues, valuesRef] = useSyncState<Record<string, string>>({
    from: state.fromRun ?? runs[0] ?? '',
    method: 'first-epoch',
    targets: 'embedding',
    strategy: 'batch',
    eta: String(DEFAULT_ETA),
    steps: 'default',
    evalEvery: '0',
    rouge: 'yes',
    seed: '0',
  });
  const [formError, setFormError] = useState<string | null>(null);
  const job = useJob('unlearn');
  const [phase, setPhase] = useState('');
  const [step, setStep] = useState<{ target: string; step: number; steps: number } | null>(null);
  const evals = useRef<EvalEvent[]>([]);
  const [, bump] = useState(0);
  const [params, setParams] = useState<UnlearnParams | null>(null);
  const tick = useTicker(job.busy, 150);

  // A new fine-tune (Train tab) becomes the run to unlearn from; rescan runs when shown.
  useEffect(() => {
    if (state.fromRun) setValues((v) => ({ ...v, from: state.fromRun! }));
  }, [state.fromRun]);
  useEffect(() => {
    if (active) setRuns(finetuneRuns(services.cwd));
  }, [active, services.cwd]);

  const groups = state.model?.kind === 'gguf' ? state.model.groups.map((g) => g.group) : ['embedding', 'final_norm', 'output'];
  const fromOptions = useMemo(() => [...new Set([...(state.fromRun ? [state.fromRun] : []), ...runs])], [runs, state.fromRun]);
  const fields: FieldSpec[] = useMemo(
    () => [
      { key: 'from', label: 'from run', kind: 'choice', options: fromOptions },
      { key: 'method', label: 'method', kind: 'choice', options: METHODS },
      { key: 'targets', label: 'targets', kind: 'multi', options: ['all', ...groups] },
      { key: 'strategy', label: 'strategy', kind: 'choice', options: STRATEGIES },
      { key: 'forget', label: 'forget', kind: 'info' },
      { key: 'eta', label: 'step size', kind: 'text', help: `stored-gradient methods: multiple of the recorded steps (default ${DEFAULT_ETA} = reverse them once, as the CLI's --eta); auto: the largest within the +5% utility budget, searched per target` },
      { key: 'steps', label: 'steps', kind: 'text', help: 'gradient methods: optimiser steps (default: one pass over the forget set; auto: the most within the +5% utility budget, searched per target)' },
      { key: 'evalEvery', label: 'eval every', kind: 'number', help: 'method steps between perplexity / ROUGE points (0: about 10 per target)' },
      { key: 'rouge', label: 'ROUGE', kind: 'toggle' },
      { key: 'seed', label: 'seed', kind: 'number' },
    ],
    [fromOptions, groups.join(',')], // eslint-disable-line react-hooks/exhaustive-deps
  );
  const shown = { ...values, from: values.from || '(none: fine-tune first)', forget: state.forgetLabel };

  const run = () => {
    if (job.busy) return;
    setFormError(null);
    const p = unlearnParams(valuesRef.current, { data: state.dataPath, forget: state.forget });
    if (typeof p === 'string') return setFormError(p);
    evals.current = [];
    setStep(null);
    setPhase('starting…');
    setParams(p);
    job.start(
      p,
      (e) => {
        if (e.kind === 'phase') setPhase(e.text);
        else if (e.kind === 'step') setStep(e);
        else {
          evals.current.push(e);
          bump((n) => n + 1);
        }
      },
      (o) => {
        if (o.status !== 'done') return;
        update({
          comparison: o.result.comparison ?? null,
          notice: `unlearning finished: ${o.result.runs.map((r) => r.adapterDir).join(', ')}${o.result.runs.length > 1 ? ' · press 5 for the comparison' : ''}`,
        });
      },
    );
  };

  useJobKeys(job, run, keysActive, (input) => {
    if (input === 'c' && job.state.result?.comparison) goto('compare');
  });

  const { bodyH, rw } = jobScreenSizes(width, height);
  const s = job.state;
  const { text: statusText, line: statusLine } = jobStatusLine(s, tick, { running: phase, cancelling: 'cancelling: stopping at the next step…', ready: 'ready: press r to unlearn' });
  const right: React.ReactNode[] = [statusLine];
  if (params && job.busy) {
    const ti = step ? params.targets.indexOf(step.target) : 0;
    if (params.targets.length > 1) right.push(<Bar key="bt" label={`targets ${Math.max(0, ti) + 1}/${params.targets.length}`} fraction={Math.max(0, ti) / params.targets.length} width={rw} />);
    if (step) right.push(<Bar key="bs" label={truncate(step.target, 12)} fraction={step.step / step.steps} width={rw} right={`${step.step}/${step.steps}`} />);
  }
  // Charts of the current (or last) target's interval evaluations.
  const target = step?.target ?? evals.current[evals.current.length - 1]?.target;
  const series = evals.current.filter((e) => e.target === target);
  const r = s.result;
  const tableRows = r ? Math.min(r.runs.length, 4) * 1 + 2 : 0;
  if (series.length) {
    const keys = Object.keys(series[series.length - 1]!.metrics);
    const chartKeys = ['forget ppl', 'retain ppl'].filter((k) => keys.includes(k));
    const rougeKeys = keys.filter((k) => k.endsWith('rougeL'));
    const avail = bodyH - 3 - right.length - (statusLines(s.status, statusText, rw) - 1) - tableRows - (s.error ? 5 : 0) - (rougeKeys.length ? 1 : 0);
    const ch = Math.max(3, Math.floor(avail / Math.max(1, chartKeys.length)));
    for (const k of chartKeys) right.push(<Chart key={k} title={`${target}: ${k}`} values={series.map((e) => e.metrics[k]!)} width={rw} height={ch} color={k.startsWith('forget') ? theme.warn : theme.ok} digits={2} />);
    if (rougeKeys.length) {
      const last = series[series.length - 1]!.metrics;
      const first = series[0]!.metrics;
      right.push(
        <Text key="rouge" wrap="truncate">
          {rougeKeys.map((k) => `${k} ${fmtNum(first[k], 2)}→${fmtNum(last[k], 2)}`).join(' · ')}
        </Text>,
      );
    }
  }
  if (s.error) right.push(<ErrorPanel key="err" error={s.error} width={rw} />);
  if (r) {
    right.push(
      <Text key="rh" bold wrap="truncate">
        {`${'target'.padEnd(14)}${'forget ppl'.padEnd(20)}retain ppl`}
      </Text>,
    );
    for (const run of r.runs.slice(0, 4)) {
      const f = run.metrics['forget ppl'];
      const rt = run.metrics['retain ppl'];
      right.push(
        <Text key={run.runId} wrap="truncate">
          {truncate(run.target, 13).padEnd(14)}
          {(f ? `${ppl(f.before)}→${ppl(f.after)} ${fmtChange(f.before, f.after)}` : '-').padEnd(20)}
          {rt ? `${ppl(rt.before)}→${ppl(rt.after)} ${fmtChange(rt.before, rt.after)}` : '-'}
        </Text>,
      );
    }
    right.push(
      <Text key="next" color={theme.muted} wrap="truncate">
        {r.runs.length > 1 ? 'c or 5: open the comparison' : `adapter ${r.runs[0]?.adapterDir ?? '-'} (load it on tab 1)`}
      </Text>,
    );
  }

  const cli = params ?? unlearnParams(values, { data: state.dataPath, forget: state.forget });
  const hints: Array<[string, string]> = job.busy ? [['esc', 'cancel (next step)'], ['1-7', 'other tabs: it goes on']] : [['↑↓', 'field'], ['enter', 'edit / pick targets'], ['←→', 'choose'], ['r', 'run'], ['c', 'comparison']];
  const form = { fields, values: shown, setValues, error: formError };
  return <JobScreen title="Unlearn" screen={{ active, keysActive, width, height }} job={job} form={form} right={right} cli={typeof cli !== 'string' ? unlearnCli(cli) : ''} hints={hints} />;
}
