/**
 * The body of a TUI job process (started by runner.ts the way the TUI itself runs, util/self.ts):
 * read the job from UNLEARNKIT_TUI_JOB, run its handler with a cancel signal and a progress
 * callback, and report progress, the result, a cancellation or an error as JSON lines on file
 * descriptor 3.
 */
import fs from 'node:fs';
import { fileCancelSignal } from './cancel.ts';
import { HANDLERS } from './handlers/index.ts';
import type { JobKind, WireMessage } from './protocol.ts';

const OUT_FD = 3;

function send(m: WireMessage): void {
  const buf = Buffer.from(JSON.stringify(m) + '\n', 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(OUT_FD, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    }
  }
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.UNLEARNKIT_TUI_JOB ?? '{}') as { kind: JobKind; params: unknown; cancelFile: string };
  const handler = HANDLERS[spec.kind];
  if (!handler) throw new Error(`unknown job kind ${String(spec.kind)}`);
  const { signal, dispose } = fileCancelSignal(spec.cancelFile);
  try {
    const mod = await handler();
    const result = await (mod.run as (p: unknown, ctx: unknown) => Promise<unknown>)(spec.params, {
      signal,
      emit: (data: unknown) => send({ t: 'progress', data }),
    });
    // A handler that returns normally finished its work (a cancel that came too late is moot);
    // handlers throw when they stop early.
    send({ t: 'result', data: result });
  } catch (e) {
    if (signal.aborted) {
      send({ t: 'cancelled', message: e instanceof Error ? e.message : String(e) });
    } else {
      const err = e instanceof Error ? e : new Error(String(e));
      send({ t: 'error', error: { name: err.name, message: err.message, stack: err.stack, code: (err as NodeJS.ErrnoException).code } });
    }
  } finally {
    dispose();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`job failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
