import { DurableObject } from 'cloudflare:workers';
import { sessionIsLive } from '../lib/live-sessions';
import { type Config, config, configError, type ConfigError } from '../lib/config';
import { newId } from '../lib/ids';
import { type Attachment, handleFrame, type Outcome, Refused } from './chat-frames';
import { Fanout, modeTag, sessionTag } from './chat-fanout';
import { type EioAttachment, SocketIo } from './chat-socketio';
import { migrateRuns, type RunOutcome, Runs, type StartedRun, type StartRunInput } from './chat-runs';
import * as store from './chat-store';
import {
  CLOSE_CHAT_DELETED, CLOSE_SESSION_REVOKED, configInvalid, connectParams, errorFrame, type Failure, fail, type FrameErrorCode, type Issued,
  type ChatMessage, PING_TEXT, PONG_TEXT, type ReadyFrame, refusalResponse, type Result, type ServerFrame, type StringKind,
} from './protocol';

/** Expired strings are kept this long, so a late client hears "expired" rather than "invalid". */
const PURGE_GRACE_MS = 60_000;
const encoder = new TextEncoder();

/**
 * One per chat (named by the chat id): WebSocket fan-out with the hibernation API (our /chat/ws
 * sockets, and Socket.IO clients through chat-socketio.ts), the chat's
 * messages in SQLite, and its authorization strings, which only this object issues and checks.
 * Routes check D1 first; the tombstone keeps a deleted chat's object from coming back to life.
 * Every RPC method answers a protocol.ts Result; the connect path answers a Response.
 */
export class ChatRoom extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private dead: boolean;
  /**
   * A var that does not parse (src/lib/config.ts), recorded rather than thrown: a constructor
   * that throws would fail every call, sockets included, with an opaque error. Instead each
   * request is refused with `config_invalid` naming the var, until a deploy fixes it.
   */
  private readonly badConfig: ConfigError | null;
  private readonly fanout: Fanout;
  /** Socket.IO clients (/socket.io/): the chat's other audience. */
  private readonly sio: SocketIo;
  private readonly messages: store.Messages;
  private readonly runs: Runs;
  /** Attachments already read (or just written), so a frame skips deserializeAttachment(). */
  private readonly attachments = new WeakMap<WebSocket, Attachment | EioAttachment>();
  /** The scheduled alarm, once read (undefined: not read since the object woke). */
  private alarmAt: number | null | undefined;
  private knownChatId: string | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.badConfig = configError(env);
    this.sio = new SocketIo({
      ctx,
      chatId: () => this.chatId(),
      cfg: () => config(this.env),
      attachmentOf: (ws) => this.attachmentOf(ws),
      setAttachment: (ws, a) => {
        ws.serializeAttachment(a);
        this.attachments.set(ws, a);
      },
      admit: (connectionString) => this.admit(connectionString),
      chatFrame: (who, data, reply) => this.chatFrame(who, data, reply),
      alarmBy: (at) => this.alarmBy(at),
      running: () => this.runs.running(),
    });
    this.fanout = new Fanout(ctx, () => config(this.env).chatBatchWindowMs, this.sio);
    this.messages = new store.Messages(this.sql);
    this.dead = ctx.storage.kv.get('tombstone') === true;
    if (!this.dead) {
      store.migrate(this.sql);
      migrateRuns(this.sql);
    }
    this.runs = new Runs({
      sql: this.sql,
      env,
      messages: this.messages,
      fanout: this.fanout,
      chatId: () => this.chatId(),
      cfg: () => config(this.env),
      isDead: () => this.dead,
      alarmBy: (at) => this.alarmBy(at),
    });
    // A fresh object has no live run of its own: a live one in storage was lost with the last
    // instance (evicted or crashed mid-run). The alarm fails it and tells the sockets.
    if (!this.dead && this.runs.hasStoredLiveRuns()) void this.alarmBy(Date.now());
    // Keeps clients' heartbeats from waking a hibernated object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_TEXT, PONG_TEXT));
  }

  /** The config, or why this object refuses work: a deleted chat, or a bad var. */
  private ready(): { ok: true; cfg: Config } | Failure {
    if (this.dead) return fail('chat_not_found');
    if (this.badConfig) return configInvalid(this.badConfig.var, this.badConfig.message);
    return { ok: true, cfg: config(this.env) };
  }

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
   * The alarm purges expired strings and keeps live runs' heartbeat (chat-runs.ts); it only ever
   * needs to move earlier here. Its time is cached, so the usual case (an alarm already due
   * sooner) costs no storage call per message: reading it every time halved the chat's throughput.
   */
  private async alarmBy(at: number) {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  async issue(chatId: string, kind: StringKind, userId: string, sessionId: string): Promise<Result<{ issued: Issued }>> {
    const r = this.ready();
    if (!r.ok) return r;
    this.chatId(chatId);
    const ttlSeconds = kind === 'connection' ? r.cfg.connectionStringTtl : r.cfg.messageStringTtl;
    const issued = store.issueString(this.sql, { kind, userId, sessionId, ttlSeconds, now: Date.now() });
    await this.alarmBy(issued.expiresAt + PURGE_GRACE_MS);
    return { ok: true, issued };
  }

  private attachmentOf(ws: WebSocket): Attachment | EioAttachment {
    let a = this.attachments.get(ws);
    if (!a) this.attachments.set(ws, (a = ws.deserializeAttachment() as Attachment | EioAttachment));
    return a;
  }

  /**
   * A connection string checked and consumed, for either protocol: one use, unexpired, of this
   * chat, its session still live, the chat not deleted.
   */
  private async admit(connectionString: string | null, batch = false): Promise<{ ok: true; who: Attachment } | Failure> {
    const r = this.ready();
    if (!r.ok) return r;
    const check = store.checkString(this.sql, connectionString, { kind: 'connection', now: Date.now() });
    if (!check.ok) return fail(check.reason === 'expired' ? 'expired_connection_string' : 'invalid_connection_string');
    store.consumeString(this.sql, check.hash);
    // Consumed before this await, so two racing connects cannot both use it. A session revoked
    // while its string was being issued is caught here rather than by closeSessions.
    if (!(await sessionIsLive(this.env, check.sessionId, { fresh: true }))) return fail('session_revoked');
    if (this.dead) return fail('chat_not_found');
    return { ok: true, who: { userId: check.userId, sessionId: check.sessionId, batch } };
  }

  /**
   * The Worker checked D1 and forwards the raw request: a Socket.IO request (/socket.io/,
   * chat-socketio.ts), or the /chat/ws upgrade, whose connection string is checked here.
   */
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/socket.io/') return this.sio.fetch(request);
    const params = connectParams(url);
    const admitted = await this.admit(params.connectionString, params.batch);
    if (!admitted.ok) return refusalResponse(admitted);
    const [client, server] = Object.values(new WebSocketPair());
    const who = admitted.who;
    // From here on synchronous: what the sockets already there were sent goes out first, so the
    // joiner's replay and run snapshots and the live frames after them add up, nothing twice.
    this.fanout.flush();
    this.runs.flushAll();
    this.ctx.acceptWebSocket(server, [sessionTag(who.sessionId), modeTag(who.batch)]);
    this.fanout.added(server, who.batch);
    server.serializeAttachment(who);
    this.attachments.set(server, who);
    const chatId = this.chatId();
    const ready: ReadyFrame = { type: 'ready', chat_id: chatId, user_id: who.userId, last_seq: this.messages.lastSeq() };
    server.send(JSON.stringify(ready));
    if (params.afterSeq !== null) this.fanout.replay(server, this.sql, chatId, params.afterSeq, who.batch);
    this.runs.greet(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer) {
    if (this.dead) return ws.close(CLOSE_CHAT_DELETED.code, CLOSE_CHAT_DELETED.reason);
    const who = this.attachmentOf(ws);
    if ('eio' in who) return this.sio.webSocketMessage(ws, who, data);
    await this.chatFrame(who, data, (frame) => ws.send(JSON.stringify(frame)));
  }

  /**
   * One client frame, from a /chat/ws socket or a Socket.IO `chat_message`: handled in one
   * transaction, then what it started (the message's run, tool outputs, a cancel). `reply` gets
   * what the sender alone gets; the stored message goes to every audience through the fanout.
   */
  private async chatFrame(who: Attachment, data: string | ArrayBuffer, reply: (frame: ServerFrame) => void) {
    const r = this.ready();
    if (!r.ok) return reply(errorFrame('config_invalid', r.msg, null, { var: r.var }));
    let outcome: Outcome;
    try {
      outcome = this.ctx.storage.transactionSync(() => handleFrame(this.sql, this.messages, r.cfg, this.chatId(), who, data, Date.now()));
    } catch (err) {
      if (!(err instanceof Refused)) {
        // Rolled back: what the object remembers of the messages table may no longer match it.
        this.messages.forget();
        console.error(JSON.stringify({ msg: 'chat frame failed', error: String(err) }));
        return reply(errorFrame('internal_error', 'Internal server error', null));
      }
      outcome = err.outcome;
    }
    if (outcome.broadcast) this.fanout.broadcast(outcome.broadcast);
    for (const frame of outcome.reply) reply(frame);
    if (outcome.expiresAt) await this.alarmBy(outcome.expiresAt + PURGE_GRACE_MS);
    if (outcome.stored) {
      // Stored and acked first; then the run is admitted, and a refusal is a run.failed frame.
      const byDefault = outcome.stored.agentId === null;
      const agentId = outcome.stored.agentId ?? this.ctx.storage.kv.get<string | null>('default_agent') ?? null;
      if (agentId) {
        const input: StartRunInput = { agentId, userId: who.userId, trigger: 'message', replyToSeq: outcome.stored.seq };
        this.runs
          .start(input)
          .then((r) => {
            // D1 clears a chat's default agent when the agent is deleted or leaves the workspace;
            // the object learns it here, from the refused run, and forgets it too.
            if (byDefault && r.ok && ['agent_not_found', 'agent_not_in_workspace'].includes(this.runs.errorOf(r.run.run_id) ?? '')) {
              if (this.ctx.storage.kv.get('default_agent') === agentId) this.ctx.storage.kv.put('default_agent', null);
            }
          })
          .catch((err) => console.error(JSON.stringify({ msg: 'run start failed', error: String(err) })));
      }
    }
    if (outcome.toolOutputs) {
      const submitted = await this.runs.submitToolOutputs(outcome.toolOutputs.runId, outcome.toolOutputs.outputs, false);
      if (!submitted.ok) reply(errorFrame(submitted.code as FrameErrorCode, submitted.msg, null));
    }
    if (outcome.cancelRunId) {
      const cancelled = await this.runs.cancel(outcome.cancelRunId);
      if (!cancelled.ok) reply(errorFrame(cancelled.code as FrameErrorCode, cancelled.msg, null));
    }
  }

  async webSocketClose(ws: WebSocket, code: number, reason: string) {
    this.fanout.removed(ws);
    this.sio.removed(ws);
    try {
      ws.close(code, reason);
    } catch {
      // Already closed, or a code (1005/1006) that cannot be sent back.
    }
  }

  async webSocketError(ws: WebSocket) {
    this.fanout.removed(ws);
    this.sio.removed(ws);
  }

  /** A system or agent message (postToChat): stored and broadcast like a user's. */
  async post(chatId: string, m: { senderId: string; role: 'system' | 'agent'; content: string }): Promise<Result<{ message_id: string; seq: number }>> {
    const r = this.ready();
    if (!r.ok) return r;
    if (typeof m.content !== 'string' || m.content.trim() === '' || encoder.encode(m.content).byteLength > r.cfg.messageMaxBytes) {
      return fail('invalid_content', `Content must be non-empty and at most ${r.cfg.messageMaxBytes} bytes`);
    }
    const stored = this.messages.insert({
      message_id: newId(),
      sender_id: m.senderId,
      role: m.role,
      content: m.content,
      created_at: Date.now(),
      client_id: null,
    })!; // null only for a client_id already stored; these have none
    this.fanout.broadcast(store.messageJson(this.chatId(chatId), stored));
    return { ok: true, message_id: stored.message_id, seq: stored.seq };
  }

  /**
   * The chat's default agent (D1's chats.agent_id, which the routes write after this): kept here
   * too, so a user message in a chat without one costs no D1 read.
   */
  async setDefaultAgent(chatId: string, agentId: string | null): Promise<Result> {
    const r = this.ready();
    if (!r.ok) return r;
    this.chatId(chatId);
    this.ctx.storage.kv.put('default_agent', agentId);
    return { ok: true };
  }

  /** Starts an agent run (src/durable/chat-runs.ts): from the agent chat route, or from code. */
  async startRun(chatId: string, input: StartRunInput): Promise<Result<{ run: StartedRun }>> {
    const r = this.ready();
    if (!r.ok) return r;
    this.chatId(chatId);
    return this.runs.start(input);
  }

  async cancelRun(runId: string): Promise<Result<{ outcome: RunOutcome }>> {
    const r = this.ready();
    if (!r.ok) return r;
    return this.runs.cancel(runId);
  }

  /** The client's tool outputs for a run waiting on them (chat-runs.ts `submitToolOutputs`). */
  async submitToolOutputs(runId: string, outputs: { call_id: string; output: string }[], stream: boolean): Promise<Result<{ run: StartedRun; waiting: string[] }>> {
    const r = this.ready();
    if (!r.ok) return r;
    return this.runs.submitToolOutputs(runId, outputs, stream);
  }

  /** Waits for the run to end; answers its outcome. */
  async awaitRun(runId: string): Promise<Result<{ outcome: RunOutcome }>> {
    const r = this.ready();
    if (!r.ok) return r;
    return this.runs.wait(runId);
  }

  /** The run's Server-Sent Events from `lastEventId` on (chat-runs.ts `events`). */
  async runEvents(runId: string, lastEventId: string | null): Promise<Result<{ stream: ReadableStream<Uint8Array> }>> {
    const r = this.ready();
    if (!r.ok) return r;
    return this.runs.events(runId, lastEventId);
  }

  /**
   * An approval of a run's tool call was decided or expired (src/approvals/service.ts notifyRun):
   * the run waiting on `callId` hears it (chat-runs.ts `approvalDecided`). Idempotent.
   */
  async approvalDecided(
    runId: string,
    callId: string,
    d: { approvalId: string; status: 'approved' | 'rejected' | 'expired'; reason: string | null },
  ): Promise<Result> {
    const r = this.ready();
    if (!r.ok) return r;
    return this.runs.approvalDecided(runId, callId, d);
  }

  async history(afterSeq: number, limit: number): Promise<Result<{ messages: ChatMessage[]; lastSeq: number }>> {
    const r = this.ready();
    if (!r.ok) return r;
    const chatId = this.chatId();
    const messages = store.messagesAfter(this.sql, afterSeq, limit).map((m) => store.messageJson(chatId, m));
    return { ok: true, messages, lastSeq: this.messages.lastSeq() };
  }

  /**
   * Messages before seq `before` (exclusive; null: from the newest), newest first, with the tool
   * rounds behind the agent replies among them (`toolRounds`: JSON text, chat-runs.ts `toolRoundsOf`).
   */
  async historyBefore(before: number | null, limit: number): Promise<Result<{ messages: ChatMessage[]; toolRounds: string }>> {
    const r = this.ready();
    if (!r.ok) return r;
    const chatId = this.chatId();
    const messages = store.messagesBefore(this.sql, before, limit).map((m) => store.messageJson(chatId, m));
    const replies = messages.filter((m) => m.role === 'agent').map((m) => m.message_id);
    return { ok: true, messages, toolRounds: replies.length ? this.runs.toolRoundsOf(replies) : '{}' };
  }

  /**
   * Revoked sessions: close their sockets and drop their unused strings. Never refused for a bad
   * var (it reads none): revoking access must not wait for a deploy. A deleted chat has nothing left.
   */
  async closeSessions(sessionIds: string[]): Promise<Result<{ closed: number }>> {
    if (this.dead) return { ok: true, closed: 0 };
    const revoked = new Set(sessionIds);
    let closed = this.sio.disconnect((s) => s.who !== null && revoked.has(s.who.sessionId), CLOSE_SESSION_REVOKED);
    for (const id of sessionIds) closed += this.fanout.close(this.ctx.getWebSockets(sessionTag(id)), CLOSE_SESSION_REVOKED);
    store.deleteSessionStrings(this.sql, sessionIds);
    return { ok: true, closed };
  }

  /**
   * Purges expired strings, pings Socket.IO clients (chat-socketio.ts `heartbeat`), then the runs'
   * part (orphans, deadlines, D1 retries); set again for whichever is due first.
   */
  async alarm() {
    if (this.dead) return;
    const now = Date.now();
    const purge = store.purgeExpiredStrings(this.sql, now - PURGE_GRACE_MS);
    this.alarmAt = null;
    const beat = this.badConfig ? null : this.sio.heartbeat(now);
    const runsAt = await this.runs.maintain(now);
    const next = [purge === null ? null : purge + PURGE_GRACE_MS, beat, runsAt, this.alarmAt].filter((t): t is number => t !== null);
    this.alarmAt = next.length ? Math.min(...next) : null;
    if (this.alarmAt !== null) await this.ctx.storage.setAlarm(this.alarmAt);
  }

  /**
   * Closes every socket and deletes all storage and the alarm; the object keeps a tombstone.
   * Never refused for a bad var either: deleting a chat reads none.
   */
  async destroy(): Promise<Result> {
    this.dead = true;
    this.sio.disconnect(() => true, CLOSE_CHAT_DELETED);
    this.fanout.close(this.ctx.getWebSockets(), CLOSE_CHAT_DELETED);
    await this.runs.abortAll();
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.ctx.storage.kv.put('tombstone', true);
    return { ok: true };
  }
}
