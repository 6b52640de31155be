// @ts-check
// What the chat page shows: the sign-in form or the app, the lists, the messages and the
// connection status, the phone layout (the class in-chat on #app-view shows the chat in place of
// the lists) and the error bar (role=alert), which holds an error until the next action succeeds.
import { Stale } from './api.js';

/** @typedef {import('../../src/durable/protocol').ChatMessage} Message */

export const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

// ---- errors ----------------------------------------------------------------------------------

export function showError(/** @type {string} */ what, /** @type {unknown} */ err) {
  if (err instanceof Stale) return;
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
  for (const id of ['workspaces', 'chats', 'messages', 'who', 'app-error', 'auth-error']) $(id).replaceChildren();
  for (const form of document.forms) form.reset();
  $('status').textContent = 'Pick a chat';
  $('composer').hidden = true;
  $('new-chat').hidden = true;
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

/** One message at the end of the list, scrolled into view; kind is 'system', 'mine' or ''. */
export function appendMessage(/** @type {Message} */ m, /** @type {string} */ kind) {
  const li = document.createElement('li');
  li.className = kind;
  li.dataset.seq = String(m.seq);
  const time = document.createElement('time');
  time.dateTime = m.created_at;
  time.textContent = new Date(m.created_at).toLocaleTimeString();
  li.append(document.createTextNode(m.content), time);
  const list = $('messages');
  list.append(li);
  list.scrollTop = list.scrollHeight;
}
