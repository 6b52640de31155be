import { z } from '@hono/zod-openapi';
import { createMiddleware } from 'hono/factory';
import { configError } from '../lib/config';
import { errorBody } from '../lib/errors';
import { createRouter, defineRoute } from '../lib/router';
import type { AppEnv } from '../lib/types';

const Check = z.object({ ok: z.boolean(), error: z.string().optional() });
const ConfigCheck = Check.extend({ var: z.string().optional().openapi({ description: 'The var or secret that is invalid' }) });
const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  checks: z.object({ d1: Check, kv: Check, r2: Check, config: ConfigCheck }),
});

async function check(probe: () => Promise<unknown>): Promise<z.infer<typeof Check>> {
  try {
    await probe();
    return { ok: true };
  } catch (err) {
    // Names the failing binding without echoing internals.
    console.error(JSON.stringify({ msg: 'health check failed', error: String(err) }));
    return { ok: false, error: 'unavailable' };
  }
}

export const healthRoutes = createRouter()
  .openapi(
    defineRoute('public', {
      method: 'get',
      path: '/ping',
      tags: ['Service'],
      summary: 'Liveness',
      operationId: 'ping',
      description:
        'Upstream contract: answers `{"msg": "pong"}` whenever the Worker runs, even while its configuration is invalid. No token needed; nothing is checked.',
      responses: { 200: { description: 'pong', content: { 'application/json': { schema: z.object({ msg: z.literal('pong') }) } } } },
    }),
    (c) => c.json({ msg: 'pong' as const }, 200),
  )
  .openapi(
    defineRoute('public', {
      method: 'get',
      path: '/health',
      tags: ['Service'],
      summary: 'Whether D1, KV and R2 answer and the config is valid; 503 when not',
      operationId: 'health',
      description:
        'Readiness: probes D1, KV and R2 and checks that every var and secret parses. Answers 200 `status: ok`, or 503 `status: degraded` with the failing check (`checks.config.var` names an invalid var). No token needed.',
      responses: {
        200: { description: 'All bindings answer', content: { 'application/json': { schema: Health } } },
        503: { description: 'A binding does not answer, or a var is invalid', content: { 'application/json': { schema: Health } } },
      },
    }),
    async (c) => {
      const [d1, kv, r2] = await Promise.all([
        check(() => c.env.DB.prepare('SELECT 1').first()),
        check(() => c.env.SESSIONS.get('health:probe')),
        check(() => c.env.BUCKET.head('health/probe')),
      ]);
      const invalid = configError(c.env);
      const cfg = invalid ? { ok: false, error: invalid.message, var: invalid.var } : { ok: true };
      const ok = d1.ok && kv.ok && r2.ok && cfg.ok;
      return c.json({ status: ok ? ('ok' as const) : ('degraded' as const), checks: { d1, kv, r2, config: cfg } }, ok ? 200 : 503);
    },
  );

/**
 * While a var or secret is invalid, every route answers 503 `config_invalid` naming it, except
 * GET /ping and /health, which answer here: the middleware after this one (CORS, rate limit)
 * needs the config, so they cannot run.
 */
export const requireValidConfig = createMiddleware<AppEnv>(async (c, next) => {
  const invalid = configError(c.env);
  if (!invalid) return next();
  if ((c.req.method === 'GET' || c.req.method === 'HEAD') && (c.req.path === '/ping' || c.req.path === '/health')) {
    return healthRoutes.fetch(c.req.raw, c.env);
  }
  return c.json(errorBody(c, 'config_invalid', `Service misconfigured: ${invalid.message}`, { var: invalid.var }), 503);
});
