import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { getDb } from '../src/db/client';
import { selectTasks } from '../src/tasks/queries';
import type { TaskFilters } from '../src/tasks/schemas';
import { call, expectError, newUser, type Json, type TestUser } from './helpers';
import { makeAgent, makeTask, makeWorkspace, taskIn } from './tasks-fixtures';

const ids = (tasks: Json[]) => tasks.map((t) => t.task_id);
const list = async (u: TestUser, qs = '') => {
  const res = await call('GET', `/tasks${qs ? `?${qs}` : ''}`, { token: u.token });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json as { tasks: Json[]; next_cursor: string | null };
};

let u: TestUser;
let ws: string;
let agent: string;
let all: Json[]; // newest first
beforeAll(async () => {
  u = await newUser();
  ws = await makeWorkspace(u);
  agent = await makeAgent(u.userId);
  const specs: Json[] = [
    { priority: 'low', tags: ['ops'], due_date: '2030-01-01T00:00:00Z' },
    { priority: 'high', tags: ['ops', 'docs'], workspace_id: ws, due_date: '2030-02-01T00:00:00Z' },
    { status: 'in_progress', agent_id: agent, due_date: '2030-03-01T00:00:00Z' },
    { status: 'blocked', priority: 'urgent', workspace_id: ws, agent_id: agent },
    { tags: ['docs'] },
    { priority: 'high' },
    { status: 'in_progress', tags: ['ops'], due_date: '2030-04-01T00:00:00Z' },
  ];
  all = [];
  for (const s of specs) all.unshift(await makeTask(u, s));
});

describe('GET /tasks', () => {
  it('pages newest first with limit 3 across three pages, no gaps or repeats', async () => {
    const p1 = await list(u, 'limit=3');
    const p2 = await list(u, `limit=3&cursor=${p1.next_cursor}`);
    const p3 = await list(u, `limit=3&cursor=${p2.next_cursor}`);
    expect([p1.tasks.length, p2.tasks.length, p3.tasks.length]).toEqual([3, 3, 1]);
    expect(p3.next_cursor).toBeNull();
    expect(ids([...p1.tasks, ...p2.tasks, ...p3.tasks])).toEqual(ids(all));
    expect((await list(u)).tasks).toEqual(all);
  });

  it('filters by each field, and pages through a filtered list', async () => {
    const expectIds = async (qs: string, pick: (t: Json) => boolean) => expect(ids((await list(u, qs)).tasks)).toEqual(ids(all.filter(pick)));
    await expectIds('status=in_progress', (t) => t.status === 'in_progress');
    await expectIds('status=completed', () => false);
    await expectIds('priority=high', (t) => t.priority === 'high');
    await expectIds(`agent_id=${agent}`, (t) => t.agent_id === agent);
    await expectIds(`workspace_id=${ws}`, (t) => t.workspace_id === ws);
    await expectIds('tag=ops', (t) => t.tags.includes('ops'));
    await expectIds('tag=docs', (t) => t.tags.includes('docs'));
    await expectIds('tag=none', () => false);
    await expectIds(`status=in_progress&tag=ops`, (t) => t.status === 'in_progress' && t.tags.includes('ops'));
    // due_after is inclusive, due_before exclusive; both skip tasks without a due date.
    await expectIds('due_after=2030-02-01T00:00:00Z', (t) => t.due_date >= '2030-02-01');
    await expectIds('due_before=2030-02-01', (t) => t.due_date !== null && t.due_date < '2030-02-01');
    await expectIds('due_after=2030-02-01&due_before=2030-04-01', (t) => t.due_date >= '2030-02-01' && t.due_date < '2030-04-01');
    const ops = all.filter((t) => t.tags.includes('ops'));
    const first = await list(u, 'tag=ops&limit=2');
    const rest = await list(u, `tag=ops&limit=2&cursor=${first.next_cursor}`);
    expect(ids([...first.tasks, ...rest.tasks])).toEqual(ids(ops));
    expect(rest.next_cursor).toBeNull();
  });

  it('pages through due-range lists by the cursor: no repeats, every row once, newest first', async () => {
    /** Follows next_cursor to the end; each page's task ids. */
    const pages = async (qs: string, limit: number) => {
      const out: string[][] = [];
      for (let cursor: string | null = null; out.length < 10; ) {
        const p = await list(u, `${qs}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
        out.push(ids(p.tasks));
        if (!(cursor = p.next_cursor)) break;
      }
      return out;
    };
    const due = (pick: (d: string) => boolean) => ids(all.filter((t) => t.due_date !== null && pick(t.due_date)));
    const cases: [string, number, string[]][] = [
      ['due_after=2030-01-01', 3, due(() => true)],
      ['due_before=2030-04-01', 2, due((d) => d < '2030-04-01')],
      ['due_after=2030-01-15&due_before=2030-05-01', 1, due((d) => d >= '2030-01-15')],
    ];
    for (const [qs, limit, expected] of cases) {
      expect(expected.length, qs).toBeGreaterThan(limit);
      // Page n is rows n*limit.. of the whole list: a page that ignored the cursor would repeat page 1.
      const chunks = expected.map((_, i) => expected.slice(i * limit, (i + 1) * limit)).filter((c) => c.length > 0);
      expect(await pages(qs, limit), qs).toEqual(chunks);
    }
  });

  it('rejects bad filter values with 400', async () => {
    const bad = async (qs: string, msg: string) => expectError(await call('GET', `/tasks?${qs}`, { token: u.token }), 400, msg);
    await bad('status=done', 'status must be one of not_started, in_progress, blocked, completed, cancelled');
    await bad('priority=p1', 'priority must be one of low, medium, high, urgent');
    await bad('due_before=soon', 'due_before must be an ISO 8601 date or date-time (e.g. 2025-01-31T17:00:00Z)');
    await bad('due_after=2030-13-01', 'due_after must be an ISO 8601 date or date-time (e.g. 2025-01-31T17:00:00Z)');
    await bad('tag=', 'tag must not be empty');
    await bad('limit=0', 'limit must be an integer between 1 and 100');
    await bad('limit=101', 'limit must be an integer between 1 and 100');
    await bad('cursor=!!!', 'Invalid cursor');
  });
});

describe('GET /tasks/stats', () => {
  it('counts by status and priority with zeros, overall and per workspace', async () => {
    const v = await newUser();
    const w = await makeWorkspace(v);
    await makeTask(v, { priority: 'urgent', workspace_id: w });
    await taskIn(v, 'completed');
    await taskIn(v, 'cancelled');
    await makeTask(v, { status: 'blocked', priority: 'low', workspace_id: w });
    const res = await call('GET', '/tasks/stats', { token: v.token });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      stats: {
        total: 4,
        by_status: { not_started: 1, in_progress: 0, blocked: 1, completed: 1, cancelled: 1 },
        by_priority: { low: 1, medium: 2, high: 0, urgent: 1 },
      },
    });
    const inWs = await call('GET', `/tasks/stats?workspace_id=${w}`, { token: v.token });
    expect(inWs.json.stats).toEqual({
      total: 2,
      by_status: { not_started: 1, in_progress: 0, blocked: 1, completed: 0, cancelled: 0 },
      by_priority: { low: 1, medium: 0, high: 0, urgent: 1 },
    });
    // Another user's workspace id counts nothing (the filter is within the caller's own tasks).
    expect((await call('GET', `/tasks/stats?workspace_id=${w}`, { token: u.token })).json.stats.total).toBe(0);
  });
});

describe('indexes back every filter and the default order', () => {
  const cursor = btoa(`${Date.now()}|x`);
  const cases: [string, TaskFilters][] = [
    ['default', {}],
    ['status', { status: 'in_progress' }],
    ['priority', { priority: 'high' }],
    ['agent_id', { agent_id: 'a' }],
    ['workspace_id', { workspace_id: 'w' }],
    ['tag', { tag: 'ops' }],
    ['due_before', { due_before: Date.now() }],
    ['due_after', { due_after: Date.now() }],
  ];
  it.each(cases)('%s', async (_name, filters) => {
    for (const cur of [undefined, cursor]) {
      const q = selectTasks(getDb(env), 'user', filters, 50, cur).toSQL();
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).bind(...q.params).all<{ detail: string }>();
      const plan = results.map((r) => r.detail);
      // Every access to a table goes through an index (SEARCH ... USING INDEX), never a bare SCAN.
      for (const step of plan.filter((d) => /^(SCAN|SEARCH) /.test(d))) expect(step, plan.join('\n')).toMatch(/USING (COVERING |PRIMARY KEY|INDEX)/);
      expect(plan.some((d) => /^SCAN (tasks|task_tags)$/.test(d)), plan.join('\n')).toBe(false);
      // The index gives the order, except for a due range, which sorts the page's ids only (a covering index).
      if (!_name.startsWith('due_')) expect(plan.join('\n')).not.toMatch(/TEMP B-TREE/);
      else if (!cur) expect(plan.join('\n')).toMatch(/COVERING INDEX tasks_user_due_idx/);
      if (_name === 'tag') expect(plan[0]).toMatch(/^SEARCH task_tags USING COVERING INDEX task_tags_user_tag_idx/);
      if (cur) expect(plan.join('\n')).toMatch(/\(created_at,(task_)?id\)<\(\?,\?\)/); // the cursor seeks
    }
  });

  it.each(['status', 'priority'])('stats by %s reads only its covering index', async (col) => {
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN SELECT ${col}, count(*) FROM tasks WHERE user_id = ? GROUP BY ${col}`)
      .bind('u')
      .all<{ detail: string }>();
    expect(results.map((r) => r.detail).join('\n')).toMatch(new RegExp(`USING COVERING INDEX tasks_user_${col}_idx`));
  });
});
