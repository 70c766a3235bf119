/**
 * JSON schemas of the request bodies, validated by fastify (Ajv) with type coercion off: a wrong
 * type is a 400 naming the field ("body/max_tokens must be integer"), and an unknown field is a 400
 * naming it, as the OpenAI API does. Parameters the server understands but does not implement
 * (n > 1, chat logprobs, tools, ...) pass the schema and are refused by the handlers with a clear
 * message. The completions `prompt` (a string, strings, token ids or lists of token ids) and
 * `logprobs` ranges are checked by the handler, which names the offending element.
 *
 * The sampling parameters and the adapter scale are derived from their declarations
 * (src/options/declarations.ts SAMPLING, adapterScaleDecl), so the server refuses exactly what
 * `generate` and the TUI refuse: a temperature outside [0, 2], a negative or fractional top_k,
 * top_p outside (0, 1], a seed that is not an integer in [0, 2^32 - 1], a scale beyond +-16
 * (Ajv's number types also refuse non-finite numbers).
 */
import { adapterScaleDecl, SAMPLING } from '../options/declarations.ts';
import { jsonSchemaOf } from '../options/jsonSchema.ts';

const nullable = (t: string | string[]) => (Array.isArray(t) ? [...t, 'null'] : [t, 'null']);

const adapterList = {
  type: 'array',
  maxItems: 8,
  items: {
    type: 'object',
    required: ['name'],
    additionalProperties: false,
    properties: { name: { type: 'string', minLength: 1, maxLength: 200 }, scale: jsonSchemaOf(adapterScaleDecl) },
  },
} as const;

/** Most prompts one completions request may carry (strings or token-id lists). */
export const MAX_PROMPTS = 256;

/** Largest `logprobs` (most likely tokens listed per position) a completions request may ask for. */
export const MAX_LOGPROBS = 20;

function sampling(maxTokensLimit: number, minTokens = 1) {
  return {
    model: { type: 'string', maxLength: 2000 },
    adapters: adapterList,
    max_tokens: jsonSchemaOf(SAMPLING.maxTokens, { nullable: true, min: minTokens, max: maxTokensLimit }),
    temperature: jsonSchemaOf(SAMPLING.temperature, { nullable: true }),
    top_p: jsonSchemaOf(SAMPLING.topP, { nullable: true }),
    top_k: jsonSchemaOf(SAMPLING.topK, { nullable: true }),
    min_p: jsonSchemaOf(SAMPLING.minP, { nullable: true }),
    seed: jsonSchemaOf(SAMPLING.seed, { nullable: true }),
    stop: { type: nullable(['string', 'array']), maxLength: 500, maxItems: 4, items: { type: 'string', minLength: 1, maxLength: 500 } },
    frequency_penalty: { type: nullable('number'), minimum: -2, maximum: 2 },
    presence_penalty: { type: nullable('number'), minimum: -2, maximum: 2 },
    repeat_penalty: { type: nullable('number'), exclusiveMinimum: 0, maximum: 10 },
    stream: { type: nullable('boolean') },
    stream_options: { type: nullable('object'), properties: { include_usage: { type: 'boolean' } } },
    n: { type: nullable('integer'), minimum: 1 },
    logprobs: { type: nullable(['boolean', 'integer']) },
    logit_bias: { type: nullable('object') },
    user: { type: 'string' },
  };
}

export function completionSchema(maxTokensLimit: number) {
  return {
    type: 'object',
    required: ['prompt'],
    additionalProperties: false,
    properties: {
      // max_tokens 0 is allowed with echo (score the prompt, generate nothing)
      ...sampling(maxTokensLimit, 0),
      prompt: { type: ['string', 'array'] },
      echo: { type: nullable('boolean') },
      suffix: { type: nullable('string') },
      best_of: { type: nullable('integer'), minimum: 1 },
    },
  };
}

export function chatSchema(maxTokensLimit: number) {
  return {
    type: 'object',
    required: ['messages'],
    additionalProperties: false,
    properties: {
      ...sampling(maxTokensLimit),
      max_completion_tokens: { type: nullable('integer'), minimum: 1, maximum: maxTokensLimit },
      messages: {
        type: 'array',
        minItems: 1,
        maxItems: 1024,
        items: {
          type: 'object',
          required: ['role'],
          properties: {
            role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant', 'tool', 'function'] },
            content: {
              type: nullable(['string', 'array']),
              items: {
                type: 'object',
                required: ['type'],
                properties: { type: { type: 'string' }, text: { type: 'string' } },
              },
            },
            name: { type: 'string' },
          },
        },
      },
      top_logprobs: { type: nullable('integer') },
      tools: { type: nullable('array') },
      tool_choice: {},
      functions: { type: nullable('array') },
      function_call: {},
      response_format: { type: nullable('object') },
      parallel_tool_calls: { type: nullable('boolean') },
      metadata: { type: nullable('object') },
      store: { type: nullable('boolean') },
    },
  };
}

export const scoreSchema = {
  type: 'object',
  required: ['input'],
  additionalProperties: false,
  properties: {
    model: { type: 'string', maxLength: 2000 },
    adapters: adapterList,
    input: { type: ['string', 'array'], minItems: 1, maxItems: 256, items: { type: 'string' } },
    return_tokens: { type: 'boolean' },
    return_token_strings: { type: 'boolean' },
  },
};

export const tokenizeSchema = {
  type: 'object',
  required: ['content'],
  additionalProperties: false,
  properties: {
    content: { type: 'string' },
    add_special: { type: 'boolean' },
    parse_special: { type: 'boolean' },
    with_pieces: { type: 'boolean' },
  },
};

export const detokenizeSchema = {
  type: 'object',
  required: ['tokens'],
  additionalProperties: false,
  properties: {
    tokens: { type: 'array' },
  },
};

export const adapterLoadSchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    scale: jsonSchemaOf(adapterScaleDecl),
  },
};

export interface AdapterRefBody {
  name: string;
  scale?: number;
}

export interface SamplingBody {
  model?: string;
  adapters?: AdapterRefBody[];
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  min_p?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  repeat_penalty?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  n?: number | null;
  logprobs?: boolean | number | null;
  logit_bias?: Record<string, number> | null;
  user?: string;
}

export interface CompletionBody extends SamplingBody {
  /** A string, strings, token ids, or lists of token ids (checked by the handler). */
  prompt: string | unknown[];
  echo?: boolean | null;
  suffix?: string | null;
  best_of?: number | null;
}

export interface ChatBody extends SamplingBody {
  max_completion_tokens?: number | null;
  messages: Array<{ role: string; content?: string | Array<{ type: string; text?: string }> | null; name?: string }>;
  top_logprobs?: number | null;
  tools?: unknown[] | null;
  tool_choice?: unknown;
  functions?: unknown[] | null;
  function_call?: unknown;
  response_format?: { type?: string } | null;
}

export interface TokenizeBody {
  content: string;
  add_special?: boolean;
  parse_special?: boolean;
  with_pieces?: boolean;
}

export interface DetokenizeBody {
  tokens: unknown[];
}

export interface ScoreBody {
  model?: string;
  adapters?: AdapterRefBody[];
  input: string | string[];
  return_tokens?: boolean;
  return_token_strings?: boolean;
}
