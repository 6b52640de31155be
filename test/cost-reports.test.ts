import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { getDb } from '../src/db/client';
import { monthOf, usd } from '../src/cost/pricing';
import { byAgentQuery, byProviderQuery, dailyQuery, dayStart, insertUsageStatement, summaryQuery, type UsageEntry } from '../src/cost/queries';
import { newId } from '../src/lib/ids';
import { call, expectError, newUser, type TestUser } from './helpers';
import { makeAgent } from './runs-fixtures';

/**
 * GET /cost/summary, /cost/daily, /cost/by-agent and /cost/by-provider. The usage ledger is
 * normally written by the chat's Durable Object, one row per model call of a run
 * (src/durable/chat-runs.ts, through insertUsageStatement); these tests seed it through the same
 * statement, with explicit created_at across days, months, agents and models, so every sum is known.
 */

const DAY = 86_400_000;
const db = () => getDb(env);

interface Seed {
  run: string;
  agentId: string;
  at: number;
  cost: number;
  input?: number;
  output?: number;
  provider?: string;
  model?: string;
  unpriced?: boolean;
}

function entry(user: TestUser, s: Seed, i: number): UsageEntry {
  return {
    id: `${s.run}:${i}:${newId()}`,
    userId: user.userId,
    runId: s.run,
    agentId: s.agentId,
    chatId: 'chat-of-' + s.run,
    provider: s.provider ?? 'openai-compatible',
    model: s.model ?? 'gpt-4o-mini',
    inputTokens: s.input ?? 0,
    outputTokens: s.output ?? 0,
    costMicros: s.cost,
    estimated: false,
    unpriced: s.unpriced ?? false,
    createdAt: s.at,
  };
}

async function seed(user: TestUser, rows: Seed[]) {
  const [first, ...rest] = rows.map((s, i) => insertUsageStatement(db(), entry(user, s, i)));
  if (first) await db().batch([first, ...rest]);
}

const at = (isoString: string) => Date.parse(isoString);
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The answer a report should give for `rows`, computed independently of the SQL. */
function totals(rows: Seed[]) {
  return {
    cost: usd(rows.reduce((n, r) => n + r.cost, 0)),
    runs: new Set(rows.map((r) => r.run)).size,
    input_tokens: rows.reduce((n, r) => n + (r.input ?? 0), 0),
    output_tokens: rows.reduce((n, r) => n + (r.output ?? 0), 0),
  };
}

let alice: TestUser;
let bob: TestUser;
let researcher: string;
let writer: string;
let bobAgent: string;
const now = Date.now();
const today = dayStart(now);
const month = monthOf(now).start;
const nextMonth = Date.UTC(new Date(month).getUTCFullYear(), new Date(month).getUTCMonth() + 1, 1);

// January 2025 (a fixed, past window) and its edges.
let january: Seed[];
// Around now: today, and days within and just outside the last 7 (wherever the month starts).
let recent: Seed[];
let all: Seed[];
// Dana's ledger is the month boundary alone: the previous month's last millisecond and this month's first.
let dana: TestUser;
let danaAgent: string;

beforeAll(async () => {
  [alice, bob, dana] = await Promise.all([newUser('cost-alice'), newUser('cost-bob'), newUser('cost-dana')]);
  danaAgent = await makeAgent(dana, 'Month end');
  await seed(dana, [
    { run: 'last', agentId: danaAgent, at: month - 1, cost: 9_000_000, input: 900, output: 90 },
    { run: 'first', agentId: danaAgent, at: month, cost: 1_234_567, input: 120, output: 34, model: 'gpt-4o' },
  ]);
  researcher = await makeAgent(alice, 'Researcher');
  writer = await makeAgent(alice, 'Writer');
  bobAgent = await makeAgent(bob, 'Bob bot');
  january = [
    { run: 'r1', agentId: researcher, at: at('2025-01-10T10:00:00Z'), cost: 1_500_000, input: 1000, output: 200 },
    { run: 'r1', agentId: researcher, at: at('2025-01-10T10:00:05Z'), cost: 250_000, input: 300, output: 50 },
    { run: 'r2', agentId: writer, at: at('2025-01-20T00:00:00Z'), cost: 3_000_000, input: 2000, output: 800, model: 'gpt-4o' },
    { run: 'r3', agentId: writer, at: at('2025-01-31T23:59:59.999Z'), cost: 0, input: 500, output: 100, provider: 'other', model: 'llama-3', unpriced: true },
    { run: 'r4', agentId: researcher, at: at('2025-02-01T00:00:00Z'), cost: 700_000, input: 70, output: 7 },
    { run: 'r5', agentId: researcher, at: at('2024-12-31T23:59:59.999Z'), cost: 111, input: 1, output: 1 },
  ];
  recent = [
    { run: 't1', agentId: researcher, at: today + 1, cost: 10_000, input: 10, output: 1 },
    { run: 't1', agentId: researcher, at: today + 2, cost: 20_000, input: 20, output: 2 },
    { run: 't2', agentId: writer, at: today + 3, cost: 5, input: 3, output: 1, provider: 'other', model: 'mystery', unpriced: true },
    { run: 'd1', agentId: researcher, at: today - DAY, cost: 0, input: 0, output: 0 }, // yesterday: a row, but nothing spent
    { run: 'd2', agentId: writer, at: today - 2 * DAY + 5000, cost: 333_333, input: 33, output: 3 },
    { run: 'd6', agentId: researcher, at: today - 6 * DAY, cost: 66, input: 6, output: 6 }, // 6 days ago, its first ms
    { run: 'd6b', agentId: researcher, at: today - 5 * DAY - 1, cost: 77, input: 7, output: 7 }, // 6 days ago, its last ms
    { run: 'd7', agentId: researcher, at: today - 6 * DAY - 1, cost: 88_000, input: 8, output: 8 }, // 7 days ago: outside days=7
  ];
  all = [...january, ...recent];
  await seed(alice, all);
  // Bob's spend, including a row that names one of Alice's agents: neither ever shows in hers.
  await seed(bob, [
    { run: 'b1', agentId: bobAgent, at: today + 1, cost: 42_000_000, input: 4200, output: 420 },
    { run: 'b2', agentId: researcher, at: at('2025-01-15T00:00:00Z'), cost: 1_000_000, input: 1, output: 1 },
    { run: 'b3', agentId: bobAgent, at: month, cost: 5_000_000, input: 5, output: 5, model: 'gpt-4o' },
  ]);
});

describe('GET /cost/summary', () => {
  it('answers month to date, today and all-time totals in USD, distinct runs and unpriced runs', async () => {
    const res = await call('GET', '/cost/summary', { token: alice.token });
    expect(res.status, res.text).toBe(200);
    const whole = totals(all);
    expect(res.json).toEqual({
      currency: 'USD',
      month_to_date: totals(all.filter((r) => r.at >= month)).cost,
      today: totals(all.filter((r) => r.at >= today)).cost,
      total: whole.cost,
      runs: whole.runs,
      unpriced_runs: 2,
      input_tokens: whole.input_tokens,
      output_tokens: whole.output_tokens,
    });
    // The same numbers spelled out.
    expect(res.json.total).toBe(5.901592);
    expect(res.json.today).toBe(0.030005);
    expect(res.json.runs).toBe(12);
  });

  it("counts this UTC month from its first millisecond: the previous month's last one is not in it", async () => {
    const res = await call('GET', '/cost/summary', { token: dana.token });
    expect(res.json).toEqual({
      currency: 'USD',
      month_to_date: 1.234567,
      today: month === today ? 1.234567 : 0,
      total: 10.234567,
      runs: 2,
      unpriced_runs: 0,
      input_tokens: 1020,
      output_tokens: 124,
    });
  });

  it('answers zeros for a user without usage', async () => {
    const carol = await newUser('cost-carol');
    const res = await call('GET', '/cost/summary', { token: carol.token });
    expect(res.json).toEqual({ currency: 'USD', month_to_date: 0, today: 0, total: 0, runs: 0, unpriced_runs: 0, input_tokens: 0, output_tokens: 0 });
  });

  it("shows another user only their own spend", async () => {
    const res = await call('GET', '/cost/summary', { token: bob.token });
    expect(res.json).toMatchObject({ total: 48, runs: 3, today: month === today ? 47 : 42, month_to_date: 47, input_tokens: 4206, output_tokens: 426 });
  });
});

describe('GET /cost/daily', () => {
  const expectedDays = (n: number) =>
    Array.from({ length: n }, (_, i) => {
      const start = today - (n - 1 - i) * DAY;
      return { date: day(start), ...totals(all.filter((r) => r.at >= start && r.at < start + DAY)) };
    });

  it('lists the last 7 UTC days by default, oldest first, ending today, every day present', async () => {
    const res = await call('GET', '/cost/daily', { token: alice.token });
    expect(res.status, res.text).toBe(200);
    expect(res.json.days).toEqual(expectedDays(7));
    expect(res.json.days.map((d: any) => d.date)).toEqual(Array.from({ length: 7 }, (_, i) => day(today - (6 - i) * DAY)));
    expect(res.json.days[6].date).toBe(new Date(now).toISOString().slice(0, 10));
    expect(res.json.days[6]).toEqual({ date: day(now), cost: 0.030005, runs: 2, input_tokens: 33, output_tokens: 4 });
    expect(res.json.days[5]).toEqual({ date: day(today - DAY), cost: 0, runs: 1, input_tokens: 0, output_tokens: 0 });
    expect(res.json.days[4]).toEqual({ date: day(today - 2 * DAY), cost: 0.333333, runs: 1, input_tokens: 33, output_tokens: 3 });
    expect(res.json.days[3]).toEqual({ date: day(today - 3 * DAY), cost: 0, runs: 0, input_tokens: 0, output_tokens: 0 });
    // 6 days ago holds its first and its last millisecond's rows; 7 days ago is outside.
    expect(res.json.days[0]).toEqual({ date: day(today - 6 * DAY), cost: 0.000143, runs: 2, input_tokens: 13, output_tokens: 13 });
  });

  it('puts the month boundary on its two days', async () => {
    const n = (today - month) / DAY + 2;
    const days = (await call('GET', `/cost/daily?days=${n}`, { token: dana.token })).json.days;
    expect(days).toHaveLength(n);
    expect(days[0]).toEqual({ date: day(month - 1), cost: 9, runs: 1, input_tokens: 900, output_tokens: 90 });
    expect(days[1]).toEqual({ date: day(month), cost: 1.234567, runs: 1, input_tokens: 120, output_tokens: 34 });
    expect(days.slice(2).every((d: any) => d.cost === 0 && d.runs === 0)).toBe(true);
  });

  it('includes the day before with days=8, and lists empty days with zeros', async () => {
    const res = await call('GET', '/cost/daily?days=8', { token: alice.token });
    expect(res.json.days).toEqual(expectedDays(8));
    expect(res.json.days[0]).toEqual({ date: day(today - 7 * DAY), cost: 0.088, runs: 1, input_tokens: 8, output_tokens: 8 });
    const empty = (await call('GET', '/cost/daily?days=3', { token: (await newUser('cost-empty')).token })).json.days;
    expect(empty).toEqual([2, 1, 0].map((k) => ({ date: day(today - k * DAY), cost: 0, runs: 0, input_tokens: 0, output_tokens: 0 })));
  });

  it('takes 1 to 90 days', async () => {
    expect((await call('GET', '/cost/daily?days=1', { token: alice.token })).json.days).toEqual(expectedDays(1));
    const ninety = await call('GET', '/cost/daily?days=90', { token: alice.token });
    expect(ninety.json.days).toEqual(expectedDays(90));
    for (const bad of ['0', '91', '1.5', 'abc', '', '-3']) {
      const res = await call('GET', `/cost/daily?days=${bad}`, { token: alice.token });
      expectError(res, 400, 'days must be an integer between 1 and 90');
      expect(res.json.code).toBe('validation_error');
    }
  });

  it("never counts another user's rows", async () => {
    const days = (await call('GET', '/cost/daily?days=1', { token: bob.token })).json.days;
    if (month !== today) expect(days).toEqual([{ date: day(today), cost: 42, runs: 1, input_tokens: 4200, output_tokens: 420 }]);
    else expect(days).toEqual([{ date: day(today), cost: 47, runs: 2, input_tokens: 4205, output_tokens: 425 }]);
    const mine = (await call('GET', '/cost/daily?days=1', { token: alice.token })).json.days;
    expect(mine[0].cost).toBe(0.030005);
  });
});

describe('GET /cost/by-agent and /cost/by-provider', () => {
  const jan = 'from=2025-01-01&to=2025-02-01';

  it('breaks a window down by agent, highest cost first, with names', async () => {
    const res = await call('GET', `/cost/by-agent?${jan}`, { token: alice.token });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({
      agents: [
        { agent_id: writer, name: 'Writer', deleted: false, cost: 3, runs: 2, input_tokens: 2500, output_tokens: 900 },
        { agent_id: researcher, name: 'Researcher', deleted: false, cost: 1.75, runs: 1, input_tokens: 1300, output_tokens: 250 },
      ],
      from: '2025-01-01T00:00:00.000Z',
      to: '2025-02-01T00:00:00.000Z',
    });
  });

  it('breaks a window down by provider and model, highest cost first', async () => {
    const res = await call('GET', `/cost/by-provider?${jan}`, { token: alice.token });
    expect(res.status, res.text).toBe(200);
    expect(res.json.providers).toEqual([
      { provider: 'openai-compatible', model: 'gpt-4o', cost: 3, runs: 1, input_tokens: 2000, output_tokens: 800 },
      { provider: 'openai-compatible', model: 'gpt-4o-mini', cost: 1.75, runs: 1, input_tokens: 1300, output_tokens: 250 },
      { provider: 'other', model: 'llama-3', cost: 0, runs: 1, input_tokens: 500, output_tokens: 100 },
    ]);
  });

  it('takes from inclusive and to exclusive, as dates or date-times with an offset', async () => {
    const edge = await call('GET', '/cost/by-agent?from=2025-01-31T23:59:59.999Z&to=2025-02-01T00:00:00.001Z', { token: alice.token });
    expect(edge.json.agents).toEqual([
      { agent_id: researcher, name: 'Researcher', deleted: false, cost: 0.7, runs: 1, input_tokens: 70, output_tokens: 7 },
      { agent_id: writer, name: 'Writer', deleted: false, cost: 0, runs: 1, input_tokens: 500, output_tokens: 100 },
    ]);
    const exclusive = await call('GET', '/cost/by-provider?from=2025-01-10T11:00:00%2B01:00&to=2025-01-10T10:00:05Z', { token: alice.token });
    expect(exclusive.json).toEqual({
      providers: [{ provider: 'openai-compatible', model: 'gpt-4o-mini', cost: 1.5, runs: 1, input_tokens: 1000, output_tokens: 200 }],
      from: '2025-01-10T10:00:00.000Z',
      to: '2025-01-10T10:00:05.000Z',
    });
    const fromOnly = await call('GET', '/cost/by-agent?from=2025-01-20', { token: alice.token });
    expect(fromOnly.status).toBe(400); // the default `to` (next month) is more than 366 days after
    const wide = await call('GET', '/cost/by-agent?from=2024-01-01&to=2025-01-01', { token: alice.token }); // 366 days (2024 is leap)
    expect(wide.json.agents).toEqual([{ agent_id: researcher, name: 'Researcher', deleted: false, cost: 0.000111, runs: 1, input_tokens: 1, output_tokens: 1 }]);
  });

  it('defaults to this UTC month: its first millisecond in, the previous one out', async () => {
    const thisMonth = all.filter((r) => r.at >= month && r.at < nextMonth);
    const res = await call('GET', '/cost/by-agent', { token: alice.token });
    expect(res.json.from).toBe(new Date(month).toISOString());
    expect(res.json.to).toBe(new Date(nextMonth).toISOString());
    const expected = [writer, researcher]
      .map((id) => ({ id, rows: thisMonth.filter((r) => r.agentId === id) }))
      .filter((a) => a.rows.length)
      .map((a) => ({ agent_id: a.id, name: a.id === writer ? 'Writer' : 'Researcher', deleted: false, ...totals(a.rows) }))
      .sort((a, b) => b.cost - a.cost || a.agent_id.localeCompare(b.agent_id));
    expect(res.json.agents).toEqual(expected);

    const providers = await call('GET', '/cost/by-provider', { token: alice.token });
    const keyOf = (r: Seed) => `${r.provider ?? 'openai-compatible'}|${r.model ?? 'gpt-4o-mini'}`;
    const expectedProviders = [...new Set(thisMonth.map(keyOf))]
      .map((k) => ({ provider: k.split('|')[0], model: k.split('|')[1], ...totals(thisMonth.filter((r) => keyOf(r) === k)) }))
      .sort((a, b) => b.cost - a.cost || a.provider.localeCompare(b.provider) || a.model.localeCompare(b.model));
    expect(providers.json.providers).toEqual(expectedProviders);
    expect(providers.json.providers).toContainEqual({ provider: 'other', model: 'mystery', cost: 0.000005, runs: 1, input_tokens: 3, output_tokens: 1 });
  });

  it("defaults to this UTC month for the month boundary too: its first millisecond in, the previous month's last out", async () => {
    const agents = await call('GET', '/cost/by-agent', { token: dana.token });
    expect(agents.json.agents).toEqual([{ agent_id: danaAgent, name: 'Month end', deleted: false, cost: 1.234567, runs: 1, input_tokens: 120, output_tokens: 34 }]);
    const providers = await call('GET', '/cost/by-provider', { token: dana.token });
    expect(providers.json.providers).toEqual([{ provider: 'openai-compatible', model: 'gpt-4o', cost: 1.234567, runs: 1, input_tokens: 120, output_tokens: 34 }]);
    const d = new Date(month);
    const previous = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1)).toISOString();
    const before = await call('GET', `/cost/by-provider?from=${previous}&to=${d.toISOString()}`, { token: dana.token });
    expect(before.json.providers).toEqual([{ provider: 'openai-compatible', model: 'gpt-4o-mini', cost: 9, runs: 1, input_tokens: 900, output_tokens: 90 }]);
  });

  it('still lists a deleted agent with its name', async () => {
    const gone = await makeAgent(alice, 'Short-lived');
    await seed(alice, [{ run: 'g1', agentId: gone, at: at('2025-03-05T12:00:00Z'), cost: 2_000_000, input: 5, output: 5 }]);
    expect((await call('DELETE', `/agents/${gone}`, { token: alice.token })).status).toBe(200);
    expect((await call('GET', `/agents/${gone}`, { token: alice.token })).status).toBe(404);
    const res = await call('GET', '/cost/by-agent?from=2025-03-01&to=2025-04-01', { token: alice.token });
    expect(res.json.agents).toEqual([{ agent_id: gone, name: 'Short-lived', deleted: true, cost: 2, runs: 1, input_tokens: 5, output_tokens: 5 }]);
  });

  it("never shows another user's spend, nor the name of another user's agent", async () => {
    const res = await call('GET', `/cost/by-agent?${jan}`, { token: bob.token });
    expect(res.json.agents).toEqual([{ agent_id: researcher, name: null, deleted: false, cost: 1, runs: 1, input_tokens: 1, output_tokens: 1 }]);
    const providers = await call('GET', '/cost/by-provider', { token: bob.token });
    expect(providers.json.providers).toEqual([
      { provider: 'openai-compatible', model: 'gpt-4o-mini', cost: 42, runs: 1, input_tokens: 4200, output_tokens: 420 },
      { provider: 'openai-compatible', model: 'gpt-4o', cost: 5, runs: 1, input_tokens: 5, output_tokens: 5 },
    ]);
    const mine = await call('GET', '/cost/by-provider', { token: alice.token });
    expect(mine.json.providers.some((p: any) => p.cost >= 42)).toBe(false);
  });

  it('refuses a bad window with 400 and a clear message', async () => {
    const cases: [string, string][] = [
      ['from=yesterday', 'from must be an ISO 8601 date or date-time (e.g. 2027-03-01 or 2027-03-01T00:00:00Z)'],
      ['to=2025-13-01', 'to must be an ISO 8601 date or date-time (e.g. 2027-03-01 or 2027-03-01T00:00:00Z)'],
      ['from=2025-01-10T10:00:00', 'from must be an ISO 8601 date or date-time (e.g. 2027-03-01 or 2027-03-01T00:00:00Z)'],
      ['from=2025-02-01&to=2025-02-01', 'from must be before to'],
      ['from=2025-03-01&to=2025-02-01', 'from must be before to'],
      ['to=2020-01-01', 'from must be before to (by default the start of this UTC month)'],
      ['from=2024-01-01&to=2025-01-01T00:00:00.001Z', 'from and to must be at most 366 days apart'],
      ['from=2025-01-20', 'from and to must be at most 366 days apart'],
    ];
    for (const path of ['/cost/by-agent', '/cost/by-provider']) {
      for (const [query, msg] of cases) {
        const res = await call('GET', `${path}?${query}`, { token: alice.token });
        expectError(res, 400, msg);
        expect(res.json.code, `${path}?${query}`).toBe('validation_error');
      }
    }
  });
});

describe('the cost routes', () => {
  const paths = ['/cost/summary', '/cost/daily', '/cost/by-agent', '/cost/by-provider', '/cost/budget'];

  it('answer 401 without a token', async () => {
    for (const path of paths) expectError(await call('GET', path), 401, 'Missing Authorization Header');
    expectError(await call('PUT', '/cost/budget', { body: { monthly_limit: 1 } }), 401, 'Missing Authorization Header');
  });

  it('run each report as one statement, sought through a (user_id, ...) index of the ledger', async () => {
    const plan = async (q: { toSQL: () => { sql: string; params: unknown[] } }) => {
      const { sql, params } = q.toSQL();
      expect(params.length).toBeLessThan(100);
      return (await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>()).results.map((r) => r.detail).join('\n');
    };
    const d = db();
    const id = alice.userId;
    const plans = [
      await plan(summaryQuery(d, id, now)),
      await plan(dailyQuery(d, id, today - 6 * DAY, today + DAY)),
      await plan(byAgentQuery(d, id, month, nextMonth)),
      await plan(byProviderQuery(d, id, month, nextMonth)),
    ];
    for (const p of plans) {
      expect(p).toMatch(/SEARCH usage_entries USING (COVERING )?INDEX usage_user_(created|agent|model)_idx \(user_id=\?/);
      expect(p).not.toMatch(/SCAN usage_entries/);
    }
    // The agent's name is one primary-key lookup per group.
    expect(plans[2]).toMatch(/SEARCH agents USING INDEX sqlite_autoindex_agents_1 \(id=\?\)/);
  });
});
