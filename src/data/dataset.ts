/**
 * Fact datasets behind one interface, found by name or path:
 *   getDataset('dave')              -> datasets/dave in the project (Dave format)
 *   getDataset('path/to/folder')    -> a Dave-format folder (manifest.json, decoys.jsonl, general.jsonl)
 *                                      or a TOFU-format folder (forget01.json, retain99.json, ...,
 *                                      or forget.jsonl / retain.jsonl / holdout.jsonl: tofu.ts)
 *   getDataset('path/to/x.json[l]') -> one TOFU-format file (its split from its name)
 * `options` choose among a TOFU folder's files and state how its authors are grouped (tofu.ts
 * DatasetOptions). Other modules (fine-tuning, unlearning, evaluation) take a Dataset and never care
 * which format it came from.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { PROJECT_ROOT } from '../util/paths.ts';
import { DAVE_FILES } from './dave/generate.ts';
import { loadDave } from './dave/load.ts';
import { loadTofu, loadTofuFolder, looksLikeTofuFolder, tofuSupplyHint, type DatasetOptions, type TofuLayout } from './tofu.ts';
import { EVERY_SPLIT, FACT_SPLITS, type AnySplit, type FactItem, type FactSplit, type TextItem } from './types.ts';

export type { DatasetOptions, TofuLayout } from './tofu.ts';

export interface Dataset {
  /** Registry name, or the path it was opened from. */
  name: string;
  format: 'dave' | 'tofu';
  /** Folder or file the data came from. */
  source: string;
  /** Facts of one split, or of all fact splits in FACT_SPLITS order (forget, retain, holdout, decoy, ...). */
  facts(split?: FactSplit): FactItem[];
  /**
   * The facts an evaluation scores on a split: the split itself, except a TOFU retain split with a
   * `retain_perturbed` file, which TOFU evaluates on that subset only.
   */
  evalFacts(split: FactSplit): FactItem[];
  /** Plain text (the general set); empty for TOFU data. */
  texts(): TextItem[];
  /** Items per split (facts and general). */
  counts(): Record<AnySplit, number>;
  /** Distinct people per fact split; null where authors are not known (TOFU without --group-by / --group-size). */
  people(): Record<FactSplit, number | null>;
  /** Whether `person` says who a fact is about (Dave: always; TOFU: with a stated author rule). */
  grouped: boolean;
  /** sha256 over the names and contents of the files the dataset was read from. */
  readonly sha256: string;
  /** The options it was opened with, resolved (TOFU folders: the chosen files and the author rule). */
  options: DatasetOptions;
  /** TOFU folders: the file each split came from. */
  layout?: TofuLayout;
  /** What would supply a split (for "missing split" messages). */
  supplyHint(split: AnySplit): string;
}

interface DatasetParts {
  name: string;
  format: Dataset['format'];
  source: string;
  bySplit: Record<FactSplit, FactItem[]>;
  evalBySplit?: Record<FactSplit, FactItem[]>;
  general: TextItem[];
  grouped: boolean;
  hash: () => string;
  options?: DatasetOptions;
  layout?: TofuLayout;
  hint: (split: AnySplit) => string;
}

function makeDataset(p: DatasetParts): Dataset {
  let hash: string | null = null;
  return {
    name: p.name,
    format: p.format,
    source: p.source,
    facts: (split) => (split ? [...p.bySplit[split]] : FACT_SPLITS.flatMap((s) => p.bySplit[s])),
    evalFacts: (split) => [...(p.evalBySplit ?? p.bySplit)[split]],
    texts: () => [...p.general],
    counts: () => {
      const c = {} as Record<AnySplit, number>;
      for (const s of FACT_SPLITS) c[s] = p.bySplit[s].length;
      c.general = p.general.length;
      return c;
    },
    people: () => {
      const c = {} as Record<FactSplit, number | null>;
      for (const s of FACT_SPLITS) c[s] = p.grouped || p.bySplit[s].length === 0 ? new Set(p.bySplit[s].map((f) => f.person).filter((x) => x !== '')).size : null;
      return c;
    },
    grouped: p.grouped,
    get sha256() {
      return (hash ??= p.hash());
    },
    options: p.options ?? {},
    layout: p.layout,
    supplyHint: p.hint,
  };
}

function emptySplits(): Record<FactSplit, FactItem[]> {
  return Object.fromEntries(FACT_SPLITS.map((s) => [s, [] as FactItem[]])) as Record<FactSplit, FactItem[]>;
}

function hashFiles(files: string[]): string {
  const h = crypto.createHash('sha256');
  for (const f of files) h.update(path.basename(f) + '\u0000' + crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex') + '\n');
  return h.digest('hex');
}

function refuseTofuOptions(what: string, o: DatasetOptions, allowGrouping: boolean): void {
  const keys: Array<keyof DatasetOptions> = ['forgetSplit', 'retainSplit', 'holdoutSplit', ...(allowGrouping ? [] : (['groupBy', 'groupSize'] as const))];
  const given = keys.filter((k) => o[k] !== undefined);
  if (given.length) {
    const flag = (k: string) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
    throw new UserError(`${given.map(flag).join(', ')} ${given.length > 1 ? 'apply' : 'applies'} to TOFU folders; ${what}`);
  }
}

/** Open a Dave-format folder as a Dataset. */
export function openDaveDataset(dir: string, name = dir, options: DatasetOptions = {}): Dataset {
  refuseTofuOptions(`${name} is a Dave dataset (one forget split, people named in every item)`, options, false);
  const d = loadDave(dir);
  const bySplit = { ...emptySplits(), forget: d.forget, retain: d.retain, holdout: d.holdout, decoy: d.decoy };
  return makeDataset({
    name,
    format: 'dave',
    source: dir,
    bySplit,
    general: d.general,
    grouped: true,
    hash: () => hashFiles(Object.values(DAVE_FILES).map((f) => path.join(dir, f))),
    hint: (split) => (split === 'real_authors' || split === 'world_facts' ? `TOFU data has it (real_authors_perturbed.json(l), world_facts_perturbed.json(l)); Dave has none` : `regenerate the Dave folder: \`unlearnkit data generate-dave --out ${dir}\``),
  });
}

/** Open one TOFU-format file as a Dataset (all its items in the split its name implies). */
export function openTofuDataset(file: string, name = file, options: DatasetOptions = {}): Dataset {
  refuseTofuOptions(`${file} is one file (choose among files by putting them in one folder)`, options, true);
  const items = loadTofu(file, { groupBy: options.groupBy, groupSize: options.groupSize });
  const by = emptySplits();
  for (const it of items) by[it.split].push(it);
  const grouped = options.groupBy !== undefined || options.groupSize !== undefined;
  return makeDataset({
    name,
    format: 'tofu',
    source: file,
    bySplit: by,
    general: [],
    grouped,
    hash: () => hashFiles([file]),
    options: { ...(options.groupBy !== undefined ? { groupBy: options.groupBy } : {}), ...(options.groupSize !== undefined ? { groupSize: options.groupSize } : {}) },
    hint: (split) => `${tofuSupplyHint(split)}, next to ${path.basename(file)} in one folder, and pass the folder`,
  });
}

/** Open a TOFU-format folder (tofu.ts) as a Dataset. */
function openTofuFolder(dir: string, name = dir, options: DatasetOptions = {}): Dataset {
  const d = loadTofuFolder(dir, options);
  return makeDataset({
    name,
    format: 'tofu',
    source: dir,
    bySplit: d.facts,
    evalBySplit: d.evalFacts,
    general: [],
    grouped: options.groupBy !== undefined || options.groupSize !== undefined,
    hash: () => d.layout.sha256,
    options: d.layout.options,
    layout: d.layout,
    hint: (split) => tofuSupplyHint(split, d.layout.options.forgetSplit),
  });
}

/** A folder is Dave-format when it has Dave's manifest, decoys or general texts, or Dave-style items (with `statement` and `split`). */
function isDaveFolder(dir: string): boolean {
  if (['manifest.json', DAVE_FILES.decoy, DAVE_FILES.general].some((f) => fs.existsSync(path.join(dir, f)))) return true;
  const forget = path.join(dir, DAVE_FILES.forget);
  if (!fs.existsSync(forget)) return false;
  const first = fs.readFileSync(forget, 'utf8').split('\n').find((l) => l.trim() !== '');
  try {
    const o = JSON.parse(first ?? '') as Record<string, unknown>;
    return typeof o === 'object' && o !== null && 'statement' in o && 'split' in o;
  } catch {
    return false;
  }
}

const registry = new Map<string, { describe: string; open: (options: DatasetOptions) => Dataset }>();

/** Register a named dataset (a later registration of the same name replaces the earlier one). */
export function registerDataset(name: string, describe: string, open: (options: DatasetOptions) => Dataset): void {
  registry.set(name, { describe, open });
}

registerDataset('dave', 'facts about the fictional Dave Harrowgate (datasets/dave)', (options) =>
  openDaveDataset(path.join(PROJECT_ROOT, 'datasets', 'dave'), 'dave', options),
);

export function knownDatasets(): Array<{ name: string; describe: string }> {
  return [...registry].map(([name, r]) => ({ name, describe: r.describe }));
}

/** A dataset by registry name or by path (Dave-format folder, TOFU-format folder or TOFU file). */
export function getDataset(nameOrPath: string, options: DatasetOptions = {}): Dataset {
  const reg = registry.get(nameOrPath);
  if (reg) return reg.open(options);
  if (fs.existsSync(nameOrPath)) {
    const st = fs.statSync(nameOrPath);
    if (st.isDirectory()) {
      if (isDaveFolder(nameOrPath)) return openDaveDataset(nameOrPath, nameOrPath, options);
      if (looksLikeTofuFolder(nameOrPath)) return openTofuFolder(nameOrPath, nameOrPath, options);
      throw new UserError(
        `${nameOrPath} is a folder but neither a Dave-format dataset (forget.jsonl, retain.jsonl, holdout.jsonl, decoys.jsonl, general.jsonl) nor a TOFU-format one (forget01.json(l), retain99.json(l), holdout01.json(l), *_perturbed, real_authors_perturbed, world_facts_perturbed, or forget.jsonl / retain.jsonl / holdout.jsonl)`,
      );
    }
    if (/\.jsonl?$/i.test(nameOrPath)) return openTofuDataset(nameOrPath, nameOrPath, options);
    throw new UserError(`${nameOrPath}: a dataset file must be TOFU-format .json or .jsonl`);
  }
  const names = knownDatasets()
    .map((d) => d.name)
    .join(', ');
  throw new UserError(
    `unknown dataset "${nameOrPath}"; known datasets: ${names}; or give a path to a Dave-format or TOFU-format folder or a TOFU .json/.jsonl file`,
  );
}

/** Parse "name:split" (split optional; only a known split name after the last colon counts). */
export function parseDatasetRef(ref: string): { name: string; split?: AnySplit } {
  const i = ref.lastIndexOf(':');
  if (i > 0) {
    const s = ref.slice(i + 1);
    if ((EVERY_SPLIT as readonly string[]).includes(s)) return { name: ref.slice(0, i), split: s as AnySplit };
  }
  return { name: ref };
}
