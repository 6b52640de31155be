import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { chatOwner } from './chat-helpers';
import { call, expectError, newUser } from './helpers';
import { create, created, ISO, taskAction } from './processes-fixtures';

describe('POST /processes', () => {
  it('creates a time-based process with its next run computed in its timezone', async () => {
    const u = await newUser();
    const res = await create(u, { description: 'Every Monday', schedule: ' 0  9 * * 1 ', timezone: 'america/new_york' });
    expect(res.status).toBe(201);
    const p = res.json.process;
    expect(p).toMatchObject({
      name: 'Review',
      description: 'Every Monday',
      trigger_type: 'time_based',
      schedule: '0 9 * * 1',
      timezone: 'America/New_York',
      is_active: true,
      workspace_id: null,
      last_execution: null,
      action: { type: 'create_task', task: { title: 'Weekly review', priority: 'high', tags: ['auto'] } },
    });
    expect(p.process_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(p).not.toHaveProperty('webhook_secret');
    for (const k of ['next_run_at', 'created_at', 'updated_at']) expect(p[k]).toMatch(ISO);
    const next = new Date(p.next_run_at);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(7 * 24 * 3600 * 1000);
    // 09:00 in New York is 13:00 or 14:00 UTC, on a Monday there.
    const local = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', weekday: 'short', hour: '2-digit', minute: '2-digit', hour12: false }).format(next);
    expect(local).toBe('Mon 09:00');
  });

  it('defaults: timezone UTC, active; a manual process has no next run; server fields are ignored, unknown ones refused', async () => {
    const u = await newUser();
    const other = await newUser();
    const p = await created(u, { trigger_type: 'manual', schedule: undefined, process_id: 'mine', next_run_at: '2020-01-01T00:00:00Z' });
    expect(p).toMatchObject({ timezone: 'UTC', is_active: true, trigger_type: 'manual', schedule: null, next_run_at: null });
    expect(p.process_id).not.toBe('mine');
    const unknown = await create(u, { user_id: other.userId, junk: 1 });
    expectError(unknown, 400, 'Unknown fields: user_id, junk');
    expect(unknown.json.fields).toEqual(['user_id', 'junk']);
    expectError(await call('GET', `/processes/${p.process_id}`, { token: other.token }), 404, 'Process not found');
  });

  it('an inactive time-based process has no next run', async () => {
    const u = await newUser();
    const p = await created(u, { is_active: false });
    expect(p.next_run_at).toBeNull();
  });

  it('takes a workspace of the user; another user\'s or an unknown one is 404', async () => {
    const u = await newUser();
    const other = await newUser();
    const ws = await call('POST', '/workspace', { token: u.token, body: { name: 'Ops' } });
    const wsId = ws.json.workspace.workspace_id;
    expect((await created(u, { workspace_id: wsId })).workspace_id).toBe(wsId);
    expectError(await create(other, { workspace_id: wsId }), 404, 'Workspace not found');
    expectError(await create(u, { workspace_id: 'nope' }), 404, 'Workspace not found');
    expectError(await create(u, { action: { type: 'create_task', task: { title: 'x', workspace_id: 'nope' } } }), 404, 'Workspace not found');
    expectError(await create(u, { action: { type: 'create_task', task: { title: 'x', agent_id: 'nope' } } }), 404, 'Agent not found');
  });

  it('post_message needs one of the user\'s chats', async () => {
    const { user, chatId } = await chatOwner();
    const other = await newUser();
    const p = await created(user, { action: { type: 'post_message', chat_id: chatId, content: 'Stand-up time' } });
    expect(p.action).toEqual({ type: 'post_message', chat_id: chatId, content: 'Stand-up time' });
    expectError(await create(other, { action: { type: 'post_message', chat_id: chatId, content: 'hi' } }), 404, 'Chat not found');
    expectError(await create(user, { action: { type: 'post_message', chat_id: 'nope', content: 'hi' } }), 404, 'Chat not found');
    expectError(await create(user, { action: { type: 'post_message', chat_id: chatId } }), 400, 'Missing content parameter');
    expectError(await create(user, { action: { type: 'post_message', content: 'x' } }), 400, 'Missing chat_id parameter');
    expectError(await create(user, { action: { type: 'post_message', chat_id: chatId, content: 'x'.repeat(40_000) } }), 400, 'content must be at most 32768 bytes');
  });

  it('a webhook shows its whsec_ secret once, on create, and never again', async () => {
    const u = await newUser();
    const res = await create(u, { action: { type: 'webhook', url: 'https://hooks.example.com/hook/x' } });
    expect(res.status).toBe(201);
    const secret: string = res.json.process.webhook_secret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(atob(secret.slice(6))).toHaveLength(32);
    expect(res.json.process.action).toEqual({ type: 'webhook', url: 'https://hooks.example.com/hook/x' });
    const id = res.json.process.process_id;
    const got = await call('GET', `/processes/${id}`, { token: u.token });
    expect(got.text).not.toContain(secret.slice(6));
    expect(got.json.process).not.toHaveProperty('webhook_secret');
    expect((await call('GET', '/processes', { token: u.token })).text).not.toContain(secret.slice(6));
    const patched = await call('PATCH', `/processes/${id}`, { token: u.token, body: { name: 'renamed', action: { type: 'webhook', url: 'https://hooks.example.com/hook/y' } } });
    expect(patched.status).toBe(200);
    expect(patched.text).not.toContain(secret.slice(6));
    expect(patched.json.process).not.toHaveProperty('webhook_secret');
  });

  it('refuses unsafe webhook URLs with 400', async () => {
    const u = await newUser();
    for (const url of ['http://hooks.example.com/x', 'https://10.0.0.1/x', 'https://[::ffff:127.0.0.1]/x', 'https://metadata.internal/x', 'https://printer.local/', 'https://intranet/', 'ftp://hooks.example.com/', 'not a url']) {
      const res = await create(u, { action: { type: 'webhook', url } });
      expectError(res, 400);
      expect(res.json.code).toBe('invalid_webhook_url');
    }
  });

  it('400 with a clear message for each invalid field', async () => {
    const u = await newUser();
    const cases: [Record<string, unknown>, string][] = [
      [{ name: undefined }, 'Missing name parameter'],
      [{ name: '  ' }, 'Missing name parameter'],
      [{ name: 'x'.repeat(201) }, 'name must be at most 200 characters'],
      [{ trigger_type: undefined }, 'Missing trigger_type parameter'],
      [{ trigger_type: 'event_based' }, 'trigger_type must be one of manual, time_based'],
      [{ schedule: undefined }, 'Missing schedule parameter'],
      [{ schedule: null }, 'Missing schedule parameter'],
      [{ schedule: '* * * *' }, 'schedule must be a 5-field cron expression'],
      [{ schedule: '0 0 * * * *' }, 'schedule must be a 5-field cron expression'],
      [{ schedule: '@daily' }, 'schedule must be a 5-field cron expression'],
      [{ schedule: '61 * * * *' }, 'Invalid schedule: Invalid value for minute: 61'],
      [{ schedule: '0 0 31 2 *' }, 'schedule never fires'],
      [{ schedule: 5 }, 'schedule must be a string'],
      [{ timezone: 'Mars/Olympus' }, 'Invalid timezone'],
      [{ timezone: 3 }, 'Invalid timezone'],
      [{ is_active: 'yes' }, 'is_active must be a boolean'],
      [{ description: 5 }, 'description must be a string'],
      [{ action: undefined }, 'Missing action parameter'],
      [{ action: { type: 'email' } }, 'action.type must be one of create_task, post_message, webhook'],
      [{ action: 'webhook' }, 'action.type must be one of create_task, post_message, webhook'],
      [{ action: { type: 'create_task' } }, 'Missing task parameter'],
      [{ action: { type: 'create_task', task: {} } }, 'Missing title parameter'],
      [{ action: { type: 'create_task', task: { title: 'x', priority: 'asap' } } }, 'priority must be one of low, medium, high, urgent'],
      [{ action: { type: 'webhook' } }, 'Missing url parameter'],
    ];
    for (const [body, msg] of cases) expectError(await create(u, body), 400, msg);
    expectError(await call('POST', '/processes', { token: u.token }), 400, 'Missing JSON in request');
    expectError(await call('POST', '/processes', { token: u.token, body: '{"name":' }), 400, 'Missing JSON in request');
    expectError(await call('POST', '/processes', { token: u.token, body: '[]' }), 400, 'Missing JSON in request');
  });

  it('stores a create_task action\'s task as sent, and refuses fields POST /tasks does not take', async () => {
    const u = await newUser();
    const p = await created(u, { action: { type: 'create_task', task: { title: 'T', due_date: '2030-01-01' } } });
    expect(p.action.task).toEqual({ title: 'T', due_date: '2030-01-01' });
    const unknown = await create(u, { action: { type: 'create_task', task: { title: 'T', user_id: 'x', task_id: 'y' } } });
    expectError(unknown, 400, 'Unknown fields: action.task.user_id, action.task.task_id');
  });
});

describe('GET /processes', () => {
  it('lists the user\'s own processes, newest first, across pages', async () => {
    const u = await newUser();
    const other = await newUser();
    await created(other);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await created(u, { name: `p${i}` })).process_id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const res = await call('GET', `/processes${q}`, { token: u.token });
      expect(res.status).toBe(200);
      expect(res.json.processes.length).toBeLessThanOrEqual(2);
      seen.push(...res.json.processes.map((p: { process_id: string }) => p.process_id));
      cursor = res.json.next_cursor;
    } while (cursor);
    expect(seen).toEqual(ids.reverse());
  });

  it('400 for a bad limit or cursor', async () => {
    const u = await newUser();
    expectError(await call('GET', '/processes?limit=0', { token: u.token }), 400, 'limit must be an integer between 1 and 100');
    expectError(await call('GET', '/processes?limit=101', { token: u.token }), 400, 'limit must be an integer between 1 and 100');
    expectError(await call('GET', '/processes?cursor=%%%', { token: u.token }), 400, 'Invalid cursor');
  });
});

describe('OpenAPI document', () => {
  it('lists every process route as bearer-authenticated', async () => {
    const doc = (await call('GET', '/openapi.json')).json;
    const ops = [
      ['/processes', 'post'], ['/processes', 'get'], ['/processes/{process_id}', 'get'], ['/processes/{process_id}', 'patch'],
      ['/processes/{process_id}', 'delete'], ['/processes/{process_id}/execute', 'post'], ['/processes/{process_id}/executions', 'get'],
    ];
    for (const [path, method] of ops) expect(doc.paths[path]?.[method]?.security).toEqual([{ bearerAuth: [] }]);
  });
});

describe('authorization on every route', () => {
  const routes = (id: string): [string, string, unknown?][] => [
    ['POST', '/processes', { name: 'x', trigger_type: 'manual', action: taskAction }],
    ['GET', '/processes'],
    ['GET', `/processes/${id}`],
    ['PATCH', `/processes/${id}`, { name: 'y' }],
    ['DELETE', `/processes/${id}`],
    ['POST', `/processes/${id}/execute`],
    ['GET', `/processes/${id}/executions`],
  ];

  it('401 without a token or with a bad one', async () => {
    const u = await newUser();
    const p = await created(u);
    for (const [method, path, body] of routes(p.process_id)) {
      expectError(await call(method, path, { body }), 401, 'Missing Authorization Header');
      expectError(await call(method, path, { body, token: 'not-a-jwt' }), 401, 'Invalid token');
    }
    expect((await call('GET', `/processes/${p.process_id}`, { token: u.token })).json.process.name).toBe('Review');
  });

  it("404 for another user's process and for unknown or malformed ids", async () => {
    const u = await newUser();
    const other = await newUser();
    const p = await created(u);
    for (const id of [p.process_id, '0190a4c1-0000-7000-8000-000000000000', 'not-an-id']) {
      for (const [method, path, body] of routes(id).slice(2)) {
        expectError(await call(method, path, { body, token: id === p.process_id ? other.token : u.token }), 404, 'Process not found');
      }
    }
    expect((await call('GET', '/processes', { token: other.token })).json.processes).toEqual([]);
    const n = await env.DB.prepare('SELECT count(*) AS n FROM process_executions WHERE process_id = ?').bind(p.process_id).first<{ n: number }>();
    expect(n!.n).toBe(0);
  });
});
