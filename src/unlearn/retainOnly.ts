/**
 * The retain-only model ("retrain oracle", docs/methods.md#retain-only-oracle): fine-tune the base model on the
 * kept training examples only (the training set minus the forget set), with the original run's
 * options (epochs, learning rate, batch, optimiser, seed, trained filter). It is the reference every
 * other method is measured against: what the model would be had it never seen F.
 *
 * As a method it returns oracle - finetuned on the filtered tensors (the fine-tuned model with the
 * filtered tensors replaced by the oracle's), so it fits the same interface and adapter format; for
 * a LoRA run the oracle is a LoRA fine-tune of the base with the same adapter options, and the
 * method's change is oracle adapter - fine-tuned adapter on the targeted factors. The oracle run is
 * cached in `<run>/oracle/<hash of items and options>/` (finetune() skips a finished
 * run), so comparing several targets trains it once; pass `oracleDir` to time a fresh one.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { finetune } from '../train/finetune.ts';
import { CausalLM } from '../model/model.ts';
import { readLoraAdapter } from '../model/lora.ts';
import { UserError } from '../util/errors.ts';
import { idsSha256, writeRetainModelRecord } from '../data/record.ts';
import { snapshot, diffSince } from './deltas.ts';
import type { UnlearnContext, UnlearnMethod } from './types.ts';

function oracleFolder(ctx: UnlearnContext): string {
  const o = ctx.source.options!;
  const key = crypto
    .createHash('sha256')
    .update(JSON.stringify({ ids: ctx.retain.map((e) => e.id).sort(), o, epochs: ctx.hyper.epochs }))
    .digest('hex')
    .slice(0, 16);
  return path.join(ctx.source.dir!, 'oracle', key);
}

export const retainOnly: UnlearnMethod = {
  name: 'retain-only',
  summary: 'the oracle: fine-tune the base model on the kept training examples only (same options)',
  reference: 'retraining from scratch without F (the exact-unlearning reference)',
  needs: { run: true, retain: true },
  uses: ['epochs'],
  run(ctx) {
    const t0 = performance.now();
    const src = ctx.source;
    if (!src.dir || !src.baseModel || !src.options) {
      throw new UserError(`retain-only needs a fine-tune run folder (its run.json names the base model and options); ${src.checkpoint} is a bare checkpoint`);
    }
    if (!fs.existsSync(src.baseModel)) throw new UserError(`the run's base model ${src.baseModel} no longer exists`);
    if (ctx.retain.length === 0) throw new UserError('retain-only: the training set minus the forget set is empty');
    const o = src.options;
    const out = ctx.oracleDir ?? oracleFolder(ctx);
    const lora = src.lora ? { lora: o.lora ?? { rank: src.lora.rank, alpha: src.lora.alpha }, target: o.target } : { filter: o.filter };
    const r = finetune({
      modelPath: src.baseModel,
      items: ctx.retain.map((e) => ({ id: e.id, text: e.text })),
      out,
      epochs: ctx.hyper.epochs,
      lr: o.lr,
      batch: o.batch,
      optimizer: o.optimizer,
      weightDecay: o.weightDecay,
      ...lora,
      microBatch: o.microBatch,
      record: 'none',
      seed: o.seed,
      maxLen: o.maxLen,
      quiet: ctx.quiet,
      onStep: (s) => ctx.onProgress?.({ method: 'retain-only', step: (s.epoch - 1) * s.stepsPerEpoch + s.step, total: ctx.hyper.epochs * s.stepsPerEpoch, loss: s.loss }),
    });
    // the fine-tune run records its retain-only reference, for eval's forget quality and privleak
    const kept = new Set(ctx.retain.map((e) => e.id));
    const trained = src.items ? [...src.items.keys()] : src.trainIds;
    const excluded = trained ? trained.filter((id) => !kept.has(id)) : ctx.forget.map((e) => e.id);
    writeRetainModelRecord(src.dir, {
      model: src.lora ? src.baseModel : r.checkpoint,
      ...(src.lora ? { adapter: r.adapter! } : {}),
      forget: { ids: excluded, sha256: idsSha256(excluded), count: excluded.length },
      madeBy: `unlearn --method retain-only (${ctx.hyper.epochs} epochs on the ${ctx.retain.length} kept items)`,
    });
    const before = snapshot(ctx.work, ctx.tensors);
    if (src.lora) {
      const oracle = readLoraAdapter(r.adapter!);
      for (const n of ctx.tensors) {
        const t = n.replace(/\.lora_[ab]$/, '');
        const f = oracle.factors.get(t);
        if (!f) throw new UserError(`the oracle adapter ${r.adapter} has no factors of ${t}`);
        ctx.work.weights.get(n)!.data.set(n.endsWith('.lora_a') ? f.a : f.b);
      }
    } else {
      const oracle = CausalLM.load(r.checkpoint);
      for (const n of ctx.tensors) ctx.work.weights.get(n)!.data.set(oracle.weights.get(n)!.data);
    }
    return {
      method: 'retain-only',
      tensors: ctx.tensors,
      deltas: diffSince(ctx.work, before),
      settings: { epochs: ctx.hyper.epochs, lr: o.lr, batch: o.batch, optimizer: o.optimizer, trainedFilter: o.filter, items: ctx.retain.length, oracleCheckpoint: r.checkpoint },
      log: r.epochs.map((e) => ({ epoch: e.epoch, meanLoss: e.meanLoss, seconds: e.seconds })),
      seconds: (performance.now() - t0) / 1000,
    };
  },
};
