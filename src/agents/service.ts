import type { Db } from '../db/client';
import { config } from '../lib/config';
import { badRequest, notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import { owned } from '../lib/ownership';
import { page } from '../lib/pagination';
import type { DataDeps } from '../lib/types';
import { Manifest } from '../packages/manifest';
import { resolveVersion, verifyArchive } from '../packages/service';
import { agentsWithLiveRuns } from '../runs/queries';
import { notOwner, ownedWorkspace } from '../workspaces/service';
import {
  addWorkspaceAgent,
  type AgentRow,
  type AgentValues,
  findUserAgent,
  insertAgent,
  listUserAgents,
  removeWorkspaceAgent,
  softDeleteUserAgent,
  updateUserAgent,
  upsertAgent,
} from './queries';
import { type AgentBody, agentJson, type AgentPatch, type AgentStatus, type ModelInput, PROVIDERS } from './schemas';

export const AGENT_NOT_FOUND = 'Agent not found';
const agentNotFound = () => notFound(AGENT_NOT_FOUND, 'agent_not_found');

/** The caller's live agent, or 404 `Agent not found` (another user's or a deleted one looks unknown). */
export async function ownAgent(db: Db, userId: string, agentId: string) {
  return owned(await findUserAgent(db, userId, agentId), userId, agentNotFound);
}

/**
 * The status an agent reports: `running` while one of its runs is live (queued or running in
 * D1's runs; computed, never stored), else its stored `idle` or `offline`.
 */
export function reportedStatus(a: AgentRow, running: boolean): AgentStatus {
  return running ? 'running' : a.status;
}

/** The one `{"agent": ...}` answer of every agent route. */
export const agentView = (a: AgentRow, running: boolean) => ({ agent: agentJson(a, reportedStatus(a, running)) });

/** agentView for one agent, with one query for its live runs. */
async function viewOf(db: Db, a: AgentRow) {
  return agentView(a, (await agentsWithLiveRuns(db, [a.id])).has(a.id));
}

const modelJson = (env: Env, m: ModelInput | undefined) => JSON.stringify(allowedModel(env, m));

/**
 * The operator's ceiling on a model an agent asks for (README "Costs and budgets"): its name in
 * LLM_MODELS (empty: LLM_MODEL alone) and its max_tokens within AGENT_MAX_OUTPUT_TOKENS, else 400.
 */
function allowedModel(env: Env, m: ModelInput | undefined) {
  const cfg = config(env);
  const model = { ...m, provider: m?.provider ?? PROVIDERS[0], name: m?.name ?? cfg.llm.model };
  const allowed = cfg.cost.allowedModels;
  if (allowed && !allowed.includes(model.name)) {
    throw badRequest(`Model ${model.name} is not allowed here; allowed: ${allowed.join(', ')}`, 'model_not_allowed');
  }
  if (model.max_tokens !== undefined && model.max_tokens > cfg.cost.maxOutputTokens) {
    throw badRequest(`model.max_tokens must be at most ${cfg.cost.maxOutputTokens} (AGENT_MAX_OUTPUT_TOKENS)`, 'validation_error');
  }
  return model;
}

/** A package's model as an installed agent's: a name the operator does not allow becomes LLM_MODEL, max_tokens is capped. */
function installedModel(env: Env, m: { name: string; temperature?: number; top_p?: number; max_tokens?: number }) {
  const cfg = config(env);
  const allowed = cfg.cost.allowedModels;
  const name = !allowed || allowed.includes(m.name) ? m.name : cfg.llm.model;
  const max_tokens = m.max_tokens === undefined ? undefined : Math.min(m.max_tokens, cfg.cost.maxOutputTokens);
  return JSON.stringify({ ...m, provider: PROVIDERS[0], name, ...(max_tokens === undefined ? {} : { max_tokens }) });
}

function columns(env: Env, b: AgentPatch): Partial<AgentValues> {
  const out: Partial<AgentValues> = {};
  if (b.name !== undefined) out.name = b.name;
  if (b.description !== undefined) out.description = b.description;
  if (b.type !== undefined) out.type = b.type;
  if (b.role !== undefined) out.role = b.role;
  if (b.system_prompt !== undefined) out.systemPrompt = b.system_prompt;
  if (b.model !== undefined) out.model = modelJson(env, b.model);
  if (b.tools !== undefined) out.tools = JSON.stringify(b.tools);
  if (b.config !== undefined) out.config = JSON.stringify(b.config);
  return out;
}

/** Every column a whole body sets, optional fields at their defaults. */
const wholeColumns = (env: Env, b: AgentBody): AgentValues =>
  ({ tools: '[]', config: '{}', ...columns(env, { ...b, model: undefined }), model: modelJson(env, b.model) }) as AgentValues;

export async function createAgent({ db, env }: DataDeps, userId: string, body: AgentBody) {
  const now = Date.now();
  const row = await insertAgent(db, { id: newId(), userId, status: 'idle', ...wholeColumns(env, body), createdAt: now, updatedAt: now });
  return agentView(row, false); // a new agent has no runs yet
}

/**
 * A page of the caller's agents. `status=running` is the agents with a live run; `idle` and
 * `offline` are the stored status minus those, so each agent matches exactly the status it reports.
 */
export async function listOwnAgents(
  db: Db,
  userId: string,
  q: { limit: number; cursor?: string; status?: AgentStatus; type?: string; role?: string },
) {
  const filters =
    q.status === undefined
      ? { type: q.type, role: q.role }
      : q.status === 'running'
        ? { running: true, type: q.type, role: q.role }
        : { status: q.status, running: false, type: q.type, role: q.role };
  const { items, nextCursor } = page(await listUserAgents(db, userId, filters, q.limit, q.cursor), q.limit);
  return { items: items.map((a) => agentView(a, a.running).agent), nextCursor };
}

export async function getAgent(db: Db, userId: string, agentId: string) {
  return viewOf(db, await ownAgent(db, userId, agentId));
}

/** PATCH changes the fields given; PUT (`whole`) sets every field, optional ones left out back to their defaults. */
export async function editAgent({ db, env }: DataDeps, userId: string, agentId: string, body: AgentPatch, whole: boolean) {
  const set = whole ? wholeColumns(env, body as AgentBody) : columns(env, body);
  const row = await updateUserAgent(db, userId, agentId, { ...set, updatedAt: Date.now() });
  return viewOf(db, owned(row, userId, agentNotFound));
}

/** Start and stop set the stored status (`idle` or `offline`). */
export async function setAgentStatus(db: Db, userId: string, agentId: string, status: 'idle' | 'offline') {
  const row = await updateUserAgent(db, userId, agentId, { status, updatedAt: Date.now() });
  return viewOf(db, owned(row, userId, agentNotFound));
}

/** Soft delete: one batch marks it deleted, takes it out of every workspace, unassigns its tasks and clears it as chats' default agent. */
export async function deleteAgent(db: Db, userId: string, agentId: string): Promise<void> {
  owned(await softDeleteUserAgent(db, userId, agentId, Date.now()), userId, agentNotFound);
}

/** The upstream contract's checks for the workspace agent routes: the caller's workspace, then the caller's agent. */
async function workspaceAndAgent(db: Db, userId: string, workspaceId: string, agentId: string) {
  const w = await ownedWorkspace(db, userId, workspaceId, notOwner());
  const agent = await ownAgent(db, userId, agentId);
  return { workspaceId: w.id, agentId: agent.id };
}

/** Adding an agent that is already there is harmless. */
export async function addAgentToWorkspace(db: Db, userId: string, workspaceId: string, agentId: string): Promise<void> {
  const ids = await workspaceAndAgent(db, userId, workspaceId, agentId);
  await addWorkspaceAgent(db, ids.workspaceId, ids.agentId, Date.now());
}

/** Removing an agent that is not there is harmless; the workspace's chats it was the default agent of keep none. */
export async function removeAgentFromWorkspace(db: Db, userId: string, workspaceId: string, agentId: string): Promise<void> {
  const ids = await workspaceAndAgent(db, userId, workspaceId, agentId);
  await removeWorkspaceAgent(db, ids.workspaceId, ids.agentId);
}

export interface Installed {
  status: 200 | 404 | 500 | 503;
  text: string;
}

/**
 * The upstream contract's `GET /agent/download`: installs a package version (no version: the highest semver)
 * as the caller's agent once its archive checks out. Its answers are plain text, returned here.
 */
export async function installPackage(
  { db, env }: { db: Db; env: Env },
  userId: string,
  input: { query: string; version?: string },
): Promise<Installed> {
  const { query: name, version: asked } = input;
  const row = await resolveVersion(db, name, asked);
  if (!row) return { status: 404, text: `Package not found: ${name}:${asked || 'latest'}` };
  const fetched = await verifyArchive(env, row);
  if (!fetched.ok) return { status: fetched.status, text: `Failed to download package: ${name}:${row.version}, ${fetched.reason}` };
  const manifest = Manifest.parse(JSON.parse(row.manifest));
  await upsertAgent(db, {
    id: newId(),
    userId,
    packageName: row.name,
    version: row.version,
    name: manifest.name,
    description: manifest.description,
    type: 'chat',
    role: 'assistant',
    systemPrompt: manifest.system_prompt,
    // A package's provider is free text; every agent runs on the one openai-compatible client.
    model: installedModel(env, manifest.model),
    tools: JSON.stringify(manifest.tools),
    // agent.json has no config (src/packages/manifest.ts): an installed agent starts with none.
    config: '{}',
    now: Date.now(),
  });
  return { status: 200, text: `Successfully installed ${row.name}:${row.version}` };
}

