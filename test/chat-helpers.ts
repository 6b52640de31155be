import { exports } from 'cloudflare:workers';
import { expect } from 'vitest';
import type { AckFrame, ClientFrame, ErrorFrame, MessageFrame, ReadyFrame, ServerFrame } from '../src/durable/protocol';
import { BASE, call, newUser, type TestUser } from './helpers';

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

type Frame<T extends ServerFrame['type']> = Extract<ServerFrame, { type: T }>;

/** The client end of a chat socket: frames queue up and `next()` takes them in order. */
export class ChatClient {
  private frames: ServerFrame[] = [];
  private waiters: ((f: ServerFrame) => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.accept();
    ws.addEventListener('message', (e) => {
      const frame = JSON.parse(e.data as string) as ServerFrame;
      const waiter = this.waiters.shift();
      if (waiter) waiter(frame);
      else this.frames.push(frame);
    });
    this.closed = new Promise((resolve) => ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })));
  }

  /** The next frame; fails the test if none comes within `ms` (a guard, not a wait for time to pass). */
  next(ms = 3000): Promise<ServerFrame> {
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

  /** The next frame, which must be of this type. */
  async take<T extends ServerFrame['type']>(type: T): Promise<Frame<T>> {
    const frame = await this.next();
    expect(frame.type, JSON.stringify(frame)).toBe(type);
    return frame as Frame<T>;
  }

  /** A frame as a client should send it, or (to test refusals) anything at all. */
  send(frame: ClientFrame | string | Record<string, unknown>) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends a message frame and returns the frames the sender gets back (message + ack, or error). */
  async message(messageString: string, content: string, clientId?: string): Promise<{ first: ServerFrame; ack: AckFrame | ErrorFrame }> {
    this.send({ type: 'message', message_string: messageString, content, client_id: clientId });
    const first = await this.next();
    if (first.type === 'error' || first.type === 'ack') return { first, ack: first };
    const ack = await this.next();
    if (ack.type !== 'error' && ack.type !== 'ack') throw new Error(`expected an ack or an error, got ${JSON.stringify(ack)}`);
    return { first, ack };
  }

  /** Sends a message frame that must be accepted: its broadcast (single mode) and its ack. */
  async accepted(messageString: string, content: string, clientId?: string): Promise<{ first: MessageFrame; ack: AckFrame }> {
    const { first, ack } = await this.message(messageString, content, clientId);
    expect(ack.type, JSON.stringify(ack)).toBe('ack');
    expect(first.type).toBe('message');
    return { first: first as MessageFrame, ack: ack as AckFrame };
  }

  /** Sends a message frame that must be refused: the error frame. */
  async refused(messageString: string, content: string, clientId?: string): Promise<ErrorFrame> {
    const { ack } = await this.message(messageString, content, clientId);
    expect(ack.type, JSON.stringify(ack)).toBe('error');
    return ack as ErrorFrame;
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
  const ready: ReadyFrame = await client.take('ready');
  return { client, ready };
}
