import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import worker from '../src/index';
import { describe, expect, it } from 'vitest';
import { call, newUser } from './helpers';

async function runCron() {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: '* * * * *' }), env, ctx);
  await waitOnExecutionContext(ctx);
}

const count = async (sql: string, ...args: unknown[]) =>
  (await env.DB.prepare(sql).bind(...args).first<{ n: number }>())!.n;

describe('scheduled handler', () => {
  it('purges expired refresh tokens and sessions and old login windows, and is idempotent', async () => {
    const u = await newUser();
    const live = await newUser();
    await call('POST', '/auth/login', { body: { email: 'nobody-at-all@example.com', password: 'x' } });
    await env.DB.prepare('UPDATE sessions SET expires_at = 1 WHERE user_id = ?').bind(u.userId).run();
    await env.DB.prepare('UPDATE refresh_tokens SET expires_at = 1 WHERE user_id = ?').bind(u.userId).run();
    await env.DB.prepare("UPDATE login_attempts SET window_started_at = 1 WHERE email = 'nobody-at-all@example.com'").run();
    await runCron();
    await runCron();
    expect(await count('SELECT count(*) AS n FROM sessions WHERE user_id = ?', u.userId)).toBe(0);
    expect(await count('SELECT count(*) AS n FROM refresh_tokens WHERE user_id = ?', u.userId)).toBe(0);
    expect(await count("SELECT count(*) AS n FROM login_attempts WHERE email = 'nobody-at-all@example.com'")).toBe(0);
    expect(await count('SELECT count(*) AS n FROM sessions WHERE user_id = ?', live.userId)).toBe(1);
    expect((await call('GET', '/user', { token: live.token })).status).toBe(200);
  });

  it('sweeps cleanup jobs a failure left behind', async () => {
    await env.BUCKET.put('orphans/left-behind', 'x');
    await env.DB.prepare("INSERT INTO cleanup_jobs (id, kind, target, attempts, created_at, run_after) VALUES ('r2_object:orphans/left-behind', 'r2_object', 'orphans/left-behind', 0, 0, 0)").run();
    await runCron();
    expect(await env.BUCKET.head('orphans/left-behind')).toBeNull();
    expect(await count("SELECT count(*) AS n FROM cleanup_jobs WHERE id = 'r2_object:orphans/left-behind'")).toBe(0);
  });
});
