/**
 * Shared state of the terminal UI: the injected services (job runner, server control), the state
 * screens hand to each other (the open model, the dataset and forget set, the last fine-tuning run,
 * the last comparison), and the key lock a text field holds while it is being edited (so typing
 * "q" in a field does not quit).
 */
import React, { createContext, useCallback, useContext, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { useInput, type Key } from 'ink';
import type { CompareView, DescribeResult, ForgetChoice, JobKind, JobOutcome, JobTypes, JobRunner } from './jobs/protocol.ts';
import type { ServerControl } from './lib/server.ts';
import type { HfFolderInfo, ModelInfo } from './lib/modelInfo.ts';
import type { UiError } from './lib/errors.ts';
import { fmtDuration } from './lib/format.ts';

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

type KeyHandler = (input: string, key: Key) => void;

/** The status line of a job screen, by the job's state: `running` while it runs, then what ended it. */
export function jobStatusText(s: JobState<unknown>, t: { running: string; cancelling: string; ready: string; doneSuffix?: string }): string {
  switch (s.status) {
    case 'running':
      return t.running;
    case 'cancelling':
      return t.cancelling;
    case 'done':
      return `finished in ${fmtDuration(((s.endedAt ?? 0) - (s.startedAt ?? 0)) / 1000)}${t.doneSuffix ?? ''}`;
    case 'cancelled':
      return s.message ?? 'cancelled';
    case 'error':
      return 'failed';
    default:
      return t.ready;
  }
}

/**
 * The keys every job screen shares: Esc cancels the running job, r starts one; `extra` gets the
 * other keys. Nothing while a form field is being edited (its keys are the field's).
 */
export function useJobKeys(job: { busy: boolean; cancel(): boolean }, run: () => void, keysActive: () => boolean, extra?: KeyHandler): void {
  const { editingRef } = useAppContext();
  useKeys(
    (input, key) => {
      if (editingRef.current) return;
      if (key.escape && job.busy) return void job.cancel();
      if (input === 'r' && !job.busy) return run();
      extra?.(input, key);
    },
    keysActive,
  );
}
interface KeyEntry {
  handler: React.MutableRefObject<KeyHandler>;
  active: React.MutableRefObject<boolean | (() => boolean)>;
  /** A field being edited: while one is registered, only the newest modal entry (and global ones) get keys. */
  modal: boolean;
  /** Gets every key, even while a field is edited (the shell: Ctrl-C). */
  global: boolean;
}

const KeyBus = createContext<{ add(e: KeyEntry): () => void } | null>(null);

/**
 * One ink input subscription for the whole app, dispatching each key to the handlers registered
 * with useKeys. Handlers register in a layout effect, which runs before the next key can be read,
 * so a field that has just appeared gets the very next key (ink's own useInput subscribes in a
 * passive effect, which can run after keys that were typed quickly).
 */
export function KeyBusProvider({ children }: { children: React.ReactNode }) {
  const entries = useRef<KeyEntry[]>([]);
  useInput((input, key) => {
    const all = [...entries.current];
    const modal = all.filter((e) => e.modal).pop();
    for (const e of all) {
      if (modal && e !== modal && !e.global) continue;
      const on = typeof e.active.current === 'function' ? e.active.current() : e.active.current;
      if (on) e.handler.current(input, key);
    }
  });
  const bus = useMemo(
    () => ({
      add(e: KeyEntry) {
        entries.current.push(e);
        return () => {
          entries.current = entries.current.filter((x) => x !== e);
        };
      },
    }),
    [],
  );
  return <KeyBus.Provider value={bus}>{children}</KeyBus.Provider>;
}

/**
 * Handle keys: `handler` is always the one of the latest render, and `active` is asked when each
 * key arrives (a function reading refs is current even between renders; see useSyncState).
 */
export function useKeys(handler: KeyHandler, active: boolean | (() => boolean) = true, o: { modal?: boolean; global?: boolean } = {}): void {
  const bus = useContext(KeyBus);
  if (!bus) throw new Error('useKeys outside <KeyBusProvider>');
  const h = useRef(handler);
  h.current = handler;
  const a = useRef(active);
  a.current = active;
  useLayoutEffect(() => bus.add({ handler: h, active: a, modal: !!o.modal, global: !!o.global }), [bus, o.modal, o.global]);
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
