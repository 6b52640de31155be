// @ts-check
// Where the page is, from the hash: #/w/<workspace_id>[/c/<chat_id>], so a reload comes back
// there; #chat=<chat_id> is a shareable link to a chat, resolved to its workspace. route() shows
// what the hash points at (with the workspace's agents, js/agents.js); a newer route (or a
// sign-out) supersedes one still loading.
import { loadAgents, showAgents, showChatAgents } from './agents.js';
import { api, doing, Stale } from './api.js';
import { openChat } from './room.js';
import { clearErrors, errorCount, showChats, showError, showNewChat, showWorkspaces } from './view.js';

let routing = 0;

/** Drops the routes still loading: their answers are not shown. */
export const cancelRoutes = () => void routing++;

export function parseHash() {
  const link = /^#chat=([^&/]+)$/.exec(location.hash);
  if (link) return { workspaceId: null, chatId: decodeURIComponent(link[1]), link: true };
  const m = /^#\/w\/([^/]+)(?:\/c\/([^/]+))?$/.exec(location.hash);
  return { workspaceId: m?.[1] ?? null, chatId: m?.[2] ?? null, link: false };
}

/** Shows what the hash points at; a failure is shown in the page and leaves no chat open. */
export async function route() {
  const mine = ++routing;
  const errors = errorCount();
  try {
    await showRoute(parseHash(), () => mine !== routing);
    // Clears the error that led here, not one an action showed while this loaded.
    if (mine === routing && errorCount() === errors) clearErrors();
  } catch (err) {
    if (mine !== routing || err instanceof Stale) return;
    showChats([], 'Pick a workspace');
    showNewChat(false);
    showAgents(null, []);
    showChatAgents(null, null);
    openChat(null, null);
    showError('', err);
  }
}

/**
 * @param {ReturnType<typeof parseHash>} where
 * @param {() => boolean} superseded true once a newer route has started
 */
async function showRoute({ workspaceId, chatId, link }, superseded) {
  const { workspaces } = await doing('Could not load your workspaces', api('GET', '/workspace?limit=100'));
  if (superseded()) return;
  showWorkspaces(workspaces.map((/** @type {any} */ w) => ({ id: w.workspace_id, label: w.name, href: `#/w/${w.workspace_id}`, current: w.workspace_id === workspaceId })));
  if (link && chatId) {
    const chat = await doing('Could not open that chat', api('GET', `/chat?chat_id=${encodeURIComponent(chatId)}`));
    if (!superseded()) location.replace(`#/w/${chat.workspace_id}/c/${chat.chat_id}`);
    return;
  }
  showNewChat(!!workspaceId);
  if (!workspaceId) {
    showChats([], 'Pick a workspace');
    showAgents(null, []);
    showChatAgents(null, null);
    return openChat(null, null);
  }
  const opening = 'Could not open that workspace';
  const listed = workspaces.find((/** @type {any} */ w) => w.workspace_id === workspaceId);
  const [{ chats }, workspace, agents] = await Promise.all([
    doing(opening, api('GET', `/workspace/${encodeURIComponent(workspaceId)}/chats?limit=100`)),
    listed ?? doing(opening, api('GET', `/workspace/${encodeURIComponent(workspaceId)}`)).then((r) => r.workspace),
    doing('Could not load your agents', loadAgents()),
  ]);
  if (superseded()) return;
  showChats(chats.map((/** @type {any} */ c) => ({ id: c.chat_id, label: c.title ?? 'Untitled chat', href: `#/w/${workspaceId}/c/${c.chat_id}`, current: c.chat_id === chatId })), 'No chats yet');
  showAgents(workspace, agents);
  const chat = !chatId ? null : chats.find((/** @type {any} */ c) => c.chat_id === chatId) ?? (await doing('Could not open that chat', api('GET', `/chat?chat_id=${encodeURIComponent(chatId)}`)));
  if (superseded()) return;
  showChatAgents(chatId, chat?.agent_id ?? null);
  openChat(workspaceId, chatId);
}
