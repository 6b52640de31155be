import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import worker from '../src/index';
import { describe, expect, it } from 'vitest';
import { call, newUser, withVars } from './helpers';
import { agentInChat, seedRun, storedRun } from './runs-fixtures';

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

  it('fails live runs not written for LLM_MAX_RUN_MS + 120 s with run_interrupted (their chat object died), and nothing else', async () => {
    // Runs are written by the chat's object; seeded here through the same upsertRun.
    const o = await agentInChat();
    const now = Date.now();
    const old = await seedRun(o, { status: 'running', createdAt: now - 200_000, updatedAt: now - 150_000 });
    const queued = await seedRun(o, { status: 'queued', startedAt: null, createdAt: now - 200_000, updatedAt: now - 150_000 });
    const recent = await seedRun(o, { status: 'running', updatedAt: now - 60_000 });
    const done = await seedRun(o, { status: 'completed', finishedAt: now - 150_000, updatedAt: now - 150_000 });
    // At the default (300 s + 120 s) none of them is stale yet.
    await runCron();
    expect((await storedRun(old.id))?.status).toBe('running');
    await withVars({ LLM_MAX_RUN_MS: '10000' }, async () => {
      await runCron();
      await runCron();
    });
    for (const r of [old, queued]) {
      expect(await storedRun(r.id)).toMatchObject({
        status: 'failed',
        error_code: 'run_interrupted',
        error_msg: "The run was interrupted: the chat's object stopped while it was live",
        finished_at: expect.any(Number),
      });
    }
    expect((await storedRun(recent.id))?.status).toBe('running');
    expect(await storedRun(done.id)).toMatchObject({ status: 'completed', error_code: null });
    const run = (await call('GET', `/runs/${old.id}`, { token: o.user.token })).json.run;
    expect(run).toMatchObject({ status: 'failed', error: { code: 'run_interrupted' }, finished_at: expect.any(String) });
    expect((await call('GET', `/agents/${o.agentId}`, { token: o.user.token })).json.agent.status).toBe('running');
  });
});
