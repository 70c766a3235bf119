/**
 * The claim table every `unlearnkit reproduce <paper>` report opens with: one row per published
 * claim, the paper's number (quoted, with the paper cited), our number as the mean over seeds with
 * its 95% t interval (src/stats meanCI: mean -/+ t_{0.975, n-1} sd / sqrt(n)), and whether our
 * result goes the paper's way.
 *
 * Every claim is turned into one signed quantity whose sign says the paper's direction, e.g.
 * "influence drops after unlearning" -> mean(TracIn after - before) with the paper's direction
 * negative, "first-epoch beats all-epochs" -> d_z(first-epoch) - d_z(all-epochs), positive. Then
 *   same direction = yes           the whole interval lies on the paper's side of 0
 *                    no            the whole interval lies on the other side
 *                    inconclusive  the interval spans 0 (or fewer than 2 seeds gave a value)
 * Nothing is tuned to make a row agree: the settings that produced each number are in the report.
 */
import { meanCI } from '../stats/index.ts';
import { UserError } from '../util/errors.ts';
import { list, paragraph, type Block, type Table } from '../report/document.ts';

export type Direction = 'yes' | 'no' | 'inconclusive';

export interface SeedInterval {
  /** Mean over seeds. */
  estimate: number;
  /** 95% t interval of the mean over seeds (NaN with fewer than 2 values). */
  lo: number;
  hi: number;
  /** One value per seed, in seed order. */
  perSeed: number[];
}

export interface ClaimSpec {
  /** Short stable id (e.g. "Z1"), used by the tests and the charts. */
  id: string;
  /** The claim in the paper's words (or as close as our material has it). */
  claim: string;
  /** The paper's number, quoted (with its table / section), or what the paper says instead. */
  paper: string;
  /** What we measure, exactly: the signed quantity and the setting. */
  quantity: string;
  /** The sign of the quantity the paper's claim predicts. */
  expected: 'positive' | 'negative';
  /** Where a row can be labelled (e.g. "substitute: small CNN, synthetic CIFAR-format images"). */
  label?: string;
}

export interface Claim extends ClaimSpec {
  ours: SeedInterval;
  direction: Direction;
  /** Where our result does not go the paper's way: what was tried and what a proper test needs. */
  note?: string;
}

/** Mean over seeds and its 95% t interval; values that are not finite are refused by name. */
export function seedInterval(values: number[], what: string): SeedInterval {
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new UserError(`${what}: seed ${bad + 1} gave ${values[bad]}, not a finite number`);
  if (values.length === 0) throw new UserError(`${what}: no seed gave a value`);
  if (values.length === 1) return { estimate: values[0]!, lo: NaN, hi: NaN, perSeed: values.slice() };
  const ci = meanCI(values, 0.95);
  return { estimate: ci.estimate, lo: ci.lo, hi: ci.hi, perSeed: values.slice() };
}

/** The verdict of an interval against the paper's sign (see the module comment). */
function directionOf(ours: SeedInterval, expected: 'positive' | 'negative'): Direction {
  if (!Number.isFinite(ours.lo) || !Number.isFinite(ours.hi)) return 'inconclusive';
  if (ours.lo <= 0 && ours.hi >= 0) return 'inconclusive';
  const positive = ours.lo > 0;
  return positive === (expected === 'positive') ? 'yes' : 'no';
}

/** What a row that is not a yes says: the setting tried, what a proper test needs, and (for a no) why we think it went the other way. */
export interface ClaimNote {
  tried: string;
  needed: string;
  whyNo?: string;
}

/** A claim row from its spec and per-seed values; rows that are not a yes carry the note. */
export function makeClaim(spec: ClaimSpec, perSeed: number[], note: ClaimNote): Claim {
  const ours = seedInterval(perSeed, `claim ${spec.id}`);
  const direction = directionOf(ours, spec.expected);
  let text: string | undefined;
  if (direction === 'no') text = `${note.whyNo ? `${note.whyNo} ` : ''}Tried: ${note.tried}. To test it properly: ${note.needed}.`;
  else if (direction === 'inconclusive') text = `The 95% interval over ${perSeed.length} seed(s) spans 0. Tried: ${note.tried}. To test it properly: ${note.needed}.`;
  return { ...spec, ours, direction, note: text };
}

/** A number for a table: 3 significant digits, exponent form outside [1e-3, 1e5). */
export function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'n/a' : String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(2);
  return String(Number(x.toPrecision(3)));
}

export function fmtInterval(i: SeedInterval): string {
  if (!Number.isFinite(i.lo)) return `${fmtNum(i.estimate)} (1 seed, no interval)`;
  return `${fmtNum(i.estimate)} [${fmtNum(i.lo)}, ${fmtNum(i.hi)}]`;
}

const VERDICT: Record<Direction, string> = { yes: 'yes', no: 'no', inconclusive: 'inconclusive (CI spans 0)' };

/** The first table of a reproduce report: each claim, the paper's number, ours with its interval, the verdict. */
export function claimTable(claims: Claim[], citation: string): Table {
  return {
    head: ['#', `claim (${citation})`, "paper's number", 'our quantity', 'ours: mean [95% CI over seeds]', 'same direction'],
    rows: claims.map((c) => {
      const claim = c.label ? `${c.claim} *(${c.label})*` : c.claim;
      const verdict = c.direction === 'inconclusive' && !Number.isFinite(c.ours.lo) ? 'inconclusive (one seed)' : VERDICT[c.direction];
      return [c.id, claim, c.paper, `${c.quantity} (paper's sign: ${c.expected === 'positive' ? '> 0' : '< 0'})`, fmtInterval(c.ours), verdict];
    }),
  };
}

/** Per-seed values of every claim. */
export function claimSeedsTable(claims: Claim[], seeds: number[]): Table {
  return { head: ['#', ...seeds.map((s) => `seed ${s}`)], rows: claims.map((c) => [c.id, ...c.ours.perSeed.map(fmtNum)]) };
}

/** "What was tried / what would test it properly" for every row that is not a yes. */
export function claimNotes(claims: Claim[]): Block {
  const open = claims.filter((c) => c.direction !== 'yes');
  if (open.length === 0) return paragraph("Every claim went the paper's way here.");
  return list(open.map((c) => `**${c.id}** (${c.direction}): ${c.note ?? 'no note'}`));
}
