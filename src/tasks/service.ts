import { deleteTask, findTask, insertTask, selectTasks, taskCounts, updateTask, type TaskChanges, type TaskRow } from './queries';
import type { Db } from '../db/client';
import { ApiError, notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import { owned } from '../lib/ownership';
import { page } from '../lib/pagination';
import { ownAgent } from '../agents/service';
import { ownWorkspace } from '../workspaces/service';
import type { CreateTaskInput, TaskFilters, UpdateTaskInput } from './schemas';
import { TASK_PRIORITIES, TASK_STATUSES, assertMove, type TaskStatus } from './status';

export const TASK_NOT_FOUND = 'Task not found';
export const MOVE_REFUSED = 'Cannot move a task from <status> to <status>';
export const RACED = 'The task changed while this request ran; read it again and retry';

const taskNotFound = () => notFound(TASK_NOT_FOUND, 'task_not_found');
const encodeData = (data: unknown): string | null => (data === undefined || data === null ? null : JSON.stringify(data));

/** The caller's task, or 404 `Task not found` (another user's looks unknown). Files use it too. */
export async function ownTask(db: Db, userId: string, id: string): Promise<TaskRow> {
  return owned(await findTask(db, userId, id), userId, taskNotFound);
}

/** A referenced workspace or agent must be the user's (404 otherwise). */
async function checkRefs(db: Db, userId: string, b: { workspace_id?: string | null; agent_id?: string | null }) {
  if (b.workspace_id) await ownWorkspace(db, userId, b.workspace_id);
  if (b.agent_id) await ownAgent(db, userId, b.agent_id);
}

/**
 * Creates a task for `userId` from a validated createTaskBody, task and tags in one batch.
 * Used by POST /tasks and by a process's create_task action.
 */
export async function createTask(db: Db, userId: string, body: CreateTaskInput, now = Date.now()): Promise<TaskRow> {
  await checkRefs(db, userId, body);
  return insertTask(db, {
    id: newId(),
    userId,
    workspaceId: body.workspace_id ?? null,
    agentId: body.agent_id ?? null,
    title: body.title,
    description: body.description ?? null,
    status: body.status,
    priority: body.priority,
    dueDate: body.due_date ?? null,
    tags: JSON.stringify(body.tags),
    data: encodeData(body.data),
    createdAt: now,
    updatedAt: now,
    completedAt: null,
  });
}

export async function listTasks(db: Db, userId: string, filters: TaskFilters, limit: number, cursor?: string) {
  return page(await selectTasks(db, userId, filters, limit, cursor), limit);
}

export async function taskStats(db: Db, userId: string, workspaceId?: string) {
  const { byStatus, byPriority } = await taskCounts(db, userId, workspaceId);
  const fold = <K extends string>(keys: readonly K[], rows: { key: string; n: number }[]) =>
    Object.fromEntries(keys.map((k) => [k, rows.find((r) => r.key === k)?.n ?? 0])) as Record<K, number>;
  return {
    total: byStatus.reduce((sum, r) => sum + r.n, 0),
    by_status: fold(TASK_STATUSES, byStatus),
    by_priority: fold(TASK_PRIORITIES, byPriority),
  };
}

/** A move's row changes: completed_at is set on completion and cleared on reopening. */
const moveChanges = (to: TaskStatus, now: number): TaskChanges => ({ status: to, completedAt: to === 'completed' ? now : null });

/**
 * Writes `changes` conditioned on the status read (when the status moves), so two racing moves
 * cannot both land: the loser matches no row and gets a 409 (or a 404 if the task is gone).
 */
async function write(db: Db, userId: string, id: string, changes: TaskChanges, readStatus?: string): Promise<TaskRow> {
  const row = await updateTask(db, userId, id, changes, readStatus);
  if (row) return row;
  owned(readStatus ? await findTask(db, userId, id) : null, userId, taskNotFound);
  throw new ApiError(409, 'status_conflict', RACED);
}

/** PATCH: field changes and at most one status move (the same status is a no-op). */
export async function patchTask(db: Db, userId: string, id: string, b: UpdateTaskInput, now = Date.now()): Promise<TaskRow> {
  const task = await ownTask(db, userId, id);
  await checkRefs(db, userId, b);
  const changes: TaskChanges = {};
  if (b.title !== undefined) changes.title = b.title;
  if (b.description !== undefined) changes.description = b.description;
  if (b.priority !== undefined) changes.priority = b.priority;
  if (b.due_date !== undefined) changes.dueDate = b.due_date;
  if (b.tags !== undefined) changes.tags = JSON.stringify(b.tags);
  if (b.agent_id !== undefined) changes.agentId = b.agent_id;
  if (b.workspace_id !== undefined) changes.workspaceId = b.workspace_id;
  if (b.data !== undefined) changes.data = encodeData(b.data);
  const moving = b.status !== undefined && b.status !== task.status;
  if (moving) {
    assertMove(task.status as TaskStatus, b.status!);
    Object.assign(changes, moveChanges(b.status!, now));
  }
  if (Object.keys(changes).length === 0) return task;
  return write(db, userId, task.id, { ...changes, updatedAt: now }, moving ? task.status : undefined);
}

export async function cancelTask(db: Db, userId: string, id: string, now = Date.now()): Promise<TaskRow> {
  const task = await ownTask(db, userId, id);
  if (task.status === 'cancelled') throw new ApiError(409, 'invalid_status_transition', 'Task is already cancelled');
  assertMove(task.status as TaskStatus, 'cancelled');
  return write(db, userId, task.id, { ...moveChanges('cancelled', now), updatedAt: now }, task.status);
}

/** Its files stay, unlinked (files.task_id is ON DELETE SET NULL). */
export async function removeTask(db: Db, userId: string, id: string): Promise<void> {
  owned(await deleteTask(db, userId, id), userId, taskNotFound);
}
