/**
 * Pretraining of the embedded default model: a small LLaMA-architecture model that the project
 * trains itself, so the demo needs nothing from outside.
 *
 * 1. Corpus (seeded): the Dave dataset's general set, more general text from the same generator,
 *    and biographies (statements + Question/Answer pairs) of people who are in none of the Dave
 *    splits. Dave and the decoys never appear.
 * 2. Tokenizer: a SentencePiece-style BPE vocabulary learned on the corpus (src/model/tokenizer/
 *    train.ts) that llama.cpp's own SPM tokenizer reproduces exactly.
 * 3. Model: LLaMA (RMSNorm, RoPE, SwiGLU, untied output so the embedding's per-example gradients
 *    stay sparse), random init (normal, std 0.02; residual projections scaled by 1/sqrt(2 L)).
 * 4. Training: documents joined with EOS into one token stream cut into windows of T tokens,
 *    AdamW with linear warm-up and cosine decay, seeded. Written as an F32 GGUF with the vocabulary
 *    in its metadata, atomically.
 */
import path from 'node:path';
import fs from 'node:fs';
import { GgufMetadata, writeGguf, readGguf, type GgufTensorSpec } from '../model/gguf.ts';
import { CausalLM, LMSession, type HostTensor } from '../model/model.ts';
import { expectedTensors, type ModelConfig } from '../model/config.ts';
import { trainSpmVocab, spmVocabMetadata } from '../model/tokenizer/train.ts';
import { tokenizerFromGguf } from '../model/tokenizer/index.ts';
import { loadDave } from '../data/dave/load.ts';
import { generatePretrainCorpus, streamRng } from '../data/dave/generate.ts';
import { generateGeneralTexts } from '../data/dave/general.ts';
import { scoreSequences } from '../eval/perplexity.ts';
import { factExamples, textExamples } from './examples.ts';
import { Progress } from '../util/progress.ts';
import { Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';

export interface PretrainOptions {
  out: string;
  data: string;
  seed: number;
  steps: number;
  vocabSize: number;
  dim: number;
  layers: number;
  heads: number;
  ffn: number;
  context: number;
  seqLen: number;
  batch: number;
  lr: number;
  people: number;
  generalTexts: number;
  quiet?: boolean;
}

export const PRETRAIN_DEFAULTS: Omit<PretrainOptions, 'out'> = {
  data: 'datasets/dave',
  seed: 1,
  steps: 1500,
  vocabSize: 1024,
  dim: 128,
  layers: 4,
  heads: 4,
  ffn: 352,
  context: 256,
  seqLen: 128,
  batch: 16,
  lr: 3e-3,
  people: 400,
  generalTexts: 1200,
};

export interface PretrainResult {
  out: string;
  parameters: number;
  corpusDocuments: number;
  corpusTokens: number;
  vocabSize: number;
  steps: number;
  seconds: number;
  finalLoss: number;
  /** Perplexity of the base model on the Dave splits and the general set (before any fine-tuning). */
  perplexity: Record<string, number>;
  command: string;
}

function pretrainCorpus(o: Pick<PretrainOptions, 'data' | 'seed' | 'people' | 'generalTexts'>): string[] {
  const dave = loadDave(o.data);
  const general = dave.general.map((t) => t.text);
  const moreGeneral = generateGeneralTexts(streamRng(o.seed, 'pretrain-general'), o.generalTexts);
  const bios = generatePretrainCorpus(o.seed, o.people);
  return [...general, ...moreGeneral, ...bios];
}

function initWeights(c: ModelConfig, rng: Rng): Map<string, HostTensor> {
  const w = new Map<string, HostTensor>();
  for (const t of expectedTensors(c)) {
    const n = t.ne.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (t.ne.length === 1) data = new Float32Array(n).fill(1);
    else {
      const residual = /attn_output|ffn_down/.test(t.name);
      data = rng.normalArray(n, residual ? 0.02 / Math.sqrt(2 * c.nLayer) : 0.02);
    }
    w.set(t.name, { name: t.name, ne: [...t.ne], data, fileType: 'f32' });
  }
  return w;
}

function writeModelGguf(file: string, c: ModelConfig, vocabMeta: ReturnType<typeof spmVocabMetadata>, weights: Map<string, HostTensor>, name: string): void {
  const md = new GgufMetadata();
  md.setTyped('general.architecture', 'llama', 'string');
  md.setTyped('general.name', name, 'string');
  md.setTyped('general.file_type', 0, 'uint32');
  md.setTyped('llama.context_length', c.nCtx, 'uint32');
  md.setTyped('llama.embedding_length', c.nEmbd, 'uint32');
  md.setTyped('llama.block_count', c.nLayer, 'uint32');
  md.setTyped('llama.feed_forward_length', c.nFf, 'uint32');
  md.setTyped('llama.attention.head_count', c.nHead, 'uint32');
  md.setTyped('llama.attention.head_count_kv', c.nHeadKv, 'uint32');
  md.setTyped('llama.rope.dimension_count', c.ropeDims, 'uint32');
  md.setTyped('llama.rope.freq_base', c.ropeFreqBase, 'float32');
  md.setTyped('llama.attention.layer_norm_rms_epsilon', c.normEps, 'float32');
  for (const [k, v, t] of vocabMeta) md.setTyped(k, v, t);
  const tensors: GgufTensorSpec[] = expectedTensors(c).map((t) => ({ name: t.name, type: 'F32', ne: t.ne, data: weights.get(t.name)!.data }));
  writeGguf(file, { metadata: md, tensors });
}

export function pretrain(opts: Partial<PretrainOptions> & { out: string }): PretrainResult {
  const o: PretrainOptions = { ...PRETRAIN_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as PretrainOptions;
  if (o.dim % o.heads !== 0) throw new UserError(`--dim ${o.dim} must be a multiple of --heads ${o.heads}`);
  if (o.seqLen > o.context) throw new UserError(`--seq-len ${o.seqLen} exceeds --context ${o.context}`);
  const t0 = performance.now();
  const corpus = pretrainCorpus(o);
  const vocab = trainSpmVocab(corpus, { vocabSize: o.vocabSize, seed: o.seed });
  const vocabMeta = spmVocabMetadata(vocab);
  const c: ModelConfig = {
    arch: 'llama',
    nEmbd: o.dim,
    nLayer: o.layers,
    nHead: o.heads,
    nHeadKv: o.heads,
    nFf: o.ffn,
    nVocab: vocab.tokens.length,
    nCtx: o.context,
    normEps: 1e-5,
    ropeDims: o.dim / o.heads,
    ropeFreqBase: 10000,
    tiedOutput: false,
  };
  const rng = new Rng(o.seed);
  const weights = initWeights(c, rng);
  // Write the initial model so the tokenizer can be read back exactly as llama.cpp will see it.
  const tmpInit = `${o.out}.init-${process.pid}.gguf`;
  writeModelGguf(tmpInit, c, vocabMeta, weights, 'unlearnkit-base (init)');
  const model = CausalLM.load(tmpInit);
  fs.rmSync(tmpInit, { force: true });
  const tok = tokenizerFromGguf(model.file!);
  const stream: number[] = [];
  for (const doc of new Rng(o.seed + 1).shuffle(corpus.slice())) {
    stream.push(tok.bos, ...tok.encode(doc, { addBos: false }), tok.eos);
  }
  const T = o.seqLen;
  const nWindows = Math.floor((stream.length - 1) / (T - 1));
  if (nWindows < o.batch) throw new UserError(`the corpus (${stream.length} tokens) is too small for batches of ${o.batch} x ${T}`);
  const windows = Array.from({ length: nWindows }, (_, i) => stream.slice(i * (T - 1), i * (T - 1) + T));
  const session = new LMSession(model, { T, B: o.batch, mode: 'train', optimizer: 'adamw' });
  const progress = new Progress({ total: o.steps, label: 'pretrain', quiet: o.quiet });
  const sampler = new Rng(o.seed + 2);
  const warmup = Math.max(1, Math.floor(o.steps * 0.06));
  let loss = NaN;
  let ema = NaN;
  try {
    for (let s = 0; s < o.steps; s++) {
      const batch = Array.from({ length: o.batch }, () => windows[sampler.int(windows.length)]!);
      session.setBatch(batch);
      const lr = s < warmup ? (o.lr * (s + 1)) / warmup : o.lr * (0.1 + 0.9 * 0.5 * (1 + Math.cos((Math.PI * (s - warmup)) / Math.max(1, o.steps - warmup))));
      loss = session.step({ lr, weightDecay: 0.01 });
      ema = Number.isNaN(ema) ? loss : 0.98 * ema + 0.02 * loss;
      progress.update(s + 1, { loss: ema, lr });
    }
    progress.finish();
    session.downloadWeights();
  } finally {
    session.dispose();
  }
  writeModelGguf(o.out, c, vocabMeta, model.weights, 'unlearnkit-base');
  const base = CausalLM.load(o.out);
  const dave = loadDave(o.data);
  const enc = (items: Array<{ id: string; text: string }>) => items.map((i) => ({ id: i.id, tokens: tok.encode(i.text, { addBos: true }) }));
  const perplexity: Record<string, number> = {
    forget: scoreSequences(base, enc(factExamples(dave.forget))).perplexity,
    retain: scoreSequences(base, enc(factExamples(dave.retain))).perplexity,
    holdout: scoreSequences(base, enc(factExamples(dave.holdout))).perplexity,
    general: scoreSequences(base, enc(textExamples(dave.general))).perplexity,
  };
  const command = `unlearnkit pretrain --out ${path.relative(process.cwd(), o.out)} --seed ${o.seed} --steps ${o.steps}`;
  const res: PretrainResult = {
    out: o.out,
    parameters: base.parameterCount,
    corpusDocuments: corpus.length,
    corpusTokens: stream.length,
    vocabSize: vocab.tokens.length,
    steps: o.steps,
    seconds: (performance.now() - t0) / 1000,
    finalLoss: ema,
    perplexity,
    command,
  };
  writeJsonAtomic(`${o.out.replace(/\.gguf$/, '')}.json`, { ...res, options: o, readBack: readGguf(o.out).tensors.length });
  return res;
}
