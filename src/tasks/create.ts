import { insertTask, userOwnsAgent, type TaskRow } from '../db/queries/tasks';
import { findWorkspace } from '../db/queries/workspaces';
import { ApiError, notFound } from '../lib/errors';
import type { Db } from '../lib/types';
import type { CreateTaskInput } from './schemas';

export const AGENT_NOT_FOUND = 'Agent not found';
export const WORKSPACE_NOT_FOUND = 'Workspace not found';

/** 404 unless the workspace exists and is the user's (another user's looks like an unknown one). */
export async function assertOwnWorkspace(db: Db, userId: string, workspaceId: string): Promise<void> {
  const w = await findWorkspace(db, workspaceId);
  if (!w || w.ownerId !== userId) throw notFound(WORKSPACE_NOT_FOUND, 'workspace_not_found');
}

export async function assertOwnAgent(db: Db, userId: string, agentId: string): Promise<void> {
  if (!(await userOwnsAgent(db, userId, agentId))) throw new ApiError(404, 'agent_not_found', AGENT_NOT_FOUND);
}

/**
 * Creates a task for `userId` from a validated createTaskBody: checks that a referenced
 * workspace or agent is the user's (404 otherwise), then inserts task and tags in one batch.
 * Used by POST /tasks and by a process's create_task action.
 */
export async function createTask(db: Db, userId: string, body: CreateTaskInput, now = Date.now()): Promise<TaskRow> {
  if (body.workspace_id) await assertOwnWorkspace(db, userId, body.workspace_id);
  if (body.agent_id) await assertOwnAgent(db, userId, body.agent_id);
  return insertTask(db, userId, body, now);
}
