import { findUserAgent } from '../agents/queries';
import type { Db } from '../db/client';
import { ApiError, notFound } from '../lib/errors';
import { owned } from '../lib/ownership';
import { findWorkspace, type Workspace } from './queries';

export const WORKSPACE_NOT_FOUND = 'Workspace not found';
export const NO_ACCESS = 'User does not have access to the workspace';
export const NOT_OWNER = 'User is not the owner of the workspace';
export const AGENT_NOT_FOUND = 'Agent not found';

const workspaceNotFound = () => notFound(WORKSPACE_NOT_FOUND, 'workspace_not_found');

/**
 * The workspace, if the caller owns it. Seed 000 answers 404 for an unknown id and, on its
 * routes, 403 (or 401) with its own string for another user's; new routes use `ownWorkspace`.
 */
export async function ownedWorkspace(
  db: Db,
  userId: string,
  id: string,
  foreign: ApiError = new ApiError(403, 'forbidden', NO_ACCESS),
): Promise<Workspace> {
  return owned(await findWorkspace(db, id), userId, workspaceNotFound, () => foreign);
}

/** New routes: another user's workspace answers exactly like an unknown one, 404. */
export const ownWorkspace = (db: Db, userId: string, id: string) => ownedWorkspace(db, userId, id, workspaceNotFound());

/** The caller's installed agent, or 404 `Agent not found` (another user's looks unknown). */
export async function ownAgent(db: Db, userId: string, agentId: string) {
  return owned(await findUserAgent(db, userId, agentId), userId, () => notFound(AGENT_NOT_FOUND, 'agent_not_found'));
}
