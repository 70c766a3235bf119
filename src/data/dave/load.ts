/**
 * Load a Dave-format dataset folder (forget / retain / holdout / decoys / general JSONL files and
 * manifest.json), validating every line. Problems are UserErrors naming file, line and field.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../util/errors.ts';
import { FACT_SPLITS, type FactItem, type FactSplit, type TextItem } from '../types.ts';
import { DAVE_FILES, sha256, type DaveManifest } from './generate.ts';

export interface DaveData {
  dir: string;
  manifest: DaveManifest | null;
  forget: FactItem[];
  retain: FactItem[];
  holdout: FactItem[];
  decoy: FactItem[];
  general: TextItem[];
}

interface FactValidation {
  /** Minimum paraphrases per item (Dave: 2). */
  minParaphrases?: number;
  /** Minimum perturbed answers per item (Dave: 3). */
  minPerturbed?: number;
  /** Every item's split must equal this. */
  split?: FactSplit;
}

/** Split text into [lineNumber, line] for non-blank lines (1-based numbers). */
export function jsonLines(text: string): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.replace(/\r$/, '');
    if (l.trim() !== '') out.push([i + 1, l]);
  }
  return out;
}

/** Parse one JSONL line to an object, or throw a UserError with the location. */
function parseJsonLine(line: string, where: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw new UserError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new UserError(`${where}: expected a JSON object, got ${Array.isArray(v) ? 'an array' : JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

export function needString(o: Record<string, unknown>, field: string, where: string): string {
  const v = o[field];
  if (typeof v !== 'string' || v.trim() === '') {
    throw new UserError(`${where}: field "${field}" must be a non-empty string${v === undefined ? ' (missing)' : `, got ${JSON.stringify(v)}`}`);
  }
  return v;
}

function needStringArray(o: Record<string, unknown>, field: string, where: string, min: number): string[] {
  const v = o[field];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || s.trim() === '')) {
    throw new UserError(`${where}: field "${field}" must be an array of non-empty strings${v === undefined ? ' (missing)' : ''}`);
  }
  if (v.length < min) throw new UserError(`${where}: field "${field}" has ${v.length} entries, needs at least ${min}`);
  return v as string[];
}

/** Check one parsed object against the fact schema. */
function validateFact(o: Record<string, unknown>, where: string, rules: FactValidation = {}): FactItem {
  const split = needString(o, 'split', where);
  if (!(FACT_SPLITS as readonly string[]).includes(split)) {
    throw new UserError(`${where}: field "split" is "${split}", expected one of ${FACT_SPLITS.join(', ')}`);
  }
  if (rules.split && split !== rules.split) throw new UserError(`${where}: field "split" is "${split}" but this file holds "${rules.split}" items`);
  const item: FactItem = {
    id: needString(o, 'id', where),
    split: split as FactSplit,
    person: needString(o, 'person', where),
    attribute: needString(o, 'attribute', where),
    statement: needString(o, 'statement', where),
    question: needString(o, 'question', where),
    answer: needString(o, 'answer', where),
    paraphrases: needStringArray(o, 'paraphrases', where, rules.minParaphrases ?? 0),
    paraphrased_answer: needString(o, 'paraphrased_answer', where),
    perturbed_answers: needStringArray(o, 'perturbed_answers', where, rules.minPerturbed ?? 0),
  };
  if (o.decoy_of !== undefined) item.decoy_of = needString(o, 'decoy_of', where);
  if (!item.statement.includes(item.answer)) {
    throw new UserError(`${where}: field "statement" does not contain the answer "${item.answer}"`);
  }
  return item;
}

function readText(file: string): string {
  if (!fs.existsSync(file)) throw new UserError(`${file} does not exist`);
  return fs.readFileSync(file, 'utf8');
}

/** Read a fact JSONL file. */
function readFactsJsonl(file: string, rules: FactValidation = {}): FactItem[] {
  return jsonLines(readText(file)).map(([n, l]) => validateFact(parseJsonLine(l, `${file}:${n}`), `${file}:${n}`, rules));
}

/** Read a general-text JSONL file ({id, split: "general", text}). */
function readTextsJsonl(file: string): TextItem[] {
  return jsonLines(readText(file)).map(([n, l]) => {
    const where = `${file}:${n}`;
    const o = parseJsonLine(l, where);
    const split = needString(o, 'split', where);
    if (split !== 'general') throw new UserError(`${where}: field "split" is "${split}", expected "general"`);
    return { id: needString(o, 'id', where), split: 'general', text: needString(o, 'text', where) };
  });
}

/** Load and validate a Dave-format folder. */
export function loadDave(dir: string): DaveData {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new UserError(`Dave dataset folder ${dir} not found; create it with \`unlearnkit data generate-dave --out ${dir}\``);
  }
  const missing = Object.values(DAVE_FILES).filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.length > 0) {
    throw new UserError(`${dir}: missing ${missing.join(', ')}; regenerate with \`unlearnkit data generate-dave --out ${dir}\``);
  }
  const manifestFile = path.join(dir, 'manifest.json');
  let manifest: DaveManifest | null = null;
  if (fs.existsSync(manifestFile)) {
    try {
      manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as DaveManifest;
    } catch (e) {
      throw new UserError(`${manifestFile}: not valid JSON (${(e as Error).message})`);
    }
  }
  const rules = (split: FactSplit): FactValidation => ({ split, minParaphrases: 2, minPerturbed: 3 });
  const data: DaveData = {
    dir,
    manifest,
    forget: readFactsJsonl(path.join(dir, DAVE_FILES.forget), rules('forget')),
    retain: readFactsJsonl(path.join(dir, DAVE_FILES.retain), rules('retain')),
    holdout: readFactsJsonl(path.join(dir, DAVE_FILES.holdout), rules('holdout')),
    decoy: readFactsJsonl(path.join(dir, DAVE_FILES.decoy), rules('decoy')),
    general: readTextsJsonl(path.join(dir, DAVE_FILES.general)),
  };
  const seen = new Map<string, string>();
  for (const [file, items] of [
    [DAVE_FILES.forget, data.forget],
    [DAVE_FILES.retain, data.retain],
    [DAVE_FILES.holdout, data.holdout],
    [DAVE_FILES.decoy, data.decoy],
    [DAVE_FILES.general, data.general],
  ] as const) {
    items.forEach((it, i) => {
      const prev = seen.get(it.id);
      if (prev) throw new UserError(`${path.join(dir, file)}: item ${i + 1} repeats id "${it.id}" (first seen in ${prev})`);
      seen.set(it.id, file);
    });
  }
  return data;
}

/** Files whose sha256 differs from manifest.json (empty when all match or there is no manifest). */
export function checkDaveManifest(dir: string, manifest: DaveManifest | null): string[] {
  if (!manifest) return [];
  const problems: string[] = [];
  for (const [name, f] of Object.entries(manifest.files ?? {})) {
    const p = path.join(dir, name);
    if (!fs.existsSync(p)) {
      problems.push(`${name}: missing`);
      continue;
    }
    const h = sha256(fs.readFileSync(p));
    if (h !== f.sha256) problems.push(`${name}: sha256 ${h.slice(0, 12)}... differs from manifest ${String(f.sha256).slice(0, 12)}...`);
  }
  return problems;
}
