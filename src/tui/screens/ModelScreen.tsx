/**
 * Model & server: pick a GGUF (or a Hugging Face folder), see its architecture, sizes, parameter
 * groups, the device the engine computes on and the memory a fine-tune needs; start, stop or attach
 * to the local inference server and toggle adapters on it live.
 * CLI: `unlearnkit inspect <model>`, `unlearnkit doctor`, `unlearnkit serve --model <model>`,
 * and the server's /v1/adapters endpoints.
 */
import React, { useCallback, useEffect, useMemo, useState } from 'react';
import path from 'node:path';
import { Box, Text } from 'ink';
import { useAppContext, useKeys, useJob, useSyncState, useTicker, type JobState } from '../context.tsx';
import type { ConvertView } from '../jobs/protocol.ts';
import type { ScreenProps } from '../app.tsx';
import { ErrorPanel, KeyHints, KV, Panel, StatusLine, theme } from '../components/ui.tsx';
import { TextInput } from '../components/TextInput.tsx';
import { candidateModels, readModelInfo } from '../lib/modelInfo.ts';
import { listAdapterNames, serveArgs, ServerAnswerError, type Health, type ServedAdapter } from '../lib/server.ts';
import { toUiError, type UiError } from '../lib/errors.ts';
import { fmtBytes, truncate, truncateStart } from '../lib/format.ts';

type Pane = 'models' | 'server';
type ServerState = 'stopped' | 'starting' | 'running' | 'attached' | 'stopping';

export function ModelScreen({ active, keysActive, width, height }: ScreenProps) {
  const { services, state, update, editingRef, setEditing } = useAppContext();
  const [pane, setPane, paneRef] = useSyncState<Pane>('models');
  const [models, setModels] = useState<string[]>(() => candidateModels(services.cwd, state.modelPath));
  const [cur, setCur, curRef] = useSyncState(0);
  const [typing, setTypingState, typingRef] = useSyncState<null | 'path' | 'url' | 'port'>(null);
  const setTyping = (t: null | 'path' | 'url' | 'port') => {
    if (t) setEditing(true);
    setTypingState(t);
  };
  const [port, setPort] = useState(8765);
  const [srv, setSrv] = useState<{ status: ServerState; url?: string; health?: Health; error?: UiError }>({ status: 'stopped' });
  const [served, setServed] = useState<ServedAdapter[]>([]);
  const [onDisk, setOnDisk] = useState<string[]>(() => listAdapterNames(path.join(services.cwd, 'adapters')));
  const [adCur, setAdCur, adCurRef] = useSyncState(0);
  const [busyMsg, setBusyMsg] = useState<string | null>(null);
  const describe = useJob('describe');
  const convert = useJob('convert');
  const tick = useTicker(srv.status === 'starting' || srv.status === 'stopping' || describe.busy, 120);

  const open = useCallback(
    (p: string) => {
      try {
        const info = readModelInfo(path.resolve(services.cwd, p));
        update({ modelPath: p, model: info, modelError: null, modelNote: p === state.modelPath ? state.modelNote : undefined });
      } catch (e) {
        update({ modelError: toUiError(e, 'pick another file, or type its path with p') });
      }
    },
    [update, state.modelPath, state.modelNote, services.cwd],
  );

  // Open the initial model and ask the engine which device it computes on (once).
  useEffect(() => {
    if (state.modelPath && !state.model && !state.modelError) open(state.modelPath);
    if (!state.device && describe.state.status === 'idle') {
      describe.start({} as Record<string, never>, undefined, (o) => {
        if (o.status === 'done') update({ device: o.result });
      });
    }
  }, []); // eslint-disable-line react-hooks/exhaustive-deps

  // Rescan the lists whenever the screen is shown (new checkpoints, new adapters).
  useEffect(() => {
    if (!active) return;
    setModels(candidateModels(services.cwd, state.modelPath));
    setOnDisk(listAdapterNames(path.join(services.cwd, 'adapters')));
  }, [active, services.cwd]);

  const adapters = useMemo(() => {
    const names = new Set([...onDisk, ...served.map((a) => a.name)]);
    return [...names].sort().map((n) => ({ name: n, loaded: served.find((a) => a.name === n) }));
  }, [onDisk, served]);

  const refresh = useCallback(async () => {
    try {
      const [h, a] = await Promise.all([services.server.health(), services.server.adapters()]);
      setSrv((s) => ({ ...s, health: h, error: undefined }));
      setServed(a);
    } catch (e) {
      setSrv((s) => ({ ...s, error: toUiError(e) }));
    }
  }, [services.server]);

  const startStop = useCallback(async () => {
    if (srv.status === 'running' || srv.status === 'attached') {
      setSrv((s) => ({ ...s, status: 'stopping' }));
      await services.server.stop();
      setServed([]);
      return setSrv({ status: 'stopped' });
    }
    if (srv.status !== 'stopped') return;
    if (!state.modelPath || state.model?.kind !== 'gguf') {
      return setSrv({ status: 'stopped', error: { message: 'open a GGUF model first', hint: 'choose one in the list on the left and press Enter', internal: false } });
    }
    setSrv({ status: 'starting' });
    try {
      const { url } = await services.server.start({ model: state.modelPath, port, adaptersDir: path.join(services.cwd, 'adapters') });
      setSrv({ status: 'running', url });
      await refresh();
    } catch (e) {
      setSrv({ status: 'stopped', error: toUiError(e, 'press P for another port, or a to attach to the server already running') });
    }
  }, [srv.status, state.modelPath, state.model, port, services, refresh]);

  const attach = useCallback(
    async (url: string) => {
      setSrv({ status: 'starting' });
      try {
        const h = await services.server.attach(url);
        setSrv({ status: 'attached', url: services.server.url ?? url, health: h });
        setServed(await services.server.adapters());
      } catch (e) {
        setSrv({ status: 'stopped', error: toUiError(e, 'check the address (host:port) and that the server is running') });
      }
    },
    [services.server],
  );

  const toggleAdapter = useCallback(async () => {
    const a = adapters[adCurRef.current];
    if (!a) return;
    if (srv.status !== 'running' && srv.status !== 'attached') {
      return setSrv((s) => ({ ...s, error: { message: 'no server to load adapters into', hint: 'start one with s (or attach with a)', internal: false } }));
    }
    setBusyMsg(`${a.loaded ? 'unloading' : 'loading'} ${a.name}…`);
    try {
      if (a.loaded) await services.server.unloadAdapter(a.name);
      else await services.server.loadAdapter(a.name, 1);
      await refresh();
    } catch (e) {
      // LoRA cannot hold this run's change: serve its merged model (what unlearn measured) instead, and say so
      if (e instanceof ServerAnswerError && e.code === 'adapter_needs_merged_model' && srv.status === 'running' && state.modelPath) {
        setBusyMsg(`restarting the server with ${a.name}'s merged model…`);
        try {
          await services.server.stop();
          setServed([]);
          const { url } = await services.server.start({ model: state.modelPath, port, adaptersDir: path.join(services.cwd, 'adapters'), adapters: [a.name] });
          setSrv({ status: 'running', url });
          update({ notice: `${a.name}: a LoRA adapter cannot hold this run's change, so the server now serves its merged model (merged.gguf) instead of ${path.basename(state.modelPath)} + adapter` });
          await refresh();
        } catch (e2) {
          setSrv({ status: 'stopped', error: toUiError(e2) });
        }
        return;
      }
      setSrv((s) => ({ ...s, error: toUiError(e) }));
    } finally {
      setBusyMsg(null);
    }
  }, [adapters, adCurRef, srv.status, services, refresh, state.modelPath, port, update]);

  useKeys(
    (input, key) => {
      if (typingRef.current !== null || editingRef.current) return;
      if (key.leftArrow || key.rightArrow) return setPane((p) => (p === 'models' ? 'server' : 'models'));
      if (input === 's') return void startStop();
      if (input === 'a') return setTyping('url');
      if (input === 'p') return setTyping('path');
      if (input === 'P') return setTyping('port');
      if (input === 'c' && state.model?.kind === 'hf' && !convert.isBusy()) {
        const dir = state.model.path;
        const out = convertTarget(dir);
        convert.start({ dir, out, outtype: 'f32' }, undefined, (o) => {
          if (o.status === 'done') {
            open(out);
            update({ notice: `converted ${dir} to ${out} (${o.result.tensors} tensors)` });
          }
        });
        return;
      }
      if (input === 'r') {
        setModels(candidateModels(services.cwd, state.modelPath));
        setOnDisk(listAdapterNames(path.join(services.cwd, 'adapters')));
        if (srv.status === 'running' || srv.status === 'attached') void refresh();
        return;
      }
      if (paneRef.current === 'models') {
        if (key.upArrow) return setCur((c) => Math.max(0, c - 1));
        if (key.downArrow) return setCur((c) => Math.min(models.length - 1, c + 1));
        if (key.return && models[curRef.current]) return open(models[curRef.current]!);
      } else {
        if (key.upArrow) return setAdCur((c) => Math.max(0, c - 1));
        if (key.downArrow) return setAdCur((c) => Math.min(adapters.length - 1, c + 1));
        if (key.return || input === ' ') return void toggleAdapter();
      }
    },
    keysActive,
  );

  const leftW = Math.max(36, Math.floor(width * 0.45));
  const rightW = width - leftW;
  const bodyH = height - 1;
  const modelsH = Math.max(7, Math.floor(bodyH * 0.45));
  const serverH = bodyH - modelsH;
  const inner = leftW - 4;
  const listRows = Math.max(1, modelsH - 3 - (typing === 'path' ? 1 : 0));
  const first = Math.max(0, Math.min(cur - Math.floor(listRows / 2), models.length - listRows));
  const adRows = Math.max(1, serverH - 6 - (srv.error ? 4 : 0));
  const adFirst = Math.max(0, Math.min(adCur - Math.floor(adRows / 2), adapters.length - adRows));

  const hints: Array<[string, string]> =
    pane === 'models'
      ? [['↑↓', 'choose'], ['enter', 'open'], ['p', 'type path'], ...(state.model?.kind === 'hf' ? ([['c', 'convert to GGUF']] as Array<[string, string]>) : []), ['←→', 'server pane'], ['s', srv.status === 'stopped' ? 'start server' : 'stop server'], ['a', 'attach']]
      : [['↑↓', 'adapter'], ['space', 'load/unload'], ['s', srv.status === 'stopped' ? 'start' : 'stop'], ['a', 'attach'], ['P', `port ${port}`], ['r', 'refresh']];

  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box height={bodyH}>
        <Box flexDirection="column" width={leftW}>
          <Panel title="Models" focused={active && pane === 'models'} height={modelsH} width={leftW}>
            {typing === 'path' ? (
              <Box>
                <Text color={theme.accent}>path </Text>
                <TextInput
                  initial={state.modelPath ?? ''}
                  width={inner - 5}
                  placeholder="a .gguf file or a Hugging Face folder"
                  onSubmit={(v) => {
                    setTyping(null);
                    if (v) open(v);
                  }}
                  onCancel={() => setTyping(null)}
                />
              </Box>
            ) : null}
            {models.length === 0 ? <Text color={theme.muted}>no GGUF files found; press p to type a path</Text> : null}
            {models.slice(first, first + listRows).map((m, j) => {
              const i = first + j;
              const isOpen = !!state.modelPath && path.resolve(services.cwd, m) === path.resolve(services.cwd, state.modelPath);
              return (
                <Text key={m} wrap="truncate" inverse={active && pane === 'models' && i === cur} color={isOpen ? theme.ok : undefined}>
                  {isOpen ? '● ' : '  '}
                  {truncateStart(m, inner - 2)}
                </Text>
              );
            })}
          </Panel>
          <Panel title={`Server: ${srv.status}`} focused={active && pane === 'server'} height={serverH} width={leftW}>
            {typing === 'url' ? (
              <Box>
                <Text color={theme.accent}>attach to </Text>
                <TextInput initial="127.0.0.1:8765" width={inner - 10} onSubmit={(v) => (setTyping(null), void attach(v))} onCancel={() => setTyping(null)} />
              </Box>
            ) : typing === 'port' ? (
              <Box>
                <Text color={theme.accent}>port </Text>
                <TextInput
                  initial={String(port)}
                  width={8}
                  onSubmit={(v) => {
                    setTyping(null);
                    const n = Number(v);
                    if (Number.isInteger(n) && n >= 0 && n < 65536) setPort(n);
                    else setSrv((s) => ({ ...s, error: { message: `port must be an integer 0-65535, got "${v}"`, hint: 'press P and type a port (0 = any free one)', internal: false } }));
                  }}
                  onCancel={() => setTyping(null)}
                />
              </Box>
            ) : null}
            {srv.status === 'starting' || srv.status === 'stopping' ? <StatusLine status="running" tick={tick} text={srv.status === 'starting' ? 'starting the server (loading the model)…' : 'stopping…'} /> : null}
            {srv.url ? <KV k="url" v={`${srv.url}/v1${services.server.owned ? '' : ' (attached)'}`} width={inner} kw={8} /> : null}
            {srv.health ? <KV k="device" v={srv.health.device.description} width={inner} kw={8} /> : null}
            {srv.status === 'stopped' && !srv.error ? (
              <Text color={theme.muted} wrap="truncate">
                {state.modelPath ? `s runs: unlearnkit ${serveArgs({ model: state.modelPath, port, adaptersDir: 'adapters' }).slice(0, 4).join(' ')}` : 'open a model to serve it'}
              </Text>
            ) : null}
            {srv.error ? (
              <Box flexDirection="column">
                <Text color={theme.err} wrap="wrap">
                  ✗ {srv.error.message}
                </Text>
                <Text color={theme.warn} wrap="wrap">
                  → {srv.error.hint}
                </Text>
              </Box>
            ) : null}
            <Text bold wrap="truncate">
              Adapters {busyMsg ? <Text color={theme.muted}>{busyMsg}</Text> : <Text color={theme.muted}>({served.length} loaded)</Text>}
            </Text>
            {adapters.length === 0 ? <Text color={theme.muted}>none in adapters/ yet (unlearning runs write them)</Text> : null}
            {adapters.slice(adFirst, adFirst + adRows).map((a, j) => (
              <Text key={a.name} wrap="truncate" inverse={active && pane === 'server' && adFirst + j === adCur} color={a.loaded ? theme.ok : undefined}>
                {a.loaded ? `[x] ${a.name} ×${a.loaded.scale}` : `[ ] ${a.name}`}
              </Text>
            ))}
          </Panel>
        </Box>
        <Panel title={state.model ? `Model: ${state.model.kind === 'gguf' ? state.model.name : path.basename(state.model.path)}` : 'Model'} width={rightW} height={bodyH}>
          <ModelDetails width={rightW - 4} height={bodyH - 3} tick={tick} describeBusy={describe.busy} describeError={describe.state.error} convert={convert.state} />
        </Panel>
      </Box>
      <KeyHints hints={hints} width={width} />
    </Box>
  );
}

/** Where the TUI writes a converted Hugging Face folder: models/<folder name>.gguf. */
function convertTarget(dir: string): string {
  return path.join('models', `${path.basename(path.resolve(dir))}.gguf`);
}

function ModelDetails({ width, height, tick, describeBusy, describeError, convert }: { width: number; height: number; tick: number; describeBusy: boolean; describeError?: UiError; convert: JobState<ConvertView> }) {
  const { state } = useAppContext();
  const lines: React.ReactNode[] = [];
  const kv = (k: string, v: string, color?: string) => lines.push(<KV key={`${k}${lines.length}`} k={k} v={v} width={width} kw={11} color={color} />);
  if (state.modelNote) lines.push(<Text key="note" color={theme.warn} wrap="wrap">{`note: ${state.modelNote}`}</Text>);
  if (state.modelError) lines.push(<ErrorPanel key="err" error={state.modelError} width={width} />);
  const m = state.model;
  if (m?.kind === 'gguf') {
    const c = m.config;
    kv('arch', `${c.arch}, ${m.parameters.toLocaleString('en-US')} parameters`);
    kv('shape', `${c.nLayer} blocks, embd ${c.nEmbd}, ${c.nHead} heads (${c.nHeadKv} KV)`);
    kv('', `ffn ${c.nFf}, vocab ${c.nVocab}, context ${c.nCtx}, ${c.tiedOutput ? 'tied' : 'separate'} output`);
    kv('storage', `${fmtBytes(m.fileBytes)} · ${Object.entries(m.types).map(([t, n]) => `${n} ${t}`).join(', ')}`);
    kv('train mem', `${fmtBytes(m.trainBytes)} (weights, grads, AdamW) + activations`);
  } else if (m?.kind === 'hf') {
    kv('folder', `Hugging Face: ${m.modelType} ${m.architectures.join(', ')}`);
    kv('shape', `${m.layers ?? '?'} layers, hidden ${m.hidden ?? '?'}, ${m.heads ?? '?'} heads, vocab ${m.vocab ?? '?'}`);
    lines.push(
      <Text key="hfhint" color={theme.warn} wrap="wrap">
        {m.ggufInside.length
          ? `→ unlearnkit trains GGUF files: open ${m.ggufInside[0]} inside it (p), or press c to convert the folder`
          : `→ unlearnkit trains GGUF files: press c to convert it to ${convertTarget(m.path)} (unlearnkit convert ${m.path} ${convertTarget(m.path)})`}
      </Text>,
    );
    if (convert.status !== 'idle') {
      lines.push(
        <StatusLine
          key="conv"
          status={convert.status}
          tick={tick}
          text={convert.status === 'running' ? 'converting…' : convert.status === 'done' ? `converted: ${convert.result!.output}` : convert.status === 'error' ? convert.error!.message : convert.message ?? ''}
        />,
      );
      if (convert.error) lines.push(<Text key="convhint" color={theme.warn} wrap="wrap">{`→ ${convert.error.hint}`}</Text>);
    }
  } else if (!state.modelError) lines.push(<Text key="none" color={theme.muted}>no model open: choose one on the left</Text>);
  const d = state.device;
  if (d) {
    kv('device', `${d.device.type === 'cpu' ? 'CPU' : 'GPU'} · ${d.device.description || d.device.name}`, d.device.type === 'cpu' ? undefined : theme.ok);
    kv('engine', `${d.threads} threads · CPU ${d.cpuVariant} · ggml ${d.ggml} (${d.build})`);
    const gpus = d.devices.filter((x) => x.type !== 'cpu');
    if (gpus.length) kv('gpus', gpus.map((g) => `${g.name}${g.memoryTotal ? ` ${fmtBytes(g.memoryTotal)}` : ''}`).join(', '));
    kv('memory', `${fmtBytes(d.memory.free)} free of ${fmtBytes(d.memory.total)}`);
  } else if (describeBusy) lines.push(<StatusLine key="dev" status="running" tick={tick} text="asking the engine for its device…" />);
  else if (describeError) lines.push(<Text key="deverr" color={theme.err} wrap="truncate">{`device: ${describeError.message}`}</Text>);
  if (m?.kind === 'gguf') {
    const rows = Math.max(0, height - lines.length - 1);
    if (rows > 0) {
      lines.push(
        <Text key="gh" bold wrap="truncate">
          {truncate(`layer targets (${m.groups.length})`, width)}
        </Text>,
      );
      const groups = m.groups.filter((g) => !/:(attn|mlp)$/.test(g.group) || rows > m.groups.length);
      for (const g of groups.slice(0, rows - 1)) {
        lines.push(
          <Text key={g.group} wrap="truncate" color={theme.muted}>
            {`  ${g.group.padEnd(15)}${String(g.tensors).padStart(3)} tensors ${g.parameters.toLocaleString('en-US').padStart(11)}`}
          </Text>,
        );
      }
      if (groups.length > rows - 1) lines.push(<Text key="more" color={theme.muted}>{`  … ${groups.length - rows + 1} more (unlearnkit inspect)`}</Text>);
    }
  }
  return <Box flexDirection="column">{lines}</Box>;
}
