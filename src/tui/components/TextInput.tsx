/**
 * A one-line text editor: printable keys insert at the cursor, ←/→ move, Home/End (or Ctrl-A /
 * Ctrl-E) jump, Backspace deletes, Ctrl-U clears, Enter submits, Esc cancels. Pasted text arrives
 * in one piece and is inserted without its line breaks. It holds the key lock while it exists, so
 * screen and global keys stand down.
 *
 * The initial value starts selected (shown inverted), as a text field does when it gets the focus:
 * the first typed text replaces it and Backspace clears it, so typing a path into a field that held
 * "dave" gives the path, not "dave<path>". Any cursor key first drops the selection, to edit it.
 */
import React, { useRef } from 'react';
import { Text } from 'ink';
import { useAppContext, useEditLock, useKeys, useSyncState } from '../context.tsx';

export interface TextInputProps {
  initial: string;
  onSubmit(value: string): void;
  onCancel(): void;
  width: number;
  placeholder?: string;
}

export function TextInput({ initial, onSubmit, onCancel, width, placeholder }: TextInputProps) {
  const [{ value, cursor, selected }, setEdit, ref] = useSyncState({ value: initial, cursor: initial.length, selected: initial.length > 0 });
  const { setEditing } = useAppContext();
  const closed = useRef(false);
  useEditLock(true);
  useKeys((input, key) => {
    if (closed.current) return;
    const { value, cursor, selected } = ref.current;
    const set = (v: string, c: number) => setEdit({ value: v, cursor: Math.max(0, Math.min(v.length, c)), selected: false });
    if (key.return || key.escape) {
      // Release the keys at once: the next key belongs to the screen, not to this closing field.
      closed.current = true;
      setEditing(false);
      return key.return ? onSubmit(value) : onCancel();
    }
    if (key.leftArrow) return set(value, cursor - 1);
    if (key.rightArrow) return set(value, cursor + 1);
    if (key.home || (key.ctrl && input === 'a')) return set(value, 0);
    if (key.end || (key.ctrl && input === 'e')) return set(value, value.length);
    if (key.ctrl && input === 'u') return set('', 0);
    if (key.backspace || key.delete) {
      if (selected) return set('', 0);
      if (cursor === 0) return;
      return set(value.slice(0, cursor - 1) + value.slice(cursor), cursor - 1);
    }
    if (key.ctrl || key.meta || key.upArrow || key.downArrow || key.tab || key.pageUp || key.pageDown) return;
    const text = input.replace(/[\r\n]+/g, '');
    if (!text) return;
    if (selected) return set(text, text.length); // typing replaces the selected initial value
    set(value.slice(0, cursor) + text + value.slice(cursor), cursor + text.length);
  }, true, { modal: true });
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
  if (selected) {
    return (
      <Text wrap="truncate">
        <Text inverse>{value.slice(Math.max(0, value.length - w + 1))}</Text>
        <Text> </Text>
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
