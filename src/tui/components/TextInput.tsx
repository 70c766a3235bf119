/**
 * A one-line text editor: printable keys insert at the cursor, ←/→ move, Home/End (or Ctrl-A /
 * Ctrl-E) jump, Backspace deletes, Ctrl-U clears, Enter submits, Esc cancels. Pasted text arrives
 * in one piece and is inserted without its line breaks. It holds the key lock while it exists, so
 * screen and global keys stand down.
 */
import React, { useState } from 'react';
import { Text, useInput } from 'ink';
import { useEditLock } from '../context.tsx';

export interface TextInputProps {
  initial: string;
  onSubmit(value: string): void;
  onCancel(): void;
  width: number;
  placeholder?: string;
}

export function TextInput({ initial, onSubmit, onCancel, width, placeholder }: TextInputProps) {
  const [value, setValue] = useState(initial);
  const [cursor, setCursor] = useState(initial.length);
  useEditLock(true);
  useInput((input, key) => {
    if (key.return) return onSubmit(value);
    if (key.escape) return onCancel();
    if (key.leftArrow) return setCursor((c) => Math.max(0, c - 1));
    if (key.rightArrow) return setCursor((c) => Math.min(value.length, c + 1));
    if (key.home || (key.ctrl && input === 'a')) return setCursor(0);
    if (key.end || (key.ctrl && input === 'e')) return setCursor(value.length);
    if (key.ctrl && input === 'u') {
      setValue('');
      return setCursor(0);
    }
    if (key.backspace || key.delete) {
      if (cursor === 0) return;
      setValue(value.slice(0, cursor - 1) + value.slice(cursor));
      return setCursor(cursor - 1);
    }
    if (key.ctrl || key.meta || key.upArrow || key.downArrow || key.tab || key.pageUp || key.pageDown) return;
    const text = input.replace(/[\r\n]+/g, '');
    if (!text) return;
    setValue(value.slice(0, cursor) + text + value.slice(cursor));
    setCursor(cursor + text.length);
  });
  // Scroll so the cursor stays visible.
  const w = Math.max(2, width);
  const start = Math.max(0, cursor - w + 1);
  const shown = value.slice(start, start + w);
  const at = cursor - start;
  if (!value && placeholder) {
    return (
      <Text wrap="truncate">
        <Text inverse> </Text>
        <Text color="gray">{placeholder.slice(0, w - 1)}</Text>
      </Text>
    );
  }
  return (
    <Text wrap="truncate">
      {shown.slice(0, at)}
      <Text inverse>{shown[at] ?? ' '}</Text>
      {shown.slice(at + 1)}
    </Text>
  );
}
