import { createMiddleware } from 'hono/factory';
import { authErrors } from '../lib/errors';
import type { AppEnv } from '../lib/types';
import { sessionIsLive } from '../lib/live-sessions';
import { verifyAccessToken } from './tokens';

/**
 * Global: verifies a bearer token if one is sent, once, and checks that its session is still live
 * in KV, so the rate limiter can key by user and `requireAuth` (lib/router) only reads the verdict.
 * It never rejects by itself.
 */
export const readToken = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header('authorization');
  if (!header) {
    c.set('token', null);
  } else {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    try {
      if (!m) throw authErrors.invalid();
      const user = await verifyAccessToken(c.env, m[1]);
      if (!(await sessionIsLive(c.env, user.sessionId))) throw authErrors.revoked();
      c.set('token', { user });
    } catch (error) {
      c.set('token', { error: error as Error });
    }
  }
  await next();
});
