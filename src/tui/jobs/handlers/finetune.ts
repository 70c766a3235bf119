/**
 * `finetune` job: the fine-tune action (src/actions/finetune.ts), the same entry point
 * `unlearnkit finetune` runs, with live progress and cancellation. A cancelled run that had not
 * finished an epoch leaves nothing behind (the folder this job created is removed); one that had
 * keeps its finished epochs, resumable with the same options, exactly as the library leaves it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { finetuneAction } from '../../../actions/finetune.ts';
import type { FactSplit } from '../../../data/types.ts';
import { JobCancelled } from '../cancel.ts';
import type { FinetuneView } from '../protocol.ts';
import type { Handler } from './index.ts';

export const run: Handler<'finetune'> = async (p, { signal, emit }) => {
  const created = !fs.existsSync(p.out);
  const t0 = performance.now();
  try {
    const { summary: r } = finetuneAction({
      model: p.model,
      data: p.data,
      splits: p.splits as FactSplit[],
      replay: p.replay,
      epochs: p.epochs,
      lr: p.lr,
      batch: p.batch,
      optimizer: p.optimizer,
      weightDecay: p.weightDecay,
      filter: p.filter,
      record: p.record,
      recordFilter: p.recordFilter,
      recordDtype: p.recordDtype,
      seed: p.seed,
      out: p.out,
      eval: p.eval,
      quiet: true,
      signal,
      onPhase: (text) => {
        if (signal.aborted) throw new JobCancelled('fine-tuning cancelled');
        emit({ kind: 'phase', text });
      },
      onStep: (s) => emit({ kind: 'step', ...s, epochs: p.epochs, elapsed: (performance.now() - t0) / 1000 }),
    });
    if (signal.aborted) throw new JobCancelled('fine-tuning cancelled');
    const pair = (x: { forget?: number; general?: number }) => ({ forget: x.forget ?? NaN, general: x.general ?? NaN });
    const view: FinetuneView = {
      out: r.out,
      checkpoint: r.checkpoint,
      epochs: r.epochs,
      tokensPerSecond: r.tokensPerSecond,
      recordDir: r.recordDir,
      recordBytes: r.recordDir ? dirBytes(r.recordDir) : 0,
      perplexity: r.perplexity ? { before: pair(r.perplexity.before), after: pair(r.perplexity.after) } : undefined,
    };
    return view;
  } catch (e) {
    if (signal.aborted) {
      const finished = fs.existsSync(path.join(p.out, 'state.json'));
      if (created && !finished) fs.rmSync(p.out, { recursive: true, force: true });
      throw new JobCancelled(
        finished ? `fine-tuning cancelled; ${p.out} keeps its finished epochs (run again with the same options to resume)` : 'fine-tuning cancelled before the first epoch finished; nothing was kept',
      );
    }
    throw e;
  }
};

function dirBytes(dir: string): number {
  let n = 0;
  for (const f of fs.readdirSync(dir)) {
    const st = fs.statSync(path.join(dir, f));
    if (st.isFile()) n += st.size;
  }
  return n;
}
