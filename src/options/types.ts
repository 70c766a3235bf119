/**
 * Option declarations: every option a user can set (on the command line, in a TUI form, in a server
 * request) is declared once, here in src/options/, with its name, flag, type, allowed range,
 * default and help text. Everything else is derived from the declarations (src/options/index.ts):
 * commander's options and their `--help` text, the TUI's form fields, the server's JSON schemas, and
 * the one validator that checks a value before any work starts.
 *
 * Numbers are always finite (NaN and +-Infinity are never a valid setting); `min` / `max` bound
 * them (exclusive with `minExclusive` / `maxExclusive`), `integer` requires a whole number.
 */

export type OptionType = 'number' | 'integer' | 'string' | 'enum' | 'list' | 'boolean' | 'path';

export type OptionValue = number | string | boolean | string[];

export interface OptionDecl {
  /** Key of the parsed value (camelCase, as commander names it): `weightDecay` for `--weight-decay`. */
  key: string;
  /** The flag without its argument: `--weight-decay`. */
  flag: string;
  /** The argument placeholder in the help (`<x>`, `<n>`); none for a boolean. */
  arg?: string;
  type: OptionType;
  /** Numbers: smallest allowed value (inclusive unless `minExclusive`). */
  min?: number;
  minExclusive?: boolean;
  /** Numbers: largest allowed value (inclusive unless `maxExclusive`). */
  max?: number;
  maxExclusive?: boolean;
  /** Numbers: words accepted as they are besides numbers (`--eta auto`); the caller gives them meaning. */
  keywords?: readonly string[];
  /** enum: the allowed values; list: the allowed items (when the items come from a fixed set). */
  choices?: readonly string[];
  /** list: the separator of the items (default ','). */
  separator?: string;
  /** path: what must exist there before any work ('file', 'dir', 'any'); absent: nothing is checked. */
  exists?: 'file' | 'dir' | 'any';
  /** The default, in the option's own type (lists as their string form). */
  default?: number | string | boolean;
  /** A boolean `--no-x` flag (default true). */
  negate?: boolean;
  /** Must be given (commander's requiredOption). */
  required?: boolean;
  /** The help line, without the range and default (both are appended from the declaration). */
  help: string;
  /** A short label for forms (default: the flag without dashes). */
  label?: string;
}

/** A set of declarations keyed by `key`. */
export type OptionTable<K extends string = string> = Record<K, OptionDecl>;
