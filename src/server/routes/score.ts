/**
 * POST /v1/score: per-token log-probabilities and perplexity of given texts under the served model
 * (with the named adapters), computed by llama.cpp exactly as `score.ts` documents.
 *
 * Request:  { "input": "text" | ["text", ...], "model"?: "<id>+<adapter>:<scale>", "adapters"?: [...],
 *             "return_tokens"?: true, "return_token_strings"?: false }
 * Response: { "object": "list", "model": ..., "data": [ { "object": "score", "index", "tokens",
 *             "logprobs": [null, ...], "sum_logprob", "n_tokens", "n_scored", "perplexity" } ],
 *             "usage": { "prompt_tokens", "total_tokens" } }
 *
 */
import type { FastifyInstance } from 'fastify';
import type { InferenceEngine } from '../engine.ts';
import { badRequest } from '../errors.ts';
import type { ServerMetrics } from '../metrics.ts';
import { openRequestScope, requestFailure, type InflightRegistry } from '../requestContext.ts';
import { scoreSchema, type ScoreBody } from '../schemas.ts';
import { scoreTokens, summarize, tokenizeForScoring } from '../score.ts';

export function registerScoreRoute(
  app: FastifyInstance,
  deps: { engine: InferenceEngine; metrics: ServerMetrics; registry: InflightRegistry; requestTimeoutMs: number },
): void {
  const { engine, metrics } = deps;
  app.post('/v1/score', { schema: { body: scoreSchema } }, async (request, reply) => {
    const body = request.body as ScoreBody;
    const refs = engine.parseRequestAdapters(body.model, body.adapters);
    const uses = engine.resolveAdapters(refs);
    const model = [engine.modelId, ...uses.map((u) => `${u.adapter.name}:${u.scale}`)].join('+');
    const texts = typeof body.input === 'string' ? [body.input] : body.input;
    const tokenized = texts.map((t, i) => {
      const toks = tokenizeForScoring(engine.model, t);
      if (toks.length > engine.contextSize) {
        throw badRequest(
          `input${texts.length > 1 ? `[${i}]` : ''} has ${toks.length} tokens but the context holds ${engine.contextSize}`,
          texts.length > 1 ? `input[${i}]` : 'input',
          'context_length_exceeded',
        );
      }
      return toks;
    });
    const scope = openRequestScope(reply, deps.requestTimeoutMs, deps.registry);
    try {
      const results = await engine.run(refs, scope.signal, async (seq) => {
        const out = [];
        for (const toks of tokenized) out.push(summarize(toks, await scoreTokens(seq, toks, { signal: scope.signal })));
        return out;
      });
      const total = tokenized.reduce((a, t) => a + t.length, 0);
      metrics.scoredTokens.inc({}, results.reduce((a, r) => a + r.nScored, 0));
      void reply.header('x-unlearnkit-device', engine.device.backend).header('x-unlearnkit-model', model);
      return {
        object: 'list',
        model,
        data: results.map((r, i) => ({
          object: 'score',
          index: i,
          ...(body.return_tokens === false ? {} : { tokens: r.tokens }),
          ...(body.return_token_strings ? { token_strings: r.tokens.map((t) => engine.model.detokenize([t], true)) } : {}),
          logprobs: r.logprobs,
          sum_logprob: r.sumLogprob,
          n_tokens: r.tokens.length,
          n_scored: r.nScored,
          perplexity: r.perplexity,
        })),
        usage: { prompt_tokens: total, total_tokens: total },
      };
    } catch (e) {
      throw requestFailure(e, scope, metrics, deps.requestTimeoutMs, 'scoring');
    } finally {
      scope.done();
    }
  });
}
