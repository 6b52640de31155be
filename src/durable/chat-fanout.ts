import * as store from './chat-store';
import { type ChatMessage, encodeMessageFrame, encodeMessagesFrame, type RunFrame } from './protocol';

/** Another protocol's sockets (src/durable/chat-socketio.ts): they hear the same messages and runs, in their own events. */
export interface Audience {
  message(m: ChatMessage): void;
  run(frame: RunFrame): void;
}

/** Socket tags: per session (to close a revoked session's sockets) and per delivery mode. */
export const sessionTag = (sessionId: string) => `session:${sessionId}`;
export const modeTag = (batch: boolean) => (batch ? 'mode:batch' : 'mode:single');

const REPLAY_PAGE = 500;
/** At most this many messages in one `messages` frame (32 KiB each: well under the frame limit). */
const BATCH_MAX = 100;

/**
 * Delivery to the chat's sockets: one `message` frame each, or, for sockets that opted in with
 * batch=1, `messages` frames coalescing what arrives within `windowMs` of a batch's first message
 * (at most BATCH_MAX; 0: what arrives in one burst). Waiting is the point: every frame costs one
 * send per socket, so a busy chat sends far fewer frames, at up to `windowMs` more latency (see
 * CHAT_BATCH_WINDOW_MS). Pending batches live in memory only; a client that loses one to an
 * eviction gets it back by reconnecting with after_seq.
 *
 * The socket lists are kept in memory, per mode: built from getWebSockets() on first use after
 * the object wakes (the constructor runs again after hibernation or eviction, so they start
 * empty), then updated on accept and close. A broadcast costs no runtime call besides the sends.
 */
export class Fanout {
  private pending: string[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lists: { batch: Set<WebSocket>; single: Set<WebSocket> } | undefined;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly windowMs: () => number,
    private readonly other: Audience,
  ) {}

  private sockets() {
    return (this.lists ??= {
      batch: new Set(this.ctx.getWebSockets(modeTag(true))),
      single: new Set(this.ctx.getWebSockets(modeTag(false))),
    });
  }

  /** Called right after acceptWebSocket (before that, a list built later includes the socket anyway). */
  added(ws: WebSocket, batch: boolean) {
    if (!this.lists) return;
    (batch ? this.lists.batch : this.lists.single).add(ws);
  }

  /** Closed, errored or closed by us: no more sends. */
  removed(ws: WebSocket) {
    this.lists?.batch.delete(ws);
    this.lists?.single.delete(ws);
  }

  /** Closes sockets with one of protocol.ts's close codes; returns how many were still open. */
  close(sockets: WebSocket[], how: { code: number; reason: string }): number {
    let closed = 0;
    for (const ws of sockets) {
      this.removed(ws);
      try {
        ws.close(how.code, how.reason);
        closed++;
      } catch {
        // Already closing.
      }
    }
    return closed;
  }

  private sendTo(sockets: Set<WebSocket>, frame: string) {
    for (const ws of sockets) {
      try {
        ws.send(frame);
      } catch {
        // A socket closing under us; its client reconnects with after_seq.
        sockets.delete(ws);
      }
    }
  }

  broadcast(message: ChatMessage) {
    this.other.message(message);
    const { batch, single } = this.sockets();
    const json = JSON.stringify(message);
    if (single.size > 0) this.sendTo(single, encodeMessageFrame(json));
    if (batch.size === 0) return;
    this.pending.push(json);
    if (this.pending.length >= BATCH_MAX) this.flush();
    else if (this.timer === undefined) this.timer = setTimeout(() => this.flush(), this.windowMs());
  }

  /** A run.* frame to every socket, whatever its mode (never held by batch=1), and to the other audience. */
  sendRun(frame: RunFrame) {
    const { batch, single } = this.sockets();
    const text = JSON.stringify(frame);
    this.sendTo(single, text);
    this.sendTo(batch, text);
    this.other.run(frame);
  }

  /** Also called before a socket joins, so a batch never repeats what its replay already sent. */
  flush() {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const frame = encodeMessagesFrame(this.pending);
    this.pending = [];
    this.sendTo(this.sockets().batch, frame);
  }

  /** Every stored message after `afterSeq`, in order; synchronous, so nothing live slips in between. */
  replay(ws: WebSocket, sql: SqlStorage, chatId: string, afterSeq: number, batch: boolean) {
    for (let from = afterSeq; ; ) {
      const rows = store.messagesAfter(sql, from, batch ? BATCH_MAX : REPLAY_PAGE);
      if (rows.length === 0) return;
      const jsons = rows.map((m) => JSON.stringify(store.messageJson(chatId, m)));
      if (batch) ws.send(encodeMessagesFrame(jsons));
      else for (const json of jsons) ws.send(encodeMessageFrame(json));
      from = rows[rows.length - 1].seq;
    }
  }
}
