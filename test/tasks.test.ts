import { describe, expect, it } from 'vitest';
import { DATA_MAX_BYTES, TAGS_MAX } from '../src/tasks/schemas';
import { call, expectError, newUser } from './helpers';
import { makeAgent, makeTask, makeWorkspace } from './tasks-fixtures';

describe('POST /tasks', () => {
  it('creates a task with defaults and answers 201 with the full shape', async () => {
    const u = await newUser();
    const res = await call('POST', '/tasks', { token: u.token, body: { title: '  Write docs ' } });
    expect(res.status).toBe(201);
    const t = res.json.task;
    expect(Object.keys(t).sort()).toEqual(
      ['agent_id', 'completed_at', 'created_at', 'data', 'description', 'due_date', 'priority', 'status', 'tags', 'task_id', 'title', 'updated_at', 'workspace_id'],
    );
    expect(t).toMatchObject({
      title: 'Write docs', description: null, status: 'not_started', priority: 'medium', due_date: null, tags: [],
      agent_id: null, workspace_id: null, data: null, completed_at: null,
    });
    expect(t.task_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(new Date(t.created_at).toISOString()).toBe(t.created_at);
    const got = await call('GET', `/tasks/${t.task_id}`, { token: u.token });
    expect(got.json.task).toEqual(t);
  });

  it('stores every field: workspace, agent, due date, deduplicated tags, data', async () => {
    const u = await newUser();
    const ws = await makeWorkspace(u);
    const agent = await makeAgent(u.userId);
    const data = { steps: [1, 2, { ok: true }], note: 'ünïcode' };
    const t = await makeTask(u, {
      description: 'Details', status: 'blocked', priority: 'urgent', due_date: '2030-05-01T12:30:00+02:00',
      tags: ['ops', ' ops ', 'docs'], agent_id: agent, workspace_id: ws, data,
    });
    expect(t).toMatchObject({
      description: 'Details', status: 'blocked', priority: 'urgent', due_date: '2030-05-01T10:30:00.000Z',
      tags: ['ops', 'docs'], agent_id: agent, workspace_id: ws, data,
    });
    expect((await makeTask(u, { due_date: '2030-05-01' })).due_date).toBe('2030-05-01T00:00:00.000Z');
    expect((await makeTask(u, { data: [1, 'two'] })).data).toEqual([1, 'two']);
  });

  it("ignores a task's server-set fields and refuses unknown ones (mass assignment)", async () => {
    const u = await newUser();
    const other = await newUser();
    const t = await makeTask(u, {
      task_id: 'chosen-id', created_at: '2000-01-01T00:00:00Z', updated_at: '2000-01-01T00:00:00Z',
      completed_at: '2000-01-01T00:00:00Z',
    });
    expect(t.task_id).not.toBe('chosen-id');
    expect(t.created_at.startsWith('2000')).toBe(false);
    expect(t.completed_at).toBeNull();
    const unknown = await call('POST', '/tasks', { token: u.token, body: { title: 'T', user_id: other.userId, owner: other.userId, extra: 1 } });
    expectError(unknown, 400, 'Unknown fields: user_id, owner, extra');
    expect(unknown.json.fields).toEqual(['user_id', 'owner', 'extra']);
    expect((await call('GET', `/tasks/${t.task_id}`, { token: u.token })).status).toBe(200);
    expectError(await call('GET', `/tasks/${t.task_id}`, { token: other.token }), 404, 'Task not found');
  });

  it('rejects bad input with clear messages', async () => {
    const u = await newUser();
    const bad = async (body: unknown, msg: string) =>
      expectError(await call('POST', '/tasks', { token: u.token, body: body as object }), 400, msg);
    await bad({}, 'Missing title parameter');
    await bad({ title: '   ' }, 'Missing title parameter');
    await bad({ title: 5 }, 'Missing title parameter');
    await bad({ title: 'x'.repeat(201) }, 'title must be at most 200 characters');
    await bad({ title: 't', status: 'completed' }, 'A task is created not_started, in_progress, blocked');
    await bad({ title: 't', status: 'cancelled' }, 'A task is created not_started, in_progress, blocked');
    await bad({ title: 't', priority: 'critical' }, 'priority must be one of low, medium, high, urgent');
    await bad({ title: 't', due_date: 'tomorrow' }, 'due_date must be an ISO 8601 date or date-time (e.g. 2025-01-31T17:00:00Z)');
    await bad({ title: 't', tags: 'ops' }, 'tags must be an array of strings');
    await bad({ title: 't', tags: [1] }, 'tags must be an array of strings');
    await bad({ title: 't', tags: [''] }, 'tags must not contain empty strings');
    await bad({ title: 't', tags: ['x'.repeat(51)] }, 'each tag must be at most 50 characters');
    await bad({ title: 't', tags: Array.from({ length: TAGS_MAX + 1 }, (_, i) => `t${i}`) }, `at most ${TAGS_MAX} tags`);
    await bad({ title: 't', description: 7 }, 'description must be a string');
    await bad({ title: 't', workspace_id: 7 }, 'workspace_id must be a string');
    expectError(await call('POST', '/tasks', { token: u.token, body: 'not json' }), 400, 'Missing JSON in request');
    expectError(await call('POST', '/tasks', { token: u.token, body: '[1]' }), 400, 'Missing JSON in request');
    expectError(await call('POST', '/tasks', { token: u.token }), 400, 'Missing JSON in request');
  });

  it('caps data at 16 KiB serialized (the limit itself is accepted)', async () => {
    const u = await newUser();
    const fits = { s: 'x'.repeat(DATA_MAX_BYTES - 8) }; // {"s":"..."} is 8 bytes of wrapping
    expect(JSON.stringify(fits).length).toBe(DATA_MAX_BYTES);
    expect((await makeTask(u, { data: fits })).data).toEqual(fits);
    const res = await call('POST', '/tasks', { token: u.token, body: { title: 't', data: { s: 'x'.repeat(DATA_MAX_BYTES) } } });
    expectError(res, 400, `data must be at most ${DATA_MAX_BYTES} bytes when serialized as JSON`);
    // Multi-byte characters count as bytes, not characters.
    const wide = await call('POST', '/tasks', { token: u.token, body: { title: 't', data: 'é'.repeat(DATA_MAX_BYTES / 2) } });
    expectError(wide, 400, `data must be at most ${DATA_MAX_BYTES} bytes when serialized as JSON`);
  });

  it("404s on a workspace or agent that is not the user's, and writes nothing", async () => {
    const u = await newUser();
    const other = await newUser();
    const theirWs = await makeWorkspace(other);
    const theirAgent = await makeAgent(other.userId);
    const post = (body: object) => call('POST', '/tasks', { token: u.token, body: { title: 't', ...body } });
    expectError(await post({ workspace_id: theirWs }), 404, 'Workspace not found');
    expectError(await post({ workspace_id: 'nope' }), 404, 'Workspace not found');
    expectError(await post({ agent_id: theirAgent }), 404, 'Agent not found');
    expectError(await post({ agent_id: 'nope' }), 404, 'Agent not found');
    expect((await call('GET', '/tasks', { token: u.token })).json.tasks).toEqual([]);
  });
});

describe('GET, DELETE /tasks/{task_id}', () => {
  it('gets and deletes; the deleted task and its tags are gone', async () => {
    const u = await newUser();
    const t = await makeTask(u, { tags: ['gone'] });
    const del = await call('DELETE', `/tasks/${t.task_id}`, { token: u.token });
    expect(del.status).toBe(200);
    expect(del.json).toEqual({ msg: 'Task deleted' });
    expectError(await call('GET', `/tasks/${t.task_id}`, { token: u.token }), 404, 'Task not found');
    expectError(await call('DELETE', `/tasks/${t.task_id}`, { token: u.token }), 404, 'Task not found');
    expect((await call('GET', '/tasks?tag=gone', { token: u.token })).json.tasks).toEqual([]);
  });

  it('a malformed id is a 404 like an unknown one', async () => {
    const u = await newUser();
    expectError(await call('GET', '/tasks/not-a-uuid', { token: u.token }), 404, 'Task not found');
    expectError(await call('GET', '/tasks/0190c6d8-0000-7000-8000-000000000000', { token: u.token }), 404, 'Task not found');
  });

  it("deleting a workspace deletes the tasks in it", async () => {
    const u = await newUser();
    const ws = await makeWorkspace(u);
    const inside = await makeTask(u, { workspace_id: ws });
    const outside = await makeTask(u);
    expect((await call('DELETE', `/workspace/${ws}`, { token: u.token })).status).toBe(200);
    expectError(await call('GET', `/tasks/${inside.task_id}`, { token: u.token }), 404, 'Task not found');
    expect((await call('GET', `/tasks/${outside.task_id}`, { token: u.token })).status).toBe(200);
  });
});

describe('authorization on every task route', () => {
  const routes = (id: string): [string, string, object?][] => [
    ['POST', '/tasks', { title: 't' }],
    ['GET', '/tasks'],
    ['GET', '/tasks/stats'],
    ['GET', `/tasks/${id}`],
    ['PATCH', `/tasks/${id}`, { title: 'x' }],
    ['POST', `/tasks/${id}/cancel`],
    ['DELETE', `/tasks/${id}`],
  ];

  it('no token is 401 Missing Authorization Header; a bad token is 401 Invalid token', async () => {
    const u = await newUser();
    const t = await makeTask(u);
    for (const [method, path, body] of routes(t.task_id)) {
      expectError(await call(method, path, { body }), 401, 'Missing Authorization Header');
      expectError(await call(method, path, { body, token: 'not.a.jwt' }), 401, 'Invalid token');
    }
  });

  it("another user's task is a 404 on every route and stays untouched", async () => {
    const owner = await newUser();
    const other = await newUser();
    const t = await makeTask(owner, { tags: ['mine'] });
    for (const [method, path, body] of routes(t.task_id).slice(3)) {
      expectError(await call(method, path, { body, token: other.token }), 404, 'Task not found');
    }
    expect((await call('GET', '/tasks', { token: other.token })).json.tasks).toEqual([]);
    expect((await call('GET', '/tasks?tag=mine', { token: other.token })).json.tasks).toEqual([]);
    expect((await call('GET', '/tasks/stats', { token: other.token })).json.stats.total).toBe(0);
    const still = await call('GET', `/tasks/${t.task_id}`, { token: owner.token });
    expect(still.json.task).toEqual(t);
  });
});
