/**
 * Shared state of the terminal UI: the injected services (job runner, server control), the state
 * screens hand to each other (the open model, the dataset and forget set, the last fine-tuning run,
 * the last comparison), and the key lock a text field holds while it is being edited (so typing
 * "q" in a field does not quit).
 */
import React, { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';
import { useInput, type Key } from 'ink';
import type { CompareView, DescribeResult, ForgetChoice, JobKind, JobOutcome, JobTypes, JobRunner } from './jobs/protocol.ts';
import type { ServerControl } from './lib/server.ts';
import type { HfFolderInfo, ModelInfo } from './lib/modelInfo.ts';
import type { UiError } from './lib/errors.ts';

export interface Services {
  jobs: JobRunner;
  server: ServerControl;
  /** Folder that relative paths (runs/, adapters/, reports/) are under. */
  cwd: string;
  /** Open a file in the system viewer; false when there is none (the screen then shows the path). */
  openFile(file: string): Promise<boolean>;
}

export const TAB_IDS = ['model', 'data', 'train', 'unlearn', 'compare', 'reports', 'rum'] as const;
export type TabId = (typeof TAB_IDS)[number];

export interface SharedState {
  modelPath: string | null;
  /** Why this model was chosen (e.g. the fallback to stories260K). */
  modelNote?: string;
  model: ModelInfo | HfFolderInfo | null;
  modelError: UiError | null;
  device: DescribeResult | null;
  dataPath: string;
  forget: ForgetChoice;
  /** Human description of the forget set, e.g. "split forget (113 items)". */
  forgetLabel: string;
  /** The fine-tuning run Unlearn starts from (the last one trained, or picked). */
  fromRun: string | null;
  comparison: CompareView | null;
  /** A one-line message in the status bar (e.g. "fine-tune finished"). */
  notice: string | null;
}

export interface AppContextValue {
  services: Services;
  state: SharedState;
  update(patch: Partial<SharedState>): void;
  /** True while a text field or picker is being edited: screens and global keys stand down. */
  editing: boolean;
  /** The same, current at once (for key handlers; see useSyncState). */
  editingRef: React.MutableRefObject<boolean>;
  setEditing(on: boolean): void;
  goto(tab: TabId): void;
}

const Ctx = createContext<AppContextValue | null>(null);

export function AppProvider({ value, children }: { value: AppContextValue; children: React.ReactNode }) {
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useAppContext(): AppContextValue {
  const v = useContext(Ctx);
  if (!v) throw new Error('useAppContext outside <AppProvider>');
  return v;
}

/** Hold the key lock while `on` (a field in edit mode, a picker open). */
export function useEditLock(on: boolean): void {
  const { setEditing } = useAppContext();
  useEffect(() => {
    if (!on) return;
    setEditing(true);
    return () => setEditing(false);
  }, [on, setEditing]);
}

export type JobStatus = 'idle' | 'running' | 'cancelling' | 'done' | 'cancelled' | 'error';

export interface JobState<R> {
  status: JobStatus;
  result?: R;
  error?: UiError;
  message?: string;
  startedAt?: number;
  endedAt?: number;
}

/**
 * One job slot of a screen: start it (with a progress callback), cancel it (Esc), and its state.
 * A second start while one is running is refused (returns false).
 */
export function useJob<K extends JobKind>(kind: K) {
  const { services } = useAppContext();
  const [state, setState] = useState<JobState<JobTypes[K]['result']>>({ status: 'idle' });
  const handle = useRef<{ cancel(): void } | null>(null);
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  const start = useCallback(
    (params: JobTypes[K]['params'], onProgress: (p: JobTypes[K]['progress']) => void = () => {}, onDone?: (o: JobOutcome<JobTypes[K]['result']>) => void): boolean => {
      if (handle.current) return false;
      const h = services.jobs.start(kind, params, onProgress);
      handle.current = h;
      setState({ status: 'running', startedAt: Date.now() });
      void h.done.then((o) => {
        handle.current = null;
        if (!mounted.current) return;
        const endedAt = Date.now();
        if (o.status === 'done') setState((s) => ({ status: 'done', result: o.result, startedAt: s.startedAt, endedAt }));
        else if (o.status === 'cancelled') setState((s) => ({ status: 'cancelled', message: o.message, startedAt: s.startedAt, endedAt }));
        else setState((s) => ({ status: 'error', error: o.error, startedAt: s.startedAt, endedAt }));
        onDone?.(o);
      });
      return true;
    },
    [services.jobs, kind],
  );
  const cancel = useCallback(() => {
    if (!handle.current) return false;
    handle.current.cancel();
    setState((s) => (s.status === 'running' ? { ...s, status: 'cancelling' } : s));
    return true;
  }, []);
  const reset = useCallback(() => {
    if (!handle.current) setState({ status: 'idle' });
  }, []);
  const busy = state.status === 'running' || state.status === 'cancelling';
  /** Whether a job is running right now (for key handlers). */
  const isBusy = useCallback(() => handle.current !== null, []);
  return useMemo(() => ({ state, start, cancel, reset, busy, isBusy }), [state, start, cancel, reset, busy, isBusy]);
}

/**
 * State whose latest value key handlers can read at once. Keys can arrive faster than React
 * renders (a fast typist, a paste, tmux send-keys, a loaded machine), and a handler's closure only
 * sees the state of the last render; handlers read `ref.current`, which `set` updates immediately.
 */
export function useSyncState<T>(initial: T | (() => T)): [T, (v: T | ((prev: T) => T)) => void, React.MutableRefObject<T>] {
  const [state, setState] = useState<T>(initial);
  const ref = useRef<T>(state);
  const set = useCallback((v: T | ((prev: T) => T)) => {
    const next = typeof v === 'function' ? (v as (prev: T) => T)(ref.current) : v;
    ref.current = next;
    setState(next);
  }, []);
  return [state, set, ref];
}

/**
 * ink's useInput, always calling the handler of the latest render and asking `active` at the
 * moment a key arrives (ink re-subscribes handlers only after React's effects run, which can lag
 * behind a burst of keys).
 */
export function useKeys(handler: (input: string, key: Key) => void, active: boolean | (() => boolean) = true): void {
  const h = useRef(handler);
  h.current = handler;
  const a = useRef(active);
  a.current = active;
  useInput((input, key) => {
    const on = typeof a.current === 'function' ? a.current() : a.current;
    if (on) h.current(input, key);
  });
}

/** Re-render every `ms` while `on` (elapsed times, spinners). */
export function useTicker(on: boolean, ms = 500): number {
  const [n, setN] = useState(0);
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => setN((x) => x + 1), ms);
    return () => clearInterval(t);
  }, [on, ms]);
  return n;
}
