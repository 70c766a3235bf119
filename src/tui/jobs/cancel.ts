/**
 * An AbortSignal that a parent process can fire while this process is busy in synchronous code.
 *
 * Training loops are synchronous (each step is a native ggml call), so a message or a signal
 * handler would only run after the whole job. Instead, the parent creates a file; this signal
 * checks for it whenever library code reads `signal.aborted` or calls `throwIfAborted()` (and
 * every 100 ms for code that awaits), and aborts then. The library decides where it is safe to
 * stop; nothing is interrupted mid-write.
 */
import fs from 'node:fs';

export class JobCancelled extends Error {
  constructor(message = 'cancelled') {
    super(message);
    this.name = 'JobCancelled';
  }
}

const abortedGetter = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')!.get!;

export function fileCancelSignal(cancelFile: string): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const signal = ac.signal;
  const poll = (): void => {
    if (!abortedGetter.call(signal) && fs.existsSync(cancelFile)) ac.abort(new JobCancelled());
  };
  Object.defineProperty(signal, 'aborted', {
    configurable: true,
    get() {
      poll();
      return abortedGetter.call(signal) as boolean;
    },
  });
  const throwIfAborted = AbortSignal.prototype.throwIfAborted;
  Object.defineProperty(signal, 'throwIfAborted', {
    configurable: true,
    value: () => {
      poll();
      throwIfAborted.call(signal);
    },
  });
  const timer = setInterval(poll, 100);
  timer.unref();
  return { signal, dispose: () => clearInterval(timer) };
}
