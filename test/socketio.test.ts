import { runDurableObjectAlarm } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { chatRoom } from '../src/chats/room';
import {
  chatOfSid, decodePayload, decodeSio, encodePayload, encodeSio, MAX_PAYLOAD, newSid, parseChatMessageArg, sioEvent, SioType,
} from '../src/durable/socketio';
import { chatOwner, connect, connectionString, messageString } from './chat-helpers';
import { BASE, call, expectError, withVars } from './helpers';
import { mock } from './model-helpers';
import { agentOf } from './run-helpers';

/**
 * Socket.IO on the chat object, over Engine.IO's polling transport (plain HTTP, so it runs here
 * through the Worker's fetch). The real socket.io-client, both transports, is e2e/socketio.e2e.mjs.
 */

describe('Engine.IO / Socket.IO codec', () => {
  it('payloads join packets with the record separator', () => {
    expect(encodePayload(['40/chat,', '2'])).toBe('40/chat,\x1e2');
    expect(decodePayload('40/chat,\x1e3')).toEqual(['40/chat,', '3']);
    expect(decodePayload('3')).toEqual(['3']);
  });

  it('decodes Socket.IO packets: namespace, ack id, data', () => {
    expect(decodeSio('0/chat,')).toEqual({ type: 0, nsp: '/chat' });
    expect(decodeSio('0/chat,{"token":"x"}')).toEqual({ type: 0, nsp: '/chat', data: { token: 'x' } });
    expect(decodeSio('0')).toEqual({ type: 0, nsp: '/' });
    expect(decodeSio('2/chat,["chat_message","{}"]')).toEqual({ type: 2, nsp: '/chat', data: ['chat_message', '{}'] });
    expect(decodeSio('2/chat,12["chat_message","x"]')).toEqual({ type: 2, nsp: '/chat', id: 12, data: ['chat_message', 'x'] });
    expect(decodeSio('2["hello"]')).toEqual({ type: 2, nsp: '/', data: ['hello'] });
    expect(decodeSio('1/chat,')).toEqual({ type: 1, nsp: '/chat' });
    expect(decodeSio('3/chat,4["ok"]')).toEqual({ type: 3, nsp: '/chat', id: 4, data: ['ok'] });
  });

  it('refuses what it does not speak: binary, bad JSON, events without a name', () => {
    expect(decodeSio('51-/chat,["x",{"_placeholder":true,"num":0}]')).toBe('Binary packets are not supported');
    expect(decodeSio('9')).toBe('Unknown packet type');
    expect(decodeSio('')).toBe('Unknown packet type');
    expect(decodeSio('2/chat,[oops')).toBe('Invalid JSON');
    expect(decodeSio('2/chat,[]')).toMatch(/non-empty array/);
    expect(decodeSio('2/chat,{"a":1}')).toMatch(/non-empty array/);
    expect(decodeSio('0/chat,[1]')).toBe('CONNECT data must be an object');
    expect(decodeSio('0/chat,5')).toBe('Unexpected ack id');
  });

  it('encodes packets, the namespace omitted for /', () => {
    expect(encodeSio({ type: SioType.connect, nsp: '/chat', data: { sid: 'abc' } })).toBe('40/chat,{"sid":"abc"}');
    expect(encodeSio({ type: SioType.connectError, nsp: '/', data: { message: 'Invalid namespace' } })).toBe('44{"message":"Invalid namespace"}');
    expect(encodeSio({ type: SioType.disconnect, nsp: '/chat' })).toBe('41/chat,');
    expect(encodeSio({ type: SioType.ack, nsp: '/chat', id: 7, data: [{ ok: true }] })).toBe('43/chat,7[{"ok":true}]');
    expect(sioEvent('message', 'hi "there"')).toBe('42/chat,["message","hi \\"there\\""]');
    for (const p of ['2/chat,3["a",1]', '0/chat,{"sid":"x"}', '4/chat,{"message":"m"}']) expect(encodeSio(decodeSio(p) as any)).toBe(`4${p}`);
  });

  it('a sid names its chat, and nothing else passes for one', () => {
    const sid = newSid('0199aaaa-bbbb-7ccc-8ddd-eeeeffff0000');
    expect(chatOfSid(sid)).toBe('0199aaaa-bbbb-7ccc-8ddd-eeeeffff0000');
    expect(newSid('c')).not.toBe(newSid('c'));
    for (const bad of ['', 'abc', 'chat.123', `${'x'.repeat(65)}.${'0'.repeat(32)}`, 'a/b.00000000000000000000000000000000']) expect(chatOfSid(bad)).toBeNull();
  });

  it("reads chat_message's argument: a JSON string or the object", () => {
    const arg = { message: 'hi', chat_id: 'c', message_string: 's' };
    expect(parseChatMessageArg(JSON.stringify(arg))).toEqual(arg);
    expect(parseChatMessageArg(arg)).toEqual(arg);
    for (const bad of ['not json', '[1]', 42, null, '"text"']) expect(parseChatMessageArg(bad)).toMatch(/JSON string/);
  });
});

// ---- a polling client, by hand -------------------------------------------------------------------

const sioFetch = (query: string, init: RequestInit = {}) => exports.default.fetch(new Request(`${BASE}/socket.io/?${query}`, init));

/** One Engine.IO polling session. `get()` returns the packets of one long-poll (which must be answered within `ms`). */
class Polling {
  constructor(
    readonly sid: string,
    readonly open: Record<string, any>,
  ) {}

  static async handshake(chatId: string, cs: string): Promise<Polling> {
    const res = await sioFetch(`EIO=4&transport=polling&chat_id=${chatId}&connection_string=${encodeURIComponent(cs)}`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text[0]).toBe('0');
    const open = JSON.parse(text.slice(1));
    return new Polling(open.sid, open);
  }

  async post(...packets: string[]) {
    const res = await sioFetch(`EIO=4&transport=polling&sid=${this.sid}`, { method: 'POST', body: encodePayload(packets) });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
  }

  async get(ms = 3000): Promise<string[]> {
    const res = await Promise.race([
      sioFetch(`EIO=4&transport=polling&sid=${this.sid}`),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no packets arrived')), ms)),
    ]);
    expect(res.status).toBe(200);
    return decodePayload(await res.text());
  }

  /** Connects the /chat namespace; answers the CONNECT reply. */
  async connect(): Promise<string[]> {
    await this.post('40/chat,');
    return this.get();
  }

  async emit(name: string, ...args: unknown[]) {
    await this.post(sioEvent(name, ...args));
  }
}

/** The event packets' [name, parsed argument] pairs. */
const events = (packets: string[]) =>
  packets.filter((p) => p.startsWith('42/chat,')).map((p) => {
    const [name, arg] = JSON.parse(p.slice('42/chat,'.length));
    return [name, typeof arg === 'string' && arg.startsWith('{') ? JSON.parse(arg) : arg];
  });

async function connected(user: Parameters<typeof connectionString>[0], chatId: string) {
  const p = await Polling.handshake(chatId, await connectionString(user, chatId));
  const reply = await p.connect();
  expect(reply).toHaveLength(1);
  expect(reply[0]).toMatch(/^40\/chat,\{"sid":"[\w-]+"\}$/);
  return p;
}

describe('Socket.IO polling: handshake and namespace', () => {
  it('opens with the advertised heartbeat and upgrade, the sid naming the chat; /chat connects', async () => {
    const { user, chatId } = await chatOwner('sio');
    const p = await Polling.handshake(chatId, await connectionString(user, chatId));
    expect(p.open).toEqual({ sid: p.sid, upgrades: ['websocket'], pingInterval: 25000, pingTimeout: 20000, maxPayload: MAX_PAYLOAD });
    expect(chatOfSid(p.sid)).toBe(chatId);
    expect((await p.connect())[0]).toMatch(/^40\/chat,/);
    // Later requests are routed by the sid alone: no chat_id needed.
    await p.post('2');
    expect(await p.get()).toEqual(['3']);
  });

  it('other namespaces are refused with CONNECT_ERROR', async () => {
    const { user, chatId } = await chatOwner('sio');
    const p = await Polling.handshake(chatId, await connectionString(user, chatId));
    await p.post('40', '40/admin,');
    expect(await p.get()).toEqual(['44{"message":"Invalid namespace"}', '44/admin,{"message":"Invalid namespace"}']);
  });

  it("a used, expired, other chat's or message string: the /chat CONNECT answers CONNECT_ERROR with the reason", async () => {
    const { user, chatId } = await chatOwner('sio');
    const other = await chatOwner('sio-other');
    const cs = await connectionString(user, chatId);
    await Polling.handshake(chatId, cs); // consumes it
    const expired = await withVars({ CONNECTION_STRING_TTL_SECONDS: '0' }, () => connectionString(user, chatId));
    const cases: [string, string, string][] = [
      [cs, 'invalid_connection_string', 'Invalid connection string'],
      [expired, 'expired_connection_string', 'Connection string has expired'],
      [await connectionString(other.user, other.chatId), 'invalid_connection_string', 'Invalid connection string'],
      [await messageString(user, chatId), 'invalid_connection_string', 'Invalid connection string'],
      ['made-up', 'invalid_connection_string', 'Invalid connection string'],
    ];
    for (const [string, code, message] of cases) {
      const p = await Polling.handshake(chatId, string);
      await p.post('40/chat,');
      expect(await p.get()).toEqual([`44/chat,${JSON.stringify({ message, data: { code } })}`]);
      // Nothing else gets through: an event is ignored, nothing is stored.
      await p.emit('chat_message', JSON.stringify({ message: 'sneak', chat_id: chatId, message_string: await messageString(user, chatId) }));
      await p.post('2');
      expect(await p.get()).toEqual(['3']);
    }
    expect((await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token })).json.messages).toEqual([]);
  });

  it("a revoked session's string is refused at CONNECT", async () => {
    const { user, chatId } = await chatOwner('sio');
    const cs = await connectionString(user, chatId);
    await env.SESSIONS.delete(`session:${JSON.parse(atob(user.token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).sid}`);
    const p = await Polling.handshake(chatId, cs);
    await p.post('40/chat,');
    expect(await p.get()).toEqual(['44/chat,{"message":"Session has been revoked","data":{"code":"session_revoked"}}']);
  });

  it("Engine.IO's own errors: version, transport, sid, handshake method; ours for the chat and the string", async () => {
    const { user, chatId } = await chatOwner('sio');
    const cs = await connectionString(user, chatId);
    const q = `chat_id=${chatId}&connection_string=${cs}`;
    const eio = async (res: Response, status: number, body: unknown) => {
      expect(res.status).toBe(status);
      expect(await res.json()).toEqual(body);
    };
    await eio(await sioFetch(`EIO=3&transport=polling&${q}`), 400, { code: 5, message: 'Unsupported protocol version' });
    await eio(await sioFetch(`transport=polling&${q}`), 400, { code: 5, message: 'Unsupported protocol version' });
    await eio(await sioFetch(`EIO=4&transport=carrier-pigeon&${q}`), 400, { code: 0, message: 'Transport unknown' });
    await eio(await sioFetch(`EIO=4&transport=polling&sid=${chatId}.00000000000000000000000000000000`), 400, { code: 1, message: 'Session ID unknown' });
    await eio(await sioFetch(`EIO=4&transport=polling&sid=nonsense`), 400, { code: 1, message: 'Session ID unknown' });
    await eio(await sioFetch(`EIO=4&transport=polling&${q}`, { method: 'POST', body: '40/chat,' }), 400, { code: 2, message: 'Bad handshake method' });
    await eio(await sioFetch(`EIO=4&transport=websocket&${q}`), 400, { code: 3, message: 'Bad request' });
    const err = async (query: string) => {
      const res = await sioFetch(query);
      return { status: res.status, json: await res.json<any>() };
    };
    expectError(await err(`EIO=4&transport=polling&connection_string=${cs}`), 400, 'Missing chat id');
    expectError(await err(`EIO=4&transport=polling&chat_id=nope&connection_string=${cs}`), 404, 'Chat not found');
    expectError(await err(`EIO=4&transport=polling&chat_id=${chatId}`), 401, 'Missing connection string');
    // None of these used the string.
    await Polling.handshake(chatId, cs).then((p) => p.connect()).then((r) => expect(r[0]).toMatch(/^40\/chat,/));
  });

  it('one GET at a time: an overlapping GET is 400 and ends the session; an oversized POST is 413', async () => {
    const { user, chatId } = await chatOwner('sio');
    const p = await connected(user, chatId);
    const held = sioFetch(`EIO=4&transport=polling&sid=${p.sid}`);
    await new Promise((r) => setTimeout(r, 50));
    const overlap = await sioFetch(`EIO=4&transport=polling&sid=${p.sid}`);
    expect(overlap.status).toBe(400);
    expect(await (await held).text()).toBe('1');
    expect((await sioFetch(`EIO=4&transport=polling&sid=${p.sid}`)).status).toBe(400);

    const q = await connected(user, chatId);
    const big = await sioFetch(`EIO=4&transport=polling&sid=${q.sid}`, { method: 'POST', body: `4${'x'.repeat(MAX_PAYLOAD)}` });
    expect(big.status).toBe(413);
    expect(await q.get()).toEqual(['1']);
  });
});

describe('Socket.IO polling: chat_message, feedback, audiences', () => {
  it('chat_message is stored; feedback message_received reaches Socket.IO and /chat/ws sockets alike, and back', async () => {
    const { user, chatId } = await chatOwner('sio');
    const a = await connected(user, chatId);
    const b = await connected(user, chatId);
    const { client } = await connect(user, chatId);
    await a.emit('chat_message', JSON.stringify({ message: 'héllo 👋', chat_id: chatId, message_string: await messageString(user, chatId) }));
    const feedback = ['feedback', { type: 'message_received', message: 'héllo 👋', chat_id: chatId }];
    expect(events(await a.get())).toEqual([feedback]);
    expect(events(await b.get())).toEqual([feedback]);
    expect(await client.take('message')).toMatchObject({ message: { content: 'héllo 👋', seq: 1, role: 'user', sender_id: user.userId } });

    // The other way: a /chat/ws message reaches the Socket.IO clients.
    await client.accepted(await messageString(user, chatId), 'from the socket');
    expect(events(await a.get())).toEqual([['feedback', { type: 'message_received', message: 'from the socket', chat_id: chatId }]]);
    const history = await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token });
    expect(history.json.messages.map((m: any) => [m.seq, m.content])).toEqual([[1, 'héllo 👋'], [2, 'from the socket']]);
    client.close();
  });

  it('an ack id is answered with the ack frame (the next message string in it)', async () => {
    const { user, chatId } = await chatOwner('sio');
    const a = await connected(user, chatId);
    await a.post(encodeSio({ type: SioType.event, nsp: '/chat', id: 5, data: ['chat_message', JSON.stringify({ message: 'acked', message_string: await messageString(user, chatId) })] }));
    const packets = await a.get();
    expect(events(packets)).toEqual([['feedback', { type: 'message_received', message: 'acked', chat_id: chatId }]]);
    const ack = packets.find((p) => p.startsWith('43/chat,5'))!;
    expect(JSON.parse(ack.slice('43/chat,5'.length))[0]).toMatchObject({ type: 'ack', seq: 1, next_message_string: { chat_id: chatId } });
  });

  it('a refused message is a feedback error to the sender alone, and its string stays usable', async () => {
    const { user, chatId } = await chatOwner('sio');
    const a = await connected(user, chatId);
    const b = await connected(user, chatId);
    const ms = await messageString(user, chatId);
    const say = (arg: unknown) => a.emit('chat_message', arg);
    await say(JSON.stringify({ message: 'x', chat_id: chatId, message_string: 'made-up' }));
    await say(JSON.stringify({ message: '   ', chat_id: chatId, message_string: ms }));
    await say('not json');
    await say(JSON.stringify({ message: 'x', chat_id: 'another-chat', message_string: ms }));
    await withVars({ MESSAGE_MAX_BYTES: '4' }, () => say(JSON.stringify({ message: 'too long', chat_id: chatId, message_string: ms })));
    expect(events(await a.get())).toEqual([
      ['feedback', { type: 'error', code: 'invalid_message_string', msg: 'Invalid message string' }],
      ['feedback', { type: 'error', code: 'invalid_frame', msg: 'Missing content' }],
      ['feedback', { type: 'error', code: 'invalid_frame', msg: 'chat_message takes a JSON string {"message", "chat_id", "message_string"}' }],
      ['feedback', { type: 'error', code: 'invalid_frame', msg: 'chat_id is not the chat this socket is connected to' }],
      ['feedback', { type: 'error', code: 'content_too_large', msg: 'Content exceeds 4 bytes' }],
    ]);
    await say(JSON.stringify({ message: 'now it works', chat_id: chatId, message_string: ms }));
    const ok = ['feedback', { type: 'message_received', message: 'now it works', chat_id: chatId }];
    expect(events(await a.get())).toEqual([ok]);
    expect(events(await b.get())).toEqual([ok]); // b heard none of a's refusals
  });

  it('an agent or system message is the event `message`, its text', async () => {
    const { user, chatId } = await chatOwner('sio');
    const a = await connected(user, chatId);
    const posted = await chatRoom(env, chatId).post(chatId, { senderId: 'agent-1', role: 'agent', content: 'I am the agent' });
    expect(posted.ok).toBe(true);
    expect(events(await a.get())).toEqual([['message', 'I am the agent']]);
  });
});

describe("Socket.IO polling: the chat's default agent", () => {
  it('a chat_message starts its run: chat_information busy, the reply as `message`, then idle; a client joining mid-run hears busy', async () => {
    const { user, workspaceId, chatId } = await chatOwner('sio');
    const agentId = await agentOf(user, workspaceId);
    expect((await call('PUT', `/chat/agent?chat_id=${chatId}`, { token: user.token, body: { agent_id: agentId } })).status).toBe(200);
    const a = await connected(user, chatId);
    const content = mock({ tokens: 40, pace_ms: 25 });
    await a.emit('chat_message', JSON.stringify({ message: content, chat_id: chatId, message_string: await messageString(user, chatId) }));
    const seen = events(await a.get());
    while (!seen.some(([name]) => name === 'chat_information')) seen.push(...events(await a.get()));
    expect(seen[0]).toEqual(['feedback', { type: 'message_received', message: content, chat_id: chatId }]);
    const busy = seen.find(([name]) => name === 'chat_information')![1];
    expect(busy).toEqual({ type: 'busy', chat_id: chatId, run_id: busy.run_id, agent_id: agentId, msg: 'An agent is answering in this chat' });

    // Joining while it runs: the CONNECT answer, then what the chat is busy with.
    const b = await Polling.handshake(chatId, await connectionString(user, chatId));
    const joined = await b.connect();
    expect(joined[0]).toMatch(/^40\/chat,/);
    expect(events(joined.slice(1))).toEqual([['chat_information', busy]]);

    const tokens = Array.from({ length: 40 }, (_, i) => `tok${i + 1}`).join(' ');
    for (const p of [a, b]) {
      const rest: unknown[][] = [];
      while (!rest.some(([name, info]) => name === 'chat_information' && (info as any).type === 'idle')) rest.push(...events(await p.get(10_000)));
      expect(rest).toEqual([['message', tokens], ['chat_information', { type: 'idle', chat_id: chatId, run_id: busy.run_id, status: 'completed' }]]);
    }
  });
});

describe('Socket.IO polling: a run that waits for an approval', () => {
  it('chat_information says so (waiting_approval with the approval_id), and idle once the approved run ends', async () => {
    const { user, workspaceId, chatId } = await chatOwner('sio');
    const agentId = await agentOf(user, workspaceId, { tools: [{ name: 'create_task', requires_approval: true }] });
    expect((await call('PUT', `/chat/agent?chat_id=${chatId}`, { token: user.token, body: { agent_id: agentId } })).status).toBe(200);
    const a = await connected(user, chatId);
    const content = mock({ steps: [{ tool_calls: [{ name: 'create_task', arguments: { title: 'Held' } }] }, { reply: 'Made it' }] });
    await a.emit('chat_message', JSON.stringify({ message: content, chat_id: chatId, message_string: await messageString(user, chatId) }));
    const seen: unknown[][] = [];
    const waiting = () => seen.find(([name, info]) => name === 'chat_information' && (info as any).type === 'waiting_approval')?.[1] as any;
    while (!waiting()) seen.push(...events(await a.get(10_000)));
    expect(waiting()).toMatchObject({ chat_id: chatId, name: 'create_task', approval_id: expect.any(String) });
    expect(waiting().msg).toContain(`/approvals/${waiting().approval_id}/approve`);
    expect((await call('POST', `/approvals/${waiting().approval_id}/approve`, { token: user.token })).status).toBe(200);
    const rest: unknown[][] = [];
    while (!rest.some(([name, info]) => name === 'chat_information' && (info as any).type === 'idle')) rest.push(...events(await a.get(10_000)));
    expect(rest).toEqual([['message', 'Made it'], ['chat_information', { type: 'idle', chat_id: chatId, run_id: waiting().run_id, status: 'completed' }]]);
  });
});

describe('Socket.IO polling: ending', () => {
  it("logout disconnects that session's Socket.IO clients (DISCONNECT, then Engine.IO close)", async () => {
    const { user, chatId } = await chatOwner('sio');
    const a = await connected(user, chatId);
    expect((await call('POST', '/auth/logout', { token: user.token })).status).toBe(200);
    expect(await a.get()).toEqual(['41/chat,']);
    expect(await a.get()).toEqual(['1']);
    expect((await sioFetch(`EIO=4&transport=polling&sid=${a.sid}`)).status).toBe(400);
  });

  it('deleting the chat disconnects them too', async () => {
    const { user, chatId } = await chatOwner('sio');
    const a = await connected(user, chatId);
    expect((await call('DELETE', `/chat?chat_id=${chatId}`, { token: user.token })).status).toBe(200);
    expect(await a.get(5000)).toEqual(['41/chat,']);
    expect(await a.get()).toEqual(['1']);
  });

  it('the alarm pings every interval and ends a session that does not answer within the timeout', async () => {
    // Each beat run here sets the next one an interval out, so the alarm never fires by itself in between.
    await withVars({ SOCKETIO_PING_INTERVAL_MS: '3000', SOCKETIO_PING_TIMEOUT_MS: '1000' }, async () => {
      const { user, chatId } = await chatOwner('sio');
      const a = await connected(user, chatId);
      expect(a.open).toMatchObject({ pingInterval: 3000, pingTimeout: 1000 });
      const stub = chatRoom(env, chatId);
      await new Promise((r) => setTimeout(r, 1600));
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      expect(await a.get()).toEqual(['2']);
      await a.post('3');
      await new Promise((r) => setTimeout(r, 1600));
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      expect(await a.get()).toEqual(['2']);
      // Silent this time: the next beat past the timeout ends it.
      await new Promise((r) => setTimeout(r, 1100));
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      expect(await a.get()).toEqual(['1']);
    });
  });
});

/** The client end of an Engine.IO WebSocket: messages queue up and `next()` takes them in order. */
class EioSocket {
  private queue: string[] = [];
  private waiters: ((m: string) => void)[] = [];
  readonly closed: Promise<number>;
  constructor(readonly ws: WebSocket) {
    ws.accept();
    ws.addEventListener('message', (e) => {
      const w = this.waiters.shift();
      if (w) w(e.data as string);
      else this.queue.push(e.data as string);
    });
    this.closed = new Promise((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));
  }
  next(ms = 3000): Promise<string> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message arrived')), ms);
      this.waiters.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  }
}

const upgrade = { headers: { upgrade: 'websocket' } };

describe('Socket.IO over WebSocket (hibernation API)', () => {
  it('WebSocket-only: the open packet, the /chat CONNECT, chat_message and feedback', async () => {
    const { user, chatId } = await chatOwner('sio');
    const res = await sioFetch(`EIO=4&transport=websocket&chat_id=${chatId}&connection_string=${await connectionString(user, chatId)}`, upgrade);
    expect(res.status).toBe(101);
    const s = new EioSocket(res.webSocket!);
    const open = await s.next();
    expect(JSON.parse(open.slice(1))).toMatchObject({ upgrades: [], pingInterval: 25000, pingTimeout: 20000 });
    s.ws.send('40/chat,');
    expect(await s.next()).toMatch(/^40\/chat,\{"sid":/);
    s.ws.send(sioEvent('chat_message', JSON.stringify({ message: 'over ws', chat_id: chatId, message_string: await messageString(user, chatId) })));
    expect(events([await s.next()])).toEqual([['feedback', { type: 'message_received', message: 'over ws', chat_id: chatId }]]);
    s.ws.send('3'); // a pong nobody asked for: ignored
    s.ws.send(new Uint8Array([1, 2, 3])); // binary is not supported: closed
    expect(await s.closed).toBe(1002);
  });

  it('the upgrade: 2probe, 3probe (the held GET gets a noop), 5; then the session lives on the socket', async () => {
    const { user, chatId } = await chatOwner('sio');
    const p = await connected(user, chatId);
    const res = await sioFetch(`EIO=4&transport=websocket&sid=${p.sid}`, upgrade);
    expect(res.status).toBe(101);
    const s = new EioSocket(res.webSocket!);
    const held = p.get();
    await new Promise((r) => setTimeout(r, 50));
    s.ws.send('2probe');
    expect(await s.next()).toBe('3probe');
    expect(await held).toEqual(['6']);
    s.ws.send('5');
    // Still connected to /chat, now over the socket; the polling sid is gone.
    s.ws.send(sioEvent('chat_message', JSON.stringify({ message: 'upgraded', chat_id: chatId, message_string: await messageString(user, chatId) })));
    expect(events([await s.next()])).toEqual([['feedback', { type: 'message_received', message: 'upgraded', chat_id: chatId }]]);
    expect((await sioFetch(`EIO=4&transport=polling&sid=${p.sid}`)).status).toBe(400);
    // Revoking the session disconnects it: DISCONNECT, then the close.
    expect((await call('POST', '/auth/logout', { token: user.token })).status).toBe(200);
    expect(await s.next()).toBe('41/chat,');
    expect(await s.closed).toBe(4401);
  });
});
