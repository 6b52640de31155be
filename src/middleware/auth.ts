import { createMiddleware } from 'hono/factory';
import { authErrors, verifyAccessToken } from '../auth/tokens';
import { sessionIsLive } from '../auth/sessions';
import type { AppEnv } from '../lib/types';

/**
 * Global: verifies a bearer token if one is sent, once, so the rate limiter can key by user.
 * It never rejects; `requireAuth` does, on the routes that declare `bearer`.
 */
export const readToken = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header('authorization');
  if (!header) {
    c.set('token', null);
  } else {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    try {
      if (!m) throw authErrors.invalid();
      c.set('token', { user: await verifyAccessToken(c.env, m[1]) });
    } catch (error) {
      c.set('token', { error: error as Error });
    }
  }
  await next();
});

/** Per route (auth kind `bearer`): a valid token whose session still exists in KV. */
export const requireAuth = createMiddleware<AppEnv>(async (c, next) => {
  const token = c.get('token');
  if (!token) throw authErrors.missing();
  if ('error' in token) throw token.error;
  if (!(await sessionIsLive(c.env, token.user.sessionId))) throw authErrors.revoked();
  c.set('user', token.user);
  await next();
});
