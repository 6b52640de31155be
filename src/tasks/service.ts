import { insertTask, type TaskRow } from './queries';
import { ownAgent, ownWorkspace } from '../workspaces/service';
import type { Db } from '../db/client';
import type { CreateTaskInput } from './schemas';

/**
 * Creates a task for `userId` from a validated createTaskBody: checks that a referenced
 * workspace or agent is the user's (404 otherwise), then inserts task and tags in one batch.
 * Used by POST /tasks and by a process's create_task action.
 */
export async function createTask(db: Db, userId: string, body: CreateTaskInput, now = Date.now()): Promise<TaskRow> {
  if (body.workspace_id) await ownWorkspace(db, userId, body.workspace_id);
  if (body.agent_id) await ownAgent(db, userId, body.agent_id);
  return insertTask(db, userId, body, now);
}
