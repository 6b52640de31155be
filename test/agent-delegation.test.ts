import { describe, expect, it } from 'vitest';
import { chatOwner, connect } from './chat-helpers';
import { call, newUser, withVars } from './helpers';
import { mock, modelRequests, uniqueTag } from './model-helpers';
import { agentOf, runUntil } from './run-helpers';

/**
 * Delegation (issue 12, item 5): the built-in `ask_agent` hands a question to another agent of
 * the chat's workspace; its sub-run's answer is the call's result. The question carries its own
 * `[[mock ...]]` directive, so the local model server scripts the sub-run as well.
 */
const steps = (...s: object[]) => mock({ steps: s });
const ask = (agentId: string, question: string) => ({ tool_calls: [{ name: 'ask_agent', arguments: { agent_id: agentId, question } }] });
const turn = (user: { token: string }, agentId: string, chatId: string, message: string) =>
  call('POST', `/agents/${agentId}/chat`, { token: user.token, body: { session_id: chatId, message } });

describe('ask_agent', () => {
  it('another agent of the workspace answers as a sub-run: its answer is the result, the sub-run is on the parent, nothing extra in the chat', async () => {
    const { user, workspaceId, chatId } = await chatOwner('delegate');
    const coordinator = await agentOf(user, workspaceId, { name: 'Coordinator', tools: [{ name: 'ask_agent' }] });
    const expert = await agentOf(user, workspaceId, { name: 'Expert', system_prompt: 'You know everything.' });
    const tag = uniqueTag('sub');
    const { client } = await connect(user, chatId);
    const res = await turn(user, coordinator, chatId, steps(ask(expert, mock({ reply: 'It is 42', tag })), { reply: 'The expert says: {{tool}}' }));
    expect(res.status, res.text).toBe(200);
    expect(res.json.message).toMatch(/^The expert says: \{"run_id":"[^"]+","agent_id":"[^"]+","answer":"It is 42"\}$/);
    // The sub-run saw its system prompt and the question only, never the chat.
    const [subRequest] = await modelRequests(tag);
    expect(subRequest.body.messages.map((m: any) => m.role)).toEqual(['system', 'user']);
    expect(subRequest.body.messages[0].content).toBe('You know everything.');

    const parent = (await call('GET', `/runs/${res.json.run_id}`, { token: user.token })).json.run;
    expect(parent).toMatchObject({ depth: 0, parent_run_id: null, tool_calls: [{ name: 'ask_agent', status: 'completed' }] });
    expect(parent.sub_runs).toHaveLength(1);
    const sub = parent.sub_runs[0];
    expect(sub).toMatchObject({ agent_id: expert, chat_id: chatId, trigger: 'agent', parent_run_id: res.json.run_id, depth: 1, status: 'completed', reply_message_id: null });
    expect(parent.tool_calls[0].output.run_id).toBe(sub.run_id);
    // Its model call is priced to the same user (usage_entries): the cost report by agent lists the expert.
    expect(sub.usage).not.toBeNull();
    const byAgent = await call('GET', '/cost/by-agent', { token: user.token });
    expect(byAgent.json.agents.map((a: any) => a.agent_id)).toContain(expert);
    // The chat holds the user's message and the coordinator's reply, nothing of the sub-run; no frame names it.
    const history = await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token });
    expect(history.json.messages.map((m: any) => m.sender_id)).toEqual([user.userId, coordinator]);
    const frames: any[] = [];
    for (let f = await client.next(); ; f = await client.next()) {
      frames.push(f);
      if (f.type === 'run.finished') break;
    }
    expect(frames.filter((f) => f.run_id === sub.run_id)).toEqual([]);
    expect(frames.filter((f) => f.type === 'run.started').map((f) => f.agent_id)).toEqual([coordinator]);
  });

  it('the depth is bounded by AGENT_MAX_DEPTH: a sub-run that asks further is told so', async () => {
    const { user, workspaceId, chatId } = await chatOwner('delegatedepth');
    const a = await agentOf(user, workspaceId, { tools: [{ name: 'ask_agent' }] });
    const b = await agentOf(user, workspaceId, { tools: [{ name: 'ask_agent' }] });
    const c = await agentOf(user, workspaceId);
    const message = steps(ask(b, steps(ask(c, mock({ reply: 'deep answer' })), { reply: 'B heard: {{tool}}' })), { reply: 'A heard: {{tool}}' });
    // Depth 2 is allowed by default (3): a → b → c.
    const deep = await turn(user, a, chatId, message);
    expect(deep.status, deep.text).toBe(200);
    expect(deep.json.message).toContain('deep answer');
    const sub = (await call('GET', `/runs/${deep.json.run_id}`, { token: user.token })).json.run.sub_runs[0];
    const subSub = (await call('GET', `/runs/${sub.run_id}`, { token: user.token })).json.run.sub_runs[0];
    expect(subSub).toMatchObject({ agent_id: c, depth: 2, parent_run_id: sub.run_id });

    const shallow = await withVars({ AGENT_MAX_DEPTH: '1' }, () => turn(user, a, chatId, message));
    expect(shallow.status, shallow.text).toBe(200);
    expect(shallow.json.message).not.toContain('deep answer');
    expect(shallow.json.message).toContain('Delegation goes at most AGENT_MAX_DEPTH (1) levels deep');
  });

  it('refused: an agent outside the chat\'s workspace, another user\'s agent, itself, and more than AGENT_MAX_SUBRUNS asks', async () => {
    const { user, workspaceId, chatId } = await chatOwner('delegateno');
    const a = await agentOf(user, workspaceId, { tools: [{ name: 'ask_agent' }] });
    const outside = await agentOf(user); // the user's, in no workspace of this chat
    const stranger = await newUser('delegatestranger');
    const theirs = await agentOf(stranger);
    const inside = await agentOf(user, workspaceId);
    const result = async (agentId: string) => {
      const res = await turn(user, a, chatId, steps(ask(agentId, 'hello?'), { reply: '{{tool}}' }));
      expect(res.status, res.text).toBe(200);
      return res.json.message as string;
    };
    expect(await result(outside)).toBe("Error: The agent is not in this chat's workspace");
    expect(await result(theirs)).toBe('Error: Agent not found');
    expect(await result(a)).toBe('Error: An agent cannot ask itself');
    const twice = { tool_calls: [{ name: 'ask_agent', arguments: { agent_id: inside, question: 'one' } }, { name: 'ask_agent', arguments: { agent_id: inside, question: 'two' } }] };
    const res = await withVars({ AGENT_MAX_SUBRUNS: '1' }, () => turn(user, a, chatId, steps(twice, { reply: '{{tool}}' })));
    expect(res.json.message).toBe('Error: This run has asked other agents AGENT_MAX_SUBRUNS (1) times already');
    const run = (await call('GET', `/runs/${res.json.run_id}`, { token: user.token })).json.run;
    expect(run.sub_runs).toHaveLength(1);
    expect(run.tool_calls.map((c: any) => c.status)).toEqual(['completed', 'failed']);
  });

  it('tools that wait for a person are not offered to a sub-run', async () => {
    const { user, workspaceId, chatId } = await chatOwner('delegatewait');
    const a = await agentOf(user, workspaceId, { tools: [{ name: 'ask_agent' }] });
    const b = await agentOf(user, workspaceId, { tools: [{ name: 'create_task', requires_approval: true }, { name: 'list_tasks' }, { name: 'lookup' }] });
    const tag = uniqueTag('subtools');
    const res = await turn(user, a, chatId, steps(ask(b, steps({ tag, ...{ tool_calls: [{ name: 'create_task', arguments: { title: 'x' } }] } }, { reply: 'B: {{tool}}' })), { reply: '{{tool}}' }));
    expect(res.status, res.text).toBe(200);
    const [first] = await modelRequests(tag);
    expect(first.body.tools.map((t: any) => t.function.name)).toEqual(['list_tasks']);
    expect(res.json.message).toContain('B: Error: No tool named \\"create_task\\" is available to this agent');
    expect((await call('GET', '/tasks', { token: user.token })).json.tasks).toEqual([]);
    await runUntil(user, res.json.run_id, ['completed']);
  });
});
