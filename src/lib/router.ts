import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { RouteConfig } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { ApiError, ERROR_CODES, authErrors } from './errors';
import type { AppEnv, Deps } from './types';
import { jsonBody } from './middleware/json-body';
import { fieldCheck } from './unknown-fields';

/** A service's dependencies, from a request. */
export const depsOf = (c: Context<AppEnv>): Deps => ({ db: c.get('db'), env: c.env, waitUntil: (p) => c.executionCtx.waitUntil(p) });

/** Every sub-router shares the one validation hook: the first issue's message becomes `msg`. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const issues = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      throw new ApiError(400, 'validation_error', issues[0]?.message ?? 'Invalid request', { issues });
    },
  });
}

/**
 * Per route (auth kind `bearer`): the verdict of the global token reader (auth/middleware.ts),
 * which verified the token and found its session live in KV.
 */
export const requireAuth = createMiddleware<AppEnv>(async (c, next) => {
  const token = c.get('token');
  if (!token) throw authErrors.missing();
  if ('error' in token) throw token.error;
  c.set('user', token.user);
  await next();
});

/** The auth kinds (docs/conventions.md); every route declares one and the security suite reads it. */
export type AuthKind = 'public' | 'bearer' | 'connection-string' | 'signed-link';

export const ErrorSchema = z
  .object({
    msg: z.string(),
    code: z.enum(ERROR_CODES),
    request_id: z.string().nullable(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    fields: z.array(z.string()).optional().openapi({ description: 'unknown_field: every unknown body field, by path' }),
  })
  .openapi('Error');

/** An error response for the OpenAPI document, listing the `msg` strings it can carry. */
export const errorResponse = (...messages: string[]) => ({
  description: messages.join(' | ') || 'Error',
  content: { 'application/json': { schema: ErrorSchema } },
});

const authResponses = {
  401: errorResponse('Missing Authorization Header', 'Invalid token', 'Token has expired', 'Session has been revoked'),
};
const commonResponses = {
  429: errorResponse('Too many requests'),
  500: errorResponse('Internal server error'),
};

/**
 * The upstream contract's routes (docs/conventions.md): their clients send extra fields, so their
 * bodies keep ignoring unknown ones; every other route refuses them (src/lib/unknown-fields.ts).
 */
export const UPSTREAM_ROUTES: ReadonlySet<string> = new Set([
  'GET /ping',
  'POST /register',
  'POST /auth/login',
  'GET /user',
  'PUT /user',
  'POST /workspace',
  'GET /workspace',
  'GET /workspace/{workspace_id}',
  'DELETE /workspace/{workspace_id}',
  'GET /workspace/{workspace_id}/chats',
  'PUT /workspace/{workspace_id}/rename',
  'POST /workspace/{workspace_id}/agent',
  'DELETE /workspace/{workspace_id}/agent',
  'POST /chat',
  'GET /chat',
  'DELETE /chat',
  'GET /chat/authorize',
  'GET /chat/authorize/message',
  'GET /agent/download',
]);

/**
 * createRoute plus our conventions: the auth kind (middleware and `security`), the JSON-body
 * guard for routes with a JSON body, and the errors every route can answer.
 */
export function defineRoute<const R extends RouteConfig>(
  auth: AuthKind,
  route: R,
  opts: { authMiddleware?: MiddlewareHandler<AppEnv> } = {},
): R & { 'x-auth': AuthKind } {
  const middleware: MiddlewareHandler<AppEnv>[] = [];
  if (opts.authMiddleware) middleware.push(opts.authMiddleware);
  else if (auth === 'bearer') middleware.push(requireAuth);
  const body = route.request?.body;
  const json = body?.content?.['application/json'];
  if (json) {
    const upstream = UPSTREAM_ROUTES.has(`${route.method.toUpperCase()} ${route.path}`);
    middleware.push(jsonBody(!body.required, upstream ? undefined : fieldCheck('schema' in json ? json.schema : undefined, route.responses)));
  }
  const own = route.middleware ? (Array.isArray(route.middleware) ? route.middleware : [route.middleware]) : [];
  return createRoute({
    ...route,
    'x-auth': auth,
    security: auth === 'bearer' ? [{ bearerAuth: [] }] : [],
    middleware: [...middleware, ...own],
    responses: {
      ...commonResponses,
      ...(auth === 'bearer' ? authResponses : {}),
      ...route.responses,
    },
  }) as R & { 'x-auth': AuthKind };
}

/** A JSON response for the OpenAPI document. */
export const okJson = <T extends z.ZodType>(schema: T, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});

/** A JSON request body; defineRoute adds the JSON guard for it. */
export const jsonRequest = <T extends z.ZodType>(schema: T, required = true) => ({
  required,
  content: { 'application/json': { schema } },
});

/** A required string field with the upstream contract's message when it is absent, empty or not a string. */
export const requiredString = (message: string) =>
  z.string({ error: message }).trim().min(1, { error: message });

/** Query/path ids: any string; a malformed one answers like an unknown one (404). */
export const idParam = (message: string) => z.string({ error: message }).min(1, { error: message });
