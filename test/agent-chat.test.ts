import { describe, expect, it } from 'vitest';
import { chatOwner } from './chat-helpers';
import { call, expectError, newUser, withVars } from './helpers';
import { mock, modelRequests, uniqueTag } from './model-helpers';
import { agentOf, chatWith, runEvents, runUntil, SseReader, tokensText } from './run-helpers';

/**
 * POST /agents/{agent_id}/chat (AgentArea's chat, over our chats): the run executes in the chat's
 * object against the local model server (test/model-server/server.mjs), whose answer each test
 * scripts with a `[[mock ...]]` directive in its message.
 */

describe('POST /agents/{agent_id}/chat (JSON)', () => {
  it("answers the agent's reply, and both turns are ordinary messages of a new chat in the user's Agent chats workspace", async () => {
    const user = await newUser('ac');
    const agentId = await agentOf(user);
    const res = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: mock({ reply: 'Hello there, friend.' }, 'hi') } });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ message: 'Hello there, friend.', status: 'completed', metadata: { model: 'gpt-4o-mini', finish_reason: 'stop' } });
    expect(res.json.metadata.tokens_used).toBeGreaterThan(0);
    expect(res.json.metadata.cost).toBeGreaterThan(0); // gpt-4o-mini is in MODEL_PRICES' default (test/cost-runs.test.ts checks the arithmetic)
    expect(typeof res.json.id).toBe('string');
    expect(Date.parse(res.json.timestamp)).toBeGreaterThan(0);

    const chat = await call('GET', `/chat?chat_id=${res.json.session_id}`, { token: user.token });
    expect(chat.status).toBe(200);
    const ws = await call('GET', `/workspace/${chat.json.workspace_id}`, { token: user.token });
    expect(ws.json.workspace.name).toBe('Agent chats');
    expect(ws.json.workspace.agents).toContain(agentId);

    const msgs = await call('GET', `/chat/messages?chat_id=${res.json.session_id}`, { token: user.token });
    expect(msgs.json.messages.map((m: any) => [m.role, m.sender_id, m.content])).toEqual([
      ['user', user.userId, mock({ reply: 'Hello there, friend.' }, 'hi')],
      ['agent', agentId, 'Hello there, friend.'],
    ]);
    expect(msgs.json.messages[1].message_id).toBe(res.json.id);

    const run = await call('GET', `/runs/${res.json.run_id}`, { token: user.token });
    expect(run.json.run).toMatchObject({ status: 'completed', agent_id: agentId, chat_id: res.json.session_id, trigger: 'http', reply_message_id: res.json.id, error: null });
    expect(run.json.run.usage).toMatchObject({ estimated: false });
    expect(run.json.run.usage.output_tokens).toBeGreaterThan(0);
    expect(run.json.run.cost).toMatchObject({ usd: res.json.metadata.cost, unpriced: false, estimated: false });
    expect(run.json.run.timings.time_to_first_token_ms).toBeGreaterThanOrEqual(0);

    // A second conversation without session_id reuses the one Agent chats workspace.
    const again = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: 'again' } });
    expect(again.status).toBe(200);
    expect(again.json.message).toBe('Echo: again');
    expect(again.json.session_id).not.toBe(res.json.session_id);
    const chat2 = await call('GET', `/chat?chat_id=${again.json.session_id}`, { token: user.token });
    expect(chat2.json.workspace_id).toBe(chat.json.workspace_id);
  });

  it("continues a chat (session_id): the model sees the agent's system prompt and this chat's messages, never another chat's", async () => {
    const { user, workspaceId, chatId } = await chatOwner('ctx');
    const agentId = await agentOf(user, workspaceId, { system_prompt: 'You are Terse.', model: { name: 'ctx-model', temperature: 0.3, max_tokens: 50 } });
    const other = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: 'SECRET in another chat', workspace_id: workspaceId } });
    expect(other.status).toBe(200);
    const first = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: 'first words', session_id: chatId } });
    expect(first.json.message).toBe('Echo: first words');
    const tag = uniqueTag('ctx');
    const echo = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: mock({ echo: true, tag }), session_id: chatId } });
    expect(echo.status, echo.text).toBe(200);
    const seen = JSON.parse(echo.json.message);
    expect(seen).toEqual([
      { role: 'system', content: 'You are Terse.' },
      { role: 'user', content: 'first words' },
      { role: 'assistant', content: 'Echo: first words' },
      { role: 'user', content: mock({ echo: true, tag }) },
    ]);
    const [req] = await modelRequests(tag);
    // max_tokens: the agent's 50, under AGENT_MAX_OUTPUT_TOKENS (test/cost-runs.test.ts tests the cap).
    expect(req.body).toMatchObject({ model: 'ctx-model', temperature: 0.3, max_tokens: 50, stream: true });
  });

  it('sees at most AGENT_CONTEXT_MESSAGES of the latest messages', async () => {
    const { user, workspaceId, chatId } = await chatOwner('ctxn');
    const agentId = await agentOf(user, workspaceId, { system_prompt: 'S' });
    for (const m of ['one', 'two']) await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: m, session_id: chatId } });
    const res = await withVars({ AGENT_CONTEXT_MESSAGES: '3' }, () =>
      call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: mock({ echo: true }), session_id: chatId } }),
    );
    expect(JSON.parse(res.json.message).map((m: any) => m.content)).toEqual(['S', 'two', 'Echo: two', mock({ echo: true })]);
  });

  it('refuses what it cannot do: 400, 401, 404 and 409, storing nothing', async () => {
    const { user, workspaceId, chatId } = await chatOwner('acerr');
    const agentId = await agentOf(user, workspaceId);
    const outsider = await agentOf(user); // in no workspace of this chat
    const intruder = await newUser('intruder');
    const post = (body: unknown, who = user, id = agentId) => call('POST', `/agents/${id}/chat`, { token: who.token, body });

    expectError(await post({}), 400, 'Missing message parameter');
    expectError(await post({ message: '   ' }), 400, 'Missing message parameter');
    expectError(await post({ message: 'x', stream: 'yes' }), 400);
    expectError(await post({ message: 'x', extra: 1 }), 400);
    expect((await post({ message: 'x', extra: 1 })).json.code).toBe('unknown_field');
    expectError(await call('POST', `/agents/${agentId}/chat`, { body: { message: 'x' } }), 401, 'Missing Authorization Header');
    expectError(await call('POST', `/agents/${agentId}/chat`, { token: 'nope', body: { message: 'x' } }), 401, 'Invalid token');
    expectError(await post({ message: 'x' }, intruder), 404, 'Agent not found');
    expectError(await post({ message: 'x' }, user, 'no-such-agent'), 404, 'Agent not found');
    expectError(await post({ message: 'x', session_id: 'no-such-chat' }), 404, 'Chat not found');
    const intruderAgent = await agentOf(intruder);
    expectError(await post({ message: 'x', session_id: chatId }, intruder, intruderAgent), 404, 'Chat not found');
    expectError(await post({ message: 'x', workspace_id: workspaceId }, intruder, intruderAgent), 404, 'Workspace not found');
    const notIn = await post({ message: 'x', session_id: chatId }, user, outsider);
    expectError(notIn, 409, "The agent is not in this chat's workspace");
    expect(notIn.json.code).toBe('agent_not_in_workspace');
    expect((await call('POST', `/agents/${agentId}/stop`, { token: user.token })).status).toBe(200);
    const stopped = await post({ message: 'x', session_id: chatId });
    expectError(stopped, 409, 'The agent is stopped; start it first');
    expect(stopped.json.code).toBe('agent_offline');
    const tooBig = await withVars({ MESSAGE_MAX_BYTES: '10' }, async () => {
      await call('POST', `/agents/${agentId}/start`, { token: user.token });
      return post({ message: 'more than ten bytes', session_id: chatId });
    });
    expectError(tooBig, 400);
    expect(tooBig.json.code).toBe('invalid_content');

    const msgs = await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token });
    expect(msgs.json.messages).toEqual([]);
  });

  it('without a model endpoint: 503 model_unavailable naming LLM_BASE_URL, before anything is stored', async () => {
    const { user, workspaceId, chatId } = await chatOwner('nomodel');
    const agentId = await agentOf(user, workspaceId);
    const res = await withVars({ LLM_BASE_URL: '' }, () => call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: 'hi', session_id: chatId } }));
    expectError(res, 503, 'No model endpoint is configured: set LLM_BASE_URL');
    expect(res.json).toMatchObject({ code: 'model_unavailable', var: 'LLM_BASE_URL' });
    expect((await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token })).json.messages).toEqual([]);
  });

  it("a failing model: 502 model_error with the run's id after LLM_MAX_RETRIES, and the user's message kept", async () => {
    const { user, workspaceId, chatId } = await chatOwner('m500');
    const agentId = await agentOf(user, workspaceId);
    const tag = uniqueTag('m500');
    const res = await withVars({ LLM_MAX_RETRIES: '1' }, () =>
      call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: mock({ status: 500, tag, retry_after: 0 }), session_id: chatId } }),
    );
    expectError(res, 502);
    expect(res.json.code).toBe('model_error');
    expect(res.json.msg).toContain('500');
    expect(await modelRequests(tag)).toHaveLength(2);
    const run = await call('GET', `/runs/${res.json.run_id}`, { token: user.token });
    expect(run.json.run).toMatchObject({ status: 'failed', error: { code: 'model_error' } });
    const msgs = await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token });
    expect(msgs.json.messages.map((m: any) => m.role)).toEqual(['user']);
  });

  it('a 429 with Retry-After is retried before the first token, and the run completes', async () => {
    const { user, workspaceId, chatId } = await chatOwner('m429');
    const agentId = await agentOf(user, workspaceId);
    const tag = uniqueTag('m429');
    const res = await call('POST', `/agents/${agentId}/chat`, {
      token: user.token,
      body: { message: mock({ status: 429, retry_after: 0, fail_times: 1, tag, reply: 'after the wait' }), session_id: chatId },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json.message).toBe('after the wait');
    expect(await modelRequests(tag)).toHaveLength(2);
  });

  it('a stream that hangs fails the run with model_error after LLM_TIMEOUT_MS; one that breaks is not retried', async () => {
    const { user, workspaceId, chatId } = await chatOwner('hang');
    const agentId = await agentOf(user, workspaceId);
    const hung = await withVars({ LLM_TIMEOUT_MS: '200' }, () =>
      call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: mock({ tokens: 10, hang_after: 2 }), session_id: chatId } }),
    );
    expectError(hung, 502);
    expect(hung.json.msg).toContain('LLM_TIMEOUT_MS');
    const tag = uniqueTag('break');
    const broken = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: mock({ tokens: 10, break_after: 2, tag }), session_id: chatId } });
    expectError(broken, 502);
    expect(broken.json.code).toBe('model_error');
    expect(await modelRequests(tag)).toHaveLength(1);
  });

  it('a run past LLM_MAX_RUN_MS fails with run_timeout (504)', async () => {
    const { user, workspaceId, chatId } = await chatOwner('deadline');
    const agentId = await agentOf(user, workspaceId);
    const res = await withVars({ LLM_MAX_RUN_MS: '150' }, () =>
      call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: mock({ tokens: 100, pace_ms: 20 }), session_id: chatId } }),
    );
    expectError(res, 504);
    expect(res.json.code).toBe('run_timeout');
  });

  it('a reply at AGENT_REPLY_MAX_BYTES ends the run with finish reason length, the reply cut at the limit', async () => {
    const { user, workspaceId, chatId } = await chatOwner('long');
    const agentId = await agentOf(user, workspaceId);
    const res = await withVars({ AGENT_REPLY_MAX_BYTES: '12' }, () =>
      call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: mock({ reply: 'héllo wörld, how are you' }), session_id: chatId } }),
    );
    expect(res.status, res.text).toBe(200);
    expect(res.json.metadata.finish_reason).toBe('length');
    expect(new TextEncoder().encode(res.json.message).byteLength).toBeLessThanOrEqual(12);
    expect('héllo wörld, how are you'.startsWith(res.json.message)).toBe(true);
  });

  it('an empty reply stores nothing', async () => {
    const { user, workspaceId, chatId } = await chatOwner('empty');
    const agentId = await agentOf(user, workspaceId);
    const res = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: mock({ reply: '' }), session_id: chatId } });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ id: null, message: '', status: 'completed' });
    expect((await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token })).json.messages).toHaveLength(1);
  });

  it('a repeated client_id answers the first attempt and stores nothing twice', async () => {
    const { user, workspaceId, chatId } = await chatOwner('idem');
    const agentId = await agentOf(user, workspaceId);
    const tag = uniqueTag('idem');
    const body = { message: mock({ reply: 'once', tag }), session_id: chatId, client_id: 'c-1' };
    const first = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body });
    const second = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body });
    expect(second.status).toBe(200);
    expect(second.json).toEqual(first.json);
    expect(await modelRequests(tag)).toHaveLength(1);
    expect((await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token })).json.messages).toHaveLength(2);
    // While the first attempt is live, a retry joins it.
    const slow = { message: mock({ tokens: 5, pace_ms: 30 }), session_id: chatId, client_id: 'c-2', stream: true };
    const a = new SseReader(await chatWith(user, agentId, slow));
    const b = new SseReader(await chatWith(user, agentId, slow));
    const [ea, eb] = [await a.all(), await b.all()];
    expect(tokensText(ea)).toBe('tok1 tok2 tok3 tok4 tok5');
    expect(tokensText(eb)).toBe('tok1 tok2 tok3 tok4 tok5');
    expect(eb[0].event).toEqual(ea[0].event);
  });
});

describe('POST /agents/{agent_id}/chat (stream) and GET /runs/{run_id}/events', () => {
  it('streams start, tokens and end, each with an id; the tokens add up to the stored reply', async () => {
    const { user, workspaceId, chatId } = await chatOwner('sse');
    const agentId = await agentOf(user, workspaceId);
    const sse = new SseReader(await chatWith(user, agentId, { message: mock({ reply: 'one two three four' }), session_id: chatId, stream: true }));
    const events = await sse.all();
    expect(events[0].event).toMatchObject({ type: 'start', session_id: chatId, agent_id: agentId });
    expect(events[0].id).toBe('0');
    const end = events[events.length - 1];
    expect(end.event).toMatchObject({ type: 'end', status: 'completed', metadata: { finish_reason: 'stop' } });
    expect(tokensText(events)).toBe('one two three four');
    const ids = events.map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    const msgs = await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token });
    expect(msgs.json.messages[1]).toMatchObject({ role: 'agent', content: 'one two three four', message_id: (end.event as any).message_id });
  });

  it('streams an error event when the model fails, and sends keep-alive comments while it is silent', async () => {
    const { user, workspaceId, chatId } = await chatOwner('sseerr');
    const agentId = await agentOf(user, workspaceId);
    const failed = await withVars({ LLM_MAX_RETRIES: '0' }, async () =>
      new SseReader(await chatWith(user, agentId, { message: mock({ status: 500 }), session_id: chatId, stream: true })).all(),
    );
    expect(failed[failed.length - 1].event).toMatchObject({ type: 'error', code: 'model_error' });
    const slow = await withVars({ SSE_KEEPALIVE_MS: '50' }, async () => {
      const reader = new SseReader(await chatWith(user, agentId, { message: mock({ reply: 'late', first_byte_ms: 300 }), session_id: chatId, stream: true }));
      const events = await reader.all();
      return { events, comments: reader.comments };
    });
    expect(slow.comments).toBeGreaterThan(0);
    expect(tokensText(slow.events)).toBe('late');
  });

  it('goes on when the client leaves, and re-attaching with Last-Event-ID misses nothing and repeats nothing', async () => {
    const { user, workspaceId, chatId } = await chatOwner('reattach');
    const agentId = await agentOf(user, workspaceId);
    const expected = Array.from({ length: 20 }, (_, i) => `tok${i + 1}`).join(' ');
    const sse = new SseReader(await chatWith(user, agentId, { message: mock({ tokens: 20, pace_ms: 15 }), session_id: chatId, stream: true }));
    const start = (await sse.next())!;
    const runId = (start.event as any).run_id as string;
    const seen = [start];
    while (seen.length < 4) seen.push((await sse.next())!);
    sse.cancel();
    const last = seen[seen.length - 1].id!;
    const rest = await new SseReader(await runEvents(user, runId, last)).all();
    expect(rest[0].event.type).toBe('token');
    expect(tokensText(seen) + tokensText(rest)).toBe(expected);
    expect(rest[rest.length - 1].event).toMatchObject({ type: 'end', status: 'completed' });
    // From the start (no Last-Event-ID) after the end: start, the whole text as one token, end.
    const whole = await new SseReader(await runEvents(user, runId)).all();
    expect(whole.map((e) => e.event.type)).toEqual(['start', 'token', 'end']);
    expect(tokensText(whole)).toBe(expected);
  });

  it("GET /runs/{run_id}/events: 404 for an unknown or another user's run, 401 without a token", async () => {
    const { user, workspaceId, chatId } = await chatOwner('evauth');
    const agentId = await agentOf(user, workspaceId);
    const done = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: 'x', session_id: chatId } });
    const intruder = await newUser('evintr');
    const res = await runEvents(intruder, done.json.run_id);
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).code).toBe('run_not_found');
    expect((await runEvents(user, 'no-such-run')).status).toBe(404);
    expectError(await call('GET', `/runs/${done.json.run_id}/events`), 401, 'Missing Authorization Header');
  });
});

describe('one run per agent per chat, and cancel', () => {
  it('a second HTTP run of a busy agent in the same chat is 409 run_in_progress; the agent reports running meanwhile', async () => {
    const { user, workspaceId, chatId } = await chatOwner('busy');
    const agentId = await agentOf(user, workspaceId);
    const sse = new SseReader(await chatWith(user, agentId, { message: mock({ tokens: 20, pace_ms: 20 }), session_id: chatId, stream: true }));
    const start = (await sse.next())!;
    const busy = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: 'me too', session_id: chatId } });
    expectError(busy, 409, 'The agent is already answering in this chat');
    expect(busy.json.code).toBe('run_in_progress');
    expect((await call('GET', `/agents/${agentId}`, { token: user.token })).json.agent.status).toBe('running');
    await sse.all();
    await runUntil(user, (start.event as any).run_id, ['completed']);
    expect((await call('GET', `/agents/${agentId}`, { token: user.token })).json.agent.status).toBe('idle');
  });

  it('POST /runs/{run_id}/cancel aborts the model call, keeps the partial text, and then answers 409 run_not_active', async () => {
    const { user, workspaceId, chatId } = await chatOwner('cancel');
    const agentId = await agentOf(user, workspaceId);
    const sse = new SseReader(await chatWith(user, agentId, { message: mock({ tokens: 200, pace_ms: 20 }), session_id: chatId, stream: true }));
    const start = (await sse.next())!;
    const runId = (start.event as any).run_id as string;
    const seen = [start, (await sse.next())!, (await sse.next())!];
    const cancel = await call('POST', `/runs/${runId}/cancel`, { token: user.token });
    expect(cancel.status, cancel.text).toBe(200);
    expect(cancel.json).toMatchObject({ run_id: runId, status: 'cancelled' });
    const rest = await sse.all();
    expect(rest[rest.length - 1].event).toMatchObject({ type: 'end', status: 'cancelled' });
    expect(tokensText([...seen, ...rest])).toBe(cancel.json.message);
    expect(cancel.json.message, JSON.stringify(seen)).toMatch(/^tok1 tok2/);
    const msgs = await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token });
    expect(msgs.json.messages[1]).toMatchObject({ role: 'agent', content: cancel.json.message, message_id: cancel.json.message_id });
    expect((await runUntil(user, runId, ['cancelled'])).finish_reason).toBe('cancelled');

    const again = await call('POST', `/runs/${runId}/cancel`, { token: user.token });
    expectError(again, 409, 'The run has already finished');
    expect(again.json.code).toBe('run_not_active');
    const intruder = await newUser('cancelintr');
    expectError(await call('POST', `/runs/${runId}/cancel`, { token: intruder.token }), 404, 'Run not found');
    expectError(await call('POST', '/runs/no-such-run/cancel', { token: user.token }), 404, 'Run not found');
    expectError(await call('POST', `/runs/${runId}/cancel`), 401, 'Missing Authorization Header');
  });
});

describe('GET /agents/{agent_id}/chat/history', () => {
  it('pages the conversation newest first with an exclusive before', async () => {
    const { user, workspaceId, chatId } = await chatOwner('hist');
    const agentId = await agentOf(user, workspaceId);
    for (const m of ['a', 'b']) await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { message: m, session_id: chatId } });
    const page1 = await call('GET', `/agents/${agentId}/chat/history?session_id=${chatId}&limit=3`, { token: user.token });
    expect(page1.status, page1.text).toBe(200);
    expect(page1.json.messages.map((m: any) => m.content)).toEqual(['Echo: b', 'b', 'Echo: a']);
    expect(page1.json.next_before).toBe(page1.json.messages[2].seq);
    const page2 = await call('GET', `/agents/${agentId}/chat/history?session_id=${chatId}&limit=3&before=${page1.json.next_before}`, { token: user.token });
    expect(page2.json).toMatchObject({ messages: [{ content: 'a' }], next_before: null });

    expectError(await call('GET', `/agents/${agentId}/chat/history`, { token: user.token }), 400, 'Missing session_id parameter');
    expectError(await call('GET', `/agents/${agentId}/chat/history?session_id=${chatId}&before=0`, { token: user.token }), 400);
    expectError(await call('GET', `/agents/${agentId}/chat/history?session_id=${chatId}&limit=101`, { token: user.token }), 400);
    const intruder = await newUser('histintr');
    expectError(await call('GET', `/agents/${agentId}/chat/history?session_id=${chatId}`, { token: intruder.token }), 404, 'Agent not found');
    const own = await agentOf(intruder);
    expectError(await call('GET', `/agents/${own}/chat/history?session_id=${chatId}`, { token: intruder.token }), 404, 'Chat not found');
    expectError(await call('GET', `/agents/${agentId}/chat/history?session_id=${chatId}`), 401, 'Missing Authorization Header');
  });
});
