/**
 * Shared pieces of the quantisation tests (test/model/quant*.test.ts): the random model shapes
 * (src/model/randomModel.ts with its tiny SentencePiece vocabulary), our engine's raw logits and
 * llama.cpp's (node-llama-cpp's controlledEvaluate, every position asked for, so that both engines
 * multiply the same [n_in, n_tokens] matrices), and the comparison.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { LlamaContextSequence } from 'node-llama-cpp';
import { CausalLM, LMSession, logSoftmaxAt } from '../../src/model/model.ts';
import { writeRandomModel, type ModelShape } from '../../src/model/randomModel.ts';
import { getLlamaCpp, logSoftmax } from '../../src/model/llamacppLogprobs.ts';
import { needLlamaCpp } from '../helpers/llamacpp.ts';
import { Rng } from '../../src/util/rng.ts';

/** Tokens of the tiny vocabulary the models are written with. */
export const TINY_VOCAB = 384;

/**
 * Shapes: K-quant widths (256, 512), widths whose rows are not whole 256-blocks (SmolLM2's 576,
 * Qwen2.5-0.5B's 896), tied and separate outputs, GQA.
 */
export const SHAPES = {
  llama256: { arch: 'llama', nEmbd: 256, nLayer: 4, nHead: 4, nHeadKv: 2, nFf: 512, tiedOutput: false },
  llama256tied: { arch: 'llama', nEmbd: 256, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 512, tiedOutput: true },
  llama512: { arch: 'llama', nEmbd: 512, nLayer: 4, nHead: 8, nHeadKv: 2, nFf: 1024, tiedOutput: false },
  smollm576: { arch: 'llama', nEmbd: 576, nLayer: 4, nHead: 9, nHeadKv: 3, nFf: 1536, tiedOutput: true },
  qwen896: { arch: 'qwen2', nEmbd: 896, nLayer: 2, nHead: 14, nHeadKv: 2, nFf: 1792, tiedOutput: true },
  gpt2: { arch: 'gpt2', nEmbd: 256, nLayer: 2, nHead: 4, nFf: 1024 },
} as const satisfies Record<string, ModelShape>;
export type ShapeName = keyof typeof SHAPES;

/** A temporary folder removed when the process exits. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `uk-${prefix}-`));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The F32 model of a shape in `dir` (written once per process). */
export function baseModel(dir: string, shape: ShapeName, seed = 3): string {
  const file = path.join(dir, `${shape}-f32.gguf`);
  if (!fs.existsSync(file)) writeRandomModel(file, { shape: SHAPES[shape], vocab: { tiny: TINY_VOCAB }, seed });
  return file;
}

/** BOS then n random ids of the tiny vocabulary (above its special tokens). */
export function randomTokens(n: number, seed: number, V = TINY_VOCAB): number[] {
  const rng = new Rng(seed);
  return [1, ...Array.from({ length: n }, () => 3 + rng.int(V - 3))];
}

/** Our evaluation logits, one row per position. */
export function ourLogits(model: CausalLM, tokens: number[]): Float32Array[] {
  const s = new LMSession(model, { T: tokens.length, B: 1, mode: 'eval' });
  try {
    s.setBatch([tokens]);
    s.forward();
    const all = s.readLogits();
    const V = model.config.nVocab;
    return tokens.map((_, i) => all.slice(i * V, (i + 1) * V));
  } finally {
    s.dispose();
  }
}

/** llama.cpp's logits at every position (null after a loud skip when node-llama-cpp cannot start). */
export async function llamaCppLogits(t: TestContext, file: string, tokens: number[], V: number): Promise<Float32Array[] | null> {
  if (!(await needLlamaCpp(t))) return null;
  const llama = await getLlamaCpp(false);
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  try {
    const ctx = await model.createContext({ contextSize: 256, threads: 1, sequences: 1 });
    try {
      const input = tokens.map((tok) => [tok, { generateNext: { logits: true } }]) as Parameters<LlamaContextSequence['controlledEvaluate']>[0];
      const out = await ctx.getSequence().controlledEvaluate(input);
      return out.map((o, i) => {
        const m = o?.next?.logits;
        if (!m) throw new Error(`llama.cpp returned no logits at position ${i}`);
        const row = new Float32Array(V).fill(NaN);
        for (const [tok, v] of m) row[tok] = v;
        return row;
      });
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}

export interface LogitComparison {
  /** Logits compared (positions x vocabulary). */
  n: number;
  /** How many differ in any bit. */
  unequal: number;
  maxLogitDiff: number;
  /** Max over positions of |our log p(next token) - llama.cpp's| (each engine's float64 log-softmax: model.ts logSoftmaxAt, llamacppLogprobs.ts logSoftmax). */
  maxLogprobDiff: number;
}

/** Compare two engines' logits (and the per-token log-probabilities they give for `tokens`). */
export function compareLogits(ours: Float32Array[], ref: Float32Array[], tokens: number[]): LogitComparison {
  let unequal = 0;
  let maxLogitDiff = 0;
  let maxLogprobDiff = 0;
  let n = 0;
  ours.forEach((row, i) => {
    const r = ref[i]!;
    for (let v = 0; v < row.length; v++) {
      n++;
      if (!Object.is(row[v], r[v])) unequal++;
      maxLogitDiff = Math.max(maxLogitDiff, Math.abs(row[v]! - r[v]!));
    }
    if (i + 1 < tokens.length) {
      const a = logSoftmaxAt(row, 0, row.length, tokens[i + 1]!);
      const b = logSoftmax(r)[tokens[i + 1]!]!;
      maxLogprobDiff = Math.max(maxLogprobDiff, Math.abs(a - b));
    }
  });
  return { n, unequal, maxLogitDiff: Number.isNaN(maxLogitDiff) ? Infinity : maxLogitDiff, maxLogprobDiff };
}
