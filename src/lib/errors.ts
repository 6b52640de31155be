import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AppEnv } from './types';

/**
 * Every `code` an error body, a WebSocket error frame or a chat-object refusal can carry: one
 * enum, published in /openapi.json (`Error.code`). Add a code here and its row in
 * docs/errors.md (test/error-codes.test.ts holds the two to the same list).
 */
export const ERROR_CODES = [
  // Generic, one per status (onError's fallback for HTTPExceptions without a code of their own).
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'conflict',
  'length_required',
  'payload_too_large',
  'unsupported_media_type',
  'range_not_satisfiable',
  'upgrade_required',
  'rate_limited',
  'internal_error',
  // Request shape.
  'missing_json',
  'validation_error',
  'unknown_field',
  'missing_param',
  'invalid_cursor',
  'invalid_content_type',
  'malformed_multipart',
  'missing_file',
  // Accounts, tokens and sessions.
  'missing_token',
  'token_expired',
  'invalid_token',
  'session_revoked',
  'invalid_refresh_token',
  'refresh_token_reused',
  'user_exists',
  'user_not_found',
  'incorrect_password',
  'weak_password',
  'too_many_login_attempts',
  'reauth_required',
  // Workspaces, agents and chats.
  'workspace_not_found',
  'not_workspace_owner',
  'agent_not_found',
  'chat_not_found',
  'not_chat_owner',
  'missing_connection_string',
  'invalid_connection_string',
  'expired_connection_string',
  'invalid_frame',
  'invalid_message_string',
  'expired_message_string',
  'content_too_large',
  'invalid_content',
  // Agent runs and the model behind them.
  'agent_not_in_workspace',
  'agent_offline',
  'run_not_found',
  'run_not_active',
  'run_in_progress',
  'run_timeout',
  'run_interrupted',
  'model_unavailable',
  'model_error',
  'model_not_allowed',
  'budget_exceeded',
  // Tools, approvals, memories and MCP servers.
  'tool_call_not_found',
  'run_not_waiting',
  'approval_not_found',
  'approval_decided',
  'memory_not_found',
  'mcp_server_not_found',
  'mcp_slug_taken',
  'mcp_command_unsupported',
  'mcp_unavailable',
  // Agent packages.
  'package_not_found',
  'version_not_found',
  'version_exists',
  'package_forbidden',
  'invalid_manifest',
  'invalid_archive',
  'unsafe_path',
  'too_many_entries',
  'uncompressed_too_large',
  'manifest_too_large',
  'archive_missing',
  'checksum_mismatch',
  // Tasks, processes, files.
  'task_not_found',
  'task_workspace_mismatch',
  'invalid_status_transition',
  'status_conflict',
  'process_not_found',
  'process_limit_reached',
  'invalid_webhook_url',
  'file_not_found',
  'invalid_signature',
  'link_expired',
  // Configuration.
  'config_invalid',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The one error the app throws on purpose. `msg` is what the client reads (the upstream
 * contract's exact strings where it gives one; docs/conventions.md), `code` is one of
 * ERROR_CODES; `extra` adds fields such as `issues` or `retry_after`, `headers` such as
 * Retry-After.
 */
export class ApiError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: ErrorCode,
    readonly msg: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(status, { message: msg });
  }
}

export const badRequest = (msg: string, code: ErrorCode = 'bad_request', extra?: Record<string, unknown>) =>
  new ApiError(400, code, msg, extra);
export const notFound = (msg: string, code: ErrorCode = 'not_found') => new ApiError(404, code, msg);
export const conflict = (msg: string, code: ErrorCode = 'conflict') => new ApiError(409, code, msg);
export const missingJson = () => new ApiError(400, 'missing_json', 'Missing JSON in request');
export const payloadTooLarge = () => new ApiError(413, 'payload_too_large', 'Payload too large');

/** The bearer-token errors, with the upstream contract's strings. */
export const authErrors = {
  missing: () => new ApiError(401, 'missing_token', 'Missing Authorization Header'),
  expired: () => new ApiError(401, 'token_expired', 'Token has expired'),
  invalid: () => new ApiError(401, 'invalid_token', 'Invalid token'),
  revoked: () => new ApiError(401, 'session_revoked', 'Session has been revoked'),
};

const codeByStatus: Partial<Record<number, ErrorCode>> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  411: 'length_required',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  416: 'range_not_satisfiable',
  402: 'budget_exceeded',
  426: 'upgrade_required',
  429: 'rate_limited',
};

/** The generic code for a status: what an HTTPException without a code of its own answers. */
export const codeForStatus = (status: number): ErrorCode =>
  codeByStatus[status] ?? (status >= 500 ? 'internal_error' : 'bad_request');

export function errorBody(c: Context<AppEnv>, code: ErrorCode, msg: string, extra: Record<string, unknown> = {}) {
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
    return c.json(errorBody(c, codeForStatus(status), msg), status);
  }
  console.error(JSON.stringify({ request_id: c.get('requestId'), error: String(err), stack: err?.stack }));
  return c.json(errorBody(c, 'internal_error', 'Internal server error'), 500);
}
