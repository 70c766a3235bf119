/**
 * Errors the server answers with, in the OpenAI shape
 * `{ "error": { "message", "type", "param", "code" } }`, so that OpenAI clients surface the message.
 * Every malformed request gets a 4xx with a message that names what is wrong; anything else is a 5xx.
 */

export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error'
  | 'timeout_error'
  | 'unavailable_error';

export interface ApiErrorBody {
  error: { message: string; type: ApiErrorType; param: string | null; code: string | null };
}

/** An error with an HTTP status that the server reports to the client as is. */
export class ApiError extends Error {
  readonly status: number;
  readonly type: ApiErrorType;
  readonly param: string | null;
  readonly code: string | null;
  /** Extra response headers (e.g. Retry-After on 429). */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    message: string,
    opts: { type?: ApiErrorType; param?: string | null; code?: string | null; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.type = opts.type ?? defaultType(status);
    this.param = opts.param ?? null;
    this.code = opts.code ?? null;
    this.headers = opts.headers ?? {};
  }

  toBody(): ApiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

function defaultType(status: number): ApiErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'unavailable_error';
  if (status === 504) return 'timeout_error';
  if (status >= 400 && status < 500) return 'invalid_request_error';
  return 'server_error';
}

export function badRequest(message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError(400, message, { param, code });
}

/** Raised when a generation or scoring call is stopped because its request was aborted. */
export class RequestAborted extends Error {
  constructor(readonly reason: 'client_closed' | 'timeout' | 'shutdown') {
    super(`request aborted (${reason})`);
    this.name = 'RequestAborted';
  }
}

/** Turn an abort reason into the error the client should see (when it is still listening). */
export function abortToApiError(e: RequestAborted, timeoutMs: number): ApiError {
  if (e.reason === 'timeout') {
    return new ApiError(504, `request took longer than the server's request timeout (${timeoutMs} ms)`, {
      code: 'request_timeout',
    });
  }
  if (e.reason === 'shutdown') {
    return new ApiError(503, 'the server is shutting down', { code: 'shutting_down' });
  }
  return new ApiError(499, 'client closed the request', { type: 'invalid_request_error', code: 'client_closed' });
}
