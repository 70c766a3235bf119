/**
 * JSON schemas derived from the declarations, for the server's request validation (fastify / Ajv,
 * server/schemas.ts). Ajv's number and integer types accept only finite numbers, so the JSON
 * schema states the same range as the validator: a bad value is an HTTP 400 naming the field.
 */
import type { OptionDecl } from './types.ts';

export interface JsonNumberSchema {
  type: string | string[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  enum?: readonly (string | null)[];
}

/**
 * The schema of one declaration; `nullable` adds 'null' (OpenAI clients send null for "not set"),
 * `max` overrides the declared maximum (the server's --max-tokens-limit).
 */
export function jsonSchemaOf(d: OptionDecl, o: { nullable?: boolean; max?: number; min?: number } = {}): JsonNumberSchema {
  const t = d.type === 'integer' ? 'integer' : d.type === 'number' ? 'number' : d.type === 'boolean' ? 'boolean' : 'string';
  const s: JsonNumberSchema = { type: o.nullable ? [t, 'null'] : t };
  const min = o.min ?? d.min;
  const max = o.max ?? d.max;
  if (min !== undefined) {
    if (d.minExclusive && o.min === undefined) s.exclusiveMinimum = min;
    else s.minimum = min;
  }
  if (max !== undefined) {
    if (d.maxExclusive && o.max === undefined) s.exclusiveMaximum = max;
    else s.maximum = max;
  }
  if (d.type === 'enum' && d.choices) s.enum = o.nullable ? [...d.choices, null] : d.choices;
  return s;
}
