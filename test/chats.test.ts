import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { findChat, insertChat, setChatAgent } from '../src/chats/queries';
import { getDb } from '../src/db/client';
import type { ChatRoom } from '../src/durable/chat-room';
import { newId } from '../src/lib/ids';
import { call, expectError, newUser, type TestUser } from './helpers';
import { chatOwner } from './chat-helpers';
import { captureErrorLog } from './error-log';
import { agentInChat, makeAgent } from './runs-fixtures';

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
    expect(res.json.chat.agent_id).toBeNull();
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
      agent_id: null,
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
    ['PUT', '/chat/agent?chat_id=x'],
  ];
  it.each(routes)('%s %s: 401 without a token, with a bad token, and after logout', async (method, path) => {
    const body = method === 'PUT' ? { agent_id: null } : undefined;
    expectError(await call(method, path, { body }), 401, 'Missing Authorization Header');
    expectError(await call(method, path, { token: 'not.a.jwt', body }), 401, 'Invalid token');
    const user = await newUser();
    await call('POST', '/auth/logout', { token: user.token });
    expectError(await call(method, path, { token: user.token, body }), 401, 'Session has been revoked');
  });
});

describe("the chat's default agent", () => {
  const NOT_IN_WORKSPACE = "The agent is not in this chat's workspace";
  /** What the chat's Durable Object holds (it is told before D1 is written). */
  const objectAgent = (chatId: string) =>
    runInDurableObject(env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(chatId)), (_o: ChatRoom, state) => state.storage.kv.get('default_agent') ?? null);
  const put = (u: TestUser, chatId: string, body: unknown) => call('PUT', `/chat/agent?chat_id=${chatId}`, { token: u.token, body });
  const agentOf = async (u: TestUser, chatId: string) => (await call('GET', `/chat?chat_id=${chatId}`, { token: u.token })).json.agent_id;
  const chatCount = async (u: TestUser) => (await call('GET', '/chats', { token: u.token })).json.chats.length;

  it('POST /chat?agent_id= starts the chat with it: the chat JSON, GET /chat, the lists and the object all have it', async () => {
    const o = await agentInChat();
    const res = await call('POST', `/chat?workspace_id=${o.workspaceId}&agent_id=${o.agentId}`, { token: o.user.token, body: { title: 'With agent' } });
    expect(res.status).toBe(200);
    expect(res.json.msg).toBe('Chat created successfully');
    expect(res.json.chat).toMatchObject({ title: 'With agent', workspace_id: o.workspaceId, agent_id: o.agentId });
    const chatId = res.json.chat.chat_id;
    expect(await agentOf(o.user, chatId)).toBe(o.agentId);
    const all = (await call('GET', '/chats', { token: o.user.token })).json.chats;
    expect(all.map((c: any) => [c.chat_id, c.agent_id])).toEqual([
      [chatId, o.agentId],
      [o.chatId, null],
    ]);
    const inWorkspace = (await call('GET', `/workspace/${o.workspaceId}/chats`, { token: o.user.token })).json.chats;
    expect(inWorkspace[0]).toMatchObject({ chat_id: chatId, agent_id: o.agentId });
    expect(await objectAgent(chatId)).toBe(o.agentId);
  });

  it("POST /chat?agent_id=: 404 for an unknown, malformed, deleted or another user's agent, 409 outside the workspace; no chat is made", async () => {
    const o = await agentInChat();
    const stranger = await agentInChat('stranger');
    const gone = await makeAgent(o.user, 'Gone');
    await call('POST', `/workspace/${o.workspaceId}/agent`, { token: o.user.token, body: { agent_id: gone } });
    await call('DELETE', `/agents/${gone}`, { token: o.user.token });
    const outside = await makeAgent(o.user, 'Outside');
    const before = await chatCount(o.user);
    for (const agentId of [newId(), 'nope', '', gone, stranger.agentId]) {
      const res = await call('POST', `/chat?workspace_id=${o.workspaceId}&agent_id=${agentId}`, { token: o.user.token });
      expectError(res, 404, 'Agent not found');
      expect(res.json.code).toBe('agent_not_found');
    }
    const res = await call('POST', `/chat?workspace_id=${o.workspaceId}&agent_id=${outside}`, { token: o.user.token });
    expectError(res, 409, NOT_IN_WORKSPACE);
    expect(res.json.code).toBe('agent_not_in_workspace');
    expect(await chatCount(o.user)).toBe(before);
    // The upstream contract's checks come first: another user's workspace is still its 401.
    const foreign = await call('POST', `/chat?workspace_id=${stranger.workspaceId}&agent_id=${o.agentId}`, { token: o.user.token });
    expectError(foreign, 401, 'User is not the owner of the workspace');
    expectError(await call('POST', `/chat?agent_id=${o.agentId}`, { token: o.user.token }), 400, 'Missing workspace id');
  });

  it('PUT /chat/agent sets it (200 with the chat), again harmlessly, and null clears it; the object follows', async () => {
    const o = await agentInChat();
    const second = await makeAgent(o.user, 'Second');
    await call('POST', `/workspace/${o.workspaceId}/agent`, { token: o.user.token, body: { agent_id: second } });
    const res = await put(o.user, o.chatId, { agent_id: o.agentId });
    expect(res.status).toBe(200);
    const chat = (await call('GET', `/chat?chat_id=${o.chatId}`, { token: o.user.token })).json;
    expect(res.json).toEqual({ chat: { ...chat, agent_id: o.agentId } });
    expect(await objectAgent(o.chatId)).toBe(o.agentId);
    expect((await put(o.user, o.chatId, { agent_id: o.agentId })).json.chat.agent_id).toBe(o.agentId);
    expect((await put(o.user, o.chatId, { agent_id: second })).json.chat.agent_id).toBe(second);
    expect(await objectAgent(o.chatId)).toBe(second);
    const cleared = await put(o.user, o.chatId, { agent_id: null });
    expect(cleared.status).toBe(200);
    expect(cleared.json.chat.agent_id).toBeNull();
    expect(await agentOf(o.user, o.chatId)).toBeNull();
    expect(await objectAgent(o.chatId)).toBeNull();
    expect((await put(o.user, o.chatId, { agent_id: null })).status).toBe(200);
  });

  it("PUT /chat/agent: 404 for another user's or an unknown chat, 404 for an agent that is not yours, 409 outside the workspace; nothing changes", async () => {
    const o = await agentInChat();
    const stranger = await agentInChat('stranger');
    await put(o.user, o.chatId, { agent_id: o.agentId });
    const outside = await makeAgent(o.user, 'Outside');
    for (const chatId of [stranger.chatId, newId(), 'nope']) {
      for (const agentId of [o.agentId, null]) {
        const res = await put(o.user, chatId, { agent_id: agentId });
        expectError(res, 404, 'Chat not found');
        expect(res.json.code).toBe('chat_not_found');
      }
    }
    for (const agentId of [stranger.agentId, newId(), 'nope']) {
      const res = await put(o.user, o.chatId, { agent_id: agentId });
      expectError(res, 404, 'Agent not found');
      expect(res.json.code).toBe('agent_not_found');
    }
    const res = await put(o.user, o.chatId, { agent_id: outside });
    expectError(res, 409, NOT_IN_WORKSPACE);
    expect(res.json.code).toBe('agent_not_in_workspace');
    expect(await agentOf(o.user, o.chatId)).toBe(o.agentId);
    expect(await objectAgent(o.chatId)).toBe(o.agentId);
    expect(await agentOf(stranger.user, stranger.chatId)).toBeNull();
  });

  it('PUT /chat/agent: 400 for a missing chat id, a missing or broken body, an agent_id that is not a string or null, and unknown fields', async () => {
    const o = await agentInChat();
    expectError(await call('PUT', '/chat/agent', { token: o.user.token, body: { agent_id: null } }), 400, 'Missing chat id');
    expectError(await call('PUT', `/chat/agent?chat_id=${o.chatId}`, { token: o.user.token }), 400, 'Missing JSON in request');
    expectError(await put(o.user, o.chatId, '{"agent_id":'), 400, 'Missing JSON in request');
    expectError(await put(o.user, o.chatId, {}), 400, 'Missing agent_id parameter');
    for (const agentId of [7, true, [], {}, '', '  ']) {
      const res = await put(o.user, o.chatId, { agent_id: agentId });
      expectError(res, 400, 'agent_id must be an agent id (a string) or null');
      expect(res.json.code).toBe('validation_error');
    }
    const unknown = await put(o.user, o.chatId, { agent_id: o.agentId, agentId: o.agentId });
    expectError(unknown, 400, 'Unknown field: agentId');
    expect(unknown.json).toMatchObject({ code: 'unknown_field', fields: ['agentId'] });
    expect(await agentOf(o.user, o.chatId)).toBeNull();
    // A chat sent back as read: its server-set fields are dropped, not refused, and never stored.
    const echoed = await put(o.user, o.chatId, { agent_id: o.agentId, chat_id: 'x', title: 'changed', owner: 'someone' });
    expect(echoed.status, echoed.text).toBe(200);
    expect(echoed.json.chat).toMatchObject({ chat_id: o.chatId, title: null, owner: o.user.userId, agent_id: o.agentId });
  });

  it('a deleted chat: PUT /chat/agent is 404 and its object is not brought back', async () => {
    const o = await agentInChat();
    expect((await call('DELETE', `/chat?chat_id=${o.chatId}`, { token: o.user.token })).status).toBe(200);
    expectError(await put(o.user, o.chatId, { agent_id: o.agentId }), 404, 'Chat not found');
  });

  it('fault injection (D1 fails the write): the object is set back to what D1 holds', async () => {
    const o = await agentInChat();
    const second = await makeAgent(o.user, 'Second');
    await call('POST', `/workspace/${o.workspaceId}/agent`, { token: o.user.token, body: { agent_id: second } });
    await put(o.user, o.chatId, { agent_id: o.agentId });
    const log = captureErrorLog();
    const db = env.DB;
    (env as any).DB = new Proxy(db, {
      get: (target, prop) => {
        const v = Reflect.get(target, prop);
        if (prop !== 'prepare') return typeof v === 'function' ? v.bind(target) : v;
        return (query: string) => {
          if (/^update "chats"/i.test(query)) throw new Error('D1 is unavailable (injected)');
          return v.call(target, query);
        };
      },
    });
    let res;
    try {
      res = await put(o.user, o.chatId, { agent_id: second });
    } finally {
      (env as any).DB = db;
    }
    expectError(res, 500, 'Internal server error');
    expect(log.entries()).toEqual([{ request_id: res.json.request_id, error: 'Error: D1 is unavailable (injected)', stack: expect.any(String) }]);
    expect(await agentOf(o.user, o.chatId)).toBe(o.agentId);
    expect(await objectAgent(o.chatId)).toBe(o.agentId);
  });

  it('the D1 writes check the agent in the same statement, so a change since the route checked it cannot slip in', async () => {
    const o = await agentInChat();
    const db = getDb(env);
    const outside = await makeAgent(o.user, 'Outside');
    const stranger = await agentInChat('stranger');
    const gone = await makeAgent(o.user, 'Gone');
    await call('POST', `/workspace/${o.workspaceId}/agent`, { token: o.user.token, body: { agent_id: gone } });
    await call('DELETE', `/agents/${gone}`, { token: o.user.token });
    for (const agentId of [outside, stranger.agentId, gone, newId()]) {
      expect(await setChatAgent(db, o.user.userId, o.chatId, agentId)).toBeNull();
      const id = newId();
      expect(await insertChat(db, { id, workspaceId: o.workspaceId, ownerId: o.user.userId, title: null, agentId, now: Date.now() })).toBeNull();
      expect(await findChat(db, id)).toBeNull();
    }
    expect((await findChat(db, o.chatId))?.agentId).toBeNull();
    expect((await setChatAgent(db, o.user.userId, o.chatId, o.agentId))?.agentId).toBe(o.agentId);
    expect(await setChatAgent(db, stranger.user.userId, o.chatId, null)).toBeNull();
    expect((await findChat(db, o.chatId))?.agentId).toBe(o.agentId);
  });
});
