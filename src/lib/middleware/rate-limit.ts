import { createMiddleware } from 'hono/factory';
import { config } from '../config';
import { clientKey } from '../client-address';
import { ApiError } from '../errors';
import { limiterFor } from '../rate-limiter';
import type { AppEnv } from '../types';

/** Per user when the bearer token verifies, per client address (an IPv6 /64: lib/client-address.ts) otherwise. */
export const rateLimit = createMiddleware<AppEnv>(async (c, next) => {
  const token = c.get('token');
  const key = token && 'user' in token ? `u:${token.user.id}` : clientKey(c.req.header('cf-connecting-ip'));
  const result = await limiterFor(c.env.RATE_LIMITS).hit(key, config(c.env).rateLimitPerMinute, Date.now(), (p) =>
    c.executionCtx.waitUntil(p),
  );
  const headers = {
    'X-RateLimit-Limit': String(result.limit),
    'X-RateLimit-Remaining': String(result.remaining),
    'X-RateLimit-Reset': String(result.reset),
  };
  if (!result.allowed) {
    throw new ApiError(429, 'rate_limited', 'Too many requests', { retry_after: result.reset }, {
      ...headers,
      'Retry-After': String(result.reset),
    });
  }
  await next();
  for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
});
