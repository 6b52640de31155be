import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it } from 'vitest';
import { runDueProcesses } from '../src/processes/cron';
import { getDb } from '../src/db/client';
import { dueProcessesQuery } from '../src/processes/queries';
import { call, expectError, newUser, withVars, type TestUser } from './helpers';
import { create, created, YEARLY } from './processes-fixtures';

const MINUTE = 60_000;
const active = async (u: TestUser) =>
  (await env.DB.prepare('SELECT count(*) AS n FROM processes WHERE user_id = ? AND is_active = 1').bind(u.userId).first<{ n: number }>())!.n;
const makeDue = (ids: string[], dueAt: number) =>
  env.DB.batch(ids.map((id) => env.DB.prepare('UPDATE processes SET next_run_at = ? WHERE id = ?').bind(dueAt, id)));

// This file shares one database: no due process of a test outlives it.
afterEach(async () => {
  await env.DB.prepare('UPDATE processes SET is_active = 0, next_run_at = NULL').run();
});

describe('PROCESS_MAX_ACTIVE_PER_USER', () => {
  it('creating an active process past the cap is 409 process_limit_reached; an inactive one is fine', async () => {
    const u = await newUser();
    await withVars({ PROCESS_MAX_ACTIVE_PER_USER: '2' }, async () => {
      await created(u);
      await created(u, { trigger_type: 'manual', schedule: undefined });
      const res = await create(u);
      expectError(res, 409, 'At most 2 active processes per user: disable or delete one first');
      expect(res.json.code).toBe('process_limit_reached');
      const paused = await created(u, { is_active: false });
      expect(paused.is_active).toBe(false);
      expect(await active(u)).toBe(2);
      // Another user has their own allowance.
      await created(await newUser());
    });
  });

  it('enabling one past the cap is 409 and leaves it off; other changes and a disabled slot work', async () => {
    const u = await newUser();
    await withVars({ PROCESS_MAX_ACTIVE_PER_USER: '1' }, async () => {
      const on = await created(u);
      const off = await created(u, { is_active: false });
      const res = await call('PATCH', `/processes/${off.process_id}`, { token: u.token, body: { is_active: true } });
      expectError(res, 409);
      expect(res.json.code).toBe('process_limit_reached');
      expect((await call('GET', `/processes/${off.process_id}`, { token: u.token })).json.process.is_active).toBe(false);
      // An active one may be "enabled" again and renamed; a paused one renamed.
      expect((await call('PATCH', `/processes/${on.process_id}`, { token: u.token, body: { is_active: true, name: 'x' } })).status).toBe(200);
      expect((await call('PATCH', `/processes/${off.process_id}`, { token: u.token, body: { name: 'y' } })).status).toBe(200);
      expect((await call('PATCH', `/processes/${on.process_id}`, { token: u.token, body: { is_active: false } })).status).toBe(200);
      expect((await call('PATCH', `/processes/${off.process_id}`, { token: u.token, body: { is_active: true } })).status).toBe(200);
      expectError(await call('PATCH', `/processes/${crypto.randomUUID()}`, { token: u.token, body: { is_active: true } }), 404, 'Process not found');
    });
  });

  it('concurrent creates never pass the cap', async () => {
    const u = await newUser();
    await withVars({ PROCESS_MAX_ACTIVE_PER_USER: '3' }, async () => {
      const results = await Promise.all(Array.from({ length: 10 }, () => create(u)));
      expect(results.filter((r) => r.status === 201)).toHaveLength(3);
      expect(results.filter((r) => r.status === 409)).toHaveLength(7);
      expect(await active(u)).toBe(3);
    });
  });
});

describe('cron batches are shared out round-robin by user', () => {
  it('with user A having 3x the batch due and user B one due, B runs in the first batch', async () => {
    const [a, b] = [await newUser('a'), await newUser('b')];
    const batch = 4;
    const body = { schedule: YEARLY, action: { type: 'create_task', task: { title: 'due' } } };
    const aIds: string[] = [];
    for (let i = 0; i < 3 * batch; i++) aIds.push((await created(a, body)).process_id);
    const bId = (await created(b, body)).process_id;
    // A's are all due earlier than B's: oldest-first alone would give A the whole batch.
    await makeDue(aIds, Date.now() - 10 * MINUTE);
    await makeDue([bId], Date.now() - MINUTE);
    const first = await dueProcessesQuery(getDb(env), Date.now(), batch);
    expect(first.map((p) => p.userId).sort()).toEqual([a.userId, a.userId, a.userId, b.userId].sort());
    const summary = await withVars({ PROCESS_BATCH_SIZE: String(batch) }, () => runDueProcesses(env));
    expect(summary).toMatchObject({ due: batch, claimed: batch });
    const ran = await env.DB.prepare('SELECT count(*) AS n FROM process_executions WHERE process_id = ?').bind(bId).first<{ n: number }>();
    expect(ran!.n).toBe(1);
  });

  it('takes each user in turn, each user oldest due first', async () => {
    const users = [await newUser('r1'), await newUser('r2'), await newUser('r3')];
    const ids: string[][] = [];
    for (const [i, u] of users.entries()) {
      ids.push([]);
      for (let j = 0; j < 3; j++) {
        const id = (await created(u)).process_id;
        ids[i].push(id);
        await makeDue([id], Date.now() - (20 - 3 * i - j) * MINUTE); // all of r1's before r2's
      }
    }
    const order = (await dueProcessesQuery(getDb(env), Date.now(), 9)).map((p) => p.id);
    expect(order).toEqual([0, 1, 2].flatMap((j) => ids.map((userIds) => userIds[j])));
  });
});
