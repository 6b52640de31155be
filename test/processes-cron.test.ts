import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it } from 'vitest';
import worker from '../src/index';
import { claimAndRun, runDueProcesses } from '../src/processes/cron';
import { getDb } from '../src/db/client';
import { claimDueRun, dueProcessesQuery, failStuckExecutionsQuery, findOwnProcess } from '../src/processes/queries';
import { captureErrorLog } from './error-log';
import { call, newUser, withVars, type TestUser } from './helpers';

const MINUTE = 60_000;
const taskAction = { type: 'create_task', task: { title: 'From the schedule' } };

async function due(u: TestUser, body: Record<string, unknown> = {}, dueAt = Date.now() - MINUTE) {
  const res = await call('POST', '/processes', {
    token: u.token,
    body: { name: 'Scheduled', trigger_type: 'time_based', schedule: '0 0 1 1 *', action: taskAction, ...body },
  });
  expect(res.status).toBe(201);
  const id: string = res.json.process.process_id;
  await env.DB.prepare('UPDATE processes SET next_run_at = ? WHERE id = ?').bind(dueAt, id).run();
  return { id, secret: res.json.process.webhook_secret as string | undefined };
}

const executions = async (id: string) =>
  (await env.DB.prepare('SELECT * FROM process_executions WHERE process_id = ? ORDER BY started_at').bind(id).all<Record<string, any>>()).results;
const nextRunAt = async (id: string) =>
  (await env.DB.prepare('SELECT next_run_at FROM processes WHERE id = ?').bind(id).first<{ next_run_at: number | null }>())!.next_run_at;

async function scheduled() {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: '* * * * *' }), env, ctx);
  await waitOnExecutionContext(ctx);
}

// Each test starts with no due process of an earlier test (this file shares one database).
afterEach(async () => {
  await env.DB.prepare('UPDATE processes SET is_active = 0, next_run_at = NULL').run();
});

describe('the process cron job', () => {
  it('runs a due process once, records success, sets last_execution and the next run', async () => {
    const u = await newUser();
    const dueAt = Date.now() - 5 * 1000;
    const { id } = await due(u, {}, dueAt);
    const summary = await runDueProcesses(env);
    expect(summary).toMatchObject({ due: 1, claimed: 1, succeeded: 1, failed: 0 });
    const [e, ...more] = await executions(id);
    expect(more).toHaveLength(0);
    expect(e).toMatchObject({ status: 'success', due_at: dueAt });
    expect(e.message).toMatch(/^Created task /);
    const p = (await call('GET', `/processes/${id}`, { token: u.token })).json.process;
    expect(p.last_execution).toBe(new Date(e.started_at).toISOString());
    expect(new Date(p.next_run_at).toISOString()).toMatch(/-01-01T00:00:00\.000Z$/);
    const history = await call('GET', `/processes/${id}/executions`, { token: u.token });
    expect(history.json.executions[0]).toMatchObject({ execution_id: e.id, status: 'success', due_at: new Date(dueAt).toISOString() });
    expect((await runDueProcesses(env)).claimed).toBe(0);
  });

  it('two overlapping scheduled runs execute a process exactly once', async () => {
    const u = await newUser();
    const { id } = await due(u);
    const [a, b] = await Promise.all([runDueProcesses(env), runDueProcesses(env)]);
    // Both runs saw it due (a real overlap), and only one claimed it.
    expect(a.due + b.due).toBe(2);
    expect(a.claimed + b.claimed).toBe(1);
    expect(await executions(id)).toHaveLength(1);
    const tasks = await call('GET', '/tasks', { token: u.token });
    expect(tasks.json.tasks).toHaveLength(1);
  });

  it('of two claims on the same due time (both read it before either wrote), exactly one wins', async () => {
    const u = await newUser();
    const { id } = await due(u);
    const db = getDb(env);
    const snapshot = (await findOwnProcess(db, u.userId, id))!;
    const now = Date.now();
    const results = await Promise.all([claimAndRun(env, db, snapshot, now), claimAndRun(env, db, snapshot, now + 1)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await executions(id)).toHaveLength(1);
    // The unique (process_id, due_at) index is a second guard: the same due time is never inserted twice.
    const again = await claimDueRun(db, { id, due: snapshot.nextRunAt!, next: snapshot.nextRunAt! + 1 }, crypto.randomUUID(), now);
    expect(again).toBeNull();
  });

  it('a process due during downtime runs once, and its next run is computed from now', async () => {
    const u = await newUser();
    const { id } = await due(u, { schedule: '* * * * *' }, Date.now() - 3 * 24 * 3600 * 1000);
    await runDueProcesses(env);
    await runDueProcesses(env);
    expect(await executions(id)).toHaveLength(1);
    const next = (await nextRunAt(id))!;
    expect(next).toBeGreaterThan(Date.now() - 1000);
    expect(next).toBeLessThanOrEqual(Date.now() + MINUTE);
  });

  it('a failing action is recorded with its error and does not stop the others', async () => {
    const u = await newUser();
    const ws = await call('POST', '/workspace', { token: u.token, body: { name: 'Doomed' } });
    const wsId = ws.json.workspace.workspace_id;
    const bad = await due(u, { action: { type: 'create_task', task: { title: 'x', workspace_id: wsId } } });
    const hook = await due(u, { action: { type: 'webhook', url: 'https://hooks.example.com/hook/cron-500?status=500' } });
    const good = await due(u);
    await call('DELETE', `/workspace/${wsId}`, { token: u.token });
    const log = captureErrorLog();
    const summary = await runDueProcesses(env);
    expect(summary).toMatchObject({ claimed: 3, succeeded: 1, failed: 2 });
    // Each failure is logged once with its process and execution (in whichever order the lanes finished).
    const failure = async (p: { id: string }, error: string) =>
      ({ msg: 'process action failed', process_id: p.id, execution_id: (await executions(p.id))[0].id, error });
    expect(log.entries()).toHaveLength(2);
    expect(log.entries()).toEqual(
      expect.arrayContaining([await failure(bad, 'Workspace not found'), await failure(hook, 'Webhook responded with HTTP 500')]),
    );
    expect((await executions(bad.id))[0]).toMatchObject({ status: 'failed', message: 'Workspace not found' });
    expect((await executions(hook.id))[0]).toMatchObject({ status: 'failed', message: 'Webhook responded with HTTP 500' });
    expect((await executions(good.id))[0]).toMatchObject({ status: 'success' });
    for (const e of [...(await executions(bad.id)), ...(await executions(hook.id))]) expect(e.completed_at).toBeGreaterThan(0);
    // A failed run still moves the schedule on.
    expect(await nextRunAt(bad.id)).toBeGreaterThan(Date.now());
  });

  it('marks executions left running past EXECUTION_TIMEOUT_SECONDS as failed', async () => {
    const u = await newUser();
    const { id } = await due(u, {}, Date.now() + 3600 * 1000);
    const insert = 'INSERT INTO process_executions (id, process_id, user_id, status, due_at, started_at) VALUES (?, ?, ?, ?, ?, ?)';
    const now = Date.now();
    await env.DB.prepare(insert).bind('stuck', id, u.userId, 'running', null, now - 120_000).run();
    await env.DB.prepare(insert).bind('fresh', id, u.userId, 'running', null, now - 5_000).run();
    await env.DB.prepare(insert).bind('done', id, u.userId, 'success', null, now - 500_000).run();
    const summary = await withVars({ EXECUTION_TIMEOUT_SECONDS: '60' }, () => runDueProcesses(env));
    expect(summary.timedOut).toBe(1);
    const byId = Object.fromEntries((await executions(id)).map((e) => [e.id, e]));
    expect(byId.stuck).toMatchObject({ status: 'failed', message: 'Timed out: still running after 60 seconds' });
    expect(byId.stuck.completed_at).toBeGreaterThanOrEqual(now);
    expect(byId.fresh).toMatchObject({ status: 'running', completed_at: null });
    expect(byId.done).toMatchObject({ status: 'success' });
  });

  it('runs at most PROCESS_BATCH_SIZE per run, oldest due first; the rest on the next run', async () => {
    const u = await newUser();
    const now = Date.now();
    const ids: string[] = [];
    // More than the job runs at once (6), so every lane of the limiter is exercised.
    for (let i = 0; i < 9; i++) ids.push((await due(u, {}, now - (9 - i) * MINUTE)).id);
    const counts = async () => Promise.all(ids.map(async (id) => (await executions(id)).length));
    const first = await withVars({ PROCESS_BATCH_SIZE: '8' }, () => runDueProcesses(env));
    expect(first).toMatchObject({ due: 8, claimed: 8, succeeded: 8 });
    expect(await counts()).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0]);
    const second = await withVars({ PROCESS_BATCH_SIZE: '8' }, () => runDueProcesses(env));
    expect(second).toMatchObject({ due: 1, claimed: 1 });
    expect(await counts()).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('skips inactive and manual processes and those not yet due', async () => {
    const u = await newUser();
    const inactive = await due(u);
    await env.DB.prepare('UPDATE processes SET is_active = 0 WHERE id = ?').bind(inactive.id).run();
    const future = await due(u, {}, Date.now() + MINUTE);
    const manual = await call('POST', '/processes', { token: u.token, body: { name: 'm', trigger_type: 'manual', action: taskAction } });
    expect((await runDueProcesses(env)).claimed).toBe(0);
    for (const id of [inactive.id, future.id, manual.json.process.process_id]) expect(await executions(id)).toHaveLength(0);
  });

  it('finds due processes through processes_due_idx and stuck executions through process_executions_running_idx', async () => {
    // The statements the job really sends, as drizzle builds them.
    const plan = async (q: { sql: string; params: unknown[] }) =>
      JSON.stringify((await env.DB.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).bind(...q.params).all()).results);
    const db = getDb(env);
    expect(await plan(dueProcessesQuery(db, Date.now(), 50).toSQL())).toMatch(/SEARCH processes USING (COVERING )?INDEX processes_due_idx/);
    expect(await plan(failStuckExecutionsQuery(db, Date.now(), 1000, 'x').toSQL())).toMatch(/SEARCH process_executions USING (COVERING )?INDEX process_executions_running_idx/);
  });

  it('the scheduled handler runs due processes: a webhook is delivered, signed, with its due time', async () => {
    const u = await newUser();
    const dueAt = Date.now() - 2 * MINUTE;
    const { id, secret } = await due(u, { action: { type: 'webhook', url: 'https://hooks.example.com/hook/cron-scheduled' } }, dueAt);
    await scheduled();
    const [e] = await executions(id);
    expect(e).toMatchObject({ status: 'success', due_at: dueAt });
    const res = await (env as unknown as { WEBHOOK_RECEIVER: Fetcher }).WEBHOOK_RECEIVER.fetch('http://receiver/_received/cron-scheduled');
    const [hit] = (await res.json()) as { headers: Record<string, string>; body: string }[];
    expect(hit.headers['webhook-id']).toBe(e.id);
    expect(JSON.parse(hit.body).data).toMatchObject({ process_id: id, due_at: new Date(dueAt).toISOString() });
    const key = await crypto.subtle.importKey('raw', Uint8Array.from(atob(secret!.slice(6)), (c) => c.charCodeAt(0)), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${e.id}.${hit.headers['webhook-timestamp']}.${hit.body}`));
    expect(hit.headers['webhook-signature']).toBe(`v1,${btoa(String.fromCharCode(...new Uint8Array(mac)))}`);
  });
});
