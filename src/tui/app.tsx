/**
 * The unlearnkit terminal UI: a tab bar (1-7 or Tab / Shift-Tab), one screen per part of the
 * toolkit, a status bar, and a help overlay (?). Every screen stays mounted while others are shown,
 * so a fine-tune keeps running (and its chart keeps filling) while you look at the data.
 *
 * Layout: the app is one line shorter than the terminal (so ink redraws in place instead of
 * scrolling) and at least 80 x 24; larger terminals get wider panels and taller charts.
 */
import React, { useCallback, useEffect, useMemo, useState } from 'react';
import { Box, Text, useApp, useStdout } from 'ink';
import { AppProvider, KeyBusProvider, TAB_IDS, useAppContext, useKeys, useSyncState, type AppContextValue, type Services, type SharedState, type TabId } from './context.tsx';
import { theme } from './components/ui.tsx';
import { ModelScreen } from './screens/ModelScreen.tsx';
import { DataScreen } from './screens/DataScreen.tsx';
import { TrainScreen } from './screens/TrainScreen.tsx';
import { UnlearnScreen } from './screens/UnlearnScreen.tsx';
import { CompareScreen } from './screens/CompareScreen.tsx';
import { ReportsScreen } from './screens/ReportsScreen.tsx';
import { RumScreen } from './screens/RumScreen.tsx';
import { HelpOverlay } from './screens/HelpOverlay.tsx';
import { ErrorBoundary } from './components/ErrorBoundary.tsx';
import { truncate } from './lib/format.ts';
import { useSweepLine } from './components/SweepLine.tsx';

const TAB_LABELS: Record<TabId, string> = {
  model: 'Model',
  data: 'Data',
  train: 'Train',
  unlearn: 'Unlearn',
  compare: 'Compare',
  reports: 'Reports',
  rum: 'RUM',
};

export interface ScreenProps {
  /** This screen is shown and has the keys (for rendering). */
  active: boolean;
  /** The same, asked when a key arrives (see useKeys). */
  keysActive: () => boolean;
  width: number;
  height: number;
}

export interface AppProps {
  services: Services;
  initial?: Partial<SharedState>;
  /** Fixed terminal size (tests); otherwise read from stdout and followed on resize. */
  size?: { columns: number; rows: number };
  initialTab?: TabId;
  /** Called once the user has confirmed quitting (after jobs were asked to stop). */
  onQuit?(): void;
}

const MIN_COLUMNS = 80;
const MIN_ROWS = 24;

function useTerminalSize(fixed?: { columns: number; rows: number }): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const read = () => ({ columns: stdout.columns || MIN_COLUMNS, rows: stdout.rows || MIN_ROWS });
  const [size, setSize] = useState(read);
  useEffect(() => {
    if (fixed) return;
    const on = () => setSize(read());
    stdout.on('resize', on);
    return () => {
      stdout.off('resize', on);
    };
  }, [stdout, fixed]); // eslint-disable-line react-hooks/exhaustive-deps
  return fixed ?? size;
}

function initialSharedState(p: Partial<SharedState> = {}): SharedState {
  return {
    modelPath: null,
    model: null,
    modelError: null,
    device: null,
    dataPath: 'dave',
    forget: { split: 'forget' },
    forgetLabel: 'split forget',
    fromRun: null,
    comparison: null,
    notice: null,
    ...p,
  };
}

export function App(props: AppProps) {
  const [state, setState] = useState<SharedState>(() => initialSharedState(props.initial));
  const [tab, setTab, tabRef] = useSyncState<TabId>(props.initialTab ?? 'model');
  const [editing, setEditing, editingRef] = useSyncState(false);
  const update = useCallback((patch: Partial<SharedState>) => setState((s) => ({ ...s, ...patch })), []);
  const ctx = useMemo<AppContextValue>(
    () => ({ services: props.services, state, update, editing, editingRef, setEditing, goto: setTab }),
    [props.services, state, update, editing, editingRef, setEditing, setTab],
  );
  return (
    <KeyBusProvider>
      <AppProvider value={ctx}>
        <Shell tab={tab} tabRef={tabRef} setTab={setTab} size={props.size} onQuit={props.onQuit} />
      </AppProvider>
    </KeyBusProvider>
  );
}

function Shell({ tab, tabRef, setTab, size, onQuit }: { tab: TabId; tabRef: React.MutableRefObject<TabId>; setTab(t: TabId): void; size?: { columns: number; rows: number }; onQuit?(): void }) {
  const { exit } = useApp();
  const { state, editingRef, update } = useAppContext();
  const term = useTerminalSize(size);
  const [help, setHelpState, helpRef] = useSyncState(false);
  const [helpScroll, setHelpScroll] = useSyncState(0);
  const setHelp = (on: boolean) => {
    setHelpScroll(0);
    setHelpState(on);
  };
  const [confirmQuit, setConfirmQuit, confirmRef] = useSyncState(false);
  const columns = Math.max(MIN_COLUMNS, term.columns);
  const rows = Math.max(MIN_ROWS, term.rows);
  const contentH = rows - 3;

  const quit = useCallback(() => {
    onQuit?.();
    exit();
  }, [exit, onQuit]);

  useKeys((input, key) => {
    if (helpRef.current) {
      if (key.escape || input === '?' || input === 'q') setHelp(false);
      else if (key.downArrow || key.pageDown) setHelpScroll((n) => n + (key.pageDown ? 10 : 1));
      else if (key.upArrow || key.pageUp) setHelpScroll((n) => Math.max(0, n - (key.pageUp ? 10 : 1)));
      return;
    }
    if (confirmRef.current) {
      if (input === 'y' || input === 'q') return quit();
      return setConfirmQuit(false);
    }
    // Ctrl-C always works, even while a field is being edited; other keys belong to the field.
    if (key.ctrl && input === 'c') return setConfirmQuit(true);
    if (editingRef.current) return;
    if (input === '?') return setHelp(true);
    if (input === 'q') return setConfirmQuit(true);
    if (key.tab) {
      const i = TAB_IDS.indexOf(tabRef.current);
      return setTab(TAB_IDS[(i + (key.shift ? TAB_IDS.length - 1 : 1)) % TAB_IDS.length]!);
    }
    if (/^[1-7]$/.test(input)) return setTab(TAB_IDS[Number(input) - 1]!);
    if (state.notice && key.escape) update({ notice: null });
  }, true, { global: true });

  const keysActive = useMemo(
    () => Object.fromEntries(TAB_IDS.map((id) => [id, () => !helpRef.current && !confirmRef.current && tabRef.current === id])) as Record<TabId, () => boolean>,
    [helpRef, confirmRef, tabRef],
  );
  const screens: Array<[TabId, React.ComponentType<ScreenProps>]> = [
    ['model', ModelScreen],
    ['data', DataScreen],
    ['train', TrainScreen],
    ['unlearn', UnlearnScreen],
    ['compare', CompareScreen],
    ['reports', ReportsScreen],
    ['rum', RumScreen],
  ];
  if (term.columns < MIN_COLUMNS || term.rows < MIN_ROWS) {
    return (
      <Box flexDirection="column" width={Math.max(20, term.columns)}>
        <Text color={theme.warn} wrap="wrap">
          unlearnkit needs a terminal of at least {MIN_COLUMNS} x {MIN_ROWS}; this one is {term.columns} x {term.rows}. Enlarge the window (q quits).
        </Text>
      </Box>
    );
  }
  return (
    <Box flexDirection="column" width={columns} height={rows - 1}>
      <TabBar tab={tab} width={columns} />
      <Box height={contentH} flexDirection="column">
        {help ? <HelpOverlay width={columns} height={contentH} tab={tab} scroll={helpScroll} /> : null}
        {screens.map(([id, Screen]) => (
          <Box key={id} display={!help && id === tab ? 'flex' : 'none'} flexDirection="column" height={contentH} width={columns}>
            <ErrorBoundary name={TAB_LABELS[id]}>
              <Screen active={!help && !confirmQuit && id === tab} keysActive={keysActive[id]} width={columns} height={contentH} />
            </ErrorBoundary>
          </Box>
        ))}
      </Box>
      <StatusBar width={columns} confirmQuit={confirmQuit} />
    </Box>
  );
}

function TabBar({ tab, width }: { tab: TabId; width: number }) {
  const compact = width < 90;
  return (
    <Box height={1} width={width}>
      <Text wrap="truncate">
        <Text bold color={theme.accent}>
          {compact ? 'ulk ' : 'unlearnkit  '}
        </Text>
        {TAB_IDS.map((id, i) => (
          <Text key={id} inverse={id === tab} bold={id === tab} color={id === tab ? theme.accent : undefined}>
            {` ${i + 1} ${TAB_LABELS[id]} `}
          </Text>
        ))}
        <Text color={theme.muted}> ? help</Text>
      </Text>
    </Box>
  );
}

function StatusBar({ width, confirmQuit }: { width: number; confirmQuit: boolean }) {
  const { state, services } = useAppContext();
  const sweep = useSweepLine(services.cwd);
  if (confirmQuit) {
    return (
      <Box height={1} width={width}>
        <Text color={theme.warn} bold wrap="truncate">
          Quit unlearnkit? Running jobs are cancelled cleanly and a server this TUI started is stopped. y / q = quit, any other key = stay
        </Text>
      </Box>
    );
  }
  const model = state.modelPath ? `model ${state.modelPath}` : 'no model';
  const left = `${sweep ? `${sweep} · ` : ''}${model} · data ${state.dataPath} · forget: ${state.forgetLabel}${state.fromRun ? ` · run ${state.fromRun}` : ''}`;
  return (
    <Box height={1} width={width}>
      <Text wrap="truncate">
        {state.notice ? (
          <Text color={theme.ok}>{truncate(state.notice, width)}</Text>
        ) : (
          <Text color={theme.muted}>{truncate(left, width)}</Text>
        )}
      </Text>
    </Box>
  );
}
