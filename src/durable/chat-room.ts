import { DurableObject } from 'cloudflare:workers';
import { sessionIsLive } from '../auth/sessions';
import { config } from '../lib/config';
import { newId } from '../lib/ids';
import { type Attachment, errorFrame, handleFrame, Refused } from './chat-frames';
import { Fanout, modeTag, sessionTag } from './chat-fanout';
import * as store from './chat-store';

const PING = '{"type":"ping"}';
const PONG = '{"type":"pong"}';
/** Close codes: the session was revoked; the chat was deleted. */
export const CLOSE_SESSION_REVOKED = 4401;
export const CLOSE_CHAT_DELETED = 4404;
/** Expired strings are kept this long, so a late client hears "expired" rather than "invalid". */
const PURGE_GRACE_MS = 60_000;

const jsonError = (status: number, code: string, msg: string) =>
  Response.json({ msg, code }, { status });

export type PostResult = { message_id: string; seq: number } | { error: 'chat_not_found' | 'invalid_content' };

/**
 * One per chat (named by the chat id): WebSocket fan-out with the hibernation API, the chat's
 * messages in SQLite, and its authorization strings, which only this object issues and checks.
 * Routes check D1 first; the tombstone keeps a deleted chat's object from coming back to life.
 */
export class ChatRoom extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private dead: boolean;
  private readonly fanout: Fanout;
  private readonly messages: store.Messages;
  /** Attachments already read (or just written), so a frame skips deserializeAttachment(). */
  private readonly attachments = new WeakMap<WebSocket, Attachment>();
  /** The scheduled alarm, once read (undefined: not read since the object woke). */
  private alarmAt: number | null | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.fanout = new Fanout(ctx, () => config(this.env).chatBatchWindowMs);
    this.messages = new store.Messages(this.sql);
    this.dead = ctx.storage.kv.get('tombstone') === true;
    if (!this.dead) store.migrate(this.sql);
    // Keeps clients' heartbeats from waking a hibernated object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
  }

  private knownChatId: string | undefined;

  /** The chat id, stored by the first RPC that names it (an id made by idFromName has no name). */
  private chatId(given?: string): string {
    this.knownChatId ??= this.ctx.storage.kv.get<string>('chat_id');
    if (!this.knownChatId && given) {
      this.ctx.storage.kv.put('chat_id', given);
      this.knownChatId = given;
    }
    return this.knownChatId ?? '';
  }

  /**
   * The alarm purges expired strings; it only ever needs to move earlier. Its time is cached, so
   * the usual case (an alarm already due sooner) costs no storage call per message: reading it
   * every time halved the chat's throughput.
   */
  private async purgeBy(expiresAt: number) {
    const at = expiresAt + PURGE_GRACE_MS;
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  async issue(chatId: string, kind: store.StringKind, userId: string, sessionId: string): Promise<store.Issued | null> {
    if (this.dead) return null;
    this.chatId(chatId);
    const cfg = config(this.env);
    const ttlSeconds = kind === 'connection' ? cfg.connectionStringTtl : cfg.messageStringTtl;
    const issued = store.issueString(this.sql, { kind, userId, sessionId, ttlSeconds, now: Date.now() });
    await this.purgeBy(issued.expiresAt);
    return issued;
  }

  /** Connect: the Worker checked D1 and forwards the raw upgrade request; the string is checked here. */
  async fetch(request: Request): Promise<Response> {
    if (this.dead) return jsonError(404, 'chat_not_found', 'Chat not found');
    const url = new URL(request.url);
    const now = Date.now();
    const check = store.checkString(this.sql, url.searchParams.get('connection_string'), { kind: 'connection', now });
    if (!check.ok) {
      return check.reason === 'expired'
        ? jsonError(401, 'expired_connection_string', 'Connection string has expired')
        : jsonError(401, 'invalid_connection_string', 'Invalid connection string');
    }
    store.consumeString(this.sql, check.hash);
    // Consumed before this await, so two racing connects cannot both use it. A session revoked
    // while its string was being issued is caught here rather than by closeSessions.
    if (!(await sessionIsLive(this.env, check.sessionId, { fresh: true }))) {
      return jsonError(401, 'session_revoked', 'Session has been revoked');
    }
    if (this.dead) return jsonError(404, 'chat_not_found', 'Chat not found');
    const [client, server] = Object.values(new WebSocketPair());
    const who: Attachment = { userId: check.userId, sessionId: check.sessionId, batch: url.searchParams.get('batch') === '1' };
    this.fanout.flush();
    this.ctx.acceptWebSocket(server, [sessionTag(who.sessionId), modeTag(who.batch)]);
    this.fanout.added(server, who.batch);
    server.serializeAttachment(who);
    this.attachments.set(server, who);
    const chatId = this.chatId();
    server.send(JSON.stringify({ type: 'ready', chat_id: chatId, user_id: who.userId, last_seq: this.messages.lastSeq() }));
    const afterSeq = Number(url.searchParams.get('after_seq'));
    if (url.searchParams.has('after_seq') && Number.isSafeInteger(afterSeq) && afterSeq >= 0) {
      this.fanout.replay(server, this.sql, chatId, afterSeq, who.batch);
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer) {
    if (this.dead) return ws.close(CLOSE_CHAT_DELETED, 'Chat deleted');
    let who = this.attachments.get(ws);
    if (!who) this.attachments.set(ws, (who = ws.deserializeAttachment() as Attachment));
    const cfg = config(this.env);
    let outcome;
    try {
      outcome = this.ctx.storage.transactionSync(() => handleFrame(this.sql, this.messages, cfg, this.chatId(), who, data, Date.now()));
    } catch (err) {
      if (err instanceof Refused) outcome = err.outcome;
      else {
        // Rolled back: what the object remembers of the messages table may no longer match it.
        this.messages.forget();
        console.error(JSON.stringify({ msg: 'chat frame failed', error: String(err) }));
        ws.send(JSON.stringify(errorFrame('internal_error', 'Internal server error', null)));
        return;
      }
    }
    if (outcome.broadcast) this.fanout.broadcast(outcome.broadcast);
    for (const frame of outcome.reply) ws.send(JSON.stringify(frame));
    if (outcome.expiresAt) await this.purgeBy(outcome.expiresAt);
  }

  async webSocketClose(ws: WebSocket, code: number, reason: string) {
    this.fanout.removed(ws);
    try {
      ws.close(code, reason);
    } catch {
      // Already closed, or a code (1005/1006) that cannot be sent back.
    }
  }

  async webSocketError(ws: WebSocket) {
    this.fanout.removed(ws);
  }

  /** A system or agent message (postToChat): stored and broadcast like a user's. */
  async post(chatId: string, m: { senderId: string; role: 'system' | 'agent'; content: string }): Promise<PostResult> {
    if (this.dead) return { error: 'chat_not_found' };
    const cfg = config(this.env);
    if (typeof m.content !== 'string' || m.content.trim() === '' || new TextEncoder().encode(m.content).byteLength > cfg.messageMaxBytes) {
      return { error: 'invalid_content' };
    }
    const id = this.chatId(chatId);
    const stored = this.messages.insert({
      message_id: newId(),
      sender_id: m.senderId,
      role: m.role,
      content: m.content,
      created_at: Date.now(),
      client_id: null,
    })!; // null only for a client_id already stored; these have none
    this.fanout.broadcast(store.messageJson(id, stored));
    return { message_id: stored.message_id, seq: stored.seq };
  }

  async history(afterSeq: number, limit: number): Promise<{ messages: store.MessageJson[]; last_seq: number } | null> {
    if (this.dead) return null;
    const chatId = this.chatId();
    return {
      messages: store.messagesAfter(this.sql, afterSeq, limit).map((m) => store.messageJson(chatId, m)),
      last_seq: this.messages.lastSeq(),
    };
  }

  /** Revoked sessions: close their sockets and drop their unused strings. */
  async closeSessions(sessionIds: string[]): Promise<number> {
    if (this.dead) return 0;
    let closed = 0;
    for (const id of sessionIds) {
      for (const ws of this.ctx.getWebSockets(sessionTag(id))) {
        this.fanout.removed(ws);
        try {
          ws.close(CLOSE_SESSION_REVOKED, 'Session revoked');
          closed++;
        } catch {
          // Already closing.
        }
      }
    }
    store.deleteSessionStrings(this.sql, sessionIds);
    return closed;
  }

  async alarm() {
    if (this.dead) return;
    const next = store.purgeExpiredStrings(this.sql, Date.now() - PURGE_GRACE_MS);
    this.alarmAt = next === null ? null : next + PURGE_GRACE_MS;
    if (this.alarmAt !== null) await this.ctx.storage.setAlarm(this.alarmAt);
  }

  /** Closes every socket and deletes all storage and the alarm; the object keeps a tombstone. */
  async destroy(): Promise<void> {
    this.dead = true;
    for (const ws of this.ctx.getWebSockets()) {
      this.fanout.removed(ws);
      try {
        ws.close(CLOSE_CHAT_DELETED, 'Chat deleted');
      } catch {
        // Already closing.
      }
    }
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.ctx.storage.kv.put('tombstone', true);
  }
}
