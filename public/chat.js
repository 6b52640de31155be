// @ts-check
// The agentedge chat page: sign in, pick a workspace and a chat, chat live over the WebSocket
// with connection and message strings, and reconnect with replay after a drop.

/** @typedef {{ access_token: string, refresh_token: string }} Tokens */
/** @typedef {import('../src/durable/protocol').ChatMessage} Message */
/** @typedef {import('../src/durable/protocol').ServerFrame} ServerFrame */
/** @typedef {import('../src/durable/protocol').ClientFrame} ClientFrame */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const TOKENS = 'agentedge.tokens';

/** @returns {Tokens | null} */
const loadTokens = () => JSON.parse(sessionStorage.getItem(TOKENS) ?? 'null');
const saveTokens = (/** @type {Tokens | null} */ t) => (t ? sessionStorage.setItem(TOKENS, JSON.stringify(t)) : sessionStorage.removeItem(TOKENS));

class ApiError extends Error {
  constructor(/** @type {number} */ status, /** @type {any} */ body) {
    super(body?.msg ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
  }
}

/**
 * One API call; an expired access token is refreshed once, transparently.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
async function api(method, path, body, retried = false) {
  const tokens = loadTokens();
  /** @type {Record<string, string>} */
  const headers = {};
  if (tokens) headers.authorization = `Bearer ${tokens.access_token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json().catch(() => ({}));
  if (res.status === 401 && json.code === 'token_expired' && tokens && !retried) {
    const refreshed = await fetch('/auth/refresh', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: tokens.refresh_token }),
    });
    if (refreshed.ok) {
      saveTokens(await refreshed.json());
      return api(method, path, body, true);
    }
  }
  if (res.status === 401 && path !== '/auth/login') signOut();
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

// ---- views -------------------------------------------------------------------------------

function signOut() {
  saveTokens(null);
  room?.close();
  $('auth-view').hidden = false;
  $('app-view').hidden = true;
  $('logout').hidden = true;
  $('who').textContent = '';
}

async function showApp() {
  const { user } = await api('GET', '/user');
  $('who').textContent = user.email;
  $('auth-view').hidden = true;
  $('app-view').hidden = false;
  $('logout').hidden = false;
  await route();
}

/** The hash says where we are: #/w/<workspace_id>[/c/<chat_id>], so a reload comes back here. */
function parseHash() {
  const m = /^#\/w\/([^/]+)(?:\/c\/([^/]+))?$/.exec(location.hash);
  return { workspaceId: m?.[1] ?? null, chatId: m?.[2] ?? null };
}

function listItems(/** @type {HTMLElement} */ list, /** @type {{ id: string, label: string, href: string, current: boolean }[]} */ items) {
  list.replaceChildren(
    ...items.map((item) => {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = item.href;
      a.textContent = item.label;
      a.dataset.id = item.id;
      if (item.current) a.setAttribute('aria-current', 'true');
      li.append(a);
      return li;
    }),
  );
}

async function route() {
  const { workspaceId, chatId } = parseHash();
  const { workspaces } = await api('GET', '/workspace?limit=100');
  listItems($('workspaces'), workspaces.map((/** @type {any} */ w) => ({ id: w.workspace_id, label: w.name, href: `#/w/${w.workspace_id}`, current: w.workspace_id === workspaceId })));
  $('new-chat').hidden = !workspaceId;
  if (!workspaceId) {
    $('chats').replaceChildren();
    return openChat(null);
  }
  const { chats } = await api('GET', `/workspace/${workspaceId}/chats?limit=100`);
  listItems($('chats'), chats.map((/** @type {any} */ c) => ({ id: c.chat_id, label: c.title ?? 'Untitled chat', href: `#/w/${workspaceId}/c/${c.chat_id}`, current: c.chat_id === chatId })));
  openChat(chatId);
}

// ---- the live chat -------------------------------------------------------------------------

/** @type {ChatRoom | null} */
let room = null;

function openChat(/** @type {string | null} */ chatId) {
  if (room?.chatId === chatId) return;
  room?.close();
  room = null;
  $('messages').replaceChildren();
  $('composer').hidden = !chatId;
  $('status').textContent = chatId ? 'Connecting…' : 'Pick a chat';
  if (chatId) room = new ChatRoom(chatId);
}

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
    void this.connect();
  }

  async connect() {
    if (this.closed) return;
    try {
      const { connection_string } = await api('GET', `/chat/authorize?chat_id=${this.chatId}`);
      const proto = location.protocol === 'https:' ? 'wss' : 'ws';
      const qs = new URLSearchParams({ chat_id: this.chatId, connection_string, after_seq: String(this.lastSeq) });
      const ws = new WebSocket(`${proto}://${location.host}/chat/ws?${qs}`);
      this.ws = ws;
      ws.onmessage = (e) => this.onFrame(JSON.parse(e.data));
      ws.onclose = () => this.onDrop(ws);
    } catch (err) {
      if (err instanceof ApiError && err.status < 500 && err.status !== 429) return this.setStatus(err.message);
      this.retry();
    }
  }

  onDrop(/** @type {WebSocket} */ ws) {
    if (this.ws !== ws || this.closed) return;
    this.ws = null;
    this.retry();
  }

  retry() {
    const delay = Math.min(10_000, 500 * 2 ** this.attempt++);
    this.setStatus(`Disconnected; reconnecting in ${Math.round(delay / 1000)} s…`);
    setTimeout(() => this.connect(), delay);
  }

  setStatus(/** @type {string} */ text) {
    if (room === this) $('status').textContent = text;
  }

  /** @param {ServerFrame} frame */
  onFrame(frame) {
    if (frame.type === 'ready') {
      this.attempt = 0;
      this.setStatus('Connected');
      for (const [clientId, content] of this.pending) void this.transmit(clientId, content);
    } else if (frame.type === 'message') this.render(frame.message);
    else if (frame.type === 'messages') frame.messages.forEach((m) => this.render(m));
    else if (frame.type === 'ack') {
      if (frame.client_id !== null) this.pending.delete(frame.client_id);
      this.messageString = frame.next_message_string?.message_string ?? null;
    } else if (frame.type === 'error') {
      const clientId = frame.client_id;
      if (frame.code === 'invalid_message_string' || frame.code === 'expired_message_string') {
        this.messageString = null;
        const content = clientId === null ? undefined : this.pending.get(clientId);
        if (clientId !== null && content !== undefined) void this.transmit(clientId, content);
      } else {
        if (clientId !== null) this.pending.delete(clientId);
        this.setStatus(frame.msg);
      }
    }
  }

  /** Messages arrive in seq order; a replay after a reconnect may repeat some, shown once. */
  render(/** @type {Message} */ m) {
    if (m.seq <= this.lastSeq) return;
    this.lastSeq = m.seq;
    const li = document.createElement('li');
    li.className = m.role !== 'user' ? 'system' : m.client_id && this.sent.has(m.client_id) ? 'mine' : '';
    li.dataset.seq = String(m.seq);
    const time = document.createElement('time');
    time.dateTime = m.created_at;
    time.textContent = new Date(m.created_at).toLocaleTimeString();
    li.append(document.createTextNode(m.content), time);
    const list = $('messages');
    list.append(li);
    list.scrollTop = list.scrollHeight;
  }

  /** client_ids sent from this page, to tell our own messages apart. @type {Set<string>} */
  sent = new Set();

  send(/** @type {string} */ content) {
    const clientId = crypto.randomUUID();
    this.sent.add(clientId);
    this.pending.set(clientId, content);
    void this.transmit(clientId, content);
  }

  async transmit(/** @type {string} */ clientId, /** @type {string} */ content) {
    const messageString = this.messageString ?? (await api('GET', `/chat/authorize/message?chat_id=${this.chatId}`)).message_string;
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

// ---- wiring ----------------------------------------------------------------------------------

$('auth-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = /** @type {HTMLFormElement} */ (e.target);
  const data = Object.fromEntries(new FormData(form));
  const action = /** @type {HTMLButtonElement | null} */ (/** @type {SubmitEvent} */ (e).submitter)?.value ?? 'login';
  $('auth-error').textContent = '';
  try {
    if (action === 'register') await api('POST', '/register', data);
    saveTokens(await api('POST', '/auth/login', data));
    await showApp();
  } catch (err) {
    $('auth-error').textContent = err instanceof Error ? err.message : String(err);
  }
});

$('logout').addEventListener('click', async () => {
  await api('POST', '/auth/logout').catch(() => {});
  signOut();
});

$('new-workspace').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = /** @type {HTMLFormElement} */ (e.target);
  const { workspace } = await api('POST', '/workspace', { name: new FormData(form).get('name') });
  form.reset();
  location.hash = `#/w/${workspace.workspace_id}`;
});

$('new-chat').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = /** @type {HTMLFormElement} */ (e.target);
  const { workspaceId } = parseHash();
  const { chat } = await api('POST', `/chat?workspace_id=${workspaceId}`, { title: new FormData(form).get('title') });
  form.reset();
  location.hash = `#/w/${workspaceId}/c/${chat.chat_id}`;
});

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const form = /** @type {HTMLFormElement} */ (e.target);
  const content = String(new FormData(form).get('content') ?? '').trim();
  if (content && room) room.send(content);
  form.reset();
});

window.addEventListener('hashchange', () => void route());
if (loadTokens()) showApp().catch(signOut);
