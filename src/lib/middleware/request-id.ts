import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../types';

/** Every response carries X-Request-Id; a sane incoming one (from a proxy) is kept. */
export const requestId = createMiddleware<AppEnv>(async (c, next) => {
  const incoming = c.req.header('x-request-id');
  const id = incoming && /^[\w.-]{8,128}$/.test(incoming) ? incoming : crypto.randomUUID();
  c.set('requestId', id);
  await next();
  c.res.headers.set('X-Request-Id', id);
});
