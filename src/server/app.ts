/**
 * The fastify application: authentication, body limit, strict schema validation, OpenAI-shaped
 * errors for everything that goes wrong, request metrics, and the routes.
 */
import crypto from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { InferenceEngine } from './engine.ts';
import { ApiError, RequestAborted, abortToApiError } from './errors.ts';
import { ServerMetrics } from './metrics.ts';
import type { InflightRegistry } from './requestContext.ts';
import { registerAdminRoutes } from './routes/admin.ts';
import { registerGenerationRoutes } from './routes/generation.ts';
import { registerScoreRoute } from './routes/score.ts';
import { registerTokenizeRoutes } from './routes/tokenize.ts';

export interface AppOptions {
  apiKey?: string;
  bodyLimit: number;
  requestTimeoutMs: number;
  maxTokensLimit: number;
  logLevel: 'silent' | 'error' | 'warn' | 'info' | 'debug';
}

export interface AppState extends InflightRegistry {
  shuttingDown: boolean;
}

/** Constant-time comparison of a presented bearer token with the configured key. */
function keyMatches(header: string | undefined, key: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = crypto.createHash('sha256').update(m[1]!.trim()).digest();
  const b = crypto.createHash('sha256').update(key).digest();
  return crypto.timingSafeEqual(a, b);
}

/** "body/messages/0/role" style instance paths become "messages[0].role". */
function paramFromPath(instancePath: string, missing?: string): string | null {
  const parts = instancePath.split('/').filter(Boolean);
  if (missing) parts.push(missing);
  if (parts.length === 0) return null;
  return parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function toApiError(err: FastifyError | Error, opts: AppOptions): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof RequestAborted) return abortToApiError(err, opts.requestTimeoutMs);
  const fe = err as FastifyError;
  if (fe.validation && fe.validation.length > 0) {
    const v = fe.validation[0]!;
    const params = (v.params ?? {}) as Record<string, unknown>;
    if (v.keyword === 'additionalProperties') {
      const extra = String(params.additionalProperty);
      const where = paramFromPath(v.instancePath);
      return new ApiError(400, `Unrecognized request argument supplied: ${where ? `${where}.` : ''}${extra}`, {
        param: where ? `${where}.${extra}` : extra,
        code: 'unknown_parameter',
      });
    }
    const missing = v.keyword === 'required' ? String(params.missingProperty) : undefined;
    const param = paramFromPath(v.instancePath, missing);
    const message =
      v.keyword === 'required' ? `missing required parameter: ${param}` : `invalid value for ${param ?? 'body'}: ${fe.message.replace(/^body\/?\S*\s/, '')}`;
    return new ApiError(400, message, { param, code: v.keyword === 'required' ? 'missing_required_parameter' : 'invalid_type' });
  }
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new ApiError(413, `request body is larger than the server's limit of ${opts.bodyLimit} bytes`, { code: 'body_too_large' });
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError) {
    return new ApiError(400, `request body is not valid JSON: ${fe.message}`, { code: 'invalid_json' });
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new ApiError(415, `unsupported content type: send application/json (${fe.message})`, { code: 'unsupported_media_type' });
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ApiError(fe.statusCode, fe.message, { code: fe.code ?? null });
  }
  return new ApiError(500, `internal server error: ${err.message}`);
}

export function buildApp(engine: InferenceEngine, opts: AppOptions, state: AppState): { app: FastifyInstance; metrics: ServerMetrics } {
  const app = Fastify({
    logger: opts.logLevel === 'silent' ? false : { level: opts.logLevel },
    bodyLimit: opts.bodyLimit,
    // Whole request must arrive within this time (slow-client protection); responses may stream longer.
    requestTimeout: 30_000,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, allowUnionTypes: true } },
    return503OnClosing: true,
    forceCloseConnections: true,
  });
  const metrics = new ServerMetrics();
  const started = new WeakMap<object, number>();

  app.addHook('onRequest', async (request, reply) => {
    started.set(request, performance.now());
    if (state.shuttingDown) {
      void reply.header('connection', 'close');
      throw new ApiError(503, 'the server is shutting down', { code: 'shutting_down' });
    }
    if (opts.apiKey !== undefined && !(request.method === 'GET' && request.url === '/health')) {
      if (!keyMatches(request.headers.authorization, opts.apiKey)) {
        throw new ApiError(401, 'missing or wrong API key: send "Authorization: Bearer <key>"', {
          type: 'invalid_request_error',
          code: 'invalid_api_key',
        });
      }
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    const t0 = started.get(request);
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.observeRequest(route, request.method, reply.statusCode, t0 === undefined ? 0 : (performance.now() - t0) / 1000);
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const e = toApiError(err, opts);
    if (e.status >= 500) request.log.error({ err }, e.message);
    void reply.code(e.status).headers(e.headers).send(e.toBody());
  });

  app.setNotFoundHandler((request, reply) => {
    const e = new ApiError(404, `no route ${request.method} ${request.url.split('?')[0]} (see the server README for the endpoints)`, {
      code: 'unknown_route',
    });
    void reply.code(404).send(e.toBody());
  });

  const deps = { engine, metrics, registry: state, requestTimeoutMs: opts.requestTimeoutMs, maxTokensLimit: opts.maxTokensLimit };
  registerAdminRoutes(app, { engine, metrics, isShuttingDown: () => state.shuttingDown });
  registerGenerationRoutes(app, deps);
  registerScoreRoute(app, deps);
  registerTokenizeRoutes(app, { engine });
  return { app, metrics };
}
