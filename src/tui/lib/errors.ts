/**
 * Errors as the terminal UI shows them: a one-line message, what to do about it, and (for
 * unexpected errors only) where the stack trace was written. A stack trace never goes over the
 * screen: it goes to the log file named in the message.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../util/errors.ts';

export interface UiError {
  /** What went wrong, in one or two sentences. */
  message: string;
  /** What the user can do about it. */
  hint: string;
  /** True for bugs (not a bad input): the stack is in `logFile`. */
  internal: boolean;
  logFile?: string;
}

/** Where the TUI writes stack traces of unexpected errors ($UNLEARNKIT_TUI_LOG, else the temp folder). */
function tuiLogFile(): string {
  return process.env.UNLEARNKIT_TUI_LOG ?? path.join(os.tmpdir(), `unlearnkit-tui-${process.getuid?.() ?? 'user'}.log`);
}

/** Append a line (with a timestamp) to the TUI log; never throws. */
export function logToFile(text: string): string | undefined {
  const file = tuiLogFile();
  try {
    fs.appendFileSync(file, `[${new Date().toISOString()}] ${text}\n`);
    return file;
  } catch {
    return undefined;
  }
}

const ERRNO_HINTS: Record<string, string> = {
  ENOENT: 'check the path (it is relative to the folder unlearnkit was started in)',
  EACCES: 'check the file permissions',
  EPERM: 'check the file permissions',
  ENOSPC: 'free some disk space, then run it again',
  EADDRINUSE: 'choose another port, or attach to the server already running there',
  ECONNREFUSED: 'is the server running? start it with s, or check the address',
};

/** Convert anything thrown (or an error event from a job) to what the UI shows. */
export function toUiError(e: unknown, hint?: string): UiError {
  if (e instanceof UserError || (isErrorLike(e) && e.name === 'UserError')) {
    return { message: (e as Error).message, hint: hint ?? 'fix the value named above, then try again', internal: false };
  }
  if (isErrorLike(e)) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code && ERRNO_HINTS[code]) return { message: e.message, hint: hint ?? ERRNO_HINTS[code]!, internal: false };
    const logFile = logToFile(`${e.name}: ${e.message}\n${e.stack ?? ''}`);
    return {
      message: `${e.name === 'Error' ? '' : e.name + ': '}${e.message}`,
      hint: hint ?? `this looks like a bug; the details are in ${logFile ?? 'the TUI log'} (please include them in a report)`,
      internal: true,
      logFile,
    };
  }
  return { message: String(e), hint: hint ?? 'try again', internal: false };
}

function isErrorLike(e: unknown): e is Error {
  return typeof e === 'object' && e !== null && typeof (e as Error).message === 'string';
}
