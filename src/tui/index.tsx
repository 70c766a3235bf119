/**
 * `unlearnkit` with no arguments in an interactive terminal: the terminal UI. Runs in the
 * alternate screen (like lazygit or htop, the shell comes back unchanged on quit); long jobs run in
 * child processes (src/tui/jobs/runner.ts); on quit, running jobs are cancelled cleanly and a
 * server this TUI started is stopped.
 */
import React from 'react';
import { spawn } from 'node:child_process';
import { render } from 'ink';
import { App } from './app.tsx';
import { ChildJobRunner } from './jobs/runner.ts';
import { HttpServerControl } from './lib/server.ts';
import { defaultModel } from './lib/modelInfo.ts';
import { logToFile } from './lib/errors.ts';
import type { Services } from './context.tsx';

/** Open a file with the desktop's viewer (xdg-open / open); false when there is none. */
function openWithSystem(file: string): Promise<boolean> {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  return new Promise((resolve) => {
    try {
      const c = spawn(cmd, [file], { stdio: 'ignore', detached: true });
      c.on('error', () => resolve(false));
      c.on('spawn', () => {
        c.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}

export async function runTui(): Promise<number> {
  const jobs = new ChildJobRunner();
  const server = new HttpServerControl();
  const services: Services = { jobs, server, cwd: process.cwd(), openFile: openWithSystem };
  const dm = defaultModel();
  const alt = process.stdout.isTTY && !process.env.UNLEARNKIT_TUI_NO_ALTSCREEN;
  if (alt) process.stdout.write('\x1b[?1049h\x1b[H');
  // Nothing may print a stack over the UI: log unexpected errors instead.
  const onError = (e: unknown) => {
    logToFile(`uncaught: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  };
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  const cleanup = async () => {
    await jobs.shutdown(10_000);
    await server.stop().catch(() => {});
  };
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
  try {
    const app = render(<App services={services} initial={{ modelPath: dm.path, modelNote: dm.note }} />, { exitOnCtrlC: false });
    await app.waitUntilExit();
    await cleanup();
  } finally {
    if (alt) process.stdout.write('\x1b[?1049l');
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  }
  return 0;
}
