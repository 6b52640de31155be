// @ts-check
// What the chat page shows: the sign-in form or the app, the lists, the messages and the
// connection status, the phone layout (the class in-chat on #app-view shows the chat in place of
// the lists) and the error bar (role=alert), which holds an error until the next action succeeds.
// An agent's reply streams into a "live" bubble, kept at the end of the list, which the stored
// message replaces; a run that failed or was cancelled carries a note saying so.
import { Stale } from './api.js';

/** @typedef {import('../../src/durable/protocol').ChatMessage} Message */

export const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

// ---- errors ----------------------------------------------------------------------------------

/** Errors shown so far: what was shown while something loaded is not the loading's to clear. */
let errorsShown = 0;
export const errorCount = () => errorsShown;

export function showError(/** @type {string} */ what, /** @type {unknown} */ err) {
  if (err instanceof Stale) return;
  errorsShown++;
  const reason = err instanceof Error ? err.message : String(err);
  const text = what ? `${what}: ${reason}` : reason;
  ($('app-view').hidden ? $('auth-error') : $('app-error')).textContent = text;
}

export function clearErrors() {
  $('app-error').textContent = '';
  $('auth-error').textContent = '';
}

/**
 * One thing a person asked for: its failure is shown as "<what>: <reason>", its success clears
 * the error of the previous action.
 * @param {string} what
 * @param {() => Promise<unknown>} fn
 * @returns {Promise<boolean>} whether it succeeded
 */
export async function act(what, fn) {
  try {
    await fn();
    clearErrors();
    return true;
  } catch (err) {
    showError(what, err);
    return false;
  }
}

// ---- signed in and out -----------------------------------------------------------------------

/** The sign-in form with nothing of the previous user left: lists, messages, fields, errors. */
export function showSignedOut() {
  for (const id of ['workspaces', 'chats', 'agents', 'messages', 'who', 'app-error', 'auth-error', 'ask-agent', 'default-agent', 'other-agents']) $(id).replaceChildren();
  for (const form of document.forms) form.reset();
  $('status').textContent = 'Pick a chat';
  for (const id of ['composer', 'new-chat', 'agents-pane', 'chat-agent', 'stop']) $(id).hidden = true;
  $('app-view').classList.remove('in-chat');
  $('app-view').hidden = true;
  $('logout').hidden = true;
  $('auth-view').hidden = false;
}

/** Says why the person is back at the sign-in form. */
export const showSignInReason = (/** @type {string} */ text) => void ($('auth-error').textContent = text);

/** Who is signed in, and the app in place of the sign-in form. */
export function showSignedIn(/** @type {string} */ email) {
  $('who').textContent = email;
  $('auth-view').hidden = true;
  $('app-view').hidden = false;
  $('logout').hidden = false;
}

// ---- lists -----------------------------------------------------------------------------------

/** @typedef {{ id: string, label: string, href: string, current: boolean }} ListItem */

/**
 * @param {HTMLElement} list
 * @param {ListItem[]} items
 * @param {string} empty what the list says when it has nothing
 */
function listItems(list, items, empty) {
  if (items.length === 0) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = empty;
    return list.replaceChildren(li);
  }
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

export const showWorkspaces = (/** @type {ListItem[]} */ items) => listItems($('workspaces'), items, 'No workspaces yet');
export const showChats = (/** @type {ListItem[]} */ items, /** @type {string} */ empty) => listItems($('chats'), items, empty);
/** The "New chat" form shows only inside a workspace. */
export const showNewChat = (/** @type {boolean} */ shown) => void ($('new-chat').hidden = !shown);

// ---- the chat --------------------------------------------------------------------------------

/** On a phone the chat takes the place of the lists while one is open; "‹ Chats" goes back. */
export function showChatLayout(/** @type {string | null} */ workspaceId, /** @type {string | null} */ chatId) {
  $('app-view').classList.toggle('in-chat', !!chatId);
  /** @type {HTMLAnchorElement} */ ($('back')).href = workspaceId ? `#/w/${workspaceId}` : '#';
}

/** An empty chat pane: connecting to the chat, or asking for one. */
export function clearChat(/** @type {string | null} */ workspaceId, /** @type {string | null} */ chatId) {
  $('messages').replaceChildren();
  $('composer').hidden = !chatId;
  $('status').textContent = chatId ? 'Connecting…' : workspaceId ? 'Pick a chat, or add one' : 'Pick a workspace, or add one';
}

export const setStatus = (/** @type {string} */ text) => void ($('status').textContent = text);
export const hideComposer = () => void ($('composer').hidden = true);
/** The Stop button shows while an agent is answering in the open chat; a click disables it until it hides or `started`, a new reply. */
export function showStop(/** @type {boolean} */ shown, started = false) {
  const stop = /** @type {HTMLButtonElement} */ ($('stop'));
  if (stop.hidden === shown || started) stop.disabled = false;
  stop.hidden = !shown;
}

/** Keeps the list scrolled to the end while `change` runs, if it was there (or `force`). */
function keepScrolled(/** @type {() => void} */ change, force = false) {
  const list = $('messages');
  const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  change();
  if (atEnd || force) list.scrollTop = list.scrollHeight;
}

/** Stored messages and finished runs go before the replies still streaming, which stay last. */
function place(/** @type {HTMLElement} */ li, /** @type {Element | null} */ replacing = null) {
  const list = $('messages');
  replacing?.remove();
  list.insertBefore(li, list.querySelector(':scope > li.live'));
}

/** The agent's name over its bubble. */
function byLine(/** @type {string} */ name) {
  const by = document.createElement('span');
  by.className = 'by';
  by.textContent = name;
  return by;
}

/**
 * One stored message, scrolled into view; kind is 'system', 'mine', 'agent' or ''. An agent's
 * message shows its name (`agentName`) and replaces `replacing`, its live bubble.
 * @param {Message} m
 * @param {string} kind
 * @param {{ agentName?: string, replacing?: Element | null }} [opts]
 * @returns {HTMLElement}
 */
export function appendMessage(m, kind, { agentName, replacing } = {}) {
  const li = document.createElement('li');
  li.className = kind;
  li.dataset.seq = String(m.seq);
  li.dataset.messageId = m.message_id;
  const time = document.createElement('time');
  time.dateTime = m.created_at;
  time.textContent = new Date(m.created_at).toLocaleTimeString();
  if (agentName !== undefined) li.append(byLine(agentName));
  li.append(document.createTextNode(m.content), time);
  keepScrolled(() => place(li, replacing), kind === 'mine');
  return li;
}

/** The bubble of a reply being written: the agent's name, the text so far, and "writing…". */
export function appendLiveReply(/** @type {string} */ agentName) {
  const li = document.createElement('li');
  li.className = 'agent live';
  li.setAttribute('aria-busy', 'true');
  const text = document.createElement('span');
  text.className = 'text';
  const note = document.createElement('span');
  note.className = 'note';
  note.textContent = 'Writing…';
  li.append(byLine(agentName), text, note);
  keepScrolled(() => $('messages').append(li));
  return li;
}

/** The live bubble's text so far. */
export function setLiveText(/** @type {HTMLElement} */ li, /** @type {string} */ text) {
  keepScrolled(() => void (/** @type {HTMLElement} */ (li.querySelector('.text')).textContent = text));
}

/**
 * Marks a reply's bubble (live, or the stored message that replaced it) with how its run ended.
 * A live bubble stops being live and moves before the ones still streaming.
 * @param {HTMLElement} li
 * @param {'cancelled' | 'failed' | 'empty'} how
 * @param {string} [msg] why it failed
 */
export function endReply(li, how, msg = '') {
  li.removeAttribute('aria-busy');
  li.classList.add(how);
  const wasLive = li.classList.contains('live');
  li.classList.remove('live');
  let note = li.querySelector('.note');
  if (!note) {
    note = document.createElement('span');
    note.className = 'note';
    li.insertBefore(note, li.querySelector('time'));
  }
  const wrote = (li.querySelector('.text')?.textContent ?? li.textContent ?? '') !== '';
  note.textContent =
    how === 'failed' ? `Failed: ${msg}`
    : how === 'cancelled' ? (wrote || !wasLive ? 'Cancelled' : 'Cancelled before it wrote anything')
    : 'Finished without a reply';
  if (wasLive) keepScrolled(() => place(li));
}

/** A run that failed with no bubble of its own (refused before it started), after `after` or last. */
export function appendFailedRun(/** @type {string} */ agentName, /** @type {string} */ msg, /** @type {Element | null} */ after = null) {
  const li = document.createElement('li');
  li.className = 'agent';
  li.append(byLine(agentName));
  if (after) after.after(li);
  else keepScrolled(() => place(li));
  endReply(li, 'failed', msg);
  return li;
}
