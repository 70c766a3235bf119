/**
 * Fine-tuning with the first-epoch gradient record (docs/methods.md#fine-tuning-and-the-gradient-record; Zagardo 2024).
 *
 * Trains the model on the training split of a fact dataset (Dave: retain + forget + decoys; or
 * retain only for the retain-only oracle) for E epochs with AdamW or SGD, seeded and
 * deterministic on CPU (one fixed-shape graph, a seeded shuffle per epoch). With `record`, every
 * example's exact gradient at the parameters it met (restricted to the record filter) is written
 * to `<out>/grads/` during epoch 1 (`first-epoch`) or every epoch (`all-epochs`), with the
 * optimiser's step scale at that step.
 *
 * Run folder (`out`): run.json (options and status), checkpoint.gguf (the model after the last
 * finished epoch), optimizer.bin (AdamW moments), state.json (epochs done, step), grads/. An
 * interrupted run resumes from the last finished epoch when started again with the same options.
 *
 * LoRA (`lora`: Hu et al. 2021): the base stays frozen in its stored type (F16, BF16, Q8_0,
 * K-quants) and only adapter factors A [n_in, r], B [r, n_out] of the target matrices train
 * (y = W x + alpha / r B (A x); A initialised as PEFT does, B zero). The run folder then holds
 * adapter.gguf (a llama.cpp LoRA adapter with the base's sha256) instead of checkpoint.gguf, and
 * run.json's `lora` names it; the gradient record holds the factors' per-example gradients.
 *
 * Memory: the graph holds F32 copies and AdamW moments of the trained tensors only, every frozen
 * weight once in its stored type; activations are bounded by `microBatch` (the batch's gradient
 * accumulated over micro-batches: the same update up to float rounding); the checkpoint keeps each
 * frozen tensor's stored bytes and writes the trained ones (F32, or `saveType`) from the graph one
 * at a time, and the optimiser state is streamed to disk.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { CausalLM, LMSession, loraTensorNames } from '../model/model.ts';
import { GgufMetadata, readGguf, writeGguf, type GgufTensorSpec } from '../model/gguf.ts';
import { ggmlTypeTraits, type GgmlType } from '../model/ggufTypes.ts';
import { resolveFilter } from '../model/paramGroups.ts';
import { initLoraFactors, readLoraAdapter, resolveLoraTargets, writeLoraFactors, type LoraFactors } from '../model/lora.ts';
import { dtypeOfCode, GGML_TYPE, type DType } from '../engine/types.ts';
import { tokenizerFromGguf, type Tokenizer } from '../model/tokenizer/index.ts';
import type { OptimizerKind } from '../engine/graph.ts';
import { checkRecordFits, describeRecordEstimate, estimateRecord, GradRecordWriter, recordLimit, recordStorage, type RecordDType, type RecordEstimate, type RecordTensor } from './gradRecord.ts';
import { tokenizeExamples, type TrainExample } from './examples.ts';
import { Progress } from '../util/progress.ts';
import { Rng } from '../util/rng.ts';
import { checkWritableDir, ensureDir, readJsonIfExists, sha256File, writeFileAtomic, writeJsonAtomic, writevAllSync } from '../util/fs.ts';
import { UserError } from '../util/errors.ts';
import type { DatasetRecord } from '../data/record.ts';

export type RecordMode = 'first-epoch' | 'all-epochs' | 'none';

/**
 * The type trained tensors are written in to checkpoint.gguf (frozen tensors always keep their
 * stored bytes; 1-D tensors are F32): f32 (default: resuming continues exactly), base (each tensor's
 * type in the base model, requantised for block types), or one type for all.
 */
export type SaveType = 'f32' | 'base' | 'f16' | 'bf16' | 'q8_0';
export const SAVE_TYPES: readonly SaveType[] = ['f32', 'base', 'f16', 'bf16', 'q8_0'];

/** LoRA training options: rank r and alpha (scale alpha / r; default alpha = r). */
export interface LoraTrainOptions {
  rank: number;
  alpha?: number;
}

export interface FinetuneOptions {
  modelPath: string;
  /** Training items (id + text). */
  items: Array<{ id: string; text: string }>;
  out: string;
  epochs?: number;
  lr?: number;
  batch?: number;
  optimizer?: OptimizerKind;
  weightDecay?: number;
  /** Layer target of the trained tensors (full fine-tuning; not with `lora`). */
  filter?: string;
  /** Train LoRA adapters instead of the weights (see the module comment). */
  lora?: LoraTrainOptions;
  /** LoRA: layer targets whose matrices get adapters (lora.ts resolveLoraTargets; default every block's attention and MLP matrices). */
  target?: string;
  /** Sequences per forward/backward: the batch's gradient is accumulated over micro-batches of this size (default: the batch). */
  microBatch?: number;
  /** Type of the trained tensors in checkpoint.gguf (default f32). */
  saveType?: SaveType;
  record?: RecordMode;
  /** Layer target of the recorded tensors (default: the train filter); must be within it. */
  recordFilter?: string;
  recordDtype?: RecordDType;
  /** Largest record to write, in GB (10^9 bytes); default 25% of the free space where `out` is (gradRecord.ts recordLimit). */
  maxRecordGb?: number;
  seed?: number;
  /** Longest example in tokens (longer ones are clipped); default: the model's context. */
  maxLen?: number;
  quiet?: boolean;
  /**
   * The dataset the items came from (data/record.ts), written to run.json so that `unlearn --from`
   * and `eval` use it by default; not part of the run's identity (the items are).
   */
  dataset?: DatasetRecord;
  /** Called after every step (for the TUI). */
  onStep?: (s: StepInfo) => void;
  /**
   * `--eval-every N` (eval/series.ts): `fn` gets the model as it stands (a view whose trained tensors
   * are the session's current values) at optimiser step 0 of a fresh run, every `every` steps and
   * after the last step.
   */
  onWeights?: { every: number; fn: (model: CausalLM, step: number) => void };
  /** Cancels between steps; the run folder keeps the last finished epoch. */
  signal?: AbortSignal;
}

export interface StepInfo {
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  tokensPerSecond: number;
  recordBytes: number;
}

export interface EpochSummary {
  epoch: number;
  meanLoss: number;
  seconds: number;
  tokens: number;
  recorded: boolean;
}

export interface FinetuneResult {
  out: string;
  /** The model after training: checkpoint.gguf, or for a LoRA run its adapter.gguf (applied to `baseModel`). */
  checkpoint: string;
  /** LoRA runs: the adapter file (= checkpoint) and the base model it applies to; null otherwise. */
  adapter: string | null;
  baseModel: string;
  epochs: EpochSummary[];
  tokensPerSecond: number;
  recordDir: string | null;
  trainedTensors: string[];
  recordedTensors: string[];
  resumedFromEpoch: number;
  /** The record's size as estimated before training (this invocation's recorded epochs), when one was written. */
  recordEstimate?: RecordEstimate;
}

interface RunState {
  optionsHash: string;
  epochsDone: number;
  step: number;
  epochs: EpochSummary[];
}

export const FINETUNE_DEFAULTS = { epochs: 3, lr: 1e-3, batch: 8, optimizer: 'adamw' as OptimizerKind, weightDecay: 0, filter: 'all', record: 'first-epoch' as RecordMode, recordDtype: 'f32' as RecordDType, seed: 0, saveType: 'f32' as SaveType };

/** Option keys that identify a run (hashed: a run folder resumes only with the same ones) and are written to run.json. */
const RUN_KEYS = ['epochs', 'lr', 'batch', 'optimizer', 'weightDecay', 'filter', 'record', 'recordFilter', 'recordDtype', 'seed', 'maxLen', 'lora', 'target', 'microBatch', 'saveType'];

export { sha256File };

export function finetune(o: FinetuneOptions): FinetuneResult {
  if (o.lora && o.filter !== undefined) throw new UserError('--filter chooses the fully trained tensors; a LoRA run (--lora) chooses its adapted matrices with --target');
  if (!o.lora && o.target !== undefined) throw new UserError('--target chooses the matrices a LoRA run adapts; give --lora r[,alpha] (or use --filter for full fine-tuning)');
  const opt = { ...FINETUNE_DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) } as Required<
    Omit<FinetuneOptions, 'onStep' | 'signal' | 'maxLen' | 'recordFilter' | 'lora' | 'target' | 'microBatch'>
  > &
    FinetuneOptions;
  if (opt.lora) {
    opt.filter = 'lora';
    const { rank } = opt.lora;
    if (!Number.isInteger(rank) || rank < 1) throw new UserError(`--lora rank must be a positive integer, got ${rank}`);
    const alpha = opt.lora.alpha ?? rank;
    if (!Number.isFinite(alpha) || alpha <= 0) throw new UserError(`--lora alpha must be a positive number, got ${alpha}`);
    opt.lora = { rank, alpha };
  }
  if (opt.microBatch !== undefined && (!Number.isInteger(opt.microBatch) || opt.microBatch < 1)) throw new UserError(`--micro-batch must be a positive integer, got ${opt.microBatch}`);
  if (!SAVE_TYPES.includes(opt.saveType)) throw new UserError(`unknown --save-type '${String(opt.saveType)}'; use ${SAVE_TYPES.join(', ')}`);
  if (!Number.isInteger(opt.epochs) || opt.epochs < 1) throw new UserError(`--epochs must be a positive integer, got ${opt.epochs}`);
  if (!(opt.lr > 0)) throw new UserError(`--lr must be positive, got ${opt.lr}`);
  if (!Number.isInteger(opt.batch) || opt.batch < 1) throw new UserError(`--batch must be a positive integer, got ${opt.batch}`);
  if (opt.optimizer !== 'adamw' && opt.optimizer !== 'sgd') throw new UserError(`unknown optimizer '${String(opt.optimizer)}'; use adamw or sgd`);
  if (!['first-epoch', 'all-epochs', 'none'].includes(opt.record)) throw new UserError(`unknown --record '${opt.record}'; use first-epoch, all-epochs or none`);
  if (opt.items.length === 0) throw new UserError('no training items');
  if (!fs.existsSync(opt.modelPath)) throw new UserError(`model file ${opt.modelPath} does not exist`);

  checkWritableDir(opt.out, '--out'); // before any work: a file in the way is a UserError, not a stack
  ensureDir(opt.out);
  writeFileAtomic(path.join(opt.out, 'items.jsonl'), opt.items.map((i) => JSON.stringify({ id: i.id, text: i.text })).join('\n') + '\n');
  const baseHash = sha256File(opt.modelPath);
  const hashed = { base: baseHash, items: opt.items.map((i) => i.id + '\u0000' + i.text), ...pick(opt, RUN_KEYS) };
  const optionsHash = crypto.createHash('sha256').update(JSON.stringify(hashed)).digest('hex');
  const statePath = path.join(opt.out, 'state.json');
  const checkpoint = path.join(opt.out, opt.lora ? 'adapter.gguf' : 'checkpoint.gguf');
  let state = readJsonIfExists<RunState | null>(statePath, null);
  if (state && state.optionsHash !== optionsHash) {
    throw new UserError(`${opt.out} holds a fine-tuning run with other options or data; choose another --out or delete it`);
  }
  const resumed = !!state && state.epochsDone > 0;
  if (!state) state = { optionsHash, epochsDone: 0, step: 0, epochs: [] };
  if (state.epochsDone >= opt.epochs) {
    // finished earlier: the tensors it trained and recorded are in its run.json
    const done = readJsonIfExists<{ trainedTensors?: string[]; recordedTensors?: string[] }>(path.join(opt.out, 'run.json'), {});
    return result(opt, state, checkpoint, done.trainedTensors ?? [], done.recordedTensors ?? []);
  }
  // a LoRA run trains on the base (its adapter resumes from adapter.gguf); a full one resumes from its checkpoint
  const model = CausalLM.load(resumed && !opt.lora ? checkpoint : opt.modelPath);
  const tok: Tokenizer = tokenizerFromGguf(model.file!);
  let trained: string[];
  let recorded: string[];
  let loraTargets: string[] = [];
  if (opt.lora) {
    loraTargets = resolveLoraTargets(opt.target, model.config);
    let factors: Map<string, LoraFactors>;
    if (resumed) {
      const file = readLoraAdapter(checkpoint);
      if (JSON.stringify([...file.factors.keys()]) !== JSON.stringify(loraTargets)) throw new UserError(`cannot resume: ${checkpoint} adapts other tensors than --target ${opt.target ?? '(default)'}`);
      factors = file.factors;
    } else factors = initLoraFactors(model, loraTargets, opt.lora.rank, opt.seed);
    model.attachLora({ alpha: opt.lora.alpha!, factors });
    trained = model.loraTensorNames;
    recorded = opt.record === 'none' ? [] : opt.recordFilter ? loraTensorNames(resolveLoraTargets(opt.recordFilter, model.config)) : trained;
    for (const n of recorded) if (!trained.includes(n)) throw new UserError(`recorded adapter tensor ${n} is not trained by --target ${opt.target ?? '(default)'}`);
  } else {
    trained = resolveFilter(opt.filter, model.config);
    recorded = opt.record === 'none' ? [] : resolveFilter(opt.recordFilter ?? opt.filter, model.config);
    for (const n of recorded) if (!trained.includes(n)) throw new UserError(`recorded tensor ${n} is not trained by --filter ${opt.filter}`);
  }
  writeJsonAtomic(path.join(opt.out, 'run.json'), {
    kind: 'finetune',
    model: path.resolve(opt.modelPath),
    baseModelSha256: baseHash,
    options: pick(opt, RUN_KEYS),
    lora: opt.lora ? { rank: opt.lora.rank, alpha: opt.lora.alpha, targets: loraTargets, adapter: 'adapter.gguf' } : undefined,
    trainedTensors: trained,
    recordedTensors: recorded,
    items: opt.items.length,
    quantizedTensors: model.quantizedTensors,
    ...(o.dataset ? { dataset: o.dataset } : {}),
  });
  if (model.quantizedTensors.length && !opt.quiet) {
    const frozen = model.quantizedTensors.filter((n) => !trained.includes(n)).length;
    const own = model.quantizedTensors.length - frozen;
    process.stderr.write(
      `note: ${model.quantizedTensors.length} tensors of ${opt.modelPath} are stored in reduced precision: ${frozen} frozen ones stay in their stored type` +
        (own ? `, ${own} trained ones train as F32 copies` : '') +
        '\n',
    );
  }

  const maxLen = Math.min(opt.maxLen ?? model.config.nCtx, model.config.nCtx);
  const { examples, clipped } = tokenizeExamples(opt.items, tok, maxLen);
  if (clipped && !opt.quiet) process.stderr.write(`note: ${clipped} examples were clipped to ${maxLen} tokens\n`);
  const T = Math.max(...examples.map((e) => e.tokens.length));
  const B = Math.min(opt.batch, examples.length);
  const micro = Math.min(opt.microBatch ?? B, B);
  const accumulate = micro < B;
  // the record's exact size from the examples' lengths, checked against the limit before any training
  const recordTensors: RecordTensor[] = recorded.map((name) => {
    const ne = model.weights.get(name)!.ne;
    return { name, ne, storage: recordStorage(name, ne, model.config.tiedOutput) };
  });
  const recordEpochs = recorded.length === 0 ? 0 : opt.record === 'all-epochs' ? opt.epochs - state.epochsDone : state.epochsDone === 0 ? 1 : 0;
  let recordEstimate: RecordEstimate | undefined;
  if (recordEpochs > 0) {
    recordEstimate = estimateRecord({ tensors: recordTensors, dtype: opt.recordDtype, optimizer: opt.optimizer, sequences: examples.map((e) => e.tokens), batch: B, epochs: recordEpochs });
    const limit = recordLimit(opt.out, opt.maxRecordGb);
    if (!opt.quiet) process.stderr.write(describeRecordEstimate(recordEstimate, limit) + '\n');
    checkRecordFits(recordEstimate, limit);
  }
  // an interrupted run leaves the unfinished epoch's record (grads/epoch-N.bin): it is discarded and the epoch starts over
  const partial = path.join(opt.out, 'grads', `epoch-${state.epochsDone + 1}.bin`);
  if (recordEpochs > 0 && fs.existsSync(partial) && !opt.quiet) {
    process.stderr.write(
      `note: discarding the unfinished record of epoch ${state.epochsDone + 1} left by an interrupted run (${path.relative(process.cwd(), partial) || partial}, ${(fs.statSync(partial).size / 2 ** 20).toFixed(1)} MB); ` +
        `epoch ${state.epochsDone + 1} starts over${state.epochsDone > 0 ? ` from the checkpoint of epoch ${state.epochsDone}` : ''}\n`,
    );
  }
  const session = new LMSession(model, { T, B: micro, mode: 'train', trainable: trained, optimizer: opt.optimizer, record: recorded, recordFactored: true, accumulate });
  // the graph holds the trained tensors' master copies; the checkpoint is written from it
  if (!opt.lora) session.releaseHostCopies();
  const writer =
    recorded.length > 0
      ? new GradRecordWriter(path.join(opt.out, 'grads'), {
          dtype: opt.recordDtype,
          optimizer: opt.optimizer,
          adam: opt.optimizer === 'adamw' ? { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: opt.weightDecay } : undefined,
          baseModelSha256: baseHash,
          tensors: recordTensors,
        })
      : null;
  try {
    if (resumed) restoreOptimizer(session, path.join(opt.out, 'optimizer.bin'), state.step);
    const stepsPerEpoch = Math.ceil(examples.length / B);
    // the model as it stands, for opt.onWeights: trained tensors read from the session (no host copy kept)
    const weightsView = (): CausalLM => {
      const live = new Set(trained);
      const w = new Map([...model.weights].map(([k, v]) => [k, live.has(k) ? { name: v.name, ne: [...v.ne], data: session.trainedValues(k), fileType: 'f32' as const } : v]));
      const view = new CausalLM(model.config, w, model.source, model.file);
      view.lora = model.lora;
      return view;
    };
    const every = o.onWeights?.every ?? 0;
    if (every > 0 && state.step === 0) o.onWeights!.fn(weightsView(), 0);
    if (!opt.quiet) process.stderr.write(`training: ${opt.epochs - state.epochsDone} epochs x ${stepsPerEpoch} steps (${examples.length} examples, batch ${B}) = ${(opt.epochs - state.epochsDone) * stepsPerEpoch} optimiser steps\n`);
    const tStart = performance.now();
    let tokensAll = 0;
    for (let epoch = state.epochsDone + 1; epoch <= opt.epochs; epoch++) {
      const recordThis = writer !== null && (opt.record === 'all-epochs' || epoch === 1);
      if (recordThis) writer!.beginEpoch(epoch);
      const order = new Rng(opt.seed * 1000 + epoch).shuffle(examples.slice());
      const progress = new Progress({ total: stepsPerEpoch, label: `epoch ${epoch}/${opt.epochs}`, quiet: opt.quiet });
      const t0 = performance.now();
      let lossSum = 0;
      let tokens = 0;
      let recordBytes = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        if (opt.signal?.aborted) {
          writer?.abort();
          throw new UserError('fine-tuning cancelled; the run folder keeps the last finished epoch');
        }
        const batch: TrainExample[] = order.slice(s * B, (s + 1) * B);
        const hyper = { lr: opt.lr, weightDecay: opt.weightDecay };
        const stepNo = state.step + 1;
        let loss = 0;
        let nPred = 0;
        if (!accumulate) {
          nPred = session.setBatch(batch.map((e) => e.tokens));
          loss = session.step(hyper, { record: recordThis });
          if (recordThis) {
            const pe = session.perExample({ reuse: true }); // written below before the next step
            batch.forEach((e, b) => writer!.addExample(e.id, stepNo, pe.grads[b]!, pe.weights[b]!, pe.tokens[b]!));
          }
        } else {
          // the batch's gradient summed over micro-batches, each weighted by its share of the batch's tokens
          const batchTokens = batch.reduce((a, e) => a + Math.max(0, e.tokens.length - 1), 0);
          for (let i = 0; i < batch.length; i += micro) {
            const part = batch.slice(i, i + micro);
            nPred += session.setBatch(part.map((e) => e.tokens), { batchTokens });
            loss += recordThis ? session.backwardRecord() : session.backward();
            if (recordThis) {
              const pe = session.perExample({ reuse: true });
              part.forEach((e, b) => writer!.addExample(e.id, stepNo, pe.grads[b]!, pe.weights[b]!, pe.tokens[b]!));
            }
          }
          session.update(hyper);
        }
        if (!Number.isFinite(loss)) nonFiniteStop(opt, writer, `the loss is ${loss}`, epoch, s + 1, stepNo);
        state.step = stepNo;
        if (recordThis) {
          const scales = opt.optimizer === 'adamw' ? recorded.map((n) => session.adamStepScale(n, opt.lr)) : undefined;
          writer!.addStep(state.step, opt.lr, batch.length, scales);
          recordBytes = fs.statSync(path.join(opt.out, 'grads', `epoch-${epoch}.bin`)).size;
        }
        lossSum += loss * nPred;
        tokens += nPred;
        const tps = tokens / ((performance.now() - t0) / 1000);
        progress.update(s + 1, { loss, 'tok/s': tps, ...(recordThis ? { record: `${(recordBytes / 2 ** 20).toFixed(1)}MB` } : {}) });
        opt.onStep?.({ epoch, step: s + 1, stepsPerEpoch, loss, tokensPerSecond: tps, recordBytes });
        const last = epoch === opt.epochs && s === stepsPerEpoch - 1;
        if (every > 0 && (stepNo % every === 0 || last)) o.onWeights!.fn(weightsView(), stepNo);
      }
      progress.finish();
      // the last update of the epoch has no loss after it: one forward of its batch at the new
      // weights (finite weights can still overflow, e.g. LoRA factors of 1e10), then the weights
      session.forward();
      const lossAfter = session.graph.lossValue();
      if (!Number.isFinite(lossAfter)) nonFiniteStop(opt, writer, `the loss after the epoch's last update is ${lossAfter}`, epoch, stepsPerEpoch, state.step);
      for (const n of trained) {
        const bad = session.trainedValues(n).findIndex((x) => !Number.isFinite(x));
        if (bad >= 0) nonFiniteStop(opt, writer, `${n} holds a non-finite weight (element ${bad})`, epoch, stepsPerEpoch, state.step);
      }
      if (recordThis) writer!.finishEpoch();
      session.releaseScratch(); // the activations' memory, while the checkpoint and optimiser state are written
      if (opt.lora) {
        session.downloadWeights(); // the adapter's factors (small) back on the host
        const factors = new Map(loraTargets.map((t) => [t, model.loraFactors(t)]));
        writeLoraFactors(checkpoint, { arch: model.config.arch, alpha: opt.lora.alpha!, factors, baseSha256: baseHash, name: `LoRA fine-tune of ${path.basename(opt.modelPath)}` });
      } else {
        saveCheckpoint(model, session, checkpoint, { saveType: opt.saveType, baseFile: opt.modelPath, name: `finetune of ${path.basename(opt.modelPath)}` });
      }
      saveOptimizer(session, path.join(opt.out, 'optimizer.bin'));
      const seconds = (performance.now() - t0) / 1000;
      tokensAll += tokens;
      state.epochs.push({ epoch, meanLoss: lossSum / tokens, seconds, tokens, recorded: recordThis });
      state.epochsDone = epoch;
      writeJsonAtomic(statePath, state);
    }
    const secondsAll = (performance.now() - tStart) / 1000;
    return { ...result(opt, state, checkpoint, trained, recorded), tokensPerSecond: tokensAll / secondsAll, resumedFromEpoch: resumed ? (state.epochs[0]?.epoch ?? 0) : 0, recordEstimate };
  } finally {
    session.dispose();
  }
}

/**
 * Stop training at the first non-finite loss or weight: nothing of this epoch is saved (the record
 * being written is discarded; an earlier epoch's checkpoint stays), and the error names the step
 * and the likely cause. A finite loss followed by a non-finite one within a few steps is almost
 * always a learning rate too large for the optimiser (AdamW moves every weight by about lr per step).
 */
function nonFiniteStop(opt: { lr: number; optimizer: string; out: string }, writer: GradRecordWriter | null, what: string, epoch: number, step: number, optimiserStep: number): never {
  if (writer) {
    writer.abort();
    // the unfinished epoch's record files (the record of finished epochs stays)
    for (const f of [`epoch-${epoch}.bin`, `steps-${epoch}.bin`]) fs.rmSync(path.join(opt.out, 'grads', f), { force: true });
  }
  const g = (x: number) => (Math.abs(x) >= 1e4 || Math.abs(x) < 1e-3 ? x.toExponential() : String(x));
  throw new UserError(
    `training stopped at epoch ${epoch}, step ${step} (optimiser step ${optimiserStep}): ${what}; likely cause: the learning rate --lr ${g(opt.lr)} is too large for ${opt.optimizer} ` +
      `(try ${g(opt.lr / 10)} or smaller). Nothing of this epoch was saved${epoch > 1 ? `; ${opt.out} keeps epoch ${epoch - 1}` : ''}.`,
  );
}

function result(opt: FinetuneOptions, state: RunState, checkpoint: string, trained: string[], recorded: string[]): FinetuneResult {
  const recDir = path.join(opt.out, 'grads');
  return {
    out: opt.out,
    checkpoint,
    adapter: opt.lora ? checkpoint : null,
    baseModel: opt.modelPath,
    epochs: state.epochs,
    tokensPerSecond: NaN,
    recordDir: fs.existsSync(path.join(recDir, 'index.json')) ? recDir : null,
    trainedTensors: trained,
    recordedTensors: recorded,
    resumedFromEpoch: 0,
  };
}

function pick<T extends object>(o: T, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, (o as Record<string, unknown>)[k]]));
}

/**
 * Write checkpoint.gguf (atomically): the source file's metadata and tokenizer, every frozen tensor
 * in its stored bytes, every trained tensor read from the graph when it is written (one at a time:
 * no host copy of the model) in `saveType`. 1-D tensors and tensors whose rows are not whole blocks
 * of the chosen type are F32.
 */
function saveCheckpoint(model: CausalLM, session: LMSession, file: string, o: { saveType: SaveType; baseFile: string; name: string }): void {
  if (!model.file) throw new UserError('this model has no source GGUF to copy its metadata and tokenizer from');
  const trained = new Set(session.graph.params.map((p) => p.name));
  const baseTypes = o.saveType === 'base' ? new Map(readGguf(o.baseFile).tensors.map((t) => [t.name, dtypeOfCode(t.type)])) : null;
  const metadata = new GgufMetadata(model.file.metadata.typedEntries());
  metadata.setTyped('general.name', o.name, 'string');
  const tensors: GgufTensorSpec[] = model.tensorNames.map((name) => {
    const h = model.weights.get(name)!;
    const ne = [...h.ne];
    if (!trained.has(name)) {
      if (h.fileType !== 'f32' && h.fileBytes) return { name, type: GGML_TYPE[h.fileType] as GgmlType, ne, data: h.fileBytes };
      return { name, type: 'F32', ne, data: () => h.data };
    }
    let type: DType = o.saveType === 'base' ? (baseTypes!.get(name) ?? 'f32') : o.saveType;
    const blockSize = ggmlTypeTraits(GGML_TYPE[type])?.blockSize ?? 1;
    if (ne.length < 2 || ne[0]! % blockSize !== 0) type = 'f32';
    return { name, type: GGML_TYPE[type] as GgmlType, ne, data: () => session.trainedValues(name) };
  });
  writeGguf(file, { metadata, tensors, alignment: model.file.alignment });
}

/** AdamW moments of every trainable tensor, m then v, in graph parameter order (f32), streamed to `file` (atomically). */
function saveOptimizer(session: LMSession, file: string): void {
  if (session.opts.optimizer !== 'adamw') return;
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    for (const p of session.graph.params) {
      const { m, v } = session.graph.adamMoments(p);
      writevAllSync(fd, [new Uint8Array(m.buffer, m.byteOffset, m.byteLength), new Uint8Array(v.buffer, v.byteOffset, v.byteLength)]);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

function restoreOptimizer(session: LMSession, file: string, iteration: number): void {
  if (session.opts.optimizer !== 'adamw') return;
  if (!fs.existsSync(file)) throw new UserError(`cannot resume: ${file} is missing`);
  const need = session.graph.params.reduce((a, p) => a + 8 * p.numel, 0);
  if (fs.statSync(file).size < need) throw new UserError(`cannot resume: ${file} is truncated`);
  const fd = fs.openSync(file, 'r');
  try {
    let off = 0;
    const read = (n: number): Float32Array => {
      const out = new Float32Array(n);
      const got = fs.readSync(fd, new Uint8Array(out.buffer), 0, 4 * n, off);
      if (got !== 4 * n) throw new UserError(`cannot resume: ${file} is truncated`);
      off += 4 * n;
      return out;
    };
    for (const p of session.graph.params) {
      const m = read(p.numel);
      const v = read(p.numel);
      session.graph.restoreAdam(p, m, v, iteration);
    }
  } finally {
    fs.closeSync(fd);
  }
}
