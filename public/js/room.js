// @ts-check
// The live chat: at most one open at a time, over the WebSocket with a connection string (from
// /chat/authorize) and a single-use message string per message. After a drop it reconnects with
// backoff and replays from the last seq it showed; messages not yet acked are resent.
// Agents answer as runs: run.started opens a live bubble, run.delta grows it, the stored reply
// (a message frame) replaces it, and run.finished or run.failed says how it ended. Stop cancels
// the live runs with cancel frames. On every (re)connect GET /runs marks the replies that were
// cancelled and the runs that failed, so a reload shows them too.
import { agentName } from './agents.js';
import { api, ApiError, sessionEnded, Stale } from './api.js';
import {
  appendFailedRun, appendLiveReply, appendMessage, clearChat, clearErrors, endReply, hideComposer, setLiveText, setStatus, showChatLayout, showError, showStop,
} from './view.js';

/** @typedef {import('../../src/durable/protocol').ChatMessage} Message */
/** @typedef {import('../../src/durable/protocol').ServerFrame} ServerFrame */
/** @typedef {import('../../src/durable/protocol').ClientFrame} ClientFrame */
/** @typedef {import('../../src/durable/protocol').RunFrame} RunFrame */
/** A message not yet acked: resent after a reconnect, stored once. @typedef {{ content: string, agentId: string | null }} Pending */
/** A run this page shows: its agent, its bubble (the live one, then the stored reply) and its text so far. @typedef {{ agentId: string, li: HTMLElement, text: string, stored: boolean }} Run */
/** A failed run as GET /runs lists it, shown after the message it answered. @typedef {{ agentId: string, msg: string }} Failure */

const CLOSE_SESSION_REVOKED = 4401;
const CLOSE_CHAT_DELETED = 4404;

/** @type {ChatRoom | null} */
let room = null;

/** Shows the chat (or, with chatId null, none) and connects to it unless it is already open. */
export function openChat(/** @type {string | null} */ workspaceId, /** @type {string | null} */ chatId) {
  showChatLayout(workspaceId, chatId);
  if (room?.chatId === chatId) return;
  closeChat();
  clearChat(workspaceId, chatId);
  if (chatId) room = new ChatRoom(chatId);
}

export function closeChat() {
  room?.close();
  room = null;
  showStop(false);
}

/** Sends a message to the open chat; `agentId` answers it (null: the chat's default agent, if any). */
export const sendMessage = (/** @type {string} */ content, /** @type {string | null} */ agentId) => room?.send(content, agentId);

/** Cancels the replies being written in the open chat. */
export const stopReplies = () => room?.stop();

class ChatRoom {
  constructor(/** @type {string} */ chatId) {
    this.chatId = chatId;
    this.lastSeq = 0;
    this.closed = false;
    this.attempt = 0;
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {string | null} */
    this.messageString = null;
    /** Frames waiting for their ack, by client_id. @type {Map<string, Pending>} */
    this.pending = new Map();
    /** client_ids sent from this page, to tell our own messages apart. @type {Set<string>} */
    this.sent = new Set();
    /** The runs shown live, by run_id, until run.finished or run.failed. @type {Map<string, Run>} */
    this.runs = new Map();
    /** Runs whose end is shown (live or from GET /runs): never shown twice. @type {Set<string>} */
    this.ended = new Set();
    /** From GET /runs, for messages not shown yet: cancelled replies, and failures by the seq they answer. */
    this.cancelledReplies = new Set();
    /** @type {Map<number, Failure[]>} */
    this.failuresAfter = new Map();
    void this.connect();
  }

  async connect() {
    if (this.closed) return;
    try {
      const { connection_string } = await api('GET', `/chat/authorize?chat_id=${encodeURIComponent(this.chatId)}`);
      if (this.closed) return;
      const proto = location.protocol === 'https:' ? 'wss' : 'ws';
      const qs = new URLSearchParams({ chat_id: this.chatId, connection_string, after_seq: String(this.lastSeq) });
      const ws = new WebSocket(`${proto}://${location.host}/chat/ws?${qs}`);
      this.ws = ws;
      ws.onmessage = (e) => this.onFrame(JSON.parse(e.data));
      ws.onclose = (e) => this.onDrop(ws, e.code);
    } catch (err) {
      if (err instanceof Stale || this.closed) return;
      if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) {
        this.setStatus('Not connected');
        hideComposer();
        return showError('Could not open that chat', err);
      }
      this.retry();
    }
  }

  onDrop(/** @type {WebSocket} */ ws, /** @type {number} */ code) {
    if (this.ws !== ws || this.closed) return;
    this.ws = null;
    if (code === CLOSE_SESSION_REVOKED) return sessionEnded();
    if (code === CLOSE_CHAT_DELETED) {
      this.closed = true;
      hideComposer();
      return this.setStatus('This chat was deleted.');
    }
    this.retry();
  }

  retry() {
    const delay = Math.min(10_000, 500 * 2 ** this.attempt++);
    this.setStatus(`Disconnected; reconnecting in ${Math.max(1, Math.round(delay / 1000))} s…`);
    setTimeout(() => this.connect(), delay);
  }

  setStatus(/** @type {string} */ text) {
    if (room === this) setStatus(text);
  }

  /** @param {ServerFrame} frame */
  onFrame(frame) {
    if (room !== this) return;
    if (frame.type === 'ready') {
      this.attempt = 0;
      this.setStatus('Connected');
      // The last connection's live bubbles go: a run still live is greeted again (run.started and
      // its text so far), one that ended meanwhile left its reply in the replay or is in GET /runs.
      for (const run of this.runs.values()) if (!run.stored) run.li.remove();
      this.runs.clear();
      this.showStop();
      for (const [clientId, p] of this.pending) this.transmit(clientId, p);
      void this.loadRunEnds();
    } else if (frame.type === 'message') this.render(frame.message);
    else if (frame.type === 'messages') frame.messages.forEach((m) => this.render(m));
    else if (frame.type === 'ack') {
      if (frame.client_id !== null && this.pending.delete(frame.client_id)) clearErrors();
      this.messageString = frame.next_message_string?.message_string ?? null;
    } else if (frame.type === 'error') {
      const clientId = frame.client_id;
      if (frame.code === 'invalid_message_string' || frame.code === 'expired_message_string') {
        this.messageString = null;
        const p = clientId === null ? undefined : this.pending.get(clientId);
        if (clientId !== null && p !== undefined) this.transmit(clientId, p);
      } else if (frame.code === 'run_not_active') {
        // A Stop that came after the run had ended: it is already shown as ended.
      } else if (frame.code === 'run_not_found') showError('Could not stop the reply', frame.msg);
      else {
        if (clientId !== null) this.pending.delete(clientId);
        showError(clientId === null ? '' : 'Message not sent', frame.msg);
      }
    } else if (frame.type.startsWith('run.')) this.onRun(/** @type {RunFrame} */ (frame));
  }

  /** A run's frame: its live bubble grows, then ends as the stored reply, cancelled, or failed. */
  onRun(/** @type {RunFrame} */ frame) {
    const run = this.runs.get(frame.run_id);
    if (frame.type === 'run.started') {
      if (this.ended.has(frame.run_id)) return;
      if (run) run.text = ''; // greeted again: the next run.delta is the text so far
      else this.runs.set(frame.run_id, { agentId: frame.agent_id, li: appendLiveReply(agentName(frame.agent_id)), text: '', stored: false });
    } else if (frame.type === 'run.delta') {
      if (!run || run.stored) return;
      run.text += frame.text;
      setLiveText(run.li, run.text);
    } else if (frame.type === 'run.tool_call' || frame.type === 'run.tool_result') {
      // A tool round inside a live run: the run goes on, and its reply says what came of it.
      return;
    } else if (frame.type === 'run.approval_required') {
      // The run waits for a decision (POST /approvals/{approval_id}/approve or /reject): say so in its bubble.
      if (run && !run.stored) setLiveText(run.li, `${run.text}${run.text ? '\n\n' : ''}(Waiting for your approval to use ${frame.name}: see /approvals)`);
      return;
    } else {
      if (this.ended.has(frame.run_id)) return;
      this.ended.add(frame.run_id);
      this.runs.delete(frame.run_id);
      if (frame.type === 'run.failed') {
        if (run) endReply(run.li, 'failed', frame.msg);
        else this.showRefusedRun(frame.run_id, frame.msg);
      } else if (run && frame.status === 'cancelled') endReply(run.li, 'cancelled');
      else if (run && !run.stored) endReply(run.li, 'empty');
    }
    this.showStop(frame.type === 'run.started');
  }

  /** A run refused before it started has no run.started, so no agent yet: GET /runs/{run_id} names it. */
  showRefusedRun(/** @type {string} */ runId, /** @type {string} */ msg) {
    const li = appendFailedRun('Agent', msg);
    const name = (/** @type {number} */ tries) =>
      api('GET', `/runs/${encodeURIComponent(runId)}`)
        .then(({ run }) => void (/** @type {HTMLElement} */ (li.querySelector('.by')).textContent = agentName(run.agent_id)))
        .catch((err) => {
          // Its D1 row is written just after the frame: one more try.
          if (tries > 0 && err instanceof ApiError && err.status === 404) setTimeout(() => name(tries - 1), 1000);
        });
    void name(1);
  }

  /** The Stop button, while a reply is being written here. */
  showStop(started = false) {
    if (room === this) showStop([...this.runs.values()].some((r) => !r.stored), started);
  }

  /** Cancels every live run of the chat: a cancel frame each (over HTTP while the socket is down). */
  stop() {
    for (const [runId, run] of this.runs) {
      if (run.stored) continue;
      if (this.ws?.readyState === WebSocket.OPEN) {
        /** @type {ClientFrame} */
        const frame = { type: 'cancel', run_id: runId };
        this.ws.send(JSON.stringify(frame));
      } else {
        api('POST', `/runs/${encodeURIComponent(runId)}/cancel`).catch((err) => {
          if (room === this && !(err instanceof ApiError && err.code === 'run_not_active')) showError('Could not stop the reply', err);
        });
      }
    }
  }

  /**
   * The chat's ended runs (the newest 100), for what the frames did not show: replies that were
   * cancelled, and runs that failed, after the message they answered.
   */
  async loadRunEnds() {
    /** @type {any[]} */
    let runs;
    try {
      ({ runs } = await api('GET', `/runs?chat_id=${encodeURIComponent(this.chatId)}&limit=100`));
    } catch {
      return; // only notes on the history: the chat works without them
    }
    if (room !== this) return;
    for (const r of runs) {
      if (this.ended.has(r.run_id) || this.runs.has(r.run_id)) continue;
      if (r.status === 'cancelled' && r.reply_message_id) {
        this.ended.add(r.run_id);
        const li = document.querySelector(`#messages li[data-message-id="${CSS.escape(r.reply_message_id)}"]`);
        if (li) endReply(/** @type {HTMLElement} */ (li), 'cancelled');
        else this.cancelledReplies.add(r.reply_message_id);
      } else if (r.status === 'failed' && r.reply_to_seq !== null) {
        this.ended.add(r.run_id);
        /** @type {Failure} */
        const f = { agentId: r.agent_id, msg: r.error?.msg ?? 'The run failed' };
        const li = document.querySelector(`#messages li[data-seq="${r.reply_to_seq}"]`);
        // Newest first: each goes right after the message, so they end up oldest first.
        if (li) appendFailedRun(agentName(f.agentId), f.msg, li);
        else if (r.reply_to_seq > this.lastSeq) this.failuresAfter.set(r.reply_to_seq, [f, ...(this.failuresAfter.get(r.reply_to_seq) ?? [])]);
      }
    }
  }

  /** Messages arrive in seq order; a replay after a reconnect may repeat some, shown once. */
  render(/** @type {Message} */ m) {
    if (m.seq <= this.lastSeq) return;
    this.lastSeq = m.seq;
    let li;
    if (m.role === 'agent') {
      // The reply of a run shown live replaces its bubble; run.finished follows.
      const run = [...this.runs.values()].find((r) => r.agentId === m.sender_id && !r.stored);
      li = appendMessage(m, 'agent', { agentName: agentName(m.sender_id), replacing: run?.li ?? null });
      if (run) Object.assign(run, { li, stored: true });
      else if (this.cancelledReplies.delete(m.message_id)) endReply(li, 'cancelled');
      this.showStop();
    } else li = appendMessage(m, m.role === 'system' ? 'system' : m.client_id && this.sent.has(m.client_id) ? 'mine' : '');
    for (const f of this.failuresAfter.get(m.seq) ?? []) li = appendFailedRun(agentName(f.agentId), f.msg, li);
    this.failuresAfter.delete(m.seq);
  }

  send(/** @type {string} */ content, /** @type {string | null} */ agentId) {
    const clientId = crypto.randomUUID();
    this.sent.add(clientId);
    const p = { content, agentId };
    this.pending.set(clientId, p);
    this.transmit(clientId, p);
  }

  /** Sends one message frame; a failure to get a message string is shown, and retried on "ready". */
  transmit(/** @type {string} */ clientId, /** @type {Pending} */ p) {
    this.transmitNow(clientId, p).catch((err) => {
      if (room === this) showError('Message not sent yet', err);
    });
  }

  async transmitNow(/** @type {string} */ clientId, /** @type {Pending} */ { content, agentId }) {
    const messageString = this.messageString ?? (await api('GET', `/chat/authorize/message?chat_id=${encodeURIComponent(this.chatId)}`)).message_string;
    this.messageString = messageString;
    const ws = this.ws;
    if (ws?.readyState !== WebSocket.OPEN) return; // sent again on the next "ready"
    /** @type {ClientFrame} */
    const frame = { type: 'message', message_string: messageString, content, client_id: clientId, ...(agentId ? { agent_id: agentId } : {}) };
    ws.send(JSON.stringify(frame));
    this.messageString = null; // single use: the ack carries the next one
  }

  close() {
    this.closed = true;
    this.ws?.close();
  }
}
