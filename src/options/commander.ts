/**
 * Commander options derived from the declarations: the flag, the help line with the allowed range
 * (from validate.ts) and the default, and `readOptions` that checks every value of a command's
 * tables at the start of its action, before any work.
 *
 *   addOptions(cmd, FINETUNE);                 // in register()
 *   const v = readOptions(FINETUNE, o);        // first line of the action: typed, checked values
 */
import { Option, type Command } from 'commander';
import { checkOption, rangeHelp } from './validate.ts';
import type { OptionDecl, OptionTable, OptionValue } from './types.ts';

/** The help line of a declaration: its help, then what it allows. */
export function helpOf(d: OptionDecl, extra?: string): string {
  const help = extra ? `${d.help}: ${extra}` : d.help;
  if (d.type === 'enum') return `${help} (${(d.choices ?? []).join(' | ')})`;
  if (d.type === 'list' && d.choices) return `${help} (of ${d.choices.join(', ')})`;
  const r = rangeHelp(d);
  return r ? `${help} (${r})` : help;
}

/** The commander Option of a declaration (`extra` is appended to its help, e.g. the filter syntax). */
export function commanderOption(d: OptionDecl, extra?: string): Option {
  const flags = d.type === 'boolean' ? d.flag : `${d.flag} ${d.arg ?? '<value>'}`;
  const opt = new Option(flags, helpOf(d, extra));
  if (d.default !== undefined && !(d.type === 'boolean')) opt.default(d.default);
  if (d.required) opt.makeOptionMandatory(true);
  return opt;
}

/** Declare every option of `table` on `cmd` (`extra`: text appended to some options' help, by key). */
export function addOptions<C extends Command>(cmd: C, table: OptionTable, extra: Record<string, string> = {}): C {
  for (const d of Object.values(table)) cmd.addOption(commanderOption(d, extra[d.key]));
  return cmd;
}

type ValueOf<D> = D extends { type: 'number' | 'integer'; keywords: readonly string[] } ? number | string : D extends { type: 'number' | 'integer' } ? number : D extends { type: 'list' } ? string[] : D extends { type: 'boolean' } ? boolean : string;

/** The typed values of a table: undefined where not given and without a default. */
export type Values<T> = { [K in keyof T]: ValueOf<T[K]> | undefined };

/**
 * Check every value of `table` in commander's parsed options `o` (strings, or the declared
 * defaults) and return them typed. A bad value is a UserError naming the option, the value and the
 * range (the CLI prints it with exit code 2).
 */
export function readOptions<const T extends OptionTable>(table: T, o: Record<string, unknown>): Values<T> {
  const out: Record<string, OptionValue | undefined> = {};
  for (const [k, d] of Object.entries(table)) {
    const v = o[d.key];
    out[k] = v === undefined || v === null ? undefined : checkOption(d, v);
  }
  return out as Values<T>;
}

