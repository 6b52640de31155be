import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { postToChat } from '../src/chats/room';
import type { ChatRoom } from '../src/durable/chat-room';
import { call, expectError, withVars } from './helpers';
import { ChatClient, chatOwner, connect, connectionString, messageString, openSocket } from './chat-helpers';

const stubOf = (chatId: string) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(chatId));

async function send(client: ChatClient, ms: string, content: string) {
  return (await client.accepted(ms, content)).ack;
}

describe('replay and eviction', () => {
  it('after_seq replays every later message in order before live ones', async () => {
    const { user, chatId } = await chatOwner();
    const a = await connect(user, chatId);
    let ms = await messageString(user, chatId);
    for (const content of ['one', 'two', 'three']) ms = (await send(a.client, ms, content)).next_message_string.message_string;
    const b = await connect(user, chatId, '&after_seq=1');
    expect(b.ready.last_seq).toBe(3);
    await send(a.client, ms, 'four');
    const seen = [await b.client.take('message'), await b.client.take('message'), await b.client.take('message')];
    expect(seen.map((f) => [f.type, f.message.seq, f.message.content])).toEqual([
      ['message', 2, 'two'],
      ['message', 3, 'three'],
      ['message', 4, 'four'],
    ]);
    a.client.close();
    b.client.close();
  });

  it('eviction loses nothing: the socket stays open, seq continues, history is complete', async () => {
    const { user, chatId } = await chatOwner();
    const a = await connect(user, chatId);
    const first = await send(a.client, await messageString(user, chatId), 'before');
    await evictDurableObject(stubOf(chatId));
    a.client.send('{"type":"ping"}'); // answered by the runtime while the object is gone
    expect(await a.client.next()).toEqual({ type: 'pong' });
    const second = await send(a.client, first.next_message_string.message_string, 'after');
    expect(second.seq).toBe(2);
    await evictDurableObject(stubOf(chatId));
    const b = await connect(user, chatId, '&after_seq=0');
    expect(b.ready.last_seq).toBe(2);
    const replay = [await b.client.take('message'), await b.client.take('message')];
    expect(replay.map((f) => [f.message.seq, f.message.content, f.message.sender_id])).toEqual([
      [1, 'before', user.userId],
      [2, 'after', user.userId],
    ]);
    a.client.close();
    b.client.close();
  });
});

describe('deletion', () => {
  it('deleting a chat closes its sockets, and the chat stays deleted', async () => {
    const { user, chatId } = await chatOwner();
    const a = await connect(user, chatId);
    await send(a.client, await messageString(user, chatId), 'doomed');
    const spare = await connectionString(user, chatId);
    expect((await call('DELETE', `/chat?chat_id=${chatId}`, { token: user.token })).status).toBe(200);
    expect(await a.client.closed).toEqual({ code: 4404, reason: 'Chat deleted' });
    const ws = await openSocket(`/chat/ws?chat_id=${chatId}&connection_string=${spare}`);
    expect(ws.status).toBe(404);
    // The object itself refuses everything, even when reached directly.
    const stub = stubOf(chatId);
    const gone = { ok: false, code: 'chat_not_found', msg: 'Chat not found' };
    expect(await stub.issue(chatId, 'connection', user.userId, 'any')).toEqual(gone);
    expect(await stub.history(0, 10)).toEqual(gone);
    expect(await stub.post(chatId, { senderId: 'agent', role: 'agent', content: 'hi' })).toEqual(gone);
    const direct = await stub.fetch(new Request(`http://do/?connection_string=${spare}`, { headers: { upgrade: 'websocket' } }));
    expect(direct.status).toBe(404);
    expect(await direct.json()).toMatchObject({ code: 'chat_not_found' });
    expect(await postToChat(env, chatId, { senderId: 'agent', role: 'agent', content: 'hi' })).toEqual(gone);
    // A fresh instance (constructor after the tombstone) must not recreate the tables.
    await evictDurableObject(stubOf(chatId));
    const storage = await runInDurableObject(stubOf(chatId), (_o: ChatRoom, state) => ({
      tables: [...state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('messages', 'strings')")],
      tombstone: state.storage.kv.get('tombstone'),
      alarm: state.storage.getAlarm(),
    }));
    expect(storage.tables).toEqual([]);
    expect(storage.tombstone).toBe(true);
    expect(await storage.alarm).toBeNull();
  });

  it('deleting the workspace closes its chats’ sockets', async () => {
    const { user, workspaceId, chatId } = await chatOwner();
    const a = await connect(user, chatId);
    expect((await call('DELETE', `/workspace/${workspaceId}`, { token: user.token })).status).toBe(200);
    expect((await a.client.closed).code).toBe(4404);
    expect(await stubOf(chatId).history(0, 1)).toMatchObject({ ok: false, code: 'chat_not_found' });
  });
});

describe('session revocation closes sockets', () => {
  async function twoSessions() {
    const owner = await chatOwner();
    const login = await call('POST', '/auth/login', { body: { email: owner.user.email, password: owner.user.password } });
    const second = { ...owner.user, token: login.json.access_token };
    return { ...owner, second };
  }

  it("logout closes that session's sockets only, and its unused strings stop working", async () => {
    const { user, chatId, second } = await twoSessions();
    const mine = await connect(user, chatId);
    const theirs = await connect(second, chatId);
    const unused = await connectionString(user, chatId);
    expect((await call('POST', '/auth/logout', { token: user.token })).status).toBe(200);
    expect(await mine.client.closed).toEqual({ code: 4401, reason: 'Session revoked' });
    const refused = await openSocket(`/chat/ws?chat_id=${chatId}&connection_string=${unused}`);
    expectError({ status: refused.status, json: await refused.json() }, 401, 'Invalid connection string');
    await send(theirs.client, await messageString(second, chatId), 'still here');
    theirs.client.close();
  });

  it("change-password closes the other sessions' sockets and keeps the current one", async () => {
    const { user, chatId, second } = await twoSessions();
    const mine = await connect(user, chatId);
    const theirs = await connect(second, chatId);
    const res = await call('POST', '/auth/change-password', {
      token: user.token,
      body: { current_password: user.password, new_password: 'a brand new password' },
    });
    expect(res.status).toBe(200);
    expect((await theirs.client.closed).code).toBe(4401);
    await send(mine.client, await messageString(user, chatId), 'mine still works');
    mine.client.close();
  });

  it('a connection string whose session was revoked while it was issued does not connect', async () => {
    const { user, chatId } = await chatOwner();
    const cs = await connectionString(user, chatId);
    // The race: the session's KV key is gone but session_chats did not yet list this chat.
    const sessionId = JSON.parse(atob(user.token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).sid;
    expect(typeof sessionId).toBe('string');
    await env.SESSIONS.delete(`session:${sessionId}`);
    const res = await openSocket(`/chat/ws?chat_id=${chatId}&connection_string=${cs}`);
    expectError({ status: res.status, json: await res.json() }, 401, 'Session has been revoked');
  });

  it('logout-all closes every socket of the user', async () => {
    const { user, chatId, second } = await twoSessions();
    const mine = await connect(user, chatId);
    const theirs = await connect(second, chatId);
    expect((await call('POST', '/auth/logout-all', { token: user.token })).status).toBe(200);
    expect((await mine.client.closed).code).toBe(4401);
    expect((await theirs.client.closed).code).toBe(4401);
  });
});

describe('postToChat', () => {
  it('stores and broadcasts a system or agent message with the next seq', async () => {
    const { user, chatId } = await chatOwner();
    const a = await connect(user, chatId);
    await send(a.client, await messageString(user, chatId), 'from the user');
    const posted = await postToChat(env, chatId, { senderId: 'process-1', role: 'agent', content: 'from an agent' });
    if (!posted.ok) throw new Error(posted.msg);
    expect(posted.seq).toBe(2);
    expect((await a.client.take('message')).message).toMatchObject({ message_id: posted.message_id, seq: 2, role: 'agent', sender_id: 'process-1' });
    expect(await postToChat(env, chatId, { senderId: 's', role: 'system', content: ' ' })).toMatchObject({ ok: false, code: 'invalid_content' });
    await withVars({ MESSAGE_MAX_BYTES: '4' }, async () => {
      expect(await postToChat(env, chatId, { senderId: 's', role: 'system', content: 'ééé' })).toEqual({
        ok: false,
        code: 'invalid_content',
        msg: 'Content must be non-empty and at most 4 bytes',
      });
    });
    expect(await postToChat(env, 'no-such-chat', { senderId: 's', role: 'system', content: 'x' })).toMatchObject({ ok: false, code: 'chat_not_found' });
    a.client.close();
  });
});

describe('string purge', () => {
  it('the alarm purges expired strings and keeps live ones', async () => {
    const { user, chatId } = await chatOwner();
    await withVars({ CONNECTION_STRING_TTL_SECONDS: '-120', MESSAGE_STRING_TTL_SECONDS: '-120' }, async () => {
      await connectionString(user, chatId);
      await messageString(user, chatId);
    });
    const live = await connectionString(user, chatId);
    const count = () => runInDurableObject(stubOf(chatId), (_o: ChatRoom, s) => s.storage.sql.exec('SELECT COUNT(*) AS n FROM strings').one().n);
    expect(await count()).toBe(3);
    expect(await runDurableObjectAlarm(stubOf(chatId))).toBe(true);
    expect(await count()).toBe(1);
    expect(await runInDurableObject(stubOf(chatId), (_o: ChatRoom, s) => s.storage.getAlarm())).not.toBeNull();
    expect((await openSocket(`/chat/ws?chat_id=${chatId}&connection_string=${live}`)).status).toBe(101);
  });
});
