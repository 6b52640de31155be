import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, expectError, newUser } from './helpers';

async function createWorkspace(token: string, name?: string) {
  const res = await call('POST', '/workspace', { token, body: name === undefined ? undefined : { name } });
  expect(res.status).toBe(200);
  return res.json.workspace as { workspace_id: string; name: string; owner: string };
}

describe('POST /workspace', () => {
  it('creates with a name, or "Untitled Workspace" without a body', async () => {
    const u = await newUser();
    const res = await call('POST', '/workspace', { token: u.token, body: { name: 'Research' } });
    expect(res.status).toBe(200);
    expect(res.json.msg).toBe('Workspace created');
    expect(res.json.workspace).toMatchObject({ name: 'Research', owner: u.userId, agents: [] });
    expect(res.json.workspace.workspace_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    // `id` beside `workspace_id`: the upstream system's Socket.IO client reads the new workspace's id there.
    expect(res.json.workspace.id).toBe(res.json.workspace.workspace_id);
    expect((await createWorkspace(u.token)).name).toBe('Untitled Workspace');
    expect((await call('POST', '/workspace', { token: u.token, body: {} })).json.workspace.name).toBe('Untitled Workspace');
  });

  it('refuses a present but broken body, and a bad name', async () => {
    const u = await newUser();
    expectError(await call('POST', '/workspace', { token: u.token, body: '{oops', headers: { 'content-type': 'application/json' } }), 400, 'Missing JSON in request');
    expectError(await call('POST', '/workspace', { token: u.token, body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 400, 'Missing JSON in request');
    expectError(await call('POST', '/workspace', { token: u.token, body: { name: '' } }), 400, 'Missing name parameter');
    expectError(await call('POST', '/workspace', { token: u.token, body: { name: 7 } }), 400, 'Missing name parameter');
    expectError(await call('POST', '/workspace', { token: u.token, body: { name: 'x'.repeat(201) } }), 400);
  });

  it('takes the owner from the token, never the body', async () => {
    const u = await newUser();
    const other = await newUser();
    const res = await call('POST', '/workspace', { token: u.token, body: { name: 'Mine', owner: other.userId, workspace_id: 'chosen' } });
    expect(res.json.workspace.owner).toBe(u.userId);
    expect(res.json.workspace.workspace_id).not.toBe('chosen');
  });

  it('needs a token', async () => {
    expectError(await call('POST', '/workspace'), 401, 'Missing Authorization Header');
  });
});

describe('GET /workspace', () => {
  it("lists only the user's workspaces, newest first, across pages", async () => {
    const u = await newUser();
    const other = await newUser();
    await createWorkspace(other.token, 'not yours');
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await createWorkspace(u.token, `w${i}`));
    const first = await call('GET', '/workspace?limit=2', { token: u.token });
    expect(first.status).toBe(200);
    expect(first.json.workspaces.map((w: any) => w.name)).toEqual(['w4', 'w3']);
    const second = await call('GET', `/workspace?limit=2&cursor=${first.json.next_cursor}`, { token: u.token });
    const third = await call('GET', `/workspace?limit=2&cursor=${second.json.next_cursor}`, { token: u.token });
    expect(second.json.workspaces.map((w: any) => w.name)).toEqual(['w2', 'w1']);
    expect(third.json.workspaces.map((w: any) => w.name)).toEqual(['w0']);
    expect(third.json.next_cursor).toBeNull();
    const all = await call('GET', '/workspace', { token: u.token });
    expect(all.json.workspaces).toHaveLength(5);
    expect(all.json.workspaces.every((w: any) => w.owner === u.userId && w.id === w.workspace_id)).toBe(true);
  });

  it('validates limit and cursor', async () => {
    const u = await newUser();
    expectError(await call('GET', '/workspace?limit=0', { token: u.token }), 400, 'limit must be an integer between 1 and 100');
    expectError(await call('GET', '/workspace?limit=101', { token: u.token }), 400, 'limit must be an integer between 1 and 100');
    expectError(await call('GET', '/workspace?limit=abc', { token: u.token }), 400, 'limit must be an integer between 1 and 100');
    expectError(await call('GET', '/workspace?cursor=%%%', { token: u.token }), 400, 'Invalid cursor');
    expectError(await call('GET', '/workspace'), 401, 'Missing Authorization Header');
  });
});

describe('GET, DELETE and rename /workspace/:id', () => {
  it('reads, renames and deletes for the owner', async () => {
    const u = await newUser();
    const w = await createWorkspace(u.token, 'Before');
    const got = await call('GET', `/workspace/${w.workspace_id}`, { token: u.token });
    expect(got.status).toBe(200);
    expect(got.json.workspace).toMatchObject({ workspace_id: w.workspace_id, name: 'Before', owner: u.userId });
    const renamed = await call('PUT', `/workspace/${w.workspace_id}/rename`, { token: u.token, body: { name: 'After' } });
    expect(renamed.status).toBe(200);
    expect(renamed.json.msg).toBe('Workspace renamed');
    expect((await call('GET', `/workspace/${w.workspace_id}`, { token: u.token })).json.workspace.name).toBe('After');
    const del = await call('DELETE', `/workspace/${w.workspace_id}`, { token: u.token });
    expect(del.status).toBe(200);
    expect(del.json.msg).toBe('Workspace deleted');
    expectError(await call('GET', `/workspace/${w.workspace_id}`, { token: u.token }), 404, 'Workspace not found');
  });

  it("answers the upstream contract's 404 and 403 strings, and never shows another user's workspace", async () => {
    const u = await newUser();
    const intruder = await newUser();
    const w = await createWorkspace(u.token, 'Private');
    for (const id of ['does-not-exist', '01900000-0000-7000-8000-000000000000', "'; DROP TABLE workspaces; --"]) {
      expectError(await call('GET', `/workspace/${encodeURIComponent(id)}`, { token: u.token }), 404, 'Workspace not found');
      expectError(await call('DELETE', `/workspace/${encodeURIComponent(id)}`, { token: u.token }), 404, 'Workspace not found');
      expectError(await call('PUT', `/workspace/${encodeURIComponent(id)}/rename`, { token: u.token, body: { name: 'x' } }), 404, 'Workspace not found');
    }
    const read = await call('GET', `/workspace/${w.workspace_id}`, { token: intruder.token });
    expectError(read, 403, 'User does not have access to the workspace');
    expect(read.text).not.toContain('Private');
    expectError(await call('DELETE', `/workspace/${w.workspace_id}`, { token: intruder.token }), 403, 'User does not have access to the workspace');
    expectError(await call('PUT', `/workspace/${w.workspace_id}/rename`, { token: intruder.token, body: { name: 'Mine now' } }), 403, 'User is not the owner of the workspace');
    expect((await call('GET', `/workspace/${w.workspace_id}`, { token: u.token })).json.workspace.name).toBe('Private');
  });

  it('answers the rename errors', async () => {
    const u = await newUser();
    const w = await createWorkspace(u.token);
    expectError(await call('PUT', `/workspace/${w.workspace_id}/rename`, { token: u.token }), 400, 'Missing JSON in request');
    expectError(await call('PUT', `/workspace/${w.workspace_id}/rename`, { token: u.token, body: {} }), 400, 'Missing name parameter');
    expectError(await call('PUT', `/workspace/${w.workspace_id}/rename`, { token: u.token, body: { name: '  ' } }), 400, 'Missing name parameter');
    expectError(await call('PUT', `/workspace/${w.workspace_id}/rename`, { body: { name: 'x' } }), 401, 'Missing Authorization Header');
  });

  it('deletes what lives in the workspace in one batch', async () => {
    const u = await newUser();
    const w = await createWorkspace(u.token);
    const now = Date.now();
    const chatIds = Array.from({ length: 120 }, (_, i) => `chat-${w.workspace_id}-${i}`);
    // 120 chats: more than one statement may bind, so deletion must not list them as parameters.
    await env.DB.batch(
      chatIds.map((id) =>
        env.DB.prepare('INSERT INTO chats (id, workspace_id, owner_id, created_at) VALUES (?, ?, ?, ?)').bind(id, w.workspace_id, u.userId, now),
      ),
    );
    expect((await call('DELETE', `/workspace/${w.workspace_id}`, { token: u.token })).status).toBe(200);
    const left = await env.DB.prepare('SELECT count(*) AS n FROM chats WHERE workspace_id = ?').bind(w.workspace_id).first<{ n: number }>();
    expect(left?.n).toBe(0);
  });
});
