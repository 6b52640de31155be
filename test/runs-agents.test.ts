import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { getDb } from '../src/db/client';
import { upsertRun } from '../src/runs/queries';
import { call, type TestUser } from './helpers';
import { agentInChat, makeAgent, seedRun } from './runs-fixtures';

// Runs are written by the chat's Durable Object; these tests seed them through the same upsertRun.

const statusOf = async (u: TestUser, agentId: string) => (await call('GET', `/agents/${agentId}`, { token: u.token })).json.agent.status;

/** Every page of GET /agents with `q`, one agent per page: [name, status] pairs. */
async function listed(u: TestUser, q: string) {
  const out: [string, string][] = [];
  let cursor: string | null = null;
  do {
    const res = await call('GET', `/agents?limit=1${q}${cursor ? `&cursor=${cursor}` : ''}`, { token: u.token });
    expect(res.status, res.text).toBe(200);
    out.push(...res.json.agents.map((a: any) => [a.name, a.status] as [string, string]));
    cursor = res.json.next_cursor;
  } while (cursor);
  return out;
}

describe('an agent reports running while it has a live run', () => {
  it('GET /agents/{agent_id}: queued or running run → running; final runs → its stored status again', async () => {
    const o = await agentInChat();
    expect(await statusOf(o.user, o.agentId)).toBe('idle');
    const run = await seedRun(o, { status: 'queued', startedAt: null });
    expect(await statusOf(o.user, o.agentId)).toBe('running');
    await upsertRun(getDb(env), { ...run, status: 'running', startedAt: Date.now(), updatedAt: run.updatedAt! + 1 });
    expect(await statusOf(o.user, o.agentId)).toBe('running');
    // Stopping a running agent stores offline; it still reports running until the run ends.
    const stopped = await call('POST', `/agents/${o.agentId}/stop`, { token: o.user.token });
    expect(stopped.json.agent.status).toBe('running');
    const patched = await call('PATCH', `/agents/${o.agentId}`, { token: o.user.token, body: { role: 'triage' } });
    expect(patched.json.agent.status).toBe('running');
    await upsertRun(getDb(env), { ...run, status: 'completed', finishedAt: Date.now(), updatedAt: run.updatedAt! + 2 });
    expect(await statusOf(o.user, o.agentId)).toBe('offline');
    expect((await call('POST', `/agents/${o.agentId}/start`, { token: o.user.token })).json.agent.status).toBe('idle');
    // Another agent's live run, even in the same chat, is not this one's.
    const other = await makeAgent(o.user, 'Other');
    await seedRun({ ...o, agentId: other }, { status: 'running' });
    expect(await statusOf(o.user, o.agentId)).toBe('idle');
    expect(await statusOf(o.user, other)).toBe('running');
  });

  it('GET /agents shows it, and ?status= matches exactly the status each agent reports, page by page', async () => {
    const o = await agentInChat();
    const names = ['a0', 'a1', 'a2', 'a3', 'a4', 'a5'];
    const ids: Record<string, string> = { a_: o.agentId };
    for (const n of names) ids[n] = await makeAgent(o.user, n);
    await call('POST', `/agents/${ids.a1}/stop`, { token: o.user.token });
    await call('POST', `/agents/${ids.a4}/stop`, { token: o.user.token });
    for (const n of ['a1', 'a2', 'a5']) await seedRun({ ...o, agentId: ids[n] }, { status: n === 'a5' ? 'queued' : 'running' });
    await seedRun({ ...o, agentId: ids.a3 }, { status: 'completed' });
    await seedRun({ ...o, agentId: ids.a4 }, { status: 'failed' });

    expect(await listed(o.user, '')).toEqual([
      ['a5', 'running'],
      ['a4', 'offline'],
      ['a3', 'idle'],
      ['a2', 'running'],
      ['a1', 'running'],
      ['a0', 'idle'],
      ['Helper', 'idle'],
    ]);
    expect(await listed(o.user, '&status=running')).toEqual([
      ['a5', 'running'],
      ['a2', 'running'],
      ['a1', 'running'],
    ]);
    expect(await listed(o.user, '&status=idle')).toEqual([
      ['a3', 'idle'],
      ['a0', 'idle'],
      ['Helper', 'idle'],
    ]);
    expect(await listed(o.user, '&status=offline')).toEqual([['a4', 'offline']]);
    expect(await listed(o.user, '&status=running&type=nope')).toEqual([]);
    const page = await call('GET', '/agents?status=running&limit=2', { token: o.user.token });
    expect(page.json.agents.map((a: any) => a.name)).toEqual(['a5', 'a2']);
    expect(page.json.next_cursor).toEqual(expect.any(String));
  });

  it("another user's live runs never make my agents running", async () => {
    const mine = await agentInChat();
    const theirs = await agentInChat('theirs');
    await seedRun(theirs, { status: 'running' });
    expect(await statusOf(mine.user, mine.agentId)).toBe('idle');
    expect(await listed(mine.user, '&status=running')).toEqual([]);
    expect(await statusOf(theirs.user, theirs.agentId)).toBe('running');
  });

  it('the list checks live runs per agent through the live-runs index, walking the live-agents index', async () => {
    const plan = await env.DB.prepare(
      `EXPLAIN QUERY PLAN SELECT * FROM agents WHERE user_id = ? AND deleted_at IS NULL
         AND EXISTS (SELECT 1 FROM runs AS live WHERE live.agent_id = agents.id AND live.status IN ('queued', 'running'))
         ORDER BY created_at DESC, id DESC LIMIT 51`,
    )
      .bind('u')
      .all<{ detail: string }>();
    const detail = plan.results.map((r) => r.detail).join('\n');
    expect(detail).toContain('agents_user_live_created_idx');
    expect(detail).toContain('runs_live_agent_idx');
    expect(detail).not.toMatch(/TEMP B-TREE/);
  });
});
