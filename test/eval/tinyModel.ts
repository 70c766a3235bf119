/**
 * A tiny model fine-tuned on a few Dave facts, for evaluation and report tests: stories260K
 * (test/fixtures/models) trained 4 epochs on the first `perSplit` forget and retain facts, in a fresh
 * temporary folder (removed at exit). The holdout facts stay unseen, so forget vs holdout
 * separates (membership inference) and fine-tuning lowers the forget and retain NLL.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { finetune } from '../../src/train/finetune.ts';
import { factExamples } from '../../src/train/examples.ts';
import { getDataset } from '../../src/data/dataset.ts';
import { needFixture } from '../helpers/fixtures.ts';

export interface TinySetup {
  tmp: string;
  base: string;
  finetuned: string;
}

/** Fine-tune the tiny model (null when the fixture is missing: `t` is skipped loudly). */
export function tinyFinetuned(t: TestContext, perSplit = 8, epochs = 4): TinySetup | null {
  const base = needFixture(t, 'models', 'stories260K.gguf');
  if (!base) return null;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unlearnkit-evaltest-'));
  process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
  const ds = getDataset('dave');
  const items = factExamples([...ds.facts('forget').slice(0, perSplit), ...ds.facts('retain').slice(0, perSplit)]);
  const r = finetune({ modelPath: base, items, out: path.join(tmp, 'ft'), epochs, lr: 3e-3, record: 'none', quiet: true, seed: 0 });
  return { tmp, base, finetuned: r.checkpoint };
}
