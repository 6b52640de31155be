import { describe, expect, it } from 'vitest';
import { chatOwner, connect, messageString } from './chat-helpers';
import { call, newUser, withVars } from './helpers';
import { mock, modelRequests, uniqueTag } from './model-helpers';
import { agentOf, chatWith, runUntil, SseReader } from './run-helpers';

/**
 * Agents that act (issue 12, items 1, 2 and 8): the run loops model → tools → model, one
 * persisted step per model call; built-in tools act as the chat's owner through the routes'
 * own services and schemas. The local model server scripts each step (`steps` directive).
 */
const steps = (...s: object[]) => mock({ steps: s });
const toolCall = (name: string, args: object) => ({ tool_calls: [{ name, arguments: args }] });

describe('built-in tools', () => {
  it('create_task: the task is made as the user, in the chat\'s workspace; the answer lists it; the calls are on the run', async () => {
    const { user, workspaceId, chatId } = await chatOwner('tools');
    const agentId = await agentOf(user, workspaceId, { tools: [{ name: 'create_task' }] });
    const tag = uniqueTag('tools');
    const res = await call('POST', `/agents/${agentId}/chat`, {
      token: user.token,
      body: { session_id: chatId, message: mock({ tag, steps: [toolCall('create_task', { title: 'Review the docs', priority: 'high' }), { reply: 'Done: {{tool}}' }] }) },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json.tasks).toHaveLength(1);
    const task = res.json.tasks[0];
    expect(task).toMatchObject({ title: 'Review the docs', priority: 'high', workspace_id: workspaceId });
    expect(res.json.message).toContain(task.task_id);
    const mine = await call('GET', `/tasks/${task.task_id}`, { token: user.token });
    expect(mine.status).toBe(200);
    // The model was offered the tool with a JSON Schema, and read the result in its second call.
    const [first, second] = await modelRequests(tag);
    expect(first.body.tools.map((t: any) => t.function.name)).toEqual(['create_task']);
    expect(first.body.tools[0].function.parameters.properties.title).toBeDefined();
    expect(second.body.messages.at(-1)).toMatchObject({ role: 'tool' });
    const run = await call('GET', `/runs/${res.json.run_id}`, { token: user.token });
    expect(run.json.run.tool_calls).toMatchObject([{ name: 'create_task', kind: 'builtin', status: 'completed', step: 1, arguments: { title: 'Review the docs' } }]);
    expect(run.json.run.tool_calls[0].output.task.task_id).toBe(task.task_id);
  });

  it('sockets and SSE clients see run.tool_call and run.tool_result; the deltas still add up to the reply', async () => {
    const { user, workspaceId, chatId } = await chatOwner('toolsws');
    const agentId = await agentOf(user, workspaceId, { tools: [{ name: 'list_tasks' }] });
    await call('POST', '/tasks', { token: user.token, body: { title: 'Existing' } });
    const { client } = await connect(user, chatId);
    const sse = new SseReader(await chatWith(user, agentId, { session_id: chatId, stream: true, message: steps(toolCall('list_tasks', {}), { reply: 'You have {{tool}}' }) }));
    const events = await sse.all();
    const types = events.map((e) => e.event.type);
    expect(types.filter((t) => t !== 'token')).toEqual(['start', 'run.tool_call', 'run.tool_result', 'end']);
    const result = events.find((e) => e.event.type === 'run.tool_result')!.event as any;
    expect(result.output.tasks.map((t: any) => t.title)).toEqual(['Existing']);
    const frames = [];
    for (;;) {
      const f = await client.next();
      frames.push(f);
      if (f.type === 'run.finished') break;
    }
    expect(frames.map((f) => f.type).filter((t) => t !== 'run.delta' && t !== 'message')).toEqual(['run.started', 'run.tool_call', 'run.tool_result', 'run.finished']);
    const reply = frames.filter((f) => f.type === 'message').pop() as any;
    expect(frames.filter((f) => f.type === 'run.delta').map((f: any) => f.text).join('')).toBe(reply.message.content);
  });

  it("never reaches another user's things: update_task on another user's task is an error the model reads", async () => {
    const { user, workspaceId, chatId } = await chatOwner('toolsown');
    const other = await newUser('toolsother');
    const theirs = await call('POST', '/tasks', { token: other.token, body: { title: 'Not yours' } });
    const agentId = await agentOf(user, workspaceId, { tools: [{ name: 'update_task' }] });
    const res = await call('POST', `/agents/${agentId}/chat`, {
      token: user.token,
      body: { session_id: chatId, message: steps(toolCall('update_task', { task_id: theirs.json.task.task_id, title: 'Pwned' }), { reply: 'Result: {{tool}}' }) },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json.message).toBe('Result: Error: Task not found');
    expect(res.json.tasks).toEqual([]);
    expect((await call('GET', `/tasks/${theirs.json.task.task_id}`, { token: other.token })).json.task.title).toBe('Not yours');
  });

  it('a bad call goes back to the model as an error: invalid arguments, and a tool the agent was not given', async () => {
    const { user, workspaceId, chatId } = await chatOwner('toolsbad');
    const agentId = await agentOf(user, workspaceId, { tools: [{ name: 'create_task' }] });
    const bad = await call('POST', `/agents/${agentId}/chat`, {
      token: user.token,
      body: { session_id: chatId, message: steps(toolCall('create_task', { title: 42 }), { reply: '{{tool}}' }) },
    });
    expect(bad.status).toBe(200);
    expect(bad.json.message).toMatch(/^Error: Invalid arguments: title: /);
    const notGiven = await call('POST', `/agents/${agentId}/chat`, {
      token: user.token,
      body: { session_id: chatId, message: steps(toolCall('list_tasks', {}), { reply: '{{tool}}' }) },
    });
    expect(notGiven.json.message).toBe('Error: No tool named "list_tasks" is available to this agent');
  });

  it('stops after AGENT_MAX_STEPS model calls (finish reason length), every step priced', async () => {
    const { user, workspaceId, chatId } = await chatOwner('toolscap');
    const agentId = await agentOf(user, workspaceId, { tools: [{ name: 'list_tasks' }] });
    const tag = uniqueTag('cap');
    const res = await withVars({ AGENT_MAX_STEPS: '3' }, () =>
      call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { session_id: chatId, message: mock({ tag, ...toolCall('list_tasks', {}) }) } }),
    );
    expect(res.status, res.text).toBe(200);
    expect(res.json.metadata.finish_reason).toBe('length');
    expect(await modelRequests(tag)).toHaveLength(3);
    const run = await call('GET', `/runs/${res.json.run_id}`, { token: user.token });
    expect(run.json.run.tool_calls).toHaveLength(2);
    expect(run.json.run.usage.input_tokens).toBeGreaterThan(0);
  });

  it('remember and recall keep memories across chats, and memories go into the prompt', async () => {
    const { user, workspaceId, chatId } = await chatOwner('toolsmem');
    const agentId = await agentOf(user, workspaceId, { tools: [{ name: 'remember' }, { name: 'recall' }] });
    const kept = await call('POST', `/agents/${agentId}/chat`, {
      token: user.token,
      body: { session_id: chatId, message: steps(toolCall('remember', { content: 'Prefers tea', category: 'taste' }), { reply: 'Noted.' }) },
    });
    expect(kept.status, kept.text).toBe(200);
    const listed = await call('GET', `/agents/${agentId}/memories`, { token: user.token });
    expect(listed.json.memories.map((m: any) => m.content)).toEqual(['Prefers tea']);
    // Another chat: the prompt carries the memory; recall finds it.
    const other = await call('POST', `/chat?workspace_id=${workspaceId}`, { token: user.token });
    const echo = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { session_id: other.json.chat.chat_id, message: mock({ echo: true }) } });
    expect(JSON.parse(echo.json.message)[1].content).toContain('Prefers tea');
    const recall = await call('POST', `/agents/${agentId}/chat`, {
      token: user.token,
      body: { session_id: other.json.chat.chat_id, message: steps(toolCall('recall', { query: 'TEA' }), { reply: '{{tool}}' }) },
    });
    expect(JSON.parse(recall.json.message).memories[0].content).toBe('Prefers tea');
  });
});

describe('a message frame to an agent with tools', () => {
  it('runs the tools too (live chats use the same loop)', async () => {
    const { user, workspaceId, chatId } = await chatOwner('toolsframe');
    const agentId = await agentOf(user, workspaceId, { tools: [{ name: 'create_task' }] });
    const { client } = await connect(user, chatId);
    client.send({ type: 'message', message_string: await messageString(user, chatId), agent_id: agentId, content: steps(toolCall('create_task', { title: 'From a chat' }), { reply: 'ok' }) });
    for (;;) {
      const f = await client.next();
      if (f.type === 'run.finished') break;
    }
    const tasks = await call('GET', '/tasks', { token: user.token });
    expect(tasks.json.tasks.map((t: any) => t.title)).toContain('From a chat');
  });
});

describe('the history shows tool rounds', () => {
  it('an agent reply carries the calls and results of the run that wrote it; other messages none', async () => {
    const { user, workspaceId, chatId } = await chatOwner('toolshist');
    const agentId = await agentOf(user, workspaceId, { tools: [{ name: 'create_task' }] });
    const plain = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { session_id: chatId, message: 'hello' } });
    const res = await call('POST', `/agents/${agentId}/chat`, {
      token: user.token,
      body: { session_id: chatId, message: steps(toolCall('create_task', { title: 'From history' }), toolCall('create_task', { title: 7 }), { reply: 'Done' }) },
    });
    expect(res.status, res.text).toBe(200);
    const history = await call('GET', `/agents/${agentId}/chat/history?session_id=${chatId}`, { token: user.token });
    expect(history.status, history.text).toBe(200);
    const [reply, asked, plainReply, hello] = history.json.messages;
    expect(reply).toMatchObject({ role: 'agent', content: 'Done', run_id: res.json.run_id });
    expect(reply.tool_calls).toMatchObject([
      { name: 'create_task', kind: 'builtin', arguments: { title: 'From history' }, status: 'completed', error: null },
      { name: 'create_task', arguments: { title: 7 }, status: 'failed', output: null },
    ]);
    expect(reply.tool_calls[0].output.task.title).toBe('From history');
    expect(reply.tool_calls[1].error).toContain('Invalid arguments');
    for (const m of [asked, plainReply, hello]) expect(m).toMatchObject({ run_id: null, tool_calls: [] });
    expect(plainReply.message_id).toBe(plain.json.id);
  });
});

describe('MCP tools', () => {
  it("mcp:<slug>:<tool> entries are resolved against the owner's running servers and called through them", async () => {
    const { env } = await import('cloudflare:workers');
    const { user, workspaceId, chatId } = await chatOwner('toolsmcp');
    const slug = `calc-${Math.random().toString(36).slice(2, 8)}`;
    const reg = await call('POST', '/mcp-servers', { token: user.token, body: { name: 'Calc', slug, config: { url: `${env.MCP_SERVER_URL}/mcp` } } });
    expect(reg.status, reg.text).toBe(201);
    const agentId = await agentOf(user, workspaceId, { tools: [{ name: `mcp:${slug}:add` }, { name: `mcp:${slug}:nope` }] });
    const modelName = `mcp__${slug}__add`;
    const ask = () =>
      call('POST', `/agents/${agentId}/chat`, {
        token: user.token,
        body: { session_id: chatId, message: steps(toolCall(modelName, { a: 2, b: 40 }), { reply: 'Sum: {{tool}}' }) },
      });
    // Stopped: not offered, so the model's call is refused.
    const stopped = await ask();
    expect(stopped.json.message).toBe(`Sum: Error: No tool named "${modelName}" is available to this agent`);
    expect((await call('POST', `/mcp-servers/${reg.json.server.server_id}/start`, { token: user.token })).status).toBe(200);
    const tag = uniqueTag('mcp');
    const res = await call('POST', `/agents/${agentId}/chat`, {
      token: user.token,
      body: { session_id: chatId, message: mock({ tag, steps: [toolCall(modelName, { a: 2, b: 40 }), { reply: 'Sum: {{tool}}' }] }) },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json.message).toBe('Sum: "42"');
    const [first] = await modelRequests(tag);
    expect(first.body.tools.map((t: any) => t.function.name)).toEqual([modelName]); // the unknown tool is not offered
    const run = await call('GET', `/runs/${res.json.run_id}`, { token: user.token });
    expect(run.json.run.tool_calls).toMatchObject([{ name: `mcp:${slug}:add`, kind: 'mcp', status: 'completed', output: '42' }]);
  });
});

describe('client tools (requires action)', () => {
  const weather = { name: 'get_weather', description: 'The weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } };

  it('a call pauses the run; POST /runs/{run_id}/tool-outputs answers it and the run resumes to its end', async () => {
    const { user, workspaceId, chatId } = await chatOwner('client');
    const agentId = await agentOf(user, workspaceId, { tools: [weather] });
    const tag = uniqueTag('client');
    const first = await call('POST', `/agents/${agentId}/chat`, {
      token: user.token,
      body: { session_id: chatId, message: mock({ tag, steps: [toolCall('get_weather', { city: 'Oslo' }), { reply: 'Weather: {{tool}}' }] }) },
    });
    expect(first.status, first.text).toBe(200);
    expect(first.json).toMatchObject({ status: 'requires_action', required_action: { tool_calls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] } });
    const callId = first.json.required_action.tool_calls[0].call_id;
    expect((await call('GET', `/runs/${first.json.run_id}`, { token: user.token })).json.run.status).toBe('requires_action');
    const [offered] = await modelRequests(tag);
    expect(offered.body.tools[0].function).toMatchObject({ name: 'get_weather', parameters: weather.parameters });

    const post = (body: unknown, token = user.token) => call('POST', `/runs/${first.json.run_id}/tool-outputs`, { token, body });
    const wrong = await post({ tool_outputs: [{ call_id: 'nope', output: 'x' }] });
    expect(wrong.status).toBe(404);
    expect(wrong.json.code).toBe('tool_call_not_found');
    const intruder = await newUser('clientintr');
    expect((await post({ tool_outputs: [{ call_id: callId, output: 'x' }] }, intruder.token)).json.code).toBe('run_not_found');
    expect((await post({ tool_outputs: [] })).status).toBe(400);

    const done = await post({ tool_outputs: [{ call_id: callId, output: '21 C and sunny' }] });
    expect(done.status, done.text).toBe(200);
    expect(done.json).toMatchObject({ status: 'completed', message: 'Weather: 21 C and sunny', run_id: first.json.run_id });
    const again = await post({ tool_outputs: [{ call_id: callId, output: 'x' }] });
    expect(again.status).toBe(409);
    expect(again.json.code).toBe('run_not_waiting');
    const run = await call('GET', `/runs/${first.json.run_id}`, { token: user.token });
    expect(run.json.run.tool_calls).toMatchObject([{ name: 'get_weather', kind: 'client', status: 'completed', output: '21 C and sunny' }]);
    // The one reply is stored once, after the user's message.
    const msgs = await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token });
    expect(msgs.json.messages.map((m: any) => m.role)).toEqual(['user', 'agent']);
  });

  it('over SSE the stream ends with requires_action; the resumed run streams on; unanswered, the run fails when the wait ends', async () => {
    const { runDurableObjectAlarm } = await import('cloudflare:test');
    const { env } = await import('cloudflare:workers');
    const { user, workspaceId, chatId } = await chatOwner('clientsse');
    const agentId = await agentOf(user, workspaceId, { tools: [weather] });
    const events = await new SseReader(await chatWith(user, agentId, { session_id: chatId, stream: true, message: steps(toolCall('get_weather', { city: 'Rome' }), { reply: 'It is {{tool}}' }) })).all();
    const last = events[events.length - 1].event as any;
    expect(last).toMatchObject({ type: 'requires_action', tool_calls: [{ name: 'get_weather', arguments: { city: 'Rome' } }] });
    const res = await call('POST', `/runs/${last.run_id}/tool-outputs`, { token: user.token, body: { tool_outputs: [{ call_id: last.tool_calls[0].call_id, output: 'warm' }] } });
    expect(res.json.message).toBe('It is warm');

    // A second run left unanswered: the alarm fails it once TOOL_OUTPUT_TIMEOUT_SECONDS has passed.
    const waiting = await withVars({ TOOL_OUTPUT_TIMEOUT_SECONDS: '1' }, () =>
      call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { session_id: chatId, message: steps(toolCall('get_weather', { city: 'Oslo' }), { reply: 'x' }) } }),
    );
    expect(waiting.json.status).toBe('requires_action');
    // A busy agent: one run per agent per chat holds while it waits.
    expect((await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { session_id: chatId, message: 'hi' } })).json.code).toBe('run_in_progress');
    await new Promise((r) => setTimeout(r, 1100)); // the wait's end (TOOL_OUTPUT_TIMEOUT_SECONDS has a 1 s floor)
    // The alarm set for the wait's end fires by itself; run it in case it has not yet.
    await runDurableObjectAlarm(env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(chatId)));
    const failed = await runUntil(user, waiting.json.run_id, ['failed']);
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'run_timeout' } });
    expect(failed.error.msg).toContain('TOOL_OUTPUT_TIMEOUT_SECONDS');
  });
});

describe('the tool_outputs frame', () => {
  it('answers a waiting run from a socket; wrong calls and runs are error frames', async () => {
    const { user, workspaceId, chatId } = await chatOwner('clientframe');
    const agentId = await agentOf(user, workspaceId, { tools: [{ name: 'ask_user', parameters: { type: 'object' } }] });
    const { client } = await connect(user, chatId);
    client.send({ type: 'message', message_string: await messageString(user, chatId), agent_id: agentId, content: steps(toolCall('ask_user', {}), { reply: 'You said {{tool}}' }) });
    let call_: any;
    for (;;) {
      const f = await client.next();
      if (f.type === 'run.tool_call') {
        call_ = f;
        break;
      }
    }
    expect(call_).toMatchObject({ kind: 'client', name: 'ask_user' });
    client.send({ type: 'tool_outputs', run_id: call_.run_id, tool_outputs: [{ call_id: 'nope', output: 'x' }] });
    expect(await client.take('error')).toMatchObject({ code: 'tool_call_not_found' });
    client.send({ type: 'tool_outputs', run_id: 'no-such-run', tool_outputs: [{ call_id: 'x', output: 'x' }] });
    expect(await client.take('error')).toMatchObject({ code: 'run_not_found' });
    client.send({ type: 'tool_outputs', run_id: call_.run_id, tool_outputs: [] });
    expect(await client.take('error')).toMatchObject({ code: 'invalid_frame' });
    client.send({ type: 'tool_outputs', run_id: call_.run_id, tool_outputs: [{ call_id: call_.call_id, output: 'yes' }] });
    const rest = [];
    for (;;) {
      const f = await client.next();
      rest.push(f);
      if (f.type === 'run.finished') break;
    }
    const reply = rest.filter((f) => f.type === 'message').pop() as any;
    expect(reply.message.content).toBe('You said yes');
    client.send({ type: 'tool_outputs', run_id: call_.run_id, tool_outputs: [{ call_id: call_.call_id, output: 'again' }] });
    expect(await client.take('error')).toMatchObject({ code: 'run_not_waiting' });
  });
});
