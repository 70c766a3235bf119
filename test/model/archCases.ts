/**
 * The tiny model shapes the architecture-family tests share: one per family and llama variant
 * (rope_freqs, linear rope scaling, Q/K/V biases), with GQA everywhere, tied and untied outputs,
 * and a qwen3 head size (32) other than n_embd / n_head (16). Written by src/model/randomModel.ts
 * with a tiny SentencePiece vocabulary.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeRandomModel, type ModelShape, type RandomModelOptions } from '../../src/model/randomModel.ts';
import { Rng } from '../../src/util/rng.ts';

export interface FamilyCase {
  label: string;
  shape: ModelShape;
}

const LLAMA: ModelShape = { arch: 'llama', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 96, nCtx: 256 };

export const FAMILY_CASES: FamilyCase[] = [
  { label: 'llama', shape: LLAMA },
  {
    label: 'llama + rope_freqs (llama3 scaling)',
    shape: { ...LLAMA, ropeFreqBase: 500000, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64 } },
  },
  { label: 'llama, linear rope x4, untied output', shape: { ...LLAMA, tiedOutput: false, ropeScaling: { type: 'linear', factor: 4 } } },
  { label: 'llama + Q/K/V biases', shape: { ...LLAMA, attnBias: true } },
  { label: 'qwen2', shape: { arch: 'qwen2', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 96, nCtx: 256 } },
  { label: 'qwen3, head 32 (n_embd / n_head = 16)', shape: { arch: 'qwen3', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 96, nCtx: 256, tiedOutput: false } },
  { label: 'gpt2', shape: { arch: 'gpt2', nEmbd: 64, nLayer: 2, nHead: 4, nFf: 128, nCtx: 256 } },
];

/** Vocabulary size of the tiny SentencePiece vocabulary the cases are written with. */
export const TINY_VOCAB = 384;

/** A temporary folder removed when the process exits. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `uk-${prefix}-`));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Write a case's model into `dir` (file name from the label and type); returns the path. */
export function writeCase(dir: string, c: FamilyCase, o: Partial<RandomModelOptions> = {}): string {
  const file = path.join(dir, `${c.label.replace(/[^a-z0-9]+/gi, '-')}-${o.type ?? 'F32'}-${o.seed ?? 1}.gguf`);
  writeRandomModel(file, { shape: c.shape, vocab: { tiny: TINY_VOCAB }, seed: 1, ...o });
  return file;
}

/** BOS (1 in the tiny vocabulary) then n random token ids below V. */
export function randomTokens(V: number, n: number, seed: number): number[] {
  const rng = new Rng(seed);
  return [1, ...Array.from({ length: n }, () => 3 + rng.int(V - 3))];
}
