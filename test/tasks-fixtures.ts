import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import { newId } from '../src/lib/ids';
import { call, type Json, type TestUser } from './helpers';

/** Creates a task through the API and returns its JSON. */
export async function makeTask(u: TestUser, body: Json = {}): Promise<Json> {
  const res = await call('POST', '/tasks', { token: u.token, body: { title: 'A task', ...body } });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return res.json.task;
}

export async function makeWorkspace(u: TestUser): Promise<string> {
  const res = await call('POST', '/workspace', { token: u.token, body: { name: 'Tasks' } });
  expect(res.status).toBe(200);
  return res.json.workspace.workspace_id;
}

/** An agent row for `userId`, written straight into D1 (the suite has the user's id, not a token). */
export async function makeAgent(userId: string): Promise<string> {
  const id = newId();
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO agents (id, user_id, name, description, type, role, system_prompt, model, created_at, updated_at)
     VALUES (?, ?, 'Agent', '', 'chat', 'assistant', 'Be brief.', '{"provider":"openai-compatible","name":"gpt-4o-mini"}', ?, ?)`,
  )
    .bind(id, userId, now, now)
    .run();
  return id;
}

/** A task already in `status`, reached through allowed moves only. */
export async function taskIn(u: TestUser, status: string): Promise<Json> {
  if (['not_started', 'in_progress', 'blocked'].includes(status)) return makeTask(u, { status });
  const t = await makeTask(u);
  const res = await call('PATCH', `/tasks/${t.task_id}`, { token: u.token, body: { status } });
  expect(res.status).toBe(200);
  return res.json.task;
}
