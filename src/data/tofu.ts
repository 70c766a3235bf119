/**
 * TOFU-format data (Maini et al. 2024, "TOFU: A Task of Fictitious Unlearning for LLMs", arXiv
 * 2401.06121; the `locuslab/TOFU` files as open-unlearning reads them): one file, or a folder of
 * files named as TOFU names them.
 *
 * Records: `question`, `answer`, and in the evaluation files `paraphrased_answer` and
 * `perturbed_answer` (a string or a list of strings); any other field is kept for `groupBy`. A file
 * is JSON lines (what `datasets` exports, whatever the extension) or one JSON array.
 *
 * A folder (`--data DIR`), every file `.json` or `.jsonl`:
 *   forget01 | forget05 | forget10 | forget      the forget split; several present: the caller chooses
 *                                                 (`forgetSplit`, CLI --forget-split), else an error
 *                                                 lists them
 *   retain99 | retain95 | retain90 | retain      the retain split: by default the one that pairs with
 *                                                 the forget split (forgetNN <-> retain(100-NN), forget
 *                                                 <-> retain), else the only one; `retainSplit`
 *   holdout01 | holdout05 | holdout10 | holdout  never trained on (membership non-members, privleak):
 *                                                 holdoutNN pairs with forgetNN; `holdoutSplit`
 *   <split>_perturbed                             the same questions with paraphrased_answer and
 *                                                 perturbed_answer (forget01_perturbed, ...); a split
 *                                                 given only as its _perturbed file is read from it
 *   retain_perturbed                              TOFU's evaluation subset of the retain split (its
 *                                                 questions must all be in the chosen retain file)
 *   real_authors_perturbed, world_facts_perturbed TOFU's model-utility sets (question, answer,
 *                                                 perturbed_answer); `real_authors` / `world_facts`
 *                                                 plain files are read too
 * Paraphrased and perturbed answers may also be inline in the split files. A `_perturbed` file's
 * questions are matched to its split's by question text; a question it has that the split lacks is
 * an error. Questions shared by forget, retain and holdout are an error (a fact cannot be both
 * trained and unlearned, or both a member and a non-member). Other files (TOFU's `full`, ...) are
 * ignored and listed in the layout.
 *
 * Items: statement = answer (TOFU answers are full sentences stating the fact); paraphrases =
 * [paraphrased_answer] when given; paraphrased_answer = that, else the answer (with
 * `paraphrase_missing`); perturbed_answers = perturbed_answer as a list; attribute = "qa"; id =
 * "tofu-<file stem>-<line>" (line, or array position, in the file the item was read from; an item of
 * the retain evaluation subset keeps its retain id).
 *
 * Authors (`person`): only by a rule the caller states, never assumed: `groupBy: FIELD` (the record's
 * field, e.g. TOFU-derived files carrying `author`) or `groupSize: N` (consecutive runs of N items of
 * each file are one author, as TOFU orders its 20 questions per author; every file's length must be
 * a multiple of N). Without one, `person` is '' and the dataset counts no people.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { FACT_SPLITS, type FactItem, type FactSplit } from './types.ts';
import { jsonLines, needString } from './dave/load.ts';

/** How a TOFU folder or file is read (the CLI's --forget-split, --retain-split, --holdout-split, --group-by, --group-size). */
export interface DatasetOptions {
  /** Which forget file (stem, e.g. "forget05") when the folder has several. */
  forgetSplit?: string;
  /** Which retain file (default: the one pairing with the forget split). */
  retainSplit?: string;
  /** Which holdout file (default: the one pairing with the forget split). */
  holdoutSplit?: string;
  /** Authors are the values of this record field. */
  groupBy?: string;
  /** Authors are consecutive runs of this many items of each file. */
  groupSize?: number;
}

export interface TofuOptions {
  /** The split of a single file (default: from its name). */
  split?: FactSplit;
  groupBy?: string;
  groupSize?: number;
}

/** One record of a TOFU file. */
interface TofuRecord {
  question: string;
  answer: string;
  paraphrased?: string;
  perturbed?: string[];
  raw: Record<string, unknown>;
  /** "file:line" (or "file: item i"), for messages. */
  where: string;
  /** Line number (JSON lines) or 1-based position (JSON array). */
  line: number;
}

function toRecord(o: unknown, where: string, line: number): TofuRecord {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new UserError(`${where}: expected a JSON object`);
  const r = o as Record<string, unknown>;
  const question = needString(r, 'question', where);
  const answer = needString(r, 'answer', where);
  const rec: TofuRecord = { question, answer, raw: r, where, line };
  if (r.paraphrased_answer !== undefined) rec.paraphrased = needString(r, 'paraphrased_answer', where);
  const p = r.perturbed_answer;
  if (typeof p === 'string') rec.perturbed = [p];
  else if (Array.isArray(p) && p.every((s) => typeof s === 'string')) rec.perturbed = p as string[];
  else if (p !== undefined) {
    throw new UserError(`${where}: field "perturbed_answer" must be a string or an array of strings, got ${JSON.stringify(p).slice(0, 60)}`);
  }
  return rec;
}

/** Records of TOFU text (JSON lines or a JSON array); `file` names it in messages. */
function parseRecords(text: string, file: string): TofuRecord[] {
  const trimmed = text.trimStart();
  let out: TofuRecord[];
  if (trimmed.startsWith('[')) {
    let arr: unknown;
    try {
      arr = JSON.parse(text);
    } catch (e) {
      throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
    }
    out = (arr as unknown[]).map((o, i) => toRecord(o, `${file}: item ${i + 1}`, i + 1));
  } else {
    out = jsonLines(text).map(([lineNo, line]) => {
      const where = `${file}:${lineNo}`;
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch (e) {
        throw new UserError(`${where}: not valid JSON (${(e as Error).message})`);
      }
      return toRecord(o, where, lineNo);
    });
  }
  if (out.length === 0) throw new UserError(`${file}: no items`);
  return out;
}

function stemOf(file: string): string {
  return path.basename(file).replace(/\.(jsonl|json)$/i, '');
}

/** The split a TOFU file name implies (forget*, retain*, holdout*, real_authors*, world_facts*), or null. */
function tofuSplitOf(file: string): FactSplit | null {
  const b = path.basename(file).toLowerCase();
  for (const s of ['forget', 'retain', 'holdout', 'real_authors', 'world_facts'] as const) if (b.startsWith(s)) return s;
  return null;
}

interface Grouping {
  groupBy?: string;
  groupSize?: number;
}

function checkGrouping(g: Grouping): void {
  if (g.groupBy !== undefined && g.groupSize !== undefined) throw new UserError('give one author rule: --group-by FIELD or --group-size N, not both');
  if (g.groupBy !== undefined && (typeof g.groupBy !== 'string' || g.groupBy.trim() === '')) throw new UserError('--group-by needs a field name');
  if (g.groupSize !== undefined && (!Number.isInteger(g.groupSize) || g.groupSize < 1)) throw new UserError(`--group-size must be a positive integer, got ${String(g.groupSize)}`);
}

/**
 * The person of each record of one file under the grouping rule (see the module doc); `required`:
 * every record must carry the --group-by field.
 */
function persons(records: TofuRecord[], file: string, g: Grouping, required: boolean): string[] {
  if (g.groupBy !== undefined) {
    const f = g.groupBy;
    return records.map((r) => {
      const v = r.raw[f];
      if (v === undefined || v === null || String(v).trim() === '') {
        if (!required) return '';
        throw new UserError(`${r.where}: no field "${f}" to group authors by (--group-by ${f}); its fields: ${Object.keys(r.raw).join(', ')}`);
      }
      return String(v);
    });
  }
  if (g.groupSize !== undefined) {
    const n = g.groupSize;
    if (required && records.length % n !== 0) {
      throw new UserError(`${file} has ${records.length} items, not a multiple of --group-size ${n}; give the authors with --group-by FIELD instead`);
    }
    const stem = stemOf(file);
    return records.map((_, i) => (required ? `${stem} author ${Math.floor(i / n) + 1}` : ''));
  }
  return records.map(() => '');
}

function toFact(r: TofuRecord, split: FactSplit, id: string, person: string, companion?: TofuRecord): FactItem {
  const paraphrased = companion?.paraphrased ?? r.paraphrased;
  const perturbed = companion?.perturbed ?? r.perturbed ?? [];
  const item: FactItem = {
    id,
    split,
    person,
    attribute: 'qa',
    statement: r.answer,
    question: r.question,
    answer: r.answer,
    paraphrases: paraphrased !== undefined ? [paraphrased] : [],
    paraphrased_answer: paraphrased ?? r.answer,
    perturbed_answers: [...perturbed],
  };
  if (paraphrased === undefined) item.paraphrase_missing = true;
  return item;
}

/** Parse TOFU text (JSON lines or a JSON array) of one file; `file` is used in messages, ids and (without `split`) for the split. */
export function parseTofu(text: string, file: string, opts: TofuOptions = {}): FactItem[] {
  const split = opts.split ?? tofuSplitOf(file);
  if (split === null) {
    throw new UserError(
      `${file}: cannot tell which split this file holds from its name; name it forget.jsonl, retain.jsonl or holdout.jsonl (TOFU: forget01.json, retain99.json, holdout01.json, real_authors_perturbed.json, ...) or put the files in a folder`,
    );
  }
  if (!(FACT_SPLITS as readonly string[]).includes(split)) throw new UserError(`unknown split "${split}"; use ${FACT_SPLITS.join(', ')}`);
  checkGrouping(opts);
  const records = parseRecords(text, file);
  const stem = stemOf(file);
  const who = persons(records, file, opts, split === 'forget' || split === 'retain' || split === 'holdout');
  return records.map((r, i) => toFact(r, split, `tofu-${stem}-${r.line}`, who[i]!));
}

/** Read one TOFU-format file. */
export function loadTofu(file: string, opts: TofuOptions = {}): FactItem[] {
  if (!fs.existsSync(file)) throw new UserError(`TOFU file ${file} does not exist`);
  return parseTofu(fs.readFileSync(file, 'utf8'), file, opts);
}

// ---------------------------------------------------------------- folders

type UnlearnSplit = 'forget' | 'retain' | 'holdout';
const UNLEARN_SPLITS: readonly UnlearnSplit[] = ['forget', 'retain', 'holdout'];

interface TofuFile {
  /** File name in the folder. */
  name: string;
  file: string;
  split: FactSplit;
  /** Stem without `_perturbed` and extension, e.g. "forget01". */
  base: string;
  perturbed: boolean;
}

/** The files of a folder that TOFU's naming scheme knows; the rest are listed as ignored. */
function scanTofuFolder(dir: string): { files: TofuFile[]; ignored: string[] } {
  const files: TofuFile[] = [];
  const ignored: string[] = [];
  const seen = new Map<string, string>();
  for (const name of fs.readdirSync(dir).sort()) {
    const m = /^(.+?)(_perturbed)?\.(jsonl|json)$/i.exec(name);
    const base = m?.[1]?.toLowerCase();
    const known = base !== undefined && (/^(forget|retain|holdout)(\d{2})?$/.test(base) || base === 'real_authors' || base === 'world_facts');
    if (!m || !known || !fs.statSync(path.join(dir, name)).isFile()) {
      if (/\.(jsonl?|json)$/i.test(name)) ignored.push(name);
      continue;
    }
    const key = `${base}${m[2] ? '_perturbed' : ''}`;
    const prev = seen.get(key);
    if (prev) throw new UserError(`${dir} has both ${prev} and ${name}; keep one of them`);
    seen.set(key, name);
    files.push({ name, file: path.join(dir, name), split: tofuSplitOf(base)!, base, perturbed: !!m[2] });
  }
  return { files, ignored };
}

/** Whether a folder holds files TOFU's naming scheme knows. */
export function looksLikeTofuFolder(dir: string): boolean {
  return scanTofuFolder(dir).files.length > 0;
}

/** The candidates for one unlearning split: every base name (a retain base known only from retain_perturbed counts only when it is the sole one). */
function candidates(files: TofuFile[], split: UnlearnSplit): string[] {
  const bases = [...new Set(files.filter((f) => f.split === split).map((f) => f.base))];
  if (split !== 'retain') return bases.sort();
  const plainRetain = files.some((f) => f.split === 'retain' && f.base === 'retain' && !f.perturbed);
  const others = bases.filter((b) => b !== 'retain');
  return (others.length && !plainRetain ? others : bases).sort();
}

/** TOFU's pairing: forgetNN with retain(100-NN) and holdoutNN; forget with retain and holdout. */
function pairedSplit(forget: string, split: 'retain' | 'holdout'): string {
  const m = /^forget(\d{2})$/.exec(forget);
  if (!m) return split;
  const n = Number(m[1]);
  return split === 'holdout' ? `holdout${m[1]}` : `retain${String(100 - n).padStart(2, '0')}`;
}

/** Files used for each split. */
export interface SplitFiles {
  /** The file the items were read from. */
  file: string;
  /** The `_perturbed` file whose answers were merged in (absent when the split was read from it alone). */
  perturbed?: string;
}

/** How a TOFU folder was read: the chosen files and the rule for authors. */
export interface TofuLayout {
  dir: string;
  /** The chosen file stems and the author rule (re-opening with these reads the same data). */
  options: DatasetOptions;
  /** Every forget / retain / holdout stem present, for messages. */
  available: Record<UnlearnSplit, string[]>;
  files: Partial<Record<FactSplit, SplitFiles>>;
  /** .json / .jsonl files the naming scheme does not know (e.g. TOFU's `full`). */
  ignored: string[];
  /** sha256 over the names and contents of the files read. */
  sha256: string;
}

export interface TofuFolderData {
  layout: TofuLayout;
  /** Every item per split (what fine-tuning can train on). */
  facts: Record<FactSplit, FactItem[]>;
  /** The items an evaluation scores per split (retain: the retain_perturbed subset where present). */
  evalFacts: Record<FactSplit, FactItem[]>;
}

function normQ(q: string): string {
  return q.trim().replace(/\s+/g, ' ');
}

/** Choose one stem for a split (see the module doc); null when the folder has none. */
function choose(dir: string, split: UnlearnSplit, avail: string[], explicit: string | undefined, paired: string | undefined): string | null {
  const flag = `--${split}-split`;
  if (explicit !== undefined) {
    const want = explicit.replace(/\.(jsonl|json)$/i, '').replace(/_perturbed$/i, '').toLowerCase();
    if (!avail.includes(want)) {
      throw new UserError(`${flag} ${explicit}: ${dir} has ${avail.length ? `${split} splits ${avail.join(', ')}` : `no ${split} file (${split}NN.json(l) or ${split}.jsonl)`}`);
    }
    return want;
  }
  if (avail.length === 0) return null;
  if (paired !== undefined && avail.includes(paired)) return paired;
  if (avail.length === 1) return avail[0]!;
  throw new UserError(`${dir} has several ${split} splits (${avail.join(', ')})${paired ? ` and none is ${paired}, the one that pairs with the forget split` : ''}; choose one with ${flag} (e.g. ${flag} ${avail[0]})`);
}

/** Open a TOFU folder (see the module doc). */
export function loadTofuFolder(dir: string, opts: DatasetOptions = {}): TofuFolderData {
  checkGrouping(opts);
  const { files, ignored } = scanTofuFolder(dir);
  if (files.length === 0) {
    throw new UserError(`${dir} holds no TOFU-format files (forget01.json, retain99.json, holdout01.json, *_perturbed.json, real_authors_perturbed.json, world_facts_perturbed.json, or forget.jsonl / retain.jsonl / holdout.jsonl)`);
  }
  const available = { forget: candidates(files, 'forget'), retain: candidates(files, 'retain'), holdout: candidates(files, 'holdout') };
  const forget = choose(dir, 'forget', available.forget, opts.forgetSplit, undefined);
  const chosen: Record<UnlearnSplit, string | null> = {
    forget,
    retain: choose(dir, 'retain', available.retain, opts.retainSplit, forget ? pairedSplit(forget, 'retain') : undefined),
    holdout: choose(dir, 'holdout', available.holdout, opts.holdoutSplit, forget ? pairedSplit(forget, 'holdout') : undefined),
  };
  const find = (split: FactSplit, base: string, perturbed: boolean) => files.find((f) => f.split === split && f.base === base && f.perturbed === perturbed);
  const read = new Map<string, string>(); // file name -> sha256
  const records = (f: TofuFile): TofuRecord[] => {
    const text = fs.readFileSync(f.file, 'utf8');
    read.set(f.name, crypto.createHash('sha256').update(text).digest('hex'));
    return parseRecords(text, f.file);
  };
  const facts = Object.fromEntries(FACT_SPLITS.map((s) => [s, [] as FactItem[]])) as Record<FactSplit, FactItem[]>;
  const evalFacts = Object.fromEntries(FACT_SPLITS.map((s) => [s, [] as FactItem[]])) as Record<FactSplit, FactItem[]>;
  const layoutFiles: TofuLayout['files'] = {};

  const load = (split: FactSplit, base: string, required: boolean) => {
    const plain = find(split, base, false);
    const pert = find(split, base, true) ?? (split === 'retain' ? find('retain', 'retain', true) : undefined);
    const src = plain ?? pert!;
    const recs = records(src);
    const who = persons(recs, src.file, opts, required);
    const stem = stemOf(src.name);
    const items = recs.map((r, i) => ({ rec: r, item: toFact(r, split, `tofu-${stem}-${r.line}`, who[i]!) }));
    layoutFiles[split] = { file: src.name, ...(plain && pert ? { perturbed: pert.name } : {}) };
    let evalItems = items.map((x) => x.item);
    if (plain && pert) {
      // merge the companion's paraphrased / perturbed answers by question
      const byQ = new Map<string, number[]>();
      items.forEach((x, i) => byQ.set(normQ(x.rec.question), [...(byQ.get(normQ(x.rec.question)) ?? []), i]));
      const used = new Set<number>();
      const matched: FactItem[] = [];
      const unmatched: TofuRecord[] = [];
      for (const c of records(pert)) {
        const i = (byQ.get(normQ(c.question)) ?? []).find((k) => !used.has(k));
        if (i === undefined) {
          unmatched.push(c);
          continue;
        }
        used.add(i);
        const x = items[i]!;
        x.item = toFact(x.rec, split, x.item.id, x.item.person, c);
        matched.push(x.item);
      }
      if (unmatched.length) {
        throw new UserError(`${pert.file}: ${unmatched.length} question(s) are not in ${plain.name} (e.g. ${unmatched[0]!.where}: "${unmatched[0]!.question}"); a _perturbed file holds questions of its split`);
      }
      // TOFU evaluates the retain split on retain_perturbed only; forget / holdout companions cover their split
      evalItems = split === 'retain' ? matched : items.map((x) => x.item);
    }
    facts[split] = items.map((x) => x.item);
    evalFacts[split] = evalItems;
  };
  for (const s of UNLEARN_SPLITS) if (chosen[s]) load(s, chosen[s]!, true);
  for (const s of ['real_authors', 'world_facts'] as const) if (files.some((f) => f.split === s)) load(s, s, false);

  // a question in two of forget / retain / holdout makes every metric on them wrong
  for (const [a, b] of [['forget', 'retain'], ['forget', 'holdout'], ['retain', 'holdout']] as const) {
    const qa = new Set(facts[a].map((f) => normQ(f.question)));
    const shared = facts[b].filter((f) => qa.has(normQ(f.question)));
    if (shared.length) {
      throw new UserError(
        `${layoutFiles[a]!.file} and ${layoutFiles[b]!.file} share ${shared.length} question(s) (e.g. "${shared[0]!.question}"); a question belongs to one split` +
          (a === 'forget' && b === 'retain' && chosen.forget ? ` (TOFU pairs ${chosen.forget} with ${pairedSplit(chosen.forget, 'retain')}; choose it with --retain-split)` : ''),
      );
    }
  }
  const options: DatasetOptions = {};
  for (const s of UNLEARN_SPLITS) if (chosen[s]) options[`${s}Split`] = chosen[s]!;
  if (opts.groupBy !== undefined) options.groupBy = opts.groupBy;
  if (opts.groupSize !== undefined) options.groupSize = opts.groupSize;
  const sha256 = crypto
    .createHash('sha256')
    .update(JSON.stringify([...read].sort(([a], [b]) => (a < b ? -1 : 1))))
    .digest('hex');
  return { layout: { dir, options, available, files: layoutFiles, ignored, sha256 }, facts, evalFacts };
}

/** What would supply a split a TOFU folder lacks (for "missing split" messages); `forget`: the chosen forget file. */
export function tofuSupplyHint(split: string, forget?: string): string {
  const nn = forget !== undefined && /^forget\d{2}$/.test(forget) ? forget : undefined;
  switch (split) {
    case 'forget':
      return 'add a forget file: forget01.json(l), forget05, forget10, or forget.jsonl';
    case 'retain':
      return nn ? `add ${pairedSplit(nn, 'retain')}.json(l) (TOFU's pair of ${nn}) or retain.jsonl` : 'add retain.jsonl (TOFU: retain99.json(l) for forget01, ...)';
    case 'holdout':
      return `add ${nn ? `${pairedSplit(nn, 'holdout')}.json(l) (TOFU's pair of ${nn}) or holdout.jsonl` : 'holdout.jsonl (TOFU: holdout01.json(l) for forget01, ...)'}: questions of the same kind never trained on`;
    case 'real_authors':
      return 'add real_authors_perturbed.json(l) (question, answer, perturbed_answer)';
    case 'world_facts':
      return 'add world_facts_perturbed.json(l) (question, answer, perturbed_answer)';
    case 'decoy':
      return 'decoys exist in Dave data only (datasets/dave)';
    case 'general':
      return 'plain texts exist in Dave data only (datasets/dave)';
    default:
      return `add a ${split} file`;
  }
}
