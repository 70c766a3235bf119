/**
 * Data: browse the forget / retain / holdout / decoy / general sets of a dataset; choose the forget
 * set (a split, or a removal request resolved by fuzzy matching, previewed here with the decoys it
 * caught highlighted and its precision / recall against the true forget set).
 * CLI: `unlearnkit data info|show <set>`; the request is `unlearnkit unlearn --request "..."`.
 */
import React, { useEffect, useMemo, useState } from 'react';
import { Box, Text } from 'ink';
import { useAppContext, useKeys, useJob, useSyncState, useTicker } from '../context.tsx';
import type { ScreenProps } from '../app.tsx';
import { ErrorPanel, KeyHints, Panel, StatusLine, theme } from '../components/ui.tsx';
import { TextInput } from '../components/TextInput.tsx';
import { getDataset, type Dataset } from '../../data/dataset.ts';
import { ALL_SPLITS, type AnySplit, type FactItem, type TextItem } from '../../data/types.ts';
import { toUiError, type UiError } from '../lib/errors.ts';
import { fmtNum, truncate } from '../lib/format.ts';
import type { FuzzyView } from '../jobs/protocol.ts';

/**
 * People per split for the header, as `unlearnkit data info` counts them: splits with items only
 * (TOFU's real_authors / world_facts are not people sets); a TOFU dataset whose authors are not
 * grouped says how to group them instead of counting (never "null people").
 */
export function peopleText(ds: Dataset): string {
  const counts = ds.counts() as Record<string, number>;
  const parts: string[] = [];
  let ungrouped = false;
  for (const [s, n] of Object.entries(ds.people())) {
    if (!counts[s] || (ds.format === 'tofu' && (s === 'real_authors' || s === 'world_facts'))) continue;
    if (n === null) ungrouped = true;
    else parts.push(`${s} ${n} people`);
  }
  if (ungrouped) parts.push('authors not grouped (--group-by FIELD or --group-size N)');
  return parts.join(', ');
}

type Item = FactItem | TextItem;

function isFact(i: Item): i is FactItem {
  return 'statement' in i;
}

function openDataset(p: string): { ds: Dataset | null; error: UiError | null } {
  try {
    return { ds: getDataset(p), error: null };
  } catch (e) {
    return { ds: null, error: toUiError(e, 'press e and type a dataset: dave, a Dave-format folder, or a TOFU .json/.jsonl file') };
  }
}

export function DataScreen({ active, keysActive, width, height }: ScreenProps) {
  const { state, update, editingRef, setEditing } = useAppContext();
  const [{ ds, error }, setOpened] = useState(() => openDataset(state.dataPath));
  const [split, setSplit, splitRef] = useSyncState<AnySplit>('forget');
  const [cur, setCur, curRef] = useSyncState(0);
  const [detail, setDetail, detailRef] = useSyncState(false);
  const [typing, setTypingState, typingRef] = useSyncState<null | 'path' | 'request'>(null);
  const setTyping = (t: null | 'path' | 'request') => {
    if (t) setEditing(true);
    setTypingState(t);
  };
  const [preview, setPreview, previewRef] = useSyncState<FuzzyView | null>(null);
  const [pcur, setPcur] = useSyncState(0);
  const fuzzy = useJob('fuzzy');
  const tick = useTicker(fuzzy.busy, 120);

  useEffect(() => setOpened(openDataset(state.dataPath)), [state.dataPath]);
  const items: Item[] = useMemo(() => (ds ? (split === 'general' ? ds.texts() : ds.facts(split)) : []), [ds, split]);
  const counts = useMemo(() => (ds ? ds.counts() : null), [ds]);
  useEffect(() => setCur(0), [split, ds]);

  const runFuzzy = (request: string) => {
    setPreview(null);
    fuzzy.start({ data: state.dataPath, request, from: state.fromRun }, undefined, (o) => {
      if (o.status === 'done') {
        setPreview(o.result);
        setPcur(0);
      }
    });
  };

  useKeys(
    (input, key) => {
      if (typingRef.current !== null || editingRef.current) return;
      const preview = previewRef.current;
      const split = splitRef.current;
      if (preview || fuzzy.busy || fuzzy.state.status === 'error') {
        if (key.escape) {
          if (fuzzy.busy) return void fuzzy.cancel();
          setPreview(null);
          return fuzzy.reset();
        }
        if (preview) {
          if (key.upArrow) return setPcur((c) => Math.max(0, c - 1));
          if (key.downArrow) return setPcur((c) => Math.min(preview.selected.length - 1, c + 1));
          if (input === 'u') {
            update({ forget: { request: preview.request }, forgetLabel: `request "${truncate(preview.request, 30)}" (${preview.selected.length} items)`, notice: `forget set: the ${preview.selected.length} items matching "${preview.request}"` });
            return setPreview(null);
          }
        }
        if (input === '/') return setTyping('request');
        return;
      }
      if (input === 'e') return setTyping('path');
      if (input === '/') return setTyping('request');
      if (key.leftArrow || key.rightArrow) {
        const i = ALL_SPLITS.indexOf(split);
        return setSplit(ALL_SPLITS[(i + (key.leftArrow ? ALL_SPLITS.length - 1 : 1)) % ALL_SPLITS.length]!);
      }
      if (key.upArrow) return setCur((c) => Math.max(0, c - 1));
      if (key.downArrow) return setCur((c) => Math.min(items.length - 1, c + 1));
      if (key.pageDown) return setCur((c) => Math.min(items.length - 1, c + 10));
      if (key.pageUp) return setCur((c) => Math.max(0, c - 10));
      if (key.return) return setDetail((d) => !d);
      if (key.escape && detailRef.current) return setDetail(false);
      if (input === 'f') {
        if (split === 'general') return update({ notice: 'the general set is plain text: choose a fact split as the forget set' });
        const n = ds ? ds.facts(split).length : 0;
        return update({ forget: { split }, forgetLabel: `split ${split} (${n} items)`, notice: `forget set: split ${split} (${n} items)` });
      }
    },
    keysActive,
  );

  const inner = width - 4;
  const bodyH = height - 3;
  const header = (
    <Box flexDirection="column" height={2}>
      {typing === 'path' ? (
        <Box>
          <Text color={theme.accent}>dataset </Text>
          <TextInput
            initial={state.dataPath}
            width={width - 9}
            onSubmit={(v) => {
              setTyping(null);
              if (v) update({ dataPath: v });
            }}
            onCancel={() => setTyping(null)}
          />
        </Box>
      ) : typing === 'request' ? (
        <Box>
          <Text color={theme.accent}>removal request </Text>
          <TextInput
            initial={'request' in state.forget ? state.forget.request : ''}
            placeholder="e.g. forget everything about Dave Harrowgate"
            width={width - 17}
            onSubmit={(v) => {
              setTyping(null);
              if (v.trim()) runFuzzy(v.trim());
            }}
            onCancel={() => setTyping(null)}
          />
        </Box>
      ) : (
        <Text wrap="truncate">
          <Text bold>{state.dataPath}</Text>
          {ds ? <Text color={theme.muted}>{` (${ds.format}) · ${peopleText(ds)}`}</Text> : null}
        </Text>
      )}
      <Text wrap="truncate">
        {ALL_SPLITS.map((s) => (
          <Text key={s} inverse={s === split} color={s === 'decoy' ? theme.warn : undefined}>
            {` ${s} ${counts ? counts[s] : 0} `}
          </Text>
        ))}
        <Text color={theme.muted}>{`  forget set: ${state.forgetLabel}`}</Text>
      </Text>
    </Box>
  );

  let body: React.ReactNode;
  if (error) body = <ErrorPanel error={error} width={width} />;
  else if (fuzzy.busy || preview || fuzzy.state.status === 'error') body = <FuzzyPanel width={width} height={bodyH} preview={preview} cur={pcur} busy={fuzzy.busy} tick={tick} error={fuzzy.state.error} />;
  else if (detail && items[cur]) body = <ItemDetail item={items[cur]!} width={width} height={bodyH} />;
  else {
    const rows = Math.max(1, bodyH - 3);
    const first = Math.max(0, Math.min(cur - Math.floor(rows / 2), items.length - rows));
    // Facts are listed by attribute (their ids repeat the person's name); plain texts by id.
    const label = (it: Item) => (isFact(it) ? it.attribute : it.id);
    const idW = Math.min(Math.max(8, ...items.slice(first, first + rows).map((it) => label(it).length)), Math.floor(inner * 0.3));
    body = (
      <Panel title={`${split}: ${items.length} items${items.length ? ` (${cur + 1}/${items.length})` : ''}`} height={bodyH} width={width} focused={active}>
        {items.slice(first, first + rows).map((it, j) => {
          const i = first + j;
          const text = isFact(it) ? `${it.person}: ${it.statement}` : it.text.replace(/\s+/g, ' ');
          const decoy = isFact(it) && it.decoy_of;
          return (
            <Text key={it.id} wrap="truncate" inverse={i === cur && active} color={decoy ? theme.warn : undefined}>
              {truncate(label(it), idW).padEnd(idW + 1)}
              {decoy ? `≈ ${it.decoy_of} · ` : ''}
              {truncate(text, inner - idW - 1)}
            </Text>
          );
        })}
      </Panel>
    );
  }
  const hints: Array<[string, string]> = preview
    ? [['↑↓', 'scroll'], ['u', 'use as forget set'], ['/', 'new request'], ['esc', 'close']]
    : fuzzy.busy
      ? [['esc', 'cancel']]
      : [['←→', 'split'], ['↑↓', 'item'], ['enter', detail ? 'list' : 'details'], ['f', 'forget this split'], ['/', 'removal request'], ['e', 'dataset']];
  return (
    <Box flexDirection="column" width={width} height={height}>
      {header}
      <Box height={bodyH} flexDirection="column">
        {body}
      </Box>
      <KeyHints hints={hints} width={width} />
    </Box>
  );
}

function ItemDetail({ item, width, height }: { item: Item; width: number; height: number }) {
  const w = width - 4;
  const lines: Array<[string, string, string?]> = [];
  if (isFact(item)) {
    lines.push(['person', item.person], ['attribute', item.attribute], ['statement', item.statement], ['question', item.question], ['answer', item.answer, theme.ok]);
    item.paraphrases.forEach((p, i) => lines.push([i === 0 ? 'paraphrases' : '', p]));
    lines.push(['para. ans.', item.paraphrased_answer]);
    item.perturbed_answers.forEach((p, i) => lines.push([i === 0 ? 'perturbed' : '', p, theme.err]));
    if (item.decoy_of) lines.push(['decoy of', item.decoy_of, theme.warn]);
  } else lines.push(['text', item.text]);
  return (
    <Panel title={`${item.id} (${item.split})`} width={width} height={height}>
      {lines.slice(0, height - 3).map(([k, v, c], i) => (
        <Text key={i} wrap="truncate">
          <Text color={theme.muted}>{k.padEnd(12)}</Text>
          <Text color={c}>{truncate(v, w - 12)}</Text>
        </Text>
      ))}
    </Panel>
  );
}

function FuzzyPanel({ width, height, preview, cur, busy, tick, error }: { width: number; height: number; preview: FuzzyView | null; cur: number; busy: boolean; tick: number; error?: UiError }) {
  if (error) return <ErrorPanel error={error} width={width} />;
  if (busy || !preview) return <Panel title="Fuzzy selection" width={width} height={height}>{<StatusLine status="running" tick={tick} text="matching the request against the training items…" />}</Panel>;
  const rows = Math.max(1, height - 4);
  const first = Math.max(0, Math.min(cur - Math.floor(rows / 2), preview.selected.length - rows));
  const w = width - 4;
  return (
    <Panel title={`"${truncate(preview.request, w - 30)}": ${preview.selected.length} items selected`} width={width} height={height} focused>
      <Text wrap="truncate">
        <Text>precision </Text>
        <Text bold>{fmtNum(preview.precision, 3)}</Text>
        <Text> · recall </Text>
        <Text bold>{fmtNum(preview.recall, 3)}</Text>
        <Text> against the {preview.trueForget} true forget items · </Text>
        <Text color={preview.decoysCaught ? theme.warn : theme.ok}>{preview.decoysCaught} decoys caught</Text>
      </Text>
      {preview.selected.slice(first, first + rows).map((s, j) => (
        <Text key={s.id} wrap="truncate" inverse={first + j === cur} color={s.decoyOf ? theme.warn : s.split === 'forget' ? undefined : theme.muted}>
          {fmtNum(s.score, 2).padStart(6)} {truncate(s.id, 12).padEnd(13)}
          {s.decoyOf ? `DECOY of ${s.decoyOf} ` : ''}
          {truncate(`${s.person}: ${s.text}`, w - 20)}
        </Text>
      ))}
    </Panel>
  );
}
