/**
 * Loader for TOFU-format files (Maini et al. 2024, "TOFU: A Task of Fictitious Unlearning for
 * LLMs", arXiv 2401.06121; the `locuslab/TOFU` data files). They are JSON lines (despite the
 * `.json` name) with `question`, `answer`, and in the evaluation files `paraphrased_answer` and
 * `perturbed_answer` (a string or a list of strings). A JSON array of such objects is read too.
 *
 * Mapping to FactItem:
 *  - statement = answer (TOFU answers are full sentences stating the fact);
 *  - paraphrases = [paraphrased_answer] when present;
 *  - paraphrased_answer = paraphrased_answer, else the answer;
 *  - perturbed_answers = perturbed_answer as a list ([] when absent);
 *  - person = "tofu-author-K": TOFU lists 20 QA pairs per fictitious author, in order, so item i of
 *    a file belongs to author floor(i / 20) + 1 (override with `perAuthor`);
 *  - attribute = "qa"; id = "tofu-<file stem>-<line>"; split from the option, else from the file
 *    name (forget* -> forget, retain* -> retain, holdout* -> holdout), else retain.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { FACT_SPLITS, type FactItem, type FactSplit } from './types.ts';
import { jsonLines, needString } from './dave/load.ts';

export interface TofuOptions {
  split?: FactSplit;
  /** QA pairs per author, in file order (TOFU: 20). */
  perAuthor?: number;
}

export function tofuSplitFromName(file: string): FactSplit {
  const b = path.basename(file).toLowerCase();
  if (b.startsWith('forget')) return 'forget';
  if (b.startsWith('holdout')) return 'holdout';
  return 'retain';
}

function toItem(o: unknown, where: string, index: number, stem: string, lineNo: number, split: FactSplit, perAuthor: number): FactItem {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new UserError(`${where}: expected a JSON object`);
  const r = o as Record<string, unknown>;
  const question = needString(r, 'question', where);
  const answer = needString(r, 'answer', where);
  let paraphrased: string | undefined;
  if (r.paraphrased_answer !== undefined) paraphrased = needString(r, 'paraphrased_answer', where);
  let perturbed: string[] = [];
  const p = r.perturbed_answer;
  if (typeof p === 'string') perturbed = [p];
  else if (Array.isArray(p) && p.every((s) => typeof s === 'string')) perturbed = p as string[];
  else if (p !== undefined) {
    throw new UserError(`${where}: field "perturbed_answer" must be a string or an array of strings, got ${JSON.stringify(p).slice(0, 60)}`);
  }
  return {
    id: `tofu-${stem}-${lineNo}`,
    split,
    person: `tofu-author-${Math.floor(index / perAuthor) + 1}`,
    attribute: 'qa',
    statement: answer,
    question,
    answer,
    paraphrases: paraphrased !== undefined ? [paraphrased] : [],
    paraphrased_answer: paraphrased ?? answer,
    perturbed_answers: perturbed,
  };
}

/** Parse TOFU text (JSON lines or a JSON array); `file` is used in messages and ids. */
export function parseTofu(text: string, file: string, opts: TofuOptions = {}): FactItem[] {
  const split = opts.split ?? tofuSplitFromName(file);
  if (!(FACT_SPLITS as readonly string[]).includes(split)) throw new UserError(`unknown split "${split}"; use ${FACT_SPLITS.join(', ')}`);
  const perAuthor = opts.perAuthor ?? 20;
  if (!Number.isInteger(perAuthor) || perAuthor < 1) throw new UserError(`perAuthor must be a positive integer, got ${perAuthor}`);
  const stem = path.basename(file).replace(/\.(jsonl|json)$/i, '');
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    let arr: unknown;
    try {
      arr = JSON.parse(text);
    } catch (e) {
      throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
    }
    return (arr as unknown[]).map((o, i) => toItem(o, `${file}: item ${i + 1}`, i, stem, i + 1, split, perAuthor));
  }
  const out: FactItem[] = [];
  for (const [lineNo, line] of jsonLines(text)) {
    const where = `${file}:${lineNo}`;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch (e) {
      throw new UserError(`${where}: not valid JSON (${(e as Error).message})`);
    }
    out.push(toItem(o, where, out.length, stem, lineNo, split, perAuthor));
  }
  if (out.length === 0) throw new UserError(`${file}: no items`);
  return out;
}

/** Read a TOFU-format file. */
export function loadTofu(file: string, opts: TofuOptions = {}): FactItem[] {
  if (!fs.existsSync(file)) throw new UserError(`TOFU file ${file} does not exist`);
  return parseTofu(fs.readFileSync(file, 'utf8'), file, opts);
}
