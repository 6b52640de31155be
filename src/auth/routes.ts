import { z } from '@hono/zod-openapi';
import { createMiddleware } from 'hono/factory';
import { authErrors } from '../lib/errors';
import { createRouter, depsOf, defineRoute, errorResponse, jsonRequest, okJson } from '../lib/router';
import type { AppEnv } from '../lib/types';
import { updateUserBody, User, userJson } from '../users/schemas';
import { currentUser, USER_EXISTS, USER_NOT_FOUND } from '../users/service';
import {
  changePasswordBody,
  CHANGE_PASSWORD,
  CREDENTIALS,
  loginBody,
  logoutBody,
  Msg,
  REFRESH_TOKEN,
  refreshBody,
  registerBody,
  TokenPair,
} from './schemas';
import { changePassword, login, logout, REAUTH_REQUIRED, register, updateUser } from './service';
import { refreshSession, revokeUserSessions } from './sessions';

/**
 * Logout's stand-in for requireAuth: it accepts a live access token or, once that has expired,
 * `{"refresh_token"}`, so a missing or dead token is judged in the handler, after the body.
 */
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
      summary: 'Register a user',
      operationId: 'register',
      description:
        'Upstream contract: creates an account from an email (trimmed and lower-cased) and a password (at least PASSWORD_MIN_LENGTH characters, 8 by default), answering 200 (not 201). It signs nobody in: call `POST /auth/login` next. 400 `Missing email/password parameter`, `Invalid email address`, `User already exists` or a too-short password. No token needed.',
      request: { body: jsonRequest(registerBody) },
      responses: {
        200: okJson(z.object({ msg: z.string(), email: z.string() }), 'User created'),
        400: errorResponse('Missing JSON in request', CREDENTIALS, 'Invalid email address', USER_EXISTS, 'Password must be at least N characters'),
        413: errorResponse('Payload too large'),
      },
    }),
    async (c) => {
      const input = c.req.valid('json');
      await register(depsOf(c), input);
      return c.json({ msg: 'User created successfully', email: input.email }, 200);
    },
  )
  .openapi(
    defineRoute('public', {
      method: 'post',
      path: '/auth/login',
      tags: ['Accounts'],
      summary: 'Log in: an access token and a refresh token',
      operationId: 'login',
      description:
        'Upstream contract: answers `access_token` (a JWT for `Authorization: Bearer ...`, valid `expires_in` seconds) and a single-use `refresh_token`. 404 `User not found` for an unknown email, 401 `Incorrect password.` (with its full stop); after 10 failures for one email in 15 minutes, every attempt is 429 with `Retry-After`. No token needed.',
      request: { body: jsonRequest(loginBody) },
      responses: {
        200: okJson(TokenPair),
        400: errorResponse('Missing JSON in request', CREDENTIALS),
        401: errorResponse('Incorrect password.'),
        404: errorResponse(USER_NOT_FOUND),
      },
    }),
    async (c) => c.json(await login(depsOf(c), c.req.valid('json')), 200),
  )
  .openapi(
    defineRoute('public', {
      method: 'post',
      path: '/auth/refresh',
      tags: ['Accounts'],
      summary: 'Rotate a refresh token',
      operationId: 'refreshTokens',
      description:
        'Trades a refresh token for a new access token and refresh token in the same session. Each refresh token works once: reusing one (after a short grace period for retries) revokes the whole session, 401 `Refresh token reuse detected; the session has been revoked`. No access token needed.',
      request: { body: jsonRequest(refreshBody) },
      responses: {
        200: okJson(TokenPair),
        400: errorResponse('Missing JSON in request', REFRESH_TOKEN),
        401: errorResponse('Invalid refresh token', 'Refresh token has already been used', 'Refresh token reuse detected; the session has been revoked'),
      },
    }),
    async (c) => c.json(await refreshSession(depsOf(c), c.req.valid('json').refresh_token), 200),
  )
  .openapi(
    defineRoute(
      'bearer',
      {
        method: 'post',
        path: '/auth/logout',
        tags: ['Accounts'],
        summary: 'Revoke this session (bearer token, or a refresh token once the access token expired)',
        operationId: 'logout',
        description:
          'Ends the session of the bearer token; its chat sockets close with 4401. Once the access token has expired, send `{"refresh_token"}` instead of the header. The body is optional. 401 when neither identifies a live session.',
        request: { body: jsonRequest(logoutBody, false) },
        responses: { 200: okJson(Msg), 401: errorResponse('Invalid refresh token') },
      },
      { authMiddleware: tokenOrRefreshToken },
    ),
    async (c) => {
      const deps = depsOf(c);
      const token = c.get('token');
      const refreshToken = c.req.valid('json').refresh_token;
      if (token && 'user' in token) await logout(deps, { sessionId: token.user.sessionId });
      else if (refreshToken) await logout(deps, { refreshToken });
      else throw token?.error ?? authErrors.missing();
      return c.json({ msg: 'Logged out' }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/auth/logout-all',
      tags: ['Accounts'],
      summary: 'Revoke every session of the user',
      operationId: 'logoutAll',
      description:
        'Ends every session of the signed-in user, this one included, on every device; their chat sockets close with 4401. Bearer token required.',
      responses: { 200: okJson(Msg) },
    }),
    async (c) => {
      await revokeUserSessions(depsOf(c), c.get('user').id);
      return c.json({ msg: 'Logged out of all sessions' }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/auth/change-password',
      tags: ['Accounts'],
      summary: 'Change the password; every other session is revoked',
      operationId: 'changePassword',
      description:
        'Checks `current_password`, sets `new_password` (at least PASSWORD_MIN_LENGTH characters) and revokes every other session of the user; this one stays signed in. 401 `Incorrect password.` when `current_password` is wrong (counted like a failed login). Bearer token required.',
      request: { body: jsonRequest(changePasswordBody) },
      responses: {
        200: okJson(Msg),
        400: errorResponse('Missing JSON in request', CHANGE_PASSWORD, 'Password must be at least N characters'),
        401: errorResponse('Incorrect password.'),
        404: errorResponse(USER_NOT_FOUND),
      },
    }),
    async (c) => {
      await changePassword(depsOf(c), c.get('user'), c.req.valid('json'));
      return c.json({ msg: 'Password changed' }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/user',
      tags: ['Accounts'],
      summary: 'The signed-in user',
      operationId: 'getUser',
      description:
        'Upstream contract: answers the user of the bearer token: `user_id`, `email`, `created_at`.',
      responses: { 200: okJson(z.object({ user: User })), 404: errorResponse(USER_NOT_FOUND) },
    }),
    async (c) => c.json({ user: userJson(await currentUser(c.get('db'), c.get('user').id)) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'put',
      path: '/user',
      tags: ['Accounts'],
      summary: 'Update the signed-in user',
      operationId: 'updateUser',
      description:
        'Upstream contract: changes the email (trimmed and lower-cased). 400 `Invalid email address` or `User already exists`; unknown fields are ignored. Changing the email may ask for a recent sign-in or `current_password`.',
      request: { body: jsonRequest(updateUserBody) },
      responses: {
        200: okJson(z.object({ msg: z.string() })),
        400: errorResponse('Missing JSON in request', 'Invalid email address', USER_EXISTS),
        401: errorResponse('Incorrect password.', REAUTH_REQUIRED),
        404: errorResponse(USER_NOT_FOUND),
      },
    }),
    async (c) => {
      await updateUser(depsOf(c), c.get('user'), c.req.valid('json'));
      return c.json({ msg: 'User updated' }, 200);
    },
  );
