import { z } from '@hono/zod-openapi';
import { createMiddleware } from 'hono/factory';
import { dummyHash, hashPassword, verifyPassword } from './password';
import {
  refreshSession,
  revokeSessions,
  revokeUserSessions,
  sessionOfRefreshToken,
  startSession,
} from './sessions';
import {
  clearLoginAttempts,
  countLoginAttempt,
  findUserByEmail,
  findUserById,
  insertUser,
  updatePasswordHash,
} from '../users/queries';
import { config } from '../lib/config';
import { ApiError, authErrors, badRequest, notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import { createRouter, defineRoute, errorResponse, jsonRequest, okJson, requiredString } from '../lib/router';
import type { AppEnv, AuthUser } from '../lib/types';

const CREDENTIALS = 'Missing email/password parameter';
const PASSWORD_MAX = 1024;

/** Trimmed and lower-cased, so `User@Example.com` and `user@example.com` are one account. */
export const emailSchema = (missing: string) =>
  requiredString(missing)
    .toLowerCase()
    .pipe(z.email({ error: 'Invalid email address' }).max(254, { error: 'Invalid email address' }));

const password = (missing: string) =>
  z.string({ error: missing }).min(1, { error: missing }).max(PASSWORD_MAX, { error: 'Password is too long' });

const TokenPair = z
  .object({
    access_token: z.string(),
    refresh_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int(),
  })
  .openapi('TokenPair');
const Msg = z.object({ msg: z.string() });

function checkNewPassword(env: Env, value: string) {
  const min = config(env).passwordMinLength;
  if (value.length < min) throw badRequest(`Password must be at least ${min} characters`, 'weak_password');
}

/** Logout accepts a live access token or, once that has expired, `{"refresh_token"}`. */
const tokenOrRefreshToken = createMiddleware<AppEnv>(async (c, next) => {
  const token = c.get('token');
  if (token && 'user' in token) c.set('user', token.user);
  await next();
});

export const authRoutes = createRouter()
  .openapi(
    defineRoute('public', {
      method: 'post',
      path: '/register',
      tags: ['Accounts'],
      summary: 'Create a user',
      request: { body: jsonRequest(z.object({ email: emailSchema(CREDENTIALS), password: password(CREDENTIALS) })) },
      responses: {
        200: okJson(z.object({ msg: z.string(), email: z.string() }), 'User created'),
        400: errorResponse('Missing JSON in request', CREDENTIALS, 'Invalid email address', 'User already exists', 'Password must be at least N characters'),
        413: errorResponse('Payload too large'),
      },
    }),
    async (c) => {
      const { email, password } = c.req.valid('json');
      checkNewPassword(c.env, password);
      const db = c.get('db');
      if (await findUserByEmail(db, email)) throw badRequest('User already exists', 'user_exists');
      const hash = await hashPassword(password, config(c.env).scrypt);
      if (!(await insertUser(db, { id: newId(), email, passwordHash: hash, now: Date.now() }))) {
        throw badRequest('User already exists', 'user_exists');
      }
      return c.json({ msg: 'User created successfully', email }, 200);
    },
  )
  .openapi(
    defineRoute('public', {
      method: 'post',
      path: '/auth/login',
      tags: ['Accounts'],
      summary: 'Log in: an access token and a refresh token',
      request: { body: jsonRequest(z.object({ email: requiredString(CREDENTIALS).toLowerCase(), password: password(CREDENTIALS) })) },
      responses: {
        200: okJson(TokenPair),
        400: errorResponse('Missing JSON in request', CREDENTIALS),
        401: errorResponse('Incorrect password.'),
        404: errorResponse('User not found'),
      },
    }),
    async (c) => {
      const { email, password } = c.req.valid('json');
      const cfg = config(c.env);
      const db = c.get('db');
      const now = Date.now();
      const attempt = await countLoginAttempt(db, email, now, cfg.loginWindow * 1000);
      if (attempt.failures > cfg.loginMaxFailures) {
        const retryAfter = Math.max(1, Math.ceil((attempt.windowStartedAt + cfg.loginWindow * 1000 - now) / 1000));
        throw new ApiError(429, 'too_many_login_attempts', 'Too many requests', { retry_after: retryAfter }, {
          'Retry-After': String(retryAfter),
        });
      }
      const user = await findUserByEmail(db, email);
      if (!user) {
        await verifyPassword(password, await dummyHash(cfg.scrypt), cfg.scrypt);
        throw notFound('User not found', 'user_not_found');
      }
      const check = await verifyPassword(password, user.passwordHash, cfg.scrypt);
      if (!check.ok) throw new ApiError(401, 'incorrect_password', 'Incorrect password.');
      await clearLoginAttempts(db, email);
      if (check.rehash) await updatePasswordHash(db, user.id, await hashPassword(password, cfg.scrypt), now);
      return c.json(await startSession(c.env, db, user.id), 200);
    },
  )
  .openapi(
    defineRoute('public', {
      method: 'post',
      path: '/auth/refresh',
      tags: ['Accounts'],
      summary: 'Rotate a refresh token',
      request: { body: jsonRequest(z.object({ refresh_token: requiredString('Missing refresh_token parameter') })) },
      responses: {
        200: okJson(TokenPair),
        400: errorResponse('Missing JSON in request', 'Missing refresh_token parameter'),
        401: errorResponse('Invalid refresh token', 'Refresh token has already been used', 'Refresh token reuse detected; the session has been revoked'),
      },
    }),
    async (c) => c.json(await refreshSession(c.env, c.get('db'), c.req.valid('json').refresh_token), 200),
  )
  .openapi(
    defineRoute(
      'bearer',
      {
        method: 'post',
        path: '/auth/logout',
        tags: ['Accounts'],
        summary: 'Revoke this session (bearer token, or a refresh token once the access token expired)',
        request: {
          body: { required: false, content: { 'application/json': { schema: z.object({ refresh_token: z.string().optional() }) } } },
        },
        responses: { 200: okJson(Msg), 401: errorResponse('Invalid refresh token') },
      },
      { authMiddleware: tokenOrRefreshToken },
    ),
    async (c) => {
      const db = c.get('db');
      const user = c.get('user') as AuthUser | undefined;
      const refreshToken = c.req.valid('json').refresh_token;
      let sessionId: string;
      if (user) sessionId = user.sessionId;
      else if (refreshToken) sessionId = await sessionOfRefreshToken(db, refreshToken);
      else {
        const token = c.get('token');
        throw token ? ('error' in token ? token.error : authErrors.revoked()) : authErrors.missing();
      }
      await revokeSessions(c.env, db, [sessionId]);
      return c.json({ msg: 'Logged out' }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/auth/logout-all',
      tags: ['Accounts'],
      summary: 'Revoke every session of the user',
      responses: { 200: okJson(Msg) },
    }),
    async (c) => {
      await revokeUserSessions(c.env, c.get('db'), c.get('user').id);
      return c.json({ msg: 'Logged out of all sessions' }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/auth/change-password',
      tags: ['Accounts'],
      summary: 'Change the password; every other session is revoked',
      request: {
        body: jsonRequest(
          z.object({
            current_password: password('Missing current_password/new_password parameter'),
            new_password: password('Missing current_password/new_password parameter'),
          }),
        ),
      },
      responses: {
        200: okJson(Msg),
        400: errorResponse('Missing JSON in request', 'Missing current_password/new_password parameter', 'Password must be at least N characters'),
        401: errorResponse('Incorrect password.'),
        404: errorResponse('User not found'),
      },
    }),
    async (c) => {
      const { current_password, new_password } = c.req.valid('json');
      const { id, sessionId } = c.get('user');
      const cfg = config(c.env);
      const db = c.get('db');
      const user = await findUserById(db, id);
      if (!user) throw notFound('User not found', 'user_not_found');
      if (!(await verifyPassword(current_password, user.passwordHash, cfg.scrypt)).ok) {
        throw new ApiError(401, 'incorrect_password', 'Incorrect password.');
      }
      checkNewPassword(c.env, new_password);
      await updatePasswordHash(db, id, await hashPassword(new_password, cfg.scrypt), Date.now());
      await revokeUserSessions(c.env, db, id, sessionId);
      return c.json({ msg: 'Password changed' }, 200);
    },
  );
