// @ts-check
// The live chat: at most one open at a time, over the WebSocket with a connection string (from
// /chat/authorize) and a single-use message string per message. After a drop it reconnects with
// backoff and replays from the last seq it showed; messages not yet acked are resent.
import { api, ApiError, sessionEnded, Stale } from './api.js';
import { appendMessage, clearChat, clearErrors, hideComposer, setStatus, showChatLayout, showError } from './view.js';

/** @typedef {import('../../src/durable/protocol').ChatMessage} Message */
/** @typedef {import('../../src/durable/protocol').ServerFrame} ServerFrame */
/** @typedef {import('../../src/durable/protocol').ClientFrame} ClientFrame */

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
}

/** Sends a message to the open chat. */
export const sendMessage = (/** @type {string} */ content) => room?.send(content);

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
    /** Frames waiting for their ack, by client_id: resent after a reconnect, stored once. @type {Map<string, string>} */
    this.pending = new Map();
    /** client_ids sent from this page, to tell our own messages apart. @type {Set<string>} */
    this.sent = new Set();
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
      for (const [clientId, content] of this.pending) this.transmit(clientId, content);
    } else if (frame.type === 'message') this.render(frame.message);
    else if (frame.type === 'messages') frame.messages.forEach((m) => this.render(m));
    else if (frame.type === 'ack') {
      if (frame.client_id !== null && this.pending.delete(frame.client_id)) clearErrors();
      this.messageString = frame.next_message_string?.message_string ?? null;
    } else if (frame.type === 'error') {
      const clientId = frame.client_id;
      if (frame.code === 'invalid_message_string' || frame.code === 'expired_message_string') {
        this.messageString = null;
        const content = clientId === null ? undefined : this.pending.get(clientId);
        if (clientId !== null && content !== undefined) this.transmit(clientId, content);
      } else {
        if (clientId !== null) this.pending.delete(clientId);
        showError(clientId === null ? '' : 'Message not sent', frame.msg);
      }
    }
  }

  /** Messages arrive in seq order; a replay after a reconnect may repeat some, shown once. */
  render(/** @type {Message} */ m) {
    if (m.seq <= this.lastSeq) return;
    this.lastSeq = m.seq;
    appendMessage(m, m.role !== 'user' ? 'system' : m.client_id && this.sent.has(m.client_id) ? 'mine' : '');
  }

  send(/** @type {string} */ content) {
    const clientId = crypto.randomUUID();
    this.sent.add(clientId);
    this.pending.set(clientId, content);
    this.transmit(clientId, content);
  }

  /** Sends one message frame; a failure to get a message string is shown, and retried on "ready". */
  transmit(/** @type {string} */ clientId, /** @type {string} */ content) {
    this.transmitNow(clientId, content).catch((err) => {
      if (room === this) showError('Message not sent yet', err);
    });
  }

  async transmitNow(/** @type {string} */ clientId, /** @type {string} */ content) {
    const messageString = this.messageString ?? (await api('GET', `/chat/authorize/message?chat_id=${encodeURIComponent(this.chatId)}`)).message_string;
    this.messageString = messageString;
    const ws = this.ws;
    if (ws?.readyState !== WebSocket.OPEN) return; // sent again on the next "ready"
    /** @type {ClientFrame} */
    const frame = { type: 'message', message_string: messageString, content, client_id: clientId };
    ws.send(JSON.stringify(frame));
    this.messageString = null; // single use: the ack carries the next one
  }

  close() {
    this.closed = true;
    this.ws?.close();
  }
}
