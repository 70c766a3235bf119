/**
 * POST /v1/completions and POST /v1/chat/completions, streaming (SSE) and not, in OpenAI's shapes.
 * The adapter set comes from `model` ("<id>+<adapter>:<scale>") or from `adapters`.
 *
 * Completions take what lm-evaluation-harness's `local-completions` sends: `prompt` as a string, a
 * list of strings, a list of token ids, or a list of token-id lists (one choice per prompt, `index`
 * in order); `echo` (the prompt, as text and, with `logprobs`, as tokens whose first entry is null);
 * `logprobs` k = 0..20 (OpenAI's legacy format, ./logprobs.ts); `max_tokens: 0` with `echo` to
 * score the prompt only. String prompts get the BOS the vocabulary asks for; token-id prompts are
 * scored exactly as given (llama.cpp's server does the same), while generation from them starts
 * with that BOS when they lack it (node-llama-cpp's completion always puts it first; a given leading
 * BOS is not doubled).
 */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { LlamaModel, LlamaText, Token } from 'node-llama-cpp';
import { renderChat, type ChatMessage } from '../chatTemplate.ts';
import type { InferenceEngine } from '../engine.ts';
import { abortToApiError, ApiError, badRequest, RequestAborted } from '../errors.ts';
import { generate, type GenerationResult, type SamplingParams } from '../generate.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { AdapterRef } from '../options.ts';
import { openRequestScope, requestFailure, type InflightRegistry } from '../requestContext.ts';
import { chatSchema, completionSchema, MAX_LOGPROBS, MAX_PROMPTS, type ChatBody, type CompletionBody, type SamplingBody } from '../schemas.ts';
import { SseWriter } from '../sse.ts';
import { evaluateCompletion, legacyLogprobs, type TokenLogprob } from './logprobs.ts';
import { TokenPieces } from './tokenize.ts';

export interface GenerationDeps {
  engine: InferenceEngine;
  metrics: ServerMetrics;
  registry: InflightRegistry;
  requestTimeoutMs: number;
  maxTokensLimit: number;
}

/** Sampling parameters (`logprobs` is the caller's to check: completions support it, chat does not). */
function samplingFrom(body: SamplingBody, maxTokens: number): SamplingParams {
  if (body.n != null && body.n !== 1) throw badRequest('n > 1 is not supported; send separate requests', 'n', 'unsupported_parameter');
  if (body.logit_bias && Object.keys(body.logit_bias).length > 0) throw badRequest('logit_bias is not supported', 'logit_bias', 'unsupported_parameter');
  const stop = typeof body.stop === 'string' ? [body.stop] : (body.stop ?? []);
  if (stop.some((s) => s === '')) throw badRequest('stop strings must not be empty', 'stop');
  return {
    maxTokens,
    temperature: body.temperature ?? 1,
    topP: body.top_p ?? 1,
    topK: body.top_k ?? 0,
    minP: body.min_p ?? 0,
    // no seed given: a fresh random one per request (node-llama-cpp's default comes from the clock,
    // so parallel requests in the same instant sampled identically)
    seed: body.seed != null ? body.seed : crypto.randomInt(0, 2 ** 31),
    stop,
    ...(body.frequency_penalty != null ? { frequencyPenalty: body.frequency_penalty } : {}),
    ...(body.presence_penalty != null ? { presencePenalty: body.presence_penalty } : {}),
    ...(body.repeat_penalty != null ? { repeatPenalty: body.repeat_penalty } : {}),
  };
}

/** The model name reported back: the base id plus the adapters actually used. */
function servedModelName(engine: InferenceEngine, refs: readonly AdapterRef[]): string {
  const uses = engine.resolveAdapters(refs);
  return [engine.modelId, ...uses.map((u) => `${u.adapter.name}:${u.scale}`)].join('+');
}

function checkFits(engine: InferenceEngine, promptTokens: number, param: string): void {
  if (promptTokens >= engine.contextSize) {
    throw badRequest(
      `the prompt has ${promptTokens} tokens but the context holds ${engine.contextSize} (start the server with a larger --ctx-size)`,
      param,
      'context_length_exceeded',
    );
  }
}

/** The token node-llama-cpp's LlamaCompletion puts before every prompt (its resolveBeginningTokenToPrepend). */
function completionBos(model: LlamaModel): Token | null {
  const type = String(model.vocabularyType);
  if (type === 'rwkv' || type === 'ugm') return null;
  if (type === 'wpm') return model.tokens.bos;
  return model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
}

/** One completions prompt: text, or token ids checked against the vocabulary. */
type PromptIn = { kind: 'text'; text: string } | { kind: 'ids'; ids: Token[] };

/**
 * `prompt` as lm-evaluation-harness and OpenAI send it: a string, strings, token ids, or token-id
 * lists. Anything else (mixed lists, nested deeper, empty lists, ids outside the vocabulary) is a
 * 400 naming the element.
 */
function parsePrompts(engine: InferenceEngine, prompt: unknown): PromptIn[] {
  const shapes = 'a string, a list of strings, a list of token ids, or a list of token-id lists';
  if (typeof prompt === 'string') return [{ kind: 'text', text: prompt }];
  if (!Array.isArray(prompt)) throw badRequest(`prompt must be ${shapes}`, 'prompt');
  if (prompt.length === 0) throw badRequest(`prompt is an empty list; send ${shapes}`, 'prompt');
  const first = prompt[0];
  if (typeof first === 'number') return [{ kind: 'ids', ids: engine.checkTokenIds(prompt, 'prompt') }];
  if (prompt.length > MAX_PROMPTS) throw badRequest(`prompt holds ${prompt.length} prompts; at most ${MAX_PROMPTS} per request`, 'prompt');
  if (typeof first === 'string') {
    return prompt.map((p, i) => {
      if (typeof p !== 'string') throw badRequest(`prompt[${i}] must be a string like prompt[0] (${shapes}), got ${JSON.stringify(p)}`, `prompt[${i}]`);
      return { kind: 'text', text: p };
    });
  }
  if (Array.isArray(first)) {
    return prompt.map((p, i) => {
      if (!Array.isArray(p)) throw badRequest(`prompt[${i}] must be a list of token ids like prompt[0] (${shapes}), got ${JSON.stringify(p)}`, `prompt[${i}]`);
      if (p.length === 0) throw badRequest(`prompt[${i}] is an empty token list`, `prompt[${i}]`);
      return { kind: 'ids', ids: engine.checkTokenIds(p, `prompt[${i}]`) };
    });
  }
  throw badRequest(`prompt[0] must be a string, a token id or a list of token ids (${shapes}), got ${JSON.stringify(first)}`, 'prompt[0]');
}

/** `logprobs` of a completions request: null (off) or k, the most likely tokens listed per position. */
function parseLogprobs(v: boolean | number | null | undefined): number | null {
  if (v === undefined || v === null || v === false) return null;
  const what = `logprobs must be an integer from 0 to ${MAX_LOGPROBS} (the number of most likely tokens listed per position)`;
  if (v === true) throw badRequest(`${what}; true is the chat completions form`, 'logprobs', 'invalid_logprobs');
  if (!Number.isInteger(v) || v < 0 || v > MAX_LOGPROBS) throw badRequest(`${what}, got ${v}`, 'logprobs', 'invalid_logprobs');
  return v;
}

interface Job {
  tokens: Token[];
  promptTokens: number;
  stopStrings?: readonly string[];
  stopTriggers?: readonly LlamaText[];
}

/**
 * Shared driver: run `jobs` on one leased sequence (non-streaming) or stream the single job.
 * `shape` builds the response objects for the endpoint.
 */
async function serve(
  deps: GenerationDeps,
  reply: FastifyReply,
  endpoint: 'completions' | 'chat',
  refs: AdapterRef[],
  jobs: Job[],
  params: SamplingParams,
  stream: boolean,
  includeUsage: boolean,
  shape: {
    full(results: GenerationResult[], model: string, id: string, created: number, usage: Usage): unknown;
    chunk(text: string, model: string, id: string, created: number): unknown;
    first?(model: string, id: string, created: number): unknown;
    final(finish: 'stop' | 'length', model: string, id: string, created: number): unknown;
    usage(usage: Usage, model: string, id: string, created: number): unknown;
    /** Transform streamed text (chat trims the leading whitespace of the reply). */
    filter?(): (t: string) => string;
  },
): Promise<unknown> {
  const { engine, metrics } = deps;
  const model = servedModelName(engine, refs);
  const id = `${endpoint === 'chat' ? 'chatcmpl' : 'cmpl'}-${crypto.randomBytes(12).toString('hex')}`;
  const created = Math.floor(Date.now() / 1000);
  const promptTotal = jobs.reduce((a, j) => a + j.promptTokens, 0);
  const scope = openRequestScope(reply, deps.requestTimeoutMs, deps.registry);
  const headers = { 'x-unlearnkit-device': engine.device.backend, 'x-unlearnkit-model': model };
  let sse: SseWriter | undefined;
  try {
    const results = await engine.run(refs, scope.signal, async (seq) => {
      const out: GenerationResult[] = [];
      if (stream) {
        sse = new SseWriter(reply, headers);
        const first = shape.first?.(model, id, created);
        if (first) sse.send(first);
        const filter = shape.filter?.() ?? ((t: string) => t);
        const r = await generate(seq, jobs[0]!.tokens, params, {
          signal: scope.signal,
          stopStrings: jobs[0]!.stopStrings,
          stopTriggers: jobs[0]!.stopTriggers,
          onText: (t) => {
            const f = filter(t);
            if (f !== '') sse!.send(shape.chunk(f, model, id, created));
          },
        });
        out.push(r);
      } else {
        for (const j of jobs) {
          out.push(await generate(seq, j.tokens, params, { signal: scope.signal, stopStrings: j.stopStrings, stopTriggers: j.stopTriggers }));
        }
      }
      return out;
    });
    const completionTokens = results.reduce((a, r) => a + r.completionTokens, 0);
    metrics.promptTokens.inc({ endpoint }, promptTotal);
    metrics.completionTokens.inc({ endpoint }, completionTokens);
    const usage: Usage = { prompt_tokens: promptTotal, completion_tokens: completionTokens, total_tokens: promptTotal + completionTokens };
    if (sse) {
      sse.send(shape.final(results[0]!.finishReason, model, id, created));
      if (includeUsage) sse.send(shape.usage(usage, model, id, created));
      sse.done();
      return reply;
    }
    void reply.headers(headers);
    return shape.full(results, model, id, created, usage);
  } catch (e) {
    const why = e instanceof RequestAborted ? e : scope.reason();
    if (why) metrics.aborted.inc({ reason: why.reason });
    const apiErr =
      e instanceof ApiError ? e : why ? abortToApiError(why, deps.requestTimeoutMs) : new ApiError(500, `generation failed: ${(e as Error).message}`);
    if (!sse) throw apiErr;
    if (why?.reason === 'client_closed') sse.abandon();
    else sse.fail(apiErr);
    return reply;
  } finally {
    scope.done();
  }
}

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function registerGenerationRoutes(app: FastifyInstance, deps: GenerationDeps): void {
  const { engine } = deps;

  app.post('/v1/completions', { schema: { body: completionSchema(deps.maxTokensLimit) } }, async (request, reply) => {
    const body = request.body as CompletionBody;
    if (body.suffix) throw badRequest('suffix (infill) is not supported', 'suffix', 'unsupported_parameter');
    if (body.best_of != null && body.best_of !== 1) throw badRequest('best_of > 1 is not supported', 'best_of', 'unsupported_parameter');
    const refs = engine.parseRequestAdapters(body.model, body.adapters);
    const maxTokens = body.max_tokens ?? 16;
    const params = samplingFrom(body, maxTokens);
    const k = parseLogprobs(body.logprobs);
    const parsed = parsePrompts(engine, body.prompt);
    const echo = body.echo === true;
    const stream = body.stream === true;
    if (maxTokens === 0 && !echo) throw badRequest('max_tokens 0 generates nothing: use it with echo: true to score the prompt', 'max_tokens');
    if (stream && (k !== null || maxTokens === 0)) {
      throw badRequest('stream is not supported with logprobs or max_tokens 0; send stream: false', 'stream', 'unsupported_parameter');
    }
    if (stream && parsed.length > 1) throw badRequest('streaming supports one prompt per request', 'prompt');
    const param = (i: number) => (parsed.length > 1 ? `prompt[${i}]` : 'prompt');
    if (k !== null || maxTokens === 0) return serveScored(deps, reply, refs, parsed, { k, echo, maxTokens, params, param });
    const bos = completionBos(engine.model);
    const pieces = TokenPieces.of(engine.model);
    const prompts = parsed.map((p) => (p.kind === 'text' ? p.text : pieces.detokenize(p.ids)));
    const jobs: Job[] = parsed.map((p, i) => {
      // generate() puts `bos` first itself; a token-id prompt that already starts with it is not doubled
      const tokens = p.kind === 'text' ? engine.model.tokenize(p.text) : bos !== null && p.ids[0] === bos ? p.ids.slice(1) : p.ids;
      const promptTokens = tokens.length + (bos !== null ? 1 : 0);
      checkFits(engine, promptTokens, param(i));
      return { tokens, promptTokens };
    });
    return serve(deps, reply, 'completions', refs, jobs, params, stream, body.stream_options?.include_usage === true, {
      full: (results, model, id, created, usage) => ({
        id,
        object: 'text_completion',
        created,
        model,
        choices: results.map((r, i) => ({
          text: echo ? prompts[i]! + r.text : r.text,
          index: i,
          logprobs: null,
          finish_reason: r.finishReason,
        })),
        usage,
      }),
      first: echo ? (model, id, created) => textChunk(prompts[0]!, model, id, created) : undefined,
      chunk: textChunk,
      final: (finish, model, id, created) => ({
        id,
        object: 'text_completion',
        created,
        model,
        choices: [{ text: '', index: 0, logprobs: null, finish_reason: finish }],
      }),
      usage: (usage, model, id, created) => ({ id, object: 'text_completion', created, model, choices: [], usage }),
    });
  });

  app.post('/v1/chat/completions', { schema: { body: chatSchema(deps.maxTokensLimit) } }, async (request, reply) => {
    const body = request.body as ChatBody;
    if ((body.tools && body.tools.length > 0) || (body.functions && body.functions.length > 0)) {
      throw badRequest('tools / function calling is not supported', body.tools ? 'tools' : 'functions', 'unsupported_parameter');
    }
    if (body.response_format && body.response_format.type !== undefined && body.response_format.type !== 'text') {
      throw badRequest(`response_format ${body.response_format.type} is not supported (only "text")`, 'response_format', 'unsupported_parameter');
    }
    if (body.logprobs || body.top_logprobs) {
      throw badRequest(
        'logprobs are not supported on chat completions; /v1/completions takes logprobs (with echo, for the prompt) and /v1/score scores texts',
        body.logprobs ? 'logprobs' : 'top_logprobs',
        'unsupported_parameter',
      );
    }
    const refs = engine.parseRequestAdapters(body.model, body.adapters);
    const params = samplingFrom(body, body.max_completion_tokens ?? body.max_tokens ?? deps.maxTokensLimit);
    const messages: ChatMessage[] = body.messages.map((m, i) => {
      if (m.role === 'tool' || m.role === 'function') throw badRequest(`messages[${i}]: role "${m.role}" is not supported (no tool calling)`, `messages[${i}].role`);
      let content = '';
      if (typeof m.content === 'string') content = m.content;
      else if (Array.isArray(m.content)) {
        content = m.content
          .map((part, k) => {
            if (part.type !== 'text' || typeof part.text !== 'string') {
              throw badRequest(`messages[${i}].content[${k}]: only text parts are supported (got type "${part.type}")`, `messages[${i}].content`);
            }
            return part.text;
          })
          .join('');
      } else if (m.role !== 'assistant') {
        throw badRequest(`messages[${i}].content is required for role "${m.role}"`, `messages[${i}].content`);
      }
      return { role: m.role as ChatMessage['role'], content };
    });
    const rendered = renderChat(engine.model, engine.chatWrapper, messages);
    checkFits(engine, rendered.promptTokens, 'messages');
    const job: Job = {
      tokens: rendered.tokens,
      promptTokens: rendered.promptTokens,
      stopStrings: rendered.stopStrings,
      stopTriggers: rendered.stopTriggers,
    };
    const base = (id: string, created: number, model: string) => ({ id, object: 'chat.completion.chunk', created, model });
    return serve(deps, reply, 'chat', refs, [job], params, body.stream === true, body.stream_options?.include_usage === true, {
      full: (results, model, id, created, usage) => ({
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: results[0]!.text.trimStart() },
            logprobs: null,
            finish_reason: results[0]!.finishReason,
          },
        ],
        usage,
      }),
      first: (model, id, created) => ({
        ...base(id, created, model),
        choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
      }),
      chunk: (text, model, id, created) => ({
        ...base(id, created, model),
        choices: [{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }],
      }),
      final: (finish, model, id, created) => ({
        ...base(id, created, model),
        choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finish }],
      }),
      usage: (usage, model, id, created) => ({ ...base(id, created, model), choices: [], usage }),
      filter: () => {
        let leading = true;
        return (t: string) => {
          if (!leading) return t;
          const s = t.trimStart();
          if (s !== '') leading = false;
          return s;
        };
      },
    });
  });
}

/**
 * Completions with `logprobs` or `max_tokens: 0`: every prompt evaluated on one leased sequence by
 * ./logprobs.ts (prompt log-probabilities as /v1/score computes them; greedy generation), not
 * streamed. Generation here is greedy only, so it needs temperature 0 and no penalties.
 */
async function serveScored(
  deps: GenerationDeps,
  reply: FastifyReply,
  refs: AdapterRef[],
  prompts: PromptIn[],
  o: { k: number | null; echo: boolean; maxTokens: number; params: SamplingParams; param: (i: number) => string },
): Promise<unknown> {
  const { engine, metrics } = deps;
  if (o.maxTokens > 0 && o.k !== null) {
    if (o.params.temperature !== 0) {
      throw badRequest(
        `logprobs of generated tokens are computed with greedy decoding here: send temperature 0 (got ${o.params.temperature}), or echo with max_tokens 0 to score the prompt only`,
        'temperature',
        'unsupported_parameter',
      );
    }
    if (o.params.frequencyPenalty !== undefined || o.params.presencePenalty !== undefined || o.params.repeatPenalty !== undefined) {
      throw badRequest('penalties are not supported together with logprobs (greedy decoding)', 'logprobs', 'unsupported_parameter');
    }
  }
  const model = servedModelName(engine, refs);
  const pieces = TokenPieces.of(engine.model);
  const bos = completionBos(engine.model);
  const plans = prompts.map((p, i) => {
    // what generation evaluates, and what the echo shows and scores (the same unless a token-id
    // prompt lacks the BOS generation puts first)
    const echoTokens = p.kind === 'text' ? [...(bos !== null ? [bos] : []), ...engine.model.tokenize(p.text)] : p.ids;
    if (echoTokens.length === 0) throw badRequest(`${o.param(i)} is empty and the model has no BOS token to start from`, o.param(i));
    const genTokens = bos !== null && echoTokens[0] !== bos ? [bos, ...echoTokens] : echoTokens;
    if (o.maxTokens > 0) checkFits(engine, genTokens.length, o.param(i));
    else if (echoTokens.length > engine.contextSize) {
      throw badRequest(`${o.param(i)} has ${echoTokens.length} tokens but the context holds ${engine.contextSize}`, o.param(i), 'context_length_exceeded');
    }
    const echoText = p.kind === 'text' ? p.text : pieces.detokenize(p.ids);
    return { echoTokens, genTokens, echoText };
  });
  const id = `cmpl-${crypto.randomBytes(12).toString('hex')}`;
  const created = Math.floor(Date.now() / 1000);
  const scope = openRequestScope(reply, deps.requestTimeoutMs, deps.registry);
  try {
    const k = o.k ?? 0;
    const scorePrompt = o.echo && o.k !== null;
    const nothing = { prompt: [], generated: [], text: '', finishReason: 'length' as const, echoed: [] };
    const evaluate = scorePrompt || o.maxTokens > 0; // else: echo with max_tokens 0, no log-probs
    const results = !evaluate ? plans.map(() => nothing) : await engine.run(refs, scope.signal, async (seq) => {
      const out = [];
      for (const pl of plans) {
        const common = { k, stop: o.params.stop, nVocab: engine.vocabSize, signal: scope.signal };
        let echoed: TokenLogprob[] = [];
        if (scorePrompt && pl.genTokens !== pl.echoTokens) {
          echoed = (await evaluateCompletion(seq, pl.echoTokens, { ...common, scorePrompt: true, maxTokens: 0 })).prompt;
        }
        const needGen = o.maxTokens > 0;
        const needScore = scorePrompt && pl.genTokens === pl.echoTokens;
        const r = needGen || needScore ? await evaluateCompletion(seq, pl.genTokens, { ...common, scorePrompt: needScore, maxTokens: o.maxTokens }) : nothing;
        out.push({ ...r, echoed: needScore ? r.prompt : echoed });
      }
      return out;
    });
    const promptTotal = plans.reduce((a, p) => a + (o.maxTokens > 0 ? p.genTokens.length : p.echoTokens.length), 0);
    const completionTokens = results.reduce((a, r) => a + r.generated.length, 0);
    metrics.promptTokens.inc({ endpoint: 'completions' }, promptTotal);
    metrics.completionTokens.inc({ endpoint: 'completions' }, completionTokens);
    metrics.scoredTokens.inc({}, results.reduce((a, r) => a + r.echoed.length, 0));
    void reply.headers({ 'x-unlearnkit-device': engine.device.backend, 'x-unlearnkit-model': model });
    return {
      id,
      object: 'text_completion',
      created,
      model,
      choices: results.map((r, i) => {
        const pl = plans[i]!;
        const echoText = o.echo ? pl.echoText : '';
        return {
          text: echoText + r.text,
          index: i,
          logprobs:
            o.k === null
              ? null
              : legacyLogprobs(pieces, o.echo ? { first: pl.echoTokens[0]!, rest: r.echoed } : null, r.generated, [...echoText].length),
          finish_reason: r.finishReason,
        };
      }),
      usage: { prompt_tokens: promptTotal, completion_tokens: completionTokens, total_tokens: promptTotal + completionTokens },
    };
  } catch (e) {
    throw requestFailure(e, scope, metrics, deps.requestTimeoutMs, 'completion');
  } finally {
    scope.done();
  }
}

function textChunk(text: string, model: string, id: string, created: number) {
  return { id, object: 'text_completion', created, model, choices: [{ text, index: 0, logprobs: null, finish_reason: null }] };
}
