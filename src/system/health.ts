import { z } from '@hono/zod-openapi';
import { createRouter, defineRoute } from '../lib/router';

const Check = z.object({ ok: z.boolean(), error: z.string().optional() });
const Health = z.object({ status: z.enum(['ok', 'degraded']), checks: z.object({ d1: Check, kv: Check, r2: Check }) });

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
      responses: { 200: { description: 'pong', content: { 'application/json': { schema: z.object({ msg: z.literal('pong') }) } } } },
    }),
    (c) => c.json({ msg: 'pong' as const }, 200),
  )
  .openapi(
    defineRoute('public', {
      method: 'get',
      path: '/health',
      tags: ['Service'],
      summary: 'Whether D1, KV and R2 answer; 503 when one does not',
      responses: {
        200: { description: 'All bindings answer', content: { 'application/json': { schema: Health } } },
        503: { description: 'A binding does not answer', content: { 'application/json': { schema: Health } } },
      },
    }),
    async (c) => {
      const [d1, kv, r2] = await Promise.all([
        check(() => c.env.DB.prepare('SELECT 1').first()),
        check(() => c.env.SESSIONS.get('health:probe')),
        check(() => c.env.BUCKET.head('health/probe')),
      ]);
      const ok = d1.ok && kv.ok && r2.ok;
      return c.json({ status: ok ? ('ok' as const) : ('degraded' as const), checks: { d1, kv, r2 } }, ok ? 200 : 503);
    },
  );
