import { abortAllDurableObjects, createExecutionContext, createScheduledController, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from '../src/index';
import { chatOwner, connect } from './chat-helpers';
import { call, expectError, type TestUser } from './helpers';
import { mock, modelRequests, uniqueTag } from './model-helpers';
import { agentOf, chatWith, runEvents, runUntil, SseReader } from './run-helpers';

/**
 * Approvals of tool calls (issue 12, item 4): a tool marked `requires_approval` holds its call
 * for a person. The run waits (`waiting_approval`, nothing of it in memory), approving runs the
 * tool and the run goes on, rejecting or expiry tells the model the call was refused. The local
 * model server scripts each step; `{{tool}}` in a step is the last tool result the model read.
 */
const steps = (...s: object[]) => mock({ steps: s });
const toolCall = (name: string, args: object) => ({ tool_calls: [{ name, arguments: args }] });
const room = (chatId: string) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(chatId));
const decide = (u: TestUser, id: string, verb: 'approve' | 'reject', body?: unknown) => call('POST', `/approvals/${id}/${verb}`, { token: u.token, body });
const taskTitles = async (u: TestUser) => (await call('GET', '/tasks', { token: u.token })).json.tasks.map((t: any) => t.title);

async function runCron() {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: '* * * * *' }), env, ctx);
  await waitOnExecutionContext(ctx);
}

/** A chat whose agent has create_task behind an approval, and a turn that calls it. */
async function waitingRun(prefix: string, reply = 'Result: {{tool}}', tag?: string) {
  const { user, workspaceId, chatId } = await chatOwner(prefix);
  const agentId = await agentOf(user, workspaceId, { tools: [{ name: 'create_task', requires_approval: true }, { name: 'list_tasks' }] });
  const message = mock({ ...(tag ? { tag } : {}), steps: [toolCall('create_task', { title: 'Ship it' }), { reply }] });
  const res = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { session_id: chatId, message } });
  expect(res.status, res.text).toBe(200);
  return { user, workspaceId, chatId, agentId, answer: res.json };
}

describe('tools that require approval', () => {
  it('the run waits in waiting_approval with a linked approval; approving runs the tool and the run goes on to its end', async () => {
    const tag = uniqueTag('approve');
    const { user, answer } = await waitingRun('approve', 'Made it: {{tool}}', tag);
    expect(answer).toMatchObject({ status: 'waiting_approval', message: '', required_action: null, tasks: [] });
    expect(answer.pending_approvals).toHaveLength(1);
    const pending = answer.pending_approvals[0];
    expect(pending).toMatchObject({ name: 'create_task', arguments: { title: 'Ship it' } });
    // Nothing ran yet; the approval is the user's, linked to the run and call.
    expect(await taskTitles(user)).toEqual([]);
    const approval = (await call('GET', `/approvals/${pending.approval_id}`, { token: user.token })).json.approval;
    expect(approval).toMatchObject({ status: 'pending', run_id: answer.run_id, call_id: pending.call_id, tool: 'create_task', arguments: { title: 'Ship it' } });
    expect((await call('GET', `/runs/${answer.run_id}`, { token: user.token })).json.run.status).toBe('waiting_approval');

    const approved = await decide(user, pending.approval_id, 'approve');
    expect(approved.status, approved.text).toBe(200);
    const run = await runUntil(user, answer.run_id, ['completed']);
    expect(await taskTitles(user)).toEqual(['Ship it']);
    expect(run.tool_calls).toMatchObject([{ name: 'create_task', status: 'completed', approval_id: pending.approval_id }]);
    // The model was asked twice: the call, then its answer with the tool's result.
    const requests = await modelRequests(tag);
    expect(requests).toHaveLength(2);
    expect(requests[1].body.messages.at(-1)).toMatchObject({ role: 'tool' });
    const history = await call('GET', `/chat/messages?chat_id=${run.chat_id}`, { token: user.token });
    expect(history.json.messages.at(-1).content).toMatch(/^Made it: \{"task":\{"task_id":/);
    // Deciding again is the compare-and-set's loser.
    const twice = await decide(user, pending.approval_id, 'reject');
    expectError(twice, 409, 'Approval is already approved');
    expect(twice.json.code).toBe('approval_decided');
  });

  it('rejecting tells the model the call was refused (with the reason); the tool never runs', async () => {
    const { user, answer } = await waitingRun('reject');
    const pending = answer.pending_approvals[0];
    const rejected = await decide(user, pending.approval_id, 'reject', { reason: 'not today' });
    expect(rejected.status, rejected.text).toBe(200);
    const run = await runUntil(user, answer.run_id, ['completed']);
    expect(run.tool_calls).toMatchObject([{ status: 'refused', error: 'The user refused this call, so it did not run. Their reason: not today' }]);
    const history = await call('GET', `/chat/messages?chat_id=${run.chat_id}`, { token: user.token });
    expect(history.json.messages.at(-1).content).toBe('Result: Error: The user refused this call, so it did not run. Their reason: not today');
    expect(await taskTitles(user)).toEqual([]);
    expectError(await decide(user, pending.approval_id, 'approve'), 409, 'Approval is already rejected');
  });

  it('sockets get run.approval_required after run.tool_call; SSE ends with waiting_approval; GET /runs/{run_id}/events follows the rest', async () => {
    const { user, workspaceId, chatId } = await chatOwner('approvalsse');
    const agentId = await agentOf(user, workspaceId, { tools: [{ name: 'create_task', requires_approval: true }] });
    const { client } = await connect(user, chatId);
    const events = await new SseReader(
      await chatWith(user, agentId, { session_id: chatId, stream: true, message: steps(toolCall('create_task', { title: 'Streamed' }), { reply: 'Done' }) }),
    ).all();
    const types = events.map((e) => e.event.type);
    expect(types).toEqual(['start', 'run.tool_call', 'run.approval_required', 'waiting_approval']);
    const required = events[2].event as any;
    const last = events[3].event as any;
    expect(last.approvals).toEqual([{ approval_id: required.approval_id, call_id: required.call_id, name: 'create_task', arguments: { title: 'Streamed' } }]);
    const frames: any[] = [];
    for (let f = await client.next(); ; f = await client.next()) {
      frames.push(f);
      if (f.type === 'run.approval_required') break;
    }
    expect(frames.map((f) => f.type).filter((t) => t !== 'message')).toEqual(['run.started', 'run.tool_call', 'run.approval_required']);
    expect(frames.at(-1)).toMatchObject({ run_id: last.run_id, approval_id: required.approval_id, name: 'create_task', arguments: { title: 'Streamed' } });
    // While it waits, its events end at once with the wait.
    const again = await new SseReader(await runEvents(user, last.run_id, '0')).all();
    expect(again.map((e) => e.event.type)).toEqual(['waiting_approval']);
    expect((await decide(user, required.approval_id, 'approve')).status).toBe(200);
    for (let f = await client.next(); f.type !== 'run.finished'; f = await client.next()) frames.push(f);
    expect(frames.some((f) => f.type === 'run.tool_result' && f.call_id === required.call_id && f.output.task.title === 'Streamed')).toBe(true);
    expect((await runUntil(user, last.run_id, ['completed'])).reply_message_id).not.toBeNull();
  });

  it('the wait survives the object\'s eviction: an approval decided after it resumes the run on a fresh instance', async () => {
    const { user, chatId, answer } = await waitingRun('approvalevict');
    await abortAllDurableObjects();
    // The fresh instance finds a waiting run, which is not an orphan: its alarm leaves it waiting.
    await runDurableObjectAlarm(room(chatId));
    expect((await call('GET', `/runs/${answer.run_id}`, { token: user.token })).json.run.status).toBe('waiting_approval');
    expect((await decide(user, answer.pending_approvals[0].approval_id, 'approve')).status).toBe(200);
    await runUntil(user, answer.run_id, ['completed']);
    expect(await taskTitles(user)).toEqual(['Ship it']);
  });

  it('APPROVAL_TIMEOUT_SECONDS: the cron expires the approval and the model reads that nobody decided in time', async () => {
    const { user, answer } = await waitingRun('approvalexpire');
    const id = answer.pending_approvals[0].approval_id;
    await env.DB.prepare('UPDATE approvals SET expires_at = ? WHERE id = ?').bind(Date.now() - 1000, id).run();
    await runCron();
    expect((await call('GET', `/approvals/${id}`, { token: user.token })).json.approval.status).toBe('expired');
    const run = await runUntil(user, answer.run_id, ['completed']);
    expect(run.tool_calls[0]).toMatchObject({ status: 'refused', error: expect.stringContaining('APPROVAL_TIMEOUT_SECONDS') });
    expect(await taskTitles(user)).toEqual([]);
  });

  it("a decision whose notification was lost: the object's alarm reads the approval from D1 when the wait ends", async () => {
    const { user, chatId, answer } = await waitingRun('approvallost');
    // Approved in D1 behind the object's back (as if notifyRun's RPC had failed).
    await env.DB.prepare("UPDATE approvals SET status = 'approved', decided_at = ? WHERE id = ?").bind(Date.now(), answer.pending_approvals[0].approval_id).run();
    expect((await call('GET', `/runs/${answer.run_id}`, { token: user.token })).json.run.status).toBe('waiting_approval');
    // The wait's end, brought forward (it is APPROVAL_TIMEOUT_SECONDS away).
    await runInDurableObject(room(chatId), async (_o, state) => {
      state.storage.sql.exec('UPDATE run_tool_calls SET waits_until = 0');
      state.storage.sql.exec('UPDATE runs SET waiting_until = 0');
    });
    expect(await runDurableObjectAlarm(room(chatId))).toBe(true);
    await runUntil(user, answer.run_id, ['completed']);
    expect(await taskTitles(user)).toEqual(['Ship it']);
  });

  it('cancelling a waiting run ends it; its held call never runs, even if approved later', async () => {
    const { user, answer } = await waitingRun('approvalcancel');
    const cancelled = await call('POST', `/runs/${answer.run_id}/cancel`, { token: user.token });
    expect(cancelled.status, cancelled.text).toBe(200);
    expect((await decide(user, answer.pending_approvals[0].approval_id, 'approve')).status).toBe(200);
    const run = await runUntil(user, answer.run_id, ['cancelled']);
    expect(run.tool_calls).toMatchObject([{ status: 'failed', error: 'The run ended before this call ran' }]);
    expect(await taskTitles(user)).toEqual([]);
  });

  it('a step with a held call and a free one: the free one runs at once, the run waits for the other', async () => {
    const { user, workspaceId, chatId } = await chatOwner('approvalmixed');
    const agentId = await agentOf(user, workspaceId, { tools: [{ name: 'create_task', requires_approval: true }, { name: 'list_tasks' }] });
    const both = { tool_calls: [{ name: 'list_tasks', arguments: {} }, { name: 'create_task', arguments: { title: 'Second' } }] };
    const res = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { session_id: chatId, message: steps(both, { reply: 'ok' }) } });
    expect(res.json.status).toBe('waiting_approval');
    const run = (await call('GET', `/runs/${res.json.run_id}`, { token: user.token })).json.run;
    expect(run.status).toBe('waiting_approval');
    expect((await decide(user, res.json.pending_approvals[0].approval_id, 'approve')).status).toBe(200);
    const done = await runUntil(user, res.json.run_id, ['completed']);
    expect(done.tool_calls.map((c: any) => [c.name, c.status])).toEqual([['list_tasks', 'completed'], ['create_task', 'completed']]);
  });
});

describe('an MCP tool that requires approval', () => {
  it("waits like a built-in; approved, it is called on the owner's server; the stored call carries the mcp: entry", async () => {
    const { user, workspaceId, chatId } = await chatOwner('approvalmcp');
    const slug = `calc-${Math.random().toString(36).slice(2, 8)}`;
    const reg = await call('POST', '/mcp-servers', { token: user.token, body: { name: 'Calc', slug, config: { url: `${env.MCP_SERVER_URL}/mcp` } } });
    expect(reg.status, reg.text).toBe(201);
    expect((await call('POST', `/mcp-servers/${reg.json.server.server_id}/start`, { token: user.token })).status).toBe(200);
    const agentId = await agentOf(user, workspaceId, { tools: [{ name: `mcp:${slug}:add`, requires_approval: true }] });
    const res = await call('POST', `/agents/${agentId}/chat`, {
      token: user.token,
      body: { session_id: chatId, message: steps(toolCall(`mcp__${slug}__add`, { a: 2, b: 40 }), { reply: 'Sum: {{tool}}' }) },
    });
    expect(res.json.status).toBe('waiting_approval');
    expect(res.json.pending_approvals).toMatchObject([{ name: `mcp:${slug}:add`, arguments: { a: 2, b: 40 } }]);
    expect((await decide(user, res.json.pending_approvals[0].approval_id, 'approve')).status).toBe(200);
    const run = await runUntil(user, res.json.run_id, ['completed']);
    expect(run.tool_calls).toMatchObject([{ name: `mcp:${slug}:add`, kind: 'mcp', status: 'completed', output: '42' }]);
    const history = await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token });
    expect(history.json.messages.at(-1).content).toBe('Sum: "42"');
  });
});

describe('answers that come while the step still runs', () => {
  /** A chat whose agent has a held create_task, a client tool and an MCP server's slow tool. */
  async function slowStep(prefix: string) {
    const { user, workspaceId, chatId } = await chatOwner(prefix);
    const slug = `slow-${Math.random().toString(36).slice(2, 8)}`;
    const reg = await call('POST', '/mcp-servers', { token: user.token, body: { name: 'Slow', slug, config: { url: `${env.MCP_SERVER_URL}/mcp` } } });
    expect((await call('POST', `/mcp-servers/${reg.json.server.server_id}/start`, { token: user.token })).status).toBe(200);
    const agentId = await agentOf(user, workspaceId, { tools: [{ name: 'create_task', requires_approval: true }, { name: 'ask_user' }, { name: `mcp:${slug}:sleep` }] });
    return { user, chatId, agentId, sleep: { name: `mcp__${slug}__sleep`, arguments: { ms: 600 } } };
  }

  it('an approval decided before the step ends: the run goes on instead of waiting for it', async () => {
    const { user, chatId, agentId, sleep } = await slowStep('approvalquick');
    const { client } = await connect(user, chatId);
    const step = { tool_calls: [{ name: 'create_task', arguments: { title: 'Quick' } }, sleep] };
    const answer = call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { session_id: chatId, message: steps(step, { reply: 'Done' }) } });
    let required: any;
    for (let f = await client.next(); !required; f = await client.next()) if (f.type === 'run.approval_required') required = f;
    // The slow tool is still running: approve now.
    expect((await decide(user, required.approval_id, 'approve')).status).toBe(200);
    const res = await answer;
    expect(res.json).toMatchObject({ status: 'completed', message: 'Done' });
    const run = await runUntil(user, res.json.run_id, ['completed']);
    expect(run.tool_calls.map((c: any) => [c.kind, c.status]).sort()).toEqual([['builtin', 'completed'], ['mcp', 'completed']]);
    expect(await taskTitles(user)).toEqual(['Quick']);
  });

  it("a client tool's output sent before the step ends is taken; the run does not pause for it", async () => {
    const { user, chatId, agentId, sleep } = await slowStep('clientquick');
    const { client } = await connect(user, chatId);
    const step = { tool_calls: [{ name: 'ask_user', arguments: {} }, sleep] };
    const answer = call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { session_id: chatId, message: steps(step, { reply: 'You said {{tool}}' }) } });
    let asked: any;
    for (let f = await client.next(); !asked; f = await client.next()) if (f.type === 'run.tool_call' && f.kind === 'client') asked = f;
    const early = await call('POST', `/runs/${asked.run_id}/tool-outputs`, { token: user.token, body: { tool_outputs: [{ call_id: asked.call_id, output: 'yes' }] } });
    expect(early.status, early.text).toBe(200);
    const res = await answer;
    expect(res.json.status).toBe('completed');
    const run = await runUntil(user, res.json.run_id, ['completed']);
    expect(run.tool_calls.map((c: any) => c.status)).toEqual(['completed', 'completed']);
    expect(run.tool_calls.find((c: any) => c.kind === 'client').output).toBe('yes');
  });
});

describe('tools entries', () => {
  it('requires_approval is for built-in and MCP tools; mcp: names are mcp:<slug>:<tool>; a built-in\'s parameters are its own', async () => {
    const { user } = await chatOwner('toolentries');
    const make = (tools: unknown[]) => call('POST', '/agents', { token: user.token, body: { name: 'a', description: '', type: 'chat', role: 'r', system_prompt: 's', tools } });
    expect((await make([{ name: 'create_task', requires_approval: true }, { name: 'mcp:github:create_issue', requires_approval: true }])).status).toBe(201);
    const client = await make([{ name: 'lookup', requires_approval: true }]);
    expect(client.status).toBe(400);
    expect(client.json.msg).toContain('lookup is a client tool');
    const badMcp = await make([{ name: 'mcp:Not A Slug' }]);
    expect(badMcp.status).toBe(400);
    expect(badMcp.json.msg).toContain('mcp:<server-slug>:<tool>');
    const params = await make([{ name: 'create_task', parameters: { type: 'object' } }]);
    expect(params.status).toBe(400);
    expect(params.json.msg).toContain('built-in');
    const flag = await make([{ name: 'create_task', requires_approval: 'yes' }]);
    expect(flag.status).toBe(400);
  });
});

describe('approvals under a busy object', () => {
  it('a waiting run holds the agent in that chat: one run per agent per chat', async () => {
    const { user, chatId, agentId, answer } = await waitingRun('approvalbusy');
    expect(answer.status).toBe('waiting_approval');
    const again = await call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { session_id: chatId, message: 'hi' } });
    expect(again.json.code).toBe('run_in_progress');
  });
});
