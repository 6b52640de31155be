import { exports } from 'cloudflare:workers';
import { expect } from 'vitest';
import { BASE, call, type Json, newUser, type TestUser } from './helpers';

/** A user with a workspace and a chat in it. */
export async function chatOwner(prefix = 'chat') {
  const user = await newUser(prefix);
  const ws = await call('POST', '/workspace', { token: user.token, body: { name: 'Chats' } });
  const workspaceId: string = ws.json.workspace.workspace_id;
  const chat = await call('POST', `/chat?workspace_id=${workspaceId}`, { token: user.token });
  expect(chat.status).toBe(200);
  return { user, workspaceId, chatId: chat.json.chat.chat_id as string };
}

export async function connectionString(user: TestUser, chatId: string): Promise<string> {
  const res = await call('GET', `/chat/authorize?chat_id=${chatId}`, { token: user.token });
  expect(res.status).toBe(200);
  return res.json.connection_string;
}

export async function messageString(user: TestUser, chatId: string): Promise<string> {
  const res = await call('GET', `/chat/authorize/message?chat_id=${chatId}`, { token: user.token });
  expect(res.status).toBe(200);
  return res.json.message_string;
}

/** The client end of a chat socket: frames queue up and `next()` takes them in order. */
export class ChatClient {
  private frames: Json[] = [];
  private waiters: ((f: Json) => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.accept();
    ws.addEventListener('message', (e) => {
      const frame = JSON.parse(e.data as string);
      const waiter = this.waiters.shift();
      if (waiter) waiter(frame);
      else this.frames.push(frame);
    });
    this.closed = new Promise((resolve) => ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })));
  }

  /** The next frame; fails the test if none comes within `ms` (a guard, not a wait for time to pass). */
  next(ms = 3000): Promise<Json> {
    const queued = this.frames.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no frame arrived')), ms);
      this.waiters.push((f) => {
        clearTimeout(timer);
        resolve(f);
      });
    });
  }

  send(frame: unknown) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends a message frame and returns the frames the sender gets back (message + ack, or error). */
  async message(messageString: string, content: string, clientId?: string) {
    this.send({ type: 'message', message_string: messageString, content, client_id: clientId });
    const first = await this.next();
    if (first.type === 'error' || first.type === 'ack') return { first, ack: first };
    return { first, ack: await this.next() };
  }

  get pending() {
    return this.frames.length;
  }

  close() {
    try {
      this.ws.close(1000, 'done');
    } catch {
      // Already closed.
    }
  }
}

/** GET /chat/ws with Upgrade: websocket through the Worker's fetch. */
export async function openSocket(path: string, headers: Record<string, string> = { upgrade: 'websocket' }) {
  const res = await exports.default.fetch(new Request(BASE + path, { headers }));
  return res;
}

/** Authorizes and connects; returns the client with its `ready` frame already read. */
export async function connect(user: TestUser, chatId: string, query = '') {
  const cs = await connectionString(user, chatId);
  const res = await openSocket(`/chat/ws?chat_id=${chatId}&connection_string=${encodeURIComponent(cs)}${query}`);
  expect(res.status).toBe(101);
  const client = new ChatClient(res.webSocket!);
  const ready = await client.next();
  expect(ready.type).toBe('ready');
  return { client, ready };
}
