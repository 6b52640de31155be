import * as store from './chat-store';

/** Socket tags: per session (to close a revoked session's sockets) and per delivery mode. */
export const sessionTag = (sessionId: string) => `session:${sessionId}`;
export const modeTag = (batch: boolean) => (batch ? 'mode:batch' : 'mode:single');

const REPLAY_PAGE = 500;
/** At most this many messages in one `messages` frame (32 KiB each: well under the frame limit). */
const BATCH_MAX = 100;

function sendTo(sockets: WebSocket[], frame: string) {
  for (const ws of sockets) {
    try {
      ws.send(frame);
    } catch {
      // A socket closing under us; its client reconnects with after_seq.
    }
  }
}

/**
 * Delivery to the chat's sockets: one `message` frame each, or, for sockets that opted in with
 * batch=1, `messages` frames coalescing what arrives in one burst (until the event loop is next
 * idle, at most BATCH_MAX). Pending batches live in memory only; a client that loses one to an
 * eviction gets it back by reconnecting with after_seq.
 */
export class Fanout {
  private pending: store.MessageJson[] = [];

  constructor(private readonly ctx: DurableObjectState) {}

  broadcast(message: store.MessageJson) {
    sendTo(this.ctx.getWebSockets(modeTag(false)), JSON.stringify({ type: 'message', message }));
    if (this.ctx.getWebSockets(modeTag(true)).length === 0) return;
    this.pending.push(message);
    if (this.pending.length >= BATCH_MAX) this.flush();
    else if (this.pending.length === 1) setTimeout(() => this.flush(), 0);
  }

  /** Also called before a socket joins, so a batch never repeats what its replay already sent. */
  flush() {
    if (this.pending.length === 0) return;
    const frame = JSON.stringify({ type: 'messages', messages: this.pending });
    this.pending = [];
    sendTo(this.ctx.getWebSockets(modeTag(true)), frame);
  }

  /** Every stored message after `afterSeq`, in order; synchronous, so nothing live slips in between. */
  replay(ws: WebSocket, sql: SqlStorage, chatId: string, afterSeq: number, batch: boolean) {
    for (let from = afterSeq; ; ) {
      const rows = store.messagesAfter(sql, from, batch ? BATCH_MAX : REPLAY_PAGE);
      if (rows.length === 0) return;
      const messages = rows.map((m) => store.messageJson(chatId, m));
      if (batch) ws.send(JSON.stringify({ type: 'messages', messages }));
      else for (const message of messages) ws.send(JSON.stringify({ type: 'message', message }));
      from = rows[rows.length - 1].seq;
    }
  }
}
