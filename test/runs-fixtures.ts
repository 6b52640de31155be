import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import { getDb } from '../src/db/client';
import { newId } from '../src/lib/ids';
import { type NewRun, upsertRun } from '../src/runs/queries';
import { call, newUser, type TestUser } from './helpers';

/** A user with an agent (POST /agents), a workspace it is in, and a chat in that workspace. */
export async function agentInChat(prefix = 'runs') {
  const user = await newUser(prefix);
  const agent = await makeAgent(user);
  const workspaceId = (await call('POST', '/workspace', { token: user.token, body: { name: 'Runs' } })).json.workspace.workspace_id as string;
  expect((await call('POST', `/workspace/${workspaceId}/agent`, { token: user.token, body: { agent_id: agent } })).status).toBe(200);
  const chatId = (await call('POST', `/chat?workspace_id=${workspaceId}`, { token: user.token })).json.chat.chat_id as string;
  return { user, agentId: agent, workspaceId, chatId };
}

export async function makeAgent(user: TestUser, name = 'Helper'): Promise<string> {
  const res = await call('POST', '/agents', { token: user.token, body: { name, description: '', type: 'chat', role: 'assistant', system_prompt: 'Be brief.' } });
  expect(res.status, res.text).toBe(201);
  return res.json.agent.agent_id;
}

export type RunOwner = { user: TestUser; agentId: string; chatId: string; workspaceId: string };

/** A whole run row as the chat's object writes it (every column: upsertRun writes what it is given). */
export function runRow(o: RunOwner, over: Partial<NewRun> = {}): NewRun {
  const now = over.createdAt ?? Date.now();
  return {
    id: newId(),
    userId: o.user.userId,
    agentId: o.agentId,
    chatId: o.chatId,
    workspaceId: o.workspaceId,
    status: 'running',
    trigger: 'message',
    replyToSeq: 1,
    replyMessageId: null,
    provider: 'openai-compatible',
    model: 'gpt-4o-mini',
    inputTokens: null,
    outputTokens: null,
    finishReason: null,
    errorCode: null,
    errorMsg: null,
    createdAt: now,
    startedAt: now,
    firstTokenAt: null,
    finishedAt: null,
    updatedAt: now,
    ...over,
  };
}

/**
 * Runs are written by the chat's Durable Object (it calls upsertRun when a run starts and ends);
 * these tests seed them through the same function, without a model behind them.
 */
export async function seedRun(o: RunOwner, over: Partial<NewRun> = {}): Promise<NewRun> {
  const row = runRow(o, over);
  await upsertRun(getDb(env), row);
  return row;
}

export const storedRun = (id: string) => env.DB.prepare('SELECT * FROM runs WHERE id = ?').bind(id).first<Record<string, unknown>>();
