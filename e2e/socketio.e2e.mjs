// Socket.IO under the real runtime: the Worker under `wrangler dev`, the real socket.io-client
// (npm, what browser and Node clients use; python-socketio speaks the same Engine.IO v4 /
// Socket.IO v5) in its default mode (HTTP long-polling, then the upgrade to WebSocket) and in
// WebSocket-only mode, as the upstream system's client uses it: namespace /chat, chat_id and
// connection_string in the query, `chat_message` with a JSON string, `feedback`, `message` and
// `chat_information` back. The agent's reply comes from the local model server. One client
// stays connected through two minutes of silence (the chat object's alarm sends the pings); it
// starts first and is checked last, so the other tests run meanwhile. No browser needed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { startModelServer } from '../test/model-server/server.mjs';
import { startWorker } from './local-worker.mjs';

const SILENCE_MS = 120_000;
/** Short enough to wait out once (the expired-string test), long enough for every other connect. */
const CONNECTION_STRING_TTL_SECONDS = 5;

let worker;
let model;
/** The silent client, connected in before(). */
let silent;

const api = (method, path, opts) => worker.api(method, path, opts);

let users = 0;
/** A user with a workspace and a chat, as the upstream client makes them (it reads `workspace.id`). */
async function chatOwner() {
  const email = `sio-${Date.now()}-${++users}@example.com`;
  const password = 'correct horse battery';
  assert.equal((await api('POST', '/register', { body: { email, password } })).status, 200);
  const login = async () => (await api('POST', '/auth/login', { body: { email, password } })).json.access_token;
  const token = await login();
  const workspace = (await api('POST', '/workspace', { token, body: { name: 'Socket.IO' } })).json.workspace;
  assert.equal(workspace.id, workspace.workspace_id);
  const chat = await api('POST', `/chat?workspace_id=${workspace.id}`, { token, body: { title: 'STELLA' } });
  assert.equal(chat.status, 200, chat.text);
  return { token, login, workspaceId: workspace.id, chatId: chat.json.chat.chat_id };
}

const connectionString = async (token, chatId) => (await api('GET', `/chat/authorize?chat_id=${chatId}`, { token })).json.string;
const messageString = async (token, chatId) => (await api('GET', `/chat/authorize/message?chat_id=${chatId}`, { token })).json.string;

/** A Socket.IO client as the upstream one connects: server root, path /socket.io/, namespace /chat. Every event is recorded. */
function client(chatId, cs, opts = {}) {
  const sock = io(`${worker.url}/chat`, { path: '/socket.io/', query: { chat_id: chatId, connection_string: cs }, reconnection: false, ...opts });
  sock.events = [];
  sock.onAny((name, ...args) => sock.events.push([name, ...args.map((a) => (typeof a === 'string' && a.startsWith('{') ? JSON.parse(a) : a))]));
  return sock;
}

/** Resolves with the first recorded event (from `from` on) that `match` accepts; fails after `ms`. */
async function eventWhere(sock, match, ms = 10_000, from = 0) {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = sock.events.slice(from).find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no such event; got ${JSON.stringify(sock.events)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function waitFor(emitter, event, ms = 10_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

async function connected(chatId, cs, opts) {
  const sock = client(chatId, cs, opts);
  await waitFor(sock, 'connect');
  return sock;
}

const say = async (sock, token, chatId, message) =>
  sock.emit('chat_message', JSON.stringify({ message, chat_id: chatId, message_string: await messageString(token, chatId) }));
const received = (chatId, message) => (e) => e[0] === 'feedback' && e[1].type === 'message_received' && e[1].message === message && e[1].chat_id === chatId;

before(async () => {
  model = await startModelServer();
  worker = await startWorker({
    vars: {
      PASSWORD_SCRYPT_N: '1024', PASSWORD_SCRYPT_R: '1', PASSWORD_SCRYPT_P: '1', RATE_LIMIT_PER_MINUTE: '10000', LLM_MAX_RETRIES: '0',
      LLM_BASE_URL: `${model.url}/v1`, CONNECTION_STRING_TTL_SECONDS: String(CONNECTION_STRING_TTL_SECONDS),
    },
  });
  const owner = await chatOwner();
  const sock = await connected(owner.chatId, await connectionString(owner.token, owner.chatId));
  const pings = { n: 0 };
  sock.io.engine.on('ping', () => pings.n++);
  silent = { ...owner, sock, pings, since: Date.now(), disconnects: [] };
  sock.on('disconnect', (reason) => silent.disconnects.push(reason));
});

after(async () => {
  silent?.sock.close();
  await worker?.stop();
  await model?.close();
});

test('default mode: connects over polling, upgrades to WebSocket; chat_message is stored and fed back to every client', async () => {
  const { token, chatId } = await chatOwner();
  const a = client(chatId, await connectionString(token, chatId));
  await waitFor(a, 'connect');
  assert.equal(a.io.engine.transport.name, 'polling');
  await waitFor(a.io.engine, 'upgrade');
  assert.equal(a.io.engine.transport.name, 'websocket');
  const b = await connected(chatId, await connectionString(token, chatId), { transports: ['websocket'] });
  assert.equal(b.io.engine.transport.name, 'websocket');

  await say(a, token, chatId, 'hello from STELLA');
  await eventWhere(a, received(chatId, 'hello from STELLA'));
  await eventWhere(b, received(chatId, 'hello from STELLA'));
  await say(b, token, chatId, 'and back');
  await eventWhere(a, received(chatId, 'and back'));
  const history = await api('GET', `/chat/messages?chat_id=${chatId}`, { token });
  assert.deepEqual(history.json.messages.map((m) => [m.seq, m.role, m.content]), [[1, 'user', 'hello from STELLA'], [2, 'user', 'and back']]);
  a.close();
  b.close();
});

test('refused handshakes: a used, an expired and another chat\'s string are connect_error with the reason', async () => {
  const { token, chatId } = await chatOwner();
  const other = await chatOwner();
  const cs = await connectionString(token, chatId);
  (await connected(chatId, cs)).close();
  const refusal = async (string, opts) => {
    const sock = client(chatId, string, opts);
    const [err] = await waitFor(sock, 'connect_error');
    sock.close();
    return { message: err.message, code: err.data?.code };
  };
  for (const opts of [{}, { transports: ['websocket'] }]) {
    assert.deepEqual(await refusal(cs, opts), { message: 'Invalid connection string', code: 'invalid_connection_string' });
    assert.deepEqual(await refusal(await connectionString(other.token, other.chatId), opts), { message: 'Invalid connection string', code: 'invalid_connection_string' });
  }
  const expiring = [await connectionString(token, chatId), await connectionString(token, chatId)];
  await new Promise((r) => setTimeout(r, (CONNECTION_STRING_TTL_SECONDS + 1) * 1000));
  assert.deepEqual(await refusal(expiring[0]), { message: 'Connection string has expired', code: 'expired_connection_string' });
  assert.deepEqual(await refusal(expiring[1], { transports: ['websocket'] }), { message: 'Connection string has expired', code: 'expired_connection_string' });
  // An unknown chat is refused before Engine.IO opens: still a connect_error.
  const unknown = client('no-such-chat', cs);
  await waitFor(unknown, 'connect_error');
  unknown.close();
});

test('a refused message is an error feedback to the sender alone; an ack callback gets the ack frame', async () => {
  const { token, chatId } = await chatOwner();
  const a = await connected(chatId, await connectionString(token, chatId));
  const b = await connected(chatId, await connectionString(token, chatId), { transports: ['websocket'] });
  a.emit('chat_message', JSON.stringify({ message: 'hi', chat_id: chatId, message_string: 'made-up' }));
  const [, error] = await eventWhere(a, (e) => e[0] === 'feedback' && e[1].type === 'error');
  assert.deepEqual(error, { type: 'error', code: 'invalid_message_string', msg: 'Invalid message string' });
  const ack = await b.emitWithAck('chat_message', JSON.stringify({ message: 'acked', chat_id: chatId, message_string: await messageString(token, chatId) }));
  assert.equal(ack.type, 'ack');
  assert.equal(ack.seq, 1);
  await eventWhere(a, received(chatId, 'acked'));
  assert.ok(!b.events.some((e) => e[0] === 'feedback' && e[1].type === 'error'), JSON.stringify(b.events));
  a.close();
  b.close();
});

test("an agent's reply is the event `message` (its text); chat_information says the chat is busy, then idle", async () => {
  const { token, workspaceId, chatId } = await chatOwner();
  const agent = await api('POST', '/agents', {
    token,
    body: { name: 'Helper', description: 'helps', type: 'chat', role: 'assistant', system_prompt: 'You are Helper.' },
  });
  assert.equal(agent.status, 201, agent.text);
  const agentId = agent.json.agent.agent_id;
  assert.equal((await api('POST', `/workspace/${workspaceId}/agent`, { token, body: { agent_id: agentId } })).status, 200);
  assert.equal((await api('PUT', `/chat/agent?chat_id=${chatId}`, { token, body: { agent_id: agentId } })).status, 200);
  const a = await connected(chatId, await connectionString(token, chatId));
  await say(a, token, chatId, 'Hi there [[mock {"reply":"Hello from the agent"}]]');
  const [, reply] = await eventWhere(a, (e) => e[0] === 'message');
  assert.equal(reply, 'Hello from the agent');
  const info = a.events.filter((e) => e[0] === 'chat_information').map((e) => e[1]);
  const [, idle] = await eventWhere(a, (e) => e[0] === 'chat_information' && e[1].type === 'idle');
  assert.deepEqual(info[0], { type: 'busy', chat_id: chatId, run_id: idle.run_id, agent_id: agentId, msg: 'An agent is answering in this chat' });
  assert.deepEqual(idle, { type: 'idle', chat_id: chatId, run_id: idle.run_id, status: 'completed' });
  const names = a.events.map((e) => e[0]);
  assert.ok(names.indexOf('chat_information') < names.indexOf('message') && names.indexOf('message') < names.lastIndexOf('chat_information'), names.join());
  a.close();
});

test('one audience: a /chat/ws socket and a Socket.IO client hear each other', async () => {
  const { token, chatId } = await chatOwner();
  const sock = await connected(chatId, await connectionString(token, chatId));
  const raw = new WebSocket(`${worker.url.replace('http', 'ws')}/chat/ws?chat_id=${chatId}&connection_string=${await connectionString(token, chatId)}`);
  const frames = [];
  raw.on('message', (d) => frames.push(JSON.parse(String(d))));
  await waitFor(raw, 'open');
  const frame = async (match) => {
    const deadline = Date.now() + 10_000;
    while (!frames.some(match)) {
      if (Date.now() > deadline) throw new Error(`no such frame; got ${JSON.stringify(frames)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return frames.find(match);
  };
  await frame((f) => f.type === 'ready');
  await say(sock, token, chatId, 'from Socket.IO');
  assert.equal((await frame((f) => f.type === 'message' && f.message.content === 'from Socket.IO')).message.seq, 1);
  raw.send(JSON.stringify({ type: 'message', message_string: await messageString(token, chatId), content: 'from /chat/ws' }));
  await frame((f) => f.type === 'ack');
  await eventWhere(sock, received(chatId, 'from /chat/ws'));
  raw.close();
  sock.close();
});

test("logging out disconnects that session's Socket.IO clients only; deleting the chat disconnects the rest", async () => {
  const owner = await chatOwner();
  const second = await owner.login();
  const mine = await connected(owner.chatId, await connectionString(owner.token, owner.chatId));
  const theirsPolling = await connected(owner.chatId, await connectionString(second, owner.chatId), { transports: ['polling'] });
  const theirsWs = await connected(owner.chatId, await connectionString(second, owner.chatId), { transports: ['websocket'] });
  const gone = Promise.all([waitFor(theirsPolling, 'disconnect'), waitFor(theirsWs, 'disconnect')]);
  assert.equal((await api('POST', '/auth/logout', { token: second })).status, 200);
  assert.deepEqual((await gone).map(([reason]) => reason), ['io server disconnect', 'io server disconnect']);
  assert.ok(mine.connected);
  await say(mine, owner.token, owner.chatId, 'still here');
  await eventWhere(mine, received(owner.chatId, 'still here'));

  const polling = await connected(owner.chatId, await connectionString(owner.token, owner.chatId), { transports: ['polling'] });
  const deleted = Promise.all([waitFor(mine, 'disconnect'), waitFor(polling, 'disconnect')]);
  assert.equal((await api('DELETE', `/chat?chat_id=${owner.chatId}`, { token: owner.token })).status, 200);
  assert.deepEqual((await deleted).map(([reason]) => reason), ['io server disconnect', 'io server disconnect']);
  for (const s of [mine, theirsPolling, theirsWs, polling]) s.close();
});

test('a client stays connected through two minutes of silence: the server pings it', async (t) => {
  const left = SILENCE_MS - (Date.now() - silent.since);
  if (left > 0) await new Promise((r) => setTimeout(r, left));
  assert.equal(silent.sock.io.engine.transport.name, 'websocket');
  assert.deepEqual(silent.disconnects, []);
  assert.ok(silent.sock.connected);
  // Every 25 s (Engine.IO's default interval): a client without one for 45 s would have left already.
  assert.ok(silent.pings.n >= 3, `${silent.pings.n} pings`);
  t.diagnostic(`${silent.pings.n} pings in ${Math.round((Date.now() - silent.since) / 1000)} s of silence`);
  await say(silent.sock, silent.token, silent.chatId, 'still listening');
  await eventWhere(silent.sock, received(silent.chatId, 'still listening'));
});
