import type { Db } from '../db/client';
import { config } from '../lib/config';
import { notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import { owned } from '../lib/ownership';
import { page } from '../lib/pagination';
import type { DataDeps } from '../lib/types';
import { Manifest } from '../packages/manifest';
import { resolveVersion, verifyArchive } from '../packages/service';
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
 * The status an agent reports: its stored `idle` or `offline`, or `running` while one of its runs
 * is live. There are no runs yet, so this is where that check will go.
 */
export function reportedStatus(a: AgentRow): AgentStatus {
  return a.status;
}

/** The one `{"agent": ...}` answer of every agent route. */
export const agentView = (a: AgentRow) => ({ agent: agentJson(a, reportedStatus(a)) });

const modelJson = (env: Env, m: ModelInput | undefined) =>
  JSON.stringify({ ...m, provider: m?.provider ?? PROVIDERS[0], name: m?.name ?? config(env).llmModel });

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
  ({ model: modelJson(env, undefined), tools: '[]', config: '{}', ...columns(env, b) }) as AgentValues;

export async function createAgent({ db, env }: DataDeps, userId: string, body: AgentBody) {
  const now = Date.now();
  const row = await insertAgent(db, { id: newId(), userId, status: 'idle', ...wholeColumns(env, body), createdAt: now, updatedAt: now });
  return agentView(row);
}

export async function listOwnAgents(
  db: Db,
  userId: string,
  q: { limit: number; cursor?: string; status?: AgentStatus; type?: string; role?: string },
) {
  // Nothing is `running` until runs exist (reportedStatus): that filter matches no agent yet.
  if (q.status === 'running') return { items: [], nextCursor: null };
  const { items, nextCursor } = page(await listUserAgents(db, userId, { status: q.status, type: q.type, role: q.role }, q.limit, q.cursor), q.limit);
  return { items: items.map((a) => agentView(a).agent), nextCursor };
}

export async function getAgent(db: Db, userId: string, agentId: string) {
  return agentView(await ownAgent(db, userId, agentId));
}

/** PATCH changes the fields given; PUT (`whole`) sets every field, optional ones left out back to their defaults. */
export async function editAgent({ db, env }: DataDeps, userId: string, agentId: string, body: AgentPatch, whole: boolean) {
  const set = whole ? wholeColumns(env, body as AgentBody) : columns(env, body);
  const row = await updateUserAgent(db, userId, agentId, { ...set, updatedAt: Date.now() });
  return agentView(owned(row, userId, agentNotFound));
}

/** Start and stop set the stored status (`idle` or `offline`). */
export async function setAgentStatus(db: Db, userId: string, agentId: string, status: 'idle' | 'offline') {
  const row = await updateUserAgent(db, userId, agentId, { status, updatedAt: Date.now() });
  return agentView(owned(row, userId, agentNotFound));
}

/** Soft delete: one batch marks it deleted, takes it out of every workspace and unassigns its tasks. */
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

/** Removing an agent that is not there is harmless. */
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
    model: modelJson(env, { ...manifest.model, provider: undefined }),
    tools: JSON.stringify(manifest.tools),
    // agent.json has no config (src/packages/manifest.ts): an installed agent starts with none.
    config: '{}',
    now: Date.now(),
  });
  return { status: 200, text: `Successfully installed ${row.name}:${row.version}` };
}

