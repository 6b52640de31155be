import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, expectError, newUser } from './helpers';
import { chatOwner } from './chat-helpers';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('POST /chat', () => {
  it('creates a chat and answers the upstream shape with title and created_at', async () => {
    const user = await newUser();
    const ws = await call('POST', '/workspace', { token: user.token, body: { name: 'W' } });
    const workspaceId = ws.json.workspace.workspace_id;
    const res = await call('POST', `/chat?workspace_id=${workspaceId}`, { token: user.token, body: { title: ' Plans ' } });
    expect(res.status).toBe(200);
    expect(res.json.msg).toBe('Chat created successfully');
    expect(res.json.chat).toMatchObject({ workspace_id: workspaceId, created_by: user.userId, owner: user.userId, title: 'Plans' });
    expect(res.json.chat.chat_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.json.chat.created_at).toMatch(ISO);
    expect(res.json.workspace).toMatchObject({ workspace_id: workspaceId, owner: user.userId, name: 'W' });
  });

  it('takes no body at all: the title is null', async () => {
    const { user, workspaceId } = await chatOwner();
    const res = await call('POST', `/chat?workspace_id=${workspaceId}`, { token: user.token });
    expect(res.status).toBe(200);
    expect(res.json.chat.title).toBeNull();
  });

  it('ignores server-set fields in the body', async () => {
    const { user, workspaceId } = await chatOwner();
    const other = await newUser();
    const res = await call('POST', `/chat?workspace_id=${workspaceId}`, {
      token: user.token,
      body: { owner: other.userId, created_by: other.userId, chat_id: 'mine', created_at: 'x' },
    });
    expect(res.status).toBe(200);
    expect(res.json.chat.owner).toBe(user.userId);
    expect(res.json.chat.chat_id).not.toBe('mine');
  });

  it('400 Missing workspace id, 404 Workspace not found, 401 for another user', async () => {
    const { user, workspaceId } = await chatOwner();
    const other = await newUser();
    expectError(await call('POST', '/chat', { token: user.token }), 400, 'Missing workspace id');
    expectError(await call('POST', '/chat?workspace_id=', { token: user.token }), 400, 'Missing workspace id');
    expectError(await call('POST', '/chat?workspace_id=nope', { token: user.token }), 404, 'Workspace not found');
    expectError(await call('POST', `/chat?workspace_id=${workspaceId}`, { token: other.token }), 401, 'User is not the owner of the workspace');
  });

  it('400 for a present but broken body or title', async () => {
    const { user, workspaceId } = await chatOwner();
    const path = `/chat?workspace_id=${workspaceId}`;
    expectError(await call('POST', path, { token: user.token, body: '{"title": ' }), 400, 'Missing JSON in request');
    expectError(await call('POST', path, { token: user.token, body: '[1]' }), 400, 'Missing JSON in request');
    expectError(await call('POST', path, { token: user.token, body: { title: '' } }), 400, 'Missing title parameter');
    expectError(await call('POST', path, { token: user.token, body: { title: 'x'.repeat(201) } }), 400, 'title must be at most 200 characters');
  });
});

describe('GET /chat and DELETE /chat', () => {
  it('GET answers the upstream shape', async () => {
    const { user, workspaceId, chatId } = await chatOwner();
    const res = await call('GET', `/chat?chat_id=${chatId}`, { token: user.token });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      chat_id: chatId,
      owner: user.userId,
      created_by: user.userId,
      workspace_id: workspaceId,
      title: null,
      created_at: expect.stringMatching(ISO),
    });
  });

  it.each(['GET', 'DELETE'])('%s: 400 Missing chat id, 404 Chat not found, 401 for another user', async (method) => {
    const { chatId } = await chatOwner();
    const other = await newUser();
    expectError(await call(method, '/chat', { token: other.token }), 400, 'Missing chat id');
    expectError(await call(method, '/chat?chat_id=%20', { token: other.token }), 400, 'Missing chat id');
    expectError(await call(method, '/chat?chat_id=not-a-chat', { token: other.token }), 404, 'Chat not found');
    expectError(await call(method, `/chat?chat_id=${chatId}`, { token: other.token }), 401, 'User is not the owner of the chat');
  });

  it('DELETE removes the chat and its session records, and runs its cleanup job', async () => {
    const { user, chatId } = await chatOwner();
    await call('GET', `/chat/authorize?chat_id=${chatId}`, { token: user.token });
    const res = await call('DELETE', `/chat?chat_id=${chatId}`, { token: user.token });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ msg: 'Chat deleted successfully' });
    expectError(await call('GET', `/chat?chat_id=${chatId}`, { token: user.token }), 404, 'Chat not found');
    expectError(await call('DELETE', `/chat?chat_id=${chatId}`, { token: user.token }), 404, 'Chat not found');
    const rows = await env.DB.prepare('SELECT COUNT(*) AS n FROM session_chats WHERE chat_id = ?').bind(chatId).first<{ n: number }>();
    expect(rows?.n).toBe(0);
    await expect.poll(async () => env.DB.prepare('SELECT id FROM cleanup_jobs WHERE id = ?').bind(`chat_room:${chatId}`).first()).toBeNull();
  });
});

describe('chat lists', () => {
  it('GET /workspace/:id/chats lists that workspace newest first, paginated', async () => {
    const { user, workspaceId, chatId } = await chatOwner();
    const second = (await call('POST', `/chat?workspace_id=${workspaceId}`, { token: user.token })).json.chat.chat_id;
    const elsewhere = await call('POST', '/workspace', { token: user.token });
    await call('POST', `/chat?workspace_id=${elsewhere.json.workspace.workspace_id}`, { token: user.token });
    const p1 = await call('GET', `/workspace/${workspaceId}/chats?limit=1`, { token: user.token });
    expect(p1.status).toBe(200);
    expect(p1.json.chats.map((c: any) => c.chat_id)).toEqual([second]);
    expect(p1.json.chats[0]).toMatchObject({ workspace_id: workspaceId, owner: user.userId });
    const p2 = await call('GET', `/workspace/${workspaceId}/chats?limit=1&cursor=${p1.json.next_cursor}`, { token: user.token });
    expect(p2.json.chats.map((c: any) => c.chat_id)).toEqual([chatId]);
    expect(p2.json.next_cursor).toBeNull();
  });

  it('GET /workspace/:id/chats: 404 unknown, 403 another user, 400 bad cursor or limit', async () => {
    const { user, workspaceId } = await chatOwner();
    const other = await newUser();
    expectError(await call('GET', '/workspace/nope/chats', { token: user.token }), 404, 'Workspace not found');
    expectError(await call('GET', `/workspace/${workspaceId}/chats`, { token: other.token }), 403, 'User does not have access to the workspace');
    expectError(await call('GET', `/workspace/${workspaceId}/chats?cursor=%%%`, { token: user.token }), 400, 'Invalid cursor');
    expectError(await call('GET', `/workspace/${workspaceId}/chats?limit=101`, { token: user.token }), 400, 'limit must be an integer between 1 and 100');
  });

  it("GET /chats lists all of the user's chats and nobody else's", async () => {
    const { user, chatId } = await chatOwner();
    const ws2 = await call('POST', '/workspace', { token: user.token });
    const other = (await call('POST', `/chat?workspace_id=${ws2.json.workspace.workspace_id}`, { token: user.token })).json.chat.chat_id;
    await chatOwner('stranger');
    const res = await call('GET', '/chats', { token: user.token });
    expect(res.status).toBe(200);
    expect(res.json.chats.map((c: any) => c.chat_id)).toEqual([other, chatId]);
    expect(res.json.next_cursor).toBeNull();
    const p1 = await call('GET', '/chats?limit=1', { token: user.token });
    expect(p1.json.chats).toHaveLength(1);
    const p2 = await call('GET', `/chats?limit=1&cursor=${p1.json.next_cursor}`, { token: user.token });
    expect(p2.json.chats.map((c: any) => c.chat_id)).toEqual([chatId]);
  });

  it('deleting a workspace takes its chats', async () => {
    const { user, workspaceId, chatId } = await chatOwner();
    expect((await call('DELETE', `/workspace/${workspaceId}`, { token: user.token })).status).toBe(200);
    expectError(await call('GET', `/chat?chat_id=${chatId}`, { token: user.token }), 404, 'Chat not found');
    expect((await call('GET', '/chats', { token: user.token })).json.chats).toEqual([]);
  });
});

describe('GET /chat/authorize and /chat/authorize/message', () => {
  it('issues a connection string in the upstream shape (epoch seconds) and records the session', async () => {
    const { user, chatId } = await chatOwner();
    const res = await call('GET', `/chat/authorize?chat_id=${chatId}`, { token: user.token });
    expect(res.status).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual(['chat_id', 'connection_string', 'created_at', 'created_by', 'expires_at', 'string']);
    expect(res.json.string).toBe(res.json.connection_string);
    expect(res.json.connection_string.length).toBeGreaterThanOrEqual(22); // >= 128 bits in base64url
    expect(res.json).toMatchObject({ chat_id: chatId, created_by: user.userId });
    expect(Math.abs(res.json.created_at - Date.now() / 1000)).toBeLessThan(60);
    expect(res.json.expires_at - res.json.created_at).toBe(300);
    const again = await call('GET', `/chat/authorize?chat_id=${chatId}`, { token: user.token });
    expect(again.json.connection_string).not.toBe(res.json.connection_string);
    const rows = await env.DB.prepare('SELECT COUNT(*) AS n FROM session_chats WHERE chat_id = ?').bind(chatId).first<{ n: number }>();
    expect(rows?.n).toBe(1);
  });

  it('issues a message string valid for 60 seconds', async () => {
    const { user, chatId } = await chatOwner();
    const res = await call('GET', `/chat/authorize/message?chat_id=${chatId}`, { token: user.token });
    expect(res.status).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual(['chat_id', 'created_at', 'created_by', 'expires_at', 'message_string', 'string']);
    expect(res.json.string).toBe(res.json.message_string);
    expect(res.json.expires_at - res.json.created_at).toBe(60);
  });

  it.each(['/chat/authorize', '/chat/authorize/message'])('%s (upstream contract): 400, 404, and 401 for another user', async (path) => {
    const { chatId } = await chatOwner();
    const other = await newUser();
    expectError(await call('GET', path, { token: other.token }), 400, 'Missing chat id');
    expectError(await call('GET', `${path}?chat_id=nope`, { token: other.token }), 404, 'Chat not found');
    expectError(await call('GET', `${path}?chat_id=${chatId}`, { token: other.token }), 401, 'User is not the owner of the chat');
  });
});

describe('GET /chat/messages', () => {
  it('400 without a chat id; an unknown chat and another user\'s are the same 404', async () => {
    const { chatId } = await chatOwner();
    const other = await newUser();
    expectError(await call('GET', '/chat/messages', { token: other.token }), 400, 'Missing chat id');
    expectError(await call('GET', '/chat/messages?chat_id=nope', { token: other.token }), 404, 'Chat not found');
    expectError(await call('GET', `/chat/messages?chat_id=${chatId}`, { token: other.token }), 404, 'Chat not found');
  });

  it('starts empty and rejects a bad after_seq', async () => {
    const { user, chatId } = await chatOwner();
    const res = await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ messages: [], next_after_seq: null, last_seq: 0 });
    expectError(await call('GET', `/chat/messages?chat_id=${chatId}&after_seq=-1`, { token: user.token }), 400, 'after_seq must be a non-negative integer');
    expectError(await call('GET', `/chat/messages?chat_id=${chatId}&limit=0`, { token: user.token }), 400, 'limit must be an integer between 1 and 100');
  });
});

describe('authentication on every chat route', () => {
  const routes: [string, string][] = [
    ['POST', '/chat?workspace_id=x'],
    ['GET', '/chat?chat_id=x'],
    ['DELETE', '/chat?chat_id=x'],
    ['GET', '/workspace/x/chats'],
    ['GET', '/chats'],
    ['GET', '/chat/authorize?chat_id=x'],
    ['GET', '/chat/authorize/message?chat_id=x'],
    ['GET', '/chat/messages?chat_id=x'],
  ];
  it.each(routes)('%s %s: 401 without a token, with a bad token, and after logout', async (method, path) => {
    expectError(await call(method, path), 401, 'Missing Authorization Header');
    expectError(await call(method, path, { token: 'not.a.jwt' }), 401, 'Invalid token');
    const user = await newUser();
    await call('POST', '/auth/logout', { token: user.token });
    expectError(await call(method, path, { token: user.token }), 401, 'Session has been revoked');
  });
});
