import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AppEnv } from './types';

/**
 * The one error the app throws on purpose. `msg` is what the client reads (seed 000's exact
 * strings where it gives one), `code` is stable and snake_case; `extra` adds fields such as
 * `issues` or `retry_after`, and `headers` such as Retry-After.
 */
export class ApiError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: string,
    readonly msg: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(status, { message: msg });
  }
}

export const badRequest = (msg: string, code = 'bad_request', extra?: Record<string, unknown>) =>
  new ApiError(400, code, msg, extra);
export const notFound = (msg: string, code = 'not_found') => new ApiError(404, code, msg);
export const conflict = (msg: string, code = 'conflict') => new ApiError(409, code, msg);
export const missingJson = () => new ApiError(400, 'missing_json', 'Missing JSON in request');
export const payloadTooLarge = () => new ApiError(413, 'payload_too_large', 'Payload too large');

/** The bearer-token errors, with seed 000's strings. */
export const authErrors = {
  missing: () => new ApiError(401, 'missing_token', 'Missing Authorization Header'),
  expired: () => new ApiError(401, 'token_expired', 'Token has expired'),
  invalid: () => new ApiError(401, 'invalid_token', 'Invalid token'),
  revoked: () => new ApiError(401, 'session_revoked', 'Session has been revoked'),
};

const codeForStatus: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

export function errorBody(c: Context<AppEnv>, code: string, msg: string, extra: Record<string, unknown> = {}) {
  return { msg, code, request_id: c.get('requestId') ?? null, ...extra };
}

/** The one `onError`: ApiError, then any other HTTPException, then log and a bare 500. */
export function onError(err: Error, c: Context<AppEnv>) {
  if (err instanceof ApiError) {
    for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    return c.json(errorBody(c, err.code, err.msg, err.extra), err.status);
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    const msg = status === 413 ? 'Payload too large' : err.message || 'Request failed';
    return c.json(errorBody(c, codeForStatus[status] ?? 'error', msg), status);
  }
  console.error(JSON.stringify({ request_id: c.get('requestId'), error: String(err), stack: err?.stack }));
  return c.json(errorBody(c, 'internal_error', 'Internal server error'), 500);
}
