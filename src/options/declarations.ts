/**
 * The declarations of unlearnkit's options, one table per family (see types.ts). The command
 * modules register them on commander (options/commander.ts), the TUI builds its form fields from
 * them (options/form.ts), the server its request schemas (options/jsonSchema.ts), and every value
 * passes options/validate.ts before any work.
 *
 * The ranges are the settings that can give a meaningful result: a learning rate is finite and
 * positive, a count is a whole number, a temperature is not negative. Upper bounds are stated where
 * a larger value is a typo rather than a setting (`--epochs 1e9`: 1000 epochs at most; a LoRA
 * scale beyond +-16 turns any adapter into noise, 1e308 gave a null perplexity in the server).
 * Choices that other modules also hold (devices, splits, save types) are checked against those
 * modules' lists by test/options/declarations.test.ts (importing them here would load the engine).
 */
import type { OptionDecl } from './types.ts';

/** Declare a table keeping each entry's literal type (for Values<T>). */
function optionTable<const T extends Record<string, OptionDecl>>(t: T): T {
  for (const [k, d] of Object.entries(t)) if (d.key !== k) throw new Error(`option table: entry ${k} declares key ${d.key}`);
  return t;
}

/** Largest seed (the seeds feed 32-bit generators). */
const MAX_SEED = 2 ** 32 - 1;

/** Most epochs a fine-tune, retain-only oracle or RUM run may ask for. */
const MAX_EPOCHS = 1000;

export const DEVICE_CHOICES = ['auto', 'cpu', 'cuda', 'vulkan', 'metal'] as const;
export const FACT_SPLIT_CHOICES = ['forget', 'retain', 'holdout', 'decoy', 'real_authors', 'world_facts'] as const;
export const SAVE_TYPE_CHOICES = ['f32', 'base', 'f16', 'bf16', 'q8_0'] as const;
const OPTIMIZER_CHOICES = ['adamw', 'sgd'] as const;
const RECORD_CHOICES = ['first-epoch', 'all-epochs', 'none'] as const;
const STRATEGY_CHOICES = ['batch', 'iterative', 'fuzzy'] as const;

/** `--device`: every command that computes (commands/deviceOption.ts resolves it). */
export const deviceDecl = {
  key: 'device',
  flag: '--device',
  arg: '<device>',
  type: 'enum',
  choices: DEVICE_CHOICES,
  help: 'compute device (default: $UNLEARNKIT_DEVICE, else auto)',
} as const satisfies OptionDecl;

const seedDecl = { key: 'seed', flag: '--seed', arg: '<n>', type: 'integer', min: 0, max: MAX_SEED, default: 0, help: 'seed' } as const satisfies OptionDecl;

/** Sampling parameters: `generate` and the server's completions / chat requests. */
export const SAMPLING = optionTable({
  maxTokens: { key: 'maxTokens', flag: '--max-tokens', arg: '<n>', type: 'integer', min: 1, max: 100000, default: 64, help: 'tokens to generate' },
  temperature: { key: 'temperature', flag: '--temperature', arg: '<t>', type: 'number', min: 0, max: 2, help: 'sample with this temperature instead of greedy (0 = greedy)' },
  topK: { key: 'topK', flag: '--top-k', arg: '<k>', type: 'integer', min: 0, help: 'sample from the k most likely tokens (0 = all)' },
  topP: { key: 'topP', flag: '--top-p', arg: '<p>', type: 'number', min: 0, minExclusive: true, max: 1, help: 'nucleus sampling: the smallest set of tokens whose probability reaches p' },
  minP: { key: 'minP', flag: '--min-p', arg: '<p>', type: 'number', min: 0, max: 1, help: 'drop tokens less likely than p x the most likely one' },
  seed: { ...seedDecl, help: 'sampling seed' },
});

/** The LoRA multiplier s of an adapter (W + s B A): `serve --adapter A:s`, requests, POST /v1/adapters. */
export const adapterScaleDecl = {
  key: 'scale',
  flag: 'scale',
  type: 'number',
  min: -16,
  max: 16,
  help: 'LoRA scale s in W + s * B A (1 = as trained, -1 = subtract it)',
} as const satisfies OptionDecl;

/** `--eval-every N` (finetune, unlearn, sequential): the series written to the run folder's series.jsonl (eval/series.ts). */
export const evalEveryDecl = {
  key: 'evalEvery',
  flag: '--eval-every',
  arg: '<n>',
  type: 'integer',
  min: 1,
  help: 'every n steps, perplexity and ROUGE per split into series.jsonl in the run folder (step, split, metric, value per line; `report` plots it via `eval --series`)',
} as const satisfies OptionDecl;

/** `finetune`. */
export const FINETUNE = optionTable({
  model: { key: 'model', flag: '--model', arg: '<gguf>', type: 'path', exists: 'file', required: true, help: 'base model' },
  data: { key: 'data', flag: '--data', arg: '<dataset>', type: 'string', default: 'datasets/dave', help: 'dataset name, Dave or TOFU folder, or TOFU file (recorded in run.json: unlearn --from and eval use it)' },
  splits: { key: 'splits', flag: '--splits', arg: '<list>', type: 'list', choices: FACT_SPLIT_CHOICES, default: 'retain,forget,decoy', help: 'fact splits to train on (retain-only oracle: retain)' },
  replay: { key: 'replay', flag: '--replay', arg: '<n>', type: 'integer', min: 0, max: 1000, default: 0, help: 'general texts (not the evaluation general set) mixed in to keep general ability' },
  epochs: { key: 'epochs', flag: '--epochs', arg: '<n>', type: 'integer', min: 1, max: MAX_EPOCHS, default: 3, help: 'epochs (the optimiser steps they make are printed before training)' },
  lr: { key: 'lr', flag: '--lr', arg: '<x>', type: 'number', min: 0, minExclusive: true, default: 1e-3, help: 'learning rate (training stops at the first non-finite loss or weight)' },
  batch: { key: 'batch', flag: '--batch', arg: '<n>', type: 'integer', min: 1, default: 8, help: 'batch size (sequences)' },
  optimizer: { key: 'optimizer', flag: '--optimizer', arg: '<name>', type: 'enum', choices: OPTIMIZER_CHOICES, default: 'adamw', help: 'optimiser' },
  weightDecay: { key: 'weightDecay', flag: '--weight-decay', arg: '<x>', type: 'number', min: 0, max: 1, default: 0, help: 'AdamW decoupled weight decay' },
  filter: { key: 'filter', flag: '--filter', arg: '<targets>', type: 'string', help: 'fully trained tensors (default all)' },
  lora: { key: 'lora', flag: '--lora', arg: '<r[,alpha]>', type: 'string', help: 'train LoRA adapters of rank r (scale alpha / r, default alpha = r) on a frozen base kept in its stored type; writes adapter.gguf' },
  target: { key: 'target', flag: '--target', arg: '<targets>', type: 'string', help: 'with --lora: the adapted matrices' },
  microBatch: { key: 'microBatch', flag: '--micro-batch', arg: '<n>', type: 'integer', min: 1, help: 'sequences per forward/backward: the batch gradient is accumulated over micro-batches (same update, less memory)' },
  saveType: { key: 'saveType', flag: '--save-type', arg: '<t>', type: 'enum', choices: SAVE_TYPE_CHOICES, default: 'f32', help: 'type of the trained tensors in checkpoint.gguf (frozen tensors keep their stored type)' },
  record: { key: 'record', flag: '--record', arg: '<mode>', type: 'enum', choices: RECORD_CHOICES, default: 'first-epoch', help: 'per-example gradient record' },
  recordFilter: { key: 'recordFilter', flag: '--record-filter', arg: '<targets>', type: 'string', help: 'recorded tensors (default: --filter; with --lora: the adapters of these targets)' },
  recordDtype: { key: 'recordDtype', flag: '--record-dtype', arg: '<t>', type: 'enum', choices: ['f32', 'f16'], default: 'f32', help: 'number type of the gradient record' },
  maxRecordGb: { key: 'maxRecordGb', flag: '--max-record-gb', arg: '<x>', type: 'number', min: 0, minExclusive: true, help: 'refuse (before training) a gradient record larger than this many GB (default: 25% of the free space where --out is)' },
  seed: seedDecl,
  out: { key: 'out', flag: '--out', arg: '<dir>', type: 'string', help: 'run folder (resumable; default runs/finetune-<time>)' },
  eval: { key: 'eval', flag: '--no-eval', type: 'boolean', negate: true, default: true, label: 'perplexity', help: 'skip the perplexity before / after' },
  evalEvery: evalEveryDecl,
});

/** The forget set and evaluation sets of `unlearn`, `compare-targets`, `sequential`. */
export const UNLEARN_DATA = optionTable({
  from: { key: 'from', flag: '--from', arg: '<run>', type: 'path', exists: 'any', required: true, help: 'fine-tune run folder (run.json, checkpoint.gguf, grads/) or a checkpoint .gguf' },
  data: { key: 'data', flag: '--data', arg: '<dataset>', type: 'string', help: 'dataset the run was trained on (default: the one its run.json records, else dave)' },
  forgetSplit: { key: 'forgetSplit', flag: '--forget-split', arg: '<name>', type: 'string', help: 'TOFU folder: the forget file (default: the one the run recorded)' },
  forget: { key: 'forget', flag: '--forget', arg: '<set>', type: 'string', default: 'forget', help: 'forget set: a split of the dataset or a file of ids (JSON array or one per line)' },
  limit: { key: 'limit', flag: '--limit', arg: '<n>', type: 'integer', min: 1, help: 'only the first N forget examples' },
  evalLimit: { key: 'evalLimit', flag: '--eval-limit', arg: '<n>', type: 'integer', min: 0, default: 50, help: 'items per evaluation set (0 = all)' },
  seed: seedDecl,
});

/** Settings of the unlearning methods (unlearn/registry.ts UnlearnHyper; defaults come from the run). */
export const UNLEARN_HYPER = optionTable({
  eta: { key: 'eta', flag: '--eta', arg: '<x>', type: 'number', keywords: ['auto'], help: 'stored-gradient ascent (first-epoch, all-epochs): multiple of the recorded steps (default 1 = reverse them once, the same in the TUI; auto: the largest within --utility-budget)' },
  lr: { key: 'lr', flag: '--lr', arg: '<x>', type: 'number', min: 0, minExclusive: true, keywords: ['auto'], help: "gradient methods: optimiser step size (default: the fine-tune's lr; auto: searched within --utility-budget)" },
  steps: { key: 'steps', flag: '--steps', arg: '<n>', type: 'integer', min: 1, max: 1000000, keywords: ['auto'], help: 'gradient methods: optimiser steps (default: one pass over the forget set; auto: searched within --utility-budget)' },
  batch: { key: 'batch', flag: '--batch', arg: '<n>', type: 'integer', min: 1, help: "gradient methods: sequences per batch (default: the fine-tune's batch)" },
  optimizer: { key: 'optimizer', flag: '--optimizer', arg: '<name>', type: 'enum', choices: OPTIMIZER_CHOICES, help: "gradient methods: optimiser (default: the fine-tune's)" },
  beta: { key: 'beta', flag: '--beta', arg: '<x>', type: 'number', min: 0, minExclusive: true, help: 'NPO inverse temperature (default 0.1)' },
  retainWeight: { key: 'retainWeight', flag: '--retain-weight', arg: '<x>', type: 'number', min: 0, help: 'grad-diff: weight w of the retain loss in -L_F + w L_R (default 1)' },
  epochs: { key: 'epochs', flag: '--epochs', arg: '<n>', type: 'integer', min: 1, max: MAX_EPOCHS, help: "retain-only: epochs (default: the fine-tune's)" },
});

/** `unlearn` itself (on top of UNLEARN_DATA and UNLEARN_HYPER). */
export const UNLEARN = optionTable({
  method: { key: 'method', flag: '--method', arg: '<name>', type: 'string', default: 'first-epoch', help: 'unlearning method (unlearnkit methods)' },
  target: { key: 'target', flag: '--target', arg: '<targets>', type: 'string', default: 'all', help: 'layer target' },
  request: { key: 'request', flag: '--request', arg: '<text>', type: 'string', help: 'select the forget set by fuzzy matching this request, e.g. "forget everything about Dave Harrowgate"' },
  strategy: { key: 'strategy', flag: '--strategy', arg: '<name>', type: 'enum', choices: STRATEGY_CHOICES, help: 'default: fuzzy with --request, else batch' },
  groupSize: { key: 'groupSize', flag: '--group-size', arg: '<n>', type: 'integer', min: 1, default: 1, help: 'iterative: forget examples per group' },
  maxIterations: { key: 'maxIterations', flag: '--max-iterations', arg: '<n>', type: 'integer', min: 1, max: 10000, default: 10, help: 'iterative: method calls per group at most' },
  stopNll: { key: 'stopNll', flag: '--stop-nll', arg: '<x>', type: 'number', min: 0, help: "iterative: stop an example at this mean NLL (default: the holdout set's)" },
  fuzzyRelative: { key: 'fuzzyRelative', flag: '--fuzzy-relative', arg: '<x>', type: 'number', min: 0, max: 1, default: 0.75, help: 'fuzzy: keep items scoring >= x * the best score' },
  fuzzyNgrams: { key: 'fuzzyNgrams', flag: '--fuzzy-ngrams', arg: '<n>', type: 'integer', min: 0, max: 10, default: 3, help: 'fuzzy: character n-gram size (0 = words only)' },
  fuzzyTopK: { key: 'fuzzyTopK', flag: '--fuzzy-top-k', arg: '<n>', type: 'integer', min: 1, help: 'fuzzy: keep the k best items instead' },
  maxRank: { key: 'maxRank', flag: '--max-rank', arg: '<n>', type: 'integer', min: 1, default: 64, help: 'largest LoRA rank per tensor' },
  adapterError: { key: 'adapterError', flag: '--adapter-error', arg: '<x>', type: 'number', min: 0, max: 1, maxExclusive: true, default: 0.001, help: 'error budget of adapter.gguf: per tensor the smallest LoRA rank with relative reconstruction error <= x (0 = exact rank); a change LoRA cannot hold within --max-rank (or a changed norm) is served as merged.gguf' },
  overwrite: { key: 'overwrite', flag: '--overwrite', type: 'boolean', help: 'replace an existing run of the same --run-id (default: refuse before any work)' },
  report: { key: 'report', flag: '--report', type: 'boolean', help: 'after the run, evaluate the fine-tuned model, the served artifact (and the retain-only reference when recorded) with eval\'s code and write <run>/report/report.html: verdict, reference rows, sample generations' },
  utilityBudget: { key: 'utilityBudget', flag: '--utility-budget', arg: '<x>', type: 'number', min: 0, max: 10, default: 0.05, help: 'largest allowed rise of retain and general perplexity, as a fraction (0.05 = +5%): what --eta/--lr/--steps auto search within (on a validation part the reported numbers do not use); a run above it says so in its summary' },
});

/** `compare-targets --targets`. */
export const targetsDecl = {
  key: 'targets',
  flag: '--targets',
  arg: '<list>',
  type: 'list',
  separator: ';',
  help: 'targets separated by ";" (default: all, embedding, every block, final_norm, output)',
} as const satisfies OptionDecl;

/** `eval`: the numeric settings (the rest are names and paths the command resolves). */
export const EVAL = optionTable({
  adapterScale: { ...adapterScaleDecl, key: 'adapterScale', flag: '--adapter-scale', arg: '<x>', default: 1, help: 'LoRA adapter scale s in W + s * B A' },
  limit: { key: 'limit', flag: '--limit', arg: '<n>', type: 'integer', min: 1, help: 'at most n items per split (the first ones)' },
  maxNewTokens: { key: 'maxNewTokens', flag: '--max-new-tokens', arg: '<n>', type: 'integer', min: 1, max: 4096, default: 32, help: 'greedy answer length for ROUGE' },
  batch: { key: 'batch', flag: '--batch', arg: '<n>', type: 'integer', min: 1, max: 4096, default: 16, help: 'sequences per scoring graph' },
});

/** `pretrain` (the embedded model's recipe; defaults as train/pretrain.ts PRETRAIN_DEFAULTS, checked by the options test). */
export const PRETRAIN = optionTable({
  out: { key: 'out', flag: '--out', arg: '<gguf>', type: 'string', default: 'models/unlearnkit-base.gguf', help: 'output model' },
  data: { key: 'data', flag: '--data', arg: '<dir>', type: 'string', default: 'datasets/dave', help: 'Dave dataset folder (its general set is part of the corpus)' },
  seed: { ...seedDecl, default: 1 },
  steps: { key: 'steps', flag: '--steps', arg: '<n>', type: 'integer', min: 1, max: 10000000, default: 1500, help: 'optimiser steps' },
  vocabSize: { key: 'vocabSize', flag: '--vocab-size', arg: '<n>', type: 'integer', min: 64, max: 262144, default: 1024, help: 'tokenizer vocabulary size' },
  dim: { key: 'dim', flag: '--dim', arg: '<n>', type: 'integer', min: 1, max: 65536, default: 128, help: 'embedding size' },
  layers: { key: 'layers', flag: '--layers', arg: '<n>', type: 'integer', min: 1, max: 1024, default: 4, help: 'blocks' },
  heads: { key: 'heads', flag: '--heads', arg: '<n>', type: 'integer', min: 1, max: 1024, default: 4, help: 'attention heads' },
  ffn: { key: 'ffn', flag: '--ffn', arg: '<n>', type: 'integer', min: 1, max: 262144, default: 352, help: 'feed-forward size' },
  context: { key: 'context', flag: '--context', arg: '<n>', type: 'integer', min: 2, max: 131072, default: 256, help: 'context length' },
  seqLen: { key: 'seqLen', flag: '--seq-len', arg: '<n>', type: 'integer', min: 2, max: 131072, default: 128, help: 'training window' },
  batch: { key: 'batch', flag: '--batch', arg: '<n>', type: 'integer', min: 1, max: 65536, default: 16, help: 'windows per step' },
  lr: { key: 'lr', flag: '--lr', arg: '<x>', type: 'number', min: 0, minExclusive: true, default: 3e-3, help: 'peak learning rate' },
  people: { key: 'people', flag: '--people', arg: '<n>', type: 'integer', min: 0, max: 1000000, default: 400, help: 'biographies of people outside the Dave sets' },
  generalTexts: { key: 'generalTexts', flag: '--general-texts', arg: '<n>', type: 'integer', min: 0, max: 1000000, default: 1200, help: 'extra general texts' },
});

/**
 * `rum memorization | entanglement | unlearn | table`: the image data, the CNN and its recipe, the
 * forget set and the memorization estimator. Sizes stop at the largest supported data set's
 * (MNIST: 60000 training, 10000 test images); `--train-size 1e9` on synthetic data tried to allocate
 * 3 TB.
 */
export const RUM = optionTable({
  trainSize: { key: 'trainSize', flag: '--train-size', arg: '<n>', type: 'integer', min: 20, max: 60000, default: 500, help: 'use the first N training images' },
  testSize: { key: 'testSize', flag: '--test-size', arg: '<n>', type: 'integer', min: 10, max: 10000, default: 500, help: 'use the first N test images' },
  width: { key: 'width', flag: '--width', arg: '<n>', type: 'integer', min: 1, max: 1024, help: 'base width (channels of the first stage)' },
  epochs: { key: 'epochs', flag: '--epochs', arg: '<n>', type: 'integer', min: 1, max: MAX_EPOCHS, help: 'training epochs' },
  batch: { key: 'batch', flag: '--batch', arg: '<n>', type: 'integer', min: 1, max: 60000, help: 'batch size' },
  lr: { key: 'lr', flag: '--lr', arg: '<x>', type: 'number', min: 0, minExclusive: true, help: 'learning rate (cosine decay)' },
  momentum: { key: 'momentum', flag: '--momentum', arg: '<x>', type: 'number', min: 0, max: 1, maxExclusive: true, help: 'SGD momentum' },
  weightDecay: { key: 'weightDecay', flag: '--weight-decay', arg: '<x>', type: 'number', min: 0, max: 1, help: 'weight decay' },
  forgetSize: { key: 'forgetSize', flag: '--forget-size', arg: '<n>', type: 'integer', min: 3, max: 60000, default: 60, help: 'forget-set size' },
  forgetMix: { key: 'forgetMix', flag: '--forget-mix', arg: '<kind>', type: 'enum', choices: ['stratified', 'random'], default: 'stratified', help: 'thirds of low / medium / high memorization, or random' },
  memModels: { key: 'memModels', flag: '--mem-models', arg: '<k>', type: 'integer', min: 2, max: 10000, default: 16, help: 'models of the memorization estimator' },
  memFraction: { key: 'memFraction', flag: '--mem-fraction', arg: '<p>', type: 'number', min: 0, minExclusive: true, max: 1, maxExclusive: true, default: 0.7, help: 'training fraction per memorization model' },
  threads: { key: 'threads', flag: '--threads', arg: '<n>', type: 'integer', min: 1, max: 1024, help: 'CPU threads (default: UNLEARNKIT_THREADS or all cores)' },
});
