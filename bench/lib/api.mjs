// The few calls the bench makes to our API, as a freshly registered user.
import { randomUUID } from 'node:crypto';

export async function call(url, method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} -> ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

export const PASSWORD = 'bench-password-123';

export async function register(url, email = `bench-${randomUUID()}@example.com`) {
  await call(url, 'POST', '/register', { body: { email, password: PASSWORD } });
  return email;
}

export async function login(url, email) {
  return (await call(url, 'POST', '/auth/login', { body: { email, password: PASSWORD } })).access_token;
}

/** A new user with a workspace: { email, token, workspaceId }. */
export async function newUser(url) {
  const email = await register(url);
  const token = await login(url, email);
  const { workspace } = await call(url, 'POST', '/workspace', { token, body: { name: 'bench' } });
  return { email, token, workspaceId: workspace.workspace_id };
}

/** A new chat in `workspaceId`: its chat_id. */
export async function newChat(url, token, workspaceId, title = `bench ${randomUUID()}`) {
  const { chat } = await call(url, 'POST', `/chat?workspace_id=${workspaceId}`, { token, body: { title } });
  return chat.chat_id;
}

/** A new agent of the user's (POST /agents), added to `workspaceId` when given: its agent_id. */
export async function newAgent(url, token, { workspaceId, ...fields } = {}) {
  const body = { name: 'Bench', description: 'answers the bench', type: 'chat', role: 'assistant', system_prompt: 'You are the bench agent.', ...fields };
  const { agent } = await call(url, 'POST', '/agents', { token, body });
  if (workspaceId) await call(url, 'POST', `/workspace/${workspaceId}/agent`, { token, body: { agent_id: agent.agent_id } });
  return agent.agent_id;
}
