import type { Db } from '../db/client';
import { notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import { owned } from '../lib/ownership';
import { page } from '../lib/pagination';
import { definitionOf, Manifest } from '../packages/manifest';
import { resolveVersion, verifyArchive } from '../packages/service';
import { notOwner, ownedWorkspace } from '../workspaces/service';
import { addWorkspaceAgent, deleteUserAgent, findUserAgent, listUserAgents, removeWorkspaceAgent, upsertAgent } from './queries';

export const AGENT_NOT_FOUND = 'Agent not found';
const agentNotFound = () => notFound(AGENT_NOT_FOUND, 'agent_not_found');

/** The caller's installed agent, or 404 `Agent not found` (another user's looks unknown). */
export async function ownAgent(db: Db, userId: string, agentId: string) {
  return owned(await findUserAgent(db, userId, agentId), userId, agentNotFound);
}

export async function listOwnAgents(db: Db, userId: string, { limit, cursor }: { limit: number; cursor?: string }) {
  return page(await listUserAgents(db, userId, limit, cursor), limit);
}

/** One statement: the delete itself says whether the caller had that agent. */
export async function uninstallAgent(db: Db, userId: string, agentId: string): Promise<void> {
  owned(await deleteUserAgent(db, userId, agentId), userId, agentNotFound);
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
    definition: JSON.stringify(definitionOf(manifest)),
    now: Date.now(),
  });
  return { status: 200, text: `Successfully installed ${row.name}:${row.version}` };
}
