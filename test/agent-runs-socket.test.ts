import { abortAllDurableObjects, runDurableObjectAlarm } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { getDb } from '../src/db/client';
import { budgetAlerts, budgets, usageEntries } from '../src/db/schema';
import type { RunFrame, ServerFrame } from '../src/durable/protocol';
import { chatOwner, type ChatClient, connect, messageString } from './chat-helpers';
import { call, withVars } from './helpers';
import { mock } from './model-helpers';
import { agentOf, chatWith, runUntil, SseReader } from './run-helpers';

/**
 * Agent runs as the chat's sockets see them: run.started, coalesced run.delta, the stored reply as
 * a `message` frame, then run.finished or run.failed. The invariant tested hardest: whenever a
 * socket joins, the deltas it receives add up to the stored reply, nothing twice, nothing lost.
 */

type Frames = ServerFrame[];

/** Reads frames until `stop` says so (each frame within the guard's time). */
async function framesUntil(client: ChatClient, stop: (f: ServerFrame) => boolean, ms = 5000): Promise<Frames> {
  const out: Frames = [];
  for (;;) {
    const f = await client.next(ms);
    out.push(f);
    if (stop(f)) return out;
  }
}
const runEnded = (runId?: string) => (f: ServerFrame) => (f.type === 'run.finished' || f.type === 'run.failed') && (!runId || f.run_id === runId);
const deltasOf = (frames: Frames, runId: string) =>
  frames.filter((f): f is Extract<RunFrame, { type: 'run.delta' }> => f.type === 'run.delta' && f.run_id === runId).map((f) => f.text).join('');
const agentMessage = (frames: Frames) => frames.find((f) => f.type === 'message' && f.message.role === 'agent') as Extract<ServerFrame, { type: 'message' }> | undefined;
const tokens = (n: number) => Array.from({ length: n }, (_, i) => `tok${i + 1}`).join(' ');

describe('a message frame addressed to an agent', () => {
  it('is stored and acked first; then run.started, deltas adding up to the reply, the reply as a message, run.finished', async () => {
    const { user, workspaceId, chatId } = await chatOwner('wsrun');
    const agentId = await agentOf(user, workspaceId);
    const { client } = await connect(user, chatId);
    client.send({ type: 'message', message_string: await messageString(user, chatId), content: mock({ tokens: 12, pace_ms: 5 }), agent_id: agentId });
    const frames = await framesUntil(client, runEnded());
    expect(frames.slice(0, 3).map((f) => f.type)).toEqual(['message', 'ack', 'run.started']);
    const started = frames[2] as Extract<RunFrame, { type: 'run.started' }>;
    expect(started).toMatchObject({ agent_id: agentId, reply_to_seq: (frames[1] as any).seq });
    const reply = agentMessage(frames)!;
    expect(reply.message).toMatchObject({ role: 'agent', sender_id: agentId, content: tokens(12) });
    expect(deltasOf(frames, started.run_id)).toBe(tokens(12));
    const end = frames[frames.length - 1];
    expect(end).toMatchObject({ type: 'run.finished', run_id: started.run_id, status: 'completed' });
    expect((end as any).usage.output_tokens).toBe(12);
    // The reply comes before run.finished, and no delta after it.
    expect(frames.indexOf(reply)).toBe(frames.length - 2);
    const run = await runUntil(user, started.run_id, ['completed']);
    expect(run).toMatchObject({ trigger: 'message', reply_message_id: reply.message.message_id });
  });

  it('an agent that cannot answer: the message is kept and the run fails with its code (run.failed)', async () => {
    const { user, workspaceId, chatId } = await chatOwner('wsref');
    const outsider = await agentOf(user);
    const { client } = await connect(user, chatId);
    client.send({ type: 'message', message_string: await messageString(user, chatId), content: 'hello?', agent_id: outsider });
    const frames = await framesUntil(client, runEnded());
    expect(frames.map((f) => f.type)).toEqual(['message', 'ack', 'run.failed']);
    expect(frames[2]).toMatchObject({ code: 'agent_not_in_workspace' });
    const run = await runUntil(user, (frames[2] as any).run_id, ['failed']);
    expect(run.error.code).toBe('agent_not_in_workspace');
    await withVars({ LLM_BASE_URL: '' }, async () => {
      const agentId = await agentOf(user, workspaceId);
      client.send({ type: 'message', message_string: await messageString(user, chatId), content: 'anyone?', agent_id: agentId });
      const more = await framesUntil(client, runEnded());
      expect(more[more.length - 1]).toMatchObject({ type: 'run.failed', code: 'model_unavailable' });
    });
    client.send({ type: 'message', message_string: await messageString(user, chatId), content: 'x', agent_id: 'no-such-agent' });
    expect((await framesUntil(client, runEnded())).pop()).toMatchObject({ type: 'run.failed', code: 'agent_not_found' });
    expect((await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token })).json.messages.map((m: any) => m.role)).toEqual(['user', 'user', 'user']);
  });

  it("a message frame's agent_id must be a short string", async () => {
    const { user, chatId } = await chatOwner('wsbad');
    const { client } = await connect(user, chatId);
    client.send({ type: 'message', message_string: await messageString(user, chatId), content: 'x', agent_id: 42 });
    expect(await client.take('error')).toMatchObject({ code: 'invalid_frame', msg: 'agent_id must be a string of 1 to 64 characters' });
  });

  it('run.* frames reach batch=1 sockets at once, not held for a batch', async () => {
    const { user, workspaceId, chatId } = await chatOwner('wsbatch');
    const agentId = await agentOf(user, workspaceId);
    const { client: batch } = await connect(user, chatId, '&batch=1');
    const sender = (await connect(user, chatId)).client;
    await withVars({ CHAT_BATCH_WINDOW_MS: '1000' }, async () => {
      sender.send({ type: 'message', message_string: await messageString(user, chatId), content: mock({ reply: 'quick' }), agent_id: agentId });
      const frames = await framesUntil(batch, runEnded(), 900);
      // run.started flushed the pending user message first, so order holds without waiting the window.
      expect(frames.map((f) => f.type)).toEqual(['messages', 'run.started', 'run.delta', 'messages', 'run.finished']);
      expect((frames[3] as any).messages[0].content).toBe('quick');
    });
  });
});

describe('sockets joining during a run', () => {
  it('get run.started and the text so far as one delta, then the live deltas: always exactly the reply', async () => {
    const { user, workspaceId, chatId } = await chatOwner('join');
    const agentId = await agentOf(user, workspaceId);
    const sse = new SseReader(await chatWith(user, agentId, { message: mock({ tokens: 40, pace_ms: 8 }), session_id: chatId, stream: true }));
    const runId = ((await sse.next())!.event as any).run_id as string;
    const joined: Promise<Frames>[] = [];
    for (let i = 0; i < 6; i++) {
      await sse.next();
      await sse.next();
      const { client } = await connect(user, chatId, i % 2 ? '&batch=1' : '&after_seq=0');
      joined.push(framesUntil(client, runEnded(runId)));
    }
    await sse.all();
    for (const frames of joined) {
      const all = await frames;
      const firstRun = all.findIndex((f) => f.type.startsWith('run.'));
      expect(all[firstRun]).toMatchObject({ type: 'run.started', run_id: runId });
      expect(deltasOf(all, runId)).toBe(tokens(40));
    }
  });

  it('a socket that joins while the delta window holds text still adds up (the window is flushed first)', async () => {
    const { user, workspaceId, chatId } = await chatOwner('joinwin');
    const agentId = await agentOf(user, workspaceId);
    await withVars({ RUN_DELTA_WINDOW_MS: '200' }, async () => {
      const { client: early } = await connect(user, chatId);
      const sse = new SseReader(await chatWith(user, agentId, { message: mock({ tokens: 30, pace_ms: 10 }), session_id: chatId, stream: true }));
      const runId = ((await sse.next())!.event as any).run_id as string;
      for (let i = 0; i < 5; i++) await sse.next();
      const { client: late } = await connect(user, chatId);
      const [e, l] = await Promise.all([framesUntil(early, runEnded(runId)), framesUntil(late, runEnded(runId))]);
      expect(deltasOf(e, runId)).toBe(tokens(30));
      expect(deltasOf(l, runId)).toBe(tokens(30));
      // Coalesced: ~300 ms of tokens in 200 ms windows is a handful of frames, not 30.
      expect(e.filter((f) => f.type === 'run.delta').length).toBeLessThanOrEqual(5);
    });
  });
});

describe('busy agents, cancel frames and chat deletion', () => {
  it('a message to a busy agent queues one follow-up run that sees everything said since', async () => {
    const { user, workspaceId, chatId } = await chatOwner('follow');
    const agentId = await agentOf(user, workspaceId);
    const { client } = await connect(user, chatId);
    const say = async (content: string) =>
      client.send({ type: 'message', message_string: await messageString(user, chatId), content, agent_id: agentId });
    await say(mock({ tokens: 10, pace_ms: 15 }));
    const first = await framesUntil(client, (f) => f.type === 'run.started');
    const firstRun = (first[first.length - 1] as any).run_id;
    await say('second');
    await say(mock({ echo: true }));
    const rest = await framesUntil(client, (f) => runEnded()(f) && (f as RunFrame).run_id !== firstRun);
    const started = rest.filter((f) => f.type === 'run.started');
    expect(started).toHaveLength(1); // one follow-up for both messages
    const followUp = (started[0] as any).run_id;
    const seen = JSON.parse(deltasOf(rest, followUp));
    // In the chat's order: the first reply was stored after both messages that arrived during it.
    expect(seen.map((m: any) => m.content)).toEqual(['You are Helper.', mock({ tokens: 10, pace_ms: 15 }), 'second', mock({ echo: true }), tokens(10)]);
    expect(rest.findIndex((f) => runEnded(firstRun)(f))).toBeLessThan(rest.indexOf(started[0]));
  });

  it('a cancel frame ends the run cancelled with its partial text; unknown or finished runs are error frames', async () => {
    const { user, workspaceId, chatId } = await chatOwner('wscancel');
    const agentId = await agentOf(user, workspaceId);
    const { client } = await connect(user, chatId);
    client.send({ type: 'message', message_string: await messageString(user, chatId), content: mock({ tokens: 200, pace_ms: 10 }), agent_id: agentId });
    const head = await framesUntil(client, (f) => f.type === 'run.delta');
    const runId = (head.find((f) => f.type === 'run.started') as any).run_id;
    client.send({ type: 'cancel', run_id: runId });
    const tail = await framesUntil(client, runEnded(runId));
    expect(tail[tail.length - 1]).toMatchObject({ type: 'run.finished', status: 'cancelled' });
    const kept = agentMessage(tail)!.message.content;
    expect(deltasOf([...head, ...tail], runId)).toBe(kept);
    expect(kept.length).toBeGreaterThan(0);
    client.send({ type: 'cancel', run_id: runId });
    expect(await client.take('error')).toMatchObject({ code: 'run_not_active' });
    client.send({ type: 'cancel', run_id: 'no-such-run' });
    expect(await client.take('error')).toMatchObject({ code: 'run_not_found' });
    client.send({ type: 'cancel' });
    expect(await client.take('error')).toMatchObject({ code: 'invalid_frame', msg: 'run_id must be a string of 1 to 64 characters' });
  });

  it('deleting the chat aborts its runs (cancelled, saying why)', async () => {
    const { user, workspaceId, chatId } = await chatOwner('delrun');
    const agentId = await agentOf(user, workspaceId);
    const sse = new SseReader(await chatWith(user, agentId, { message: mock({ tokens: 500, pace_ms: 10 }), session_id: chatId, stream: true }));
    const runId = ((await sse.next())!.event as any).run_id as string;
    await sse.next();
    expect((await call('DELETE', `/chat?chat_id=${chatId}`, { token: user.token })).status).toBe(200);
    const rest = await sse.all();
    expect(rest[rest.length - 1].event).toMatchObject({ type: 'end', status: 'cancelled' });
    const run = await runUntil(user, runId, ['cancelled']);
    expect(run.error).toEqual({ code: 'chat_not_found', msg: 'The chat was deleted' });
  });
});

describe('durable runs', () => {
  it("an object that dies mid-run: its alarm fails the orphaned run (run_interrupted) and nothing stays running", async () => {
    const { user, workspaceId, chatId } = await chatOwner('orphan');
    const agentId = await agentOf(user, workspaceId);
    const sse = new SseReader(await chatWith(user, agentId, { message: mock({ tokens: 500, pace_ms: 20 }), session_id: chatId, stream: true }));
    const runId = ((await sse.next())!.event as any).run_id as string;
    await sse.next();
    await abortAllDurableObjects();
    const stub = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(chatId));
    // The next instance finds the run in storage and sets its alarm for now; fire it.
    const history = await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token });
    expect(history.status).toBe(200);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const run = await runUntil(user, runId, ['failed']);
    expect(run.error.code).toBe('run_interrupted');
    expect((await call('GET', `/agents/${agentId}`, { token: user.token })).json.agent.status).toBe('idle');
    // The agent answers again at once.
    const next = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: 'still there?', session_id: chatId } });
    expect(next.status, next.text).toBe(200);
    expect(next.json.message).toBe('Echo: still there?');
  });
});

describe('runs started from code', () => {
  it('startRunFromCode: the same checks, a code trigger, and the sockets see it like any run', async () => {
    const { startRunFromCode } = await import('../src/runs/agent-chat');
    const { user, workspaceId, chatId } = await chatOwner('code');
    const agentId = await agentOf(user, workspaceId);
    const { client } = await connect(user, chatId);
    const started = await startRunFromCode(env, { chatId, agentId, userId: user.userId, message: mock({ reply: 'from code' }) });
    expect(started.ok).toBe(true);
    const runId = started.ok ? started.run.run_id : '';
    const frames = await framesUntil(client, runEnded(runId));
    expect(frames.map((f) => f.type).filter((t) => t !== 'run.delta')).toEqual(['message', 'run.started', 'message', 'run.finished']);
    expect(frames[0]).toMatchObject({ message: { role: 'system' } });
    expect(deltasOf(frames, runId)).toBe(agentMessage(frames)!.message.content);
    expect(await runUntil(user, runId, ['completed'])).toMatchObject({ trigger: 'code' });
    const other = await chatOwner('code2');
    expect(await startRunFromCode(env, { chatId, agentId, userId: other.user.userId })).toMatchObject({ ok: false, code: 'chat_not_found' });
    const outsider = await agentOf(user);
    expect(await startRunFromCode(env, { chatId, agentId: outsider, userId: user.userId })).toMatchObject({ ok: false, code: 'agent_not_in_workspace' });
  });
});

describe("the chat's default agent", () => {
  it('answers every user message that names no agent; a named agent answers instead; null stops it', async () => {
    const { user, workspaceId, chatId } = await chatOwner('deflt');
    const agentId = await agentOf(user, workspaceId);
    const other = await agentOf(user, workspaceId, { name: 'Other' });
    const set = await call('PUT', `/chat/agent?chat_id=${chatId}`, { token: user.token, body: { agent_id: agentId } });
    expect(set.status, set.text).toBe(200);
    const { client } = await connect(user, chatId);
    const say = async (content: string, agent_id?: string) =>
      client.send({ type: 'message', message_string: await messageString(user, chatId), content, ...(agent_id ? { agent_id } : {}) });

    await say('plain');
    let frames = await framesUntil(client, runEnded());
    expect(frames.find((f) => f.type === 'run.started')).toMatchObject({ agent_id: agentId });
    expect(agentMessage(frames)!.message).toMatchObject({ sender_id: agentId, content: 'Echo: plain' });

    await say('to the other', other);
    frames = await framesUntil(client, runEnded());
    expect(frames.find((f) => f.type === 'run.started')).toMatchObject({ agent_id: other });

    expect((await call('PUT', `/chat/agent?chat_id=${chatId}`, { token: user.token, body: { agent_id: null } })).status).toBe(200);
    await say('nobody answers');
    frames = await framesUntil(client, (f) => f.type === 'ack');
    client.send({ type: 'ping' });
    expect((await client.next()).type).toBe('pong'); // no run frame came in between
  });

  it('a deleted default agent: the next message fails its run once (agent_not_found), then the object forgets it', async () => {
    const { user, workspaceId, chatId } = await chatOwner('deflt2');
    const agentId = await agentOf(user, workspaceId);
    expect((await call('PUT', `/chat/agent?chat_id=${chatId}`, { token: user.token, body: { agent_id: agentId } })).status).toBe(200);
    expect((await call('DELETE', `/agents/${agentId}`, { token: user.token })).status).toBe(200);
    expect((await call('GET', `/chat?chat_id=${chatId}`, { token: user.token })).json.agent_id).toBeNull();
    const { client } = await connect(user, chatId);
    client.send({ type: 'message', message_string: await messageString(user, chatId), content: 'hello?' });
    expect((await framesUntil(client, runEnded())).pop()).toMatchObject({ type: 'run.failed', code: 'agent_not_found' });
    client.send({ type: 'message', message_string: await messageString(user, chatId), content: 'again?' });
    await framesUntil(client, (f) => f.type === 'ack');
    client.send({ type: 'ping' });
    expect((await client.next()).type).toBe('pong');
  });
});

describe("the D1 mirror of a run", () => {
  it('a failed D1 write leaves the run dirty in the object, and its alarm writes it later (fault injection: D1 refuses run rows for a while)', async () => {
    const { user, workspaceId, chatId } = await chatOwner('d1retry');
    const agentId = await agentOf(user, workspaceId);
    // Fault injection, said plainly: env.DB.prepare throws for statements writing the runs table.
    const realPrepare = env.DB.prepare;
    env.DB.prepare = function (query: string) {
      if (/insert into "runs"/i.test(query)) throw new Error('D1 is unavailable (injected)');
      return realPrepare.call(this, query);
    };
    let answer;
    const log = console.error;
    console.error = () => {};
    try {
      answer = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: 'hello', session_id: chatId } });
    } finally {
      env.DB.prepare = realPrepare;
      console.error = log;
    }
    expect(answer.status, answer.text).toBe(200);
    expect((await call('GET', `/runs/${answer.json.run_id}`, { token: user.token })).status).toBe(404);
    // The run's end is one batch: its ledger row did not go in without the row either.
    const ledger = () => getDb(env).select().from(usageEntries).where(eq(usageEntries.runId, answer.json.run_id));
    expect(await ledger()).toEqual([]);
    const stub = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(chatId));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const run = await call('GET', `/runs/${answer.json.run_id}`, { token: user.token });
    expect(run.status).toBe(200);
    expect(run.json.run).toMatchObject({ status: 'completed', reply_message_id: answer.json.id });
    expect(await ledger()).toMatchObject([{ id: `${answer.json.run_id}:1`, costMicros: run.json.run.cost.micro_usd }]);
  });

  it("a write whose answer was lost is written again by the alarm, and adds nothing twice (fault injection: D1's batch applies, then throws)", async () => {
    const { user, workspaceId, chatId } = await chatOwner('d1twice');
    const agentId = await agentOf(user, workspaceId);
    await getDb(env).insert(budgets).values({ userId: user.userId, monthlyLimitMicros: 1, alertThresholds: '[0.5, 1]', updatedAt: Date.now() });
    // Fault injection, said plainly: env.DB.batch (the run's end: its row, its ledger rows, the
    // thresholds it crossed) does its work and then throws, as if the answer never came back.
    const realBatch = env.DB.batch;
    env.DB.batch = async function (this: D1Database, statements: D1PreparedStatement[]) {
      await realBatch.call(this, statements);
      throw new Error('the answer was lost (injected)');
    } as typeof realBatch;
    let answer;
    const log = console.error;
    console.error = () => {};
    try {
      answer = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: 'hello', session_id: chatId } });
    } finally {
      env.DB.batch = realBatch;
      console.error = log;
    }
    expect(answer.status, answer.text).toBe(200);
    const ledger = () => getDb(env).select().from(usageEntries).where(eq(usageEntries.userId, user.userId));
    const alerts = () => getDb(env).select().from(budgetAlerts).where(eq(budgetAlerts.userId, user.userId));
    const [written, crossed] = [await ledger(), await alerts()];
    expect(written).toHaveLength(1);
    expect(crossed.map((a) => a.threshold).sort()).toEqual([0.5, 1]);
    const stub = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(chatId));
    expect(await runDurableObjectAlarm(stub)).toBe(true); // the run was still dirty: written again
    expect(await ledger()).toEqual(written);
    expect(await alerts()).toEqual(crossed);
    expect((await call('GET', `/runs/${answer.json.run_id}`, { token: user.token })).json.run.cost.micro_usd).toBe(written[0].costMicros);
  });
});
