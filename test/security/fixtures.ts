import { zipSync, strToU8 } from 'fflate';
import { expect } from 'vitest';
import { BASE, call, newUser, type TestUser } from '../helpers';
import { exports } from 'cloudflare:workers';

/** Everything one user owns, each named with a marker that must never show up in another user's answers. */
export interface Owned {
  user: TestUser;
  marker: string;
  ids: Record<string, string>;
}

/** A valid agent package archive. */
export function packageZip(name: string, version: string, description = 'an agent') {
  const manifest = { name, version, description, system_prompt: 'You help.', model: { name: 'm' }, tools: [] };
  return zipSync({ 'agent.json': strToU8(JSON.stringify(manifest)) });
}

export async function ownEverything(label: string): Promise<Owned> {
  const user = await newUser(label);
  const marker = `SECRET-${label}-${crypto.randomUUID().slice(0, 8)}`;
  const t = user.token;
  const ids: Record<string, string> = {};

  const ws = await call('POST', '/workspace', { token: t, body: { name: `${marker}-ws` } });
  ids.workspace_id = ws.json.workspace.workspace_id;

  const chat = await call('POST', `/chat?workspace_id=${ids.workspace_id}`, { token: t, body: { title: `${marker}-chat` } });
  expect(chat.status).toBe(200);
  ids.chat_id = chat.json.chat.chat_id;

  const name = `pkg-${label.toLowerCase()}-${crypto.randomUUID().slice(0, 8)}`;
  const zip = packageZip(name, '1.0.0', `${marker}-agent`);
  const pub = await exports.default.fetch(
    new Request(`${BASE}/agent/packages/${name}/1.0.0`, { method: 'PUT', body: zip, headers: { authorization: `Bearer ${t}`, 'content-type': 'application/zip' } }),
  );
  expect(pub.status).toBe(201);
  ids.name = name;
  ids.version = '1.0.0';
  ids.query = name;
  expect((await call('GET', `/agent/download?query=${name}`, { token: t })).status).toBe(200);
  const agents = await call('GET', '/agents', { token: t });
  ids.agent_id = agents.json.agents.find((a: any) => a.name === name || a.package === name)?.agent_id;
  expect(ids.agent_id).toBeTruthy();
  expect((await call('POST', `/workspace/${ids.workspace_id}/agent`, { token: t, body: { agent_id: ids.agent_id } })).status).toBe(200);

  // A run of that agent in the chat (the local model server answers it).
  const run = await call('POST', `/agents/${ids.agent_id}/chat`, { token: t, body: { message: `${marker}-question`, session_id: ids.chat_id } });
  expect(run.status, run.text).toBe(200);
  ids.run_id = run.json.run_id;
  ids.session_id = ids.chat_id;

  const memory = await call('POST', `/agents/${ids.agent_id}/memories`, { token: t, body: { content: `${marker}-memory` } });
  expect(memory.status, memory.text).toBe(201);
  ids.memory_id = memory.json.memory.memory_id;

  const approval = await call('POST', '/approvals', { token: t, body: { title: `${marker}-approval` } });
  expect(approval.status, approval.text).toBe(201);
  ids.approval_id = approval.json.approval.approval_id;

  const mcp = await call('POST', '/mcp-servers', {
    token: t,
    body: { name: `${marker}-mcp`, slug: 'fixture-mcp', config: { url: 'https://mcp.example.com/mcp', headers: { Authorization: `Bearer ${marker}-mcp-token` } } },
  });
  expect(mcp.status, mcp.text).toBe(201);
  ids.server_id = mcp.json.server.server_id;

  const task = await call('POST', '/tasks', { token: t, body: { title: `${marker}-task`, workspace_id: ids.workspace_id, tags: [marker] } });
  expect(task.status).toBe(201);
  ids.task_id = task.json.task.task_id;

  const proc = await call('POST', '/processes', {
    token: t,
    body: { name: `${marker}-process`, trigger_type: 'manual', action: { type: 'create_task', task: { title: `${marker}-made` } } },
  });
  expect(proc.status, proc.text).toBe(201);
  ids.process_id = proc.json.process.process_id;

  const form = new FormData();
  form.append('file', new File([`${marker} file body`], `${marker}.txt`, { type: 'text/plain' }));
  const file = await exports.default.fetch(
    new Request(`${BASE}/files/upload?task_id=${ids.task_id}`, { method: 'POST', body: form, headers: { authorization: `Bearer ${t}` } }),
  );
  expect(file.status).toBe(201);
  ids.file_id = ((await file.json()) as any).file.file_id;

  return { user, marker, ids };
}
