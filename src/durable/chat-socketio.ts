import type { Config } from '../lib/config';
import { randomToken } from '../lib/ids';
import type { Attachment } from './chat-frames';
import { type ChatMessage, type ErrorFrame, type Failure, refusalResponse, type RunFrame, type ServerFrame } from './protocol';
import {
  CHAT_NAMESPACE, decodePayload, decodeSio, EIO_ERRORS, eioErrorResponse, EioType, encodePayload, encodeSio, MAX_PAYLOAD, newSid, openPacket,
  parseChatMessageArg, sioEvent, SioType,
} from './socketio';

/** The tag of every Engine.IO WebSocket (the chat's own sockets carry mode tags instead). */
export const EIO_TAG = 'proto:eio';

/**
 * One Engine.IO session's state. A WebSocket's is its attachment (so it survives hibernation);
 * a polling session's lives in memory only.
 */
export interface EioState {
  sid: string;
  /** The connection string's user and session; null when the handshake was refused. */
  who: Attachment | null;
  /** Why the handshake was refused: the /chat CONNECT is answered with this CONNECT_ERROR. */
  refused: { code: string; msg: string } | null;
  /** The /chat namespace is connected (CONNECT answered). */
  connected: boolean;
  /** The Socket.IO socket id (the CONNECT answer's `sid`). */
  sioSid: string;
  /** When the last ping went out (or the session opened). */
  pingAt: number;
  /** That ping is not answered yet. */
  awaitingPong: boolean;
}

/** What an Engine.IO WebSocket carries across hibernation. `upgrading`: a probe not yet upgraded (`5`). */
export interface EioAttachment extends EioState {
  eio: true;
  upgrading: boolean;
}

interface PollingSession {
  state: EioState;
  queue: string[];
  /** The GET held open for packets. */
  poll: { resolve: (r: Response) => void; timer: ReturnType<typeof setTimeout> } | null;
  /** The WebSocket probing to take this session over. */
  probe: WebSocket | null;
  /** When it ended (null: open). Its last packets wait for one more GET, then it is gone. */
  closedAt: number | null;
  /** Ended with packets of its own (a DISCONNECT): the close packet goes in the GET after them, as Engine.IO's server does. */
  closeNext: boolean;
}

/** One session, whatever its transport. */
interface Conn {
  state: EioState;
  /** The WebSocket, for that transport. */
  ws?: WebSocket;
  send(packets: string[]): void;
  /** Writes the state back (a WebSocket's attachment). */
  save(): void;
  /** Ends the Engine.IO session (its queued packets still go out). */
  close(how?: { code: number; reason: string }): void;
}

export interface SocketIoHost {
  ctx: DurableObjectState;
  chatId(): string;
  cfg(): Config;
  attachmentOf(ws: WebSocket): Attachment | EioAttachment;
  setAttachment(ws: WebSocket, a: EioAttachment): void;
  /** The connection string checked and consumed exactly as for /chat/ws. */
  admit(connectionString: string | null): Promise<{ ok: true; who: Attachment } | Failure>;
  /** One chat frame from `who`, handled as a /chat/ws frame is; `reply` gets what the sender alone gets. */
  chatFrame(who: Attachment, data: string, reply: (f: ServerFrame) => void): Promise<void>;
  alarmBy(at: number): Promise<void>;
  /** The runs answering now, as run.started frames. */
  running(): RunFrame[];
}

const textResponse = (body: string, type = 'text/plain; charset=UTF-8') => new Response(body, { headers: { 'content-type': type } });
const encoder = new TextEncoder();
const CLOSE_NORMAL = { code: 1000, reason: 'Closed' };
const CLOSE_PING_TIMEOUT = { code: 4408, reason: 'Ping timeout' };
const CLOSE_PROTOCOL = { code: 1002, reason: 'Protocol error' };
const CLOSE_TOO_LARGE = { code: 1009, reason: 'Payload too large' };

/**
 * Socket.IO (v5 over Engine.IO v4) on the chat object: the audience that STELLA's client (seed
 * 000) joins. Both transports: polling sessions live in this object's memory (an evicted object
 * forgets them; their next request is Engine.IO's 400 `Session ID unknown` and the client
 * reconnects), WebSockets are accepted with the hibernation API and tagged EIO_TAG, their state
 * in their attachment. Engine.IO v4 servers send the pings: the object's alarm does, every
 * SOCKETIO_PING_INTERVAL_MS while Socket.IO sessions are open (see `heartbeat`).
 *
 * Events: `chat_message` in; `feedback` (a user message stored, or the sender's message refused),
 * `message` (an agent's or system message: its text) and `chat_information` (runs) out.
 */
export class SocketIo {
  private readonly polling = new Map<string, PollingSession>();
  /** Connected (/chat) WebSockets, built from getWebSockets() on first use after the object wakes. */
  private connectedWs: Set<WebSocket> | undefined;

  constructor(private readonly host: SocketIoHost) {}

  private att(ws: WebSocket): EioAttachment | null {
    const a = this.host.attachmentOf(ws);
    return 'eio' in a ? a : null;
  }

  private sockets(): Set<WebSocket> {
    return (this.connectedWs ??= new Set(this.host.ctx.getWebSockets(EIO_TAG).filter((ws) => this.att(ws)?.connected && !this.att(ws)?.upgrading)));
  }

  /** True while any Socket.IO session is open (the alarm keeps pinging). */
  get open(): boolean {
    return this.polling.size > 0 || this.host.ctx.getWebSockets(EIO_TAG).length > 0;
  }

  // ---- HTTP: every /socket.io/ request the Worker forwards ----------------------------------------

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const sid = url.searchParams.get('sid');
    if (url.searchParams.get('transport') === 'websocket') {
      if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return eioErrorResponse(EIO_ERRORS.badRequest);
      return sid === null ? this.handshake(url, 'websocket') : this.upgrade(sid);
    }
    if (sid === null) return request.method === 'GET' ? this.handshake(url, 'polling') : eioErrorResponse(EIO_ERRORS.badHandshakeMethod);
    const s = this.polling.get(sid);
    if (!s || (s.closedAt !== null && !s.queue.length)) return eioErrorResponse(EIO_ERRORS.unknownSid);
    if (request.method === 'GET') return this.poll(s);
    if (request.method === 'POST') return this.post(s, request);
    return eioErrorResponse(EIO_ERRORS.badRequest);
  }

  private async handshake(url: URL, transport: 'polling' | 'websocket'): Promise<Response> {
    const cfg = this.host.cfg();
    const admitted = await this.host.admit(url.searchParams.get('connection_string'));
    // Deleted since the Worker's D1 check: nothing to open a session on.
    if (!admitted.ok && admitted.code === 'chat_not_found') return refusalResponse(admitted);
    const now = Date.now();
    const state: EioState = {
      sid: newSid(this.host.chatId()),
      who: admitted.ok ? admitted.who : null,
      refused: admitted.ok ? null : { code: admitted.code, msg: admitted.msg },
      connected: false,
      sioSid: randomToken(15),
      pingAt: now,
      awaitingPong: false,
    };
    const open = openPacket({
      sid: state.sid,
      upgrades: transport === 'polling' ? ['websocket'] : [],
      pingInterval: cfg.socketIoPingIntervalMs,
      pingTimeout: cfg.socketIoPingTimeoutMs,
      maxPayload: MAX_PAYLOAD,
    });
    await this.host.alarmBy(now + cfg.socketIoPingIntervalMs);
    if (transport === 'polling') {
      this.polling.set(state.sid, { state, queue: [], poll: null, probe: null, closedAt: null, closeNext: false });
      return textResponse(open);
    }
    const [client, server] = Object.values(new WebSocketPair());
    this.host.ctx.acceptWebSocket(server, [EIO_TAG]);
    this.host.setAttachment(server, { ...state, eio: true, upgrading: false });
    server.send(open);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** A WebSocket that will take a polling session over (`2probe`, `3probe`, `5`). */
  private upgrade(sid: string): Response {
    const s = this.polling.get(sid);
    if (!s || s.closedAt !== null) return eioErrorResponse(EIO_ERRORS.unknownSid);
    if (s.probe) return eioErrorResponse(EIO_ERRORS.badRequest);
    const [client, server] = Object.values(new WebSocketPair());
    this.host.ctx.acceptWebSocket(server, [EIO_TAG]);
    this.host.setAttachment(server, { ...s.state, eio: true, upgrading: true });
    s.probe = server;
    return new Response(null, { status: 101, webSocket: client });
  }

  /** The long-poll GET: answered at once with what is queued, else held until a packet (a ping at the latest). */
  private poll(s: PollingSession): Promise<Response> | Response {
    if (s.poll) {
      // Engine.IO allows one GET at a time: an overlap ends the session.
      this.endPolling(s);
      return eioErrorResponse(EIO_ERRORS.badRequest);
    }
    if (s.queue.length) return textResponse(this.take(s));
    const cfg = this.host.cfg();
    return new Promise((resolve) => {
      // A guard only: the heartbeat's ping answers it sooner.
      const timer = setTimeout(() => this.answer(s, [EioType.noop]), cfg.socketIoPingIntervalMs + cfg.socketIoPingTimeoutMs);
      s.poll = { resolve, timer };
    });
  }

  private take(s: PollingSession): string {
    const body = encodePayload(s.queue);
    s.queue = [];
    if (s.closeNext) {
      // Socket.IO clients handle a DISCONNECT a tick after it arrives: an Engine.IO close in the same payload would come first.
      s.closeNext = false;
      s.queue = [EioType.close];
    } else if (s.closedAt !== null) this.polling.delete(s.state.sid);
    return body;
  }

  /** Sends the queue (plus `extra`) to the held GET, if there is one. */
  private answer(s: PollingSession, extra: string[] = []) {
    s.queue.push(...extra);
    if (!s.poll || !s.queue.length) return;
    const { resolve, timer } = s.poll;
    clearTimeout(timer);
    s.poll = null;
    resolve(textResponse(this.take(s)));
  }

  private async post(s: PollingSession, request: Request): Promise<Response> {
    const tooLarge = () => {
      this.endPolling(s);
      return new Response('Payload too large', { status: 413 });
    };
    if (Number(request.headers.get('content-length') ?? 0) > MAX_PAYLOAD) return tooLarge();
    const body = await request.text();
    if (body.length > MAX_PAYLOAD || (body.length * 3 > MAX_PAYLOAD && encoder.encode(body).byteLength > MAX_PAYLOAD)) return tooLarge();
    const conn = this.pollingConn(s);
    for (const packet of decodePayload(body)) {
      if (s.closedAt !== null || !this.polling.has(s.state.sid)) break;
      await this.onPacket(conn, packet);
    }
    return textResponse('ok', 'text/html');
  }

  private endPolling(s: PollingSession, packets: string[] = []) {
    s.closedAt ??= Date.now();
    s.state.connected = false;
    if (s.probe) this.closeWs(s.probe, CLOSE_NORMAL);
    s.probe = null;
    s.closeNext = packets.length > 0;
    this.answer(s, packets.length ? packets : [EioType.close]);
  }

  private pollingConn(s: PollingSession): Conn {
    return {
      state: s.state,
      send: (packets) => this.answer(s, packets),
      save: () => {},
      close: () => this.endPolling(s),
    };
  }

  private wsConn(ws: WebSocket, a: EioAttachment): Conn {
    return {
      state: a,
      ws,
      send: (packets) => {
        try {
          for (const p of packets) ws.send(p);
        } catch {
          // Closing under us.
        }
      },
      save: () => this.host.setAttachment(ws, a),
      close: (how = CLOSE_NORMAL) => this.closeWs(ws, how),
    };
  }

  private closeWs(ws: WebSocket, how: { code: number; reason: string }) {
    this.removed(ws);
    try {
      ws.close(how.code, how.reason);
    } catch {
      // Already closed.
    }
  }

  // ---- WebSocket transport ----------------------------------------------------------------------

  async webSocketMessage(ws: WebSocket, a: EioAttachment, data: string | ArrayBuffer) {
    if (typeof data !== 'string') return this.closeWs(ws, CLOSE_PROTOCOL); // binary is not supported
    if (data.length > MAX_PAYLOAD) return this.closeWs(ws, CLOSE_TOO_LARGE);
    if (a.upgrading) return this.probe(ws, a, data);
    await this.onPacket(this.wsConn(ws, a), data);
  }

  /** The upgrade: `2probe` is answered `3probe` (and the held GET a noop, so the client pauses polling); `5` moves the session here. */
  private probe(ws: WebSocket, a: EioAttachment, data: string) {
    const s = this.polling.get(a.sid);
    if (!s || s.probe !== ws) return this.closeWs(ws, CLOSE_NORMAL);
    if (data === `${EioType.ping}probe`) {
      ws.send(`${EioType.pong}probe`);
      this.answer(s, [EioType.noop]);
      return;
    }
    if (data !== EioType.upgrade) return;
    const moved: EioAttachment = { ...s.state, eio: true, upgrading: false };
    this.host.setAttachment(ws, moved);
    const pending = s.queue.filter((p) => p !== EioType.noop);
    s.queue = [];
    if (s.poll) this.answer(s, [EioType.noop]);
    this.polling.delete(a.sid);
    if (moved.connected) this.connectedWs?.add(ws);
    for (const p of pending) ws.send(p);
  }

  /** Closed, errored or closed by us. */
  removed(ws: WebSocket) {
    this.connectedWs?.delete(ws);
  }

  // ---- packets (both transports) ----------------------------------------------------------------

  private async onPacket(conn: Conn, packet: string) {
    switch (packet[0]) {
      case EioType.close:
        return conn.close();
      case EioType.ping:
        return conn.send([EioType.pong + packet.slice(1)]);
      case EioType.pong:
        if (conn.state.awaitingPong) {
          conn.state.awaitingPong = false;
          conn.save();
        }
        return;
      case EioType.message:
        return this.onSio(conn, packet.slice(1));
      case EioType.noop:
        return;
      default:
        return conn.close(CLOSE_PROTOCOL);
    }
  }

  private async onSio(conn: Conn, text: string) {
    const p = decodeSio(text);
    if (typeof p === 'string') return conn.close(CLOSE_PROTOCOL);
    const s = conn.state;
    if (p.type === SioType.connect) {
      if (p.nsp !== CHAT_NAMESPACE) return conn.send([encodeSio({ type: SioType.connectError, nsp: p.nsp, data: { message: 'Invalid namespace' } })]);
      if (s.refused) {
        return conn.send([encodeSio({ type: SioType.connectError, nsp: CHAT_NAMESPACE, data: { message: s.refused.msg, data: { code: s.refused.code } } })]);
      }
      const first = !s.connected;
      if (first) {
        s.connected = true;
        conn.save();
        this.joined(conn);
      }
      conn.send([encodeSio({ type: SioType.connect, nsp: CHAT_NAMESPACE, data: { sid: s.sioSid } })]);
      // Joining a busy chat: what it is busy with.
      if (first) for (const frame of this.host.running()) conn.send([this.information(frame)!]);
      return;
    }
    if (p.nsp !== CHAT_NAMESPACE || !s.connected || !s.who) return;
    if (p.type === SioType.disconnect) {
      s.connected = false;
      conn.save();
      return this.left(conn);
    }
    if (p.type !== SioType.event) return; // ACKs of ours: none are asked for
    const [name, arg] = p.data as [string, unknown];
    if (name === 'chat_message') return this.chatMessage(conn, s.who, arg, p.id);
    if (p.id !== undefined) conn.send([encodeSio({ type: SioType.ack, nsp: CHAT_NAMESPACE, id: p.id, data: [{ type: 'error', code: 'invalid_frame', msg: `Unknown event: ${name}` }] })]);
  }

  private joined(conn: Conn) {
    if (conn.ws) this.connectedWs?.add(conn.ws);
  }

  private left(conn: Conn) {
    if (conn.ws) this.connectedWs?.delete(conn.ws);
  }

  /**
   * `chat_message`: the same message frame as /chat/ws's, handled by the same code. Its stored
   * message reaches every audience (here: `feedback` message_received); a refusal is a `feedback`
   * error to the sender alone. An ack id is answered with the ack frame (or the error).
   */
  private async chatMessage(conn: Conn, who: Attachment, arg: unknown, ackId: number | undefined) {
    const ack = (frame: object) => {
      if (ackId !== undefined) conn.send([encodeSio({ type: SioType.ack, nsp: CHAT_NAMESPACE, id: ackId, data: [frame] })]);
    };
    const refuse = (f: Pick<ErrorFrame, 'code' | 'msg' | 'retry_after'>) => {
      const feedback = { type: 'error', code: f.code, msg: f.msg, ...(f.retry_after === undefined ? {} : { retry_after: f.retry_after }) };
      conn.send([sioEvent('feedback', JSON.stringify(feedback))]);
      ack(feedback);
    };
    const parsed = parseChatMessageArg(arg);
    if (typeof parsed === 'string') return refuse({ code: 'invalid_frame', msg: parsed });
    if (parsed.chat_id !== undefined && parsed.chat_id !== null && parsed.chat_id !== this.host.chatId()) {
      return refuse({ code: 'invalid_frame', msg: 'chat_id is not the chat this socket is connected to' });
    }
    const frame = JSON.stringify({ type: 'message', message_string: parsed.message_string, content: parsed.message });
    await this.host.chatFrame(who, frame, (f) => {
      if (f.type === 'error') refuse(f);
      else if (f.type === 'ack') ack(f);
    });
  }

  // ---- the audience -----------------------------------------------------------------------------

  private toConnected(packet: string) {
    for (const ws of this.sockets()) {
      try {
        ws.send(packet);
      } catch {
        this.connectedWs?.delete(ws);
      }
    }
    for (const s of this.polling.values()) if (s.state.connected && s.closedAt === null) this.answer(s, [packet]);
  }

  /** A stored message: a user's is `feedback` message_received, an agent's or system one is `message` (its text). */
  message(m: ChatMessage) {
    if (!this.polling.size && !this.sockets().size) return;
    const packet =
      m.role === 'user'
        ? sioEvent('feedback', JSON.stringify({ type: 'message_received', message: m.content, chat_id: m.chat_id }))
        : sioEvent('message', m.content);
    this.toConnected(packet);
  }

  /** Runs as `chat_information`: busy when one starts (or on joining while it runs), waiting_approval when a tool call waits for one, idle (with its status) when it ends. */
  run(frame: RunFrame) {
    if (!this.polling.size && !this.sockets().size) return;
    const packet = this.information(frame);
    if (packet) this.toConnected(packet);
  }

  private information(frame: RunFrame): string | null {
    const chat_id = this.host.chatId();
    if (frame.type === 'run.approval_required') {
      const msg = `The agent waits for your approval to use ${frame.name} (POST /approvals/${frame.approval_id}/approve or /reject)`;
      return sioEvent('chat_information', JSON.stringify({ type: 'waiting_approval', chat_id, run_id: frame.run_id, approval_id: frame.approval_id, name: frame.name, msg }));
    }
    if (frame.type !== 'run.started' && frame.type !== 'run.finished' && frame.type !== 'run.failed') return null;
    const info =
      frame.type === 'run.started'
        ? { type: 'busy', chat_id, run_id: frame.run_id, agent_id: frame.agent_id, msg: 'An agent is answering in this chat' }
        : frame.type === 'run.finished'
          ? { type: 'idle', chat_id, run_id: frame.run_id, status: frame.status }
          : { type: 'idle', chat_id, run_id: frame.run_id, status: 'failed', code: frame.code, msg: frame.msg };
    return sioEvent('chat_information', JSON.stringify(info));
  }

  // ---- ending -----------------------------------------------------------------------------------

  /** Disconnects the sessions `match` picks: DISCONNECT on /chat, then the Engine.IO session ends. Returns how many. */
  disconnect(match: (s: EioState) => boolean, how: { code: number; reason: string }): number {
    let n = 0;
    const bye = encodeSio({ type: SioType.disconnect, nsp: CHAT_NAMESPACE });
    for (const ws of this.host.ctx.getWebSockets(EIO_TAG)) {
      const a = this.att(ws);
      if (!a || a.upgrading || !match(a)) continue;
      try {
        if (a.connected) ws.send(bye);
      } catch {
        // Closing.
      }
      this.closeWs(ws, how);
      n++;
    }
    for (const s of [...this.polling.values()]) {
      if (s.closedAt !== null || !match(s.state)) continue;
      this.endPolling(s, s.state.connected ? [bye] : []);
      n++;
    }
    return n;
  }

  /**
   * The heartbeat, from the object's alarm: a session whose ping went unanswered for
   * SOCKETIO_PING_TIMEOUT_MS is closed; the others are pinged (those pinged or opened at least
   * half an interval ago, so sessions opened at different times share one alarm). Answers when
   * it is due next, or null when no session is open. Missed pongs are noticed at the next beat,
   * up to one interval after the ping rather than exactly pingTimeout.
   */
  heartbeat(now: number): number | null {
    const cfg = this.host.cfg();
    const due = (s: EioState) => !s.awaitingPong && now - s.pingAt >= cfg.socketIoPingIntervalMs / 2;
    const dead = (s: EioState) => s.awaitingPong && now - s.pingAt >= cfg.socketIoPingTimeoutMs;
    let open = false;
    for (const ws of this.host.ctx.getWebSockets(EIO_TAG)) {
      const a = this.att(ws);
      if (!a) continue;
      if (a.upgrading) {
        // A probe whose polling session is gone (an evicted object) never completes.
        if (!this.polling.has(a.sid)) this.closeWs(ws, CLOSE_NORMAL);
        continue;
      }
      if (dead(a)) {
        this.closeWs(ws, CLOSE_PING_TIMEOUT);
        continue;
      }
      if (a.refused && due(a)) {
        // Its CONNECT_ERROR went out long ago (clients send CONNECT right after the open).
        this.closeWs(ws, CLOSE_NORMAL);
        continue;
      }
      open = true;
      if (!due(a)) continue;
      a.pingAt = now;
      a.awaitingPong = true;
      this.host.setAttachment(ws, a);
      try {
        ws.send(EioType.ping);
      } catch {
        // Closing.
      }
    }
    for (const s of [...this.polling.values()]) {
      if (s.closedAt !== null) {
        // Its client never came for the last packets.
        if (now - s.closedAt >= cfg.socketIoPingIntervalMs) this.polling.delete(s.state.sid);
        continue;
      }
      if (dead(s.state) || (s.state.refused && due(s.state))) {
        this.endPolling(s);
        continue;
      }
      open = true;
      if (!due(s.state)) continue;
      s.state.pingAt = now;
      s.state.awaitingPong = true;
      this.answer(s, [EioType.ping]);
    }
    return open || this.polling.size > 0 ? now + cfg.socketIoPingIntervalMs : null;
  }
}
