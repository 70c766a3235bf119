/**
 * A keyboard form: one field per line. ↑/↓ choose a field; Enter edits a text or number field (a
 * TextInput), opens the picker of a multi-choice field, or flips a toggle; ←/→ cycle a choice field
 * (and flip toggles). Values are strings (a multi-choice value is comma-separated). A screen's
 * fields come from the option declarations (src/options/form.ts formFieldOf: the editor kind, the
 * choices, and the hint line with the allowed range), and the screen checks the values with the
 * same validator as the CLI when it runs the job (formValue), so errors read the same as the CLI's.
 */
import React, { useEffect, useRef } from 'react';
import { Box, Text } from 'ink';
import { TextInput } from './TextInput.tsx';
import { useAppContext, useEditLock, useKeys, useSyncState } from '../context.tsx';
import { theme } from './ui.tsx';
import { truncate } from '../lib/format.ts';
import type { FormField } from '../../options/form.ts';

/** One field (`help` is shown in the hint line when the field is selected); see options/form.ts. */
export type FieldSpec = FormField;

export interface FormProps {
  fields: FieldSpec[];
  values: Record<string, string>;
  onChange(key: string, value: string): void;
  /** The form has the keys (rendering); `keysActive`, when given, is asked as each key arrives. */
  active: boolean;
  keysActive?: () => boolean;
  width: number;
  /** Lines available; the form scrolls when it has more fields. */
  height?: number;
  labelWidth?: number;
  onSelect?(key: string): void;
}

export function Form({ fields, values, onChange, active, keysActive, width, height, labelWidth = 11, onSelect }: FormProps) {
  const firstEditable = Math.max(0, fields.findIndex((f) => f.kind !== 'info'));
  const [sel, setSel, selRef] = useSyncState(firstEditable);
  const [editing, setEditingKey, editingKeyRef] = useSyncState<string | null>(null);
  const [picking, setPicking, pickingRef] = useSyncState<string | null>(null);
  const { setEditing: lockKeys, editingRef } = useAppContext();
  const field = fields[Math.min(sel, fields.length - 1)];
  // Values as of the last key, for keys that arrive before the next render.
  const valuesRef = useRef(values);
  valuesRef.current = values;
  const change = (key: string, v: string) => {
    valuesRef.current = { ...valuesRef.current, [key]: v };
    onChange(key, v);
  };
  useEffect(() => {
    if (field) onSelect?.(field.key);
  }, [field?.key]); // eslint-disable-line react-hooks/exhaustive-deps

  useKeys(
    (input, key) => {
      if (editingKeyRef.current !== null || pickingRef.current !== null || editingRef.current) return;
      const f = fields[Math.min(selRef.current, fields.length - 1)];
      if (!f) return;
      // Read-only (info) fields are skipped.
      const step = (d: number) =>
        setSel((s) => {
          for (let i = s + d; i >= 0 && i < fields.length; i += d) if (fields[i]!.kind !== 'info') return i;
          return s;
        });
      if (key.upArrow) return step(-1);
      if (key.downArrow) return step(1);
      const v = valuesRef.current[f.key] ?? '';
      if (f.kind === 'choice' && (key.leftArrow || key.rightArrow || key.return || input === ' ')) {
        const opts = f.options ?? [];
        if (!opts.length) return;
        const i = opts.indexOf(v);
        const d = key.leftArrow ? -1 : 1;
        return change(f.key, opts[(i + d + opts.length) % opts.length]!);
      }
      if (f.kind === 'toggle' && (key.leftArrow || key.rightArrow || key.return || input === ' ')) return change(f.key, v === 'yes' ? 'no' : 'yes');
      if ((f.kind === 'text' || f.kind === 'number') && key.return) {
        lockKeys(true);
        return setEditingKey(f.key);
      }
      if (f.kind === 'multi' && (key.return || input === ' ')) {
        lockKeys(true);
        return setPicking(f.key);
      }
    },
    keysActive ?? active,
  );

  if (picking) {
    const f = fields.find((x) => x.key === picking)!;
    return (
      <MultiPicker
        title={f.label}
        options={f.options ?? []}
        selected={(values[f.key] ?? '').split(',').map((s) => s.trim()).filter(Boolean)}
        height={height}
        width={width}
        onDone={(chosen) => {
          change(f.key, chosen.join(','));
          setPicking(null);
        }}
        onCancel={() => setPicking(null)}
      />
    );
  }

  const rows = height ? Math.max(1, height) : fields.length;
  const first = Math.max(0, Math.min(sel - Math.floor(rows / 2), fields.length - rows));
  const valueW = Math.max(4, width - labelWidth - 2);
  return (
    <Box flexDirection="column" width={width}>
      {fields.slice(first, first + rows).map((f, j) => {
        const i = first + j;
        const selected = i === sel && active;
        const v = values[f.key] ?? '';
        return (
          <Box key={f.key} height={1}>
            <Text wrap="truncate">
              <Text color={selected || editing === f.key ? theme.accent : undefined}>{editing === f.key ? '✎' : selected ? '›' : ' '}</Text>
              <Text color={f.kind === 'info' ? theme.muted : undefined} bold={selected}>
                {truncate(f.label, labelWidth).padEnd(labelWidth)}{' '}
              </Text>
            </Text>
            {editing === f.key ? (
              <TextInput
                initial={v}
                width={valueW}
                onSubmit={(nv) => {
                  change(f.key, nv.trim());
                  setEditingKey(null);
                }}
                onCancel={() => setEditingKey(null)}
              />
            ) : (
              <Text wrap="truncate" inverse={selected && f.kind !== 'info'} color={f.kind === 'info' ? theme.muted : undefined}>
                {f.kind === 'choice' ? `‹ ${truncate(v, valueW - 4)} ›` : truncate(v || (f.kind === 'multi' ? '(none: Enter to pick)' : '-'), valueW)}
              </Text>
            )}
          </Box>
        );
      })}
    </Box>
  );
}

/** A checkbox list: ↑/↓ move, Space toggles, a toggles all, Enter accepts, Esc cancels. */
function MultiPicker(props: { title: string; options: string[]; selected: string[]; width: number; height?: number; onDone(chosen: string[]): void; onCancel(): void }) {
  const [cur, setCur, curRef] = useSyncState(0);
  const [chosen, setChosen, chosenRef] = useSyncState<Set<string>>(new Set(props.selected));
  const { setEditing } = useAppContext();
  const closed = useRef(false);
  useEditLock(true);
  useKeys((input, key) => {
    if (closed.current) return;
    const n = props.options.length;
    if (key.escape || key.return) {
      closed.current = true;
      setEditing(false);
      return key.return ? props.onDone(props.options.filter((o) => chosenRef.current.has(o))) : props.onCancel();
    }
    if (key.upArrow) return setCur((c) => Math.max(0, c - 1));
    if (key.downArrow) return setCur((c) => Math.min(n - 1, c + 1));
    if (key.pageDown) return setCur((c) => Math.min(n - 1, c + 10));
    if (key.pageUp) return setCur((c) => Math.max(0, c - 10));
    if (input === ' ') {
      const o = props.options[curRef.current];
      if (o === undefined) return;
      const next = new Set(chosenRef.current);
      if (next.has(o)) next.delete(o);
      else next.add(o);
      return setChosen(next);
    }
    if (input === 'a') return setChosen(chosenRef.current.size === n ? new Set() : new Set(props.options));
  }, true, { modal: true });
  const rows = Math.max(1, (props.height ?? 12) - 2);
  const first = Math.max(0, Math.min(cur - Math.floor(rows / 2), props.options.length - rows));
  return (
    <Box flexDirection="column" width={props.width}>
      <Text bold color={theme.accent} wrap="truncate">
        {props.title}: {chosen.size} chosen
      </Text>
      {props.options.slice(first, first + rows).map((o, j) => {
        const i = first + j;
        return (
          <Text key={o} wrap="truncate" inverse={i === cur}>
            {chosen.has(o) ? '[x] ' : '[ ] '}
            {o}
          </Text>
        );
      })}
      <Text color={theme.muted} wrap="truncate">
        space toggle · a all · enter done · esc cancel
      </Text>
    </Box>
  );
}
