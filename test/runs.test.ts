import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { getDb } from '../src/db/client';
import { newId } from '../src/lib/ids';
import {
  agentsWithLiveRuns,
  INTERRUPTED_MSG,
  liveAgentsQuery,
  selectUserRuns,
  sweepStaleRuns,
  sweepStaleRunsQuery,
  upsertRun,
  upsertRunStatements,
} from '../src/runs/queries';
import { call, expectError, newUser } from './helpers';
import { agentInChat, makeAgent, runRow, seedRun, storedRun, type RunOwner } from './runs-fixtures';

// Runs are normally written by the chat's Durable Object (upsertRun at the start and the end of
// each run); these tests seed them directly through upsertRun, with no model behind them.

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UNKNOWN = '0190c5a0-0000-7000-8000-000000000000';
const db = () => getDb(env);

/** Every page of GET /runs with `q`, one run per page, as run ids. */
async function allPages(o: RunOwner, q: string, limit = 1): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | null = null;
  do {
    const res = await call('GET', `/runs?limit=${limit}${q}${cursor ? `&cursor=${cursor}` : ''}`, { token: o.user.token });
    expect(res.status, res.text).toBe(200);
    expect(res.json.runs.length).toBeLessThanOrEqual(limit);
    out.push(...res.json.runs.map((r: any) => r.run_id));
    cursor = res.json.next_cursor;
  } while (cursor);
  return out;
}

describe('GET /runs/{run_id}', () => {
  it('answers the one run shape: ISO times, model, usage, error, timings', async () => {
    const o = await agentInChat();
    const t0 = Date.parse('2027-03-01T09:30:00.000Z');
    const row = await seedRun(o, {
      status: 'completed',
      replyToSeq: 12,
      replyMessageId: newId(),
      inputTokens: 412,
      outputTokens: 96,
      finishReason: 'stop',
      createdAt: t0,
      startedAt: t0 + 20,
      firstTokenAt: t0 + 480,
      finishedAt: t0 + 2100,
      updatedAt: t0 + 2100,
    });
    const res = await call('GET', `/runs/${row.id}`, { token: o.user.token });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      run: {
        run_id: row.id,
        agent_id: o.agentId,
        chat_id: o.chatId,
        workspace_id: o.workspaceId,
        status: 'completed',
        trigger: 'message',
        parent_run_id: null,
        depth: 0,
        reply_to_seq: 12,
        reply_message_id: row.replyMessageId,
        model: { provider: 'openai-compatible', name: 'gpt-4o-mini' },
        usage: { input_tokens: 412, output_tokens: 96, estimated: false },
        cost: null,
        finish_reason: 'stop',
        error: null,
        created_at: '2027-03-01T09:30:00.000Z',
        started_at: '2027-03-01T09:30:00.020Z',
        first_token_at: '2027-03-01T09:30:00.480Z',
        finished_at: '2027-03-01T09:30:02.100Z',
        timings: { time_to_first_token_ms: 460, duration_ms: 2080 },
        tool_calls: [],
        sub_runs: [],
      },
    });
  });

  it('a live run has nulls where nothing is known yet; a failed one has its error', async () => {
    const o = await agentInChat();
    const live = await seedRun(o, { status: 'queued', trigger: 'http', replyToSeq: null, startedAt: null });
    const res = await call('GET', `/runs/${live.id}`, { token: o.user.token });
    expect(res.json.run).toMatchObject({
      status: 'queued',
      trigger: 'http',
      reply_to_seq: null,
      reply_message_id: null,
      usage: null,
      cost: null,
      finish_reason: null,
      error: null,
      started_at: null,
      first_token_at: null,
      finished_at: null,
      timings: { time_to_first_token_ms: null, duration_ms: null },
    });
    expect(res.json.run.created_at).toMatch(ISO);
    const failed = await seedRun(o, { status: 'failed', errorCode: 'model_error', errorMsg: 'The model endpoint failed', finishedAt: Date.now() + 5, outputTokens: 3 });
    const f = (await call('GET', `/runs/${failed.id}`, { token: o.user.token })).json.run;
    expect(f.error).toEqual({ code: 'model_error', msg: 'The model endpoint failed' });
    expect(f.usage).toEqual({ input_tokens: 0, output_tokens: 3, estimated: false });
    expect(f.timings).toEqual({ time_to_first_token_ms: null, duration_ms: 5 });
  });

  it("404 Run not found for an unknown, a malformed and another user's run", async () => {
    const o = await agentInChat();
    const row = await seedRun(o);
    const other = await newUser();
    for (const id of [UNKNOWN, 'not-a-run', '%20']) {
      const res = await call('GET', `/runs/${id}`, { token: o.user.token });
      expectError(res, 404, 'Run not found');
      expect(res.json.code).toBe('run_not_found');
    }
    const theirs = await call('GET', `/runs/${row.id}`, { token: other.token });
    expectError(theirs, 404, 'Run not found');
    expect(theirs.json.code).toBe('run_not_found');
    expect(theirs.text).not.toContain(o.chatId);
  });
});

describe('GET /runs', () => {
  it('lists newest first with cursors, filtered by agent, chat and status, and never shows another user\'s runs', async () => {
    const o = await agentInChat();
    const secondAgent = await makeAgent(o.user, 'Second');
    const otherChat = (await call('POST', `/chat?workspace_id=${o.workspaceId}`, { token: o.user.token })).json.chat.chat_id;
    const base = Date.now() - 60_000;
    const spec: [agent: string, chat: string, status: 'running' | 'completed' | 'failed' | 'cancelled' | 'queued'][] = [
      [o.agentId, o.chatId, 'completed'],
      [o.agentId, otherChat, 'failed'],
      [secondAgent, o.chatId, 'completed'],
      [secondAgent, otherChat, 'cancelled'],
      [o.agentId, o.chatId, 'running'],
      [secondAgent, o.chatId, 'queued'],
    ];
    const ids: string[] = [];
    for (const [i, [agentId, chatId, status]] of spec.entries()) {
      ids.push((await seedRun({ ...o, agentId, chatId }, { status, createdAt: base + i * 1000 })).id);
    }
    // Two runs in the same millisecond: the id breaks the tie.
    const tieA = (await seedRun(o, { status: 'completed', createdAt: base - 5000 })).id;
    const tieB = (await seedRun(o, { status: 'completed', createdAt: base - 5000 })).id;
    const stranger = await agentInChat('stranger');
    await seedRun(stranger, { status: 'completed' });

    const newest = [...ids].reverse();
    const ties = [tieA, tieB].sort().reverse();
    expect(await allPages(o, '')).toEqual([...newest, ...ties]);
    expect(await allPages(o, '', 100)).toEqual([...newest, ...ties]);
    expect(await allPages(o, `&agent_id=${secondAgent}`)).toEqual([ids[5], ids[3], ids[2]]);
    expect(await allPages(o, `&chat_id=${otherChat}`)).toEqual([ids[3], ids[1]]);
    expect(await allPages(o, '&status=completed')).toEqual([ids[2], ids[0], ...ties]);
    expect(await allPages(o, `&agent_id=${o.agentId}&chat_id=${o.chatId}&status=running`)).toEqual([ids[4]]);
    expect(await allPages(o, '&status=queued')).toEqual([ids[5]]);
    // Another user's agent or chat as a filter: an empty list, not an error.
    expect(await allPages(o, `&agent_id=${stranger.agentId}`)).toEqual([]);
    expect(await allPages(o, `&chat_id=${stranger.chatId}`)).toEqual([]);
    expect(await allPages(stranger, '')).toHaveLength(1);

    const page = await call('GET', '/runs?limit=2', { token: o.user.token });
    expect(page.json.runs.map((r: any) => r.run_id)).toEqual(newest.slice(0, 2));
    expect(page.json.runs[0]).toMatchObject({ agent_id: secondAgent, chat_id: o.chatId, status: 'queued' });
    expect(page.json.next_cursor).toEqual(expect.any(String));
  });

  it('a new user has no runs', async () => {
    const u = await newUser();
    const res = await call('GET', '/runs', { token: u.token });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ runs: [], next_cursor: null });
  });

  it('400 for a status outside the run statuses, a bad cursor or limit', async () => {
    const u = await newUser();
    for (const status of ['done', 'RUNNING', '']) {
      const res = await call('GET', `/runs?status=${status}`, { token: u.token });
      expectError(res, 400, 'status must be one of queued, running, requires_action, waiting_approval, completed, failed, cancelled');
      expect(res.json.code).toBe('validation_error');
    }
    expectError(await call('GET', '/runs?cursor=@@', { token: u.token }), 400, 'Invalid cursor');
    expectError(await call('GET', '/runs?limit=0', { token: u.token }), 400, 'limit must be an integer between 1 and 100');
    expectError(await call('GET', '/runs?limit=101', { token: u.token }), 400, 'limit must be an integer between 1 and 100');
  });

  it('every filter walks a runs_user_* index that gives the order, and a cursor seeks', async () => {
    const cursor = btoa(`${Date.now()}|${UNKNOWN}`).replace(/=+$/, '');
    const cases: [string, Parameters<typeof selectUserRuns>[2], string][] = [
      ['none', {}, 'runs_user_created_idx'],
      ['agent', { agentId: 'a' }, 'runs_user_agent_idx'],
      ['chat', { chatId: 'c' }, 'runs_user_chat_idx'],
      ['status', { status: 'failed' }, 'runs_user_status_idx'],
    ];
    for (const [name, filters, index] of cases) {
      for (const cur of [undefined, cursor]) {
        const q = selectUserRuns(db(), 'user', filters, 50, cur).toSQL();
        const plan = (await env.DB.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).bind(...q.params).all<{ detail: string }>()).results.map((r) => r.detail).join('\n');
        expect(plan, name).toContain(index);
        expect(plan, name).not.toMatch(/TEMP B-TREE|SCAN runs/);
        if (cur) expect(plan, name).toMatch(/\(created_at,id\)<\(\?,\?\)/);
      }
    }
  });
});

describe('authentication on the runs routes', () => {
  it.each(['/runs', `/runs/${UNKNOWN}`])('GET %s: 401 without a token, with a bad token, and after logout', async (path) => {
    expectError(await call('GET', path), 401, 'Missing Authorization Header');
    expectError(await call('GET', path, { token: 'not.a.jwt' }), 401, 'Invalid token');
    const user = await newUser();
    await call('POST', '/auth/logout', { token: user.token });
    expectError(await call('GET', path, { token: user.token }), 401, 'Session has been revoked');
  });
});

describe('upsertRun (the chat object writes runs through it)', () => {
  it('inserts, then updates every mutable column while the run is live; who, where and when it was made never change', async () => {
    const o = await agentInChat();
    const t = Date.now();
    const queued = runRow(o, { status: 'queued', startedAt: null, createdAt: t, updatedAt: t });
    await upsertRun(db(), queued);
    expect(await storedRun(queued.id)).toMatchObject({ status: 'queued', started_at: null, updated_at: t });
    const other = await agentInChat('other');
    await upsertRun(db(), {
      ...queued,
      userId: other.user.userId,
      agentId: other.agentId,
      chatId: other.chatId,
      workspaceId: other.workspaceId,
      trigger: 'code',
      createdAt: 1,
      status: 'running',
      startedAt: t + 1,
      firstTokenAt: t + 2,
      model: 'other-model',
      updatedAt: t + 2,
    });
    expect(await storedRun(queued.id)).toMatchObject({
      user_id: o.user.userId,
      agent_id: o.agentId,
      chat_id: o.chatId,
      workspace_id: o.workspaceId,
      trigger: 'message',
      created_at: t,
      status: 'running',
      started_at: t + 1,
      first_token_at: t + 2,
      model: 'other-model',
      updated_at: t + 2,
    });
  });

  it('never overwrites a final state: a late or retried live write, another final state, or the same one again change nothing', async () => {
    const o = await agentInChat();
    const t = Date.now();
    const running = runRow(o, { status: 'running', createdAt: t, startedAt: t, updatedAt: t });
    const completed = { ...running, status: 'completed' as const, inputTokens: 10, outputTokens: 5, finishReason: 'stop', finishedAt: t + 100, updatedAt: t + 100 };
    await upsertRun(db(), running);
    await upsertRun(db(), completed);
    const final = await storedRun(running.id);
    expect(final).toMatchObject({ status: 'completed', input_tokens: 10, finished_at: t + 100 });
    // The alarm retries the "running" write after the final one landed; then a later one, then a retry of the final one.
    await upsertRun(db(), running);
    await upsertRun(db(), { ...running, updatedAt: t + 500 });
    await upsertRun(db(), completed);
    await upsertRun(db(), { ...completed, status: 'failed', errorCode: 'run_interrupted', errorMsg: INTERRUPTED_MSG, updatedAt: t + 900 });
    await upsertRun(db(), { ...completed, status: 'cancelled', updatedAt: t + 1000 });
    expect(await storedRun(running.id)).toEqual(final);
  });

  it('an older live write never takes a run back (running to queued)', async () => {
    const o = await agentInChat();
    const t = Date.now();
    const queued = runRow(o, { status: 'queued', startedAt: null, createdAt: t, updatedAt: t });
    await upsertRun(db(), queued);
    await upsertRun(db(), { ...queued, status: 'running', startedAt: t + 10, updatedAt: t + 10 });
    await upsertRun(db(), queued); // a retried first write
    expect(await storedRun(queued.id)).toMatchObject({ status: 'running', started_at: t + 10, updated_at: t + 10 });
  });

  it('upsertRunStatements batch several runs in one transaction, with the same guards', async () => {
    const o = await agentInChat();
    const t = Date.now();
    const a = runRow(o, { status: 'completed', finishedAt: t, updatedAt: t });
    const b = runRow(o, { status: 'running' });
    const [first, ...rest] = upsertRunStatements(db(), [a, b, { ...a, status: 'running', updatedAt: t + 1 }]);
    await db().batch([first, ...rest]);
    expect((await storedRun(a.id))?.status).toBe('completed');
    expect((await storedRun(b.id))?.status).toBe('running');
    expect(upsertRunStatements(db(), [])).toEqual([]);
  });
});

describe('sweepStaleRuns', () => {
  it('fails live runs not written since the cutoff with run_interrupted, leaves the rest, and is idempotent', async () => {
    const o = await agentInChat();
    const now = Date.now();
    const cutoff = now - 1000;
    const staleRunning = await seedRun(o, { status: 'running', updatedAt: cutoff - 1 });
    const staleQueued = await seedRun(o, { status: 'queued', startedAt: null, updatedAt: cutoff - 50_000 });
    const fresh = await seedRun(o, { status: 'running', updatedAt: cutoff });
    const done = await seedRun(o, { status: 'completed', finishedAt: cutoff - 10, updatedAt: cutoff - 10 });
    // Other tests' stale runs may be swept too: count only this test's.
    const swept = await sweepStaleRuns(db(), cutoff, now);
    expect(swept).toBeGreaterThanOrEqual(2);
    for (const r of [staleRunning, staleQueued]) {
      expect(await storedRun(r.id)).toMatchObject({
        status: 'failed',
        error_code: 'run_interrupted',
        error_msg: "The run was interrupted: the chat's object stopped while it was live",
        finished_at: now,
        updated_at: now,
      });
    }
    expect((await storedRun(fresh.id))?.status).toBe('running');
    expect(await storedRun(done.id)).toMatchObject({ status: 'completed', error_code: null, finished_at: cutoff - 10 });
    expect(await sweepStaleRuns(db(), cutoff, now + 1)).toBe(0);
    const run = (await call('GET', `/runs/${staleRunning.id}`, { token: o.user.token })).json.run;
    expect(run).toMatchObject({ status: 'failed', error: { code: 'run_interrupted', msg: INTERRUPTED_MSG } });
    // The object finishing it late changes nothing: the sweep's final state stays.
    await upsertRun(db(), { ...staleRunning, status: 'completed', updatedAt: now + 5 });
    expect((await storedRun(staleRunning.id))?.status).toBe('failed');
  });

  it('finds stale runs through the live-runs index', async () => {
    const q = sweepStaleRunsQuery(db(), 1, 2).toSQL();
    const plan = (await env.DB.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).bind(...q.params).all<{ detail: string }>()).results.map((r) => r.detail).join('\n');
    expect(plan).toContain('runs_live_updated_idx');
  });
});

describe('agentsWithLiveRuns', () => {
  it('answers which agents have a live run, for any number of ids (chunked under 100 parameters)', async () => {
    const o = await agentInChat();
    const busy = await makeAgent(o.user, 'Busy');
    const queuedOnly = await makeAgent(o.user, 'Queued');
    const finished = await makeAgent(o.user, 'Done');
    await seedRun({ ...o, agentId: busy }, { status: 'running' });
    await seedRun({ ...o, agentId: busy }, { status: 'completed' });
    await seedRun({ ...o, agentId: queuedOnly }, { status: 'queued' });
    await seedRun({ ...o, agentId: finished }, { status: 'failed' });
    await seedRun({ ...o, agentId: finished }, { status: 'cancelled' });
    const unknown = Array.from({ length: 250 }, () => newId());
    const ids = [...unknown.slice(0, 120), busy, ...unknown.slice(120), queuedOnly, finished, o.agentId, busy];
    expect([...(await agentsWithLiveRuns(db(), ids))].sort()).toEqual([busy, queuedOnly].sort());
    expect(await agentsWithLiveRuns(db(), [])).toEqual(new Set());
    expect(await agentsWithLiveRuns(db(), [finished])).toEqual(new Set());
  });

  it('answers from the live-runs partial index', async () => {
    const q = liveAgentsQuery(db(), ['a', 'b']).toSQL();
    const plan = (await env.DB.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).bind(...q.params).all<{ detail: string }>()).results.map((r) => r.detail).join('\n');
    expect(plan).toContain('runs_live_agent_idx');
  });
});
