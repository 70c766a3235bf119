/**
 * A keyboard form: one field per line. ↑/↓ choose a field; Enter edits a text or number field (a
 * TextInput), opens the picker of a multi-choice field, or flips a toggle; ←/→ cycle a choice field
 * (and flip toggles). Values are strings (a multi-choice value is comma-separated); the screen
 * validates them when it runs the job, through the library, so errors read the same as the CLI's.
 */
import React, { useEffect, useState } from 'react';
import { Box, Text, useInput } from 'ink';
import { TextInput } from './TextInput.tsx';
import { useEditLock } from '../context.tsx';
import { theme } from './ui.tsx';
import { truncate } from '../lib/format.ts';

export interface FieldSpec {
  key: string;
  label: string;
  kind: 'text' | 'number' | 'choice' | 'toggle' | 'multi' | 'info';
  options?: string[];
  /** Shown in the hint line when the field is selected. */
  help?: string;
}

export interface FormProps {
  fields: FieldSpec[];
  values: Record<string, string>;
  onChange(key: string, value: string): void;
  active: boolean;
  width: number;
  /** Lines available; the form scrolls when it has more fields. */
  height?: number;
  labelWidth?: number;
  onSelect?(key: string): void;
}

export function Form({ fields, values, onChange, active, width, height, labelWidth = 11, onSelect }: FormProps) {
  const firstEditable = Math.max(0, fields.findIndex((f) => f.kind !== 'info'));
  const [sel, setSel] = useState(firstEditable);
  const [editing, setEditing] = useState<string | null>(null);
  const [picking, setPicking] = useState<string | null>(null);
  const field = fields[Math.min(sel, fields.length - 1)];
  useEffect(() => {
    if (field) onSelect?.(field.key);
  }, [field?.key]); // eslint-disable-line react-hooks/exhaustive-deps

  useInput(
    (input, key) => {
      if (!field) return;
      // Read-only (info) fields are skipped.
      const step = (d: number) =>
        setSel((s) => {
          for (let i = s + d; i >= 0 && i < fields.length; i += d) if (fields[i]!.kind !== 'info') return i;
          return s;
        });
      if (key.upArrow) return step(-1);
      if (key.downArrow) return step(1);
      const v = values[field.key] ?? '';
      if (field.kind === 'choice' && (key.leftArrow || key.rightArrow || key.return || input === ' ')) {
        const opts = field.options ?? [];
        if (!opts.length) return;
        const i = opts.indexOf(v);
        const d = key.leftArrow ? -1 : 1;
        return onChange(field.key, opts[(i + d + opts.length) % opts.length]!);
      }
      if (field.kind === 'toggle' && (key.leftArrow || key.rightArrow || key.return || input === ' ')) return onChange(field.key, v === 'yes' ? 'no' : 'yes');
      if ((field.kind === 'text' || field.kind === 'number') && key.return) return setEditing(field.key);
      if (field.kind === 'multi' && (key.return || input === ' ')) return setPicking(field.key);
    },
    { isActive: active && editing === null && picking === null },
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
          onChange(f.key, chosen.join(','));
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
              <Text color={selected ? theme.accent : undefined}>{selected ? '›' : ' '}</Text>
              <Text color={f.kind === 'info' ? theme.muted : undefined} bold={selected}>
                {truncate(f.label, labelWidth).padEnd(labelWidth)}{' '}
              </Text>
            </Text>
            {editing === f.key ? (
              <TextInput
                initial={v}
                width={valueW}
                onSubmit={(nv) => {
                  onChange(f.key, nv.trim());
                  setEditing(null);
                }}
                onCancel={() => setEditing(null)}
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
export function MultiPicker(props: { title: string; options: string[]; selected: string[]; width: number; height?: number; onDone(chosen: string[]): void; onCancel(): void }) {
  const [cur, setCur] = useState(0);
  const [chosen, setChosen] = useState<Set<string>>(new Set(props.selected));
  useEditLock(true);
  useInput((input, key) => {
    if (key.escape) return props.onCancel();
    if (key.return) return props.onDone(props.options.filter((o) => chosen.has(o)));
    if (key.upArrow) return setCur((c) => Math.max(0, c - 1));
    if (key.downArrow) return setCur((c) => Math.min(props.options.length - 1, c + 1));
    if (key.pageDown) return setCur((c) => Math.min(props.options.length - 1, c + 10));
    if (key.pageUp) return setCur((c) => Math.max(0, c - 10));
    if (input === ' ') {
      const o = props.options[cur];
      if (o === undefined) return;
      const n = new Set(chosen);
      if (n.has(o)) n.delete(o);
      else n.add(o);
      return setChosen(n);
    }
    if (input === 'a') return setChosen(chosen.size === props.options.length ? new Set() : new Set(props.options));
  });
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
