import type { Db } from '../db/client';
import { ApiError, notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import { owned } from '../lib/ownership';
import { page } from '../lib/pagination';
import { runJobsSoon } from '../outbox/outbox';
import { deleteWorkspace, findWorkspace, insertWorkspace, listWorkspaces, renameWorkspace, type Workspace } from './queries';
import type { Deps } from '../lib/types';

export const WORKSPACE_NOT_FOUND = 'Workspace not found';
export const NO_ACCESS = 'User does not have access to the workspace';
export const NOT_OWNER = 'User is not the owner of the workspace';
export const DEFAULT_NAME = 'Untitled Workspace';

const workspaceNotFound = () => notFound(WORKSPACE_NOT_FOUND, 'workspace_not_found');
/** The upstream contract's answer for another user's workspace on its rename and workspace-agent routes. */
export const notOwner = () => new ApiError(403, 'forbidden', NOT_OWNER);

/**
 * The workspace, if the caller owns it. The upstream contract answers 404 for an unknown id and, on its
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

export async function createWorkspace(db: Db, userId: string, name = DEFAULT_NAME): Promise<Workspace> {
  const w = await insertWorkspace(db, { id: newId(), ownerId: userId, name, now: Date.now() });
  return { ...w, agents: [] };
}

export async function listOwnWorkspaces(db: Db, userId: string, { limit, cursor }: { limit: number; cursor?: string }) {
  return page(await listWorkspaces(db, userId, limit, cursor), limit);
}

export async function renameOwnedWorkspace(db: Db, userId: string, id: string, name: string): Promise<void> {
  const w = await ownedWorkspace(db, userId, id, notOwner());
  await renameWorkspace(db, w.id, name, Date.now());
}

/** D1 rows go in one batch; the chats' objects and the files' R2 objects are cleaned after it. */
export async function deleteOwnedWorkspace(
  deps: Deps,
  userId: string,
  id: string,
): Promise<void> {
  const w = await ownedWorkspace(deps.db, userId, id);
  runJobsSoon(deps.env, deps.waitUntil, await deleteWorkspace(deps.db, w.id, Date.now()));
}
