/**
 * The one validator of option values. Front-ends hand it what the user typed (strings from the
 * command line and TUI forms, JSON values from the server) and get typed values back, or a
 * UserError that names the option, the value given and what is allowed, before any work starts:
 *
 *   --temperature: got 'NaN'; allowed: a finite number >= 0 and <= 2
 *   --splits: 'forgot' is not one of forget, retain, ...; allowed: a ','-separated list of forget, retain, ...
 *
 * Numbers from strings go through Number() after trimming (an empty string is refused, not 0).
 */
import fs from 'node:fs';
import { UserError } from '../util/errors.ts';
import type { OptionDecl, OptionTable, OptionValue } from './types.ts';

/** The bounds of a number option in words: "> 0 and <= 10" ('' when unbounded). */
function bounds(d: OptionDecl): string {
  const lo = d.min === undefined ? '' : `${d.minExclusive ? '>' : '>='} ${d.min}`;
  const hi = d.max === undefined ? '' : `${d.maxExclusive ? '<' : '<='} ${d.max}`;
  return [lo, hi].filter(Boolean).join(' and ');
}

/** What `d` allows, in words: "a finite number > 0 and <= 10", "one of adamw, sgd". */
export function describeAllowed(d: OptionDecl): string {
  switch (d.type) {
    case 'number':
    case 'integer':
      return [d.type === 'integer' ? 'an integer' : 'a finite number', bounds(d)].filter(Boolean).join(' ') + (d.keywords?.length ? ` or ${d.keywords.join(', ')}` : '');
    case 'enum':
      return `one of ${(d.choices ?? []).join(', ')}`;
    case 'list':
      return d.choices ? `a '${d.separator ?? ','}'-separated list of ${d.choices.join(', ')}` : `a non-empty '${d.separator ?? ','}'-separated list`;
    case 'boolean':
      return 'true or false';
    case 'path':
      return d.exists === 'file' ? 'an existing file' : d.exists === 'dir' ? 'an existing folder' : d.exists === 'any' ? 'an existing path' : 'a path';
    default:
      return 'a non-empty string';
  }
}

/** The range as the help text shows it ("finite, > 0", "integer >= 1 and <= 1000"), '' for non-numbers. */
export function rangeHelp(d: OptionDecl): string {
  const words = d.keywords?.length ? `; or ${d.keywords.join(', ')}` : '';
  if (d.type === 'number') return ['finite', bounds(d)].filter(Boolean).join(', ') + words;
  if (d.type === 'integer') return ['integer', bounds(d)].filter(Boolean).join(' ') + words;
  return '';
}

function fail(d: OptionDecl, value: unknown, why?: string): never {
  const shown = typeof value === 'string' ? `'${value}'` : Array.isArray(value) ? `'${value.join(d.separator ?? ',')}'` : String(value);
  throw new UserError(`${d.flag}: ${why ?? `got ${shown}`}; allowed: ${describeAllowed(d)}`);
}

function checkNumber(d: OptionDecl, raw: unknown): number {
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' && raw.trim() !== '') n = Number(raw.trim());
  else fail(d, raw);
  if (!Number.isFinite(n)) fail(d, raw);
  if (d.type === 'integer' && !Number.isInteger(n)) fail(d, raw);
  if (d.min !== undefined && (d.minExclusive ? !(n > d.min) : !(n >= d.min))) fail(d, raw);
  if (d.max !== undefined && (d.maxExclusive ? !(n < d.max) : !(n <= d.max))) fail(d, raw);
  return n;
}

/**
 * Check one value of `d` and return it typed: a number for number / integer, a string for enum /
 * string / path, a string[] for list, a boolean for boolean. Throws a UserError naming the option.
 */
export function checkOption(d: OptionDecl, raw: unknown): OptionValue {
  switch (d.type) {
    case 'number':
    case 'integer':
      if (typeof raw === 'string' && d.keywords?.includes(raw.trim())) return raw.trim();
      return checkNumber(d, raw);
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === 'yes') return true;
      if (raw === 'false' || raw === 'no') return false;
      return fail(d, raw);
    case 'enum': {
      const s = String(raw).trim();
      if (!(d.choices ?? []).includes(s)) fail(d, raw);
      return s;
    }
    case 'list': {
      const items = (Array.isArray(raw) ? raw.map(String) : String(raw).split(d.separator ?? ',')).map((s) => s.trim()).filter(Boolean);
      if (items.length === 0) fail(d, raw, `${typeof raw === 'string' ? `'${raw}'` : 'the value'} names no item`);
      if (d.choices) for (const it of items) if (!d.choices.includes(it)) fail(d, raw, `'${it}' is not one of ${d.choices.join(', ')}`);
      return items;
    }
    case 'path': {
      const s = String(raw);
      if (s.trim() === '') fail(d, raw, 'got an empty path');
      if (d.exists) {
        let st: fs.Stats;
        try {
          st = fs.statSync(s);
        } catch {
          return fail(d, raw, `${s} does not exist`);
        }
        if (d.exists === 'file' && !st.isFile()) fail(d, raw, `${s} is ${st.isDirectory() ? 'a folder' : 'not a regular file'}`);
        if (d.exists === 'dir' && !st.isDirectory()) fail(d, raw, `${s} is not a folder`);
      }
      return s;
    }
    default: {
      const s = String(raw);
      if (s.trim() === '') fail(d, raw, 'got an empty value');
      return s;
    }
  }
}

/**
 * Check every given value of a table (undefined values stay undefined: the option was not given
 * and has no default) and return the typed values, before any work starts.
 */
export function checkOptions<T extends OptionTable>(table: T, raw: Record<string, unknown>): { [K in keyof T]?: OptionValue } {
  const out: Record<string, OptionValue> = {};
  for (const [k, d] of Object.entries(table)) {
    const v = raw[d.key];
    if (v === undefined || v === null) {
      if (d.required) throw new UserError(`${d.flag} is required (${d.help})`);
      continue;
    }
    out[k] = checkOption(d, v);
  }
  return out as { [K in keyof T]?: OptionValue };
}
