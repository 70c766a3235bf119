/**
 * POST /v1/completions and POST /v1/chat/completions, streaming (SSE) and not, in OpenAI's shapes.
 * The adapter set comes from `model` ("<id>+<adapter>:<scale>") or from `adapters`.
 */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { LlamaText, Token } from 'node-llama-cpp';
import { renderChat, type ChatMessage } from '../chatTemplate.ts';
import type { InferenceEngine } from '../engine.ts';
import { abortToApiError, ApiError, badRequest, RequestAborted } from '../errors.ts';
import { generate, type GenerationResult, type SamplingParams } from '../generate.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { AdapterRef } from '../options.ts';
import { openRequestScope, type InflightRegistry } from '../requestContext.ts';
import { chatSchema, completionSchema, type ChatBody, type CompletionBody, type SamplingBody } from '../schemas.ts';
import { SseWriter } from '../sse.ts';

export interface GenerationDeps {
  engine: InferenceEngine;
  metrics: ServerMetrics;
  registry: InflightRegistry;
  requestTimeoutMs: number;
  maxTokensLimit: number;
}

function samplingFrom(body: SamplingBody, maxTokens: number): SamplingParams {
  if (body.n != null && body.n !== 1) throw badRequest('n > 1 is not supported; send separate requests', 'n', 'unsupported_parameter');
  if (body.logprobs) {
    throw badRequest('logprobs are not supported here; POST /v1/score returns per-token log-probabilities', 'logprobs', 'unsupported_parameter');
  }
  if (body.logit_bias && Object.keys(body.logit_bias).length > 0) throw badRequest('logit_bias is not supported', 'logit_bias', 'unsupported_parameter');
  const stop = typeof body.stop === 'string' ? [body.stop] : (body.stop ?? []);
  if (stop.some((s) => s === '')) throw badRequest('stop strings must not be empty', 'stop');
  return {
    maxTokens,
    temperature: body.temperature ?? 1,
    topP: body.top_p ?? 1,
    topK: body.top_k ?? 0,
    minP: body.min_p ?? 0,
    ...(body.seed != null ? { seed: body.seed } : {}),
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
    const params = samplingFrom(body, body.max_tokens ?? 16);
    const prompts = typeof body.prompt === 'string' ? [body.prompt] : body.prompt;
    const stream = body.stream === true;
    if (stream && prompts.length > 1) throw badRequest('streaming supports one prompt per request', 'prompt');
    const bosExtra = engine.model.tokens.shouldPrependBosToken && engine.model.tokens.bos !== null ? 1 : 0;
    const jobs: Job[] = prompts.map((p, i) => {
      const tokens = engine.model.tokenize(p);
      checkFits(engine, tokens.length + bosExtra, prompts.length > 1 ? `prompt[${i}]` : 'prompt');
      return { tokens, promptTokens: tokens.length + bosExtra };
    });
    const echo = body.echo === true;
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
    if (body.top_logprobs) throw badRequest('top_logprobs is not supported', 'top_logprobs', 'unsupported_parameter');
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

function textChunk(text: string, model: string, id: string, created: number) {
  return { id, object: 'text_completion', created, model, choices: [{ text, index: 0, logprobs: null, finish_reason: null }] };
}
