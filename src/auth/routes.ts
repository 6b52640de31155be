import { z } from '@hono/zod-openapi';
import { createMiddleware } from 'hono/factory';
import { authErrors } from '../lib/errors';
import { createRouter, depsOf, defineRoute, errorResponse, jsonRequest, okJson } from '../lib/router';
import type { AppEnv } from '../lib/types';
import { USER_EXISTS, USER_NOT_FOUND } from '../users/service';
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
import { changePassword, login, logout, register } from './service';
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
      summary: 'Create a user',
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
  );
