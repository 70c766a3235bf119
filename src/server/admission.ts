/**
 * Admission control: at most `slots` requests run at once (one per parallel sequence); up to
 * `maxQueue` more wait in FIFO order; beyond that a request is refused at once with 429 and a
 * `Retry-After` estimated from recent service times. A waiting request whose signal aborts (client
 * gone, timeout, shutdown) leaves the queue.
 */
import { ApiError, RequestAborted } from './errors.ts';

interface Waiter {
  resolve: (release: () => void) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class Admission {
  private active = 0;
  private readonly waiting: Waiter[] = [];
  /** Exponential moving average of how long a slot is held (ms), for Retry-After. */
  private avgHoldMs = 1000;

  constructor(
    readonly slots: number,
    readonly maxQueue: number,
  ) {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`slots must be a positive integer, got ${slots}`);
    if (!Number.isInteger(maxQueue) || maxQueue < 0) throw new RangeError(`maxQueue must be >= 0, got ${maxQueue}`);
  }

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Wait for a slot. Resolves with a release function (call it exactly once). */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.active < this.slots) {
      this.active++;
      return Promise.resolve(this.makeRelease());
    }
    if (this.waiting.length >= this.maxQueue) {
      const retry = Math.max(1, Math.ceil(((this.waiting.length / this.slots + 1) * this.avgHoldMs) / 1000));
      return Promise.reject(
        new ApiError(429, `server is busy: ${this.active} requests running and ${this.waiting.length} queued; retry later`, {
          code: 'queue_full',
          headers: { 'retry-after': String(retry) },
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = { resolve, reject, signal };
      if (signal) {
        w.onAbort = () => {
          const i = this.waiting.indexOf(w);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(abortReason(signal));
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.waiting.push(w);
    });
  }

  private makeRelease(): () => void {
    const start = performance.now();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.avgHoldMs = 0.8 * this.avgHoldMs + 0.2 * (performance.now() - start);
      const next = this.waiting.shift();
      if (next) {
        if (next.signal && next.onAbort) next.signal.removeEventListener('abort', next.onAbort);
        next.resolve(this.makeRelease());
      } else {
        this.active--;
      }
    };
  }
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason instanceof RequestAborted ? signal.reason : new RequestAborted('client_closed');
}
