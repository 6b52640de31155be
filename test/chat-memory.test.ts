import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { ChatRoom } from '../src/durable/chat-room';
import { call, type Json, withVars } from './helpers';
import { chatOwner, connect, messageString } from './chat-helpers';

const stubOf = (chatId: string) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(chatId));

/** The object's in-memory socket lists (private: read here only to check they track the runtime's). */
const lists = (chatId: string) =>
  runInDurableObject(stubOf(chatId), (o: ChatRoom, state) => {
    const l = (o as unknown as { fanout: { lists?: { batch: Set<WebSocket>; single: Set<WebSocket> } } }).fanout.lists;
    return {
      built: l !== undefined,
      batch: l?.batch.size,
      single: l?.single.size,
      runtime: { batch: state.getWebSockets('mode:batch').length, single: state.getWebSockets('mode:single').length },
    };
  });

describe('in-memory socket lists', () => {
  it('follow accepts and closes, and are rebuilt from the runtime after an eviction', async () => {
    const { user, chatId } = await chatOwner();
    const a = await connect(user, chatId);
    const b = await connect(user, chatId, '&batch=1');
    let ms = await messageString(user, chatId);
    ms = (await a.client.accepted(ms, 'one')).ack.next_message_string.message_string;
    expect(await b.client.next()).toMatchObject({ type: 'messages', messages: [{ seq: 1 }] });
    const c = await connect(user, chatId); // joins lists that already exist
    expect(await lists(chatId)).toEqual({ built: true, batch: 1, single: 2, runtime: { batch: 1, single: 2 } });
    c.client.close();
    await c.client.closed; // the object answered the close: it has run webSocketClose
    expect(await lists(chatId)).toMatchObject({ batch: 1, single: 1 });

    await evictDurableObject(stubOf(chatId));
    expect((await lists(chatId)).built).toBe(false);
    const second = await a.client.accepted(ms, 'two');
    expect(second.first.message.seq).toBe(2);
    expect(await b.client.next()).toMatchObject({ type: 'messages', messages: [{ seq: 2, content: 'two' }] });
    expect(await lists(chatId)).toEqual({ built: true, batch: 1, single: 1, runtime: { batch: 1, single: 1 } });
    expect(a.client.pending + b.client.pending).toBe(0);
    a.client.close();
    b.client.close();
  });

  it('a socket that joins while a batch is pending gets its replay, then only later batches', async () => {
    const { user, chatId } = await chatOwner();
    const a = await connect(user, chatId);
    const first = await connect(user, chatId, '&batch=1');
    const ms = await messageString(user, chatId);
    await a.client.message(ms, 'one');
    const late = await connect(user, chatId, '&batch=1&after_seq=0');
    const replay = await late.client.take('messages');
    expect(replay.messages.map((m) => m.seq)).toEqual([1]);
    expect((await first.client.take('messages')).messages.map((m) => m.seq)).toEqual([1]);
    expect(late.client.pending).toBe(0);
    for (const c of [a, first, late]) c.client.close();
  });
});

describe('what a message frame reads from memory stays what SQLite says', () => {
  it('the rate window survives an eviction (read back from the stored messages)', async () => {
    const { user, chatId } = await chatOwner();
    const { client } = await connect(user, chatId);
    await withVars({ MESSAGE_RATE_LIMIT: '2', MESSAGE_RATE_WINDOW_SECONDS: '30' }, async () => {
      let ms = await messageString(user, chatId);
      for (const content of ['1', '2']) ms = (await client.accepted(ms, content)).ack.next_message_string.message_string;
      await evictDurableObject(stubOf(chatId));
      expect((await client.message(ms, '3')).ack).toMatchObject({ type: 'error', code: 'rate_limited' });
      // A system post does not count against the user, and takes the next seq.
      expect(await stubOf(chatId).post(chatId, { senderId: 'sys', role: 'system', content: 'note' })).toMatchObject({ ok: true, seq: 3 });
      expect((await client.take('message')).message).toMatchObject({ seq: 3, role: 'system' });
      await withVars({ MESSAGE_RATE_LIMIT: '3' }, async () => {
        expect((await client.message(ms, '3')).ack).toMatchObject({ type: 'ack', seq: 4 });
      });
    });
    client.close();
  });

  it('a resent client_id is answered even when its content or the rate would refuse a new message', async () => {
    const { user, chatId } = await chatOwner();
    const { client } = await connect(user, chatId);
    const first = (await client.accepted(await messageString(user, chatId), 'original', 'same')).ack;
    let ms = first.next_message_string.message_string;
    client.send({ type: 'message', message_string: ms, content: '  ', client_id: 'same' });
    const again = await client.take('ack');
    expect(again).toMatchObject({ type: 'ack', seq: 1, message_id: first.message_id, duplicate: true });
    ms = again.next_message_string.message_string;
    await withVars({ MESSAGE_RATE_LIMIT: '1', MESSAGE_RATE_WINDOW_SECONDS: '30' }, async () => {
      client.send({ type: 'message', message_string: ms, content: 'original', client_id: 'same' });
      const third = await client.take('ack');
      expect(third).toMatchObject({ type: 'ack', seq: 1, duplicate: true });
      // A new client_id is limited, and its string stays usable once the limit allows.
      const limited = await client.refused(third.next_message_string.message_string, 'new', 'other');
      expect(limited).toMatchObject({ type: 'error', code: 'rate_limited', client_id: 'other' });
      await withVars({ MESSAGE_RATE_LIMIT: '2' }, async () => {
        expect((await client.message(third.next_message_string.message_string, 'new', 'other')).ack).toMatchObject({ type: 'ack', seq: 2 });
      });
    });
    expect(client.pending).toBe(0);
    const history = await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token });
    expect(history.json.messages.map((m: Json) => m.content)).toEqual(['original', 'new']);
    client.close();
  });

  it("trying another session's string leaves it usable by its own session", async () => {
    const { user, chatId } = await chatOwner();
    const login = await call('POST', '/auth/login', { body: { email: user.email, password: user.password } });
    const second = { ...user, token: login.json.access_token };
    const mine = await connect(user, chatId);
    const theirs = await connect(second, chatId);
    const theirString = await messageString(second, chatId);
    expect((await mine.client.message(theirString, 'x')).ack).toMatchObject({ type: 'error', code: 'invalid_message_string' });
    expect((await theirs.client.message(theirString, 'y')).ack).toMatchObject({ type: 'ack', seq: 1 });
    mine.client.close();
    theirs.client.close();
  });
});
