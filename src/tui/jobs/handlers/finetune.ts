/**
 * `finetune` job: what `unlearnkit finetune` does (commands/train.ts), with live progress and
 * cancellation. A cancelled run that had not finished an epoch leaves nothing behind (the folder
 * this job created is removed); one that had keeps its finished epochs, resumable with the same
 * options, exactly as the library leaves it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { finetune } from '../../../train/finetune.ts';
import { factExamples } from '../../../train/examples.ts';
import { getDataset } from '../../../data/dataset.ts';
import type { FactSplit } from '../../../data/types.ts';
import { forgetGeneralPerplexity } from '../../../commands/train.ts';
import { writeJsonAtomic } from '../../../util/fs.ts';
import { UserError } from '../../../util/errors.ts';
import { JobCancelled } from '../cancel.ts';
import type { FinetuneView } from '../protocol.ts';
import type { Handler } from './index.ts';

export const run: Handler<'finetune'> = async (p, { signal, emit }) => {
  const ds = getDataset(p.data);
  const items = factExamples(p.splits.flatMap((s) => ds.facts(s as FactSplit)));
  if (items.length === 0) throw new UserError(`no training items in ${p.data} (splits ${p.splits.join(', ')})`);
  const created = !fs.existsSync(p.out);
  const t0 = performance.now();
  const check = () => {
    if (signal.aborted) throw new JobCancelled('fine-tuning cancelled');
  };
  try {
    let before: { forget: number; general: number } | null = null;
    if (p.eval) {
      emit({ kind: 'phase', text: 'perplexity before fine-tuning' });
      before = forgetGeneralPerplexity(p.model, p.data);
      check();
    }
    emit({ kind: 'phase', text: `fine-tuning on ${items.length} items` });
    const r = finetune({
      modelPath: p.model,
      items,
      out: p.out,
      epochs: p.epochs,
      lr: p.lr,
      batch: p.batch,
      optimizer: p.optimizer,
      filter: p.filter,
      record: p.record,
      seed: p.seed,
      quiet: true,
      signal,
      onStep: (s) => emit({ kind: 'step', ...s, epochs: p.epochs, elapsed: (performance.now() - t0) / 1000 }),
    });
    check();
    let after: { forget: number; general: number } | null = null;
    if (p.eval) {
      emit({ kind: 'phase', text: 'perplexity after fine-tuning' });
      after = forgetGeneralPerplexity(r.checkpoint, p.data);
    }
    const summary = { ...r, perplexity: before && after ? { before, after } : undefined };
    writeJsonAtomic(path.join(p.out, 'summary.json'), summary);
    const view: FinetuneView = {
      out: r.out,
      checkpoint: r.checkpoint,
      epochs: r.epochs,
      tokensPerSecond: r.tokensPerSecond,
      recordDir: r.recordDir,
      recordBytes: r.recordDir ? dirBytes(r.recordDir) : 0,
      perplexity: summary.perplexity,
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
