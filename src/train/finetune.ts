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
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { CausalLM, LMSession } from '../model/model.ts';
import { saveModel } from '../model/save.ts';
import { resolveFilter } from '../model/paramGroups.ts';
import { tokenizerFromGguf, type Tokenizer } from '../model/tokenizer/index.ts';
import type { OptimizerKind } from '../engine/graph.ts';
import { GradRecordWriter, type RecordDType, type RecordTensor } from './gradRecord.ts';
import { tokenizeExamples, type TrainExample } from './examples.ts';
import { Progress } from '../util/progress.ts';
import { Rng } from '../util/rng.ts';
import { ensureDir, readJsonIfExists, writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { UserError } from '../util/errors.ts';

export type RecordMode = 'first-epoch' | 'all-epochs' | 'none';

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
  /** Layer target of the trained tensors. */
  filter?: string;
  record?: RecordMode;
  /** Layer target of the recorded tensors (default: the train filter); must be within it. */
  recordFilter?: string;
  recordDtype?: RecordDType;
  seed?: number;
  /** Longest example in tokens (longer ones are clipped); default: the model's context. */
  maxLen?: number;
  quiet?: boolean;
  /** Called after every step (for the TUI). */
  onStep?: (s: StepInfo) => void;
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
  checkpoint: string;
  epochs: EpochSummary[];
  tokensPerSecond: number;
  recordDir: string | null;
  trainedTensors: string[];
  recordedTensors: string[];
  resumedFromEpoch: number;
}

interface RunState {
  optionsHash: string;
  epochsDone: number;
  step: number;
  epochs: EpochSummary[];
}

export const FINETUNE_DEFAULTS = { epochs: 3, lr: 1e-3, batch: 8, optimizer: 'adamw' as OptimizerKind, weightDecay: 0, filter: 'all', record: 'first-epoch' as RecordMode, recordDtype: 'f32' as RecordDType, seed: 0 };

export function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

export function finetune(o: FinetuneOptions): FinetuneResult {
  const opt = { ...FINETUNE_DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) } as Required<Omit<FinetuneOptions, 'onStep' | 'signal' | 'maxLen' | 'recordFilter'>> &
    FinetuneOptions;
  if (!Number.isInteger(opt.epochs) || opt.epochs < 1) throw new UserError(`--epochs must be a positive integer, got ${opt.epochs}`);
  if (!(opt.lr > 0)) throw new UserError(`--lr must be positive, got ${opt.lr}`);
  if (!Number.isInteger(opt.batch) || opt.batch < 1) throw new UserError(`--batch must be a positive integer, got ${opt.batch}`);
  if (opt.optimizer !== 'adamw' && opt.optimizer !== 'sgd') throw new UserError(`unknown optimizer '${String(opt.optimizer)}'; use adamw or sgd`);
  if (!['first-epoch', 'all-epochs', 'none'].includes(opt.record)) throw new UserError(`unknown --record '${opt.record}'; use first-epoch, all-epochs or none`);
  if (opt.items.length === 0) throw new UserError('no training items');
  if (!fs.existsSync(opt.modelPath)) throw new UserError(`model file ${opt.modelPath} does not exist`);

  ensureDir(opt.out);
  writeFileAtomic(path.join(opt.out, 'items.jsonl'), opt.items.map((i) => JSON.stringify({ id: i.id, text: i.text })).join('\n') + '\n');
  const baseHash = sha256File(opt.modelPath);
  const hashed = { base: baseHash, items: opt.items.map((i) => i.id + '\u0000' + i.text), ...pick(opt, ['epochs', 'lr', 'batch', 'optimizer', 'weightDecay', 'filter', 'record', 'recordFilter', 'recordDtype', 'seed', 'maxLen']) };
  const optionsHash = crypto.createHash('sha256').update(JSON.stringify(hashed)).digest('hex');
  const statePath = path.join(opt.out, 'state.json');
  const checkpoint = path.join(opt.out, 'checkpoint.gguf');
  let state = readJsonIfExists<RunState | null>(statePath, null);
  if (state && state.optionsHash !== optionsHash) {
    throw new UserError(`${opt.out} holds a fine-tuning run with other options or data; choose another --out or delete it`);
  }
  const resumed = !!state && state.epochsDone > 0;
  if (!state) state = { optionsHash, epochsDone: 0, step: 0, epochs: [] };
  if (state.epochsDone >= opt.epochs) {
    return result(opt, state, checkpoint, [], []);
  }
  const model = CausalLM.load(resumed ? checkpoint : opt.modelPath);
  const tok: Tokenizer = tokenizerFromGguf(model.file!);
  const trained = resolveFilter(opt.filter, model.config);
  const recorded = opt.record === 'none' ? [] : resolveFilter(opt.recordFilter ?? opt.filter, model.config);
  for (const n of recorded) if (!trained.includes(n)) throw new UserError(`recorded tensor ${n} is not trained by --filter ${opt.filter}`);
  writeJsonAtomic(path.join(opt.out, 'run.json'), {
    kind: 'finetune',
    model: path.resolve(opt.modelPath),
    baseModelSha256: baseHash,
    options: pick(opt, ['epochs', 'lr', 'batch', 'optimizer', 'weightDecay', 'filter', 'record', 'recordFilter', 'recordDtype', 'seed', 'maxLen']),
    trainedTensors: trained,
    recordedTensors: recorded,
    items: opt.items.length,
    quantizedTensors: model.quantizedTensors,
  });
  if (model.quantizedTensors.length && !opt.quiet) {
    process.stderr.write(`note: ${model.quantizedTensors.length} tensors of ${opt.modelPath} are stored in reduced precision; training uses F32 copies\n`);
  }

  const maxLen = Math.min(opt.maxLen ?? model.config.nCtx, model.config.nCtx);
  const { examples, clipped } = tokenizeExamples(opt.items, tok, maxLen);
  if (clipped && !opt.quiet) process.stderr.write(`note: ${clipped} examples were clipped to ${maxLen} tokens\n`);
  const T = Math.max(...examples.map((e) => e.tokens.length));
  const B = Math.min(opt.batch, examples.length);
  const session = new LMSession(model, { T, B, mode: 'train', trainable: trained, optimizer: opt.optimizer, record: recorded });
  const recordTensors: RecordTensor[] = recorded.map((name) => ({
    name,
    ne: model.weights.get(name)!.ne,
    storage: name === 'token_embd.weight' && !model.config.tiedOutput ? 'sparse' : name === 'position_embd.weight' ? 'sparse' : 'dense',
  }));
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
        const nPred = session.setBatch(batch.map((e) => e.tokens));
        const loss = session.step({ lr: opt.lr, weightDecay: opt.weightDecay }, { record: recordThis });
        state.step++;
        if (recordThis) {
          const pe = session.perExample({ reuse: true }); // written below before the next step
          batch.forEach((e, b) => writer!.addExample(e.id, state!.step, pe.grads[b]!, pe.weights[b]!, pe.tokens[b]!));
          const scales = opt.optimizer === 'adamw' ? recorded.map((n) => session.adamStepScale(n, opt.lr)) : undefined;
          writer!.addStep(state.step, opt.lr, batch.length, scales);
          recordBytes = fs.statSync(path.join(opt.out, 'grads', `epoch-${epoch}.bin`)).size;
        }
        lossSum += loss * nPred;
        tokens += nPred;
        const tps = tokens / ((performance.now() - t0) / 1000);
        progress.update(s + 1, { loss, 'tok/s': tps, ...(recordThis ? { record: `${(recordBytes / 2 ** 20).toFixed(1)}MB` } : {}) });
        opt.onStep?.({ epoch, step: s + 1, stepsPerEpoch, loss, tokensPerSecond: tps, recordBytes });
      }
      progress.finish();
      if (recordThis) writer!.finishEpoch();
      session.downloadWeights();
      saveModel(model, checkpoint, { name: `finetune of ${path.basename(opt.modelPath)}` });
      saveOptimizer(session, path.join(opt.out, 'optimizer.bin'));
      const seconds = (performance.now() - t0) / 1000;
      tokensAll += tokens;
      state.epochs.push({ epoch, meanLoss: lossSum / tokens, seconds, tokens, recorded: recordThis });
      state.epochsDone = epoch;
      writeJsonAtomic(statePath, state);
    }
    const secondsAll = (performance.now() - tStart) / 1000;
    return { ...result(opt, state, checkpoint, trained, recorded), tokensPerSecond: tokensAll / secondsAll, resumedFromEpoch: resumed ? state.epochs[0]?.epoch ?? 0 : 0 };
  } finally {
    session.dispose();
  }
}

function result(opt: FinetuneOptions, state: RunState, checkpoint: string, trained: string[], recorded: string[]): FinetuneResult {
  const recDir = path.join(opt.out, 'grads');
  return {
    out: opt.out,
    checkpoint,
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

/** AdamW moments of every trainable tensor, concatenated in graph parameter order (f32). */
function saveOptimizer(session: LMSession, file: string): void {
  if (session.opts.optimizer !== 'adamw') return;
  const parts: Uint8Array[] = [];
  for (const p of session.graph.params) {
    const { m, v } = session.graph.adamMoments(p);
    parts.push(new Uint8Array(m.buffer), new Uint8Array(v.buffer));
  }
  const total = parts.reduce((a, p) => a + p.byteLength, 0);
  const buf = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    buf.set(p, off);
    off += p.byteLength;
  }
  writeFileAtomic(file, buf);
}

function restoreOptimizer(session: LMSession, file: string, iteration: number): void {
  if (session.opts.optimizer !== 'adamw') return;
  if (!fs.existsSync(file)) throw new UserError(`cannot resume: ${file} is missing`);
  const buf = fs.readFileSync(file);
  let off = 0;
  for (const p of session.graph.params) {
    const n = p.numel;
    if (off + 8 * n > buf.byteLength) throw new UserError(`cannot resume: ${file} is truncated`);
    const m = new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + off + 4 * n));
    off += 4 * n;
    const v = new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + off + 4 * n));
    off += 4 * n;
    session.graph.restoreAdam(p, m, v, iteration);
  }
}
