import { describe, expect, it } from 'vitest';
import { call, expectError, type Json, withVars } from './helpers';
import { chatOwner, connect, connectionString, messageString, openSocket } from './chat-helpers';

async function wsError(path: string, headers?: Record<string, string>) {
  const res = await openSocket(path, headers);
  expect(res.webSocket).toBeNull();
  return { status: res.status, json: (await res.json()) as Json };
}

describe('GET /chat/ws: refused before any upgrade', () => {
  it('426 without Upgrade: websocket, 400 without chat_id, 404 for an unknown chat', async () => {
    const { user, chatId } = await chatOwner();
    const cs = await connectionString(user, chatId);
    expectError(await wsError(`/chat/ws?chat_id=${chatId}&connection_string=${cs}`, {}), 426, 'Expected Upgrade: websocket');
    expectError(await wsError(`/chat/ws?connection_string=${cs}`), 400, 'Missing chat id');
    expectError(await wsError(`/chat/ws?chat_id=nope&connection_string=${cs}`), 404, 'Chat not found');
    expectError(await wsError(`/chat/ws?chat_id=${chatId}&after_seq=x&connection_string=${cs}`), 400, 'after_seq must be a non-negative integer');
  });

  it('401 for a missing, unknown, used, expired or wrong-chat connection string', async () => {
    const { user, chatId } = await chatOwner();
    const { chatId: otherChat } = await chatOwner();
    expectError(await wsError(`/chat/ws?chat_id=${chatId}`), 401, 'Missing connection string');
    expectError(await wsError(`/chat/ws?chat_id=${chatId}&connection_string=made-up`), 401, 'Invalid connection string');
    const cs = await connectionString(user, chatId);
    expectError(await wsError(`/chat/ws?chat_id=${otherChat}&connection_string=${cs}`), 401, 'Invalid connection string');
    const { client } = await connect(user, chatId); // a fresh string works...
    client.close();
    const used = await openSocket(`/chat/ws?chat_id=${chatId}&connection_string=${cs}`);
    expect(used.status).toBe(101); // ...and so does `cs`, once
    used.webSocket!.accept();
    used.webSocket!.close();
    expectError(await wsError(`/chat/ws?chat_id=${chatId}&connection_string=${cs}`), 401, 'Invalid connection string');
    const expired = await withVars({ CONNECTION_STRING_TTL_SECONDS: '0' }, () => connectionString(user, chatId));
    expectError(await wsError(`/chat/ws?chat_id=${chatId}&connection_string=${expired}`), 401, 'Connection string has expired');
  });

  it("another user's chat: their string does not open mine", async () => {
    const { chatId } = await chatOwner();
    const stranger = await chatOwner('stranger');
    const theirs = await connectionString(stranger.user, stranger.chatId);
    expectError(await wsError(`/chat/ws?chat_id=${chatId}&connection_string=${theirs}`), 401, 'Invalid connection string');
  });

  it('a message string is not a connection string', async () => {
    const { user, chatId } = await chatOwner();
    const ms = await messageString(user, chatId);
    expectError(await wsError(`/chat/ws?chat_id=${chatId}&connection_string=${ms}`), 401, 'Invalid connection string');
  });
});

describe('chat frames', () => {
  it('ready, then one broadcast reaches every socket and the sender gets an ack with the next string', async () => {
    const { user, chatId } = await chatOwner();
    const a = await connect(user, chatId);
    expect(a.ready).toEqual({ type: 'ready', chat_id: chatId, user_id: user.userId, last_seq: 0 });
    const b = await connect(user, chatId);
    const sent = await a.client.accepted(await messageString(user, chatId), 'héllo 👋', 'c-1');
    expect(sent.first).toEqual({
      type: 'message',
      message: {
        message_id: expect.any(String),
        chat_id: chatId,
        seq: 1,
        sender_id: user.userId,
        role: 'user',
        content: 'héllo 👋',
        created_at: expect.any(String),
        client_id: 'c-1',
      },
    });
    expect(sent.ack).toMatchObject({ type: 'ack', client_id: 'c-1', message_id: sent.first.message.message_id, seq: 1 });
    expect(sent.ack.next_message_string).toMatchObject({ chat_id: chatId, created_by: user.userId });
    expect(sent.ack.next_message_string.expires_at - sent.ack.next_message_string.created_at).toBe(60);
    expect(await b.client.next()).toEqual(sent.first);
    // The next string chains without HTTP.
    const second = await a.client.accepted(sent.ack.next_message_string.message_string, 'again');
    expect(second.ack.seq).toBe(2);
    expect((await b.client.take('message')).message.seq).toBe(2);
    expect(b.client.pending).toBe(0);
    a.client.close();
    b.client.close();
  });

  it('answers the exact ping text with pong', async () => {
    const { user, chatId } = await chatOwner();
    const { client } = await connect(user, chatId);
    client.send('{"type":"ping"}');
    expect(await client.next()).toEqual({ type: 'pong' });
    client.send('{ "type": "ping" }'); // not the exact text: the object answers it itself
    expect(await client.next()).toEqual({ type: 'pong' });
    client.close();
  });

  it('refuses bad frames to the sender alone; nothing is stored or broadcast and the string stays usable', async () => {
    const { user, chatId } = await chatOwner();
    const a = await connect(user, chatId);
    const b = await connect(user, chatId);
    const ms = await messageString(user, chatId);
    const refuse = async (frame: string | Record<string, unknown>, code: string, clientId: string | null = null) => {
      a.client.send(frame);
      const err = await a.client.take('error');
      expect(err).toMatchObject({ type: 'error', code, client_id: clientId });
      expect(typeof err.msg).toBe('string');
    };
    await refuse('not json', 'invalid_frame');
    await refuse('[1,2]', 'invalid_frame');
    await refuse({ type: 'shout', message_string: ms, content: 'x' }, 'invalid_frame');
    await refuse({ type: 'message', message_string: ms, content: 'x', client_id: 7 }, 'invalid_frame');
    await refuse({ type: 'message', message_string: ms, client_id: 'k' }, 'invalid_frame', 'k');
    await refuse({ type: 'message', message_string: ms, content: '   ' }, 'invalid_frame');
    await refuse({ type: 'message', message_string: 'forged', content: 'x', client_id: 'k' }, 'invalid_message_string', 'k');
    await refuse({ type: 'message', content: 'x' }, 'invalid_message_string');
    await withVars({ MESSAGE_MAX_BYTES: '4' }, async () => {
      await refuse({ type: 'message', message_string: ms, content: 'ééé' }, 'content_too_large'); // 6 bytes, 3 chars
      const ok = await a.client.accepted(ms, 'éé'); // exactly 4 bytes, with the same string
      expect(ok.ack.seq).toBe(1);
    });
    a.client.ws.send(new Uint8Array([1, 2, 3]));
    expect((await a.client.take('error')).code).toBe('invalid_frame');
    // b saw only the one accepted message.
    expect((await b.client.take('message')).message).toMatchObject({ seq: 1, content: 'éé' });
    expect(b.client.pending).toBe(0);
    const history = await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token });
    expect(history.json.messages.map((m: Json) => m.content)).toEqual(['éé']);
    a.client.close();
    b.client.close();
  });

  it('a message string is single-use, expires, and is bound to its chat and session', async () => {
    const { user, chatId } = await chatOwner();
    const other = await chatOwner();
    const { client } = await connect(user, chatId);
    const ms = await messageString(user, chatId);
    expect((await client.message(ms, 'one')).ack.type).toBe('ack');
    expect((await client.message(ms, 'two')).ack).toMatchObject({ type: 'error', code: 'invalid_message_string' });
    const expired = await withVars({ MESSAGE_STRING_TTL_SECONDS: '0' }, () => messageString(user, chatId));
    expect((await client.message(expired, 'late')).ack).toMatchObject({ type: 'error', code: 'expired_message_string' });
    const foreignChat = await messageString(other.user, other.chatId);
    expect((await client.refused(foreignChat, 'x')).code).toBe('invalid_message_string');
    // Same user, another login: its message strings do not work on this session's socket.
    const login = await call('POST', '/auth/login', { body: { email: user.email, password: user.password } });
    const otherSession = await messageString({ ...user, token: login.json.access_token }, chatId);
    expect((await client.refused(otherSession, 'x')).code).toBe('invalid_message_string');
    const cs = await connectionString(user, chatId);
    expect((await client.refused(cs, 'x')).code).toBe('invalid_message_string');
    client.close();
  });

  it('a resent client_id returns the first ack and stores nothing twice', async () => {
    const { user, chatId } = await chatOwner();
    const a = await connect(user, chatId);
    const b = await connect(user, chatId);
    const first = await a.client.accepted(await messageString(user, chatId), 'once', 'dup-1');
    expect((await b.client.take('message')).message.seq).toBe(1);
    a.client.send({ type: 'message', message_string: first.ack.next_message_string.message_string, content: 'once', client_id: 'dup-1' });
    const again = await a.client.take('ack');
    expect(again).toMatchObject({ type: 'ack', client_id: 'dup-1', message_id: first.ack.message_id, seq: 1, duplicate: true });
    // The resend consumed its string and got a fresh one; the next message is seq 2.
    const next = await a.client.accepted(again.next_message_string.message_string, 'then', 'dup-2');
    expect(next.ack.seq).toBe(2);
    expect((await b.client.take('message')).message).toMatchObject({ seq: 2, content: 'then' });
    const history = await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token });
    expect(history.json.messages.map((m: Json) => m.client_id)).toEqual(['dup-1', 'dup-2']);
    a.client.close();
    b.client.close();
  });

  it('rate limits each user inside the object with retry_after; the refused string stays usable', async () => {
    const { user, chatId } = await chatOwner();
    const { client } = await connect(user, chatId);
    await withVars({ MESSAGE_RATE_LIMIT: '2', MESSAGE_RATE_WINDOW_SECONDS: '30' }, async () => {
      let ms = await messageString(user, chatId);
      for (const content of ['1', '2']) ms = (await client.accepted(ms, content)).ack.next_message_string.message_string;
      const limited = await client.refused(ms, '3', 'r3');
      expect(limited).toMatchObject({ type: 'error', code: 'rate_limited', client_id: 'r3' });
      expect(limited.retry_after).toBeGreaterThanOrEqual(1);
      expect(limited.retry_after).toBeLessThanOrEqual(30);
      await withVars({ MESSAGE_RATE_LIMIT: '3' }, async () => {
        expect((await client.message(ms, '3', 'r3')).ack).toMatchObject({ type: 'ack', seq: 3 });
      });
    });
    client.close();
  });
});

describe('history', () => {
  it('GET /chat/messages pages by after_seq', async () => {
    const { user, chatId } = await chatOwner();
    const { client } = await connect(user, chatId);
    let ms = await messageString(user, chatId);
    for (let i = 1; i <= 5; i++) ms = (await client.accepted(ms, `m${i}`)).ack.next_message_string.message_string;
    const p1 = await call('GET', `/chat/messages?chat_id=${chatId}&limit=2`, { token: user.token });
    expect(p1.json.messages.map((m: Json) => m.seq)).toEqual([1, 2]);
    expect(p1.json).toMatchObject({ next_after_seq: 2, last_seq: 5 });
    const p3 = await call('GET', `/chat/messages?chat_id=${chatId}&after_seq=4&limit=2`, { token: user.token });
    expect(p3.json.messages.map((m: Json) => m.content)).toEqual(['m5']);
    expect(p3.json.next_after_seq).toBeNull();
    client.close();
  });
});
