import { z } from '@hono/zod-openapi';
import { nextCursorSchema } from '../lib/pagination';
import { createRouter, defineRoute, errorResponse, jsonRequest, okJson } from '../lib/router';
import { AGENT_NOT_FOUND } from '../agents/service';
import { WORKSPACE_NOT_FOUND } from '../workspaces/service';
import { createTaskBody, listTasksQuery, Task, taskJson, TaskStats, updateTaskBody } from './schemas';
import { cancelTask, createTask, listTasks, MOVE_REFUSED, ownTask, patchTask, RACED, removeTask, TASK_NOT_FOUND, taskStats } from './service';

const params = z.object({ task_id: z.string().openapi({ param: { name: 'task_id', in: 'path' } }) });
const One = z.object({ task: Task });

export const taskRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/tasks',
      tags: ['Tasks'],
      summary: 'Create a task (not_started, in_progress or blocked)',
      operationId: 'createTask',
      description:
        'Creates a task owned by the signed-in user. Only `title` is required: `status` defaults to `not_started` (a task can also start `in_progress` or `blocked`), `priority` to `medium`, `tags` to none. `due_date` is an ISO 8601 date or date-time. `workspace_id` and `agent_id` must be yours (404 otherwise). `data` takes any JSON up to 16 KiB.',
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
      operationId: 'listTasks',
      description:
        'The signed-in user\'s tasks, newest first, with optional filters combined with AND: `status`, `priority`, `agent_id`, `workspace_id`, `tag`, and `due_after` (inclusive) / `due_before` (exclusive), either of which excludes tasks without a due_date. A filter on another user\'s workspace or agent answers an empty list.',
      request: { query: listTasksQuery },
      responses: {
        200: okJson(z.object({ tasks: z.array(Task), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100', 'status must be one of ...'),
      },
    }),
    async (c) => {
      const { limit, cursor, ...filters } = c.req.valid('query');
      const { items, nextCursor } = await listTasks(c.get('db'), c.get('user').id, filters, limit, cursor);
      return c.json({ tasks: items.map(taskJson), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/tasks/stats',
      tags: ['Tasks'],
      summary: 'Task counts by status and by priority (optionally in one workspace)',
      operationId: 'taskStats',
      description:
        'How many tasks the signed-in user has, in total, by status and by priority; with `workspace_id`, in that workspace only.',
      request: { query: z.object({ workspace_id: z.string().optional().openapi({ param: { name: 'workspace_id', in: 'query' } }) }) },
      responses: { 200: okJson(z.object({ stats: TaskStats })) },
    }),
    async (c) => c.json({ stats: await taskStats(c.get('db'), c.get('user').id, c.req.valid('query').workspace_id) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/tasks/{task_id}',
      tags: ['Tasks'],
      summary: 'One task',
      operationId: 'getTask',
      description:
        'One task. Another user\'s task is 404 `Task not found`, like an unknown one.',
      request: { params },
      responses: { 200: okJson(One), 404: errorResponse(TASK_NOT_FOUND) },
    }),
    async (c) => c.json({ task: taskJson(await ownTask(c.get('db'), c.get('user').id, c.req.valid('param').task_id)) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'patch',
      path: '/tasks/{task_id}',
      tags: ['Tasks'],
      summary: 'Change a task; status moves follow the move table, the same status is a no-op',
      operationId: 'updateTask',
      description:
        'Changes only the fields sent; `null` clears an optional one. A `status` change must be an allowed move (not_started or in_progress to anything else; blocked to not_started, in_progress or cancelled; completed back to in_progress; cancelled is final), else 409 `invalid_status_transition`; a change that loses a race with another is 409 `status_conflict`. Sending the current status changes nothing.',
      request: { params, body: jsonRequest(updateTaskBody) },
      responses: {
        200: okJson(One),
        400: errorResponse('Missing JSON in request', 'title must not be empty'),
        404: errorResponse(TASK_NOT_FOUND, WORKSPACE_NOT_FOUND, AGENT_NOT_FOUND),
        409: errorResponse(MOVE_REFUSED, RACED),
      },
    }),
    async (c) => {
      const row = await patchTask(c.get('db'), c.get('user').id, c.req.valid('param').task_id, c.req.valid('json'));
      return c.json({ task: taskJson(row) }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/tasks/{task_id}/cancel',
      tags: ['Tasks'],
      summary: 'Cancel a task (not from completed or cancelled)',
      operationId: 'cancelTask',
      description:
        'Moves the task to `cancelled`, which is final. 409 when it is already cancelled or completed.',
      request: { params },
      responses: { 200: okJson(One), 404: errorResponse(TASK_NOT_FOUND), 409: errorResponse('Task is already cancelled', MOVE_REFUSED, RACED) },
    }),
    async (c) => c.json({ task: taskJson(await cancelTask(c.get('db'), c.get('user').id, c.req.valid('param').task_id)) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/tasks/{task_id}',
      tags: ['Tasks'],
      summary: 'Delete a task (its files stay, unlinked)',
      operationId: 'deleteTask',
      description:
        'Deletes the task; files attached to it stay, no longer attached. 404 `Task not found`.',
      request: { params },
      responses: { 200: okJson(z.object({ msg: z.string() })), 404: errorResponse(TASK_NOT_FOUND) },
    }),
    async (c) => {
      await removeTask(c.get('db'), c.get('user').id, c.req.valid('param').task_id);
      return c.json({ msg: 'Task deleted' }, 200);
    },
  );
