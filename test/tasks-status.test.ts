import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { getDb } from '../src/db/client';
import { findTask, updateTask } from '../src/tasks/queries';
import { TASK_STATUSES } from '../src/tasks/status';
import { call, expectError, newUser, type TestUser } from './helpers';
import { makeAgent, makeTask, makeWorkspace, taskIn } from './tasks-fixtures';

// The move table from the issue, written out independently of src/tasks/status.ts.
const ALLOWED = new Set([
  'not_started>in_progress', 'not_started>blocked', 'not_started>completed', 'not_started>cancelled',
  'in_progress>not_started', 'in_progress>blocked', 'in_progress>completed', 'in_progress>cancelled',
  'blocked>not_started', 'blocked>in_progress', 'blocked>cancelled',
  'completed>in_progress',
]);
const pairs = TASK_STATUSES.flatMap((from) => TASK_STATUSES.map((to) => [from, to] as const));

let u: TestUser;
beforeAll(async () => {
  u = await newUser();
});

describe('status moves through PATCH (all 25 pairs)', () => {
  it('covers 25 pairs: 12 moves, 8 refusals, 5 no-ops', () => {
    expect(pairs).toHaveLength(25);
    expect(pairs.filter(([f, t]) => f !== t && !ALLOWED.has(`${f}>${t}`))).toHaveLength(8);
  });

  it.each(pairs)('%s -> %s', async (from, to) => {
    const t = await taskIn(u, from);
    const res = await call('PATCH', `/tasks/${t.task_id}`, { token: u.token, body: { status: to } });
    const after = (await call('GET', `/tasks/${t.task_id}`, { token: u.token })).json.task;
    if (from === to) {
      // Same status: a no-op, not a move and not an error; nothing is rewritten.
      expect(res.status).toBe(200);
      expect(res.json.task).toEqual(t);
      expect(after).toEqual(t);
    } else if (ALLOWED.has(`${from}>${to}`)) {
      expect(res.status).toBe(200);
      expect(res.json.task.status).toBe(to);
      expect(after.status).toBe(to);
      expect(after.completed_at === null).toBe(to !== 'completed');
    } else {
      expectError(res, 409, `Cannot move a task from ${from} to ${to}`);
      expect(res.json.code).toBe('invalid_status_transition');
      expect(after).toEqual(t);
    }
  });

  it('a refused move in a PATCH with other fields changes nothing', async () => {
    const t = await taskIn(u, 'cancelled');
    const res = await call('PATCH', `/tasks/${t.task_id}`, { token: u.token, body: { status: 'in_progress', title: 'Renamed' } });
    expectError(res, 409, 'Cannot move a task from cancelled to in_progress');
    expect((await call('GET', `/tasks/${t.task_id}`, { token: u.token })).json.task.title).toBe('A task');
  });

  it('reopening a completed task clears completed_at', async () => {
    const t = await taskIn(u, 'completed');
    expect(Date.parse(t.completed_at)).toBeGreaterThan(0);
    const res = await call('PATCH', `/tasks/${t.task_id}`, { token: u.token, body: { status: 'in_progress' } });
    expect(res.json.task).toMatchObject({ status: 'in_progress', completed_at: null });
  });

  it('rejects an unknown status with 400', async () => {
    const t = await makeTask(u);
    expectError(await call('PATCH', `/tasks/${t.task_id}`, { token: u.token, body: { status: 'done' } }), 400,
      'status must be one of not_started, in_progress, blocked, completed, cancelled');
  });
});

describe('POST /tasks/{task_id}/cancel', () => {
  it.each(['not_started', 'in_progress', 'blocked'])('cancels from %s', async (from) => {
    const t = await taskIn(u, from);
    const res = await call('POST', `/tasks/${t.task_id}/cancel`, { token: u.token });
    expect(res.status).toBe(200);
    expect(res.json.task).toMatchObject({ task_id: t.task_id, status: 'cancelled', completed_at: null });
  });

  it('refuses a completed task and an already cancelled one with 409', async () => {
    const done = await taskIn(u, 'completed');
    const r1 = await call('POST', `/tasks/${done.task_id}/cancel`, { token: u.token });
    expectError(r1, 409, 'Cannot move a task from completed to cancelled');
    expect(r1.json.code).toBe('invalid_status_transition');
    const gone = await taskIn(u, 'cancelled');
    const r2 = await call('POST', `/tasks/${gone.task_id}/cancel`, { token: u.token });
    expectError(r2, 409, 'Task is already cancelled');
    expect(r2.json.code).toBe('invalid_status_transition');
  });

  it('404s an unknown task', async () => {
    expectError(await call('POST', '/tasks/nope/cancel', { token: u.token }), 404, 'Task not found');
  });
});

describe('race safety', () => {
  it('an update conditioned on a stale status matches no row and changes nothing', async () => {
    const db = getDb(env);
    const t = await makeTask(u, { tags: ['a'] });
    await call('PATCH', `/tasks/${t.task_id}`, { token: u.token, body: { status: 'in_progress' } });
    // A second writer that read not_started before the first move landed:
    const lost = await updateTask(db, u.userId, t.task_id, { status: 'blocked', tags: '["b"]', updatedAt: Date.now() }, 'not_started');
    expect(lost).toBeNull();
    const row = await findTask(db, u.userId, t.task_id);
    expect(row).toMatchObject({ status: 'in_progress', tags: '["a"]' });
    // The tag index still matches the row: tag rows are derived from it in the same batch.
    const { results } = await env.DB.prepare('SELECT tag FROM task_tags WHERE task_id = ?').bind(t.task_id).all();
    expect(results).toEqual([{ tag: 'a' }]);
  });

  /**
   * env.DB wrapped so that `interleave` runs once, right before the first UPDATE of tasks
   * executes: another writer's move lands between the route's read and its write, every time.
   */
  function writeLandsFirst(interleave: (db: D1Database) => Promise<unknown>) {
    const real = env.DB;
    let fired = false;
    const wrap = <T extends object>(stmt: T): T =>
      new Proxy(stmt, {
        get(target, prop) {
          const value = Reflect.get(target, prop);
          if (typeof value !== 'function') return value;
          if (prop === 'bind') return (...args: unknown[]) => wrap(value.apply(target, args));
          if (!['all', 'raw', 'run', 'first'].includes(String(prop))) return value.bind(target);
          return async (...args: unknown[]) => {
            if (!fired) await interleave(real).then(() => (fired = true));
            return value.apply(target, args);
          };
        },
      });
    const db = new Proxy(real, {
      get(target, prop) {
        if (prop === 'prepare') return (sql: string) => (/^update "tasks"/i.test(sql) ? wrap(target.prepare(sql)) : target.prepare(sql));
        const value = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    return { db, fired: () => fired };
  }

  it.each([
    ['PATCH status=completed', (id: string) => call('PATCH', `/tasks/${id}`, { token: u.token, body: { status: 'completed', title: 'Mine' } })],
    ['POST /cancel', (id: string) => call('POST', `/tasks/${id}/cancel`, { token: u.token })],
  ])('%s: a move that lands after the read makes it 409 status_conflict and changes nothing', async (_name, send) => {
    const t = await makeTask(u);
    // The route reads not_started; before its write runs, another writer moves the task to in_progress
    // (from which completed and cancelled are both allowed: only the status guard can refuse it).
    const other = writeLandsFirst((db) => db.prepare("UPDATE tasks SET status = 'in_progress' WHERE id = ?").bind(t.task_id).run());
    const real = env.DB;
    (env as any).DB = other.db;
    const res = await send(t.task_id).finally(() => ((env as any).DB = real));
    expect(other.fired()).toBe(true);
    expectError(res, 409, 'The task changed while this request ran; read it again and retry');
    expect(res.json.code).toBe('status_conflict');
    const after = (await call('GET', `/tasks/${t.task_id}`, { token: u.token })).json.task;
    expect(after).toEqual({ ...t, status: 'in_progress' });
  });

  it('two simultaneous moves from the same status: exactly one lands', async () => {
    const t = await makeTask(u);
    const [a, b] = await Promise.all([
      call('PATCH', `/tasks/${t.task_id}`, { token: u.token, body: { status: 'completed' } }),
      call('POST', `/tasks/${t.task_id}/cancel`, { token: u.token }),
    ]);
    const statuses = [a.status, b.status].sort();
    // Either they serialize (the second sees the first's status: 409 either way) or they race (409 status_conflict).
    expect(statuses).toEqual([200, 409]);
  });
});

describe('PATCH /tasks/{task_id} fields', () => {
  it('changes fields partially, clears with null, rewrites tags', async () => {
    const ws = await makeWorkspace(u);
    const agent = await makeAgent(u.userId);
    const t = await makeTask(u, { description: 'd', due_date: '2030-01-01', tags: ['old', 'keep'], data: { a: 1 } });
    const res = await call('PATCH', `/tasks/${t.task_id}`, {
      token: u.token,
      body: { title: 'New', priority: 'high', tags: ['keep', 'new', 'new'], workspace_id: ws, agent_id: agent, data: [2] },
    });
    expect(res.status).toBe(200);
    expect(res.json.task).toMatchObject({
      title: 'New', description: 'd', priority: 'high', due_date: '2030-01-01T00:00:00.000Z', tags: ['keep', 'new'],
      workspace_id: ws, agent_id: agent, data: [2], status: 'not_started', created_at: t.created_at,
    });
    expect(Date.parse(res.json.task.updated_at)).toBeGreaterThanOrEqual(Date.parse(t.updated_at));
    const tagged = async (tag: string) => (await call('GET', `/tasks?tag=${tag}`, { token: u.token })).json.tasks.map((x: any) => x.task_id);
    expect(await tagged('old')).toEqual([]);
    expect(await tagged('new')).toEqual([t.task_id]);
    const cleared = await call('PATCH', `/tasks/${t.task_id}`, {
      token: u.token,
      body: { description: null, due_date: null, workspace_id: null, agent_id: null, data: null, tags: [] },
    });
    expect(cleared.json.task).toMatchObject({ description: null, due_date: null, workspace_id: null, agent_id: null, data: null, tags: [] });
    expect(await tagged('keep')).toEqual([]);
  });

  it('an empty body changes nothing; server-set fields are ignored, unknown ones refused', async () => {
    const t = await makeTask(u);
    const other = await newUser();
    const res = await call('PATCH', `/tasks/${t.task_id}`, {
      token: u.token,
      body: { task_id: 'x', created_at: '2000-01-01T00:00:00Z', completed_at: '2000-01-01T00:00:00Z' },
    });
    expect(res.status).toBe(200);
    expect(res.json.task).toEqual(t);
    const owner = await call('PATCH', `/tasks/${t.task_id}`, { token: u.token, body: { user_id: other.userId } });
    expectError(owner, 400, 'Unknown field: user_id');
    // The same status beside other fields: the status part is a no-op, the rest applies.
    const done = await taskIn(u, 'completed');
    const renamed = await call('PATCH', `/tasks/${done.task_id}`, { token: u.token, body: { status: 'completed', title: 'Renamed' } });
    expect(renamed.json.task).toMatchObject({ status: 'completed', title: 'Renamed', completed_at: done.completed_at });
  });

  it('checks ownership of workspace_id and agent_id, and validates fields', async () => {
    const other = await newUser();
    const t = await makeTask(u);
    const patch = (body: object) => call('PATCH', `/tasks/${t.task_id}`, { token: u.token, body });
    expectError(await patch({ workspace_id: await makeWorkspace(other) }), 404, 'Workspace not found');
    expectError(await patch({ agent_id: await makeAgent(other.userId) }), 404, 'Agent not found');
    expectError(await patch({ title: '' }), 400, 'title must not be empty');
    expectError(await patch({ title: null }), 400, 'title must not be empty');
    expectError(await patch({ priority: 'meh' }), 400, 'priority must be one of low, medium, high, urgent');
    expectError(await patch({ due_date: '31/01/2030' }), 400, 'due_date must be an ISO 8601 date or date-time (e.g. 2025-01-31T17:00:00Z)');
    expectError(await patch({ data: 'x'.repeat(20_000) }), 400, 'data must be at most 16384 bytes when serialized as JSON');
    expectError(await call('PATCH', `/tasks/${t.task_id}`, { token: u.token, body: 'nope' }), 400, 'Missing JSON in request');
    expect((await call('GET', `/tasks/${t.task_id}`, { token: u.token })).json.task).toEqual(t);
  });
});
