// @ts-check
// The agentedge chat page: sign in, pick a workspace and a chat, chat live over the WebSocket
// with connection and message strings, and reconnect with replay after a drop. Errors are shown
// in the page (role=alert) until the next action succeeds; signing out or losing the session
// (a 401 from the API, a socket closed with 4401) clears everything of the previous user.
// Agents answer in the chat: the composer's "Ask" picks one (else the chat's default agent, set
// in "Default agent"), replies stream in, and Stop cancels them; "Agents" in the lists creates
// one or adds another of yours to the workspace.
// This file wires the page's forms and events to js/api.js (the API and the session's tokens),
// js/nav.js (the hash), js/room.js (the live chat), js/agents.js (the workspace's agents) and
// js/view.js (what the page shows).
import { addAgent, askedAgent, createAgent, setDefaultAgent, showAgents } from './js/agents.js';
import { api, loadTokens, newEpoch, onSessionEnded, saveTokens } from './js/api.js';
import { cancelRoutes, parseHash, route } from './js/nav.js';
import { closeChat, sendMessage, stopReplies } from './js/room.js';
import { $, act, showError, showSignedIn, showSignedOut, showSignInReason } from './js/view.js';

/** Back to the sign-in form with nothing of the previous user left: lists, messages, fields. */
function signOut() {
  newEpoch();
  cancelRoutes();
  saveTokens(null);
  closeChat();
  showAgents(null, []);
  showSignedOut();
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
}

/** The session was revoked or expired under us: sign out and say why. */
onSessionEnded(() => {
  if (!loadTokens()) return;
  signOut();
  showSignInReason('Your session has ended. Please sign in again.');
});

/** Signed in: who, and the app in place of the sign-in form (route() then fills it). */
async function showApp() {
  const { user } = await api('GET', '/user');
  showSignedIn(user.email);
}

/** @param {Event} e */
const formOf = (e) => {
  e.preventDefault();
  const form = /** @type {HTMLFormElement} */ (e.target);
  return { form, field: (/** @type {string} */ name) => String(new FormData(form).get(name) ?? '').trim() };
};

$('auth-form').addEventListener('submit', (e) => {
  const { form, field } = formOf(e);
  const action = /** @type {HTMLButtonElement | null} */ (/** @type {SubmitEvent} */ (e).submitter)?.value ?? 'login';
  void act('', async () => {
    const data = { email: field('email'), password: String(new FormData(form).get('password') ?? '') };
    if (!data.email || !data.password) throw new Error('Enter your email and password.');
    if (action === 'register') await api('POST', '/register', data);
    const tokens = await api('POST', '/auth/login', data);
    newEpoch();
    saveTokens(tokens);
    form.reset();
    await showApp();
  }).then((ok) => { if (ok) void route(); });
});

$('logout').addEventListener('click', async () => {
  const tokens = loadTokens();
  signOut();
  // The session is revoked server-side too; the page is already clear whatever the answer.
  if (tokens) await fetch('/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}` } }).catch(() => {});
});

$('new-workspace').addEventListener('submit', (e) => {
  const { form, field } = formOf(e);
  void act('Could not create the workspace', async () => {
    const name = field('name');
    if (!name) throw new Error('Give the workspace a name.');
    const { workspace } = await api('POST', '/workspace', { name });
    form.reset();
    location.hash = `#/w/${workspace.workspace_id}`;
  });
});

$('new-chat').addEventListener('submit', (e) => {
  const { form, field } = formOf(e);
  void act('Could not create the chat', async () => {
    const { workspaceId } = parseHash();
    if (!workspaceId) throw new Error('Pick a workspace first.');
    const title = field('title');
    const { chat } = await api('POST', `/chat?workspace_id=${encodeURIComponent(workspaceId)}`, title ? { title } : {});
    form.reset();
    location.hash = `#/w/${workspaceId}/c/${chat.chat_id}`;
  });
});

$('composer').addEventListener('submit', (e) => {
  const { form, field } = formOf(e);
  const content = field('content');
  if (!content) return showError('', 'Type a message first.');
  sendMessage(content, askedAgent());
  // Only the text goes: the agent asked stays picked for the next message.
  /** @type {HTMLInputElement} */ (form.elements.namedItem('content')).value = '';
});

$('stop').addEventListener('click', () => {
  /** @type {HTMLButtonElement} */ ($('stop')).disabled = true; // until the replies have ended (view.js showStop)
  stopReplies();
});

$('default-agent').addEventListener('change', (e) => {
  const value = /** @type {HTMLSelectElement} */ (e.target).value;
  void act('Could not set the default agent', () => setDefaultAgent(value || null));
});

$('new-agent').addEventListener('submit', (e) => {
  const { form, field } = formOf(e);
  void act('Could not create the agent', async () => {
    const name = field('name');
    if (!name) throw new Error('Give the agent a name.');
    await createAgent(name, field('system_prompt') || 'You are a helpful assistant. Answer briefly.');
    form.reset();
  });
});

$('add-agent').addEventListener('submit', (e) => {
  const { field } = formOf(e);
  void act('Could not add the agent', async () => {
    const agentId = field('agent_id');
    if (!agentId) throw new Error('Pick one of your agents.');
    await addAgent(agentId);
  });
});

window.addEventListener('hashchange', () => {
  if (loadTokens()) void route();
});
// A session revoked elsewhere shows up when the person comes back to the page, not only on their next click.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && loadTokens()) api('GET', '/user').catch(() => {});
});
if (loadTokens()) void act('', showApp).then((ok) => { if (ok) void route(); });
