// @ts-check
// The agents of the open workspace: listed in the nav under "Agents" (with a form to create one,
// and one to add another of yours, to the workspace), offered in the open chat's "Default agent"
// select (PUT /chat/agent) and in the composer's "Ask" select (the message frame's agent_id),
// and named on their bubbles. route() (js/nav.js) calls showAgents and showChatAgents.
import { api } from './api.js';
import { $ } from './view.js';

/** @typedef {{ agent_id: string, name: string, status: string }} Agent */

/** @type {{ workspaceId: string | null, inWorkspace: string[], mine: Agent[], chatId: string | null, defaultId: string | null }} */
const state = { workspaceId: null, inWorkspace: [], mine: [], chatId: null, defaultId: null };

/** Every agent of the user (GET /agents pages through them, 100 at a time). */
export async function loadAgents() {
  /** @type {Agent[]} */
  const all = [];
  let cursor = null;
  for (let page = 0; page < 10; page++) {
    const qs = new URLSearchParams({ limit: '100', ...(cursor ? { cursor } : {}) });
    const { agents, next_cursor } = await api('GET', `/agents?${qs}`);
    all.push(...agents);
    cursor = next_cursor;
    if (!cursor) break;
  }
  return all;
}

/** The agent's name, for its bubbles (an agent since deleted is just "Agent"). */
export const agentName = (/** @type {string} */ id) => state.mine.find((a) => a.agent_id === id)?.name ?? 'Agent';

/** The agents of the open workspace, in the order of the user's list (newest first). */
const workspaceAgents = () => state.mine.filter((a) => state.inWorkspace.includes(a.agent_id));

/** What an agent is called in a select: its name, and whether it is stopped. */
const label = (/** @type {Agent} */ a) => (a.status === 'offline' ? `${a.name} (stopped)` : a.name);

function options(/** @type {HTMLElement} */ select, /** @type {[string, string][]} */ items, /** @type {string} */ value) {
  select.replaceChildren(
    ...items.map(([v, text]) => {
      const o = document.createElement('option');
      o.value = v;
      o.textContent = text;
      return o;
    }),
  );
  /** @type {HTMLSelectElement} */ (select).value = items.some(([v]) => v === value) ? value : '';
}

/** Redraws the nav's agents and the open chat's selects from `state`. */
function render() {
  const here = workspaceAgents();
  $('agents-pane').hidden = !state.workspaceId;
  const list = $('agents');
  if (here.length === 0) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'No agents in this workspace yet';
    list.replaceChildren(li);
  } else {
    list.replaceChildren(
      ...here.map((a) => {
        const li = document.createElement('li');
        li.textContent = label(a);
        return li;
      }),
    );
  }
  const others = state.mine.filter((a) => !state.inWorkspace.includes(a.agent_id));
  $('add-agent').hidden = others.length === 0;
  options($('other-agents'), others.map((a) => [a.agent_id, label(a)]), '');

  $('chat-agent').hidden = !state.chatId;
  $('no-agents').hidden = here.length > 0;
  /** @type {HTMLElement} */ ($('default-agent').parentElement).hidden = here.length === 0;
  $('ask').hidden = here.length === 0;
  const choices = /** @type {[string, string][]} */ (here.map((a) => [a.agent_id, label(a)]));
  options($('default-agent'), [['', 'None'], ...choices], state.defaultId ?? '');
  const ask = /** @type {HTMLSelectElement} */ ($('ask-agent'));
  const asked = ask.value;
  const fallback = state.defaultId && here.some((a) => a.agent_id === state.defaultId) ? `Default (${agentName(state.defaultId)})` : 'No agent';
  options(ask, [['', fallback], ...choices], asked);
}

/**
 * The open workspace (null: none), with its `agents` ids as GET /workspace lists them, and
 * `mine`, the user's agents (loadAgents).
 * @param {{ workspace_id: string, agents: string[] } | null} workspace
 * @param {Agent[]} mine
 */
export function showAgents(workspace, mine) {
  if (!workspace) Object.assign(state, { workspaceId: null, inWorkspace: [], mine: [], chatId: null, defaultId: null });
  else Object.assign(state, { workspaceId: workspace.workspace_id, inWorkspace: [...workspace.agents], mine });
  render();
}

/** The open chat (null: none) and its default agent. A different chat starts with "Ask" on the default. */
export function showChatAgents(/** @type {string | null} */ chatId, /** @type {string | null} */ defaultId) {
  if (chatId !== state.chatId) /** @type {HTMLSelectElement} */ ($('ask-agent')).value = '';
  Object.assign(state, { chatId, defaultId });
  render();
}

/** The agent the next message asks (the "Ask" select), or null for the chat's default agent. */
export const askedAgent = () => (!$('ask').hidden && /** @type {HTMLSelectElement} */ ($('ask-agent')).value) || null;

/** Sets (or, with null, clears) the open chat's default agent. */
export async function setDefaultAgent(/** @type {string | null} */ agentId) {
  const chatId = state.chatId;
  if (!chatId) return;
  try {
    const { chat } = await api('PUT', `/chat/agent?chat_id=${encodeURIComponent(chatId)}`, { agent_id: agentId });
    if (state.chatId === chatId) state.defaultId = chat.agent_id;
  } finally {
    render(); // on failure the select goes back to the default the chat still has
  }
}

/** Creates an agent and adds it to the open workspace; the "Ask" select then names it. */
export async function createAgent(/** @type {string} */ name, /** @type {string} */ systemPrompt) {
  const workspaceId = state.workspaceId;
  if (!workspaceId) throw new Error('Pick a workspace first.');
  const { agent } = await api('POST', '/agents', { name, description: '', type: 'chat', role: 'assistant', system_prompt: systemPrompt });
  state.mine = [agent, ...state.mine];
  await addAgent(agent.agent_id);
  if (state.workspaceId === workspaceId) /** @type {HTMLSelectElement} */ ($('ask-agent')).value = agent.agent_id;
}

/** Adds one of the user's agents to the open workspace. */
export async function addAgent(/** @type {string} */ agentId) {
  const workspaceId = state.workspaceId;
  if (!workspaceId) throw new Error('Pick a workspace first.');
  await api('POST', `/workspace/${encodeURIComponent(workspaceId)}/agent`, { agent_id: agentId });
  if (state.workspaceId !== workspaceId) return;
  if (!state.inWorkspace.includes(agentId)) state.inWorkspace.push(agentId);
  render();
}
