import { evictDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { captureErrorLog } from './error-log';
import { call, expectError, withVars } from './helpers';
import { chatOwner, connect, connectionString, messageString, openSocket } from './chat-helpers';

const stubOf = (chatId: string) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(chatId));
const BAD = { MESSAGE_MAX_BYTES: 'lots' };
const invalid = { ok: false, code: 'config_invalid', var: 'MESSAGE_MAX_BYTES', msg: expect.stringContaining('MESSAGE_MAX_BYTES') };
/** What the object logs once, when it is built with the bad var (src/lib/config.ts). */
const LOGGED = [{ error: 'config_invalid', var: 'MESSAGE_MAX_BYTES', msg: 'MESSAGE_MAX_BYTES must be an integer from 1 to 1048576' }];

/**
 * The object reads configError(env) in its constructor (src/durable/chat-room.ts): evicting it and
 * calling it while a var is bad builds it with that var. The test env is shared with the object
 * (test/helpers.ts withVars), so restoring the var afterwards leaves an object that recorded the
 * error, as a deployed one keeps it until the next deploy.
 */
async function rebuildWithBadVar(chatId: string) {
  await evictDurableObject(stubOf(chatId));
  await withVars(BAD, async () => {
    expect(await stubOf(chatId).history(0, 1)).toEqual(invalid);
  });
}

describe('a var that does not parse: the chat object refuses instead of throwing', () => {
  it('RPCs answer config_invalid and a connect is 503 naming the var; the string is not used up', async () => {
    const { user, chatId } = await chatOwner();
    const cs = await connectionString(user, chatId);
    const log = captureErrorLog();
    await evictDurableObject(stubOf(chatId));
    await withVars(BAD, async () => {
      const stub = stubOf(chatId);
      const direct = await stub.fetch(new Request(`http://do/?connection_string=${cs}`, { headers: { upgrade: 'websocket' } }));
      expect(direct.status).toBe(503);
      expect(direct.webSocket).toBeNull();
      expect(await direct.json()).toEqual(invalid);
      expect(await stub.issue(chatId, 'message', user.userId, 'any')).toEqual(invalid);
      expect(await stub.history(0, 10)).toEqual(invalid);
      expect(await stub.post(chatId, { senderId: 'agent', role: 'agent', content: 'hi' })).toEqual(invalid);
      // Revoking access reads no var: it still works.
      expect(await stub.closeSessions(['some-session'])).toEqual({ ok: true, closed: 0 });
    });
    await evictDurableObject(stubOf(chatId)); // a deploy with the var fixed
    const res = await openSocket(`/chat/ws?chat_id=${chatId}&connection_string=${encodeURIComponent(cs)}`);
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    res.webSocket!.close();
    expect(log.entries()).toEqual(LOGGED);
  });

  it('the routes answer its refusal as 503 config_invalid with the var', async () => {
    const { user, chatId } = await chatOwner();
    const cs = await connectionString(user, chatId);
    const log = captureErrorLog();
    await rebuildWithBadVar(chatId);
    // The Worker's own config is fine again; only the object recorded the bad var.
    for (const path of [`/chat/authorize?chat_id=${chatId}`, `/chat/authorize/message?chat_id=${chatId}`, `/chat/messages?chat_id=${chatId}`]) {
      const res = await call('GET', path, { token: user.token });
      expectError(res, 503);
      expect(res.json).toMatchObject({ code: 'config_invalid', var: 'MESSAGE_MAX_BYTES', msg: expect.stringContaining('MESSAGE_MAX_BYTES') });
    }
    const ws = await openSocket(`/chat/ws?chat_id=${chatId}&connection_string=${encodeURIComponent(cs)}`);
    const body = await ws.json<Record<string, unknown>>();
    expectError({ status: ws.status, json: body }, 503);
    expect(body).toMatchObject({ code: 'config_invalid', var: 'MESSAGE_MAX_BYTES' });
    await evictDurableObject(stubOf(chatId));
    expect(log.entries()).toEqual(LOGGED);
  });

  it('a frame gets an error frame config_invalid; the open socket and its message string survive', async () => {
    const { user, chatId } = await chatOwner();
    const { client } = await connect(user, chatId);
    const ms = await messageString(user, chatId);
    const log = captureErrorLog();
    await evictDurableObject(stubOf(chatId));
    await withVars(BAD, async () => {
      client.send({ type: 'message', message_string: ms, content: 'hello', client_id: 'c1' });
      expect(await client.take('error')).toEqual({ type: 'error', code: 'config_invalid', msg: invalid.msg, client_id: null, var: 'MESSAGE_MAX_BYTES' });
    });
    await evictDurableObject(stubOf(chatId));
    const { ack } = await client.accepted(ms, 'hello', 'c1');
    expect(ack).toMatchObject({ client_id: 'c1', seq: 1 });
    client.close();
    expect(log.entries()).toEqual(LOGGED);
  });
});
