/**
 * Fact datasets behind one interface, found by name or path:
 *   getDataset('dave')              -> datasets/dave in the project (Dave format)
 *   getDataset('path/to/folder')    -> any Dave-format folder (has forget.jsonl)
 *   getDataset('path/to/x.json[l]') -> a TOFU-format file
 * Other modules (fine-tuning, unlearning, evaluation) take a Dataset and never care which.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { PROJECT_ROOT } from '../util/paths.ts';
import { DAVE_FILES } from './dave/generate.ts';
import { loadDave } from './dave/load.ts';
import { loadTofu } from './tofu.ts';
import { ALL_SPLITS, FACT_SPLITS, type AnySplit, type FactItem, type FactSplit, type TextItem } from './types.ts';

export interface Dataset {
  /** Registry name, or the path it was opened from. */
  name: string;
  format: 'dave' | 'tofu';
  /** Folder or file the data came from. */
  source: string;
  /** Facts of one split, or of all fact splits in the order forget, retain, holdout, decoy. */
  facts(split?: FactSplit): FactItem[];
  /** Plain text (the general set); empty for TOFU files. */
  texts(): TextItem[];
  /** Items per split (facts and general). */
  counts(): Record<AnySplit, number>;
  /** Distinct people per fact split. */
  people(): Record<FactSplit, number>;
}

function makeDataset(name: string, format: Dataset['format'], source: string, bySplit: Record<FactSplit, FactItem[]>, general: TextItem[]): Dataset {
  return {
    name,
    format,
    source,
    facts: (split) => (split ? [...bySplit[split]] : FACT_SPLITS.flatMap((s) => bySplit[s])),
    texts: () => [...general],
    counts: () => {
      const c = {} as Record<AnySplit, number>;
      for (const s of FACT_SPLITS) c[s] = bySplit[s].length;
      c.general = general.length;
      return c;
    },
    people: () => {
      const c = {} as Record<FactSplit, number>;
      for (const s of FACT_SPLITS) c[s] = new Set(bySplit[s].map((f) => f.person)).size;
      return c;
    },
  };
}

/** Open a Dave-format folder as a Dataset. */
export function openDaveDataset(dir: string, name = dir): Dataset {
  const d = loadDave(dir);
  return makeDataset(name, 'dave', dir, { forget: d.forget, retain: d.retain, holdout: d.holdout, decoy: d.decoy }, d.general);
}

/** Open a TOFU-format file as a Dataset (all items in the split its name implies). */
export function openTofuDataset(file: string, name = file): Dataset {
  const items = loadTofu(file);
  const by: Record<FactSplit, FactItem[]> = { forget: [], retain: [], holdout: [], decoy: [] };
  for (const it of items) by[it.split].push(it);
  return makeDataset(name, 'tofu', file, by, []);
}

const registry = new Map<string, { describe: string; open: () => Dataset }>();

/** Register a named dataset (a later registration of the same name replaces the earlier one). */
export function registerDataset(name: string, describe: string, open: () => Dataset): void {
  registry.set(name, { describe, open });
}

registerDataset('dave', 'facts about the fictional Dave Harrowgate (datasets/dave)', () =>
  openDaveDataset(path.join(PROJECT_ROOT, 'datasets', 'dave'), 'dave'),
);

export function knownDatasets(): Array<{ name: string; describe: string }> {
  return [...registry].map(([name, r]) => ({ name, describe: r.describe }));
}

/** A dataset by registry name or by path (Dave-format folder or TOFU file). */
export function getDataset(nameOrPath: string): Dataset {
  const reg = registry.get(nameOrPath);
  if (reg) return reg.open();
  if (fs.existsSync(nameOrPath)) {
    const st = fs.statSync(nameOrPath);
    if (st.isDirectory()) {
      if (fs.existsSync(path.join(nameOrPath, DAVE_FILES.forget))) return openDaveDataset(nameOrPath);
      throw new UserError(`${nameOrPath} is a folder but not a Dave-format dataset (no ${DAVE_FILES.forget})`);
    }
    if (/\.jsonl?$/i.test(nameOrPath)) return openTofuDataset(nameOrPath);
    throw new UserError(`${nameOrPath}: a dataset file must be TOFU-format .json or .jsonl`);
  }
  const names = knownDatasets()
    .map((d) => d.name)
    .join(', ');
  throw new UserError(
    `unknown dataset "${nameOrPath}"; known datasets: ${names}; or give a path to a Dave-format folder or a TOFU .json/.jsonl file`,
  );
}

/** Parse "name:split" (split optional; only a known split name after the last colon counts). */
export function parseDatasetRef(ref: string): { name: string; split?: AnySplit } {
  const i = ref.lastIndexOf(':');
  if (i > 0) {
    const s = ref.slice(i + 1);
    if ((ALL_SPLITS as readonly string[]).includes(s)) return { name: ref.slice(0, i), split: s as AnySplit };
  }
  return { name: ref };
}
