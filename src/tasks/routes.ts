import { z } from '@hono/zod-openapi';
import { deleteTask, encodeData, findTask, selectTasks, taskCounts, taskJson, updateTask, type TaskChanges } from './queries';
import { ApiError, notFound } from '../lib/errors';
import { nextCursorSchema, page } from '../lib/pagination';
import { createRouter, defineRoute, errorResponse, jsonRequest, okJson } from '../lib/router';
import type { Db } from '../db/client';
import { createTask } from './service';
import { AGENT_NOT_FOUND, ownAgent, ownWorkspace, WORKSPACE_NOT_FOUND } from '../workspaces/service';
import { createTaskBody, listTasksQuery, Task, updateTaskBody, type UpdateTaskInput } from './schemas';
import { TASK_PRIORITIES, TASK_STATUSES, assertMove, type TaskStatus } from './status';

export const TASK_NOT_FOUND = 'Task not found';
const MOVE_REFUSED = 'Cannot move a task from <status> to <status>';
const RACED = 'The task changed while this request ran; read it again and retry';

const params = z.object({ task_id: z.string().openapi({ param: { name: 'task_id', in: 'path' } }) });
const One = z.object({ task: Task });
const countsOf = <K extends string>(keys: readonly K[]) => z.object(Object.fromEntries(keys.map((k) => [k, z.number().int()])) as Record<K, z.ZodNumber>);
const Stats = z.object({
  stats: z.object({ total: z.number().int(), by_status: countsOf(TASK_STATUSES), by_priority: countsOf(TASK_PRIORITIES) }),
});

async function ownTask(db: Db, userId: string, id: string) {
  const task = await findTask(db, userId, id);
  if (!task) throw notFound(TASK_NOT_FOUND, 'task_not_found');
  return task;
}

/** The row changes a PATCH body asks for, checking ownership of any referenced workspace/agent. */
async function changesFrom(db: Db, userId: string, b: UpdateTaskInput): Promise<TaskChanges> {
  if (b.workspace_id) await ownWorkspace(db, userId, b.workspace_id);
  if (b.agent_id) await ownAgent(db, userId, b.agent_id);
  const c: TaskChanges = {};
  if (b.title !== undefined) c.title = b.title;
  if (b.description !== undefined) c.description = b.description;
  if (b.priority !== undefined) c.priority = b.priority;
  if (b.due_date !== undefined) c.dueDate = b.due_date;
  if (b.tags !== undefined) c.tags = JSON.stringify(b.tags);
  if (b.agent_id !== undefined) c.agentId = b.agent_id;
  if (b.workspace_id !== undefined) c.workspaceId = b.workspace_id;
  if (b.data !== undefined) c.data = encodeData(b.data);
  return c;
}

/** A move's row changes: completed_at is set on completion and cleared on reopening. */
const moveChanges = (to: TaskStatus, now: number): TaskChanges => ({ status: to, completedAt: to === 'completed' ? now : null });

/**
 * Writes `changes` conditioned on the status read (when the status moves), so two racing moves
 * cannot both land: the loser matches no row and gets a 409 (or a 404 if the task is gone).
 */
async function write(db: Db, userId: string, id: string, changes: TaskChanges, readStatus?: string) {
  const row = await updateTask(db, userId, id, changes, readStatus);
  if (row) return row;
  if (readStatus && (await findTask(db, userId, id))) throw new ApiError(409, 'status_conflict', RACED);
  throw notFound(TASK_NOT_FOUND, 'task_not_found');
}

export const taskRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/tasks',
      tags: ['Tasks'],
      summary: 'Create a task (not_started, in_progress or blocked)',
      request: { body: jsonRequest(createTaskBody) },
      responses: {
        201: okJson(One),
        400: errorResponse('Missing JSON in request', 'Missing title parameter', 'data must be at most 16384 bytes when serialized as JSON'),
        404: errorResponse(WORKSPACE_NOT_FOUND, AGENT_NOT_FOUND),
        413: errorResponse('Payload too large'),
      },
    }),
    async (c) => {
      const row = await createTask(c.get('db'), c.get('user').id, c.req.valid('json'));
      return c.json({ task: taskJson(row) }, 201);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/tasks',
      tags: ['Tasks'],
      summary: "The user's tasks, newest first, filtered and paginated",
      description: 'due_after is inclusive, due_before exclusive; either excludes tasks without a due_date.',
      request: { query: listTasksQuery },
      responses: {
        200: okJson(z.object({ tasks: z.array(Task), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100', 'status must be one of ...'),
      },
    }),
    async (c) => {
      const { limit, cursor, ...filters } = c.req.valid('query');
      const rows = await selectTasks(c.get('db'), c.get('user').id, filters, limit, cursor);
      const { items, nextCursor } = page(rows, limit);
      return c.json({ tasks: items.map((t) => taskJson(t)), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/tasks/stats',
      tags: ['Tasks'],
      summary: 'Task counts by status and by priority (optionally in one workspace)',
      request: { query: z.object({ workspace_id: z.string().optional().openapi({ param: { name: 'workspace_id', in: 'query' } }) }) },
      responses: { 200: okJson(Stats) },
    }),
    async (c) => {
      const { byStatus, byPriority } = await taskCounts(c.get('db'), c.get('user').id, c.req.valid('query').workspace_id);
      const fold = <K extends string>(keys: readonly K[], rows: { key: string; n: number }[]) =>
        Object.fromEntries(keys.map((k) => [k, rows.find((r) => r.key === k)?.n ?? 0])) as Record<K, number>;
      const stats = {
        total: byStatus.reduce((sum, r) => sum + r.n, 0),
        by_status: fold(TASK_STATUSES, byStatus),
        by_priority: fold(TASK_PRIORITIES, byPriority),
      };
      return c.json({ stats }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/tasks/{task_id}',
      tags: ['Tasks'],
      summary: 'One task',
      request: { params },
      responses: { 200: okJson(One), 404: errorResponse(TASK_NOT_FOUND) },
    }),
    async (c) => {
      const task = await ownTask(c.get('db'), c.get('user').id, c.req.valid('param').task_id);
      return c.json({ task: taskJson(task) }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'patch',
      path: '/tasks/{task_id}',
      tags: ['Tasks'],
      summary: 'Change a task; status moves follow the move table, the same status is a no-op',
      request: { params, body: jsonRequest(updateTaskBody) },
      responses: {
        200: okJson(One),
        400: errorResponse('Missing JSON in request', 'title must not be empty'),
        404: errorResponse(TASK_NOT_FOUND, WORKSPACE_NOT_FOUND, AGENT_NOT_FOUND),
        409: errorResponse(MOVE_REFUSED, RACED),
      },
    }),
    async (c) => {
      const db = c.get('db');
      const userId = c.get('user').id;
      const body = c.req.valid('json');
      const task = await ownTask(db, userId, c.req.valid('param').task_id);
      const now = Date.now();
      const changes = await changesFrom(db, userId, body);
      const to = body.status;
      const moving = to !== undefined && to !== task.status;
      if (moving) {
        assertMove(task.status as TaskStatus, to);
        Object.assign(changes, moveChanges(to, now));
      }
      if (Object.keys(changes).length === 0) return c.json({ task: taskJson(task) }, 200);
      const row = await write(db, userId, task.id, { ...changes, updatedAt: now }, moving ? task.status : undefined);
      return c.json({ task: taskJson(row) }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/tasks/{task_id}/cancel',
      tags: ['Tasks'],
      summary: 'Cancel a task (not from completed or cancelled)',
      request: { params },
      responses: { 200: okJson(One), 404: errorResponse(TASK_NOT_FOUND), 409: errorResponse('Task is already cancelled', MOVE_REFUSED, RACED) },
    }),
    async (c) => {
      const db = c.get('db');
      const userId = c.get('user').id;
      const task = await ownTask(db, userId, c.req.valid('param').task_id);
      if (task.status === 'cancelled') throw new ApiError(409, 'invalid_status_transition', 'Task is already cancelled');
      assertMove(task.status as TaskStatus, 'cancelled');
      const now = Date.now();
      const row = await write(db, userId, task.id, { ...moveChanges('cancelled', now), updatedAt: now }, task.status);
      return c.json({ task: taskJson(row) }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/tasks/{task_id}',
      tags: ['Tasks'],
      summary: 'Delete a task (its files stay, unlinked)',
      request: { params },
      responses: { 200: okJson(z.object({ msg: z.string() })), 404: errorResponse(TASK_NOT_FOUND) },
    }),
    async (c) => {
      if (!(await deleteTask(c.get('db'), c.get('user').id, c.req.valid('param').task_id))) throw notFound(TASK_NOT_FOUND, 'task_not_found');
      return c.json({ msg: 'Task deleted' }, 200);
    },
  );
