import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { getDb } from '../src/db/client';
import { monthOf } from '../src/cost/pricing';
import { insertUsageStatement, recordCrossings, type UsageEntry } from '../src/cost/queries';
import { newId } from '../src/lib/ids';
import { call, expectError, newUser, withVars, type TestUser } from './helpers';

/**
 * GET and PUT /cost/budget. The usage ledger is normally written by the chat's Durable Object,
 * one row per model call (src/durable/chat-runs.ts, through insertUsageStatement); these tests
 * seed it through the same statement, with explicit created_at, so this month's spend is known.
 */

const now = Date.now();
const month = monthOf(now).start;
const previousMonth = monthOf(month - 1).month;
const db = () => getDb(env);

async function spend(user: TestUser, rows: { at: number; micros: number }[]) {
  const entries: UsageEntry[] = rows.map((r, i) => ({
    id: `seed-${newId()}:${i}`,
    userId: user.userId,
    runId: `run-${newId()}`,
    agentId: 'agent-seeded',
    chatId: 'chat-seeded',
    provider: 'openai-compatible',
    model: 'gpt-4o-mini',
    inputTokens: 100,
    outputTokens: 10,
    costMicros: r.micros,
    estimated: false,
    unpriced: false,
    createdAt: r.at,
  }));
  const [first, ...rest] = entries.map((e) => insertUsageStatement(db(), e));
  await db().batch([first, ...rest]);
}

const put = (user: TestUser, body: unknown) => call('PUT', '/cost/budget', { token: user.token, body });
const get = (user: TestUser) => call('GET', '/cost/budget', { token: user.token });

/** The budget_alerts rows of a user, straight from D1. */
const alertRows = async (user: TestUser) =>
  (await env.DB.prepare('SELECT month, threshold, crossed_at FROM budget_alerts WHERE user_id = ? ORDER BY month, threshold').bind(user.userId).all<{ month: string; threshold: number; crossed_at: number }>()).results;

const DEFAULTS = { monthly_limit: null, alert_thresholds: [], month_to_date: 0, remaining: null, operator_limit: 10, alerts: [], updated_at: null };

describe('GET /cost/budget', () => {
  it('answers the defaults to a user who never set a budget, with the operator\'s ceiling', async () => {
    const user = await newUser('budget-new');
    const res = await get(user);
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ budget: DEFAULTS });
  });

  it("shows the operator's ceiling as USER_MONTHLY_LIMIT_USD sets it, or null", async () => {
    const user = await newUser('budget-operator');
    expect((await withVars({ USER_MONTHLY_LIMIT_USD: '2.5' }, () => get(user))).json.budget.operator_limit).toBe(2.5);
    expect((await withVars({ USER_MONTHLY_LIMIT_USD: '' }, () => get(user))).json.budget.operator_limit).toBeNull();
  });
});

describe('PUT /cost/budget', () => {
  it('stores the limit in micro-USD and the thresholds ascending; GET answers the same', async () => {
    const user = await newUser('budget-roundtrip');
    const res = await put(user, { monthly_limit: 12.345678, alert_thresholds: [1, 0.25, 0.8] });
    expect(res.status, res.text).toBe(200);
    expect(res.json.budget).toEqual({
      monthly_limit: 12.345678,
      alert_thresholds: [0.25, 0.8, 1],
      month_to_date: 0,
      remaining: 12.345678,
      operator_limit: 10,
      alerts: [],
      updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    expect((await get(user)).json).toEqual(res.json);
    const row = await env.DB.prepare('SELECT monthly_limit_micros, alert_thresholds FROM budgets WHERE user_id = ?').bind(user.userId).first();
    expect(row).toEqual({ monthly_limit_micros: 12_345_678, alert_thresholds: '[0.25,0.8,1]' });

    // null clears the limit; thresholds left out go back to none.
    const cleared = await put(user, { monthly_limit: null });
    expect(cleared.json.budget).toMatchObject({ monthly_limit: null, alert_thresholds: [], remaining: null });
    expect((await put(user, { monthly_limit: 0, alert_thresholds: [] })).json.budget).toMatchObject({ monthly_limit: 0, remaining: 0 });
    expect((await put(user, { monthly_limit: 1_000_000 })).json.budget.monthly_limit).toBe(1_000_000);
  });

  it('takes back a budget it answered: the fields only the server sets are dropped', async () => {
    const user = await newUser('budget-echo');
    const first = await put(user, { monthly_limit: 5, alert_thresholds: [0.5] });
    const again = await put(user, first.json.budget);
    expect(again.status, again.text).toBe(200);
    expect(again.json.budget).toMatchObject({ monthly_limit: 5, alert_thresholds: [0.5], month_to_date: 0 });
  });

  it('refuses a bad budget with 400 and a message naming the problem', async () => {
    const user = await newUser('budget-invalid');
    const LIMIT = 'monthly_limit must be null or an amount in USD from 0 to 1000000 with at most 6 decimals';
    const THRESHOLD = 'each alert threshold must be a fraction of the limit greater than 0 and at most 1 (e.g. 0.8)';
    const cases: [unknown, string][] = [
      [{}, 'Missing monthly_limit parameter'],
      [{ alert_thresholds: [0.5] }, 'Missing monthly_limit parameter'],
      [{ monthly_limit: -1 }, LIMIT],
      [{ monthly_limit: '10' }, LIMIT],
      [{ monthly_limit: true }, LIMIT],
      [{ monthly_limit: 1.1234567 }, LIMIT],
      [{ monthly_limit: 1_000_000.01 }, LIMIT],
      [{ monthly_limit: 10, alert_thresholds: [0] }, THRESHOLD],
      [{ monthly_limit: 10, alert_thresholds: [1.01] }, THRESHOLD],
      [{ monthly_limit: 10, alert_thresholds: [-0.5] }, THRESHOLD],
      [{ monthly_limit: 10, alert_thresholds: ['0.5'] }, THRESHOLD],
      [{ monthly_limit: 10, alert_thresholds: [0.5, 0.8, 0.5] }, 'alert_thresholds must not repeat a threshold'],
      [{ monthly_limit: 10, alert_thresholds: Array.from({ length: 11 }, (_, i) => (i + 1) / 11) }, 'alert_thresholds takes at most 10 thresholds'],
      [{ monthly_limit: 10, alert_thresholds: 0.5 }, 'alert_thresholds must be an array of fractions of the limit, such as [0.5, 0.8, 1]'],
      [{ monthly_limit: 10, alert_thresholds: null }, 'alert_thresholds must be an array of fractions of the limit, such as [0.5, 0.8, 1]'],
    ];
    for (const [body, msg] of cases) {
      const res = await put(user, body);
      expectError(res, 400, msg);
      expect(res.json.code, JSON.stringify(body)).toBe('validation_error');
    }
    // Ten unique thresholds are fine.
    expect((await put(user, { monthly_limit: 10, alert_thresholds: Array.from({ length: 10 }, (_, i) => (i + 1) / 10) })).status).toBe(200);

    const unknown = await put(user, { monthly_limit: 10, currency: 'USD', alert: { at: 0.5 } });
    expectError(unknown, 400);
    expect(unknown.json).toMatchObject({ code: 'unknown_field', fields: ['currency', 'alert'] });
    expectError(await call('PUT', '/cost/budget', { token: user.token }), 400, 'Missing JSON in request');
    expectError(await call('PUT', '/cost/budget', { token: user.token, body: '{"monthly_limit": 1', headers: { 'content-type': 'application/json' } }), 400, 'Missing JSON in request');
    // Nothing was stored by the refusals: the one valid PUT above is what GET shows.
    expect((await get(user)).json.budget.alert_thresholds).toHaveLength(10);
  });
});

describe('alert thresholds', () => {
  let user: TestUser;
  let other: TestUser;

  beforeAll(async () => {
    [user, other] = await Promise.all([newUser('budget-alerts'), newUser('budget-other')]);
    // This month: 3 USD, from its first millisecond. The previous month: 50 USD, up to its last.
    await spend(user, [
      { at: month, micros: 1_000_000 },
      { at: Math.max(month, now - 60_000), micros: 2_000_000 },
      { at: month - 1, micros: 40_000_000 },
      { at: month - 10 * 86_400_000, micros: 10_000_000 },
    ]);
    // Last month's recorded crossing of 1: it is not this month's.
    await env.DB.prepare('INSERT INTO budget_alerts (user_id, month, threshold, crossed_at) VALUES (?, ?, 1, ?)').bind(user.userId, previousMonth, month - 5).run();
    // Another user spends far more; none of it is the first user's.
    await spend(other, [{ at: now, micros: 500_000_000 }]);
  });

  it('records the thresholds this month\'s spend already passed as soon as the limit is set', async () => {
    const res = await put(user, { monthly_limit: 5, alert_thresholds: [0.5, 0.8, 1] });
    expect(res.status, res.text).toBe(200);
    const b = res.json.budget;
    expect(b).toMatchObject({ monthly_limit: 5, month_to_date: 3, remaining: 2 });
    // 3 >= 0.5 × 5; 3 < 0.8 × 5: last month's 50 USD counts for nothing.
    expect(b.alerts).toEqual([{ threshold: 0.5, crossed_at: b.updated_at }]);
    expect((await get(user)).json.budget).toEqual(b);
  });

  it('records each threshold once a month: lowering the limit adds the new crossings, the first keeps its time', async () => {
    const before = (await get(user)).json.budget.alerts[0];
    const res = await put(user, { monthly_limit: 3.5, alert_thresholds: [0.5, 0.8, 1] });
    const b = res.json.budget;
    expect(b).toMatchObject({ month_to_date: 3, remaining: 0.5 });
    expect(b.alerts).toEqual([before, { threshold: 0.8, crossed_at: b.updated_at }]);

    // The same budget again: nothing new, nothing recorded twice, times unchanged.
    const again = await put(user, { monthly_limit: 3.5, alert_thresholds: [0.5, 0.8, 1] });
    expect(again.json.budget.alerts).toEqual(b.alerts);
    const rows = (await alertRows(user)).filter((r) => r.month === monthOf(now).month);
    expect(rows.map((r) => r.threshold)).toEqual([0.5, 0.8]);
  });

  it('keeps this month\'s crossings when the thresholds change, and never lists another month\'s', async () => {
    const earlier = (await get(user)).json.budget.alerts;
    const res = await put(user, { monthly_limit: 3, alert_thresholds: [0.9, 1] });
    const b = res.json.budget;
    expect(b).toMatchObject({ alert_thresholds: [0.9, 1], month_to_date: 3, remaining: 0 });
    expect(b.alerts).toEqual([...earlier, { threshold: 0.9, crossed_at: b.updated_at }, { threshold: 1, crossed_at: b.updated_at }]);
    // Last month's crossing of 1 is still stored, and is not this month's.
    const rows = await alertRows(user);
    expect(rows.filter((r) => r.threshold === 1).map((r) => r.month)).toEqual([previousMonth, monthOf(now).month].sort());
    expect(rows).toHaveLength(5);
  });

  it('answers remaining as 0, never below, once spend is past the limit', async () => {
    const b = (await put(user, { monthly_limit: 2, alert_thresholds: [0.5, 0.8, 0.9, 1] })).json.budget;
    expect(b).toMatchObject({ monthly_limit: 2, month_to_date: 3, remaining: 0 });
    expect(b.alerts.map((a: any) => a.threshold)).toEqual([0.5, 0.8, 0.9, 1]);
  });

  it('records nothing without a limit', async () => {
    const res = await put(other, { monthly_limit: null, alert_thresholds: [0.5, 1] });
    expect(res.json.budget).toMatchObject({ monthly_limit: null, remaining: null, month_to_date: 500, alerts: [] });
    expect(await alertRows(other)).toEqual([]);
  });

  it("keeps each user's budget and spend to themselves", async () => {
    const mine = (await get(user)).json.budget;
    expect(mine.month_to_date).toBe(3);
    const theirs = await put(other, { monthly_limit: 1000, alert_thresholds: [0.25, 0.5] });
    expect(theirs.json.budget).toMatchObject({ monthly_limit: 1000, month_to_date: 500, remaining: 500 });
    expect(theirs.json.budget.alerts.map((a: any) => a.threshold)).toEqual([0.25, 0.5]);
    expect((await get(user)).json.budget).toEqual(mine);
  });

  it('is the same rule as recordCrossings, which the chat object runs after each ledger write', async () => {
    const third = await newUser('budget-ledger');
    await put(third, { monthly_limit: 1, alert_thresholds: [0.5, 1] });
    await spend(third, [{ at: now, micros: 600_000 }]);
    await recordCrossings(db(), third.userId, Date.now());
    const b = (await get(third)).json.budget;
    expect(b.alerts.map((a: any) => a.threshold)).toEqual([0.5]);
    await recordCrossings(db(), third.userId, Date.now());
    expect(await alertRows(third)).toHaveLength(1);
  });
});
