import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { captureErrorLog } from './error-log';
import { call, expectError, newUser } from './helpers';
import { created, ISO, taskAction } from './processes-fixtures';

describe('PATCH /processes/:id', () => {
  it('changes fields and recomputes next_run_at when the schedule changes', async () => {
    const u = await newUser();
    const p = await created(u);
    const res = await call('PATCH', `/processes/${p.process_id}`, { token: u.token, body: { name: 'Daily', description: null, schedule: '30 6 * * *', timezone: 'Asia/Tokyo' } });
    expect(res.status).toBe(200);
    const q = res.json.process;
    expect(q).toMatchObject({ name: 'Daily', description: null, schedule: '30 6 * * *', timezone: 'Asia/Tokyo' });
    expect(q.next_run_at).not.toBe(p.next_run_at);
    // 06:30 in Tokyo (UTC+9) is 21:30 UTC.
    expect(q.next_run_at).toMatch(/T21:30:00\.000Z$/);
    expect(new Date(q.next_run_at).getTime() - Date.now()).toBeLessThanOrEqual(24 * 3600 * 1000);
    expect(new Date(q.updated_at).getTime()).toBeGreaterThanOrEqual(new Date(p.updated_at).getTime());
    expect((await call('GET', `/processes/${p.process_id}`, { token: u.token })).json.process).toEqual(q);
  });

  it('pausing clears next_run_at, resuming computes it from now; manual has none', async () => {
    const u = await newUser();
    const p = await created(u, { schedule: '*/5 * * * *' });
    const path = `/processes/${p.process_id}`;
    expect((await call('PATCH', path, { token: u.token, body: { is_active: false } })).json.process.next_run_at).toBeNull();
    const resumed = (await call('PATCH', path, { token: u.token, body: { is_active: true } })).json.process;
    expect(new Date(resumed.next_run_at).getTime() - Date.now()).toBeLessThanOrEqual(5 * 60 * 1000);
    expect(new Date(resumed.next_run_at).getUTCMinutes() % 5).toBe(0);
    expect((await call('PATCH', path, { token: u.token, body: { trigger_type: 'manual' } })).json.process.next_run_at).toBeNull();
    expect((await call('PATCH', path, { token: u.token, body: { trigger_type: 'time_based' } })).json.process.next_run_at).toMatch(ISO);
  });

  it('leaves next_run_at alone when only other fields change', async () => {
    const u = await newUser();
    const p = await created(u);
    await env.DB.prepare('UPDATE processes SET next_run_at = 123 WHERE id = ?').bind(p.process_id).run();
    const res = await call('PATCH', `/processes/${p.process_id}`, { token: u.token, body: { name: 'n' } });
    expect(res.json.process.next_run_at).toBe(new Date(123).toISOString());
  });

  it('switching to a webhook generates a secret, shown in that response only; switching away drops it', async () => {
    const u = await newUser();
    const p = await created(u);
    const path = `/processes/${p.process_id}`;
    const res = await call('PATCH', path, { token: u.token, body: { action: { type: 'webhook', url: 'https://hooks.example.com/hook/z' } } });
    expect(res.status).toBe(200);
    expect(res.json.process.webhook_secret).toMatch(/^whsec_/);
    await call('PATCH', path, { token: u.token, body: { action: taskAction } });
    const row = await env.DB.prepare('SELECT webhook_secret FROM processes WHERE id = ?').bind(p.process_id).first<{ webhook_secret: string | null }>();
    expect(row!.webhook_secret).toBeNull();
  });

  it('errors: 400 for invalid fields or a time-based process without schedule, 404 for references', async () => {
    const u = await newUser();
    const m = await created(u, { trigger_type: 'manual', schedule: undefined });
    const path = `/processes/${m.process_id}`;
    expectError(await call('PATCH', path, { token: u.token, body: { trigger_type: 'time_based' } }), 400, 'Missing schedule parameter');
    expectError(await call('PATCH', path, { token: u.token, body: { schedule: 'nope' } }), 400);
    expectError(await call('PATCH', path, { token: u.token, body: { timezone: 'Nowhere/Land' } }), 400, 'Invalid timezone');
    expectError(await call('PATCH', path, { token: u.token, body: { name: '' } }), 400, 'Missing name parameter');
    expectError(await call('PATCH', path, { token: u.token, body: { action: { type: 'webhook', url: 'http://example.com' } } }), 400, 'url must use https');
    expectError(await call('PATCH', path, { token: u.token, body: { workspace_id: 'nope' } }), 404, 'Workspace not found');
    expectError(await call('PATCH', path, { token: u.token, body: { action: { type: 'post_message', chat_id: 'nope', content: 'x' } } }), 404, 'Chat not found');
    expectError(await call('PATCH', path, { token: u.token }), 400, 'Missing JSON in request');
    const other = await newUser();
    expectError(await call('PATCH', path, { token: other.token, body: { name: 'mine' } }), 404, 'Process not found');
    expect((await call('GET', path, { token: u.token })).json.process.name).toBe('Review');
  });
});

describe('DELETE /processes/:id', () => {
  it('deletes the process and its executions', async () => {
    const u = await newUser();
    const p = await created(u, { trigger_type: 'manual' });
    const path = `/processes/${p.process_id}`;
    expect((await call('POST', `${path}/execute`, { token: u.token })).status).toBe(201);
    const other = await newUser();
    expectError(await call('DELETE', path, { token: other.token }), 404, 'Process not found');
    const res = await call('DELETE', path, { token: u.token });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ msg: 'Process deleted' });
    expectError(await call('GET', path, { token: u.token }), 404, 'Process not found');
    expectError(await call('DELETE', path, { token: u.token }), 404, 'Process not found');
    const n = await env.DB.prepare('SELECT count(*) AS n FROM process_executions WHERE process_id = ?').bind(p.process_id).first<{ n: number }>();
    expect(n!.n).toBe(0);
  });

  it('deleting the workspace deletes its processes', async () => {
    const u = await newUser();
    const ws = await call('POST', '/workspace', { token: u.token, body: { name: 'Temp' } });
    const p = await created(u, { workspace_id: ws.json.workspace.workspace_id });
    expect((await call('DELETE', `/workspace/${ws.json.workspace.workspace_id}`, { token: u.token })).status).toBe(200);
    expectError(await call('GET', `/processes/${p.process_id}`, { token: u.token }), 404, 'Process not found');
  });
});

describe('POST /processes/:id/execute and GET /processes/:id/executions', () => {
  it('runs a create_task action now and records it; last_execution is set', async () => {
    const u = await newUser();
    const p = await created(u, { trigger_type: 'manual' });
    const res = await call('POST', `/processes/${p.process_id}/execute`, { token: u.token });
    expect(res.status).toBe(201);
    const e = res.json.execution;
    expect(e).toMatchObject({ process_id: p.process_id, status: 'success', due_at: null });
    expect(e.execution_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(e.started_at).toMatch(ISO);
    expect(e.completed_at).toMatch(ISO);
    const taskId = /^Created task (\S+)$/.exec(e.message)![1];
    const task = await call('GET', `/tasks/${taskId}`, { token: u.token });
    expect(task.status).toBe(200);
    expect(task.json.task).toMatchObject({ title: 'Weekly review', priority: 'high', tags: ['auto'], status: 'not_started' });
    const after = (await call('GET', `/processes/${p.process_id}`, { token: u.token })).json.process;
    expect(after.last_execution).toBe(e.started_at);
  });

  it('a create_task action without its own workspace lands in the process\'s', async () => {
    const u = await newUser();
    const ws = await call('POST', '/workspace', { token: u.token, body: { name: 'Ops' } });
    const wsId = ws.json.workspace.workspace_id;
    const p = await created(u, { workspace_id: wsId });
    const e = (await call('POST', `/processes/${p.process_id}/execute`, { token: u.token })).json.execution;
    const task = await call('GET', `/tasks/${e.message.split(' ').pop()}`, { token: u.token });
    expect(task.json.task.workspace_id).toBe(wsId);
  });

  it('records a failing action with its error (a task referencing a deleted workspace)', async () => {
    const u = await newUser();
    const ws = await call('POST', '/workspace', { token: u.token, body: { name: 'Gone' } });
    const wsId = ws.json.workspace.workspace_id;
    const p = await created(u, { action: { type: 'create_task', task: { title: 'x', workspace_id: wsId } } });
    await call('DELETE', `/workspace/${wsId}`, { token: u.token });
    const log = captureErrorLog();
    const res = await call('POST', `/processes/${p.process_id}/execute`, { token: u.token });
    expect(res.status).toBe(201);
    expect(res.json.execution).toMatchObject({ status: 'failed', message: 'Workspace not found' });
    expect(res.json.execution.completed_at).toMatch(ISO);
    expect(log.entries()).toEqual([
      { msg: 'process action failed', process_id: p.process_id, execution_id: res.json.execution.execution_id, error: 'Workspace not found' },
    ]);
  });

  it('lists executions newest first across pages; only the owner sees them', async () => {
    const u = await newUser();
    const p = await created(u, { trigger_type: 'manual' });
    const path = `/processes/${p.process_id}`;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await call('POST', `${path}/execute`, { token: u.token })).json.execution.execution_id);
    const first = await call('GET', `${path}/executions?limit=2`, { token: u.token });
    expect(first.status).toBe(200);
    expect(first.json.executions.map((e: { execution_id: string }) => e.execution_id)).toEqual([ids[2], ids[1]]);
    const second = await call('GET', `${path}/executions?limit=2&cursor=${first.json.next_cursor}`, { token: u.token });
    expect(second.json.executions.map((e: { execution_id: string }) => e.execution_id)).toEqual([ids[0]]);
    expect(second.json.next_cursor).toBeNull();
    expectError(await call('GET', `${path}/executions?limit=500`, { token: u.token }), 400, 'limit must be an integer between 1 and 100');
    expectError(await call('GET', `${path}/executions?cursor=!!`, { token: u.token }), 400, 'Invalid cursor');
    const other = await newUser();
    expectError(await call('GET', `${path}/executions`, { token: other.token }), 404, 'Process not found');
    expectError(await call('POST', `${path}/execute`, { token: other.token }), 404, 'Process not found');
    expect((await call('GET', `${path}/executions`, { token: u.token })).json.executions).toHaveLength(3);
  });

  it('runs an inactive process on demand', async () => {
    const u = await newUser();
    const p = await created(u, { is_active: false });
    const res = await call('POST', `/processes/${p.process_id}/execute`, { token: u.token });
    expect(res.json.execution.status).toBe('success');
  });
});

