/**
 * TUI form fields derived from the declarations (the shape of src/tui/components/Form.tsx's
 * FieldSpec): the label, the kind of editor (number, choice, toggle, multi-choice, text), the
 * choices and the hint line with the allowed range. The TUI's job handlers check the typed values
 * with the same validator as the CLI, so a form and a command line refuse the same values with the
 * same message.
 */
import { helpOf } from './commander.ts';
import { checkOption } from './validate.ts';
import { UserError } from '../util/errors.ts';
import type { OptionDecl, OptionTable, OptionValue } from './types.ts';

export interface FormField {
  key: string;
  label: string;
  kind: 'text' | 'number' | 'choice' | 'toggle' | 'multi' | 'info';
  options?: string[];
  help?: string;
}

/** The form field of a declaration (`o.kind` / `o.options` / `o.label` override the derived ones). */
export function formFieldOf(d: OptionDecl, o: Partial<FormField> = {}): FormField {
  const kind: FormField['kind'] =
    d.type === 'number' || d.type === 'integer' ? 'number' : d.type === 'enum' ? 'choice' : d.type === 'boolean' ? 'toggle' : d.type === 'list' && d.choices ? 'multi' : 'text';
  const label = d.label ?? d.flag.replace(/^--(no-)?/, '');
  const f: FormField = { key: d.key, label, kind, help: helpOf(d) };
  if (d.choices) f.options = [...d.choices];
  return { ...f, ...o };
}

/** A form's string values (Form.tsx keeps strings; toggles 'yes' / 'no') checked and typed. */
export function formValue(d: OptionDecl, raw: string | undefined): OptionValue | undefined {
  if (raw === undefined || raw.trim() === '') {
    if (d.required) return checkOption(d, raw ?? '');
    return undefined;
  }
  if (d.type === 'boolean') return raw === 'yes' || raw === 'true';
  return checkOption(d, raw);
}

/** The form's initial strings from the declared defaults. */
export function formDefaults(table: OptionTable): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of Object.values(table)) {
    if (d.default === undefined) continue;
    out[d.key] = d.type === 'boolean' ? (d.default ? 'yes' : 'no') : String(d.default);
  }
  return out;
}

/** A form's value of `d`, or its declared default when the field is blank. */
export function formValueOrDefault(d: OptionDecl, raw: string | undefined): OptionValue | undefined {
  const v = formValue(d, raw);
  return v === undefined && d.default !== undefined ? checkOption(d, d.default) : v;
}

/** `f()`, or the message of the UserError it throws (a form shows it instead of starting the job). */
export function orMessage<T>(f: () => T): T | string {
  try {
    return f();
  } catch (e) {
    if (e instanceof UserError) return e.message;
    throw e;
  }
}
