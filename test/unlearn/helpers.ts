/**
 * Shared by the unlearning tests: a tiny fine-tune of the stories260K fixture on a Dave subset
 * (seconds on 2 cores), in a temporary folder removed after the test file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { finetune, type FinetuneResult, type RecordMode } from '../../src/train/finetune.ts';
import { factExamples } from '../../src/train/examples.ts';
import { getDataset } from '../../src/data/dataset.ts';
import { fixturePath } from '../../src/util/paths.ts';
import type { OptimizerKind } from '../../src/engine/graph.ts';

export const MODEL = fixturePath('models', 'stories260K.gguf');
export const haveModel = fs.existsSync(MODEL);

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `unlearnkit-${prefix}-`));
}

export interface TinyRunOptions {
  forget: number;
  retain?: number;
  decoy?: number;
  epochs?: number;
  optimizer?: OptimizerKind;
  lr?: number;
  batch?: number;
  record?: RecordMode;
  maxLen?: number;
  seed?: number;
}

/** Fine-tune stories260K on the first N forget / retain / decoy facts of the Dave set. */
export function tinyRun(dir: string, o: TinyRunOptions): FinetuneResult {
  const ds = getDataset('dave');
  const facts = [...ds.facts('forget').slice(0, o.forget), ...ds.facts('retain').slice(0, o.retain ?? 0), ...ds.facts('decoy').slice(0, o.decoy ?? 0)];
  return finetune({
    modelPath: MODEL,
    items: factExamples(facts),
    out: path.join(dir, 'run'),
    epochs: o.epochs ?? 2,
    lr: o.lr ?? 3e-3,
    batch: o.batch ?? 8,
    optimizer: o.optimizer ?? 'adamw',
    record: o.record ?? 'first-epoch',
    maxLen: o.maxLen ?? 64,
    seed: o.seed ?? 0,
    quiet: true,
  });
}

/** max |a - b| over two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
