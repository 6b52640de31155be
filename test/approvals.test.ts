import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import worker from '../src/index';
import { getDb } from '../src/db/client';
import { selectWalk, expireDueQuery } from '../src/approvals/queries';
import { createToolApproval, expireApprovals } from '../src/approvals/service';
import { call, expectError, newUser, withVars, type TestUser } from './helpers';

const db = () => getDb(env);
const UNKNOWN = '0198f3a2-0000-7000-8000-000000000000';

const raise = async (u: TestUser, body: unknown = { title: 'Ship it' }) => {
  const res = await call('POST', '/approvals', { token: u.token, body });
  expect(res.status, res.text).toBe(201);
  return res.json.approval;
};
const get = (u: TestUser, id: string) => call('GET', `/approvals/${id}`, { token: u.token });
const decide = (u: TestUser, id: string, verb: 'approve' | 'reject', body?: unknown) => call('POST', `/approvals/${id}/${verb}`, { token: u.token, body });
const pastExpiry = (id: string) => env.DB.prepare('UPDATE approvals SET expires_at = ? WHERE id = ?').bind(Date.now() - 1000, id).run();

async function runCron() {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: '* * * * *' }), env, ctx);
  await waitOnExecutionContext(ctx);
}

/** A chat of the user's (run-linked approvals notify its object). */
async function chatOf(u: TestUser): Promise<string> {
  const ws = await call('POST', '/workspace', { token: u.token, body: { name: 'approvals' } });
  const chat = await call('POST', `/chat?workspace_id=${ws.json.workspace.workspace_id}`, { token: u.token, body: { title: 'approvals' } });
  expect(chat.status, chat.text).toBe(200);
  return chat.json.chat.chat_id;
}

/**
 * Observes (never replaces) the chat objects' approvalDecided RPC: every stub is the real one,
 * with calls of that one method recorded before they are forwarded.
 */
async function observeRooms<T>(fn: (calls: unknown[][]) => Promise<T>): Promise<T> {
  const real = env.CHAT_ROOM;
  const calls: unknown[][] = [];
  const observed = {
    idFromName: (name: string) => real.idFromName(name),
    get: (id: DurableObjectId) => {
      const stub = real.get(id) as any;
      return new Proxy(stub, {
        get(target, prop) {
          if (prop === 'approvalDecided') {
            return (...args: unknown[]) => {
              calls.push(args);
              return target.approvalDecided(...args);
            };
          }
          const v = target[prop];
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    },
  };
  (env as any).CHAT_ROOM = observed;
  try {
    return await fn(calls);
  } finally {
    (env as any).CHAT_ROOM = real;
  }
}

const toolApproval = (u: TestUser, chatId: string, callId = 'call_1', now = Date.now(), runId = crypto.randomUUID()) =>
  createToolApproval(db(), { userId: u.userId, runId, chatId, callId, tool: 'send_email', arguments: { to: 'a@example.com' }, title: 'Run send_email', now, timeoutSeconds: 3600 });

describe('POST /approvals', () => {
  it('raises a pending approval that expires after APPROVAL_TIMEOUT_SECONDS', async () => {
    const u = await newUser();
    const before = Date.now();
    const a = await withVars({ APPROVAL_TIMEOUT_SECONDS: '120' }, () =>
      raise(u, { title: 'Publish the report', description: 'Q3', payload: { file: 'q3.pdf', n: [1, 2] } }),
    );
    expect(a).toEqual({
      approval_id: expect.any(String),
      title: 'Publish the report',
      description: 'Q3',
      payload: { file: 'q3.pdf', n: [1, 2] },
      status: 'pending',
      reason: null,
      run_id: null,
      call_id: null,
      tool: null,
      arguments: null,
      created_at: expect.any(String),
      expires_at: expect.any(String),
      decided_at: null,
    });
    const created = Date.parse(a.created_at);
    expect(created).toBeGreaterThanOrEqual(before);
    expect(Date.parse(a.expires_at) - created).toBe(120_000);
    const minimal = await raise(u, { title: 'x' });
    expect(minimal).toMatchObject({ description: null, payload: null });
  });

  it('refuses a bad body with 400, and no token with 401', async () => {
    const u = await newUser();
    const t = u.token;
    expectError(await call('POST', '/approvals', { token: t }), 400, 'Missing JSON in request');
    expectError(await call('POST', '/approvals', { token: t, body: 'not json' }), 400, 'Missing JSON in request');
    expectError(await call('POST', '/approvals', { token: t, body: {} }), 400, 'Missing title parameter');
    expectError(await call('POST', '/approvals', { token: t, body: { title: '   ' } }), 400, 'Missing title parameter');
    expectError(await call('POST', '/approvals', { token: t, body: { title: 'x'.repeat(201) } }), 400, 'title must be at most 200 characters');
    expectError(await call('POST', '/approvals', { token: t, body: { title: 'x', description: 'd'.repeat(2001) } }), 400, 'description must be at most 2000 characters');
    expectError(await call('POST', '/approvals', { token: t, body: { title: 'x', payload: { big: 'p'.repeat(16 * 1024) } } }), 400, 'payload must be at most 16384 bytes when serialized as JSON');
    const unknown = await call('POST', '/approvals', { token: t, body: { title: 'x', priority: 'high' } });
    expectError(unknown, 400, 'Unknown field: priority');
    expect(unknown.json.code).toBe('unknown_field');
    // Fields only the server sets, sent back from a read, are dropped, never taken.
    const echoed = await call('POST', '/approvals', { token: t, body: { title: 'x', status: 'approved', reason: 'me' } });
    expect(echoed.status).toBe(201);
    expect(echoed.json.approval).toMatchObject({ status: 'pending', reason: null });
    expectError(await call('POST', '/approvals', { body: { title: 'x' } }), 401, 'Missing Authorization Header');
  });
});

describe('GET /approvals/{approval_id}', () => {
  it("answers the caller's approval; another user's and an unknown one are 404", async () => {
    const u = await newUser();
    const other = await newUser();
    const a = await raise(u);
    const res = await get(u, a.approval_id);
    expect(res.status).toBe(200);
    expect(res.json.approval).toEqual(a);
    for (const [who, id] of [[other, a.approval_id], [u, UNKNOWN], [u, 'not-an-id']] as const) {
      const r = await get(who, id);
      expectError(r, 404, 'Approval not found');
      expect(r.json.code).toBe('approval_not_found');
    }
    expectError(await call('GET', `/approvals/${a.approval_id}`), 401);
  });
});

describe('approve and reject', () => {
  it('approve and reject set the state, the reason and decided_at; the body is optional', async () => {
    const u = await newUser();
    const a = await raise(u);
    const b = await raise(u);
    const ok = await decide(u, a.approval_id, 'approve', { reason: 'Looks right.' });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json.approval).toMatchObject({ approval_id: a.approval_id, status: 'approved', reason: 'Looks right.', decided_at: expect.any(String) });
    const no = await call('POST', `/approvals/${b.approval_id}/reject`, { token: u.token });
    expect(no.status, no.text).toBe(200);
    expect(no.json.approval).toMatchObject({ status: 'rejected', reason: null, decided_at: expect.any(String) });
    expect((await get(u, b.approval_id)).json.approval.status).toBe('rejected');
  });

  it('a second decision is 409 approval_decided naming the current state', async () => {
    const u = await newUser();
    const a = await raise(u);
    expect((await decide(u, a.approval_id, 'reject')).status).toBe(200);
    for (const verb of ['approve', 'reject'] as const) {
      const again = await decide(u, a.approval_id, verb, { reason: 'late' });
      expectError(again, 409, 'Approval is already rejected');
      expect(again.json.code).toBe('approval_decided');
    }
    expect((await get(u, a.approval_id)).json.approval).toMatchObject({ status: 'rejected', reason: null });
  });

  it('of two concurrent decisions exactly one wins', async () => {
    const u = await newUser();
    for (const verbs of [['approve', 'approve'], ['approve', 'reject']] as const) {
      const a = await raise(u);
      const results = await Promise.all(verbs.map((v) => decide(u, a.approval_id, v)));
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 409]);
      const winner = results.find((r) => r.status === 200)!.json.approval.status;
      const loser = results.find((r) => r.status === 409)!;
      expect(loser.json).toMatchObject({ code: 'approval_decided', msg: `Approval is already ${winner}` });
      expect((await get(u, a.approval_id)).json.approval.status).toBe(winner);
    }
  });

  it('an expired approval the cron has not swept yet answers 409 and is marked expired', async () => {
    const u = await newUser();
    const a = await raise(u);
    await pastExpiry(a.approval_id);
    const res = await decide(u, a.approval_id, 'approve');
    expectError(res, 409, 'Approval is already expired');
    expect(res.json.code).toBe('approval_decided');
    expect((await get(u, a.approval_id)).json.approval).toMatchObject({ status: 'expired', decided_at: expect.any(String), reason: null });
  });

  it("refuses another user's (404), a bad body (400) and no token (401)", async () => {
    const u = await newUser();
    const other = await newUser();
    const a = await raise(u);
    for (const verb of ['approve', 'reject'] as const) {
      const r = await decide(other, a.approval_id, verb);
      expectError(r, 404, 'Approval not found');
      expect(r.json.code).toBe('approval_not_found');
      expectError(await decide(u, UNKNOWN, verb), 404, 'Approval not found');
      expectError(await decide(u, a.approval_id, verb, { reason: 'r'.repeat(2001) }), 400, 'reason must be at most 2000 characters');
      expectError(await decide(u, a.approval_id, verb, { reason: 7 }), 400, 'reason must be a string');
      expectError(await decide(u, a.approval_id, verb, '[1]'), 400, 'Missing JSON in request');
      expect((await decide(u, a.approval_id, verb, { why: 'x' })).json.code).toBe('unknown_field');
      expectError(await call('POST', `/approvals/${a.approval_id}/${verb}`), 401);
    }
    expect((await get(u, a.approval_id)).json.approval.status).toBe('pending');
  });
});

describe('GET /approvals', () => {
  it('lists pending first, then decided, each newest first, across pages', async () => {
    const u = await newUser();
    const other = await newUser();
    await raise(other, { title: 'not yours' });
    const rows: any[] = [];
    for (const t of ['a', 'b', 'c', 'd', 'e']) rows.push(await raise(u, { title: t }));
    const id = (t: string) => rows.find((r) => r.title === t).approval_id;
    expect((await decide(u, id('b'), 'approve')).status).toBe(200);
    expect((await decide(u, id('d'), 'reject')).status).toBe(200);
    const expected = ['e', 'c', 'a', 'd', 'b'];

    const walk = async (query: string, limit: number) => {
      const titles: string[][] = [];
      let cursor: string | null = null;
      do {
        const res = await call('GET', `/approvals?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: u.token });
        expect(res.status, res.text).toBe(200);
        titles.push(res.json.approvals.map((x: any) => x.title));
        cursor = res.json.next_cursor;
      } while (cursor && titles.length < 10);
      return titles;
    };
    expect(await walk('', 50)).toEqual([expected]);
    for (const limit of [1, 2, 3, 4, 5]) expect((await walk('', limit)).flat(), `limit ${limit}`).toEqual(expected);
    expect(await walk('', 2)).toEqual([['e', 'c'], ['a', 'd'], ['b']]);
    expect(await walk('', 3)).toEqual([['e', 'c', 'a'], ['d', 'b']]);
    expect(await walk('&status=pending', 2)).toEqual([['e', 'c'], ['a']]);
    expect(await walk('&status=approved', 1)).toEqual([['b']]);
    expect(await walk('&status=rejected', 5)).toEqual([['d']]);
    expect(await walk('&status=expired', 5)).toEqual([[]]);
  });

  it('refuses a bad status, limit or cursor (400) and no token (401)', async () => {
    const u = await newUser();
    await raise(u);
    await raise(u);
    expectError(await call('GET', '/approvals?status=done', { token: u.token }), 400, 'status must be one of pending, approved, rejected, expired');
    expectError(await call('GET', '/approvals?limit=0', { token: u.token }), 400, 'limit must be an integer between 1 and 100');
    expectError(await call('GET', '/approvals?cursor=zzz', { token: u.token }), 400, 'Invalid cursor');
    expectError(await call('GET', `/approvals?cursor=${btoa(`x|1|${UNKNOWN}`)}`, { token: u.token }), 400, 'Invalid cursor');
    // A cursor of the pending walk means nothing in a list of approved ones.
    const page = await call('GET', '/approvals?limit=1&status=pending', { token: u.token });
    expect(page.json.next_cursor).toEqual(expect.any(String));
    const mixed = await call('GET', `/approvals?status=approved&cursor=${page.json.next_cursor}`, { token: u.token });
    expectError(mixed, 400, 'Invalid cursor');
    expect(mixed.json.code).toBe('invalid_cursor');
    expectError(await call('GET', '/approvals'), 401);
  });

  it('each walk and the sweep go through an index that gives their order, and a cursor seeks', async () => {
    const after = { phase: 'p' as const, createdAt: Date.now(), id: UNKNOWN };
    const cases: [string, ReturnType<typeof selectWalk>, string][] = [
      ['pending', selectWalk(db(), 'user', 'p', undefined, null, 51), 'approvals_user_status_idx'],
      ['pending after', selectWalk(db(), 'user', 'p', undefined, after, 51), 'approvals_user_status_idx'],
      ['decided', selectWalk(db(), 'user', 'd', undefined, null, 51), 'approvals_user_created_idx'],
      ['decided after', selectWalk(db(), 'user', 'd', undefined, { ...after, phase: 'd' }, 51), 'approvals_user_created_idx'],
      ['approved after', selectWalk(db(), 'user', 'd', 'approved', { ...after, phase: 'd' }, 51), 'approvals_user_status_idx'],
    ];
    for (const [name, query, index] of cases) {
      const q = query.toSQL();
      const plan = (await env.DB.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).bind(...q.params).all<{ detail: string }>()).results.map((r) => r.detail).join('\n');
      expect(plan, name).toContain(index);
      expect(plan, name).not.toMatch(/TEMP B-TREE|SCAN approvals/);
    }
    const q = expireDueQuery(db(), Date.now(), 200).toSQL();
    const plan = (await env.DB.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).bind(...q.params).all<{ detail: string }>()).results.map((r) => r.detail).join('\n');
    expect(plan).toContain('approvals_pending_expiry_idx');
    expect(plan).not.toMatch(/SCAN approvals(?! USING)/);
  });
});

describe('run-linked approvals', () => {
  it('createToolApproval is idempotent on (run_id, call_id)', async () => {
    const u = await newUser();
    const chatId = await chatOf(u);
    const runId = crypto.randomUUID();
    const first = await toolApproval(u, chatId, 'call_1', Date.now(), runId);
    expect(first).toMatchObject({ status: 'pending', runId, chatId, callId: 'call_1', tool: 'send_email', userId: u.userId });
    expect(first.expiresAt! - first.createdAt).toBe(3600_000);
    const again = await toolApproval(u, chatId, 'call_1', Date.now() + 5000, runId);
    expect(again).toEqual(first);
    const second = await toolApproval(u, chatId, 'call_2', Date.now(), runId);
    expect(second.id).not.toBe(first.id);
    const res = await get(u, first.id);
    expect(res.json.approval).toMatchObject({ run_id: runId, call_id: 'call_1', tool: 'send_email', arguments: { to: 'a@example.com' }, title: 'Run send_email' });
    // Decided, it stays decided: a retried step gets the decided row back.
    expect((await decide(u, first.id, 'approve')).status).toBe(200);
    expect((await toolApproval(u, chatId, 'call_1', Date.now(), runId)).status).toBe('approved');
    const n = await env.DB.prepare('SELECT count(*) AS n FROM approvals WHERE run_id = ?').bind(runId).first<{ n: number }>();
    expect(n!.n).toBe(2);
  });

  it("a decision tells the run's chat object (approved with its reason, rejected), after the answer", async () => {
    const u = await newUser();
    const chatId = await chatOf(u);
    await observeRooms(async (calls) => {
      const yes = await toolApproval(u, chatId, 'call_yes');
      const no = await toolApproval(u, chatId, 'call_no');
      const mine = await raise(u);
      expect((await decide(u, yes.id, 'approve', { reason: 'fine' })).status).toBe(200);
      expect((await decide(u, no.id, 'reject')).status).toBe(200);
      expect((await decide(u, mine.approval_id, 'approve')).status).toBe(200);
      // The loser of a second decision tells nobody.
      expect((await decide(u, yes.id, 'reject')).status).toBe(409);
      await vi.waitFor(() => expect(calls).toHaveLength(2));
      expect(calls).toEqual(
        expect.arrayContaining([
          [yes.runId, 'call_yes', { approvalId: yes.id, status: 'approved', reason: 'fine' }],
          [no.runId, 'call_no', { approvalId: no.id, status: 'rejected', reason: null }],
        ]),
      );
      await new Promise((r) => setTimeout(r, 50));
      expect(calls).toHaveLength(2);
    });
  });
});

describe('expiry', () => {
  it('the cron expires pending approvals past expires_at, notifies run-linked ones, and leaves the rest', async () => {
    const u = await newUser();
    const chatId = await chatOf(u);
    const { due, tool, fresh, decided } = await withVars({ APPROVAL_TIMEOUT_SECONDS: '1' }, async () => ({
      due: await raise(u, { title: 'due' }),
      tool: await toolApproval(u, chatId, 'call_due'),
      fresh: await raise(u, { title: 'fresh' }),
      decided: await raise(u, { title: 'decided' }),
    }));
    expect((await decide(u, decided.approval_id, 'approve')).status).toBe(200);
    await pastExpiry(due.approval_id);
    await pastExpiry(tool.id);
    await pastExpiry(decided.approval_id);
    await observeRooms(async (calls) => {
      await runCron();
      expect(calls).toEqual([[tool.runId, 'call_due', { approvalId: tool.id, status: 'expired', reason: null }]]);
      await runCron();
      expect(calls).toHaveLength(1);
    });
    expect((await get(u, due.approval_id)).json.approval).toMatchObject({ status: 'expired', decided_at: expect.any(String) });
    expect((await get(u, tool.id)).json.approval.status).toBe('expired');
    expect((await get(u, decided.approval_id)).json.approval.status).toBe('approved');
    expect((await get(u, fresh.approval_id)).json.approval.status).toBe('pending');
    expectError(await decide(u, due.approval_id, 'approve'), 409, 'Approval is already expired');
  });

  it('one tick expires at most its batch, soonest expiry first', async () => {
    const u = await newUser();
    const now = Date.now();
    const rows: any[] = [];
    for (const ago of [3000, 1000, 2000]) {
      const a = await raise(u, { title: `${ago}` });
      await env.DB.prepare('UPDATE approvals SET expires_at = ? WHERE id = ?').bind(now - ago, a.approval_id).run();
      rows.push(a);
    }
    const statuses = async () => Promise.all(rows.map(async (a) => (await get(u, a.approval_id)).json.approval.status));
    expect(await expireApprovals(env, now, 2)).toBe(2);
    expect(await statuses()).toEqual(['expired', 'pending', 'expired']);
    expect(await expireApprovals(env, now, 2)).toBe(1);
    expect(await statuses()).toEqual(['expired', 'expired', 'expired']);
    expect(await expireApprovals(env, now, 2)).toBe(0);
  });
});
