/**
 * Per-request cancellation: one AbortSignal that fires when the client disconnects, when the
 * request timeout passes, or when the server shuts down. It is handed to the admission queue and
 * into node-llama-cpp, so a dropped connection stops generation at the next token.
 */
import type { FastifyReply } from 'fastify';
import { abortToApiError, ApiError, RequestAborted } from './errors.ts';
import type { ServerMetrics } from './metrics.ts';

export interface InflightRegistry {
  /** Controllers of requests in progress (aborted with reason 'shutdown' when the grace period ends). */
  inflight: Set<AbortController>;
}

export interface RequestScope {
  signal: AbortSignal;
  /** Why the request was aborted, when it was. */
  reason(): RequestAborted | undefined;
  done(): void;
}

export function openRequestScope(reply: FastifyReply, timeoutMs: number, reg: InflightRegistry): RequestScope {
  const ctl = new AbortController();
  const abort = (why: RequestAborted['reason']) => {
    if (!ctl.signal.aborted) ctl.abort(new RequestAborted(why));
  };
  const timer = setTimeout(() => abort('timeout'), timeoutMs);
  timer.unref();
  const onClose = () => {
    if (!reply.raw.writableFinished) abort('client_closed');
  };
  reply.raw.on('close', onClose);
  reg.inflight.add(ctl);
  return {
    signal: ctl.signal,
    reason: () => (ctl.signal.aborted ? (ctl.signal.reason as RequestAborted) : undefined),
    done: () => {
      clearTimeout(timer);
      reply.raw.off('close', onClose);
      reg.inflight.delete(ctl);
    },
  };
}

/**
 * The error a request handler throws when its work failed with `e`: an abort (`e` itself, or the
 * scope's reason when the work failed because of one) is counted in `aborted` by reason and becomes
 * the client's error (`abortToApiError`); an ApiError passes as is; anything else is a 500
 * "<what> failed: <message>".
 */
export function requestFailure(e: unknown, scope: RequestScope, metrics: Pick<ServerMetrics, 'aborted'>, timeoutMs: number, what: string): ApiError {
  const why = e instanceof RequestAborted ? e : scope.reason();
  if (why) {
    metrics.aborted.inc({ reason: why.reason });
    return abortToApiError(why, timeoutMs);
  }
  return e instanceof ApiError ? e : new ApiError(500, `${what} failed: ${(e as Error).message}`);
}
