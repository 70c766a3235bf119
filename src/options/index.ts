/**
 * Options declared once (types.ts, declarations.ts), checked by one validator (validate.ts), and
 * derived for each front-end: commander (commander.ts), the TUI's forms (form.ts) and the server's
 * JSON schemas (jsonSchema.ts).
 */
export type { OptionDecl, OptionTable, OptionType, OptionValue } from './types.ts';
export * from './declarations.ts';
export { checkOption, checkOptions, describeAllowed, rangeHelp } from './validate.ts';
export { addOptions, commanderOption, helpOf, readOptions, type Values } from './commander.ts';
export { jsonSchemaOf } from './jsonSchema.ts';
export { formFieldOf, formValue, formValueOrDefault, formDefaults, orMessage, type FormField } from './form.ts';
