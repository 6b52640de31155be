import { env } from 'cloudflare:workers';
import { and, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { monthOf, usd } from '../src/cost/pricing';
import { getDb } from '../src/db/client';
import { budgetAlerts, budgets, chats, usageEntries } from '../src/db/schema';
import type { RunFrame, ServerFrame } from '../src/durable/protocol';
import { newId } from '../src/lib/ids';
import { chatOwner, type ChatClient, connect, messageString } from './chat-helpers';
import { call, expectError, type TestUser, withVars } from './helpers';
import { mock, type ModelRequestRecord, modelRequests, uniqueTag } from './model-helpers';
import { agentOf, chatWith, runUntil, SseReader } from './run-helpers';

/**
 * What runs cost (issue 11, the run side): each model call priced into the usage ledger with the
 * run's final D1 write, runs and answers showing it, and admission (the operator's allow-list,
 * the user's budget, the operator's ceiling) before any model call. Real runs against the local
 * model server, whose usage is exact: prompt tokens are the words of the messages it received,
 * completion tokens the chunks it sent.
 */

const db = () => getDb(env);
const PRICES = JSON.stringify({ 'priced-model': { input: 2.5, output: 10 }, 'race-model': { input: 10_000, output: 10_000 }, 'thr-model': { input: 0, output: 10 } });
const words = (t: string) => (t.match(/\S+/g) ?? []).length;
const textOf = (c: unknown): string => (typeof c === 'string' ? c : Array.isArray(c) ? c.map((p: any) => p?.text ?? '').join('') : '');
/** The model server's prompt_tokens for a request: the words of every message. */
const promptWords = (req: ModelRequestRecord) => req.body.messages.reduce((n: number, m: any) => n + words(textOf(m.content)), 0);

const ledgerOf = (runId: string) => db().select().from(usageEntries).where(eq(usageEntries.runId, runId));
const ledgerOfUser = (userId: string) => db().select().from(usageEntries).where(eq(usageEntries.userId, userId));
const spentBy = async (userId: string) => (await ledgerOfUser(userId)).reduce((n, e) => n + e.costMicros, 0);
const spentThisMonth = async (userId: string) =>
  (await ledgerOfUser(userId)).filter((e) => e.createdAt >= monthOf(Date.now()).start).reduce((n, e) => n + e.costMicros, 0);
const byId = <T extends { id: string }>(rows: T[]) => [...rows].sort((a, b) => a.id.localeCompare(b.id));

/** The user's own budget, written straight to D1 (the budget route is the cost routes' own). */
async function setBudget(user: TestUser, limitMicros: number | null, thresholds: number[] = []) {
  const row = { userId: user.userId, monthlyLimitMicros: limitMicros, alertThresholds: JSON.stringify(thresholds), updatedAt: Date.now() };
  await db().insert(budgets).values(row).onConflictDoUpdate({ target: budgets.userId, set: row });
}

/** Spend already on the ledger (another run's, as far as admission can tell). */
async function seedSpend(user: TestUser, costMicros: number, createdAt = Date.now()) {
  await db().insert(usageEntries).values({
    id: `seed-${newId()}:1`,
    userId: user.userId,
    runId: `seed-${newId()}`,
    agentId: 'seed-agent',
    chatId: 'seed-chat',
    provider: 'openai-compatible',
    model: 'seed-model',
    inputTokens: 0,
    outputTokens: 0,
    costMicros,
    estimated: false,
    unpriced: false,
    createdAt,
  });
}

const post = (user: TestUser, agentId: string, body: Record<string, unknown>) => call('POST', `/agents/${agentId}/chat`, { token: user.token, body });

async function framesUntil(client: ChatClient, stop: (f: ServerFrame) => boolean, ms = 5000): Promise<ServerFrame[]> {
  const out: ServerFrame[] = [];
  for (;;) {
    const f = await client.next(ms);
    out.push(f);
    if (stop(f)) return out;
  }
}
const runEnded = (runId?: string) => (f: ServerFrame) => (f.type === 'run.finished' || f.type === 'run.failed') && (!runId || f.run_id === runId);

describe('the usage ledger', () => {
  it("prices a model call from the model's usage, exactly, in micro-USD: on the run, the answer's metadata, the SSE end event and one ledger row", async () => {
    const { user, workspaceId, chatId } = await chatOwner('price');
    const agentId = await agentOf(user, workspaceId, { model: { name: 'priced-model' } });
    const tag = uniqueTag('price');
    const res = await withVars({ MODEL_PRICES: PRICES }, () => post(user, agentId, { message: mock({ tokens: 7, tag }), session_id: chatId }));
    expect(res.status, res.text).toBe(200);
    const [req] = await modelRequests(tag);
    const input = promptWords(req);
    expect(input).toBe(5); // "You are Helper." and the directive: an odd count, so the half micro-dollar rounds
    const micros = Math.round(input * 2.5 + 7 * 10);
    expect(micros).toBe(83); // 12.5 + 70, rounded half up
    expect(res.json.metadata).toMatchObject({ model: 'priced-model', tokens_used: input + 7, usage: { input_tokens: input, output_tokens: 7, estimated: false }, cost: usd(micros) });

    const run = (await call('GET', `/runs/${res.json.run_id}`, { token: user.token })).json.run;
    expect(run.usage).toEqual({ input_tokens: input, output_tokens: 7, estimated: false });
    expect(run.cost).toEqual({ usd: 0.000083, micro_usd: 83, unpriced: false, estimated: false });

    const ledger = await ledgerOf(res.json.run_id);
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({
      id: `${res.json.run_id}:1`,
      userId: user.userId,
      agentId,
      chatId,
      provider: 'openai-compatible',
      model: 'priced-model',
      inputTokens: input,
      outputTokens: 7,
      costMicros: 83,
      estimated: false,
      unpriced: false,
    });
    expect(ledger[0].createdAt).toBeGreaterThanOrEqual(Date.parse(run.started_at));
    expect(ledger[0].createdAt).toBeLessThanOrEqual(Date.parse(run.finished_at));

    // Streamed: the end event's metadata carries the cost too.
    const tag2 = uniqueTag('price-sse');
    const events = await withVars({ MODEL_PRICES: PRICES }, async () =>
      new SseReader(await chatWith(user, agentId, { message: mock({ tokens: 3, tag: tag2 }), session_id: chatId, stream: true })).all(),
    );
    const end = events[events.length - 1].event;
    const [req2] = await modelRequests(tag2);
    const expected = Math.round(promptWords(req2) * 2.5 + 3 * 10);
    expect(end).toMatchObject({ type: 'end', metadata: { cost: usd(expected), usage: { input_tokens: promptWords(req2), output_tokens: 3, estimated: false } } });
    const streamed = await runUntil(user, (end as any).run_id, ['completed']);
    expect(streamed.cost.micro_usd).toBe(expected);
    expect(await ledgerOf(streamed.run_id)).toHaveLength(1);
  });

  it('a model that reports no usage: tokens estimated from the text (about 4 characters a token), flagged estimated', async () => {
    const { user, workspaceId, chatId } = await chatOwner('est');
    const agentId = await agentOf(user, workspaceId, { model: { name: 'priced-model' } });
    const tag = uniqueTag('est');
    const content = mock({ reply: 'Hello brave new world', usage: false, tag });
    const res = await withVars({ MODEL_PRICES: PRICES }, () => post(user, agentId, { message: content, session_id: chatId }));
    expect(res.status, res.text).toBe(200);
    const [req] = await modelRequests(tag);
    const prompt = req.body.messages.map((m: any) => textOf(m.content)).join('\n');
    expect(prompt).toBe(`You are Helper.\n${content}`);
    const input = Math.ceil(prompt.length / 4);
    const output = Math.ceil('Hello brave new world'.length / 4); // 21 characters: 6 tokens
    const micros = Math.round(input * 2.5 + output * 10);
    expect(res.json.metadata).toMatchObject({ usage: { input_tokens: input, output_tokens: 6, estimated: true }, cost: usd(micros) });
    const run = (await call('GET', `/runs/${res.json.run_id}`, { token: user.token })).json.run;
    expect(run.usage).toEqual({ input_tokens: input, output_tokens: 6, estimated: true });
    expect(run.cost).toEqual({ usd: usd(micros), micro_usd: micros, unpriced: false, estimated: true });
    expect(await ledgerOf(res.json.run_id)).toMatchObject([{ inputTokens: input, outputTokens: 6, costMicros: micros, estimated: true, unpriced: false }]);
  });

  it('a model missing from MODEL_PRICES costs 0 and is flagged unpriced', async () => {
    const { user, workspaceId, chatId } = await chatOwner('free');
    const agentId = await agentOf(user, workspaceId, { model: { name: 'free-model' } });
    const res = await post(user, agentId, { message: mock({ tokens: 4 }), session_id: chatId });
    expect(res.status, res.text).toBe(200);
    expect(res.json.metadata.cost).toBe(0);
    const run = (await call('GET', `/runs/${res.json.run_id}`, { token: user.token })).json.run;
    expect(run.cost).toEqual({ usd: 0, micro_usd: 0, unpriced: true, estimated: false });
    expect(run.usage.output_tokens).toBe(4);
    expect(await ledgerOf(res.json.run_id)).toMatchObject([{ model: 'free-model', outputTokens: 4, costMicros: 0, unpriced: true, estimated: false }]);
  });

  it('a call cancelled or broken off after text arrived is priced from that text; one that failed with no answer records nothing', async () => {
    const { user, workspaceId, chatId } = await chatOwner('partial');
    const agentId = await agentOf(user, workspaceId, { model: { name: 'priced-model' } });
    await withVars({ MODEL_PRICES: PRICES, LLM_MAX_RETRIES: '0' }, async () => {
      // Cancelled mid-stream: the partial reply is kept and priced (the model never sent usage).
      const sse = new SseReader(await chatWith(user, agentId, { message: mock({ tokens: 200, pace_ms: 20 }), session_id: chatId, stream: true }));
      const runId = ((await sse.next())!.event as any).run_id as string;
      await sse.next();
      await sse.next();
      const cancel = await call('POST', `/runs/${runId}/cancel`, { token: user.token });
      expect(cancel.status, cancel.text).toBe(200);
      await sse.all();
      const cancelled = await runUntil(user, runId, ['cancelled']);
      expect(cancelled.usage).toMatchObject({ output_tokens: Math.ceil(cancel.json.message.length / 4), estimated: true });
      expect(cancelled.cost).toMatchObject({ estimated: true, unpriced: false });
      expect(cancelled.cost.micro_usd).toBeGreaterThan(0);
      expect(await ledgerOf(runId)).toMatchObject([{ estimated: true, costMicros: cancelled.cost.micro_usd }]);

      // A stream that breaks after two tokens: failed, and what arrived is still priced.
      const broken = await post(user, agentId, { message: mock({ tokens: 10, break_after: 2 }), session_id: chatId });
      expectError(broken, 502);
      const brokenRun = (await call('GET', `/runs/${broken.json.run_id}`, { token: user.token })).json.run;
      expect(brokenRun).toMatchObject({ status: 'failed', usage: { estimated: true }, cost: { estimated: true } });
      expect(brokenRun.usage.output_tokens).toBeGreaterThan(0);
      expect(await ledgerOf(broken.json.run_id)).toHaveLength(1);

      // An error answer before any text: no usage, no cost, no ledger row.
      const refused = await post(user, agentId, { message: mock({ status: 500 }), session_id: chatId });
      expectError(refused, 502);
      const refusedRun = (await call('GET', `/runs/${refused.json.run_id}`, { token: user.token })).json.run;
      expect(refusedRun).toMatchObject({ status: 'failed', usage: null, cost: null });
      expect(await ledgerOf(refused.json.run_id)).toEqual([]);
    });
  });

  it("deleting the chat, the agent and the workspace leaves the ledger and the runs: what was spent stays spent", async () => {
    const { user, workspaceId, chatId } = await chatOwner('keep');
    const agentId = await agentOf(user, workspaceId);
    const runIds: string[] = [];
    for (const m of ['one', 'two']) {
      const res = await post(user, agentId, { message: m, session_id: chatId });
      expect(res.status, res.text).toBe(200);
      runIds.push(res.json.run_id);
    }
    const before = byId(await ledgerOfUser(user.userId));
    expect(before.map((e) => e.id).sort()).toEqual(runIds.map((id) => `${id}:1`).sort());
    const spent = await spentBy(user.userId);
    expect(spent).toBeGreaterThan(0);

    expect((await call('DELETE', `/chat?chat_id=${chatId}`, { token: user.token })).status).toBe(200);
    expect((await call('DELETE', `/agents/${agentId}`, { token: user.token })).status).toBe(200);
    expect((await call('DELETE', `/workspace/${workspaceId}`, { token: user.token })).status).toBe(200);

    expect(byId(await ledgerOfUser(user.userId))).toEqual(before);
    expect(await spentBy(user.userId)).toBe(spent);
    for (const id of runIds) {
      const run = await call('GET', `/runs/${id}`, { token: user.token });
      expect(run.status).toBe(200);
      expect(run.json.run.cost.micro_usd).toBe(before.find((e) => e.runId === id)!.costMicros);
    }
  });
});

describe('max_tokens', () => {
  it("every model call asks for at most min(the agent's max_tokens, AGENT_MAX_OUTPUT_TOKENS)", async () => {
    const { user, workspaceId, chatId } = await chatOwner('cap');
    const big = await agentOf(user, workspaceId, { name: 'Big', model: { name: 'gpt-4o-mini', max_tokens: 50 } });
    const small = await agentOf(user, workspaceId, { name: 'Small', model: { name: 'gpt-4o-mini', max_tokens: 3 } });
    const unset = await agentOf(user, workspaceId, { name: 'Unset' });
    const asked: Record<string, number> = {};
    await withVars({ AGENT_MAX_OUTPUT_TOKENS: '5' }, async () => {
      for (const [name, id] of [['big', big], ['small', small], ['unset', unset]] as const) {
        const tag = uniqueTag(`cap-${name}`);
        const res = await post(user, id, { message: mock({ tokens: 20, tag }), session_id: chatId });
        expect(res.status, res.text).toBe(200);
        asked[name] = (await modelRequests(tag))[0].body.max_tokens;
        expect(res.json.metadata.finish_reason).toBe('length');
      }
    });
    expect(asked).toEqual({ big: 5, small: 3, unset: 5 });
  });
});

describe('admission: the budget', () => {
  it("a spent budget: 402 budget_exceeded over HTTP naming the user's own limit, before anything is stored or the model is asked", async () => {
    const { user, workspaceId, chatId } = await chatOwner('broke');
    const agentId = await agentOf(user, workspaceId);
    // Last month's spend does not count.
    await seedSpend(user, 50_000_000, monthOf(Date.now()).start - 1);
    await setBudget(user, 5_000_000);
    const ok = await post(user, agentId, { message: 'still fine', session_id: chatId });
    expect(ok.status, ok.text).toBe(200);
    await seedSpend(user, 5_010_000 - (await spentThisMonth(user.userId))); // this month: exactly $5.01
    const chatsBefore = (await db().select().from(chats).where(eq(chats.ownerId, user.userId))).length;
    const messagesBefore = (await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token })).json.messages.length;

    const tag = uniqueTag('broke');
    for (const body of [
      { message: mock({ tag }), session_id: chatId },
      { message: mock({ tag }), session_id: chatId, stream: true },
      { message: mock({ tag }) }, // a new chat: none is made
      { message: mock({ tag }), workspace_id: workspaceId },
    ]) {
      const res = await post(user, agentId, body);
      expectError(res, 402, 'Your monthly budget of $5.00 is spent ($5.01 this month)');
      expect(res.json.code).toBe('budget_exceeded');
    }
    expect(await modelRequests(tag)).toEqual([]);
    expect((await db().select().from(chats).where(eq(chats.ownerId, user.userId))).length).toBe(chatsBefore);
    expect((await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token })).json.messages).toHaveLength(messagesBefore);

    // Code is refused the same way, storing nothing.
    const { startRunFromCode } = await import('../src/runs/agent-chat');
    expect(await startRunFromCode(env, { chatId, agentId, userId: user.userId, message: mock({ tag }) })).toMatchObject({
      ok: false,
      code: 'budget_exceeded',
      msg: 'Your monthly budget of $5.00 is spent ($5.01 this month)',
    });
    // Lifting the budget lets the next run in.
    await setBudget(user, null);
    expect((await post(user, agentId, { message: 'again', session_id: chatId })).status).toBe(200);
  });

  it('in a chat: the message is stored and acked, then a failed run and a run.failed frame with budget_exceeded; the model is never asked', async () => {
    const { user, workspaceId, chatId } = await chatOwner('brokews');
    const agentId = await agentOf(user, workspaceId);
    await setBudget(user, 1_000_000);
    await seedSpend(user, 1_000_000);
    const { client } = await connect(user, chatId);
    const tag = uniqueTag('brokews');
    client.send({ type: 'message', message_string: await messageString(user, chatId), content: mock({ tag }), agent_id: agentId });
    const frames = await framesUntil(client, runEnded());
    expect(frames.map((f) => f.type)).toEqual(['message', 'ack', 'run.failed']);
    expect(frames[2]).toMatchObject({ code: 'budget_exceeded', msg: 'Your monthly budget of $1.00 is spent ($1.00 this month)' });
    const run = await runUntil(user, (frames[2] as RunFrame).run_id, ['failed']);
    expect(run).toMatchObject({ error: { code: 'budget_exceeded' }, started_at: null, usage: null, cost: null });
    expect(await modelRequests(tag)).toEqual([]);
  });

  it("the operator's ceiling (USER_MONTHLY_LIMIT_USD) holds whatever the user's budget says, and its msg names the operator", async () => {
    const { user, workspaceId, chatId } = await chatOwner('ceiling');
    const agentId = await agentOf(user, workspaceId);
    await setBudget(user, 5_000_000);
    await withVars({ USER_MONTHLY_LIMIT_USD: '0.000001' }, async () => {
      const first = await post(user, agentId, { message: mock({ tokens: 3 }), session_id: chatId });
      expect(first.status, first.text).toBe(200);
      const spent = await spentBy(user.userId);
      expect(spent).toBeGreaterThanOrEqual(1);
      const tag = uniqueTag('ceiling');
      const res = await post(user, agentId, { message: mock({ tag }), session_id: chatId });
      expectError(res, 402, `The operator's monthly limit of $0.000001 per user is spent ($${(spent / 1e6).toFixed(6).replace(/0+$/, '')} this month)`);
      expect(res.json.code).toBe('budget_exceeded');
      expect(await modelRequests(tag)).toEqual([]);
      // Both spent: the lower limit is the one named.
      await setBudget(user, 1);
      expect((await post(user, agentId, { message: 'x', session_id: chatId })).json.msg).toMatch(/^Your monthly budget of \$0\.000001 is spent/);
    });
  });

  it('a queued follow-up is admitted again when it starts: over budget by then, it fails with budget_exceeded and the model is not asked', async () => {
    const { user, workspaceId, chatId } = await chatOwner('followup');
    const agentId = await agentOf(user, workspaceId);
    const { client } = await connect(user, chatId);
    const say = async (content: string) => client.send({ type: 'message', message_string: await messageString(user, chatId), content, agent_id: agentId });
    await say(mock({ tokens: 40, pace_ms: 25 }));
    const head = await framesUntil(client, (f) => f.type === 'run.started');
    const firstRun = (head[head.length - 1] as RunFrame).run_id;
    const tag = uniqueTag('followup');
    await say(mock({ tag }));
    // The follow-up is queued (admitted: the budget is fine so far) ...
    let queued: string | undefined;
    for (const until = Date.now() + 3000; !queued && Date.now() < until; await new Promise((r) => setTimeout(r, 20))) {
      queued = (await call('GET', `/runs?chat_id=${chatId}&status=queued`, { token: user.token })).json.runs[0]?.run_id;
    }
    expect(queued).toBeDefined();
    // ... then the budget is spent while the first run still answers.
    await setBudget(user, 0);
    const rest = await framesUntil(client, runEnded(queued));
    expect(rest.find(runEnded(firstRun))).toMatchObject({ type: 'run.finished', status: 'completed' });
    expect(rest[rest.length - 1]).toMatchObject({ type: 'run.failed', run_id: queued, code: 'budget_exceeded' });
    expect((rest[rest.length - 1] as any).msg).toMatch(/^Your monthly budget of \$0\.00 is spent/);
    expect(rest.some((f) => f.type === 'run.started' && f.run_id === queued)).toBe(false);
    expect(await modelRequests(tag)).toEqual([]);
    expect(await runUntil(user, queued!, ['failed'])).toMatchObject({ error: { code: 'budget_exceeded' }, started_at: null });
  });
});

describe("admission: the operator's allow-list", () => {
  it('an agent naming a model outside LLM_MODELS: 400 model_not_allowed over HTTP, run.failed in a chat, the model never asked', async () => {
    const { user, workspaceId, chatId } = await chatOwner('allow');
    // Made while tests allow any model (vitest.config.ts sets LLM_MODELS to *).
    const other = await agentOf(user, workspaceId, { name: 'Other', model: { name: 'gpt-4o-mini' } });
    const allowed = await agentOf(user, workspaceId, { name: 'Allowed', model: { name: 'only-this' } });
    const { client } = await connect(user, chatId);
    await withVars({ LLM_MODELS: 'only-this' }, async () => {
      const tag = uniqueTag('allow');
      const res = await post(user, other, { message: mock({ tag }), session_id: chatId });
      expectError(res, 400, 'The agent\'s model "gpt-4o-mini" is not one the operator allows (LLM_MODELS)');
      expect(res.json.code).toBe('model_not_allowed');
      expectError(await post(user, other, { message: mock({ tag }) }), 400);

      client.send({ type: 'message', message_string: await messageString(user, chatId), content: mock({ tag }), agent_id: other });
      const frames = await framesUntil(client, runEnded());
      expect(frames.map((f) => f.type)).toEqual(['message', 'ack', 'run.failed']);
      expect(frames[2]).toMatchObject({ code: 'model_not_allowed' });
      expect(await modelRequests(tag)).toEqual([]);

      const ok = await post(user, allowed, { message: 'hi', session_id: chatId });
      expect(ok.status, ok.text).toBe(200);
      expect(ok.json.metadata.model).toBe('only-this');
    });
  });
});

describe('races: admission reads spend, it reserves none', () => {
  it('two runs admitted together near the limit both run (the overshoot is what they spend); a third, after them, is refused', async () => {
    const { user, workspaceId, chatId } = await chatOwner('race');
    const agentId = await agentOf(user, workspaceId, { model: { name: 'race-model' } });
    const second = (await call('POST', `/chat?workspace_id=${workspaceId}`, { token: user.token })).json.chat.chat_id as string;
    const limit = 1_000_000;
    await setBudget(user, limit);
    await seedSpend(user, limit - 1); // one micro-dollar left: any run spends it all and more
    await withVars({ MODEL_PRICES: PRICES }, async () => {
      const a = new SseReader(await chatWith(user, agentId, { message: mock({ tokens: 5, pace_ms: 40 }), session_id: chatId, stream: true }));
      const b = new SseReader(await chatWith(user, agentId, { message: mock({ tokens: 5, pace_ms: 40 }), session_id: second, stream: true }));
      // Both admitted: each began before either had spent anything.
      const [startA, startB] = [(await a.next())!.event as any, (await b.next())!.event as any];
      expect([startA.type, startB.type]).toEqual(['start', 'start']);
      const [endA, endB] = [(await a.all()).pop()!.event as any, (await b.all()).pop()!.event as any];
      expect([endA.status, endB.status]).toEqual(['completed', 'completed']);
      const runA = await runUntil(user, startA.run_id, ['completed']);
      const runB = await runUntil(user, startB.run_id, ['completed']);
      // The month overshoots the limit by at most what the runs admitted together spent.
      const spent = await spentBy(user.userId);
      expect(spent).toBe(limit - 1 + runA.cost.micro_usd + runB.cost.micro_usd);
      expect(spent - limit).toBeLessThanOrEqual(runA.cost.micro_usd + runB.cost.micro_usd);

      const tag = uniqueTag('race');
      const third = await post(user, agentId, { message: mock({ tag }), session_id: chatId });
      expectError(third, 402);
      expect(third.json.code).toBe('budget_exceeded');
      expect(await modelRequests(tag)).toEqual([]);
    });
  });
});

describe('budget thresholds', () => {
  it('each threshold a run crosses is recorded once, in the month it was crossed', async () => {
    const { user, workspaceId, chatId } = await chatOwner('thr');
    const agentId = await agentOf(user, workspaceId, { model: { name: 'thr-model' } });
    await setBudget(user, 100, [0.25, 0.5, 1]);
    const month = monthOf(Date.now()).month;
    const alerts = async () =>
      (await db().select().from(budgetAlerts).where(and(eq(budgetAlerts.userId, user.userId), eq(budgetAlerts.month, month))))
        .map((a) => a.threshold)
        .sort();
    // Each run: 3 output tokens at 10 micro-USD, nothing for input: 30 micro-USD.
    const run = () => withVars({ MODEL_PRICES: PRICES }, () => post(user, agentId, { message: mock({ tokens: 3 }), session_id: chatId }));
    const seen: number[][] = [];
    for (let i = 0; i < 4; i++) {
      const res = await run();
      expect(res.status, res.text).toBe(200);
      expect(res.json.metadata.cost).toBe(usd(30));
      seen.push(await alerts());
    }
    // 30 crosses 25; 60 crosses 50; 90 crosses nothing; 120 crosses 100.
    expect(seen).toEqual([[0.25], [0.25, 0.5], [0.25, 0.5], [0.25, 0.5, 1]]);
    expect(await spentBy(user.userId)).toBe(120);
    // Spent: the next run is refused, and nothing is recorded twice.
    expectError(await run(), 402, 'Your monthly budget of $0.0001 is spent ($0.00012 this month)');
    expect(await alerts()).toEqual([0.25, 0.5, 1]);
    const rows = await db().select().from(budgetAlerts).where(eq(budgetAlerts.userId, user.userId));
    expect(rows).toHaveLength(3);
  });
});
