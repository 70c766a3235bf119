/**
 * Keeps a rendering bug in one screen from taking the whole UI down (or printing a stack over the
 * terminal): the screen shows the error and where the details were logged; other tabs still work.
 */
import React from 'react';
import { ErrorPanel } from './ui.tsx';
import { toUiError, type UiError } from '../lib/errors.ts';

export class ErrorBoundary extends React.Component<{ name: string; children: React.ReactNode }, { error: UiError | null }> {
  override state: { error: UiError | null } = { error: null };

  static getDerivedStateFromError(e: unknown): { error: UiError } {
    return { error: toUiError(e, 'the other tabs still work; restart unlearnkit to reset this screen (details are in the TUI log)') };
  }

  override render(): React.ReactNode {
    if (this.state.error) return <ErrorPanel error={{ ...this.state.error, message: `${this.props.name} screen: ${this.state.error.message}` }} />;
    return this.props.children;
  }
}
